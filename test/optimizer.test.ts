import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf, initBackend } from '../src/backend/index.js';
import { nativeBuilt, withAccel } from '../src/accel/index.js';
import { FusedAdamOptimizer } from '../src/train/adam.js';
import { Rng } from '../src/util/rng.js';

const SHAPES = [[300], [40, 50], [7]];
const STEPS = 6;

function initialValues(): Float32Array[] {
  const rng = new Rng(99);
  return SHAPES.map((s) => Float32Array.from({ length: s.reduce((a, b) => a * b, 1) }, () => rng.normal()));
}

/** Runs STEPS Adam steps on a fixed non-quadratic loss; returns the final values and the optimizer's weights. */
async function run(
  make: () => tf.AdamOptimizer,
  shareBuffers = false,
): Promise<{ values: Float32Array[]; weights: Float32Array[]; names: string[]; untouched: boolean }> {
  const initial = initialValues();
  const sources = initial.map((v, i) => tf.tensor(v, SHAPES[i]));
  const vars = sources.map((t, i) => tf.variable(t, true, `opt-test-${Math.random()}-${i}`));
  if (!shareBuffers) tf.dispose(sources); // else the variables share buffers with `sources`
  const optimizer = make();
  for (let step = 0; step < STEPS; step++) {
    optimizer.minimize(() => tf.addN(vars.map((v, i) => tf.sum(tf.mul(tf.sin(tf.mul(v, step + 1)), i + 1)))) as tf.Scalar, false, vars);
  }
  const values = vars.map((v) => v.dataSync().slice() as Float32Array);
  const opt = await optimizer.getWeights();
  const weights = opt.map((w) => w.tensor.dataSync().slice() as Float32Array);
  const untouched = !shareBuffers || sources.every((t, i) => t.dataSync().every((x, j) => x === initial[i]![j]));
  if (shareBuffers) tf.dispose(sources);
  tf.dispose(vars);
  optimizer.dispose();
  return { values, weights, names: opt.map((w) => w.name.replace(/opt-test-[\d.]+-/, '')), untouched };
}

function maxRelDiff(a: Float32Array[], b: Float32Array[]): number {
  let worst = 0;
  a.forEach((x, k) => {
    x.forEach((v, i) => {
      worst = Math.max(worst, Math.abs(v - b[k]![i]!) / Math.max(1e-3, Math.abs(v)));
    });
  });
  return worst;
}

const adam = () => tf.train.adam(0.01, 0.9, 0.999, 1e-8);
const fused = () => new FusedAdamOptimizer(0.01, 0.9, 0.999, 1e-8);

test('the fused Adam step matches tfjs Adam on the cpu backend, natively and on its fallback, moments included', async () => {
  await initBackend('cpu');
  const reference = await run(adam);
  await initBackend('wasm');
  for (const native of nativeBuilt() ? [true, false] : [false]) {
    const ours = await withAccel({ native }, () => run(fused));
    assert.deepEqual(ours.names, reference.names);
    assert.ok(maxRelDiff(ours.values, reference.values) < 1e-5, `values (native ${native}): ${maxRelDiff(ours.values, reference.values)}`);
    // The moments inherit the backends' different sin/cos in the gradients (~1e-5 relative), squared in v.
    assert.ok(
      maxRelDiff(ours.weights, reference.weights) < 1e-3,
      `moments (native ${native}): ${maxRelDiff(ours.weights, reference.weights)}`,
    );
    assert.equal(ours.weights[0]![0], STEPS, 'iterations');
  }
  // The step actually moved the variables (the comparison above is not between two unchanged copies).
  assert.ok(maxRelDiff(reference.values, initialValues()) > 1e-3);
});

test('the fused Adam step never writes a buffer that another tensor shares: it falls back and the other tensor keeps its values', async () => {
  await initBackend('wasm');
  const shared = await run(fused, true);
  assert.ok(shared.untouched, "a tensor sharing a variable's buffer was changed by the optimizer");
  const own = await run(fused);
  assert.ok(maxRelDiff(shared.values, own.values) < 1e-5, `shared vs own buffers: ${maxRelDiff(shared.values, own.values)}`);
});
