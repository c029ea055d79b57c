/**
 * PCA by randomized subspace iteration (Halko, Martinsson & Tropp 2011): the heavy products run in TensorFlow.js
 * (XNNPACK GEMM), the small dense steps (orthonormalisation, an l x l eigenproblem) in JS. Works for tall or wide
 * data alike (10k AE latents of 32 numbers, 10k CAE latents of 12,544).
 */
import { tf } from '../backend/index.js';
import { Rng } from '../util/rng.js';

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

/** Eigen-decomposition of a symmetric m x m matrix by cyclic Jacobi; eigenvalues descending, vectors as columns. */
export function symmetricEigen(input: Float64Array, m: number): { values: Float64Array; vectors: Float64Array } {
  const a = Float64Array.from(input);
  const v = new Float64Array(m * m);
  for (let i = 0; i < m; i++) v[i * m + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < m; p++) for (let q = p + 1; q < m; q++) off += a[p * m + q]! ** 2;
    if (off < 1e-22) break;
    for (let p = 0; p < m; p++) {
      for (let q = p + 1; q < m; q++) {
        const apq = a[p * m + q]!;
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (a[q * m + q]! - a[p * m + p]!) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1),
          s = t * c;
        for (let k = 0; k < m; k++) {
          const akp = a[k * m + p]!,
            akq = a[k * m + q]!;
          a[k * m + p] = c * akp - s * akq;
          a[k * m + q] = s * akp + c * akq;
        }
        for (let k = 0; k < m; k++) {
          const apk = a[p * m + k]!,
            aqk = a[q * m + k]!;
          a[p * m + k] = c * apk - s * aqk;
          a[q * m + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < m; k++) {
          const vkp = v[k * m + p]!,
            vkq = v[k * m + q]!;
          v[k * m + p] = c * vkp - s * vkq;
          v[k * m + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const order = Array.from({ length: m }, (_, i) => i).sort((x, y) => a[y * m + y]! - a[x * m + x]!);
  const values = Float64Array.from(order, (i) => a[i * m + i]!);
  const vectors = new Float64Array(m * m);
  order.forEach((src, dst) => {
    for (let k = 0; k < m; k++) vectors[k * m + dst] = v[k * m + src]!;
  });
  return { values, vectors };
}

export interface PcaResult {
  /** n x k projections (row-major). */
  scores: Float32Array;
  /** Variance along each of the k components. */
  variances: Float64Array;
}

/** The top-k principal component scores of `data` (n x dim, row-major). */
export function pca(data: Float32Array, n: number, dim: number, k: number, seed = 0, powerIterations = 4): PcaResult {
  const kk = Math.min(k, dim, n);
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
