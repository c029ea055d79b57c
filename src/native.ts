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
