/**
 * What `ae view`'s interactive latent map needs, saved by `ae test` beside latent_<method>.png:
 *   vis_outputs/map_<method>.json  the header (format `ae-map-1`): counts, shape, classes, and one entry per array
 *                                  { offset (bytes into the .bin), dtype, shape }
 *   vis_outputs/map_<method>.bin   the arrays, little-endian, each starting on a 4-byte boundary:
 *     coords float32 [n, 2]        the 2-D map
 *     labels uint8 [n]             class index (0 for unlabelled images)
 *     indices int32 [n]            each point's image index in the split
 *     errors float32 [n]           per-image reconstruction MSE (clean input)
 *     neighbours int32 [n, k]      the k nearest other points in latent space (the codes the map was made from),
 *                                  nearest first
 *     codes float32 [n, d]         the codes the map was made from (new images are placed among these by
 *                                  `encode`'s `onto`)
 *     projection_mean float32 [D], projection_components float32 [d, D]
 *                                  with wide codes (D numbers) mapped through PCA-d: the projection
 *     images, reconstructions      uint8 [n, H, W, C] thumbnails (omitted above MAP_THUMBNAILS_MAX_BYTES)
 */
import fs from 'node:fs';
import path from 'node:path';
import { tf } from '../backend/index.js';
import { batchFloats, batchTensor, type ImageSet } from '../data/dataset.js';
import { exactKnn } from '../embed/knn.js';
import { evalBatchSize } from '../models/loss.js';
import { type Autoencoder, reconstruct } from '../models/registry.js';
import { UserError } from '../errors.js';
import { writeFileAtomic } from '../util/fs.js';
import type { Latents } from './latents.js';
import { type Dtype, MAP_FORMAT, type MapArray, type MapHeader, mapHeaderProblem } from './map-format.js';

export { MAP_FORMAT, type Dtype, type MapArray, type MapHeader };

/** Latent neighbours stored per point. */
export const MAP_NEIGHBOURS = 10;
/** Thumbnails (inputs and reconstructions together) are stored up to this size: 10k MNIST images take 15.7 MB. */
export const MAP_THUMBNAILS_MAX_BYTES = 256 * 1024 * 1024;

export interface MapDataInput {
  outDir: string;
  method: string;
  description: string;
  split: string;
  model: Autoencoder;
  set: ImageSet;
  classNames: string[] | null;
  latents: Latents;
  coords: Float32Array;
}

/** Per-image reconstruction errors and the reconstructions as bytes, batch by batch in inference mode. */
function reconstructAll(model: Autoencoder, set: ImageSet, keepImages: boolean): { errors: Float32Array; recon: Uint8Array | null } {
  const px = set.height * set.width * set.channels;
  const errors = new Float32Array(set.count);
  const recon = keepImages ? new Uint8Array(set.count * px) : null;
  const bs = evalBatchSize(model);
  for (let start = 0; start < set.count; start += bs) {
    const end = Math.min(set.count, start + bs);
    const [e, r] = tf.tidy(() => {
      const x = batchTensor(set, null, start, end);
      const y = reconstruct(model, x, { training: false, seed: 0 });
      return [tf.mean(tf.squaredDifference(y, x), [1, 2, 3]), y];
    });
    errors.set(e!.dataSync() as Float32Array, start);
    if (recon) {
      const values = r!.dataSync() as Float32Array;
      for (let i = 0; i < values.length; i++) recon[start * px + i] = Math.round(Math.min(1, Math.max(0, values[i]!)) * 255);
    }
    tf.dispose([e!, r!]);
  }
  return { errors, recon };
}

/**
 * Floats in [0, 1] as bytes. A plain loop: Uint8Array.from(floats, fn) went through the iterator protocol and took
 * 80 s and 3.5 GB for 6,000 images of 64 x 64 x 3.
 */
function toBytes(values: Float32Array): Uint8Array {
  const out = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = Math.round(Math.min(1, Math.max(0, values[i]!)) * 255);
  return out;
}

/** Writes map_<method>.bin and map_<method>.json; returns their paths and the per-image errors it computed. */
export function writeMapData(input: MapDataInput): { files: string[]; errors: Float32Array } {
  const { set, latents } = input;
  const n = set.count;
  const px = set.height * set.width * set.channels;
  const keepImages = 2 * n * px <= MAP_THUMBNAILS_MAX_BYTES;
  const { errors, recon } = reconstructAll(input.model, set, keepImages);
  const k = Math.min(MAP_NEIGHBOURS, n - 1);
  const neighbours = k > 0 ? exactKnn(latents.codes, n, latents.dim, k).indices : new Int32Array(0);
  const images = keepImages ? toBytes(batchFloats(set, null, 0, n)) : null;
  const arrays: Array<[string, Dtype, number[], ArrayBufferView]> = [
    ['coords', 'float32', [n, 2], input.coords],
    ['labels', 'uint8', [n], set.labels],
    ['indices', 'int32', [n], Int32Array.from({ length: n }, (_, i) => i)],
    ['errors', 'float32', [n], errors],
    ['neighbours', 'int32', [n, k], neighbours],
    ['codes', 'float32', [n, latents.dim], latents.codes],
  ];
  if (latents.projection) {
    const { mean, components, dim, inputDim } = latents.projection;
    arrays.push(['projection_mean', 'float32', [inputDim], mean], ['projection_components', 'float32', [dim, inputDim], components]);
  }
  if (images && recon) {
    const shape = [n, set.height, set.width, set.channels];
    arrays.push(['images', 'uint8', shape, images], ['reconstructions', 'uint8', shape, recon]);
  }
  const header: MapHeader = {
    format: MAP_FORMAT,
    method: input.method,
    description: input.description,
    split: input.split,
    count: n,
    height: set.height,
    width: set.width,
    channels: set.channels,
    k,
    classes: input.classNames,
    arrays: {},
  };
  const packed = packArrays(arrays);
  header.arrays = packed.index;
  const bin = path.join(input.outDir, `map_${input.method}.bin`);
  const json = path.join(input.outDir, `map_${input.method}.json`);
  writeFileAtomic(bin, packed.bytes);
  writeFileAtomic(json, `${JSON.stringify(header, null, 2)}\n`);
  return { files: [bin, json], errors };
}

/** Lays arrays out one after another, each on a 4-byte boundary: the .bin's bytes and the header's index. */
export function packArrays(arrays: Array<[string, Dtype, number[], ArrayBufferView]>): { bytes: Buffer; index: Record<string, MapArray> } {
  const index: Record<string, MapArray> = {};
  const parts: Buffer[] = [];
  let offset = 0;
  for (const [name, dtype, shape, data] of arrays) {
    index[name] = { offset, dtype, shape };
    const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const padded = Math.ceil(bytes.length / 4) * 4;
    parts.push(bytes, Buffer.alloc(padded - bytes.length));
    offset += padded;
  }
  return { bytes: Buffer.concat(parts), index };
}

/** A map file read back: its header and its arrays, by name. */
export interface MapData {
  header: MapHeader;
  arrays: Record<string, Float32Array | Uint8Array | Int32Array>;
}

const TYPED = { float32: Float32Array, uint8: Uint8Array, int32: Int32Array } as const;

/** Reads map_<method>.json and its .bin, checking the format and that every array lies inside the .bin. */
export function readMapData(jsonFile: string): MapData {
  const fail = (why: string) =>
    new UserError(
      `${jsonFile} is not a readable latent map: ${why}`,
      'point at a map_<method>.json written by `ae test`, or rerun `ae test RUN_DIR`',
    );
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(jsonFile, 'utf8'));
  } catch (e) {
    throw fail((e as Error).message);
  }
  const binFile = jsonFile.replace(/\.json$/, '.bin');
  if (!fs.existsSync(binFile)) throw fail(`${binFile} is missing`);
  const bin = fs.readFileSync(binFile);
  const problem = mapHeaderProblem(raw, bin.length, binFile);
  if (problem !== null) throw fail(problem);
  const header = raw as MapHeader;
  const entries: Array<[string, MapData['arrays'][string]]> = [];
  for (const [name, a] of Object.entries(header.arrays)) {
    const Typed = TYPED[a.dtype];
    const count = a.shape.reduce((x, y) => x * y, 1);
    entries.push([
      name,
      new Typed(bin.buffer.slice(bin.byteOffset + a.offset, bin.byteOffset + a.offset + count * Typed.BYTES_PER_ELEMENT)),
    ]);
  }
  // fromEntries defines own properties: an array named __proto__ stays an array, not the object's prototype.
  return { header, arrays: Object.fromEntries(entries) };
}
