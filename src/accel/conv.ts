/**
 * Convolutions. tfjs-backend-wasm 4.22 lacks Conv2DBackpropFilter (a CAE cannot train without it) and runs
 * Conv2DBackpropInput as a plain loop; the wasm patches re-express both with fast kernels the backend has
 * (non-transposed matMul through XNNPACK, conv2d, depthToSpace). The native kernels (im2col + a blocked GEMM
 * with AVX2/FMA, whole images split across threads) replace Conv2D and both gradients, and return null (fall
 * back) for what they do not handle: dilation, NCHW, non-float inputs.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { ConvArgs, NativeAddon } from './addon.js';
import { accelThreads } from './context.js';
import { addFlops } from './flops.js';
import { allFloat, view, type Info, type KernelArgs, type KernelFunc } from './wasm-memory.js';

type Shape4 = [number, number, number, number];

/** Conv2D's attributes as tfjs passes them to every convolution kernel. */
export interface ConvAttrs {
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat?: 'NHWC' | 'NCHW';
  dilations?: number | [number, number];
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

function convInfo(xShape: number[], filterShape: number[], attrs: ConvAttrs): tf.backend_util.Conv2DInfo {
  return tf.backend_util.computeConv2DInfo(
    xShape as Shape4,
    filterShape as Shape4,
    attrs.strides,
    1,
    attrs.pad as 'same',
    attrs.dimRoundingMode,
    false,
    'channelsLast',
  );
}

function requireNhwc(attrs: ConvAttrs): void {
  if (attrs.dataFormat !== undefined && attrs.dataFormat !== 'NHWC')
    throw new Error(`wasm conv gradient patch supports NHWC only, got ${attrs.dataFormat}`);
}

/**
 * Conv2DBackpropFilter on wasm: dW[kh,kw,ci,co] = sum over (b,oh,ow) of x_padded[b, oh*s+kh, ow*s+kw, ci] *
 * dy[b,oh,ow,co]. One strided slice and one GEMM per kernel tap, with dy transposed once, so every product is
 * a plain (non-transposed) matMul.
 */
export function wasmConv2dBackpropFilter(): KernelFunc {
  return (args) => {
    const { x, dy } = args.inputs as unknown as { x: tf.Tensor4D; dy: tf.Tensor4D };
    const attrs = args.attrs as unknown as ConvAttrs & { filterShape: Shape4 };
    requireNhwc(attrs);
    const { padInfo, strideHeight: sh, strideWidth: sw, outHeight: oh, outWidth: ow } = convInfo(x.shape, attrs.filterShape, attrs);
    const [kh, kw, ci, co] = attrs.filterShape;
    const batch = x.shape[0];
    return tf.tidy(() => {
      const xp = tf.pad(x, [
        [0, 0],
        [padInfo.top, Math.max(0, padInfo.bottom)],
        [padInfo.left, Math.max(0, padInfo.right)],
        [0, 0],
      ]);
      const rows = batch * oh * ow;
      const dyT = tf.transpose(tf.reshape(dy, [rows, co])); // [co, rows]
      const taps: tf.Tensor[] = [];
      for (let i = 0; i < kh; i++) {
        for (let j = 0; j < kw; j++) {
          const slice = tf.stridedSlice(xp, [0, i, j, 0], [batch, i + (oh - 1) * sh + 1, j + (ow - 1) * sw + 1, ci], [1, sh, sw, 1]);
          taps.push(tf.matMul(dyT, tf.reshape(slice, [rows, ci]))); // [co, ci]
        }
      }
      // [kh*kw, co, ci] -> [kh, kw, ci, co]
      return tf.transpose(tf.reshape(tf.stack(taps), [kh, kw, co, ci]), [0, 1, 3, 2]);
    });
  };
}

/**
 * Conv2DBackpropInput on wasm (the input gradient of conv2d, and conv2dTranspose's forward pass), two fast forms:
 * - stride 1: a conv2d of dy with the spatially flipped, channel-swapped filter, padded by (k - 1 - pad);
 * - kernel == stride with no padding (the CAE's 2x2/s2 up-sampling): one matMul, then depthToSpace.
 * Anything else goes to the backend's own (slow but correct) kernel.
 */
export function wasmConv2dBackpropInput(original: KernelFunc): KernelFunc {
  return (args) => {
    const { dy, filter } = args.inputs as unknown as { dy: tf.Tensor4D; filter: tf.Tensor4D };
    const attrs = args.attrs as unknown as ConvAttrs & { inputShape: Shape4 };
    requireNhwc(attrs);
    const info = convInfo(attrs.inputShape, filter.shape, attrs);
    const [kh, kw, ci, co] = filter.shape;
    const { padInfo, strideHeight: sh, strideWidth: sw, outHeight: outH, outWidth: outW } = info;
    const [batch, inH, inW] = attrs.inputShape;
    if (sh === 1 && sw === 1) {
      const top = kh - 1 - padInfo.top,
        left = kw - 1 - padInfo.left;
      const bottom = inH + kh - 1 - outH - top,
        right = inW + kw - 1 - outW - left;
      if (top < 0 || left < 0 || bottom < 0 || right < 0) return original(args);
      return tf.tidy(() => {
        const flipped = tf.transpose(tf.reverse(filter, [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D; // [kh, kw, co, ci]
        return tf.conv2d(dy, flipped, 1, [
          [0, 0],
          [top, bottom],
          [left, right],
          [0, 0],
        ]);
      });
    }
    const noPadding = padInfo.top === 0 && padInfo.bottom === 0 && padInfo.left === 0 && padInfo.right === 0;
    if (kh === sh && kw === sw && kh === kw && noPadding && outH * sh === inH && outW * sw === inW) {
      return tf.tidy(() => {
        // out[b, i*k+p, j*k+q, c] = sum_o dy[b,i,j,o] * W[p,q,c,o]
        const w = tf.reshape(tf.transpose(filter, [3, 0, 1, 2]), [co, kh * kw * ci]);
        const cols = tf.matMul(tf.reshape(dy, [batch * outH * outW, co]), w);
        return tf.depthToSpace(tf.reshape(cols, [batch, outH, outW, kh * kw * ci]) as tf.Tensor4D, kh, 'NHWC');
      });
    }
    return original(args);
  };
}

/** Our geometry array, or null when the attributes need the fallback. */
function geometry(xShape: number[], filterShape: number[], attrs: ConvAttrs): Int32Array | null {
  if (attrs.dataFormat === 'NCHW') return null;
  const dil = attrs.dilations ?? 1;
  if (!(dil === 1 || (Array.isArray(dil) && dil[0] === 1 && dil[1] === 1))) return null;
  const info = convInfo(xShape, filterShape, attrs);
  return Int32Array.from([
    info.batchSize,
    info.inHeight,
    info.inWidth,
    info.inChannels,
    info.outHeight,
    info.outWidth,
    info.outChannels,
    info.filterHeight,
    info.filterWidth,
    info.strideHeight,
    info.strideWidth,
    info.padInfo.top,
    info.padInfo.left,
  ]);
}

interface ConvSpec {
  /** The kernel's two input names, in the order the native function takes them (a, b). */
  inputs: [string, string];
  run: (native: NativeAddon, args: ConvArgs & { threads: number }) => void;
  /** The conv's input and filter shapes, from the two inputs and the attributes. */
  shapes: (first: Info, second: Info, attrs: Record<string, unknown>) => { input: number[]; filter: number[] };
  outputShape: (g: Int32Array, attrs: Record<string, unknown>) => number[];
}

function nativeConv(spec: ConvSpec) {
  return (native: NativeAddon) =>
    (args: KernelArgs): Info | null => {
      const inputs = args.inputs as unknown as Record<string, Info>;
      const first = inputs[spec.inputs[0]]!,
        second = inputs[spec.inputs[1]]!;
      const attrs = args.attrs as Record<string, unknown>;
      const { input, filter } = spec.shapes(first, second, attrs);
      const g = allFloat(first, second) ? geometry(input, filter, attrs as unknown as ConvAttrs) : null;
      if (!g) return null;
      const backend = args.backend as BackendWasm;
      const out = backend.makeOutput(spec.outputShape(g, attrs), 'float32');
      // Each of the three is one product of the same size: batch x outH x outW x outC x (kH x kW x inC).
      addFlops(2 * g[0]! * g[4]! * g[5]! * g[6]! * g[7]! * g[8]! * g[3]!);
      spec.run(native, {
        a: view(backend, first),
        b: view(backend, second),
        out: view(backend, out),
        geometry: g,
        threads: accelThreads(),
      });
      return out;
    };
}

/** Conv2D: out = conv(x, filter), shape [batch, outH, outW, outC]. */
export const nativeConv2d = nativeConv({
  inputs: ['x', 'filter'],
  run: (n, o) => n.conv2d(o),
  shapes: (x, f) => ({ input: x.shape, filter: f.shape }),
  outputShape: (g) => [g[0]!, g[4]!, g[5]!, g[6]!],
});

/** Conv2DBackpropInput: dx (attrs.inputShape) from dy and the filter. */
export const nativeConv2dBackpropInput = nativeConv({
  inputs: ['dy', 'filter'],
  run: (n, o) => n.conv2dBackpropInput(o),
  shapes: (_dy, f, a) => ({ input: a.inputShape as number[], filter: f.shape }),
  outputShape: (_g, a) => [...(a.inputShape as number[])],
});

/** Conv2DBackpropFilter: dW (attrs.filterShape) from x and dy. */
export const nativeConv2dBackpropFilter = nativeConv({
  inputs: ['x', 'dy'],
  run: (n, o) => n.conv2dBackpropFilter(o),
  shapes: (x, _dy, a) => ({ input: x.shape, filter: a.filterShape as number[] }),
  outputShape: (_g, a) => [...(a.filterShape as number[])],
});
