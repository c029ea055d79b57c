/**
 * ONNX graphs of a trained model, in inference mode (BatchNorm with its running statistics, no dropout), written
 * with `onnx-proto` (protobufjs code generated from the official onnx.proto). Two models:
 *   autoencoder.onnx  input `image` [N, C, H, W] float32 in [0, 1] -> outputs `latent` and `reconstruction`
 *   decoder.onnx      input `latent` -> output `reconstruction` [N, C, H, W]
 * The batch axis is dynamic. Layouts are PyTorch's (NCHW): latents are [N, latent_dim] (a VAE's is its posterior
 * mean), the reference CAE's is [N, 256, H/4, W/4] (our `ae encode` codes are the same numbers flattened in H, W,
 * C order).
 */
import onnxProto from 'onnx-proto';
import { TRUNK_CHANNELS } from '../models/conv-bottleneck.js';
import type { Autoencoder } from '../models/model.js';
import type { TorchTensor } from './torch-layout.js';

const { onnx } = onnxProto;

/** ONNX opset 17 (ONNX 1.12, 2022): every operator used here has had its current form since opset 14 or earlier. */
export const ONNX_OPSET = 17;
/** IR version 8: what opset 17 requires and what onnx-proto's schema describes. */
export const ONNX_IR_VERSION = 8;
/** BatchNorm's epsilon, as PyTorch's default and our layers use. */
const BN_EPSILON = 1e-5;

type Attr = { name: string; i?: number; f?: number; ints?: number[] };

/** Nodes and initializers of one graph, named as we add them. */
class GraphBuilder {
  readonly nodes: onnxProto.onnx.INodeProto[] = [];
  readonly initializers: onnxProto.onnx.ITensorProto[] = [];
  private counter = 0;
  constructor(private readonly weights: Map<string, TorchTensor>) {}

  /** Adds a weight of the state_dict as an initializer (once) and returns its name. */
  weight(name: string): string {
    if (!this.initializers.some((t) => t.name === name)) {
      const t = this.weights.get(name);
      if (!t) throw new Error(`ONNX export: the model has no variable ${name}`);
      const data = t.data as Float32Array;
      this.initializers.push({ name, dims: t.shape, dataType: onnx.TensorProto.DataType.FLOAT, rawData: bytesOf(data) });
    }
    return name;
  }

  int64s(name: string, values: number[]): string {
    const data = BigInt64Array.from(values, (v) => BigInt(v));
    this.initializers.push({ name, dims: [values.length], dataType: onnx.TensorProto.DataType.INT64, rawData: bytesOf(data) });
    return name;
  }

  node(opType: string, inputs: string[], attrs: Attr[] = [], output?: string): string {
    const out = output ?? `${opType.toLowerCase()}_${++this.counter}`;
    const attribute = attrs.map((a) => ({
      name: a.name,
      ...(a.ints ? { ints: a.ints, type: onnx.AttributeProto.AttributeType.INTS } : {}),
      ...(a.i !== undefined ? { i: a.i, type: onnx.AttributeProto.AttributeType.INT } : {}),
      ...(a.f !== undefined ? { f: a.f, type: onnx.AttributeProto.AttributeType.FLOAT } : {}),
    }));
    this.nodes.push({ opType, input: inputs, output: [out], name: out, attribute });
    return out;
  }

  batchNormRelu(x: string, bn: string): string {
    const w = (p: string) => this.weight(`${bn}.${p}`);
    const y = this.node(
      'BatchNormalization',
      [x, w('weight'), w('bias'), w('running_mean'), w('running_var')],
      [{ name: 'epsilon', f: BN_EPSILON }],
    );
    return this.node('Relu', [y]);
  }
}

function bytesOf(a: Float32Array | BigInt64Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength).slice();
}

/** Gemm with PyTorch's Linear layout (weight [out, in]). */
function gemm(g: GraphBuilder, x: string, layer: string, output?: string): string {
  return g.node('Gemm', [x, g.weight(`${layer}.weight`), g.weight(`${layer}.bias`)], [{ name: 'transB', i: 1 }], output);
}

function conv(g: GraphBuilder, x: string, layer: string, stride: number): string {
  return g.node(
    'Conv',
    [x, g.weight(`${layer}.weight`), g.weight(`${layer}.bias`)],
    [
      { name: 'kernel_shape', ints: [3, 3] },
      { name: 'strides', ints: [stride, stride] },
      { name: 'pads', ints: [1, 1, 1, 1] },
    ],
  );
}

function deconv(g: GraphBuilder, x: string, layer: string, kernel: number, stride: number): string {
  return g.node(
    'ConvTranspose',
    [x, g.weight(`${layer}.weight`), g.weight(`${layer}.bias`)],
    [
      { name: 'kernel_shape', ints: [kernel, kernel] },
      { name: 'strides', ints: [stride, stride] },
      { name: 'pads', ints: stride === 1 ? [1, 1, 1, 1] : [0, 0, 0, 0] },
    ],
  );
}

/** The encoder's nodes from `input` to `output` (a VAE's output is its posterior mean). */
function encoder(g: GraphBuilder, model: Autoencoder, input: string, output: string): void {
  const flatten = (x: string) => g.node('Flatten', [x], [{ name: 'axis', i: 1 }]);
  switch (model.kind) {
    case 'AE': {
      const h = g.node('Relu', [gemm(g, flatten(input), 'encoder.0')]);
      g.node('Relu', [gemm(g, h, 'encoder.3')], [], output);
      return;
    }
    case 'VAE': {
      const h = g.node('Relu', [gemm(g, flatten(input), 'encoder.0')]);
      gemm(g, h, 'encoder.mu', output);
      return;
    }
    case 'BottleneckCAE':
    case 'ConvVAE': {
      // Flatten of NCHW gives PyTorch's (c, h, w) order, which the exported dense weights are in.
      let h = g.batchNormRelu(conv(g, input, 'encoder.0.conv', 2), 'encoder.0.bn');
      h = g.batchNormRelu(conv(g, h, 'encoder.1.conv', 2), 'encoder.1.bn');
      gemm(g, flatten(h), model.kind === 'BottleneckCAE' ? 'encoder.fc' : 'encoder.mu', output);
      return;
    }
    case 'CAE': {
      let h = input;
      for (let i = 0; i < 4; i++) {
        h = g.batchNormRelu(conv(g, h, `encoder.${i}.conv`, 1), `encoder.${i}.bn`);
        // The reference's MaxPool(kernel 1, stride 2): keeps every other pixel.
        if (i >= 2)
          h = g.node(
            'MaxPool',
            [h],
            [
              { name: 'kernel_shape', ints: [1, 1] },
              { name: 'strides', ints: [2, 2] },
            ],
            i === 3 ? output : undefined,
          );
      }
      return;
    }
  }
}

/** The decoder's nodes from `input` (a latent) to `output` (the reconstruction, NCHW). */
function decoder(g: GraphBuilder, model: Autoencoder, input: string, output: string): void {
  const { height, width, channels } = model.shape;
  switch (model.kind) {
    case 'AE':
    case 'VAE': {
      const h = g.node('Relu', [gemm(g, input, 'decoder.0')]);
      const y = g.node('Sigmoid', [gemm(g, h, model.kind === 'AE' ? 'decoder.3' : 'decoder.2')]);
      g.node('Reshape', [y, g.int64s('image_shape', [-1, channels, height, width])], [], output);
      return;
    }
    case 'BottleneckCAE':
    case 'ConvVAE': {
      const flat = g.node('Relu', [gemm(g, input, 'decoder.fc')]);
      let h = g.node('Reshape', [flat, g.int64s('feature_shape', [-1, TRUNK_CHANNELS, height / 4, width / 4])]);
      h = g.batchNormRelu(deconv(g, h, 'decoder.0.deconv', 2, 2), 'decoder.0.bn');
      h = g.batchNormRelu(deconv(g, h, 'decoder.1.deconv', 2, 2), 'decoder.1.bn');
      g.node('Sigmoid', [deconv(g, h, 'decoder.2.deconv', 3, 1)], [], output);
      return;
    }
    case 'CAE': {
      let h = g.batchNormRelu(deconv(g, input, 'decoder.0.deconv', 3, 1), 'decoder.0.bn');
      h = g.batchNormRelu(deconv(g, h, 'decoder.1.deconv', 2, 2), 'decoder.1.bn');
      h = g.batchNormRelu(deconv(g, h, 'decoder.2.deconv', 2, 2), 'decoder.2.bn');
      g.node('Sigmoid', [deconv(g, h, 'decoder.3.deconv', 3, 1)], [], output);
      return;
    }
  }
}

function tensorType(dims: Array<number | string>): onnxProto.onnx.ITypeProto {
  return {
    tensorType: {
      elemType: onnx.TensorProto.DataType.FLOAT,
      shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
    },
  };
}

/** The latent's ONNX shape: [N, latent_dim], or [N, 256, H/4, W/4] for the reference CAE. */
export function onnxLatentShape(model: Autoencoder): Array<number | string> {
  if (model.kind !== 'CAE') return ['N', ...model.latentShape];
  const [h, w, c] = model.latentShape as [number, number, number];
  return ['N', c, h, w];
}

function serialise(
  g: GraphBuilder,
  name: string,
  inputs: onnxProto.onnx.IValueInfoProto[],
  outputs: onnxProto.onnx.IValueInfoProto[],
  meta: Record<string, string>,
): Uint8Array {
  const model = onnx.ModelProto.create({
    irVersion: ONNX_IR_VERSION,
    opsetImport: [{ domain: '', version: ONNX_OPSET }],
    producerName: 'autoencoders',
    graph: { name, node: g.nodes, initializer: g.initializers, input: inputs, output: outputs },
    metadataProps: Object.entries(meta).map(([key, value]) => ({ key, value })),
  });
  return onnx.ModelProto.encode(model).finish();
}

export interface OnnxModels {
  autoencoder: Uint8Array;
  decoder: Uint8Array;
}

/** The two ONNX models of `model`, from its weights in PyTorch's layout (see torch-layout.ts). */
export function buildOnnx(model: Autoencoder, weights: TorchTensor[], meta: Record<string, string>): OnnxModels {
  const byName = new Map(weights.map((t) => [t.name, t]));
  const { height, width, channels } = model.shape;
  const image = { name: 'image', type: tensorType(['N', channels, height, width]) };
  const latent = { name: 'latent', type: tensorType(onnxLatentShape(model)) };
  const reconstruction = { name: 'reconstruction', type: tensorType(['N', channels, height, width]) };
  const full = new GraphBuilder(byName);
  encoder(full, model, 'image', 'latent');
  decoder(full, model, 'latent', 'reconstruction');
  const dec = new GraphBuilder(byName);
  decoder(dec, model, 'latent', 'reconstruction');
  return {
    autoencoder: serialise(full, `${model.kind} autoencoder`, [image], [latent, reconstruction], meta),
    decoder: serialise(dec, `${model.kind} decoder`, [latent], [reconstruction], meta),
  };
}
