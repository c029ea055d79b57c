import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf, initBackend } from '../src/backend/index.js';
import { accelSettings, countFlops, NATIVE_KERNELS, nativeBuilt, nativeFile, WASM_PATCHED_KERNELS, withAccel } from '../src/accel/index.js';

/** The wasm paths to check: with the native training kernels (when the addon is built) and without them. */
const NATIVE = nativeBuilt();
const PATHS = NATIVE ? [true, false] : [false];
import { Rng } from '../src/util/rng.js';

const rng = new Rng(1234);
function random(shape: number[]): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = rng.normal();
  return tf.tensor(data, shape);
}

/**
 * Runs `f` on the cpu and on the wasm backend with the same inputs, once per path (native training kernels on,
 * then off); returns the largest relative difference.
 */
async function maxDiff(inputs: () => tf.Tensor[], f: (...t: tf.Tensor[]) => tf.Tensor | tf.Tensor[]): Promise<number> {
  await initBackend('cpu');
  const values = inputs().map((t) => ({ data: t.dataSync().slice(), shape: t.shape }));
  const run = () =>
    tf.tidy(() => {
      const out = f(...values.map((v) => tf.tensor(v.data, v.shape)));
      return (Array.isArray(out) ? out : [out]).map((t) => t.dataSync().slice());
    });
  const expected = run();
  await initBackend('wasm');
  let worst = 0;
  for (const native of PATHS) {
    const actual = withAccel({ native }, run);
    expected.forEach((e, k) => {
      assert.equal(actual[k]!.length, e.length);
      for (let i = 0; i < e.length; i++) worst = Math.max(worst, Math.abs(e[i]! - actual[k]![i]!) / Math.max(1, Math.abs(e[i]!)));
    });
  }
  return worst;
}

const TOL = 1e-4;

test('every kernel of the table is registered on wasm; native is on by default and off only inside withAccel', async () => {
  await initBackend('wasm');
  const names = tf.getKernelsForBackend('wasm').map((k) => k.kernelName);
  for (const k of [...WASM_PATCHED_KERNELS, ...(NATIVE ? NATIVE_KERNELS : [])]) assert.ok(names.includes(k), k);
  if (process.env.AE_REQUIRE_NATIVE) assert.ok(NATIVE, 'AE_REQUIRE_NATIVE is set but the native addon did not load');
  assert.equal(accelSettings().native, true);
  // The scope follows awaits inside it and ends with it.
  const inside = await withAccel({ native: false }, async () => {
    await new Promise((resolve) => setTimeout(resolve, 5));
    return accelSettings().native;
  });
  assert.equal(inside, false);
  assert.equal(accelSettings().native, true);
});

test('the addon refuses a missing field, a wrong array type and a short array, naming the function and the field', {
  skip: !NATIVE,
}, async () => {
  const { loadAddon } = await import('../src/accel/addon.js');
  const native = loadAddon()!;
  const base = { pred: new Float32Array(4), target: new Float32Array(4), dLoss: 1, out: new Float32Array(4) };
  assert.throws(() => native.mseGrad({ ...base, dLoss: undefined as unknown as number }), /^TypeError: mseGrad: dLoss is missing$/);
  assert.throws(
    () => native.mseGrad({ ...base, out: new Float64Array(4) as unknown as Float32Array }),
    /mseGrad: out must be a Float32Array/,
  );
  assert.throws(() => native.mseGrad({ ...base, target: new Float32Array(3) }), /mseGrad: target has 3 elements, needs at least 4/);
  assert.throws(() => (native.mse as unknown as (x: number) => number)(3), /mse: expects one options object/);
  const geometry = Int32Array.from([1, 4, 4, 1, 4, 4, 1, 3, 3, 1, 1, 1, 1]);
  assert.throws(
    () => native.conv2d({ a: new Float32Array(16), b: new Float32Array(9), out: new Float32Array(15), geometry, threads: 1 }),
    /conv2d: out has 15 elements, needs at least 16/,
  );
  // And the call that is right runs: 2 (p - t) / n with p = 1, t = 0.
  native.mseGrad({ ...base, pred: new Float32Array(4).fill(1) });
  assert.deepEqual([...base.out], [0.5, 0.5, 0.5, 0.5]);
});

test('BatchMatMul with transposed operands matches cpu', async () => {
  for (const [ta, tb] of [
    [true, false],
    [false, true],
    [true, true],
  ] as const) {
    for (const [m, k, n] of [
      [5, 7, 3],
      [64, 130, 33],
    ] as const) {
      const aShape = ta ? [k, m] : [m, k];
      const bShape = tb ? [n, k] : [k, n];
      const d = await maxDiff(
        () => [random(aShape!), random(bShape!)],
        (a, b) => tf.matMul(a!, b!, ta, tb),
      );
      assert.ok(d < TOL, `transposeA=${ta} transposeB=${tb} ${m}x${k}x${n}: ${d}`);
    }
  }
  const batched = await maxDiff(
    () => [random([3, 4, 6]), random([3, 5, 6])],
    (a, b) => tf.matMul(a!, b!, false, true),
  );
  assert.ok(batched < TOL, `batched: ${batched}`);
  const plain = await maxDiff(
    () => [random([130, 77]), random([77, 45])],
    (a, b) => tf.matMul(a!, b!),
  );
  assert.ok(plain < TOL, `plain: ${plain}`);
  const broadcast = await maxDiff(
    () => [random([2, 3, 9, 7]), random([7, 5])],
    (a, b) => tf.matMul(a!, tf.reshape(b!, [1, 7, 5])),
  );
  assert.ok(broadcast < TOL, `broadcast b: ${broadcast}`);
  // Depth over 512 takes two passes of the native GEMM (accumulating into C); 128 x 256 splits across threads.
  for (const [ta, tb] of [
    [false, false],
    [true, false],
    [false, true],
  ] as const) {
    const [m, k, n] = [37, 1100, 45];
    const deep = await maxDiff(
      () => [random(ta ? [k, m] : [m, k]), random(tb ? [n, k] : [k, n])],
      (a, b) => tf.matMul(a!, b!, ta, tb),
    );
    assert.ok(deep < TOL, `k=${k} transposeA=${ta} transposeB=${tb}: ${deep}`);
  }
  const wide = await maxDiff(
    () => [random([128, 300]), random([300, 256])],
    (a, b) => tf.matMul(a!, b!),
  );
  assert.ok(wide < TOL, `128x300x256: ${wide}`);
});

test('Identity shares the buffer instead of copying it, and the clone outlives the original', async () => {
  await initBackend('wasm');
  const backend = tf.backend() as unknown as { refCount(id: object): number };
  const x = tf.tensor([1, 2, 3]);
  const y = tf.clone(x);
  assert.equal(y.dataId, x.dataId);
  assert.equal(backend.refCount(x.dataId), 2);
  x.dispose();
  assert.deepEqual([...y.dataSync()], [1, 2, 3]);
  y.dispose();
});

test('fused dense layer (forward, dx, dW, db) matches cpu for every activation, with and without a dropout mask', async () => {
  const { dense } = await import('../src/accel/index.js');
  const cases: Array<[number, number, number]> = [
    [5, 7, 3],
    [37, 600, 45],
    [128, 64, 256],
  ];
  for (const [batch, inF, outF] of cases) {
    const mask = new Float32Array(batch * outF).map((_, i) => (i % 3 === 0 ? 0 : 1.5));
    for (const activation of ['linear', 'relu', 'sigmoid'] as const) {
      for (const m of activation === 'sigmoid' ? [null] : [null, mask]) {
        const d = await maxDiff(
          () => [random([batch, inF]), random([inF, outF]), random([outF])],
          (x, w, b) => {
            const f = (xx: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) => {
              const y = dense(xx as tf.Tensor2D, ww as tf.Tensor2D, bb as tf.Tensor1D, activation, m);
              return tf.sum(tf.mul(y, tf.sin(tf.range(0, y.size).reshape(y.shape))));
            };
            const y = dense(x as tf.Tensor2D, w as tf.Tensor2D, b as tf.Tensor1D, activation, m);
            return [y, ...tf.grads(f)([x!, w!, b!])];
          },
        );
        assert.ok(d < TOL, `${batch}x${inF}->${outF} ${activation}${m ? ' masked' : ''}: ${d}`);
      }
    }
  }
  // The first layer's input is data: its gradient is not asked for, and the parameters' still come out right.
  const d = await maxDiff(
    () => [random([16, 20]), random([20, 8]), random([8])],
    (x, w, b) =>
      tf.grads((ww: tf.Tensor, bb: tf.Tensor) => tf.sum(tf.square(dense(x as tf.Tensor2D, ww as tf.Tensor2D, bb as tf.Tensor1D, 'relu'))))([
        w!,
        b!,
      ]),
  );
  assert.ok(d < TOL, `parameters only: ${d}`);
});

test('fused batch norm + ReLU (output, batch statistics, dx, dgamma, dbeta) matches cpu', async () => {
  const { batchNormRelu } = await import('../src/accel/index.js');
  // 2 x 30 x 30 rows = 1,800 (split across threads), 7 channels; and a mean far from zero (variance accuracy).
  for (const [shape, offset] of [
    [[2, 30, 30, 7], 0],
    [[3, 5, 4, 16], 50],
  ] as const) {
    const d = await maxDiff(
      () => [tf.add(random([...shape]), offset), random([shape[3]]), random([shape[3]])],
      (x, gamma, beta) => {
        const { y, mean, variance } = batchNormRelu(x as tf.Tensor4D, gamma!, beta!, 1e-5);
        const grads = tf.grads((xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) => {
          const out = batchNormRelu(xx as tf.Tensor4D, gg, bb, 1e-5).y;
          return tf.sum(tf.mul(out, tf.sin(tf.range(0, out.size).reshape(out.shape))));
        })([x!, gamma!, beta!]);
        return [y, mean, variance, ...grads];
      },
    );
    assert.ok(d < 2e-4, `${shape} offset ${offset}: ${d}`);
  }
});

test('fused mean squared error and its gradients match cpu', async () => {
  const { meanSquaredError } = await import('../src/accel/index.js');
  for (const shape of [
    [3, 5],
    [128, 28, 28, 1],
  ]) {
    const d = await maxDiff(
      () => [random(shape), random(shape)],
      (p, t) => [meanSquaredError(p!, t!), ...tf.grads((pp: tf.Tensor, tt: tf.Tensor) => tf.mul(meanSquaredError(pp, tt), 3))([p!, t!])],
    );
    assert.ok(d < TOL, `${shape}: ${d}`);
  }
});

test('fused binary cross-entropy and its gradients match cpu and a float64 sum, clipped probabilities included', async () => {
  const { binaryCrossEntropy } = await import('../src/accel/index.js');
  const probabilities = (shape: number[]) => {
    const t = tf
      .sigmoid(tf.mul(random(shape), 4))
      .dataSync()
      .slice();
    for (let i = 0; i < t.length; i += 13) t[i] = i % 2 ? 1 : 0; // exactly 0 and 1: clipped, no gradient
    return tf.tensor(t, shape);
  };
  for (const shape of [
    [3, 5],
    [128, 28, 28, 1],
  ]) {
    const d = await maxDiff(
      () => [probabilities(shape), probabilities(shape)],
      (p, t) => [
        binaryCrossEntropy(p!, t!, 1e-7, 1 / shape[0]!),
        ...tf.grads((pp: tf.Tensor, tt: tf.Tensor) => tf.mul(binaryCrossEntropy(pp, tt, 1e-7, 0.5), 3))([p!, t!]),
      ],
    );
    assert.ok(d < TOL, `${shape}: ${d}`);
  }
  // The value against float64 arithmetic, on wasm with and without the native kernel.
  await initBackend('wasm');
  const p = probabilities([64, 49]);
  const t = probabilities([64, 49]);
  const [pv, tv] = [p.dataSync(), t.dataSync()];
  let expected = 0;
  for (let i = 0; i < pv.length; i++) {
    const q = Math.min(Math.max(pv[i]!, Math.fround(1e-7)), Math.fround(1 - 1e-7));
    expected -= tv[i]! * Math.log(q) + (1 - tv[i]!) * Math.log(1 - q);
  }
  for (const native of PATHS) {
    const value = withAccel({ native }, () => binaryCrossEntropy(p, t, 1e-7, 1 / 64).dataSync()[0]!);
    assert.ok(Math.abs(value - expected / 64) < 1e-5 * (expected / 64), `native ${native}: ${value} vs ${expected / 64}`);
  }
});

test('_FusedMatMul with transposeB, bias and relu matches cpu', async () => {
  for (const [m, k, n] of [
    [8, 16, 4],
    [32, 100, 50],
  ]) {
    const d = await maxDiff(
      () => [random([m!, k!]), random([n!, k!]), random([n!])],
      (a, b, bias) => tf.fused.matMul({ a: a!, b: b!, transposeB: true, bias, activation: 'relu' }),
    );
    assert.ok(d < TOL, `${m}x${k}x${n}: ${d}`);
    const d2 = await maxDiff(
      () => [random([k!, m!]), random([k!, n!]), random([n!])],
      (a, b, bias) => tf.fused.matMul({ a: a!, b: b!, transposeA: true, bias }),
    );
    assert.ok(d2 < TOL, `transposeA ${m}x${k}x${n}: ${d2}`);
  }
});

type Pad = 'same' | 'valid';
const convCases: Array<{ x: number[]; f: number[]; s: number; pad: Pad }> = [
  { x: [2, 8, 8, 3], f: [3, 3, 3, 4], s: 1, pad: 'same' },
  { x: [2, 7, 9, 2], f: [3, 3, 2, 5], s: 1, pad: 'valid' },
  { x: [1, 9, 9, 3], f: [3, 3, 3, 2], s: 2, pad: 'same' },
  { x: [2, 8, 6, 4], f: [2, 2, 4, 3], s: 2, pad: 'valid' },
  { x: [1, 10, 10, 2], f: [5, 5, 2, 3], s: 3, pad: 'same' },
  { x: [1, 6, 6, 1], f: [1, 1, 1, 2], s: 2, pad: 'valid' },
  // Enough images for the native kernels to split them across threads (batch >= 2 x threads).
  { x: [6, 12, 12, 3], f: [3, 3, 3, 5], s: 2, pad: 'same' },
  // More output pixels than one native im2col chunk holds (2^20 / (3*3*4) = 29,127), so chunking is exercised.
  { x: [3, 100, 100, 4], f: [3, 3, 4, 8], s: 1, pad: 'same' },
];

test('conv2d filter and input gradients (Conv2DBackpropFilter/Input) match cpu', async () => {
  for (const c of convCases) {
    const d = await maxDiff(
      () => [random(c.x), random(c.f)],
      (x, f) => {
        const g = tf.grads((xx: tf.Tensor, ff: tf.Tensor) => {
          const y = tf.conv2d(xx as tf.Tensor4D, ff as tf.Tensor4D, c.s, c.pad);
          return tf.sum(tf.mul(y, tf.sin(tf.range(0, y.size).reshape(y.shape))));
        });
        return g([x!, f!]);
      },
    );
    // Gradients summed over 30,000 pixels differ from the cpu backend's in float32 rounding: ~1e-4 relative.
    assert.ok(d < (c.x[1]! >= 100 ? 5e-4 : TOL), `${JSON.stringify(c)}: ${d}`);
  }
});

test('Sum and Mean over leading axes (batch norm statistics) match cpu; other axes fall back correctly', async () => {
  const x = () => [random([6, 5, 4, 7])];
  for (const [axes, keep] of [
    [[0, 1, 2], false],
    [[0, 1, 2], true],
    [[0], false],
    [[0, 1, 2, 3], false],
    [[1, 2], false],
    [[3], true],
  ] as const) {
    const d = await maxDiff(x, (t) => [tf.sum(t!, [...axes], keep), tf.mean(t!, [...axes], keep)]);
    assert.ok(d < TOL, `axes ${axes} keepDims ${keep}: ${d}`);
  }
  const grads = await maxDiff(x, (t) => tf.grads((u: tf.Tensor) => tf.sum(tf.square(tf.sub(u, tf.mean(u, [0, 1, 2], true)))))([t!]));
  assert.ok(grads < TOL, `gradient through mean: ${grads}`);
});

test('conv2dTranspose forward and gradients match cpu', async () => {
  const cases: Array<{ x: number[]; f: number[]; s: number; pad: Pad; out: number[] }> = [
    { x: [2, 7, 7, 6], f: [3, 3, 4, 6], s: 1, pad: 'same', out: [2, 7, 7, 4] },
    { x: [2, 7, 7, 6], f: [2, 2, 3, 6], s: 2, pad: 'valid', out: [2, 14, 14, 3] },
    { x: [1, 5, 4, 2], f: [3, 3, 3, 2], s: 2, pad: 'same', out: [1, 10, 8, 3] },
    { x: [1, 4, 4, 2], f: [3, 3, 1, 2], s: 1, pad: 'valid', out: [1, 6, 6, 1] },
  ];
  for (const c of cases) {
    const fwd = await maxDiff(
      () => [random(c.x), random(c.f)],
      (x, f) => tf.conv2dTranspose(x as tf.Tensor4D, f as tf.Tensor4D, c.out as [number, number, number, number], c.s, c.pad),
    );
    assert.ok(fwd < TOL, `forward ${JSON.stringify(c)}: ${fwd}`);
    const grad = await maxDiff(
      () => [random(c.x), random(c.f)],
      (x, f) =>
        tf.grads((xx: tf.Tensor, ff: tf.Tensor) => {
          const y = tf.conv2dTranspose(xx as tf.Tensor4D, ff as tf.Tensor4D, c.out as [number, number, number, number], c.s, c.pad);
          return tf.sum(tf.mul(y, tf.cos(tf.range(0, y.size).reshape(y.shape))));
        })([x!, f!]),
    );
    assert.ok(grad < TOL, `gradients ${JSON.stringify(c)}: ${grad}`);
  }
});

test("native kernels called from two JavaScript threads at once give the same results (the thread pool's busy path)", {
  skip: !NATIVE,
}, async () => {
  const { Worker } = await import('node:worker_threads');
  const { createRequire } = await import('node:module');
  // The file the loader chose: a local build, or the prebuild for this machine (as under npm run test:arm64).
  const addonPath = nativeFile();
  // Both threads run the same products (each over 1 MFLOP, so each call asks for the pool) many times over.
  const body = `
    const native = require(${JSON.stringify(addonPath)});
    const m = 96, k = 200, n = 64, a = new Float32Array(m * k), b = new Float32Array(k * n), c = new Float32Array(m * n);
    for (let i = 0; i < a.length; i++) a[i] = Math.sin(i);
    for (let i = 0; i < b.length; i++) b[i] = Math.cos(i);
    const sums = [];
    for (let r = 0; r < 300; r++) { native.matmul({ a, b, c, batch: 1, m, n, k, transA: r % 2 === 1, transB: false, broadcastB: false, threads: 2 }); sums.push(c.reduce((s, v) => s + v, 0)); }
    return sums;`;
  const inWorker = new Promise<number[]>((resolve, reject) => {
    const w = new Worker(`const { parentPort } = require('node:worker_threads'); parentPort.postMessage((() => { ${body} })());`, {
      eval: true,
    });
    w.once('message', resolve);
    w.once('error', reject);
  });
  const here = new Function('require', body)(createRequire(import.meta.url)) as number[];
  const there = await inWorker;
  assert.deepEqual(there, here);
  assert.ok(Number.isFinite(here[0]) && here[0] !== here[1], 'both operand layouts ran');
});

test('the native matrix kernels count their operations, 2 per multiply-add: a product, a convolution and its two gradients', {
  skip: NATIVE ? false : 'no native addon here',
}, async () => {
  await initBackend('wasm');
  const a = tf.randomUniform([64, 100], -1, 1, 'float32', 1);
  const b = tf.randomUniform([100, 30], -1, 1, 'float32', 2);
  assert.equal(countFlops(() => tf.matMul(a, b).dataSync()).flops, 2 * 64 * 100 * 30);
  // A 3x3 convolution, 3 -> 5 channels, on 2 images of 8 x 8 ('same'): forward, then its gradients for x and the filter.
  const x = tf.randomUniform([2, 8, 8, 3], -1, 1, 'float32', 3) as tf.Tensor4D;
  const w = tf.randomUniform([3, 3, 3, 5], -1, 1, 'float32', 4) as tf.Tensor4D;
  const product = 2 * (2 * 8 * 8 * 5) * (3 * 3 * 3);
  assert.equal(countFlops(() => tf.conv2d(x, w, 1, 'same').dataSync()).flops, product);
  const grads = tf.grads((xx: tf.Tensor, ww: tf.Tensor) => tf.sum(tf.conv2d(xx as tf.Tensor4D, ww as tf.Tensor4D, 1, 'same')));
  assert.equal(countFlops(() => grads([x, w]).map((g) => g.dataSync())).flops, 3 * product);
  // Without the native kernels nothing is counted.
  assert.equal(
    withAccel({ native: false }, () => countFlops(() => tf.matMul(a, b).dataSync()).flops),
    0,
  );
  tf.dispose([a, b, x, w]);
});
