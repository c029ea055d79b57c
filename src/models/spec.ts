/**
 * What a model type declares about itself, before any network exists: the facts the config checks, checkpoints,
 * evaluation and the exchange formats need. One `spec.ts` per model folder fills this in; `specs.ts` lists them.
 *
 * This file and every `spec.ts` import nothing that computes (no TensorFlow.js), so the config stage can read
 * them: test/architecture.test.ts places them in their own stage, below the config.
 */

/** Config keys that a model type may read beyond the image shape. */
export type ModelConfigKey = 'hidden_dim' | 'latent_dim' | 'dropout' | 'encoder_channels';

/** A variable whose axis runs over a flattened (h, w, c) feature map, which PyTorch flattens as (c, h, w). */
export interface FlattenedAxis {
  names: string[];
  axis: 'in' | 'out';
  hwc: [number, number, number];
}

export interface ImageShape {
  height: number;
  width: number;
  channels: number;
  /** Models with a configurable convolutional trunk: its stride-2 stages' channels (`encoder_channels`). */
  encoderChannels?: readonly number[];
}

/**
 * Writes ONNX nodes (implemented by src/exchange/onnx.ts); every method returns its output's name, `output` names
 * it explicitly. Weights are named as in the PyTorch state_dict (`encoder.0` means `encoder.0.weight` and
 * `encoder.0.bias`).
 */
export interface GraphWriter {
  /** Gemm with PyTorch's Linear layout (weight [out, in]). */
  dense(x: string, layer: string, output?: string): string;
  /** A 3x3 convolution with padding 1. */
  conv(x: string, layer: string, stride: number): string;
  /** A transposed convolution (padding 1 for stride 1, none otherwise). */
  deconv(x: string, layer: string, kernel: number, stride: number): string;
  /** BatchNormalization with the running statistics (PyTorch's epsilon), then Relu. */
  batchNormRelu(x: string, bn: string): string;
  relu(x: string, output?: string): string;
  sigmoid(x: string, output?: string): string;
  /** Flatten from axis 1: NCHW flattens in (c, h, w) order, as PyTorch's `x.view(n, -1)`. */
  flatten(x: string): string;
  /** Reshape to `dims` (an int64 initializer named `name`). */
  reshape(x: string, name: string, dims: number[], output?: string): string;
  /** The reference's MaxPool(kernel 1, stride 2): keeps every other pixel. */
  subsample(x: string, output?: string): string;
}

export interface ModelSpec {
  /** The `model_type` value. */
  readonly kind: string;
  /** One line for the config reference. */
  readonly description: string;
  /** Whether the encoder gives a posterior (mean, log-variance) and training adds a KL term. */
  readonly variational: boolean;
  /**
   * How many times the network halves the image (height and width must be divisible by 2^that): a number, or
   * 'encoder_channels' for once per entry of that key.
   */
  readonly downsampling: number | 'encoder_channels';
  /** The config keys the network reads; those that fix its shape are `architectureKeys`. */
  readonly configKeys: readonly ModelConfigKey[];
  /** Keys that, with the image shape, fix the network's variables (a checkpoint loads only into the same). */
  readonly architectureKeys: readonly ModelConfigKey[];
  /** The reconstruction loss when the config leaves `reconstruction_loss` null. */
  readonly defaultLoss: 'mse' | 'bce';
  /**
   * Images per inference batch at MNIST's 28 x 28: large for the fully connected models, small for wide
   * activations (tfjs-wasm's heap grows to the largest batch and never shrinks). Larger images get
   * proportionally fewer per batch (models/loss.ts `evalBatchSize`), so the activations stay the same size.
   */
  readonly evalBatchSize: number;
  /**
   * Training images the latent k-NN classifier of `ae test` is fit on (a seeded subsample), or null for all: a
   * model that is slow to encode caps it.
   */
  readonly knnFitImages: number | null;
  /** Whether the latent is a feature map (exported to ONNX as [N, C, H, W]) rather than a vector. */
  readonly latentIsFeatureMap: boolean;
  /** The variables to permute between our (h, w, c) flattening and PyTorch's (c, h, w). */
  flattenedAxes(shape: ImageShape): FlattenedAxis[];
  /** The encoder's ONNX nodes from `input` (NCHW image) to `output` (the code; a VAE's posterior mean). */
  onnxEncoder(g: GraphWriter, shape: ImageShape, input: string, output: string): void;
  /** The decoder's ONNX nodes from `input` (a code) to `output` (the reconstruction, NCHW). */
  onnxDecoder(g: GraphWriter, shape: ImageShape, input: string, output: string): void;
}

/** How many times a model of `spec` built from `config` halves the image. */
export function halvings(spec: ModelSpec, config: { encoder_channels: readonly number[] }): number {
  return spec.downsampling === 'encoder_channels' ? config.encoder_channels.length : spec.downsampling;
}
