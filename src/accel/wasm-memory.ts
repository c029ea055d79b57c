/**
 * Tensors of TensorFlow.js's wasm backend live in WebAssembly memory; native kernels read and write them in
 * place through Float32Array views of that memory: no copies, and TensorFlow.js stays the framework (autodiff,
 * optimizers, every other op).
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

export type Info = tf.TensorInfo;
export type KernelFunc = tf.KernelConfig['kernelFunc'];
export type KernelArgs = Parameters<KernelFunc>[0];

/** A Float32Array over a tensor's bytes in wasm memory (re-read after any allocation: memory may have grown). */
export function view(backend: BackendWasm, t: Info): Float32Array {
  const { memoryOffset } = backend.dataIdMap.get(t.dataId)!;
  return new Float32Array(backend.wasm.HEAPU8.buffer, memoryOffset, tf.util.sizeFromShape(t.shape));
}

export const allFloat = (...ts: Info[]): boolean => ts.every((t) => t.dtype === 'float32');

/** The wasm backend, when it is the active one. */
export function activeWasmBackend(): BackendWasm | null {
  return tf.getBackend() === 'wasm' ? (tf.backend() as BackendWasm) : null;
}
