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
 *     images, reconstructions      uint8 [n, H, W, C] thumbnails (omitted above MAP_THUMBNAILS_MAX_BYTES)
 */
import path from 'node:path';
import { tf } from '../backend/index.js';
import { batchTensor, type ImageSet } from '../data/dataset.js';
import { knnSearch } from '../embed/knn.js';
import { evalBatchSize } from '../models/loss.js';
import { type Autoencoder, reconstruct } from '../models/model.js';
import { writeFileAtomic } from '../util/fs.js';
import type { Latents } from './latents.js';
import { type Dtype, MAP_FORMAT, type MapArray, type MapHeader } from './map-format.js';

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

/** Writes map_<method>.bin and map_<method>.json; returns their paths and the per-image errors it computed. */
export function writeMapData(input: MapDataInput): { files: string[]; errors: Float32Array } {
  const { set, latents } = input;
  const n = set.count;
  const px = set.height * set.width * set.channels;
  const keepImages = 2 * n * px <= MAP_THUMBNAILS_MAX_BYTES;
  const { errors, recon } = reconstructAll(input.model, set, keepImages);
  const k = Math.min(MAP_NEIGHBOURS, n - 1);
  const neighbours = k > 0 ? knnSearch(latents.codes, n, latents.codes, n, latents.dim, k, true).indices : new Int32Array(0);
  const images = keepImages ? Uint8Array.from(set.images, (v) => Math.round(Math.min(1, Math.max(0, v)) * 255)) : null;
  const arrays: Array<[string, Dtype, number[], ArrayBufferView]> = [
    ['coords', 'float32', [n, 2], input.coords],
    ['labels', 'uint8', [n], set.labels],
    ['indices', 'int32', [n], Int32Array.from({ length: n }, (_, i) => i)],
    ['errors', 'float32', [n], errors],
    ['neighbours', 'int32', [n, k], neighbours],
  ];
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
