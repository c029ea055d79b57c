/**
 * Adam's update of each variable in one native pass, in place (tfjs's own runs about a dozen element-wise
 * kernels per variable). Only on wasm with the addon, and only where writing in place is safe.
 */
import * as tf from '@tensorflow/tfjs';
import type { AdamHyper } from './addon.js';
import { accelThreads, nativeAddon } from './context.js';
import { activeWasmBackend, allFloat, view } from './wasm-memory.js';

export type { AdamHyper };

export interface AdamSlot {
  value: tf.Tensor;
  gradient: tf.Tensor;
  m: tf.Tensor;
  v: tf.Tensor;
}

/**
 * Updates every slot's value and moments in place with one native call each, or returns false having changed
 * nothing when it cannot: another backend, no addon (or native off), a non-float tensor, or a buffer that
 * some other tensor shares (writing it in place would change that tensor too).
 */
export function adamUpdateInPlace(slots: AdamSlot[], hyper: AdamHyper): boolean {
  const native = nativeAddon(),
    backend = activeWasmBackend();
  if (!native || !backend) return false;
  for (const s of slots) {
    if (!allFloat(s.value, s.gradient, s.m, s.v) || s.gradient.size !== s.value.size) return false;
    if ([s.value, s.m, s.v].some((t) => backend.refCount(t.dataId) !== 1)) return false;
  }
  const threads = accelThreads();
  for (const s of slots) {
    native.adam({
      p: view(backend, s.value),
      g: view(backend, s.gradient),
      m: view(backend, s.m),
      v: view(backend, s.v),
      ...hyper,
      threads,
    });
  }
  return true;
}

/** Writes a float32 scalar variable in place when its buffer is its own (else assigns a new scalar). */
export function setScalarVariable(variable: tf.Variable, value: number): void {
  const backend = activeWasmBackend();
  if (backend && variable.dtype === 'float32' && backend.refCount(variable.dataId) === 1) {
    view(backend, variable)[0] = value;
    return;
  }
  tf.tidy(() => variable.assign(tf.scalar(value)));
}
