/**
 * The run's model in the page, for images dropped on the map: built by the run's own model code (src/models, with
 * the browser stand-ins of scripts/build-viewer.mjs) from its config, its weights read from weights/best.ckpt (the
 * checkpoint `ae encode` and `ae score` use by default; the same format and checks as src/checkpoint/checkpoint.ts:
 * magic, header, SHA-256 of the data), run on TensorFlow.js's CPU backend (float32, as in Node). New codes are
 * placed on the saved map by src/embed/transform.ts, the function `ae encode --onto` calls (here its TypeScript
 * path). Loaded on demand as a chunk of its own: the page does not fetch TensorFlow.js until images are dropped.
 */
import type { Config } from '../src/config/schema.js';
import { projectionFrom } from '../src/embed/incremental-pca.js';
import { transformPoints } from '../src/embed/transform.js';
import { createModel, reconstruct } from '../src/models/registry.js';
import { fetchArrays, type MapData } from './map-data.js';
import { tf } from './shims/backend.js';

const MAGIC = 'AECKPT01';

interface TensorRecord {
  name: string;
  shape: number[];
  offset: number;
}

/** A checkpoint's header (what the page needs of it) and its float data, checked as the Node reader checks it. */
async function readCheckpoint(url: string): Promise<{ variables: TensorRecord[]; data: Float32Array; sha256: string }> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`cannot read ${url}: HTTP ${r.status}`);
  const bytes = new Uint8Array(await r.arrayBuffer());
  if (bytes.length < 12 || new TextDecoder('ascii').decode(bytes.subarray(0, 8)) !== MAGIC) throw new Error(`${url} is not an autoencoders checkpoint`);
  const headerLen = new DataView(bytes.buffer).getUint32(8, true);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + headerLen))) as {
    variables: TensorRecord[];
    data_floats: number;
    data_sha256: string;
  };
  const start = Math.ceil((12 + headerLen) / 4) * 4;
  const dataBytes = bytes.subarray(start);
  if (dataBytes.length !== header.data_floats * 4) throw new Error(`${url} is truncated`);
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', dataBytes));
  const hex = Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
  if (hex !== header.data_sha256) throw new Error(`${url}: tensor data does not match its SHA-256 checksum`);
  return { variables: header.variables, data: new Float32Array(bytes.buffer.slice(start, start + dataBytes.length)), sha256: hex };
}

export interface Encoded {
  /** m x dim codes (the posterior mean for a VAE, as `ae encode` writes). */
  codes: Float32Array;
  dim: number;
  /** m x H x W x C reconstructions in [0, 1]. */
  recons: Float32Array;
  /** Per-image reconstruction MSE against the input: `ae score`'s score. */
  scores: Float32Array;
}

export interface PageModel {
  encode(pixels: Float32Array, m: number): Encoded;
  /** The weights' SHA-256 (the checkpoint's data checksum), to say which weights ran. */
  sha256: string;
}

export async function loadPageModel(runBase: string, config: Config, shape: { height: number; width: number; channels: number }): Promise<PageModel> {
  await tf.setBackend('cpu');
  await tf.ready();
  const ckpt = await readCheckpoint(`${runBase}/weights/best.ckpt`);
  const model = createModel(config);
  const byName = new Map(ckpt.variables.map((v) => [v.name, v]));
  for (const v of model.params.variables) {
    const rec = byName.get(v.name);
    if (!rec || rec.shape.join('x') !== v.variable.shape.join('x')) throw new Error(`the checkpoint does not fit the run's model (variable ${v.name})`);
    const size = rec.shape.reduce((a, b) => a * b, 1);
    tf.tidy(() => v.variable.assign(tf.tensor(ckpt.data.subarray(rec.offset, rec.offset + size), rec.shape)));
  }
  const { height: h, width: w, channels: c } = shape;
  return {
    sha256: ckpt.sha256,
    encode(pixels, m) {
      const ctx = { training: false, seed: 0 };
      const [codes, recons, scores] = tf.tidy(() => {
        const x = tf.tensor4d(pixels, [m, h, w, c]);
        const z = model.encode(x, ctx);
        const r = reconstruct(model, x, ctx);
        return [z, r, tf.mean(tf.squaredDifference(r, x), [1, 2, 3])];
      });
      const out = {
        codes: codes!.dataSync() as Float32Array,
        dim: codes!.shape[1]!,
        recons: recons!.dataSync() as Float32Array,
        scores: scores!.dataSync() as Float32Array,
      };
      tf.dispose([codes!, recons!, scores!]);
      return out;
    },
  };
}

export interface Placement {
  /** m x 2 positions on the map. */
  coords: Float32Array;
  /** Each new point's most common class among its nearest map points (as `ae encode --onto` reports it). */
  landed: number[];
}

/** The map's codes (and PCA, for wide codes), fetched once. */
const mapCodes = new WeakMap<MapData, Promise<Record<string, Float32Array | Uint8Array | Int32Array>>>();

/** Places m new codes on the saved map as `ae encode --onto` does: through the map's PCA if it has one, then transformPoints. */
export async function placeOnMap(map: MapData, codes: Float32Array, m: number): Promise<Placement> {
  const { base, jsonFile } = map.source;
  let pending = mapCodes.get(map);
  if (!pending) {
    pending = fetchArrays(base, jsonFile, map.header, ['codes', 'projection_mean', 'projection_components']);
    mapCodes.set(map, pending);
  }
  const arrays = await pending;
  const ref = arrays.codes as Float32Array | undefined;
  if (!ref) throw new Error('this map was saved without its codes: rerun ae test on the run');
  const n = map.header.count;
  const mean = arrays.projection_mean as Float32Array | undefined;
  const components = arrays.projection_components as Float32Array | undefined;
  const queries = mean && components ? projectionFrom(mean, components).transform(codes, m) : codes;
  const placed = transformPoints({ data: ref, coords: map.coords, n, dim: ref.length / n }, queries, m, { native: null });
  const k = placed.neighbours.k;
  const landed = Array.from({ length: m }, (_, i) => {
    const votes = new Map<number, number>();
    for (let t = 0; t < k; t++) {
      const l = map.labels[placed.neighbours.indices[i * k + t]!]!;
      votes.set(l, (votes.get(l) ?? 0) + 1);
    }
    return [...votes.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0])[0]![0];
  });
  return { coords: placed.coords, landed };
}
