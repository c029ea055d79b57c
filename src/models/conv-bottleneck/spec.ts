/**
 * The convolutional trunk and decoder that BottleneckCAE and ConvVAE share, as their specs describe it: the
 * export facts of the layers in trunk.ts.
 */
import type { FlattenedAxis, GraphWriter, ImageShape } from '../spec.js';

/** Channels after the encoder's two convolutions, and of the decoder's first feature map. */
export const TRUNK_CHANNELS = 64;

/** The dense layers next to the H/4 x W/4 x 64 map (encoder heads in, decoder's first layer out). */
export function trunkFlattenedAxes({ height, width }: ImageShape, heads: string[]): FlattenedAxis[] {
  const trunk: [number, number, number] = [height / 4, width / 4, TRUNK_CHANNELS];
  return [
    { names: heads.map((h) => `${h}.weight`), axis: 'in', hwc: trunk },
    { names: ['decoder.fc.weight', 'decoder.fc.bias'], axis: 'out', hwc: trunk },
  ];
}

/** Image -> the code through the two stride-2 convolutions and the dense `head`. */
export function trunkOnnxEncoder(g: GraphWriter, head: string, input: string, output: string): void {
  // Flatten of NCHW gives PyTorch's (c, h, w) order, which the exported dense weights are in.
  let h = g.batchNormRelu(g.conv(input, 'encoder.0.conv', 2), 'encoder.0.bn');
  h = g.batchNormRelu(g.conv(h, 'encoder.1.conv', 2), 'encoder.1.bn');
  g.dense(g.flatten(h), head, output);
}

/** Code -> image through the dense layer and the transposed convolutions. */
export function trunkOnnxDecoder(g: GraphWriter, { height, width }: ImageShape, input: string, output: string): void {
  const flat = g.relu(g.dense(input, 'decoder.fc'));
  let h = g.reshape(flat, 'feature_shape', [-1, TRUNK_CHANNELS, height / 4, width / 4]);
  h = g.batchNormRelu(g.deconv(h, 'decoder.0.deconv', 2, 2), 'decoder.0.bn');
  h = g.batchNormRelu(g.deconv(h, 'decoder.1.deconv', 2, 2), 'decoder.1.bn');
  g.sigmoid(g.deconv(h, 'decoder.2.deconv', 3, 1), output);
}
