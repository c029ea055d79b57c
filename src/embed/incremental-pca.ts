/**
 * Incremental PCA (Ross, Lim, Lin & Yang 2008, the algorithm of scikit-learn's IncrementalPCA): rows arrive in
 * batches and only the current components, their singular values and the running mean are kept, so fitting takes
 * memory for (components + batch) rows, whatever the number of rows. Each update takes the SVD of
 *   [ diag(S) V ; batch - batch mean ; sqrt(n b / (n + b)) (mean - batch mean) ]
 * through the eigen-decomposition of its small Gram matrix (the products run in TensorFlow.js).
 */
import { tf } from '../backend/index.js';
import { symmetricEigen } from './eigen.js';

/** Rows per update: more rows mean fewer, larger eigenproblems ((components + rows)^3 each). */
const DEFAULT_BATCH_ROWS = 100;

/** A fitted projection onto the top principal components. */
export interface PcaProjection {
  /** Numbers per input row. */
  inputDim: number;
  /** Components kept (fewer than asked when the rows seen span fewer directions). */
  dim: number;
  /** Rows the components were fitted on. */
  fitRows: number;
  /** Share of the fitted rows' total variance that the components capture, in [0, 1]. */
  explainedVarianceRatio: number;
  /** The fitted rows' mean (inputDim) and the components (dim x inputDim, row-major): saved with maps. */
  mean: Float32Array;
  components: Float32Array;
  /** The principal component scores of `count` rows (count x inputDim, row-major): count x dim. */
  transform(rows: Float32Array, count: number): Float32Array;
}

/** A projection rebuilt from its saved mean and components (e.g. read back from a map file). */
export function projectionFrom(
  mean: Float32Array,
  components: Float32Array,
  fitRows = 0,
  explainedVarianceRatio = Number.NaN,
): PcaProjection {
  const inputDim = mean.length;
  const dim = components.length / inputDim;
  if (!Number.isInteger(dim) || dim < 1) throw new Error(`PCA components of ${components.length} numbers do not fit a mean of ${inputDim}`);
  return {
    inputDim,
    dim,
    fitRows,
    explainedVarianceRatio,
    mean,
    components,
    transform: (rows, count) => project(rows, count, inputDim, mean, components, dim),
  };
}

export class IncrementalPca {
  private seen = 0;
  private readonly mean: Float64Array;
  /** Per-column sums of squares about zero, for the total variance. */
  private readonly sumSquares: Float64Array;
  private components: Float32Array = new Float32Array(0);
  private singular = new Float64Array(0);
  private readonly buffer: Float32Array;
  private buffered = 0;

  constructor(
    readonly inputDim: number,
    readonly wanted: number,
    readonly batchRows = Math.max(DEFAULT_BATCH_ROWS, wanted),
  ) {
    this.mean = new Float64Array(inputDim);
    this.sumSquares = new Float64Array(inputDim);
    this.buffer = new Float32Array(this.batchRows * inputDim);
  }

  /** Adds `count` rows (count x inputDim, row-major); updates the fit each time a batch of rows is complete. */
  add(rows: Float32Array, count: number): void {
    const d = this.inputDim;
    for (let r = 0; r < count; ) {
      const take = Math.min(count - r, this.batchRows - this.buffered);
      this.buffer.set(rows.subarray(r * d, (r + take) * d), this.buffered * d);
      this.buffered += take;
      r += take;
      if (this.buffered === this.batchRows) this.flush();
    }
  }

  /** Fits what is still buffered and returns the projection. */
  finish(): PcaProjection {
    this.flush();
    if (this.seen === 0) throw new Error('IncrementalPca: no rows were added');
    let total = 0;
    for (let c = 0; c < this.inputDim; c++) total += Math.max(0, this.sumSquares[c]! - this.seen * this.mean[c]! ** 2);
    const captured = this.singular.reduce((s, v) => s + v * v, 0);
    const k = this.singular.length;
    const components = k > 0 ? this.components : unitRow(this.inputDim);
    const dim = Math.max(1, k);
    return projectionFrom(
      Float32Array.from(this.mean),
      components.slice(0, dim * this.inputDim),
      this.seen,
      total > 0 ? Math.min(1, captured / total) : 1,
    );
  }

  private flush(): void {
    const b = this.buffered;
    if (b === 0) return;
    this.buffered = 0;
    const d = this.inputDim;
    const batch = this.buffer.subarray(0, b * d);
    const batchMean = new Float64Array(d);
    for (let r = 0; r < b; r++) {
      for (let c = 0; c < d; c++) {
        const v = batch[r * d + c]!;
        batchMean[c]! += v;
        this.sumSquares[c]! += v * v;
      }
    }
    for (let c = 0; c < d; c++) batchMean[c]! /= b;
    // The stacked matrix whose SVD is the fit of all rows so far, about their new mean.
    const k = this.singular.length;
    const withHistory = this.seen > 0;
    const rows = k + b + (withHistory ? 1 : 0);
    const stack = new Float32Array(rows * d);
    for (let r = 0; r < k; r++) {
      for (let c = 0; c < d; c++) stack[r * d + c] = this.singular[r]! * this.components[r * d + c]!;
    }
    for (let r = 0; r < b; r++) {
      for (let c = 0; c < d; c++) stack[(k + r) * d + c] = batch[r * d + c]! - batchMean[c]!;
    }
    if (withHistory) {
      const scale = Math.sqrt((this.seen * b) / (this.seen + b));
      for (let c = 0; c < d; c++) stack[(k + b) * d + c] = scale * (this.mean[c]! - batchMean[c]!);
    }
    for (let c = 0; c < d; c++) this.mean[c] = (this.seen * this.mean[c]! + b * batchMean[c]!) / (this.seen + b);
    this.seen += b;
    this.decompose(stack, rows);
  }

  /** Keeps the top right singular vectors of `stack` (rows x inputDim) and their singular values. */
  private decompose(stack: Float32Array, rows: number): void {
    const d = this.inputDim;
    const gram = tf.tidy(() => {
      const s = tf.tensor2d(stack, [rows, d]);
      return tf.matMul(s, s, false, true);
    });
    const { values, vectors } = symmetricEigen(Float64Array.from(gram.dataSync()), rows);
    gram.dispose();
    // Directions with no variance beyond float32 rounding (of the Gram matrix: about 1e-7 of the largest value)
    // have no defined singular vector: dropped.
    const floor = Math.max(values[0]!, 0) * 1e-6;
    let keep = 0;
    while (keep < Math.min(this.wanted, rows) && values[keep]! > floor && values[keep]! > 0) keep++;
    const singular = Float64Array.from(values.subarray(0, keep), (v) => Math.sqrt(v));
    // V^T = S^-1 U^T X: the rows of U scaled by 1/S, times the stack.
    const left = new Float32Array(keep * rows);
    for (let c = 0; c < keep; c++) for (let r = 0; r < rows; r++) left[c * rows + r] = vectors[r * rows + c]! / singular[c]!;
    const v = tf.tidy(() => tf.matMul(tf.tensor2d(left, [keep, rows]), tf.tensor2d(stack, [rows, d])));
    const components = v.dataSync().slice() as Float32Array;
    v.dispose();
    orientComponents(components, keep, d);
    this.components = components;
    this.singular = singular;
  }
}

/** A deterministic sign for each component: its entry of largest magnitude is positive (scikit-learn's svd_flip). */
function orientComponents(components: Float32Array, k: number, d: number): void {
  for (let r = 0; r < k; r++) {
    const row = components.subarray(r * d, (r + 1) * d);
    let largest = 0;
    for (let c = 1; c < d; c++) if (Math.abs(row[c]!) > Math.abs(row[largest]!)) largest = c;
    if (row[largest]! < 0) for (let c = 0; c < d; c++) row[c] = -row[c]!;
  }
}

function unitRow(d: number): Float32Array {
  const row = new Float32Array(d);
  row[0] = 1;
  return row;
}

/** (rows - mean) components^T. */
function project(rows: Float32Array, count: number, d: number, mean: Float32Array, components: Float32Array, k: number): Float32Array {
  const out = tf.tidy(() =>
    tf.matMul(
      tf.sub(tf.tensor2d(rows.subarray(0, count * d), [count, d]), tf.tensor1d(mean)),
      tf.tensor2d(components, [k, d]),
      false,
      true,
    ),
  );
  const scores = out.dataSync().slice() as Float32Array;
  out.dispose();
  return scores;
}
