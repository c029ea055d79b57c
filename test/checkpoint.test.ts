import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { resolveConfig } from '../src/config/load.js';
import { train, resume } from '../src/train/trainer.js';
import { readCheckpoint, writeCheckpoint, CHECKPOINT_FORMAT_VERSION } from '../src/checkpoint/checkpoint.js';
import { UserError } from '../src/errors.js';
import { smallMnist, tempDir, listFiles } from './helpers.js';

async function finishedRun(over: Record<string, unknown> = {}): Promise<string> {
  const data = await smallMnist(128, 64);
  const cfg = resolveConfig({ project: tempDir(), name: 'run', epochs: 1, batch_size: 64, ...over });
  await train(cfg, { data });
  return path.join(cfg.project, cfg.name);
}

test('checkpoint round trip keeps header and data', () => {
  const file = path.join(tempDir(), 'a.ckpt');
  const data = Float32Array.from([1, 2, 3, 4.5]);
  const state = { epoch: 1, step: 2, globalStep: 3, epochLossSum: 0, epochSamples: 0, epochSeconds: 0, bestValLoss: 0.5, history: [] };
  writeCheckpoint(
    file,
    {
      model_signature: 'sig',
      config_hash: 'abc',
      config: resolveConfig({}),
      state,
      variables: [{ name: 'w', shape: [2, 2], offset: 0 }],
      optimizer: { iterations: 3, slots: [] },
    },
    data,
  );
  const ckpt = readCheckpoint(file);
  assert.deepEqual(ckpt.data, data);
  assert.equal(ckpt.header.format_version, CHECKPOINT_FORMAT_VERSION);
  assert.deepEqual(ckpt.header.state, state);
  assert.deepEqual(listFiles(path.dirname(file)), ['a.ckpt'], 'no temp file left');
});

test('damaged checkpoints are refused: flipped byte, truncation, foreign file, newer format', async () => {
  const dir = await finishedRun();
  const last = path.join(dir, 'weights', 'last.ckpt');
  const good = fs.readFileSync(last);
  const scratch = path.join(tempDir(), 'x.ckpt');

  const flipped = Buffer.from(good);
  flipped[flipped.length - 3]! ^= 0xff;
  fs.writeFileSync(scratch, flipped);
  assert.throws(
    () => readCheckpoint(scratch),
    (e: unknown) => e instanceof UserError && /damaged: tensor data does not match its SHA-256/.test(e.message),
  );

  fs.writeFileSync(scratch, good.subarray(0, good.length - 100));
  assert.throws(() => readCheckpoint(scratch), /truncated/);
  fs.writeFileSync(scratch, good.subarray(0, 30));
  assert.throws(() => readCheckpoint(scratch), /header is truncated/);

  fs.writeFileSync(scratch, 'model_type: AE\n');
  assert.throws(() => readCheckpoint(scratch), /not an autoencoders checkpoint/);

  const headerLen = good.readUInt32LE(8);
  const header = JSON.parse(good.subarray(12, 12 + headerLen).toString());
  header.format_version = CHECKPOINT_FORMAT_VERSION + 1;
  const newer = Buffer.from(JSON.stringify(header).padEnd(headerLen, ' '));
  assert.equal(newer.length, headerLen);
  fs.writeFileSync(scratch, Buffer.concat([good.subarray(0, 12), newer, good.subarray(12 + headerLen)]));
  assert.throws(() => readCheckpoint(scratch), /format version 2; this version of autoencoders reads up to 1/);
});

test('resume refuses a corrupt last checkpoint, a checkpoint of another model, and folders that are not runs', async () => {
  const data = await smallMnist(128, 64);
  const dir = await finishedRun({ epochs: 1 });
  const last = path.join(dir, 'weights', 'last.ckpt');
  const good = fs.readFileSync(last);
  const bad = Buffer.from(good);
  bad[bad.length - 1]! ^= 1;
  fs.writeFileSync(last, bad);
  await assert.rejects(resume(dir, { data, epochs: 2 }), /damaged/);

  const other = await finishedRun({ latent_dim: 16 });
  fs.copyFileSync(path.join(other, 'weights', 'last.ckpt'), last);
  await assert.rejects(
    resume(dir, { data, epochs: 2 }),
    (e: unknown) => e instanceof UserError && /written for a different model/.test(e.message) && /"latent_dim":16/.test(e.message),
  );

  const notRun = tempDir();
  await assert.rejects(resume(notRun, { data }), /is not a run directory \(no config\.yaml\)/);
  await assert.rejects(resume(path.join(notRun, 'nope'), { data }), /does not exist/);
  fs.writeFileSync(path.join(notRun, 'config.yaml'), 'model_type: AE\n');
  await assert.rejects(resume(notRun, { data }), /has no checkpoint to resume from/);
});

test('temp files left by a killed write are removed when the run is resumed', async () => {
  const data = await smallMnist(128, 64);
  const dir = await finishedRun();
  const stale = path.join(dir, 'weights', 'last.ckpt.tmp-999-deadbeef');
  fs.writeFileSync(stale, 'partial');
  await resume(dir, { data, epochs: 2 });
  assert.ok(!fs.existsSync(stale));
  assert.ok(!listFiles(dir).some((f) => f.includes('.tmp-')));
});
