/** In-memory image sets and batching. Images are one Float32Array in NHWC order, values in [0, 1]. */
import { tf } from '../backend/index.js';
import { Rng } from '../util/rng.js';

export interface ImageSet {
  /** count * height * width * channels floats, NHWC. */
  images: Float32Array;
  labels: Uint8Array;
  count: number;
  height: number;
  width: number;
  channels: number;
}

/** A dataset's three splits; classNames[label] names each class, or null when the images are unlabelled. */
export interface DataSplits {
  train: ImageSet;
  validation: ImageSet;
  test: ImageSet;
  classNames: string[] | null;
}

export function imageSize(set: ImageSet): number {
  return set.height * set.width * set.channels;
}

/** Gathers rows `order[start..end)` into one NHWC tensor. */
export function batchTensor(set: ImageSet, order: ArrayLike<number> | null, start: number, end: number): tf.Tensor4D {
  const size = imageSize(set);
  const n = end - start;
  if (order === null) {
    return tf.tensor4d(set.images.subarray(start * size, end * size), [n, set.height, set.width, set.channels]);
  }
  const buf = new Float32Array(n * size);
  for (let i = 0; i < n; i++) {
    const j = order[start + i]!;
    buf.set(set.images.subarray(j * size, (j + 1) * size), i * size);
  }
  return tf.tensor4d(buf, [n, set.height, set.width, set.channels]);
}

/** Images [start, end) of a set, as views (no copy). */
export function slice(set: ImageSet, start: number, end: number): ImageSet {
  const size = imageSize(set);
  return { ...set, images: set.images.subarray(start * size, end * size), labels: set.labels.subarray(start, end), count: end - start };
}

/** The first `n` images of a set (for quick runs and tests). */
/** Sets of the same image shape, one after another (e.g. a dataset's three splits, for a map of all its images). */
export function concatSets(sets: ImageSet[]): ImageSet {
  const first = sets[0];
  if (!first) throw new Error('concatSets needs at least one set');
  const size = imageSize(first);
  const count = sets.reduce((s, set) => s + set.count, 0);
  const images = new Float32Array(count * size);
  const labels = new Uint8Array(count);
  let at = 0;
  for (const set of sets) {
    images.set(set.images.subarray(0, set.count * size), at * size);
    labels.set(set.labels.subarray(0, set.count), at);
    at += set.count;
  }
  return { images, labels, count, height: first.height, width: first.width, channels: first.channels };
}

export function head(set: ImageSet, n: number): ImageSet {
  return slice(set, 0, Math.min(n, set.count));
}

/** Takes rows `idx` of `set` into a new set. */
export function subset(set: ImageSet, idx: ArrayLike<number>): ImageSet {
  const size = set.height * set.width * set.channels;
  const images = new Float32Array(idx.length * size);
  const labels = new Uint8Array(idx.length);
  for (let i = 0; i < idx.length; i++) {
    const j = idx[i]!;
    images.set(set.images.subarray(j * size, (j + 1) * size), i * size);
    labels[i] = set.labels[j]!;
  }
  return { ...set, images, labels, count: idx.length };
}

/** A seeded random sample of `size` images of `set`, kept in their order; the set itself when it has no more. */
export function seededSubset(set: ImageSet, size: number, seed: number): ImageSet {
  if (set.count <= size) return set;
  return subset(set, new Rng(seed).permutation(set.count).subarray(0, size).slice().sort());
}
