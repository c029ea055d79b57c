/** The convolutional VAE: what the config, checkpoints, evaluation and exports know of it. */
import { trunkFlattenedAxes, trunkOnnxDecoder, trunkOnnxEncoder } from '../conv-bottleneck/spec.js';
import type { ModelSpec } from '../spec.js';

export const convVaeSpec = {
  kind: 'ConvVAE',
  description: "variational, on the BottleneckCAE's convolutional trunk",
  variational: true,
  downsampling: 'encoder_channels',
  configKeys: ['latent_dim', 'encoder_channels'],
  architectureKeys: ['latent_dim', 'encoder_channels'],
  defaultLoss: 'bce',
  evalBatchSize: 500,
  knnFitImages: null,
  latentIsFeatureMap: false,
  flattenedAxes: (shape) => trunkFlattenedAxes(shape, ['encoder.mu', 'encoder.logvar']),
  // The exported encoder gives the posterior mean.
  onnxEncoder: (g, shape, input, output) => trunkOnnxEncoder(g, shape, 'encoder.mu', input, output),
  onnxDecoder: trunkOnnxDecoder,
} as const satisfies ModelSpec;
