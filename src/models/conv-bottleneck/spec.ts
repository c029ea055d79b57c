/**
 * The convolutional trunk and decoder that BottleneckCAE and ConvVAE share, as their specs describe it: the
 * export facts of the layers in trunk.ts. The trunk has one stride-2 stage per entry of `encoder_channels`.
 */
import type { FlattenedAxis, GraphWriter, ImageShape } from '../spec.js';

/** The stages' channels when the config does not say (`encoder_channels`): two, as the first versions had. */
export const DEFAULT_ENCODER_CHANNELS: readonly number[] = [32, 64];

/** A trunk's stages' channels. */
export const encoderChannelsOf = (shape: ImageShape): readonly number[] => shape.encoderChannels ?? DEFAULT_ENCODER_CHANNELS;

/** The feature map at the bottleneck: [H / 2^k, W / 2^k, last stage's channels]. */
export function trunkMap(shape: ImageShape): [number, number, number] {
  const stages = encoderChannelsOf(shape);
  const factor = 2 ** stages.length;
  return [shape.height / factor, shape.width / factor, stages[stages.length - 1]!];
}

/** The dense layers next to the bottleneck's feature map (encoder heads in, decoder's first layer out). */
export function trunkFlattenedAxes(shape: ImageShape, heads: string[]): FlattenedAxis[] {
  const trunk = trunkMap(shape);
  return [
    { names: heads.map((h) => `${h}.weight`), axis: 'in', hwc: trunk },
    { names: ['decoder.fc.weight', 'decoder.fc.bias'], axis: 'out', hwc: trunk },
  ];
}

/** Image -> the code through the stride-2 convolutions and the dense `head`. */
export function trunkOnnxEncoder(g: GraphWriter, shape: ImageShape, head: string, input: string, output: string): void {
  // Flatten of NCHW gives PyTorch's (c, h, w) order, which the exported dense weights are in.
  let h = input;
  encoderChannelsOf(shape).forEach((_, i) => {
    h = g.batchNormRelu(g.conv(h, `encoder.${i}.conv`, 2), `encoder.${i}.bn`);
  });
  g.dense(g.flatten(h), head, output);
}

/** Code -> image through the dense layer and the transposed convolutions. */
export function trunkOnnxDecoder(g: GraphWriter, shape: ImageShape, input: string, output: string): void {
  const [mapH, mapW, mapC] = trunkMap(shape);
  const stages = encoderChannelsOf(shape).length;
  const flat = g.relu(g.dense(input, 'decoder.fc'));
  let h = g.reshape(flat, 'feature_shape', [-1, mapC, mapH, mapW]);
  for (let i = 0; i < stages; i++) h = g.batchNormRelu(g.deconv(h, `decoder.${i}.deconv`, 2, 2), `decoder.${i}.bn`);
  g.sigmoid(g.deconv(h, `decoder.${stages}.deconv`, 3, 1), output);
}
