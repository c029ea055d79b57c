/** The convolutional autoencoder with a real bottleneck: what the config, checkpoints, evaluation and exports know of it. */
import { trunkFlattenedAxes, trunkOnnxDecoder, trunkOnnxEncoder } from '../conv-bottleneck/spec.js';
import type { ModelSpec } from '../spec.js';

export const bottleneckCaeSpec = {
  kind: 'BottleneckCAE',
  description: 'convolutional down to `latent_dim` numbers',
  variational: false,
  downsampling: 2,
  configKeys: ['latent_dim'],
  architectureKeys: ['latent_dim'],
  defaultLoss: 'mse',
  evalBatchSize: 500,
  knnFitImages: null,
  latentIsFeatureMap: false,
  flattenedAxes: (shape) => trunkFlattenedAxes(shape, ['encoder.fc']),
  onnxEncoder: (g, _shape, input, output) => trunkOnnxEncoder(g, 'encoder.fc', input, output),
  onnxDecoder: trunkOnnxDecoder,
} as const satisfies ModelSpec;
