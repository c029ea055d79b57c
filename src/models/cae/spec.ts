/** The reference's convolutional autoencoder: what the config, checkpoints, evaluation and exports know of it. */
import type { ModelSpec } from '../spec.js';

export const caeSpec = {
  kind: 'CAE',
  description: "the reference's convolutional autoencoder (no bottleneck: a 256 x H/4 x W/4 code)",
  variational: false,
  downsampling: 2,
  configKeys: [],
  architectureKeys: [],
  defaultLoss: 'mse',
  evalBatchSize: 50,
  // Encoding all 48,000 MNIST training images through the CAE takes about 2.5 minutes on 2 cores.
  knnFitImages: 5000,
  latentIsFeatureMap: true,
  flattenedAxes: () => [],
  onnxEncoder(g, _shape, input, output) {
    let h = input;
    for (let i = 0; i < 4; i++) {
      h = g.batchNormRelu(g.conv(h, `encoder.${i}.conv`, 1), `encoder.${i}.bn`);
      if (i >= 2) h = g.subsample(h, i === 3 ? output : undefined);
    }
  },
  onnxDecoder(g, _shape, input, output) {
    let h = g.batchNormRelu(g.deconv(input, 'decoder.0.deconv', 3, 1), 'decoder.0.bn');
    h = g.batchNormRelu(g.deconv(h, 'decoder.1.deconv', 2, 2), 'decoder.1.bn');
    h = g.batchNormRelu(g.deconv(h, 'decoder.2.deconv', 2, 2), 'decoder.2.bn');
    g.sigmoid(g.deconv(h, 'decoder.3.deconv', 3, 1), output);
  },
} as const satisfies ModelSpec;
