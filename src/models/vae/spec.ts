/** The fully connected VAE: what the config, checkpoints, evaluation and exports know of it. */
import type { ModelSpec } from '../spec.js';

export const vaeSpec = {
  kind: 'VAE',
  description: "variational, fully connected (pythae's network)",
  variational: true,
  downsampling: 0,
  configKeys: ['hidden_dim', 'latent_dim'],
  architectureKeys: ['hidden_dim', 'latent_dim'],
  defaultLoss: 'bce',
  evalBatchSize: 1000,
  knnFitImages: null,
  latentIsFeatureMap: false,
  flattenedAxes: ({ height, width, channels }) => [
    { names: ['encoder.0.weight'], axis: 'in', hwc: [height, width, channels] },
    { names: ['decoder.2.weight', 'decoder.2.bias'], axis: 'out', hwc: [height, width, channels] },
  ],
  onnxEncoder(g, _shape, input, output) {
    const h = g.relu(g.dense(g.flatten(input), 'encoder.0'));
    g.dense(h, 'encoder.mu', output);
  },
  onnxDecoder(g, { height, width, channels }, input, output) {
    const h = g.relu(g.dense(input, 'decoder.0'));
    g.reshape(g.sigmoid(g.dense(h, 'decoder.2')), 'image_shape', [-1, channels, height, width], output);
  },
} as const satisfies ModelSpec;
