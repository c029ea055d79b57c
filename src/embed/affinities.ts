/**
 * t-SNE input affinities: for each point a Gaussian over its k nearest neighbours whose bandwidth is found by
 * a safeguarded Newton search so that the distribution's perplexity equals the target; then P = (P_j|i + P_i|j) / 2N, sparse.
 */
import { tsneNative, type TsneNative } from '../accel/index.js';
import type { Neighbours } from './knn.js';
import { bounds2d } from '../util/bounds.js';

/** Symmetric sparse matrix in CSR form; values sum to 1. */
export interface SparseP {
  n: number;
  rowPtr: Int32Array;
  cols: Int32Array;
  vals: Float64Array;
}

/**
 * Conditional probabilities P_j|i over each row's neighbours (row-major n x k). The native code runs the same
 * search on all cores where available (pass `native: null` to force this TypeScript loop).
 */
export function conditionalP(
  nb: Neighbours,
  n: number,
  perplexity: number,
  tol = 1e-5,
  maxIter = 100,
  native: TsneNative | null = tsneNative(),
): Float64Array {
  const { k, distances } = nb;
  const target = Math.log(perplexity);
  const p = new Float64Array(n * k);
  if (native) {
    native.conditionalP({ distances, n, k, perplexity, tol, maxIter, out: p });
    return p;
  }
  const row = new Float64Array(k);
  for (let i = 0; i < n; i++) {
    const off = i * k;
    // Distances relative to the nearest neighbour keep exp() in range; the shift cancels in the normalisation.
    const d0 = distances[off]!;
    let beta = 1,
      lo = 0,
      hi = Infinity;
    // Newton's step on the entropy H(beta) (slope -beta Var(d)) where it lands inside the bracket, else halve
    // the bracket (or double beta): the native search's steps exactly (native/tsne.hpp).
    for (let it = 0; it < maxIter; it++) {
      let sum = 0,
        sumDP = 0,
        sumD2P = 0;
      for (let j = 0; j < k; j++) {
        const d = distances[off + j]! - d0;
        const v = Math.exp(-beta * d);
        row[j] = v;
        sum += v;
        sumDP += d * v;
        sumD2P += d * d * v;
      }
      const mean = sumDP / sum;
      const entropy = Math.log(sum) + beta * mean;
      if (Math.abs(entropy - target) < tol) break;
      if (entropy > target) lo = beta;
      else hi = beta;
      const slope = -beta * (sumD2P / sum - mean * mean);
      const newton = beta - (entropy - target) / slope;
      if (slope < 0 && newton > lo && newton < hi) beta = newton;
      else beta = hi === Infinity ? beta * 2 : (lo + hi) / 2;
    }
    let sum = 0;
    for (let j = 0; j < k; j++) sum += row[j]!;
    for (let j = 0; j < k; j++) p[off + j] = row[j]! / sum;
  }
  return p;
}

/**
 * Multiscale affinities (Lee et al. 2015; openTSNE's `Multiscale`): the mean of the Gaussian conditionals at
 * several perplexities over the same neighbours, so that each point's distribution has both a close and a wide
 * reach (e.g. 30 and 300 for the local and the global structure). Rows still sum to 1.
 */
export function multiscaleConditionalP(
  nb: Neighbours,
  n: number,
  perplexities: readonly number[],
  native: TsneNative | null = tsneNative(),
): Float64Array {
  // One perplexity (the usual case) is the single Gaussian itself: no second n x k array (756 MB at 1M points).
  if (perplexities.length === 1) return conditionalP(nb, n, perplexities[0]!, 1e-5, 100, native);
  const out = new Float64Array(n * nb.k);
  for (const perplexity of perplexities) {
    const p = conditionalP(nb, n, perplexity, 1e-5, 100, native);
    for (let i = 0; i < out.length; i++) out[i]! += p[i]! / perplexities.length;
  }
  return out;
}

/**
 * Symmetrises P_j|i into P = (P_j|i + P_i|j) / (2n), as CSR: each (i, j) entry goes to rows i and j, then
 * duplicates within a row are merged with a position table (O(nnz), no sorting or hashing). The native code
 * (native/affinities.hpp) gives the same bits, merging rows on all cores (pass `native: null` for this loop).
 */
export function symmetrize(nb: Neighbours, n: number, cond: Float64Array, native: TsneNative | null = tsneNative()): SparseP {
  const { k, indices } = nb;
  if (native) {
    const rowPtr = new Int32Array(n + 1);
    const cols = new Int32Array(2 * n * k);
    const vals = new Float64Array(2 * n * k);
    const nnz = native.symmetrize({ indices: indices.subarray(0, n * k), cond: cond.subarray(0, n * k), n, k, rowPtr, cols, vals });
    // Views, not copies, when most of the work space is used: at 1M points a copy would touch 2 GB of fresh pages.
    const keep = nnz >= 0.5 * cols.length;
    return { n, rowPtr, cols: keep ? cols.subarray(0, nnz) : cols.slice(0, nnz), vals: keep ? vals.subarray(0, nnz) : vals.slice(0, nnz) };
  }
  const start = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) {
    start[i + 1]! += k;
    for (let t = 0; t < k; t++) start[indices[i * k + t]! + 1]!++;
  }
  for (let i = 0; i < n; i++) start[i + 1]! += start[i]!;
  const rawCols = new Int32Array(start[n]!);
  const rawVals = new Float64Array(start[n]!);
  const fill = start.slice(0, n);
  for (let i = 0; i < n; i++) {
    for (let t = 0; t < k; t++) {
      const j = indices[i * k + t]!,
        v = cond[i * k + t]! / (2 * n);
      rawCols[fill[i]!] = j;
      rawVals[fill[i]!++] = v;
      rawCols[fill[j]!] = i;
      rawVals[fill[j]!++] = v;
    }
  }
  // Merge duplicate columns row by row, compacting in place.
  const pos = new Int32Array(n).fill(-1);
  const rowPtr = new Int32Array(n + 1);
  let w = 0;
  for (let i = 0; i < n; i++) {
    const rowStart = w;
    for (let c = start[i]!; c < start[i + 1]!; c++) {
      const j = rawCols[c]!;
      if (pos[j]! >= 0) {
        rawVals[pos[j]!]! += rawVals[c]!;
        continue;
      }
      pos[j] = w;
      rawCols[w] = j;
      rawVals[w] = rawVals[c]!;
      w++;
    }
    for (let c = rowStart; c < w; c++) pos[rawCols[c]!] = -1;
    rowPtr[i + 1] = w;
  }
  return { n, rowPtr, cols: rawCols.slice(0, w), vals: rawVals.slice(0, w) };
}

/**
 * An order of the points in which neighbours in P sit close together (breadth-first over P's graph, as in
 * Cuthill-McKee). Optimising in this order makes the gradient's memory accesses local: each point's
 * neighbours, and later its neighbours in the embedding, are mostly in cache.
 */
export function localityOrder(p: SparseP): Int32Array {
  const order = new Int32Array(p.n);
  const seen = new Uint8Array(p.n);
  let head = 0,
    tail = 0;
  for (let start = 0; start < p.n; start++) {
    if (seen[start]) continue;
    seen[start] = 1;
    order[tail++] = start;
    while (head < tail) {
      const i = order[head++]!;
      for (let c = p.rowPtr[i]!; c < p.rowPtr[i + 1]!; c++) {
        const j = p.cols[c]!;
        if (!seen[j]) {
          seen[j] = 1;
          order[tail++] = j;
        }
      }
    }
  }
  return order;
}

/**
 * P with its points renumbered: new point r is old point order[r] (rows on all cores with the native code). The
 * result goes into `into`'s arrays when given (a P of the same size no longer needed, e.g. the one before the
 * last renumbering): at 1M points fresh arrays are 1.5 GB of new pages, ~2 s to map on these virtual machines.
 */
export function permuteP(p: SparseP, order: Int32Array, native: TsneNative | null = tsneNative(), into?: SparseP): SparseP {
  if (into && (into.n !== p.n || into.cols.length !== p.cols.length || into.vals.length !== p.vals.length || into === p))
    throw new Error('permuteP: `into` must be another P of the same size');
  const rowPtr = into?.rowPtr ?? new Int32Array(p.n + 1);
  const cols = into?.cols ?? new Int32Array(p.cols.length);
  const vals = into?.vals ?? new Float64Array(p.vals.length);
  if (native) {
    native.permuteP({ ...p, order, outRowPtr: rowPtr, outCols: cols, outVals: vals });
    return { n: p.n, rowPtr, cols, vals };
  }
  const rank = new Int32Array(p.n);
  for (let r = 0; r < p.n; r++) rank[order[r]!] = r;
  for (let r = 0; r < p.n; r++) {
    const i = order[r]!;
    let out = rowPtr[r]!;
    for (let c = p.rowPtr[i]!; c < p.rowPtr[i + 1]!; c++, out++) {
      cols[out] = rank[p.cols[c]!]!;
      vals[out] = p.vals[c]!;
    }
    rowPtr[r + 1] = out;
  }
  return { n: p.n, rowPtr, cols, vals };
}

/** Position of cell (x, y) along a Hilbert curve over a 2^bits x 2^bits grid. */
function hilbertIndex(x: number, y: number, bits: number): number {
  let d = 0;
  for (let s = 2 ** (bits - 1); s >= 1; s /= 2) {
    const rx = x >= s ? 1 : 0,
      ry = y >= s ? 1 : 0;
    d += s * s * ((3 * rx) ^ ry);
    x -= rx * s;
    y -= ry * s;
    if (ry === 0) {
      if (rx === 1) {
        x = s - 1 - x;
        y = s - 1 - y;
      }
      [x, y] = [y, x];
    }
  }
  return d;
}

/**
 * The points of a 2-D layout (y: n interleaved pairs) in the order a Hilbert curve over its bounding box meets
 * them: points near each other on the map get near numbers. Once t-SNE's map has formed, P's neighbours lie near
 * each other on it, so renumbering by this order keeps the attraction's reads of their positions in cache (at
 * 1M points: 45 % of P's entries within 2,048 rows of their row, against 15 % in localityOrder's). Ties (points
 * in one cell) keep their index order; the sort key packs cell and index into one double.
 */
export function spaceFillingOrder(y: Float64Array, n: number): Int32Array {
  const { minX, maxX, minY, maxY } = bounds2d(y, n);
  const indexBits = Math.max(1, Math.ceil(Math.log2(n)));
  const bits = Math.min(16, Math.floor((53 - indexBits) / 2));
  const cells = 2 ** bits;
  const sx = (cells - 1) / (maxX - minX || 1),
    sy = (cells - 1) / (maxY - minY || 1);
  const keys = new Float64Array(n);
  const shift = 2 ** indexBits;
  for (let i = 0; i < n; i++) {
    const cell = hilbertIndex(Math.floor((y[2 * i]! - minX) * sx), Math.floor((y[2 * i + 1]! - minY) * sy), bits);
    keys[i] = cell * shift + i;
  }
  keys.sort();
  const order = new Int32Array(n);
  for (let r = 0; r < n; r++) order[r] = keys[r]! % shift;
  return order;
}
