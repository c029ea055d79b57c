/** The reference's vanilla autoencoder: what the config, checkpoints, evaluation and exports know of it. */
import type { ModelSpec } from '../spec.js';

export const aeSpec = {
  kind: 'AE',
  description: "the reference's fully connected autoencoder",
  variational: false,
  downsampling: 0,
  configKeys: ['hidden_dim', 'latent_dim', 'dropout'],
  architectureKeys: ['hidden_dim', 'latent_dim'],
  defaultLoss: 'mse',
  evalBatchSize: 1000,
  knnFitImages: null,
  latentIsFeatureMap: false,
  flattenedAxes: ({ height, width, channels }) => [
    { names: ['encoder.0.weight'], axis: 'in', hwc: [height, width, channels] },
    { names: ['decoder.3.weight', 'decoder.3.bias'], axis: 'out', hwc: [height, width, channels] },
  ],
  onnxEncoder(g, _shape, input, output) {
    const h = g.relu(g.dense(g.flatten(input), 'encoder.0'));
    g.relu(g.dense(h, 'encoder.3'), output);
  },
  onnxDecoder(g, { height, width, channels }, input, output) {
    const h = g.relu(g.dense(input, 'decoder.0'));
    g.reshape(g.sigmoid(g.dense(h, 'decoder.3')), 'image_shape', [-1, channels, height, width], output);
  },
} as const satisfies ModelSpec;
