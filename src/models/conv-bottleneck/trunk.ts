/**
 * The shared part of the convolutional autoencoders with a real bottleneck (BottleneckCAE, ConvVAE): the image is squeezed into `latent_dim` numbers.
 *
 * Encoder: two 3x3 convolutions with stride 2 and padding 1 (C -> 32 -> 64, each + BatchNorm + ReLU; H/4 x W/4
 * x 64 left), flattened, then a dense layer to the code (BottleneckCAE) or two dense heads to the posterior's mean
 * and log-variance (ConvVAE). Decoder: dense code -> H/4 x W/4 x 64 with ReLU, two 2x2/s2 transposed convolutions
 * (64 -> 32 -> 32, each + BN + ReLU), a 3x3 transposed convolution 32 -> C, Sigmoid.
 *
 * Batch norm and ReLU as in the reference CAE, with the same fast native convolution kernels. Flattening follows
 * our NHWC layout (h, w, c); the PyTorch export permutes the dense layers to PyTorch's (c, h, w) flattening.
 */
import { tf } from '../../backend/index.js';
import { BatchNorm, Conv2d, ConvTranspose2d, type ForwardContext, Linear, ParamStore } from '../layers.js';
import type { ImageShape } from '../types.js';
import { TRUNK_CHANNELS } from './spec.js';

/** The convolutional part of the encoder: image -> flattened H/4 x W/4 x 64 features. */
class ConvEncoderTrunk {
  private readonly layers: Array<[Conv2d, BatchNorm]>;
  constructor(p: ParamStore, channels: number) {
    this.layers = [
      [new Conv2d(p, 'encoder.0.conv', channels, 32, 3, 2), new BatchNorm(p, 'encoder.0.bn', 32)],
      [new Conv2d(p, 'encoder.1.conv', 32, TRUNK_CHANNELS, 3, 2), new BatchNorm(p, 'encoder.1.bn', TRUNK_CHANNELS)],
    ];
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
  constructor(
    p: ParamStore,
    private readonly shape: ImageShape,
    latentDim: number,
  ) {
    this.fc = new Linear(p, 'decoder.fc', latentDim, (shape.height / 4) * (shape.width / 4) * TRUNK_CHANNELS);
    this.deconvs = [
      [new ConvTranspose2d(p, 'decoder.0.deconv', TRUNK_CHANNELS, 32, 2, 2), new BatchNorm(p, 'decoder.0.bn', 32)],
      [new ConvTranspose2d(p, 'decoder.1.deconv', 32, 32, 2, 2), new BatchNorm(p, 'decoder.1.bn', 32)],
    ];
    this.out = new ConvTranspose2d(p, 'decoder.2.deconv', 32, shape.channels, 3, 1);
  }
  apply(z: tf.Tensor, ctx: ForwardContext): tf.Tensor4D {
    const batch = z.shape[0]!;
    const flat = this.fc.forward(z as tf.Tensor2D, 'relu');
    let h = tf.reshape(flat, [batch, this.shape.height / 4, this.shape.width / 4, TRUNK_CHANNELS]) as tf.Tensor4D;
    for (const [deconv, bn] of this.deconvs) h = bn.applyRelu(deconv.apply(h), ctx);
    return tf.sigmoid(this.out.apply(h));
  }
}

function trunkFeatures(shape: ImageShape): number {
  return (shape.height / 4) * (shape.width / 4) * TRUNK_CHANNELS;
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
    this.trunk = new ConvEncoderTrunk(this.params, shape.channels);
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
