/**
 * PCA. Up to EXACT_MAX_DIM columns (AE latents, codes) exactly: the covariance matrix in float64 and its
 * eigenvectors. Wider data (10k CAE latents of 12,544 numbers) by randomized subspace iteration (Halko, Martinsson
 * & Tropp 2011): the heavy products run in TensorFlow.js (XNNPACK GEMM), the small dense steps
 * (orthonormalisation, an l x l eigenproblem) in JS.
 */
import { tf } from '../backend/index.js';
import { Rng } from '../util/rng.js';
import { symmetricEigen } from './eigen.js';

export { symmetricEigen };

/** Orthonormalises the columns of a (rows x cols, row-major) in place by modified Gram-Schmidt. */
function orthonormalize(a: Float32Array, rows: number, cols: number): void {
  const col = new Float64Array(rows);
  for (let c = 0; c < cols; c++) {
    for (let r = 0; r < rows; r++) col[r] = a[r * cols + c]!;
    for (let p = 0; p < c; p++) {
      let dot = 0;
      for (let r = 0; r < rows; r++) dot += col[r]! * a[r * cols + p]!;
      for (let r = 0; r < rows; r++) col[r]! -= dot * a[r * cols + p]!;
    }
    let norm = 0;
    for (let r = 0; r < rows; r++) norm += col[r]! * col[r]!;
    norm = Math.sqrt(norm) || 1;
    for (let r = 0; r < rows; r++) a[r * cols + c] = col[r]! / norm;
  }
}

export interface PcaResult {
  /** n x k projections (row-major). */
  scores: Float32Array;
  /** Variance along each of the k components. */
  variances: Float64Array;
}

/** Up to this many columns PCA is exact: the covariance's n dim^2 / 2 multiply-adds and a dim x dim
 *  eigenproblem cost less there than the randomized iteration's products and orthonormalisations (1.05M codes of
 *  32 numbers: 0.9 s against 7 s). */
export const EXACT_MAX_DIM = 128;

/** Exact PCA from the covariance matrix (accumulated in float64); each direction is signed so that its largest
 *  coefficient is positive. */
function exactPca(data: Float32Array, n: number, dim: number, k: number): PcaResult {
  const mean = new Float64Array(dim);
  for (let i = 0; i < n; i++) for (let d = 0; d < dim; d++) mean[d]! += data[i * dim + d]!;
  for (let d = 0; d < dim; d++) mean[d]! /= n;
  const cov = new Float64Array(dim * dim);
  const row = new Float64Array(dim);
  for (let i = 0; i < n; i++) {
    for (let d = 0; d < dim; d++) row[d] = data[i * dim + d]! - mean[d]!;
    for (let a = 0; a < dim; a++) {
      const ra = row[a]!,
        off = a * dim;
      for (let b = a; b < dim; b++) cov[off + b]! += ra * row[b]!;
    }
  }
  for (let a = 0; a < dim; a++) for (let b = 0; b < a; b++) cov[a * dim + b] = cov[b * dim + a]!;
  const { values, vectors } = symmetricEigen(cov, dim);
  const directions = new Float64Array(dim * k);
  for (let c = 0; c < k; c++) {
    let largest = 0;
    for (let d = 0; d < dim; d++) if (Math.abs(vectors[d * dim + c]!) > Math.abs(largest)) largest = vectors[d * dim + c]!;
    const sign = largest < 0 ? -1 : 1;
    for (let d = 0; d < dim; d++) directions[d * k + c] = sign * vectors[d * dim + c]!;
  }
  const scores = new Float32Array(n * k);
  for (let i = 0; i < n; i++) {
    for (let d = 0; d < dim; d++) row[d] = data[i * dim + d]! - mean[d]!;
    for (let c = 0; c < k; c++) {
      let sum = 0;
      for (let d = 0; d < dim; d++) sum += row[d]! * directions[d * k + c]!;
      scores[i * k + c] = sum;
    }
  }
  const variances = Float64Array.from(values.subarray(0, k), (v) => Math.max(v, 0) / Math.max(1, n - 1));
  return { scores, variances };
}

/** The top-k principal component scores of `data` (n x dim, row-major). */
export function pca(data: Float32Array, n: number, dim: number, k: number, seed = 0, powerIterations = 4): PcaResult {
  const kk = Math.min(k, dim, n);
  if (dim <= EXACT_MAX_DIM && n >= dim) return exactPca(data, n, dim, kk);
  const l = Math.min(kk + 10, dim, n);
  const rng = new Rng(seed);
  const omega = Float32Array.from({ length: dim * l }, () => rng.normal());
  let variances = new Float64Array(0);
  // Typed arrays are read outside tidy(): tidy walks a returned array element by element.
  const result = tf.tidy(() => {
    const x = tf.tensor2d(data, [n, dim]);
    const xc = tf.sub(x, tf.mean(x, 0));
    const xcT = tf.transpose(xc);
    const orth = (t: tf.Tensor2D, rows: number): tf.Tensor2D => {
      const a = t.dataSync().slice() as Float32Array;
      orthonormalize(a, rows, l);
      return tf.tensor2d(a, [rows, l]);
    };
    let q = orth(tf.matMul(xc, tf.tensor2d(omega, [dim, l])), n);
    for (let it = 0; it < powerIterations; it++) {
      const z = orth(tf.matMul(xcT, q) as tf.Tensor2D, dim);
      q = orth(tf.matMul(xc, z), n);
    }
    // B = Q^T Xc (l x dim); the eigenvectors of B B^T rotate Q onto the principal directions.
    const b = tf.matMul(tf.transpose(q), xc);
    const bbt = Float64Array.from(tf.matMul(b, tf.transpose(b)).dataSync());
    const { values, vectors } = symmetricEigen(bbt, l);
    const rot = new Float32Array(l * kk);
    for (let r = 0; r < l; r++) for (let c = 0; c < kk; c++) rot[r * kk + c] = vectors[r * l + c]!;
    // With B = U S W^T, the principal directions are W = B^T U S^-1 and the scores Xc W.
    const sv = Float32Array.from({ length: kk }, (_, c) => Math.sqrt(Math.max(values[c]!, 1e-30)));
    const directions = tf.div(tf.matMul(tf.transpose(b), tf.tensor2d(rot, [l, kk])), tf.tensor1d(sv));
    variances = Float64Array.from(values.subarray(0, kk), (v) => v / Math.max(1, n - 1));
    return tf.matMul(xc, directions);
  });
  const scores = result.dataSync().slice() as Float32Array;
  result.dispose();
  return { scores, variances };
}
