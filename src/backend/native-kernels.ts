/**
 * Training's hot kernels in the native addon, registered as TensorFlow.js wasm kernels: Conv2D and its two
 * gradients (im2col + a blocked GEMM with AVX2/FMA and one thread per core), BatchMatMul, and Sum/Mean over
 * leading axes. The wasm backend
 * keeps its tensors in WebAssembly memory, so the addon reads and writes them in place through Float32Array
 * views of that memory: no copies, and TensorFlow.js stays the framework (autodiff, optimizers, every other op).
 *
 * Each kernel falls back to the previous (wasm) kernel for what it does not handle (dilation, NCHW, non-float
 * inputs, batch broadcasting of the first operand), and `useNativeKernels(false)` switches them all back, so
 * tests check the two paths against each other and against the cpu backend.
 */
import os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { NativeAddon } from '../native.js';

type KernelFunc = tf.KernelConfig['kernelFunc'];
type Info = tf.TensorInfo;

let enabled = true;

/** Turns the native training kernels on or off (they stay registered; off delegates to the wasm kernels). */
export function useNativeKernels(on: boolean): void {
  enabled = on;
}

export function nativeKernelsEnabled(): boolean {
  return enabled;
}

/** A Float32Array over a tensor's bytes in wasm memory (re-read after any allocation: memory may have grown). */
function view(backend: BackendWasm, t: Info): Float32Array {
  const { memoryOffset } = backend.dataIdMap.get(t.dataId)!;
  return new Float32Array(backend.wasm.HEAPU8.buffer, memoryOffset, tf.util.sizeFromShape(t.shape));
}

interface ConvAttrs {
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat?: 'NHWC' | 'NCHW';
  dilations?: number | [number, number];
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

/** Our geometry array, or null when the attributes need the fallback. */
function geometry(xShape: number[], filterShape: number[], attrs: ConvAttrs): Int32Array | null {
  if (attrs.dataFormat === 'NCHW') return null;
  const dil = attrs.dilations ?? 1;
  if (!(dil === 1 || (Array.isArray(dil) && dil[0] === 1 && dil[1] === 1))) return null;
  const info = tf.backend_util.computeConv2DInfo(xShape as [number, number, number, number], filterShape as [number, number, number, number],
    attrs.strides, 1, attrs.pad as 'same', attrs.dimRoundingMode, false, 'channelsLast');
  return Int32Array.from([info.batchSize, info.inHeight, info.inWidth, info.inChannels, info.outHeight, info.outWidth, info.outChannels,
    info.filterHeight, info.filterWidth, info.strideHeight, info.strideWidth, info.padInfo.top, info.padInfo.left]);
}

const allFloat = (...ts: Info[]) => ts.every((t) => t.dtype === 'float32');

type ConvFn = (a: Float32Array, b: Float32Array, out: Float32Array, geometry: Int32Array, threads: number) => void;

/**
 * One convolution kernel: inputs `names` (the tensor whose shape is the conv input, if any, comes from
 * `inputShape`), geometry from the input and filter shapes, an output of `outputShape`, then the native call.
 */
function convKernel(threads: number, fallback: KernelFunc, names: [string, string], run: ConvFn,
  shapes: (first: Info, second: Info, attrs: Record<string, unknown>) => { input: number[]; filter: number[] },
  outputShape: (g: Int32Array, attrs: Record<string, unknown>) => number[]): KernelFunc {
  return (args) => {
    const inputs = args.inputs as unknown as Record<string, Info>;
    const first = inputs[names[0]]!, second = inputs[names[1]]!;
    const attrs = args.attrs as Record<string, unknown>;
    const { input, filter } = shapes(first, second, attrs);
    const g = enabled && allFloat(first, second) ? geometry(input, filter, attrs as unknown as ConvAttrs) : null;
    if (!g) return fallback(args);
    const backend = args.backend as BackendWasm;
    const out = backend.makeOutput(outputShape(g, attrs), 'float32');
    run(view(backend, first), view(backend, second), view(backend, out), g, threads);
    return out;
  };
}

/** Conv2D: out = conv(x, filter), shape [batch, outH, outW, outC]. */
const conv2d = (native: NativeAddon, threads: number, fallback: KernelFunc) => convKernel(threads, fallback, ['x', 'filter'],
  native.conv2d.bind(native), (x, f) => ({ input: x.shape, filter: f.shape }), (g) => [g[0]!, g[4]!, g[5]!, g[6]!]);

/** Conv2DBackpropInput: dx (attrs.inputShape) from dy and the filter. */
const conv2dBackpropInput = (native: NativeAddon, threads: number, fallback: KernelFunc) => convKernel(threads, fallback, ['dy', 'filter'],
  native.conv2dBackpropInput.bind(native), (_dy, f, a) => ({ input: a.inputShape as number[], filter: f.shape }), (_g, a) => [...a.inputShape as number[]]);

/** Conv2DBackpropFilter: dW (attrs.filterShape) from x and dy. */
const conv2dBackpropFilter = (native: NativeAddon, threads: number, fallback: KernelFunc) => convKernel(threads, fallback, ['x', 'dy'],
  native.conv2dBackpropFilter.bind(native), (x, _dy, a) => ({ input: x.shape, filter: a.filterShape as number[] }), (_g, a) => [...a.filterShape as number[]]);

function batchMatMul(native: NativeAddon, threads: number, fallback: KernelFunc): KernelFunc {
  return (args) => {
    const { a, b } = args.inputs as unknown as { a: Info; b: Info };
    const { transposeA, transposeB } = args.attrs as { transposeA: boolean; transposeB: boolean };
    const ra = a.shape.length, rb = b.shape.length;
    if (!enabled || !allFloat(a, b) || ra < 2 || rb < 2) return fallback(args);
    const batchA = tf.util.sizeFromShape(a.shape.slice(0, -2)), batchB = tf.util.sizeFromShape(b.shape.slice(0, -2));
    if (batchB !== batchA && batchB !== 1) return fallback(args);
    const m = transposeA ? a.shape[ra - 1]! : a.shape[ra - 2]!, k = transposeA ? a.shape[ra - 2]! : a.shape[ra - 1]!;
    const n = transposeB ? b.shape[rb - 2]! : b.shape[rb - 1]!;
    const backend = args.backend as BackendWasm;
    const outShape = ra >= rb ? [...a.shape.slice(0, -2), m, n] : [...b.shape.slice(0, -2), m, n];
    if (ra < rb) return fallback(args);
    const c = backend.makeOutput(outShape, 'float32');
    native.matmul(view(backend, a), view(backend, b), view(backend, c), batchA, m, n, k, transposeA, transposeB, batchB === 1 && batchA > 1, threads);
    return c;
  };
}

/**
 * Sum or Mean over leading axes (e.g. N, H, W of an NHWC tensor: batch norm's statistics and the bias
 * gradients), which the wasm backend runs slowly (it transposes first); other axes fall back.
 */
function reduceLeading(native: NativeAddon, threads: number, fallback: KernelFunc, mean: boolean): KernelFunc {
  return (args) => {
    const { x } = args.inputs as unknown as { x: Info };
    const { axis, keepDims } = args.attrs as { axis: number | number[]; keepDims: boolean };
    const axes = tf.util.parseAxisParam(axis, x.shape).sort((p, q) => p - q);
    if (!enabled || x.dtype !== 'float32' || axes.length === 0 || !axes.every((a, i) => a === i) || x.shape.length === 0) return fallback(args);
    const rows = tf.util.sizeFromShape(x.shape.slice(0, axes.length)), cols = tf.util.sizeFromShape(x.shape.slice(axes.length));
    if (rows === 0) return fallback(args);
    const backend = args.backend as BackendWasm;
    const outShape = keepDims ? x.shape.map((d, i) => (i < axes.length ? 1 : d)) : x.shape.slice(axes.length);
    const out = backend.makeOutput(outShape, 'float32');
    native.sumRows(view(backend, x), rows, cols, view(backend, out), mean ? 1 / rows : 1, threads);
    return out;
  };
}

/** Kernel names this module replaces when the addon is present. */
export const NATIVE_TRAINING_KERNELS = ['Conv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter', 'BatchMatMul', 'Sum', 'Mean'] as const;

// ---- The fused dense layer: kernels of our own, with a gradient registered for tfjs's autodiff. ----

/** act(x w + b) (* mask) as one kernel; attrs { activation, mask: Float32Array | null }. */
export const FUSED_DENSE = 'AeFusedDense';
/** Its parameter gradients as one kernel: outputs [dz, dw, db] from inputs { dy, x, y }. */
export const FUSED_DENSE_PARAMS = 'AeFusedDenseBackpropParams';

export type DenseActivation = 'linear' | 'relu' | 'sigmoid';
const ACTIVATION_CODE: Record<DenseActivation, number> = { linear: 0, relu: 1, sigmoid: 2 };

export interface FusedDenseAttrs {
  activation: DenseActivation;
  /** Inverted-dropout mask (0 or 1/(1 - rate)) multiplied after the activation; only with linear or relu. */
  mask: Float32Array | null;
}

function fusedDense(native: NativeAddon, threads: number): KernelFunc {
  return (args) => {
    const { x, w, b } = args.inputs as unknown as { x: Info; w: Info; b: Info };
    const { activation, mask } = args.attrs as unknown as FusedDenseAttrs;
    const [batch, inF] = x.shape as [number, number], outF = w.shape[1]!;
    const backend = args.backend as BackendWasm;
    const y = backend.makeOutput([batch, outF], 'float32');
    native.denseForward(view(backend, x), view(backend, w), view(backend, b), mask, view(backend, y), batch, inF, outF, ACTIVATION_CODE[activation], threads);
    return y;
  };
}

function fusedDenseParams(native: NativeAddon, threads: number): KernelFunc {
  return (args) => {
    const { dy, x, y } = args.inputs as unknown as { dy: Info; x: Info; y: Info };
    const { activation, mask } = args.attrs as unknown as FusedDenseAttrs;
    const [batch, inF] = x.shape as [number, number], outF = y.shape[1]!;
    const backend = args.backend as BackendWasm;
    const dz = backend.makeOutput([batch, outF], 'float32'), dw = backend.makeOutput([inF, outF], 'float32'), db = backend.makeOutput([outF], 'float32');
    native.denseBackpropParams(view(backend, dy), view(backend, x), view(backend, y), mask, view(backend, dz), view(backend, dw), view(backend, db),
      batch, inF, outF, ACTIVATION_CODE[activation], threads);
    return [dz, dw, db];
  };
}

/**
 * The fused dense layer's gradient. The parameter gradients come from one kernel (which also yields dz, the
 * gradient before the activation); the input's, dz w^T, is a matrix product that tfjs runs only when x needs a
 * gradient (not for the first layer, whose input is the data).
 */
const fusedDenseGradient: tf.GradConfig = {
  kernelName: FUSED_DENSE,
  inputsToSave: ['x', 'w'],
  outputsToSave: [true],
  gradFunc: (dy, saved, attrs) => {
    const [x, w, y] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
    const [dz, dw, db] = tf.engine().runKernel(FUSED_DENSE_PARAMS, { dy: dy as tf.Tensor, x, y }, attrs) as tf.Tensor[];
    return { x: () => tf.matMul(dz as tf.Tensor2D, w, false, true), w: () => dw!, b: () => db! };
  },
};

/**
 * Whether one of our fused kernels (FUSED_DENSE, FUSED_MSE, FUSED_BATCHNORM_RELU) can run now: wasm backend,
 * addon built, native kernels on. Callers use the same arithmetic in tfjs ops otherwise.
 */
export function fusedKernelAvailable(kernelName: string): boolean {
  return enabled && tf.getBackend() === 'wasm' && tf.getKernel(kernelName, 'wasm') !== undefined;
}

/** y = act(x w + b) (* mask) through the fused kernel; callers check fusedKernelAvailable(FUSED_DENSE) first. */
export function runFusedDense(x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D, attrs: FusedDenseAttrs): tf.Tensor2D {
  return tf.engine().runKernel(FUSED_DENSE, { x, w, b }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor2D;
}

// ---- The reconstruction loss: mean squared error as one kernel forward and one backward. ----

export const FUSED_MSE = 'AeMeanSquaredError';
const FUSED_MSE_GRAD = 'AeMeanSquaredErrorGrad';

function fusedMse(native: NativeAddon): KernelFunc {
  return (args) => {
    const { pred, target } = args.inputs as unknown as { pred: Info; target: Info };
    const backend = args.backend as BackendWasm;
    const value = native.mse(view(backend, pred), view(backend, target));
    const out = backend.makeOutput([], 'float32');
    view(backend, out)[0] = value;
    return out;
  };
}

function fusedMseGrad(native: NativeAddon): KernelFunc {
  return (args) => {
    const { dy, pred, target } = args.inputs as unknown as { dy: Info; pred: Info; target: Info };
    const backend = args.backend as BackendWasm;
    const out = backend.makeOutput(pred.shape, 'float32');
    const dLoss = view(backend, dy)[0]!;
    native.mseGrad(view(backend, pred), view(backend, target), dLoss, view(backend, out));
    return out;
  };
}

const fusedMseGradient: tf.GradConfig = {
  kernelName: FUSED_MSE,
  inputsToSave: ['pred', 'target'],
  gradFunc: (dy, saved) => {
    const [pred, target] = saved as [tf.Tensor, tf.Tensor];
    const run = () => tf.engine().runKernel(FUSED_MSE_GRAD, { dy: dy as tf.Tensor, pred, target }) as tf.Tensor;
    return { pred: run, target: () => tf.neg(run()) };
  },
};

/** mean((pred - target)^2) through the fused kernel; callers check fusedKernelAvailable(FUSED_MSE) and equal shapes first. */
export function runFusedMse(pred: tf.Tensor, target: tf.Tensor): tf.Scalar {
  return tf.engine().runKernel(FUSED_MSE, { pred, target }) as tf.Scalar;
}

// ---- Batch norm (training mode) + ReLU, the CAE's block tail, as one kernel each way. ----

/** Inputs { x (NHWC), gamma, beta }, attrs { epsilon }; outputs [y, mean, variance] (per channel, biased). */
export const FUSED_BATCHNORM_RELU = 'AeFusedBatchNormRelu';
const FUSED_BATCHNORM_RELU_GRAD = 'AeFusedBatchNormReluGrad';

const rowsAndChannels = (x: Info): [number, number] => {
  const channels = x.shape[x.shape.length - 1]!;
  return [tf.util.sizeFromShape(x.shape) / channels, channels];
};

function fusedBatchNormRelu(native: NativeAddon, threads: number): KernelFunc {
  return (args) => {
    const { x, gamma, beta } = args.inputs as unknown as { x: Info; gamma: Info; beta: Info };
    const { epsilon } = args.attrs as unknown as { epsilon: number };
    const [rows, channels] = rowsAndChannels(x);
    const backend = args.backend as BackendWasm;
    const y = backend.makeOutput(x.shape, 'float32'), mean = backend.makeOutput([channels], 'float32'), variance = backend.makeOutput([channels], 'float32');
    native.batchNormRelu(view(backend, x), view(backend, gamma), view(backend, beta), epsilon, view(backend, y), view(backend, mean), view(backend, variance),
      rows, channels, threads);
    return [y, mean, variance];
  };
}

function fusedBatchNormReluGrad(native: NativeAddon, threads: number): KernelFunc {
  return (args) => {
    const { dy, x, y, gamma, mean, variance } = args.inputs as unknown as Record<'dy' | 'x' | 'y' | 'gamma' | 'mean' | 'variance', Info>;
    const { epsilon } = args.attrs as unknown as { epsilon: number };
    const [rows, channels] = rowsAndChannels(x);
    const backend = args.backend as BackendWasm;
    const dx = backend.makeOutput(x.shape, 'float32'), dgamma = backend.makeOutput([channels], 'float32'), dbeta = backend.makeOutput([channels], 'float32');
    native.batchNormReluGrad(view(backend, dy), view(backend, x), view(backend, y), view(backend, gamma), view(backend, mean), view(backend, variance), epsilon,
      view(backend, dx), view(backend, dgamma), view(backend, dbeta), rows, channels, threads);
    return [dx, dgamma, dbeta];
  };
}

/**
 * Its gradient. Only y's gradient matters: the batch mean and variance outputs feed the running statistics,
 * which are assigned (not taped), so their gradients are zeros and ignored.
 */
const fusedBatchNormReluGradient: tf.GradConfig = {
  kernelName: FUSED_BATCHNORM_RELU,
  inputsToSave: ['x', 'gamma'],
  outputsToSave: [true, true, true],
  gradFunc: (dys, saved, attrs) => {
    const [x, gamma, y, mean, variance] = saved as tf.Tensor[];
    const dy = (Array.isArray(dys) ? dys[0] : dys) as tf.Tensor;
    const [dx, dgamma, dbeta] = tf.engine().runKernel(FUSED_BATCHNORM_RELU_GRAD, { dy, x: x!, y: y!, gamma: gamma!, mean: mean!, variance: variance! }, attrs) as tf.Tensor[];
    return { x: () => dx!, gamma: () => dgamma!, beta: () => dbeta! };
  },
};

/** relu(batchNorm(x)) with batch statistics, and those statistics: [y, mean, biased variance]. */
export function runFusedBatchNormRelu(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, epsilon: number): [tf.Tensor, tf.Tensor1D, tf.Tensor1D] {
  return tf.engine().runKernel(FUSED_BATCHNORM_RELU, { x, gamma, beta }, { epsilon }) as [tf.Tensor, tf.Tensor1D, tf.Tensor1D];
}

// ---- Adam in one native pass per variable, in place. ----

export interface AdamSlot { value: tf.Tensor; gradient: tf.Tensor; m: tf.Tensor; v: tf.Tensor }
export interface AdamHyper { lr: number; beta1: number; beta2: number; epsilon: number; c1: number; c2: number }

let adamNative: { native: NativeAddon; threads: number } | null = null;

/**
 * Updates every slot's value and moments in place with one native call each, or returns false having changed
 * nothing when it cannot: another backend, native kernels off, a non-float tensor, or a buffer that some other
 * tensor shares (writing it in place would change that tensor too).
 */
export function nativeAdamUpdate(slots: AdamSlot[], hyper: AdamHyper): boolean {
  if (!adamNative || !enabled || tf.getBackend() !== 'wasm') return false;
  const backend = tf.backend() as BackendWasm;
  for (const s of slots) {
    if (!allFloat(s.value, s.gradient, s.m, s.v) || s.gradient.size !== s.value.size) return false;
    if ([s.value, s.m, s.v].some((t) => backend.refCount(t.dataId) !== 1)) return false;
  }
  const { native, threads } = adamNative;
  for (const s of slots) {
    native.adam(view(backend, s.value), view(backend, s.gradient), view(backend, s.m), view(backend, s.v),
      hyper.lr, hyper.beta1, hyper.beta2, hyper.epsilon, hyper.c1, hyper.c2, threads);
  }
  return true;
}

/** Writes a float32 scalar variable in place when its buffer is its own (else assigns a new scalar). */
export function setScalarVariable(variable: tf.Variable, value: number): void {
  const backend = tf.backend() as BackendWasm;
  if (tf.getBackend() === 'wasm' && variable.dtype === 'float32' && backend.refCount(variable.dataId) === 1) {
    view(backend, variable)[0] = value;
    return;
  }
  tf.tidy(() => variable.assign(tf.scalar(value)));
}

/** Adds the kernels that tfjs has no counterpart for (dense layer, loss, batch norm + ReLU, their gradients); enables Adam. */
export function registerFusedKernels(native: NativeAddon, threads = os.availableParallelism()): void {
  tf.registerKernel({ kernelName: FUSED_DENSE, backendName: 'wasm', kernelFunc: fusedDense(native, threads) });
  tf.registerKernel({ kernelName: FUSED_DENSE_PARAMS, backendName: 'wasm', kernelFunc: fusedDenseParams(native, threads) });
  tf.registerGradient(fusedDenseGradient);
  tf.registerKernel({ kernelName: FUSED_MSE, backendName: 'wasm', kernelFunc: fusedMse(native) });
  tf.registerKernel({ kernelName: FUSED_MSE_GRAD, backendName: 'wasm', kernelFunc: fusedMseGrad(native) });
  tf.registerGradient(fusedMseGradient);
  tf.registerKernel({ kernelName: FUSED_BATCHNORM_RELU, backendName: 'wasm', kernelFunc: fusedBatchNormRelu(native, threads) });
  tf.registerKernel({ kernelName: FUSED_BATCHNORM_RELU_GRAD, backendName: 'wasm', kernelFunc: fusedBatchNormReluGrad(native, threads) });
  tf.registerGradient(fusedBatchNormReluGradient);
  adamNative = { native, threads };
}

/** Replaces the wasm kernels above with native ones; `current(name)` is the kernel to fall back to. */
export function registerNativeKernels(native: NativeAddon, register: (name: string, make: (fallback: KernelFunc) => KernelFunc) => void,
  threads = os.availableParallelism()): void {
  register('Conv2D', (f) => conv2d(native, threads, f));
  register('Conv2DBackpropInput', (f) => conv2dBackpropInput(native, threads, f));
  register('Conv2DBackpropFilter', (f) => conv2dBackpropFilter(native, threads, f));
  register('BatchMatMul', (f) => batchMatMul(native, threads, f));
  register('Sum', (f) => reduceLeading(native, threads, f, false));
  register('Mean', (f) => reduceLeading(native, threads, f, true));
}
