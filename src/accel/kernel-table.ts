/**
 * Every kernel we register with TensorFlow.js's wasm backend, in one table: the kernel's name, our wasm
 * replacement (built on the backend's own fast kernels, where its kernel is missing, wrong or slow), the native
 * implementation (which may return null to fall back for inputs it does not handle), and the gradient of the
 * kernels that tfjs has no counterpart for. Registration happens once, before the backend first initialises.
 * At call time a native implementation runs only where the context allows (src/accel/context.ts); otherwise
 * the wasm replacement or the backend's own kernel does the work.
 *
 * A kernel function may call tfjs ops: the engine does not record nested kernels on the gradient tape, and a
 * returned Tensor is handed to the caller as it is.
 */
import * as tf from '@tensorflow/tfjs';
import { loadAddon, type NativeAddon } from './addon.js';
import {
  batchNormReluGradient,
  FUSED_BATCHNORM_RELU,
  FUSED_BATCHNORM_RELU_GRAD,
  nativeBatchNormRelu,
  nativeBatchNormReluGrad,
} from './batchnorm.js';
import { bceGradient, FUSED_BCE, FUSED_BCE_GRAD, nativeBce, nativeBceGrad } from './bce.js';
import { accelSettings } from './context.js';
import {
  nativeConv2d,
  nativeConv2dBackpropFilter,
  nativeConv2dBackpropInput,
  wasmConv2dBackpropFilter,
  wasmConv2dBackpropInput,
} from './conv.js';
import { denseGradient, FUSED_DENSE, FUSED_DENSE_PARAMS, nativeDense, nativeDenseParams } from './dense.js';
import { nativeBatchMatMul, transposingMatMul } from './matmul.js';
import { FUSED_MSE, FUSED_MSE_GRAD, mseGradient, nativeMse, nativeMseGrad } from './mse.js';
import { nativeReduceLeading } from './reduce.js';
import type { Info, KernelArgs, KernelFunc } from './wasm-memory.js';

const BACKEND = 'wasm';

type NativeKernel = (args: KernelArgs) => Info | Info[] | null;

interface KernelEntry {
  kernel: string;
  /** Our wasm kernel, given the backend's own (undefined where the backend lacks the kernel). */
  wasm?: (original: KernelFunc | undefined) => KernelFunc;
  /** The native kernel; null from it means "not these inputs", and the wasm kernel runs instead. */
  native?: (addon: NativeAddon) => NativeKernel;
  /** For our own kernels (no tfjs counterpart): their gradient, registered with them. */
  gradient?: tf.GradConfig;
}

const needs = (name: string, original: KernelFunc | undefined): KernelFunc => {
  if (!original) throw new Error(`wasm backend has no ${name} kernel to patch`);
  return original;
};

/**
 * Identity: share the input's buffer (a reference count) instead of copying it, as the cpu backend does. tfjs
 * clones every tensor it saves for the backward pass, so the wasm backend copied every layer's input, weights
 * and output on each training step. Tensors are immutable, so sharing is safe; the one writer in place, the
 * Adam step (adam.ts), checks that a buffer has no other owner first.
 */
const sharingIdentity =
  (original: KernelFunc): KernelFunc =>
  (args) => {
    const { x } = args.inputs as unknown as { x: Info };
    if (x.dtype === 'string') return original(args);
    (args.backend as unknown as { incRef(dataId: object): void }).incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  };

export const KERNEL_TABLE: readonly KernelEntry[] = [
  { kernel: 'BatchMatMul', wasm: (o) => transposingMatMul(needs('BatchMatMul', o)), native: nativeBatchMatMul },
  { kernel: '_FusedMatMul', wasm: (o) => transposingMatMul(needs('_FusedMatMul', o)) },
  { kernel: 'Conv2D', native: nativeConv2d },
  { kernel: 'Conv2DBackpropFilter', wasm: () => wasmConv2dBackpropFilter(), native: nativeConv2dBackpropFilter },
  {
    kernel: 'Conv2DBackpropInput',
    wasm: (o) => wasmConv2dBackpropInput(needs('Conv2DBackpropInput', o)),
    native: nativeConv2dBackpropInput,
  },
  { kernel: 'Sum', native: (a) => nativeReduceLeading(a, false) },
  { kernel: 'Mean', native: (a) => nativeReduceLeading(a, true) },
  { kernel: 'Identity', wasm: (o) => sharingIdentity(needs('Identity', o)) },
  { kernel: FUSED_DENSE, native: nativeDense, gradient: denseGradient },
  { kernel: FUSED_DENSE_PARAMS, native: nativeDenseParams },
  { kernel: FUSED_MSE, native: nativeMse, gradient: mseGradient },
  { kernel: FUSED_MSE_GRAD, native: nativeMseGrad },
  { kernel: FUSED_BCE, native: nativeBce, gradient: bceGradient },
  { kernel: FUSED_BCE_GRAD, native: nativeBceGrad },
  { kernel: FUSED_BATCHNORM_RELU, native: nativeBatchNormRelu, gradient: batchNormReluGradient },
  { kernel: FUSED_BATCHNORM_RELU_GRAD, native: nativeBatchNormReluGrad },
];

/** The tfjs kernels we replace on wasm with a wasm kernel of our own (present with or without the addon). */
export const WASM_PATCHED_KERNELS = KERNEL_TABLE.filter((e) => e.wasm).map((e) => e.kernel);
/** The kernels with a native implementation (registered when the addon is built). */
export const NATIVE_KERNELS = KERNEL_TABLE.filter((e) => e.native).map((e) => e.kernel);

/** One table row as a kernel: native where built and allowed (and willing), else our wasm kernel or the backend's. */
function compose(entry: KernelEntry, original: KernelFunc | undefined, addon: NativeAddon | null): KernelFunc | null {
  const fallback = entry.wasm ? entry.wasm(original) : original;
  const native = addon && entry.native ? entry.native(addon) : null;
  if (!native) return fallback ?? null;
  if (!fallback) return native as KernelFunc; // our own kernel: callers check fusedKernelAvailable() first
  return (args) => (accelSettings().native ? native(args) : null) ?? fallback(args);
}

let registered = false;

/**
 * Registers the table once per process. Call after the wasm backend module is imported and before the backend
 * first initialises, so the kept setupFuncs (which bind the wasm exports the original kernels call) run.
 */
export function patchWasmBackend(): void {
  if (registered) return;
  const addon = loadAddon();
  for (const entry of KERNEL_TABLE) {
    const existing = tf.getKernel(entry.kernel, BACKEND);
    const kernelFunc = compose(entry, existing?.kernelFunc, addon);
    if (!kernelFunc) continue;
    if (existing) tf.unregisterKernel(entry.kernel, BACKEND);
    tf.registerKernel({ kernelName: entry.kernel, backendName: BACKEND, kernelFunc, setupFunc: existing?.setupFunc });
    if (entry.gradient) tf.registerGradient(entry.gradient);
  }
  registered = true;
}
