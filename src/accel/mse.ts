/**
 * The reconstruction loss, mean((pred - target)^2) as PyTorch's nn.MSELoss() computes it: one native kernel
 * forward and one backward on wasm with the addon, else tfjs ops.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { NativeAddon } from './addon.js';
import { fusedKernelAvailable } from './fused.js';
import { view, type Info, type KernelArgs } from './wasm-memory.js';

export const FUSED_MSE = 'AeMeanSquaredError';
export const FUSED_MSE_GRAD = 'AeMeanSquaredErrorGrad';

export function nativeMse(native: NativeAddon) {
  return (args: KernelArgs): Info => {
    const { pred, target } = args.inputs as unknown as { pred: Info; target: Info };
    const backend = args.backend as BackendWasm;
    const value = native.mse({ pred: view(backend, pred), target: view(backend, target) });
    const out = backend.makeOutput([], 'float32');
    view(backend, out)[0] = value;
    return out;
  };
}

export function nativeMseGrad(native: NativeAddon) {
  return (args: KernelArgs): Info => {
    const { dy, pred, target } = args.inputs as unknown as { dy: Info; pred: Info; target: Info };
    const backend = args.backend as BackendWasm;
    const out = backend.makeOutput(pred.shape, 'float32');
    const dLoss = view(backend, dy)[0]!;
    native.mseGrad({ pred: view(backend, pred), target: view(backend, target), dLoss, out: view(backend, out) });
    return out;
  };
}

export const mseGradient: tf.GradConfig = {
  kernelName: FUSED_MSE,
  inputsToSave: ['pred', 'target'],
  gradFunc: (dy, saved) => {
    const [pred, target] = saved as [tf.Tensor, tf.Tensor];
    const run = () => tf.engine().runKernel(FUSED_MSE_GRAD, { dy: dy as tf.Tensor, pred, target }) as tf.Tensor;
    return { pred: run, target: () => tf.neg(run()) };
  },
};

/** mean((pred - target)^2) over every element. */
export function meanSquaredError(pred: tf.Tensor, target: tf.Tensor): tf.Scalar {
  if (
    fusedKernelAvailable(FUSED_MSE) &&
    tf.util.arraysEqual(pred.shape, target.shape) &&
    pred.dtype === 'float32' &&
    target.dtype === 'float32' &&
    pred.size > 0
  ) {
    return tf.engine().runKernel(FUSED_MSE, { pred, target }) as tf.Scalar;
  }
  return tf.mean(tf.squaredDifference(pred, target)) as tf.Scalar;
}
