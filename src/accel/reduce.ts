/**
 * Sum and Mean over leading axes (e.g. N, H, W of an NHWC tensor: batch norm's statistics and the bias
 * gradients), which the wasm backend runs slowly (it transposes first). Other reductions fall back.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { NativeAddon } from './addon.js';
import { accelThreads } from './context.js';
import { view, type Info, type KernelArgs } from './wasm-memory.js';

export function nativeReduceLeading(native: NativeAddon, mean: boolean) {
  return (args: KernelArgs): Info | null => {
    const { x } = args.inputs as unknown as { x: Info };
    const { axis, keepDims } = args.attrs as { axis: number | number[]; keepDims: boolean };
    const axes = tf.util.parseAxisParam(axis, x.shape).sort((p, q) => p - q);
    if (x.dtype !== 'float32' || axes.length === 0 || !axes.every((a, i) => a === i) || x.shape.length === 0) return null;
    const rows = tf.util.sizeFromShape(x.shape.slice(0, axes.length)),
      cols = tf.util.sizeFromShape(x.shape.slice(axes.length));
    if (rows === 0 || cols === 0) return null;
    const backend = args.backend as BackendWasm;
    const outShape = keepDims ? x.shape.map((d, i) => (i < axes.length ? 1 : d)) : x.shape.slice(axes.length);
    const out = backend.makeOutput(outShape, 'float32');
    native.sumRows({ x: view(backend, x), rows, cols, out: view(backend, out), scale: mean ? 1 / rows : 1, threads: accelThreads() });
    return out;
  };
}
