/**
 * Kernels of our own for TensorFlow.js's WebAssembly backend.
 *
 * tfjs-backend-wasm 4.22 lacks Conv2DBackpropFilter (a CAE cannot train without it), sends transposed matrix
 * products to a naive loop (and returns wrong values for `_FusedMatMul` with `transposeB` plus a bias), and runs
 * Conv2DBackpropInput as a plain loop. Each patch below re-expresses the kernel with fast kernels the backend
 * already has (non-transposed matMul through XNNPACK, conv2d, depthToSpace); tests compare every one against
 * the pure-JS `cpu` backend.
 *
 * A kernel function may call tfjs ops: the engine does not record nested kernels on the gradient tape, and a
 * returned Tensor is handed to the caller as it is.
 */
import * as tf from '@tensorflow/tfjs';
import { loadNativeAddon } from '../native.js';
import { registerFusedKernels, registerNativeKernels } from './native-kernels.js';

type KernelFunc = tf.KernelConfig['kernelFunc'];
type Inputs = Record<string, tf.Tensor | undefined>;
type Attrs = Record<string, unknown>;

const BACKEND = 'wasm';

/** Replaces (or adds) the wasm kernel `name`; `original` is the backend's own kernel, if it had one. */
function patchKernel(name: string, make: (original: KernelFunc | undefined) => KernelFunc): void {
  const existing = tf.getKernel(name, BACKEND);
  const original = existing?.kernelFunc;
  if (existing) tf.unregisterKernel(name, BACKEND);
  // Keep the backend's setupFunc: it binds the wasm exports the original kernel calls.
  tf.registerKernel({ kernelName: name, backendName: BACKEND, kernelFunc: make(original), setupFunc: existing?.setupFunc });
}

/** Swaps the last two axes of a rank >= 2 tensor. */
function swapLastAxes(t: tf.Tensor): tf.Tensor {
  const perm = [...Array(t.rank).keys()];
  [perm[t.rank - 2], perm[t.rank - 1]] = [perm[t.rank - 1]!, perm[t.rank - 2]!];
  return tf.transpose(t, perm);
}

/** BatchMatMul: transpose explicitly so XNNPACK's fast GEMM runs instead of the naive transposed loop. */
function batchMatMul(original: KernelFunc | undefined): KernelFunc {
  if (!original) throw new Error('wasm backend has no BatchMatMul kernel to patch');
  return (args) => {
    const { a, b } = args.inputs as Inputs as { a: tf.Tensor; b: tf.Tensor };
    const { transposeA, transposeB } = args.attrs as { transposeA: boolean; transposeB: boolean };
    if (!transposeA && !transposeB) return original(args);
    return tf.tidy(() => {
      const a2 = transposeA ? swapLastAxes(a) : a;
      const b2 = transposeB ? swapLastAxes(b) : b;
      return original({ ...args, inputs: { a: a2, b: b2 }, attrs: { ...args.attrs, transposeA: false, transposeB: false } }) as tf.Tensor;
    });
  };
}

/** _FusedMatMul: same explicit transposes; this also avoids the wrong results of transposeB + bias. */
function fusedMatMul(original: KernelFunc | undefined): KernelFunc {
  if (!original) throw new Error('wasm backend has no _FusedMatMul kernel to patch');
  return (args) => {
    const inputs = args.inputs as Inputs;
    const { transposeA, transposeB } = args.attrs as { transposeA: boolean; transposeB: boolean };
    if (!transposeA && !transposeB) return original(args);
    return tf.tidy(() => {
      const a = transposeA ? swapLastAxes(inputs.a!) : inputs.a!;
      const b = transposeB ? swapLastAxes(inputs.b!) : inputs.b!;
      return original({ ...args, inputs: { ...inputs, a, b }, attrs: { ...args.attrs, transposeA: false, transposeB: false } }) as tf.Tensor;
    });
  };
}

interface ConvAttrs {
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

function convInfo(xShape: number[], filterShape: number[], attrs: ConvAttrs): tf.backend_util.Conv2DInfo {
  if (attrs.dataFormat !== 'NHWC' && attrs.dataFormat !== undefined) {
    throw new Error(`wasm conv gradient patch supports NHWC only, got ${attrs.dataFormat}`);
  }
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides, 1, attrs.pad as 'same', attrs.dimRoundingMode, false, 'channelsLast');
}

/**
 * Conv2DBackpropFilter, which wasm lacks: dW[kh,kw,ci,co] = sum over (b,oh,ow) of
 * x_padded[b, oh*s+kh, ow*s+kw, ci] * dy[b,oh,ow,co]. One strided slice and one GEMM per kernel tap, with dy
 * transposed once, so every product is a plain (non-transposed) matMul.
 */
function conv2dBackpropFilter(): KernelFunc {
  return (args) => {
    const { x, dy } = args.inputs as Inputs as { x: tf.Tensor4D; dy: tf.Tensor4D };
    const attrs = args.attrs as unknown as ConvAttrs & { filterShape: [number, number, number, number] };
    const info = convInfo(x.shape, attrs.filterShape, attrs);
    const { padInfo, strideHeight: sh, strideWidth: sw, outHeight: oh, outWidth: ow } = info;
    const [kh, kw, ci, co] = attrs.filterShape;
    const batch = x.shape[0];
    return tf.tidy(() => {
      const xp = tf.pad(x, [[0, 0], [padInfo.top, Math.max(0, padInfo.bottom)], [padInfo.left, Math.max(0, padInfo.right)], [0, 0]]);
      const rows = batch * oh * ow;
      const dyT = tf.transpose(tf.reshape(dy, [rows, co])); // [co, rows]
      const taps: tf.Tensor[] = [];
      for (let i = 0; i < kh; i++) {
        for (let j = 0; j < kw; j++) {
          const slice = tf.stridedSlice(xp, [0, i, j, 0], [batch, i + (oh - 1) * sh + 1, j + (ow - 1) * sw + 1, ci], [1, sh, sw, 1]);
          taps.push(tf.matMul(dyT, tf.reshape(slice, [rows, ci]))); // [co, ci]
        }
      }
      // [kh*kw, co, ci] -> [kh, kw, ci, co]
      return tf.transpose(tf.reshape(tf.stack(taps), [kh, kw, co, ci]), [0, 1, 3, 2]);
    });
  };
}

/**
 * Conv2DBackpropInput (the input gradient of conv2d, and conv2dTranspose's forward pass). Two fast forms:
 * - stride 1: a conv2d of dy with the spatially flipped, channel-swapped filter, padded by (k - 1 - pad);
 * - kernel == stride with no padding (the CAE's 2x2/s2 up-sampling): one matMul, then depthToSpace.
 * Anything else goes to the backend's own (slow but correct) kernel.
 */
function conv2dBackpropInput(original: KernelFunc | undefined): KernelFunc {
  if (!original) throw new Error('wasm backend has no Conv2DBackpropInput kernel to patch');
  return (args) => {
    const { dy, filter } = args.inputs as Inputs as { dy: tf.Tensor4D; filter: tf.Tensor4D };
    const attrs = args.attrs as unknown as ConvAttrs & { inputShape: [number, number, number, number] };
    const info = convInfo(attrs.inputShape, filter.shape, attrs);
    const [kh, kw, ci, co] = filter.shape;
    const { padInfo, strideHeight: sh, strideWidth: sw } = info;
    const [batch, inH, inW] = attrs.inputShape;
    const outH = info.outHeight, outW = info.outWidth;
    if (sh === 1 && sw === 1) {
      return tf.tidy(() => {
        const flipped = tf.transpose(tf.reverse(filter, [0, 1]), [0, 1, 3, 2]); // [kh, kw, co, ci]
        const top = kh - 1 - padInfo.top, left = kw - 1 - padInfo.left;
        const bottom = inH + kh - 1 - outH - top, right = inW + kw - 1 - outW - left;
        if (top < 0 || left < 0 || bottom < 0 || right < 0) {
          return original(args) as tf.Tensor;
        }
        return tf.conv2d(dy, flipped as tf.Tensor4D, 1, [[0, 0], [top, bottom], [left, right], [0, 0]]);
      });
    }
    const noPadding = padInfo.top === 0 && padInfo.bottom === 0 && padInfo.left === 0 && padInfo.right === 0;
    if (kh === sh && kw === sw && kh === kw && noPadding && outH * sh === inH && outW * sw === inW) {
      return tf.tidy(() => {
        // out[b, i*k+p, j*k+q, c] = sum_o dy[b,i,j,o] * W[p,q,c,o]
        const w = tf.reshape(tf.transpose(filter, [3, 0, 1, 2]), [co, kh * kw * ci]);
        const cols = tf.matMul(tf.reshape(dy, [batch * outH * outW, co]), w);
        return tf.depthToSpace(tf.reshape(cols, [batch, outH, outW, kh * kw * ci]) as tf.Tensor4D, kh, 'NHWC');
      });
    }
    return original(args);
  };
}

/**
 * Identity: share the input's buffer (a reference count) instead of copying it, as the cpu backend does. tfjs
 * clones every tensor it saves for the backward pass, so the wasm backend copied every layer's input, weights
 * and output on each training step. Tensors are immutable, so sharing is safe; the one writer in place, our Adam
 * step, checks that a buffer has no other owner first.
 */
function identity(original: KernelFunc | undefined): KernelFunc {
  if (!original) throw new Error('wasm backend has no Identity kernel to patch');
  return (args) => {
    const { x } = args.inputs as unknown as { x: tf.TensorInfo };
    if (x.dtype === 'string') return original(args);
    (args.backend as unknown as { incRef(dataId: object): void }).incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  };
}

let patched = false;

/**
 * Registers our wasm kernels once per process, and on top of them the native addon's training kernels when it
 * was built (they fall back to the kernels below). Call after the wasm backend module is imported and before
 * the backend is first initialised, so the kept setupFuncs run.
 */
export function patchWasmBackend(): void {
  if (patched) return;
  patchKernel('BatchMatMul', batchMatMul);
  patchKernel('_FusedMatMul', fusedMatMul);
  patchKernel('Conv2DBackpropFilter', conv2dBackpropFilter);
  patchKernel('Conv2DBackpropInput', conv2dBackpropInput);
  patchKernel('Identity', identity);
  const native = loadNativeAddon();
  if (native) {
    registerNativeKernels(native, (name, make) => patchKernel(name, (current) => {
      if (!current) throw new Error(`wasm backend has no ${name} kernel to fall back to`);
      return make(current);
    }));
    registerFusedKernels(native);
  }
  patched = true;
}

/** Kernel names this module replaces or adds, for tests and diagnostics. */
export const PATCHED_KERNELS = ['BatchMatMul', '_FusedMatMul', 'Conv2DBackpropFilter', 'Conv2DBackpropInput', 'Identity'] as const;
