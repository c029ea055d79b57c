/**
 * The shared part of the convolutional autoencoders with a real bottleneck (BottleneckCAE, ConvVAE): the image is
 * squeezed into `latent_dim` numbers.
 *
 * Encoder: one 3x3 convolution with stride 2 and padding 1 per entry of `encoder_channels` (default [32, 64]: C ->
 * 32 -> 64), each + BatchNorm + ReLU, leaving H/2^k x W/2^k x (last entry); flattened, then a dense layer to the code
 * (BottleneckCAE) or two dense heads to the posterior's mean and log-variance (ConvVAE). Decoder, mirrored: dense
 * code -> that feature map with ReLU, one 2x2/s2 transposed convolution per stage back through the channels in
 * reverse (the last one keeps the first entry's channels: 64 -> 32 -> 32 for the default), each + BN + ReLU, then a
 * 3x3 transposed convolution to C and a Sigmoid. [32, 64, 128, 256] takes 64 x 64 images to a 4 x 4 x 256 map.
 *
 * Batch norm and ReLU as in the reference CAE, with the same fast native convolution kernels. Flattening follows
 * our NHWC layout (h, w, c); the PyTorch export permutes the dense layers to PyTorch's (c, h, w) flattening.
 */
import { tf } from '../../backend/index.js';
import { BatchNorm, Conv2d, ConvTranspose2d, type ForwardContext, Linear, ParamStore } from '../layers.js';
import type { ImageShape } from '../types.js';
import { encoderChannelsOf, trunkMap } from './spec.js';

/** The convolutional part of the encoder: image -> the flattened bottleneck feature map. */
class ConvEncoderTrunk {
  private readonly layers: Array<[Conv2d, BatchNorm]>;
  constructor(p: ParamStore, shape: ImageShape) {
    let inChannels = shape.channels;
    this.layers = encoderChannelsOf(shape).map((out, i) => {
      const stage: [Conv2d, BatchNorm] = [
        new Conv2d(p, `encoder.${i}.conv`, inChannels, out, 3, 2),
        new BatchNorm(p, `encoder.${i}.bn`, out),
      ];
      inChannels = out;
      return stage;
    });
  }
  apply(x: tf.Tensor4D, ctx: ForwardContext): tf.Tensor2D {
    let h = x;
    for (const [conv, bn] of this.layers) h = bn.applyRelu(conv.apply(h), ctx);
    return tf.reshape(h, [x.shape[0], -1]);
  }
}

/** The decoder shared by both models: code -> image. */
class ConvDecoder {
  private readonly fc: Linear;
  private readonly deconvs: Array<[ConvTranspose2d, BatchNorm]>;
  private readonly out: ConvTranspose2d;
  private readonly map: [number, number, number];
  constructor(p: ParamStore, shape: ImageShape, latentDim: number) {
    this.map = trunkMap(shape);
    const stages = encoderChannelsOf(shape);
    this.fc = new Linear(p, 'decoder.fc', latentDim, this.map[0] * this.map[1] * this.map[2]);
    // Stage i goes from the channels of encoder stage k-1-i to those of stage k-2-i (the first stage's, at the end).
    this.deconvs = stages.map((_, i) => {
      const from = stages[stages.length - 1 - i]!,
        to = stages[Math.max(0, stages.length - 2 - i)]!;
      return [new ConvTranspose2d(p, `decoder.${i}.deconv`, from, to, 2, 2), new BatchNorm(p, `decoder.${i}.bn`, to)];
    });
    this.out = new ConvTranspose2d(p, `decoder.${stages.length}.deconv`, stages[0]!, shape.channels, 3, 1);
  }
  apply(z: tf.Tensor, ctx: ForwardContext): tf.Tensor4D {
    const batch = z.shape[0]!;
    const flat = this.fc.forward(z as tf.Tensor2D, 'relu');
    let h = tf.reshape(flat, [batch, ...this.map]) as tf.Tensor4D;
    for (const [deconv, bn] of this.deconvs) h = bn.applyRelu(deconv.apply(h), ctx);
    return tf.sigmoid(this.out.apply(h));
  }
}

function trunkFeatures(shape: ImageShape): number {
  const [h, w, c] = trunkMap(shape);
  return h * w * c;
}

/** What both models share: the parameter store, the encoder trunk, the decoder, a `latentDim`-vector code. */
export abstract class ConvBottleneckBase {
  readonly params: ParamStore;
  protected readonly trunk: ConvEncoderTrunk;
  private readonly decoder: ConvDecoder;

  constructor(
    readonly shape: ImageShape,
    readonly latentDim: number,
    seed: number,
  ) {
    this.params = new ParamStore(seed);
    this.trunk = new ConvEncoderTrunk(this.params, shape);
    // Heads before the decoder, so the variables keep their order: trunk, heads, decoder. The subclasses declare
    // their head fields with `declare` (no class-field initialiser runs after this constructor to clear them).
    this.heads(this.params, trunkFeatures(shape));
    this.decoder = new ConvDecoder(this.params, shape, latentDim);
  }

  /** Creates the encoder's dense head(s) from `features` trunk outputs. */
  protected abstract heads(params: ParamStore, features: number): void;

  get latentShape(): number[] {
    return [this.latentDim];
  }

  decode(z: tf.Tensor, ctx: ForwardContext): tf.Tensor4D {
    return this.decoder.apply(z, ctx);
  }
}
