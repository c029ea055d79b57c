/**
 * Image sets and batching. A set is held in memory (one Float32Array, NHWC, values in [0, 1]) or streamed: rows of
 * the on-disk cache (./store.ts) read batch by batch and turned into the same floats (byte / 255), so a model sees
 * bit for bit the same batches either way and memory does not grow with the number of images.
 */
import { tf } from '../backend/index.js';
import { Rng } from '../util/rng.js';
import type { ShardStore } from './store.js';

interface SetShape {
  labels: Uint8Array;
  count: number;
  height: number;
  width: number;
  channels: number;
}

/** A set in memory: count * height * width * channels floats, NHWC. */
export interface MemorySet extends SetShape {
  images: Float32Array;
  store?: undefined;
}

/** A set read from the image cache on disk: image i is row rows[i] of the store. */
export interface StreamedSet extends SetShape {
  store: ShardStore;
  rows: Uint32Array;
  images?: undefined;
}

export type ImageSet = MemorySet | StreamedSet;

/** A dataset's three splits; classNames[label] names each class, or null when the images are unlabelled. */
export interface DataSplits<S extends ImageSet = ImageSet> {
  train: S;
  validation: S;
  test: S;
  classNames: string[] | null;
}

export function imageSize(set: ImageSet): number {
  return set.height * set.width * set.channels;
}

/** byte / 255 as float32, the same value the in-memory path stores for each byte. */
const BYTE_TO_FLOAT = Float32Array.from({ length: 256 }, (_, b) => b / 255);

function bytesToFloats(bytes: Uint8Array, out: Float32Array): Float32Array {
  for (let i = 0; i < bytes.length; i++) out[i] = BYTE_TO_FLOAT[bytes[i]!]!;
  return out;
}

/** Store rows of images `order[start..end)` (or `start..end` without an order) of a streamed set. */
function storeRows(set: StreamedSet, order: ArrayLike<number> | null, start: number, end: number): Uint32Array {
  const rows = new Uint32Array(end - start);
  for (let i = start; i < end; i++) rows[i - start] = set.rows[order ? order[i]! : i]!;
  return rows;
}

/** Images `order[start..end)` (or `start..end`) as one NHWC float array. */
export function batchFloats(set: ImageSet, order: ArrayLike<number> | null, start: number, end: number): Float32Array {
  const size = imageSize(set);
  const n = end - start;
  if (set.store) {
    const bytes = new Uint8Array(n * size);
    set.store.read(storeRows(set, order, start, end), 0, n, bytes);
    return bytesToFloats(bytes, new Float32Array(n * size));
  }
  if (order === null) return set.images.subarray(start * size, end * size);
  const buf = new Float32Array(n * size);
  for (let i = 0; i < n; i++) {
    const j = order[start + i]!;
    buf.set(set.images.subarray(j * size, (j + 1) * size), i * size);
  }
  return buf;
}

/** Gathers images `order[start..end)` (or `start..end`) into one NHWC tensor. */
export function batchTensor(set: ImageSet, order: ArrayLike<number> | null, start: number, end: number): tf.Tensor4D {
  return tf.tensor4d(batchFloats(set, order, start, end), [end - start, set.height, set.width, set.channels]);
}

/**
 * The batches of one pass over a set in a given order, each read while the one before is being computed: for a
 * streamed set the next batch's reads run on libuv's thread pool as soon as a batch is handed out.
 */
export class BatchReader {
  private pending: { step: number; bytes: Uint8Array; read: Promise<void> } | null = null;

  constructor(
    private readonly set: ImageSet,
    private readonly order: ArrayLike<number> | null,
    private readonly batchSize: number,
  ) {}

  get steps(): number {
    return Math.ceil(this.set.count / this.batchSize);
  }

  /** Batch `step` as a tensor (the caller disposes it); starts reading batch step + 1. */
  async take(step: number): Promise<tf.Tensor4D> {
    const { set } = this;
    const start = step * this.batchSize;
    const end = Math.min(set.count, start + this.batchSize);
    if (!set.store) return batchTensor(set, this.order, start, end);
    let bytes: Uint8Array;
    if (this.pending?.step === step) {
      await this.pending.read;
      bytes = this.pending.bytes;
    } else {
      bytes = new Uint8Array((end - start) * imageSize(set));
      set.store.read(storeRows(set, this.order, start, end), 0, end - start, bytes);
    }
    this.pending = null;
    if (step + 1 < this.steps) this.prefetch(step + 1);
    return tf.tensor4d(bytesToFloats(bytes, new Float32Array(bytes.length)), [end - start, set.height, set.width, set.channels]);
  }

  private prefetch(step: number): void {
    const set = this.set as StreamedSet;
    const start = step * this.batchSize;
    const end = Math.min(set.count, start + this.batchSize);
    const bytes = new Uint8Array((end - start) * imageSize(set));
    const read = set.store.readAsync(storeRows(set, this.order, start, end), 0, end - start, bytes);
    read.catch(() => {}); // reported when the batch is taken
    this.pending = { step, bytes, read };
  }
}

/** Images [start, end) of a set, as views (no copy). */
export function slice<S extends ImageSet>(set: S, start: number, end: number): S {
  const labels = set.labels.subarray(start, end);
  if (set.store) return { ...set, rows: set.rows.subarray(start, end), labels, count: end - start };
  const size = imageSize(set);
  return { ...set, images: set.images!.subarray(start * size, end * size), labels, count: end - start };
}

/** The first `n` images of a set (for quick runs and tests). */
export function head<S extends ImageSet>(set: S, n: number): S {
  return slice(set, 0, Math.min(n, set.count));
}

/** Takes rows `idx` of `set` into a new set (of the same kind: a streamed set stays on disk). */
export function subset<S extends ImageSet>(set: S, idx: ArrayLike<number>): S {
  const labels = Uint8Array.from({ length: idx.length }, (_, i) => set.labels[idx[i]!]!);
  if (set.store)
    return { ...set, rows: Uint32Array.from({ length: idx.length }, (_, i) => set.rows![idx[i]!]!), labels, count: idx.length };
  return { ...set, images: batchFloats(set, idx, 0, idx.length).slice(), labels, count: idx.length };
}

/** Rows `idx` of `set` (all of them without `idx`) in memory: for the few images a picture or a file needs. */
export function inMemory(set: ImageSet, idx?: ArrayLike<number>): MemorySet {
  if (!set.store && !idx) return set;
  const order = idx ?? null;
  const count = idx ? idx.length : set.count;
  const images = batchFloats(set, order, 0, count);
  const labels = idx ? Uint8Array.from({ length: count }, (_, i) => set.labels[idx[i]!]!) : set.labels;
  return { labels, count, height: set.height, width: set.width, channels: set.channels, images: set.store ? images : images.slice() };
}

/** Image i of a set on demand (for the thumbnails a picture draws). */
export function imageAt(set: ImageSet): (i: number) => Float32Array {
  return (i) => batchFloats(set, null, i, i + 1);
}

/** Sets of the same image shape, one after another (e.g. a dataset's three splits), in memory. */
export function concatSets(sets: ImageSet[]): MemorySet {
  const first = sets[0];
  if (!first) throw new Error('concatSets needs at least one set');
  const size = imageSize(first);
  const count = sets.reduce((s, set) => s + set.count, 0);
  const images = new Float32Array(count * size);
  const labels = new Uint8Array(count);
  let at = 0;
  for (const set of sets) {
    images.set(batchFloats(set, null, 0, set.count), at * size);
    labels.set(set.labels.subarray(0, set.count), at);
    at += set.count;
  }
  return { images, labels, count, height: first.height, width: first.width, channels: first.channels };
}

/** A seeded random sample of `size` images of `set`, kept in their order; the set itself when it has no more. */
export function seededSubset<S extends ImageSet>(set: S, size: number, seed: number): S {
  if (set.count <= size) return set;
  return subset(set, new Rng(seed).permutation(set.count).subarray(0, size).slice().sort());
}
