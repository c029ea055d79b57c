// A few real training steps with the native kernels against the same steps on TensorFlow.js's own wasm kernels.
// Imports nothing with a platform binary besides the addon (no sharp, no canvas), so it also runs under qemu on
// arm64 (npm run test:arm64).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { initBackend } from '../src/backend/index.js';
import { nativeBuilt, withAccel } from '../src/accel/index.js';
import { resolveConfig } from '../src/config/load.js';
import { batchTensor, type DataSplits, head } from '../src/data/dataset.js';
import { loadMnist } from '../src/data/mnist.js';
import { createModel } from '../src/models/registry.js';
import { createOptimizer, trainStep } from '../src/train/trainer.js';

const MNIST = process.env.AE_TEST_MNIST ?? path.resolve('..', 'shared', 'data', 'mnist');

let images: DataSplits | null = null;

/** The losses of `steps` steps of `batch` on the first real MNIST images, from the config's seeded start. */
async function losses(modelType: 'AE' | 'BottleneckCAE', steps: number, batch: number): Promise<number[]> {
  const config = resolveConfig({ model_type: modelType, seed: 3, batch_size: batch, lr: 0.001 });
  // The first 1,000 training images only: parsing all 60,000 takes minutes under qemu.
  images ??= await loadMnist(MNIST, 0.2, 0, { subset: 1000 });
  const train = head(images.train, batch * steps);
  const model = createModel(config);
  const optimizer = createOptimizer(config);
  const out: number[] = [];
  for (let s = 0; s < steps; s++) {
    const x = batchTensor(train, null, s * batch, (s + 1) * batch);
    out.push(trainStep(model, optimizer, model.params.trainable(), x, config, 1, s).total);
    x.dispose();
  }
  model.params.dispose();
  optimizer.dispose();
  return out;
}

// The convolutional model is the BottleneckCAE (convolutions, transposed convolutions, batch norm: the same native
// kernels as the CAE's) at a small batch: under qemu one step of the reference CAE takes over a minute.
for (const [modelType, steps, batch] of [
  ['AE', 12, 32],
  ['BottleneckCAE', 4, 8],
] as const) {
  test(`${modelType}: training steps on the native kernels match the wasm kernels' and the loss falls`, async (t) => {
    await initBackend('wasm');
    if (!nativeBuilt()) {
      assert.equal(process.env.AE_REQUIRE_NATIVE, undefined, 'AE_REQUIRE_NATIVE is set but the native addon did not load');
      t.skip('the native addon is not built');
      return;
    }
    const native = await losses(modelType, steps, batch);
    const wasm = await withAccel({ native: false }, () => losses(modelType, steps, batch));
    native.forEach((v, s) => {
      assert.ok(Math.abs(v - wasm[s]!) <= 2e-3 * wasm[s]!, `step ${s}: native ${v} vs wasm ${wasm[s]}`);
    });
    assert.ok(native.at(-1)! < native[0]!, `the loss falls: ${native.map((v) => v.toFixed(4)).join(' ')}`);
  });
}
