import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { initBackend, tf } from '../src/backend/index.js';
import { resolveConfig } from '../src/config/load.js';
import { evaluateRun } from '../src/evaluate/evaluate-run.js';
import { encodeSet } from '../src/evaluate/latents.js';
import { evaluateLoss } from '../src/models/loss.js';
import { evaluateObjective, objectiveOf } from '../src/models/objective.js';
import { createModel } from '../src/models/registry.js';
import { batchTensor } from '../src/data/dataset.js';
import { createOptimizer, train, trainStep } from '../src/train/trainer.js';
import { Rng } from '../src/util/rng.js';
import { MNIST_DIR, smallMnist, tempDir } from './helpers.js';

/**
 * Every tensor a step or an evaluation makes is disposed: a leak of one tensor per step is gigabytes after a few
 * epochs of the CAE. Counts are taken after a first step, which creates Adam's moments (kept on purpose).
 */
for (const [kind, over] of [
  ['AE', {}],
  ['CAE', { model_type: 'CAE' }],
  ['denoising AE', { denoising: true, noise_std: 0.3 }],
  ['BottleneckCAE', { model_type: 'BottleneckCAE' }],
  ['VAE', { model_type: 'VAE', kl_warmup_epochs: 1 }],
  ['ConvVAE (mse)', { model_type: 'ConvVAE', reconstruction_loss: 'mse' }],
] as const) {
  test(`${kind}: training steps and evaluations leave the number of live tensors unchanged`, async () => {
    await initBackend('wasm');
    const data = await smallMnist(64, 40);
    const config = resolveConfig({ ...over, batch_size: 16 });
    const model = createModel(config);
    const optimizer = createOptimizer(config);
    const vars = model.params.trainable();
    const order = new Rng(1).permutation(data.train.count);
    const step = (s: number) => {
      const x = batchTensor(data.train, order, 16 * s, 16 * s + 16);
      const loss = trainStep(model, optimizer, vars, x, config, 0, s).total;
      x.dispose();
      return loss;
    };
    step(0);
    const before = tf.memory().numTensors;
    for (let s = 1; s < 4; s++) assert.ok(Number.isFinite(step(s)));
    assert.equal(tf.memory().numTensors, before, 'after 3 more training steps');
    const noise = config.denoising ? { mean: config.noise_mean, std: config.noise_std } : null;
    assert.ok((await evaluateLoss(model, data.validation, noise, 7)) > 0);
    const objective = await evaluateObjective(model, data.validation, { noise, ...objectiveOf(config), seed: 7 });
    assert.ok(objective!.total > 0);
    encodeSet(model, data.validation);
    assert.equal(tf.memory().numTensors, before, 'after evaluating and encoding');
    optimizer.dispose();
    model.params.dispose();
  });
}

test('evaluating a run (ae test) leaves no tensor behind, the model included', async () => {
  const data = await smallMnist(128, 64);
  const cfg = resolveConfig({ project: tempDir(), name: 'leak', epochs: 1, batch_size: 32, MNIST: { path: MNIST_DIR, subset: 2000 } });
  await train(cfg, { data });
  const before = tf.memory().numTensors;
  await evaluateRun(path.join(cfg.project, cfg.name), { limit: 100, count: 3, embed: 'pca' });
  assert.equal(tf.memory().numTensors, before);
});

test('the whole training loop (two epochs, validation and checkpoints between them) keeps the tensor count flat', async () => {
  const data = await smallMnist(640, 64);
  const counts: number[] = [];
  const cfg = resolveConfig({ project: tempDir(), name: 'leak-loop', epochs: 2, batch_size: 64, denoising: true });
  await train(cfg, {
    data,
    onEvent: (e) => {
      if (e.type === 'batch') counts.push(tf.memory().numTensors);
    },
  });
  // After the first step Adam's moments exist; from then on the count must stay flat, across epochs too.
  assert.equal(counts.length, 20);
  const steady = counts.slice(1);
  assert.ok(
    steady.every((c) => c === steady[0]),
    `tensor counts per step: ${counts.join(' ')}`,
  );
});
