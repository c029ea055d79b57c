/**
 * The fused dense layer, y = act(x w + b) (* dropout mask): one native kernel forward and one for the
 * parameter gradients (which also yields dz, the gradient before the activation); the input's gradient dz w^T
 * is a matrix product that tfjs runs only when x needs a gradient (not for the first layer, whose input is the
 * data). Elsewhere (another backend, no addon, native off) the same arithmetic in tfjs ops.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { NativeAddon } from './addon.js';
import { accelThreads } from './context.js';
import { addFlops } from './flops.js';
import { fusedKernelAvailable } from './fused.js';
import { view, type Info, type KernelArgs } from './wasm-memory.js';

export type DenseActivation = 'linear' | 'relu' | 'sigmoid';
const ACTIVATION_CODE = { linear: 0, relu: 1, sigmoid: 2 } as const;

/** act(x w + b) (* mask) as one kernel: inputs { x, w, b }, attrs DenseAttrs. */
export const FUSED_DENSE = 'AeFusedDense';
/** Its parameter gradients as one kernel: outputs [dz, dw, db] from inputs { dy, x, y }. */
export const FUSED_DENSE_PARAMS = 'AeFusedDenseBackpropParams';

interface DenseAttrs {
  activation: DenseActivation;
  /** Inverted-dropout mask (0 or 1/(1 - rate)) multiplied after the activation; only with linear or relu. */
  mask: Float32Array | null;
}

export function nativeDense(native: NativeAddon) {
  return (args: KernelArgs): Info => {
    const { x, w, b } = args.inputs as unknown as { x: Info; w: Info; b: Info };
    const { activation, mask } = args.attrs as unknown as DenseAttrs;
    const [batch, inFeatures] = x.shape as [number, number],
      outFeatures = w.shape[1]!;
    const backend = args.backend as BackendWasm;
    const y = backend.makeOutput([batch, outFeatures], 'float32');
    addFlops(2 * batch * inFeatures * outFeatures);
    native.denseForward({
      x: view(backend, x),
      w: view(backend, w),
      b: view(backend, b),
      mask,
      y: view(backend, y),
      batch,
      inFeatures,
      outFeatures,
      activation: ACTIVATION_CODE[activation],
      threads: accelThreads(),
    });
    return y;
  };
}

export function nativeDenseParams(native: NativeAddon) {
  return (args: KernelArgs): Info[] => {
    const { dy, x, y } = args.inputs as unknown as { dy: Info; x: Info; y: Info };
    const { activation, mask } = args.attrs as unknown as DenseAttrs;
    const [batch, inFeatures] = x.shape as [number, number],
      outFeatures = y.shape[1]!;
    const backend = args.backend as BackendWasm;
    const dz = backend.makeOutput([batch, outFeatures], 'float32'),
      dw = backend.makeOutput([inFeatures, outFeatures], 'float32');
    const db = backend.makeOutput([outFeatures], 'float32');
    addFlops(2 * batch * inFeatures * outFeatures); // dW = x^T dz
    native.denseBackpropParams({
      dy: view(backend, dy),
      x: view(backend, x),
      y: view(backend, y),
      mask,
      dz: view(backend, dz),
      dw: view(backend, dw),
      db: view(backend, db),
      batch,
      inFeatures,
      outFeatures,
      activation: ACTIVATION_CODE[activation],
      threads: accelThreads(),
    });
    return [dz, dw, db];
  };
}

export const denseGradient: tf.GradConfig = {
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
 * act(x w + b) (* mask): the fused native kernel where available, else the same arithmetic in tfjs ops. A mask
 * goes with linear or relu only (the fused backward reads act' from the masked output, which sigmoid's is not).
 */
export function dense(
  x: tf.Tensor2D,
  w: tf.Tensor2D,
  b: tf.Tensor1D,
  activation: DenseActivation,
  mask: Float32Array | null = null,
): tf.Tensor2D {
  if (mask && activation === 'sigmoid') throw new Error('dense: a dropout mask needs a linear or relu activation');
  if (fusedKernelAvailable(FUSED_DENSE)) {
    const attrs: DenseAttrs = { activation, mask };
    return tf.engine().runKernel(FUSED_DENSE, { x, w, b }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor2D;
  }
  const z = tf.add(tf.matMul(x, w), b);
  const y = activation === 'relu' ? tf.relu(z) : activation === 'sigmoid' ? tf.sigmoid(z) : z;
  return (mask ? tf.mul(y, tf.tensor2d(mask, y.shape as [number, number])) : y) as tf.Tensor2D;
}
