/**
 * The optional native addon (native/*.cc, N-API): its one loader and the one declaration of its functions. The
 * loader is node-gyp-build: a local build (build/Release, made by `npm install` with the machine's compiler when
 * no prebuild matched, or by `npm rebuild`) comes first, then the prebuilt binary for this platform and
 * architecture that ships in the package (prebuilds/<platform>-<arch>/, see scripts/prebuild.mjs); nothing is
 * downloaded. Each function
 * takes a single options object whose field names native/ae_native.cc reads (it refuses a missing field, a
 * wrong array type or an array too short for the sizes with a TypeError naming the field).
 *
 * Nothing outside src/accel/ imports this file: models, training and t-SNE call the typed functions of
 * src/accel/index.ts, which pick the native path or the TypeScript/wasm one.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** A sparse P in CSR form, as the attraction and KL sums read it. */
export interface SparsePArgs {
  rowPtr: Int32Array;
  cols: Int32Array;
  vals: Float32Array | Float64Array;
  y: Float64Array;
  n: number;
}

/** Convolution buffers: conv2d (a = x, b = filter, out = y), backprop input (dy, filter, dx), backprop filter (x, dy, dw). */
export interface ConvArgs {
  a: Float32Array;
  b: Float32Array;
  out: Float32Array;
  /** batch, inH, inW, inC, outH, outW, outC, kH, kW, strideH, strideW, padTop, padLeft. */
  geometry: Int32Array;
}

/** The fused dense layer's sizes; activation 0 linear, 1 relu, 2 sigmoid. */
export interface DenseDims {
  batch: number;
  inFeatures: number;
  outFeatures: number;
  activation: 0 | 1 | 2;
}

interface Threaded {
  threads: number;
}

/** One Adam step's hyper-parameters; c1 = 1 - beta1^t and c2 = 1 - beta2^t are the bias corrections. */
export interface AdamHyper {
  lr: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  c1: number;
  c2: number;
}

export interface NativeAddon {
  /** Barnes-Hut: force[2i..] = sum_j q_ij^2 (y_i - y_j); returns Z = sum_{i != j} q_ij. */
  repulsion(o: { y: Float64Array; n: number; theta: number; force: Float64Array } & Threaded): number;
  /** The same sums by FFT-accelerated interpolation (FIt-SNE). */
  repulsionFft(o: { y: Float64Array; n: number; force: Float64Array } & Threaded): number;
  /** out[2i..] = sum_j p_ij q_ij (y_i - y_j). */
  attraction(o: SparsePArgs & { out: Float64Array } & Threaded): void;
  /** sum_ij p_ij log(1 + |y_i - y_j|^2); vals must be a Float32Array. */
  klTerm(o: SparsePArgs & { vals: Float32Array } & Threaded): number;
  /** One t-SNE descent step with momentum and gains on y (2n), then re-centring. */
  descend(o: {
    y: Float64Array;
    attr: Float64Array;
    rep: Float64Array;
    update: Float64Array;
    gains: Float64Array;
    n: number;
    exaggeration: number;
    invZ: number;
    momentum: number;
    lr: number;
  }): void;
  /** t-SNE's conditional P_j|i over each row's k neighbours at the target perplexity. */
  conditionalP(
    o: { distances: Float32Array; n: number; k: number; perplexity: number; tol: number; maxIter: number; out: Float64Array } & Threaded,
  ): void;
  /**
   * P = (P_j|i + P_i|j) / 2n as CSR from each row's k neighbours and conditionals: rowPtr (n + 1) and the entries
   * at the front of cols and vals (capacity 2nk each, also the work space); returns the entry count.
   */
  symmetrize(
    o: {
      indices: Int32Array;
      cond: Float64Array;
      n: number;
      k: number;
      rowPtr: Int32Array;
      cols: Int32Array;
      vals: Float64Array;
    } & Threaded,
  ): number;
  /** A CSR matrix with its points renumbered: new point r is old point order[r]. */
  permuteP(
    o: {
      n: number;
      rowPtr: Int32Array;
      cols: Int32Array;
      vals: Float64Array;
      order: Int32Array;
      outRowPtr: Int32Array;
      outCols: Int32Array;
      outVals: Float64Array;
    } & Threaded,
  ): void;
  /** to[c] = from[c] in single precision (count values), into pages mapped first (huge pages where allowed). */
  toFloat32(o: { from: Float64Array; to: Float32Array; count: number } & Threaded): void;
  /** Exact k nearest neighbours (squared Euclidean) of every row among the others, nearest first. */
  knn(o: { data: Float32Array; n: number; dim: number; k: number; indices: Int32Array; distances: Float32Array } & Threaded): void;
  /** t-SNE's transform: m new points y (2m, in place) descend against the fixed reference map refY (see tsne.hpp). */
  placeOnto(
    o: {
      refY: Float64Array;
      n: number;
      indices: Int32Array;
      p: Float64Array;
      k: number;
      y: Float64Array;
      m: number;
      iterations: number;
      exaggeration: number;
      lr: number;
      momentum: number;
      theta: number;
    } & Threaded,
  ): void;
  /** Exact k nearest reference rows of each query row (squared Euclidean), nearest first. */
  knnQuery(
    o: {
      ref: Float32Array;
      nRef: number;
      queries: Float32Array;
      nQuery: number;
      dim: number;
      k: number;
      indices: Int32Array;
      distances: Float32Array;
    } & Threaded,
  ): void;
  /** Approximate k nearest neighbours (random-projection forest + NN-descent, seeded): returns the rounds run. */
  approxKnn(
    o: {
      data: Float32Array;
      n: number;
      dim: number;
      k: number;
      trees: number;
      leafSize: number;
      maxCandidates: number;
      maxRounds: number;
      delta: number;
      seed: number;
      indices: Int32Array;
      distances: Float32Array;
    } & Threaded,
  ): number;
  conv2d(o: ConvArgs & Threaded): void;
  conv2dBackpropInput(o: ConvArgs & Threaded): void;
  conv2dBackpropFilter(o: ConvArgs & Threaded): void;
  /** The vector path of the matrix products on this CPU (AE_NO_AVX512=1 holds back AVX-512). */
  gemmPath(): 'avx512' | 'avx2' | 'baseline';
  /** For each batch index c = op(a) op(b) (m x k times k x n); broadcastB: b has batch 1. */
  matmul(
    o: {
      a: Float32Array;
      b: Float32Array;
      c: Float32Array;
      batch: number;
      m: number;
      n: number;
      k: number;
      transA: boolean;
      transB: boolean;
      broadcastB: boolean;
    } & Threaded,
  ): void;
  /** out[c] = scale * sum_r x[r * cols + c]. */
  sumRows(o: { x: Float32Array; rows: number; cols: number; out: Float32Array; scale: number } & Threaded): void;
  /** y = act(x w + b) (* mask). */
  denseForward(
    o: { x: Float32Array; w: Float32Array; b: Float32Array; mask: Float32Array | null; y: Float32Array } & DenseDims & Threaded,
  ): void;
  /** dz = dy act'(y) (* mask), dw = x^T dz, db = column sums of dz. */
  denseBackpropParams(
    o: {
      dy: Float32Array;
      x: Float32Array;
      y: Float32Array;
      mask: Float32Array | null;
      dz: Float32Array;
      dw: Float32Array;
      db: Float32Array;
    } & DenseDims &
      Threaded,
  ): void;
  /** out[i] = (i-th uniform draw of the sfc32 stream continuing from `state`) >= rate ? keep : 0 (see Rng). */
  dropoutMask(o: { state: Uint32Array; rate: number; keep: number; out: Float32Array }): void;
  /** mean (pred - target)^2, accumulated in double. */
  mse(o: { pred: Float32Array; target: Float32Array }): number;
  /** out = 2 dLoss (pred - target) / n. */
  mseGrad(o: { pred: Float32Array; target: Float32Array; dLoss: number; out: Float32Array }): void;
  /** scale x sum of -(t ln p + (1 - t) ln(1 - p)), p clipped to [epsilon, 1 - epsilon], accumulated in double. */
  bce(o: { pred: Float32Array; target: Float32Array; epsilon: number; scale: number }): number;
  /** out = scale ((1 - t) / (1 - p) - t / p) where epsilon <= p <= 1 - epsilon, else 0. */
  bceGrad(o: { pred: Float32Array; target: Float32Array; epsilon: number; scale: number; out: Float32Array }): void;
  /** Training-mode batch norm over [rows, channels] then ReLU; writes y and the batch mean and (biased) variance. */
  batchNormRelu(
    o: {
      x: Float32Array;
      gamma: Float32Array;
      beta: Float32Array;
      epsilon: number;
      y: Float32Array;
      mean: Float32Array;
      variance: Float32Array;
      rows: number;
      channels: number;
    } & Threaded,
  ): void;
  /** Its exact gradient (through the batch statistics): dx, dgamma, dbeta. */
  batchNormReluGrad(
    o: {
      dy: Float32Array;
      x: Float32Array;
      y: Float32Array;
      gamma: Float32Array;
      mean: Float32Array;
      variance: Float32Array;
      epsilon: number;
      dx: Float32Array;
      dgamma: Float32Array;
      dbeta: Float32Array;
      rows: number;
      channels: number;
    } & Threaded,
  ): void;
  /** One Adam step on p, m, v in place. */
  adam(o: { p: Float32Array; g: Float32Array; m: Float32Array; v: Float32Array } & AdamHyper & Threaded): void;
}

let addon: NativeAddon | null | undefined;
let loadedFrom: string | null = null;

/** The package's root: the nearest folder above this file whose package.json is ours (src/, dist/ or a bundle). */
function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    try {
      if ((JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string }).name === 'autoencoders') return dir;
    } catch {
      // no package.json here: keep climbing
    }
    const up = path.dirname(dir);
    if (up === dir) throw new Error('the autoencoders package root was not found above the addon loader');
    dir = up;
  }
}

/**
 * The addon as built or prebuilt, or null when there is none for this machine (no prebuild matched and no
 * compiler at install, AE_SKIP_NATIVE=1) or AE_NATIVE=0 asks for the TypeScript/wasm paths process-wide. Whether
 * a given call may use it is src/accel/context.ts's answer.
 */
export function loadAddon(): NativeAddon | null {
  // Asked for per fused-kernel call on the training step's path: the environment is read once, with the load.
  if (addon !== undefined) return addon;
  addon = null;
  if (process.env.AE_NATIVE === '0') return addon;
  try {
    const require = createRequire(import.meta.url);
    const nodeGypBuild = require('node-gyp-build') as { path(dir: string): string };
    const file = nodeGypBuild.path(packageRoot());
    addon = require(file) as NativeAddon;
    loadedFrom = file;
  } catch {
    // Neither built nor prebuilt for this machine: the TypeScript/wasm paths run.
  }
  return addon;
}

/** The file the addon was loaded from (a local build or a prebuild), or null when it is not loaded. */
export function addonFile(): string | null {
  loadAddon();
  return loadedFrom;
}
