import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { resolveConfig } from '../src/config/load.js';
import { train, resume } from '../src/train/trainer.js';
import { readCheckpoint, tensorValues } from '../src/checkpoint/checkpoint.js';
import { TrainingInterrupted, UserError } from '../src/errors.js';
import type { Config } from '../src/config/schema.js';
import { smallMnist, tempDir, listFiles } from './helpers.js';

function config(over: Record<string, unknown>): Config {
  return resolveConfig({ project: tempDir(), epochs: 2, batch_size: 64, ...over });
}

test('AE loss falls on a small real MNIST subset, validation included', async () => {
  const data = await smallMnist(1024, 256);
  const losses: number[] = [];
  const result = await train(config({ name: 'falls', epochs: 3 }), {
    data,
    onEvent: (e) => {
      if (e.type === 'batch') losses.push(e.loss);
    },
  });
  assert.equal(losses.length, 3 * 16);
  const first = losses.slice(0, 3).reduce((a, b) => a + b) / 3;
  const last = losses.slice(-3).reduce((a, b) => a + b) / 3;
  assert.ok(last < 0.5 * first, `batch loss ${first} -> ${last}`);
  const val = result.history.map((r) => r.val_loss);
  assert.ok(val[2]! < val[0]!, `validation loss ${val.join(', ')}`);
  assert.equal(result.bestValLoss, Math.min(...val));
});

test('CAE (denoising) loss falls over a few steps on real digits', async () => {
  const data = await smallMnist(96, 32);
  const losses: number[] = [];
  await train(config({ name: 'cae', model_type: 'CAE', denoising: true, epochs: 1, batch_size: 16 }), {
    data,
    onEvent: (e) => {
      if (e.type === 'batch') losses.push(e.loss);
    },
  });
  assert.equal(losses.length, 6);
  assert.ok(losses[5]! < 0.6 * losses[0]!, `CAE loss ${losses.map((l) => l.toFixed(4)).join(', ')}`);
});

test('the run directory holds config, best/last checkpoints, history, progress and log; an existing run is not overwritten', async () => {
  const data = await smallMnist(256, 64);
  const cfg = config({ name: 'layout', epochs: 2 });
  await train(cfg, { data });
  const dir = path.join(cfg.project, cfg.name);
  // The writer's lock is gone once training ends; progress.json says it finished.
  assert.deepEqual(listFiles(dir), [
    'config.yaml',
    'history.jsonl',
    'progress.json',
    'train.log',
    'weights',
    'weights/best.ckpt',
    'weights/last.ckpt',
  ]);
  const progress = JSON.parse(fs.readFileSync(path.join(dir, 'progress.json'), 'utf8'));
  assert.deepEqual([progress.phase, progress.epoch, progress.epochs, progress.step, progress.steps], ['finished', 2, 2, 0, 4]);
  const rows = fs
    .readFileSync(path.join(dir, 'history.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.deepEqual(
    rows.map((r) => r.epoch),
    [1, 2],
  );
  assert.deepEqual(Object.keys(rows[0]), ['epoch', 'step', 'train_loss', 'val_loss', 'seconds']);
  const last = readCheckpoint(path.join(dir, 'weights', 'last.ckpt'));
  assert.equal(last.header.state.epoch, 2);
  assert.ok(last.header.optimizer.iterations === 8 && last.header.optimizer.slots.length > 0);
  const before = fs.readFileSync(path.join(dir, 'weights', 'last.ckpt'));
  await assert.rejects(
    train(cfg, { data }),
    (e: unknown) => e instanceof UserError && /already exists/.test(e.message) && /ae resume/.test(e.message),
  );
  assert.deepEqual(fs.readFileSync(path.join(dir, 'weights', 'last.ckpt')), before);
});

test('interrupted and resumed training ends with the same weights and history as an uninterrupted run', async () => {
  const data = await smallMnist(512, 128);
  // Dropout and denoising noise both draw random numbers every step: the hardest case for exact resume.
  const over = { epochs: 2, batch_size: 64, dropout: 0.2, denoising: true, seed: 7 };
  const project = tempDir();
  const full = await train(config({ ...over, project, name: 'full' }), { data });

  const cfg = config({ ...over, project, name: 'split' });
  let steps = 0;
  await assert.rejects(
    train(cfg, {
      data,
      shouldStop: () => steps === 5,
      onEvent: (e) => {
        if (e.type === 'batch') steps++;
      },
    }),
    (e: unknown) => e instanceof TrainingInterrupted && e.epoch === 0 && e.step === 5,
  );
  const mid = readCheckpoint(path.join(project, 'split', 'weights', 'last.ckpt'));
  assert.equal(mid.header.state.step, 5);
  // Interrupt again in the second epoch, then finish.
  steps = 0;
  await assert.rejects(
    resume(path.join(project, 'split'), {
      data,
      shouldStop: () => steps === 6,
      onEvent: (e) => {
        if (e.type === 'batch') steps++;
      },
    }),
    (e: unknown) => e instanceof TrainingInterrupted && e.epoch === 1 && e.step === 3,
  );
  const resumed = await resume(path.join(project, 'split'), { data });

  assert.equal(resumed.history.length, 2);
  full.history.forEach((row, i) => {
    const other = resumed.history[i]!;
    assert.equal(other.step, row.step);
    assert.ok(Math.abs(other.train_loss - row.train_loss) < 1e-6, `train loss epoch ${i + 1}: ${row.train_loss} vs ${other.train_loss}`);
    assert.ok(Math.abs(other.val_loss - row.val_loss) < 1e-6, `val loss epoch ${i + 1}: ${row.val_loss} vs ${other.val_loss}`);
  });
  const a = readCheckpoint(path.join(project, 'full', 'weights', 'last.ckpt'));
  const b = readCheckpoint(path.join(project, 'split', 'weights', 'last.ckpt'));
  let worst = 0;
  for (const rec of a.header.variables) {
    const other = b.header.variables.find((r) => r.name === rec.name)!;
    const va = tensorValues(a, rec),
      vb = tensorValues(b, other);
    for (let i = 0; i < va.length; i++) worst = Math.max(worst, Math.abs(va[i]! - vb[i]!));
  }
  assert.ok(worst < 1e-5, `max weight difference ${worst}`);
});

test('resume refuses a finished run unless --epochs extends it, and then continues', async () => {
  const data = await smallMnist(256, 64);
  const cfg = config({ name: 'extend', epochs: 1 });
  await train(cfg, { data });
  const dir = path.join(cfg.project, cfg.name);
  await assert.rejects(resume(dir, { data }), /already finished its 1 epochs/);
  const more = await resume(dir, { data, epochs: 2 });
  assert.deepEqual(
    more.history.map((r) => r.epoch),
    [1, 2],
  );
});

test('a diverging run (NaN loss) stops with a clear message and keeps the last good checkpoint', async () => {
  const data = await smallMnist(512, 64);
  const cfg = config({ name: 'nan', epochs: 1 });
  // One good epoch writes last.ckpt; then the run is extended with a learning rate that makes it diverge.
  const good = await train(cfg, { data });
  const last = path.join(good.runDir, 'weights', 'last.ckpt');
  const saved = fs.readFileSync(last);
  const configFile = path.join(good.runDir, 'config.yaml');
  fs.writeFileSync(configFile, fs.readFileSync(configFile, 'utf8').replace(/^lr: .*$/m, 'lr: 1e30'));
  await assert.rejects(
    resume(good.runDir, { data, epochs: 3 }),
    (e: unknown) =>
      e instanceof UserError &&
      /loss became (NaN|Infinity) at epoch 2/.test(e.message) &&
      /lower the learning rate/.test(e.message) &&
      e.message.includes(last),
  );
  assert.deepEqual(fs.readFileSync(last), saved, 'last.ckpt is the one the good epoch wrote, byte for byte');
  // It still loads, and resuming from it (with a sane learning rate again) finishes the run.
  fs.writeFileSync(configFile, fs.readFileSync(configFile, 'utf8').replace(/^lr: .*$/m, 'lr: 0.001'));
  const finished = await resume(good.runDir, { data, epochs: 2 });
  assert.deepEqual(
    finished.history.map((r) => r.epoch),
    [1, 2],
  );
  assert.ok(finished.history.every((r) => Number.isFinite(r.val_loss)));
});

test('a stop during validation saves "all steps done"; resume validates and matches an uninterrupted run', async () => {
  const data = await smallMnist(256, 2500); // 3 validation batches of up to 1000, so a stop can fall between them
  const project = tempDir();
  const full = await train(config({ project, name: 'full', epochs: 2 }), { data });
  let validating = false;
  await assert.rejects(
    train(config({ project, name: 'split', epochs: 2 }), {
      data,
      shouldStop: () => validating,
      onEvent: (e) => {
        if (e.type === 'validation') validating = true;
      },
    }),
    (e: unknown) => e instanceof TrainingInterrupted && e.epoch === 0 && e.step === 4,
  );
  const resumed = await resume(path.join(project, 'split'), { data });
  assert.deepEqual(
    resumed.history.map((r) => r.step),
    full.history.map((r) => r.step),
  );
  resumed.history.forEach((r, i) => {
    assert.ok(Math.abs(r.val_loss - full.history[i]!.val_loss) < 1e-6);
    assert.ok(Math.abs(r.train_loss - full.history[i]!.train_loss) < 1e-6);
  });
});
