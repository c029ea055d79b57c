import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { loadModel } from '../src/checkpoint/model-state.js';
import { resolveConfig } from '../src/config/load.js';
import { loadData } from '../src/data/load.js';
import { UserError } from '../src/errors.js';
import { rocAuc } from '../src/evaluate/metrics.js';
import { setReconstructionErrors } from '../src/models/loss.js';
import { train } from '../src/train/trainer.js';
import { Rng } from '../src/util/rng.js';
import { MNIST_DIR, tempDir } from './helpers.js';

test('ROC-AUC equals the share of (positive, negative) pairs ranked right, ties counted half', () => {
  const rng = new Rng(5);
  for (const n of [2, 7, 300]) {
    // Scores rounded to a few values, so there are many ties.
    const scores = Array.from({ length: n }, () => Math.round(rng.uniform() * 6) / 6);
    const positive = Array.from({ length: n }, (_, i) => (i < 2 ? i === 0 : rng.uniform() < 0.4));
    let wins = 0,
      pairs = 0;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        if (!positive[i] || positive[j]) continue;
        pairs++;
        wins += scores[i]! > scores[j]! ? 1 : scores[i] === scores[j] ? 0.5 : 0;
      }
    }
    assert.ok(Math.abs(rocAuc(scores, positive) - wins / pairs) < 1e-12, `n = ${n}`);
  }
  assert.equal(rocAuc([1, 2, 3, 4], [false, false, true, true]), 1);
  assert.equal(rocAuc([4, 3, 2, 1], [false, false, true, true]), 0);
  assert.throws(() => rocAuc([1, 2], [true, true]), /both positives and negatives/);
});

test('classes: [c] trains and validates on class c only, the test split keeps every class; bad class lists are refused', async () => {
  const base = { MNIST: { path: MNIST_DIR, subset: 3000 } };
  const one = await loadData(resolveConfig({ ...base, classes: [1] }));
  const all = await loadData(resolveConfig(base));
  assert.ok(one.train.count > 200 && Array.from(one.train.labels).every((l) => l === 1));
  assert.ok(Array.from(one.validation.labels).every((l) => l === 1));
  assert.equal(one.train.count, Array.from(all.train.labels).filter((l) => l === 1).length);
  assert.deepEqual(one.test.labels, all.test.labels);
  await assert.rejects(
    loadData(resolveConfig({ ...base, classes: [12] })),
    (e: unknown) => e instanceof UserError && /classes: 12 not among the 10 classes/.test(e.message),
  );
  assert.throws(() => resolveConfig({ classes: [] }), /classes/);
  assert.throws(() => resolveConfig({ classes: ['3'] }), /classes/);

  // One-class anomaly detection end to end: an AE trained on ones scores the other digits higher.
  const config = resolveConfig({ ...base, classes: [1], project: tempDir(), name: 'ones', epochs: 5, batch_size: 64 });
  const run = await train(config);
  run.model.params.dispose();
  const { model } = loadModel(config, path.join(run.runDir, 'weights', 'best.ckpt'));
  const test = all.test;
  const auc = rocAuc(
    setReconstructionErrors(model, test),
    Array.from(test.labels, (l) => l !== 1),
  );
  model.params.dispose();
  assert.ok(auc > 0.95, `ROC-AUC ${auc}`);
});
