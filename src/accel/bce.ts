/**
 * The binary cross-entropy of a Bernoulli decoder, scale x sum over elements of -(t ln p + (1 - t) ln(1 - p)), with
 * p clipped to [epsilon, 1 - epsilon] inside the logarithms (Keras' convention): one native kernel forward and one
 * backward on wasm with the addon, else the same arithmetic in tfjs ops. The VAEs take scale = 1 / images (the
 * per-image sum averaged over the batch), the autoencoders 1 / elements (the mean). TensorFlow.js runs it as about
 * ten kernels forward and twenty backward (the logarithms, the clip's masks, select), a fifth of the VAE's step.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { NativeAddon } from './addon.js';
import { fusedKernelAvailable } from './fused.js';
import { view, type Info, type KernelArgs } from './wasm-memory.js';

export const FUSED_BCE = 'AeBinaryCrossEntropy';
export const FUSED_BCE_GRAD = 'AeBinaryCrossEntropyGrad';

interface BceAttrs {
  epsilon: number;
  scale: number;
}

export function nativeBce(native: NativeAddon) {
  return (args: KernelArgs): Info => {
    const { pred, target } = args.inputs as unknown as { pred: Info; target: Info };
    const { epsilon, scale } = args.attrs as unknown as BceAttrs;
    const backend = args.backend as BackendWasm;
    const value = native.bce({ pred: view(backend, pred), target: view(backend, target), epsilon, scale });
    const out = backend.makeOutput([], 'float32');
    view(backend, out)[0] = value;
    return out;
  };
}

export function nativeBceGrad(native: NativeAddon) {
  return (args: KernelArgs): Info => {
    const { dy, pred, target } = args.inputs as unknown as { dy: Info; pred: Info; target: Info };
    const { epsilon, scale } = args.attrs as unknown as BceAttrs;
    const backend = args.backend as BackendWasm;
    const out = backend.makeOutput(pred.shape, 'float32');
    const dLoss = view(backend, dy)[0]!;
    native.bceGrad({ pred: view(backend, pred), target: view(backend, target), epsilon, scale: scale * dLoss, out: view(backend, out) });
    return out;
  };
}

function clipped(pred: tf.Tensor, epsilon: number): tf.Tensor {
  return tf.clipByValue(pred, epsilon, 1 - epsilon);
}

/** Per-element -(t ln p + (1 - t) ln(1 - p)) with p clipped, in tfjs ops. */
export function bceTerms(pred: tf.Tensor, target: tf.Tensor, epsilon: number): tf.Tensor {
  const p = clipped(pred, epsilon);
  return tf.neg(tf.add(tf.mul(target, tf.log(p)), tf.mul(tf.sub(1, target), tf.log(tf.sub(1, p)))));
}

export const bceGradient: tf.GradConfig = {
  kernelName: FUSED_BCE,
  inputsToSave: ['pred', 'target'],
  gradFunc: (dy, saved, attrs) => {
    const [pred, target] = saved as [tf.Tensor, tf.Tensor];
    const { epsilon, scale } = attrs as unknown as BceAttrs;
    return {
      pred: () => tf.engine().runKernel(FUSED_BCE_GRAD, { dy: dy as tf.Tensor, pred, target }, attrs as never) as tf.Tensor,
      // d/dt = ln(1 - p) - ln p (targets are clean images and never need it; kept for completeness).
      target: () => {
        const p = clipped(pred, epsilon);
        return tf.mul(tf.sub(tf.log(tf.sub(1, p)), tf.log(p)), tf.mul(dy as tf.Tensor, scale));
      },
    };
  },
};

/** scale x the sum over every element of the clipped binary cross-entropy of pred against target. */
export function binaryCrossEntropy(pred: tf.Tensor, target: tf.Tensor, epsilon: number, scale: number): tf.Scalar {
  if (
    fusedKernelAvailable(FUSED_BCE) &&
    tf.util.arraysEqual(pred.shape, target.shape) &&
    pred.dtype === 'float32' &&
    target.dtype === 'float32' &&
    pred.size > 0
  ) {
    const attrs: BceAttrs = { epsilon, scale };
    return tf.engine().runKernel(FUSED_BCE, { pred, target }, attrs as never) as tf.Scalar;
  }
  return tf.mul(tf.sum(bceTerms(pred, target, epsilon)), scale) as tf.Scalar;
}
