/**
 * t-SNE input affinities: for each point a Gaussian over its k nearest neighbours whose bandwidth is found by
 * binary search so that the distribution's perplexity equals the target; then P = (P_j|i + P_i|j) / 2N, sparse.
 */
import type { Neighbours } from './knn.js';

/** Symmetric sparse matrix in CSR form; values sum to 1. */
export interface SparseP {
  n: number;
  rowPtr: Int32Array;
  cols: Int32Array;
  vals: Float64Array;
}

/** Conditional probabilities P_j|i over each row's neighbours (row-major n x k). */
export function conditionalP(nb: Neighbours, n: number, perplexity: number, tol = 1e-5, maxIter = 100): Float64Array {
  const { k, distances } = nb;
  const target = Math.log(perplexity);
  const p = new Float64Array(n * k);
  const row = new Float64Array(k);
  for (let i = 0; i < n; i++) {
    const off = i * k;
    // Distances relative to the nearest neighbour keep exp() in range; the shift cancels in the normalisation.
    const d0 = distances[off]!;
    let beta = 1, lo = 0, hi = Infinity;
    for (let it = 0; it < maxIter; it++) {
      let sum = 0, sumDP = 0;
      for (let j = 0; j < k; j++) {
        const d = distances[off + j]! - d0;
        const v = Math.exp(-beta * d);
        row[j] = v; sum += v; sumDP += d * v;
      }
      const entropy = Math.log(sum) + beta * sumDP / sum;
      if (Math.abs(entropy - target) < tol) break;
      if (entropy > target) { lo = beta; beta = hi === Infinity ? beta * 2 : (beta + hi) / 2; } else { hi = beta; beta = (beta + lo) / 2; }
    }
    let sum = 0;
    for (let j = 0; j < k; j++) sum += row[j]!;
    for (let j = 0; j < k; j++) p[off + j] = row[j]! / sum;
  }
  return p;
}

/** Symmetrises P_j|i into P = (P_j|i + P_i|j) / (2n), as CSR. */
export function symmetrize(nb: Neighbours, n: number, cond: Float64Array): SparseP {
  const { k, indices } = nb;
  const rows: Array<Map<number, number>> = Array.from({ length: n }, () => new Map());
  for (let i = 0; i < n; i++) {
    for (let t = 0; t < k; t++) {
      const j = indices[i * k + t]!;
      const v = cond[i * k + t]! / (2 * n);
      rows[i]!.set(j, (rows[i]!.get(j) ?? 0) + v);
      rows[j]!.set(i, (rows[j]!.get(i) ?? 0) + v);
    }
  }
  const rowPtr = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) rowPtr[i + 1] = rowPtr[i]! + rows[i]!.size;
  const cols = new Int32Array(rowPtr[n]!);
  const vals = new Float64Array(rowPtr[n]!);
  for (let i = 0; i < n; i++) {
    let c = rowPtr[i]!;
    for (const [j, v] of rows[i]!) { cols[c] = j; vals[c] = v; c++; }
  }
  return { n, rowPtr, cols, vals };
}
