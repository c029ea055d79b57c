/** What the fused operations (dense, batch norm + ReLU, MSE) share: the check that their kernel can run here. */
import * as tf from '@tensorflow/tfjs';
import { nativeAddon } from './context.js';

/**
 * Whether a fused kernel of ours can run now: wasm backend active, addon built and allowed in this context, and
 * the kernel registered (src/accel/kernel-table.ts registers them with the addon). Otherwise each operation runs
 * the same arithmetic in tfjs ops.
 */
export function fusedKernelAvailable(kernelName: string): boolean {
  return nativeAddon() !== null && tf.getBackend() === 'wasm' && tf.getKernel(kernelName, 'wasm') !== undefined;
}
