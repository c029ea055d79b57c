/**
 * Batch norm (training mode, statistics of the batch) followed by ReLU, the CAE's block tail: one native kernel
 * each way on wasm with the addon, else tfjs ops. normalize() is also the inference path of BatchNorm, so all
 * three paths share one order of operations.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { NativeAddon } from './addon.js';
import { accelThreads } from './context.js';
import { fusedKernelAvailable } from './fused.js';
import { view, type Info, type KernelArgs } from './wasm-memory.js';

/** Inputs { x (NHWC), gamma, beta }, attrs { epsilon }; outputs [y, mean, variance] (per channel, biased). */
export const FUSED_BATCHNORM_RELU = 'AeFusedBatchNormRelu';
export const FUSED_BATCHNORM_RELU_GRAD = 'AeFusedBatchNormReluGrad';

const rowsAndChannels = (x: Info): [number, number] => {
  const channels = x.shape[x.shape.length - 1]!;
  return [tf.util.sizeFromShape(x.shape) / channels, channels];
};

export function nativeBatchNormRelu(native: NativeAddon) {
  return (args: KernelArgs): Info[] => {
    const { x, gamma, beta } = args.inputs as unknown as { x: Info; gamma: Info; beta: Info };
    const { epsilon } = args.attrs as unknown as { epsilon: number };
    const [rows, channels] = rowsAndChannels(x);
    const backend = args.backend as BackendWasm;
    const y = backend.makeOutput(x.shape, 'float32'),
      mean = backend.makeOutput([channels], 'float32');
    const variance = backend.makeOutput([channels], 'float32');
    native.batchNormRelu({
      x: view(backend, x),
      gamma: view(backend, gamma),
      beta: view(backend, beta),
      epsilon,
      y: view(backend, y),
      mean: view(backend, mean),
      variance: view(backend, variance),
      rows,
      channels,
      threads: accelThreads(),
    });
    return [y, mean, variance];
  };
}

export function nativeBatchNormReluGrad(native: NativeAddon) {
  return (args: KernelArgs): Info[] => {
    const { dy, x, y, gamma, mean, variance } = args.inputs as unknown as Record<'dy' | 'x' | 'y' | 'gamma' | 'mean' | 'variance', Info>;
    const { epsilon } = args.attrs as unknown as { epsilon: number };
    const [rows, channels] = rowsAndChannels(x);
    const backend = args.backend as BackendWasm;
    const dx = backend.makeOutput(x.shape, 'float32'),
      dgamma = backend.makeOutput([channels], 'float32');
    const dbeta = backend.makeOutput([channels], 'float32');
    native.batchNormReluGrad({
      dy: view(backend, dy),
      x: view(backend, x),
      y: view(backend, y),
      gamma: view(backend, gamma),
      mean: view(backend, mean),
      variance: view(backend, variance),
      epsilon,
      dx: view(backend, dx),
      dgamma: view(backend, dgamma),
      dbeta: view(backend, dbeta),
      rows,
      channels,
      threads: accelThreads(),
    });
    return [dx, dgamma, dbeta];
  };
}

/**
 * The gradient. Only y's matters: the batch mean and variance outputs feed the running statistics, which are
 * assigned (not taped), so their gradients are zeros and ignored.
 */
export const batchNormReluGradient: tf.GradConfig = {
  kernelName: FUSED_BATCHNORM_RELU,
  inputsToSave: ['x', 'gamma'],
  outputsToSave: [true, true, true],
  gradFunc: (dys, saved, attrs) => {
    const [x, gamma, y, mean, variance] = saved as tf.Tensor[];
    const dy = (Array.isArray(dys) ? dys[0] : dys) as tf.Tensor;
    const inputs = { dy, x: x!, y: y!, gamma: gamma!, mean: mean!, variance: variance! };
    const [dx, dgamma, dbeta] = tf.engine().runKernel(FUSED_BATCHNORM_RELU_GRAD, inputs, attrs) as tf.Tensor[];
    return { x: () => dx!, gamma: () => dgamma!, beta: () => dbeta! };
  },
};

/** gamma (x - mean) / sqrt(variance + epsilon) + beta, per channel (the last axis). */
export function normalize(
  x: tf.Tensor4D,
  mean: tf.Tensor,
  variance: tf.Tensor,
  gamma: tf.Tensor,
  beta: tf.Tensor,
  epsilon: number,
): tf.Tensor4D {
  return tf.add(tf.mul(tf.sub(x, mean), tf.mul(tf.rsqrt(tf.add(variance, epsilon)), gamma)), beta);
}

/**
 * relu(gamma (x - mean) / sqrt(var + eps) + beta) with the batch's per-channel mean and biased variance (over
 * every axis but the last), which it returns too.
 */
export function batchNormRelu(
  x: tf.Tensor4D,
  gamma: tf.Tensor,
  beta: tf.Tensor,
  epsilon: number,
): { y: tf.Tensor4D; mean: tf.Tensor; variance: tf.Tensor } {
  if (fusedKernelAvailable(FUSED_BATCHNORM_RELU) && x.dtype === 'float32') {
    const [y, mean, variance] = tf.engine().runKernel(FUSED_BATCHNORM_RELU, { x, gamma, beta }, { epsilon }) as tf.Tensor[];
    return { y: y as tf.Tensor4D, mean: mean!, variance: variance! };
  }
  const { mean, variance } = tf.moments(x, [0, 1, 2]);
  return { y: tf.relu(normalize(x, mean, variance, gamma, beta, epsilon)), mean, variance };
}
