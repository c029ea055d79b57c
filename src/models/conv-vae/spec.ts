/** The convolutional VAE: what the config, checkpoints, evaluation and exports know of it. */
import { trunkFlattenedAxes, trunkOnnxDecoder, trunkOnnxEncoder } from '../conv-bottleneck/spec.js';
import type { ModelSpec } from '../spec.js';

export const convVaeSpec = {
  kind: 'ConvVAE',
  description: "variational, on the BottleneckCAE's convolutional trunk",
  variational: true,
  downsampling: 2,
  configKeys: ['latent_dim'],
  architectureKeys: ['latent_dim'],
  defaultLoss: 'bce',
  evalBatchSize: 500,
  knnFitImages: null,
  latentIsFeatureMap: false,
  flattenedAxes: (shape) => trunkFlattenedAxes(shape, ['encoder.mu', 'encoder.logvar']),
  // The exported encoder gives the posterior mean.
  onnxEncoder: (g, _shape, input, output) => trunkOnnxEncoder(g, 'encoder.mu', input, output),
  onnxDecoder: trunkOnnxDecoder,
} as const satisfies ModelSpec;
