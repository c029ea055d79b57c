/**
 * The optional native addon (native/*.cc, N-API, built by node-gyp at `npm install` with the machine's compiler;
 * nothing is downloaded). It holds t-SNE's heavy kernels and the convolutions and matrix products of training.
 * Every user of it has a pure TypeScript/wasm path for when it did not build; AE_NATIVE=0 forces those paths.
 */
import { createRequire } from 'node:module';

export interface NativeAddon {
  repulsion(y: Float64Array, n: number, theta: number, force: Float64Array, threads: number): number;
  attraction(rowPtr: Int32Array, cols: Int32Array, vals: Float32Array | Float64Array, y: Float64Array, n: number, out: Float64Array, threads: number): void;
  conditionalP(distances: Float32Array, n: number, k: number, perplexity: number, tol: number, maxIter: number, out: Float64Array, threads: number): void;
  /** sum_ij p_ij log(1 + |y_i - y_j|^2). */
  klTerm(rowPtr: Int32Array, cols: Int32Array, vals: Float32Array, y: Float64Array, n: number, threads: number): number;
  descend(y: Float64Array, attr: Float64Array, rep: Float64Array, update: Float64Array, gains: Float64Array, n: number,
    exaggeration: number, invZ: number, momentum: number, lr: number): void;
  knn(data: Float32Array, n: number, dim: number, k: number, indices: Int32Array, distances: Float32Array, threads: number): void;
  repulsionFft(y: Float64Array, n: number, force: Float64Array, threads: number): number;
  /** Geometry: batch, inH, inW, inC, outH, outW, outC, kH, kW, strideH, strideW, padTop, padLeft. */
  conv2d(x: Float32Array, w: Float32Array, out: Float32Array, geometry: Int32Array, threads: number): void;
  conv2dBackpropInput(dy: Float32Array, w: Float32Array, dx: Float32Array, geometry: Int32Array, threads: number): void;
  conv2dBackpropFilter(x: Float32Array, dy: Float32Array, dw: Float32Array, geometry: Int32Array, threads: number): void;
  matmul(a: Float32Array, b: Float32Array, c: Float32Array, batch: number, m: number, n: number, k: number,
    transA: boolean, transB: boolean, broadcastB: boolean, threads: number): void;
  /** out[c] = scale * sum_r x[r * cols + c]. */
  sumRows(x: Float32Array, rows: number, cols: number, out: Float32Array, scale: number, threads: number): void;
  /** y = act(x w + b) (* mask); activation 0 linear, 1 relu, 2 sigmoid. */
  denseForward(x: Float32Array, w: Float32Array, b: Float32Array, mask: Float32Array | null, y: Float32Array,
    batch: number, inFeatures: number, outFeatures: number, activation: number, threads: number): void;
  /** dz = dy act'(y) (* mask), dw = x^T dz, db = column sums of dz. */
  denseBackpropParams(dy: Float32Array, x: Float32Array, y: Float32Array, mask: Float32Array | null, dz: Float32Array, dw: Float32Array,
    db: Float32Array, batch: number, inFeatures: number, outFeatures: number, activation: number, threads: number): void;
  /** out[i] = (i-th uniform draw of the sfc32 stream continuing from `state`) >= rate ? keep : 0 (see Rng). */
  dropoutMask(state: Uint32Array, rate: number, keep: number, out: Float32Array): void;
  /** mean (p - t)^2, accumulated in double. */
  mse(p: Float32Array, t: Float32Array): number;
  /** out = 2 dLoss (p - t) / n. */
  mseGrad(p: Float32Array, t: Float32Array, dLoss: number, out: Float32Array): void;
  /** Training-mode batch norm over [rows, channels] then ReLU; writes y and the batch mean and (biased) variance. */
  batchNormRelu(x: Float32Array, gamma: Float32Array, beta: Float32Array, epsilon: number, y: Float32Array, mean: Float32Array,
    variance: Float32Array, rows: number, channels: number, threads: number): void;
  /** Its exact gradient (through the batch statistics): dx, dgamma, dbeta. */
  batchNormReluGrad(dy: Float32Array, x: Float32Array, y: Float32Array, gamma: Float32Array, mean: Float32Array, variance: Float32Array,
    epsilon: number, dx: Float32Array, dgamma: Float32Array, dbeta: Float32Array, rows: number, channels: number, threads: number): void;
  /** One Adam step on p, m, v in place; c1 = 1 - beta1^t, c2 = 1 - beta2^t. */
  adam(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, lr: number, beta1: number, beta2: number,
    epsilon: number, c1: number, c2: number, threads: number): void;
}

let addon: NativeAddon | null | undefined;

/** The native addon, or null when it was not built (or AE_NATIVE=0). */
export function loadNativeAddon(): NativeAddon | null {
  if (process.env.AE_NATIVE === '0') return null;
  if (addon !== undefined) return addon;
  try {
    // src/ and dist/ both sit one level below the package root, where node-gyp puts build/.
    addon = createRequire(import.meta.url)('../build/Release/ae_native.node') as NativeAddon;
  } catch {
    addon = null;
  }
  return addon;
}
