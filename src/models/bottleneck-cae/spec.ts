/** The convolutional autoencoder with a real bottleneck: what the config, checkpoints, evaluation and exports know of it. */
import { trunkFlattenedAxes, trunkOnnxDecoder, trunkOnnxEncoder } from '../conv-bottleneck/spec.js';
import type { ModelSpec } from '../spec.js';

export const bottleneckCaeSpec = {
  kind: 'BottleneckCAE',
  description: 'convolutional down to `latent_dim` numbers',
  variational: false,
  downsampling: 'encoder_channels',
  configKeys: ['latent_dim', 'encoder_channels'],
  architectureKeys: ['latent_dim', 'encoder_channels'],
  defaultLoss: 'mse',
  evalBatchSize: 500,
  knnFitImages: null,
  latentIsFeatureMap: false,
  flattenedAxes: (shape) => trunkFlattenedAxes(shape, ['encoder.fc']),
  onnxEncoder: (g, shape, input, output) => trunkOnnxEncoder(g, shape, 'encoder.fc', input, output),
  onnxDecoder: trunkOnnxDecoder,
} as const satisfies ModelSpec;
