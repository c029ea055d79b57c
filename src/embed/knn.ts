/**
 * k nearest neighbours (squared Euclidean), exact: rows are processed in blocks whose distances to all points
 * come from one matrix product (TensorFlow.js, XNNPACK GEMM), then each row keeps its k smallest with a bounded
 * max-heap. O(N^2 D) arithmetic in fast kernels and O(N^2 log k) comparisons in JS.
 */
import { tsneNative, type TsneNative } from '../accel/index.js';
import { tf } from '../backend/index.js';

export interface Neighbours {
  /** N x k indices of each point's neighbours, nearest first (the point itself excluded). */
  indices: Int32Array;
  /** N x k squared distances, ascending. */
  distances: Float32Array;
  k: number;
}

/** Keeps the k smallest (distance, index) pairs seen, as a max-heap on distance. */
class BoundedMaxHeap {
  readonly dist: Float32Array;
  readonly idx: Int32Array;
  size = 0;
  constructor(readonly k: number) {
    this.dist = new Float32Array(k);
    this.idx = new Int32Array(k);
  }
  reset(): void {
    this.size = 0;
  }
  get worst(): number {
    return this.size < this.k ? Infinity : this.dist[0]!;
  }
  push(d: number, i: number): void {
    const { dist, idx } = this;
    if (this.size < this.k) {
      let c = this.size++;
      while (c > 0) {
        const p = (c - 1) >> 1;
        if (dist[p]! >= d) break;
        dist[c] = dist[p]!;
        idx[c] = idx[p]!;
        c = p;
      }
      dist[c] = d;
      idx[c] = i;
      return;
    }
    if (d >= dist[0]!) return;
    let c = 0;
    for (;;) {
      const l = 2 * c + 1;
      if (l >= this.k) break;
      const r = l + 1;
      const m = r < this.k && dist[r]! > dist[l]! ? r : l;
      if (dist[m]! <= d) break;
      dist[c] = dist[m]!;
      idx[c] = idx[m]!;
      c = m;
    }
    dist[c] = d;
    idx[c] = i;
  }
  /** Writes the contents sorted ascending into the output rows. */
  drainSorted(outDist: Float32Array, outIdx: Int32Array, offset: number): void {
    const order = Array.from({ length: this.size }, (_, j) => j).sort((a, b) => this.dist[a]! - this.dist[b]!);
    order.forEach((j, r) => {
      outDist[offset + r] = this.dist[j]!;
      outIdx[offset + r] = this.idx[j]!;
    });
  }
}

function rowNorms(x: Float32Array, n: number, dim: number): Float32Array {
  const norms = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let d = 0; d < dim; d++) {
      const v = x[i * dim + d]!;
      s += v * v;
    }
    norms[i] = s;
  }
  return norms;
}

/**
 * For each of the nQuery rows of `queries`, its k nearest rows of `ref` (both row-major with `dim` columns).
 * With `selfExcluded`, queries are the reference rows themselves and row i never counts as its own neighbour.
 */
export function knnSearch(
  ref: Float32Array,
  nRef: number,
  queries: Float32Array,
  nQuery: number,
  dim: number,
  k: number,
  selfExcluded: boolean,
  // Query rows per block: at most 512, and a block of dot products of at most 2^24 numbers (64 MB), which the
  // tensor and its copy both hold (512 rows against 990,000 points took 4 GB).
  blockRows = Math.max(16, Math.min(512, Math.floor(2 ** 24 / Math.max(1, nRef)))),
): Neighbours {
  if (k > nRef - (selfExcluded ? 1 : 0)) throw new Error(`k = ${k} neighbours needs more than ${nRef} points`);
  const indices = new Int32Array(nQuery * k);
  const distances = new Float32Array(nQuery * k);
  const refNorms = rowNorms(ref, nRef, dim);
  const queryNorms = selfExcluded ? refNorms : rowNorms(queries, nQuery, dim);
  const refT = tf.tidy(() => tf.transpose(tf.tensor2d(ref.subarray(0, nRef * dim), [nRef, dim])));
  const heap = new BoundedMaxHeap(k);
  for (let start = 0; start < nQuery; start += blockRows) {
    const end = Math.min(nQuery, start + blockRows);
    const dots = tf.tidy(() => tf.matMul(tf.tensor2d(queries.subarray(start * dim, end * dim), [end - start, dim]), refT));
    const g = dots.dataSync() as Float32Array;
    dots.dispose();
    for (let r = 0; r < end - start; r++) {
      const i = start + r;
      const ni = queryNorms[i]!;
      heap.reset();
      const row = r * nRef;
      for (let j = 0; j < nRef; j++) {
        if (selfExcluded && j === i) continue;
        const d = ni + refNorms[j]! - 2 * g[row + j]!;
        if (d < heap.worst) heap.push(Math.max(d, 0), j);
      }
      heap.drainSorted(distances, indices, i * k);
    }
  }
  refT.dispose();
  return { indices, distances, k };
}

/**
 * Exact k nearest neighbours of every row of `data` (n x dim, row-major) among the others: natively
 * (distances and selection in one pass, one thread per core) where available, else with knnSearch; pass
 * `native: null` for the latter.
 */
export function exactKnn(data: Float32Array, n: number, dim: number, k: number, native: TsneNative | null = tsneNative()): Neighbours {
  if (!native) return knnSearch(data, n, data, n, dim, k, true);
  if (k >= n) throw new Error(`k = ${k} neighbours needs more than ${n} points`);
  const indices = new Int32Array(n * k);
  const distances = new Float32Array(n * k);
  native.knn({ data: data.subarray(0, n * dim), n, dim, k, indices, distances });
  return { indices, distances, k };
}

/**
 * Exact k nearest rows of `ref` (nRef x dim) for each row of `queries` (other points, e.g. new points placed on a
 * map): natively where available (the blocked search of exactKnn, no self to exclude), else with knnSearch in
 * blocks that keep ~64 MB of distances at once.
 */
export function queryKnn(
  ref: Float32Array,
  nRef: number,
  queries: Float32Array,
  nQuery: number,
  dim: number,
  k: number,
  native: TsneNative | null = tsneNative(),
): Neighbours {
  if (!native) return knnSearch(ref, nRef, queries, nQuery, dim, k, false);
  if (k > nRef) throw new Error(`k = ${k} neighbours needs at least ${k} points`);
  const indices = new Int32Array(nQuery * k);
  const distances = new Float32Array(nQuery * k);
  native.knnQuery({
    ref: ref.subarray(0, nRef * dim),
    nRef,
    queries: queries.subarray(0, nQuery * dim),
    nQuery,
    dim,
    k,
    indices,
    distances,
  });
  return { indices, distances, k };
}

/** Settings of the approximate search (native/nndescent.hpp), pynndescent's defaults where they apply. */
export interface ApproxKnnOptions {
  seed?: number;
  /** Random-projection trees whose leaves give the first candidates. */
  trees?: number;
  /** Largest leaf of a tree: each leaf's exact k-NN is one blocked brute-force search. */
  leafSize?: number;
  /** New and old candidates sampled per point per NN-descent round. */
  maxCandidates?: number;
  maxRounds?: number;
  /** Stop when a round changes fewer than delta * n * k entries. */
  delta?: number;
}

/** The settings approximateKnn runs with for k neighbours. */
export function approxKnnSettings(k: number, opts: ApproxKnnOptions = {}): Required<ApproxKnnOptions> {
  return {
    seed: opts.seed ?? 0,
    trees: opts.trees ?? 4,
    leafSize: opts.leafSize ?? 4096,
    maxCandidates: opts.maxCandidates ?? Math.min(20, k),
    maxRounds: opts.maxRounds ?? 12,
    delta: opts.delta ?? 0.001,
  };
}

/**
 * Approximate k nearest neighbours of every row of `data` among the others (native only): a random-projection
 * forest starts a k-NN graph and NN-descent refines it. Seeded, and the same on any thread count.
 */
export function approximateKnn(
  data: Float32Array,
  n: number,
  dim: number,
  k: number,
  opts: ApproxKnnOptions = {},
  native: TsneNative | null = tsneNative(),
): Neighbours & { rounds: number } {
  if (!native) throw new Error('the approximate neighbour search needs the native kernels');
  if (k >= n) throw new Error(`k = ${k} neighbours needs more than ${n} points`);
  const indices = new Int32Array(n * k);
  const distances = new Float32Array(n * k);
  const rounds = native.approxKnn({ data: data.subarray(0, n * dim), n, dim, k, ...approxKnnSettings(k, opts), indices, distances });
  return { indices, distances, k, rounds };
}

/**
 * From this many points `neighbours` takes the approximate search (when the native kernels are built). The exact
 * search's cost grows with n^2 and the approximate one's about with n: on 2 cores, k = 90, PCA-50 of all 70k
 * MNIST images takes 4.8 s exact and 11.8 s approximate (recall 0.999); extrapolated, they cross near 200k points
 * (exact ~40 s), and at 1.05M points the exact search would take ~16 minutes against ~2.2 measured.
 */
export const APPROX_KNN_MIN_POINTS = 200_000;

/** Exact neighbours below APPROX_KNN_MIN_POINTS points (or without the native kernels), approximate above. */
export function neighbours(
  data: Float32Array,
  n: number,
  dim: number,
  k: number,
  seed = 0,
  native: TsneNative | null = tsneNative(),
): Neighbours {
  if (native && n >= APPROX_KNN_MIN_POINTS) return approximateKnn(data, n, dim, k, { seed }, native);
  return exactKnn(data, n, dim, k, native);
}
