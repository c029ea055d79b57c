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
import { type Autoencoder, type GraphWriter, specOfModel } from '../models/registry.js';
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

/** The GraphWriter the model specs describe their graphs with (src/models/spec.ts). */
class Writer implements GraphWriter {
  constructor(private readonly g: GraphBuilder) {}

  dense(x: string, layer: string, output?: string): string {
    const g = this.g;
    return g.node('Gemm', [x, g.weight(`${layer}.weight`), g.weight(`${layer}.bias`)], [{ name: 'transB', i: 1 }], output);
  }

  conv(x: string, layer: string, stride: number): string {
    const g = this.g;
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

  deconv(x: string, layer: string, kernel: number, stride: number): string {
    const g = this.g;
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

  batchNormRelu(x: string, bn: string): string {
    return this.g.batchNormRelu(x, bn);
  }

  relu(x: string, output?: string): string {
    return this.g.node('Relu', [x], [], output);
  }

  sigmoid(x: string, output?: string): string {
    return this.g.node('Sigmoid', [x], [], output);
  }

  flatten(x: string): string {
    return this.g.node('Flatten', [x], [{ name: 'axis', i: 1 }]);
  }

  reshape(x: string, name: string, dims: number[], output?: string): string {
    return this.g.node('Reshape', [x, this.g.int64s(name, dims)], [], output);
  }

  subsample(x: string, output?: string): string {
    return this.g.node(
      'MaxPool',
      [x],
      [
        { name: 'kernel_shape', ints: [1, 1] },
        { name: 'strides', ints: [2, 2] },
      ],
      output,
    );
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

/** The latent's ONNX shape: [N, latent_dim], or [N, C, H, W] for a feature-map latent (the reference CAE's). */
export function onnxLatentShape(model: Autoencoder): Array<number | string> {
  if (!specOfModel(model).latentIsFeatureMap) return ['N', ...model.latentShape];
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
  const spec = specOfModel(model);
  const full = new GraphBuilder(byName);
  spec.onnxEncoder(new Writer(full), model.shape, 'image', 'latent');
  spec.onnxDecoder(new Writer(full), model.shape, 'latent', 'reconstruction');
  const dec = new GraphBuilder(byName);
  spec.onnxDecoder(new Writer(dec), model.shape, 'latent', 'reconstruction');
  return {
    autoencoder: serialise(full, `${model.kind} autoencoder`, [image], [latent, reconstruction], meta),
    decoder: serialise(dec, `${model.kind} decoder`, [latent], [reconstruction], meta),
  };
}
