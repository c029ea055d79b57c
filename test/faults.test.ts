/**
 * Crashes and full disks cost at most the work since the last checkpoint: real training runs of the CLI are
 * killed (SIGKILL) at seeded random moments and in the middle of a checkpoint write, or hit a full disk while
 * writing one; the previous checkpoint must stay loadable and `resume` must finish the run exactly as an
 * uninterrupted run would have.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { readCheckpoint } from '../src/checkpoint/checkpoint.js';
import { Rng } from '../src/util/rng.js';
import { MNIST_DIR, runCli, startCli, tempDir, listFiles } from './helpers.js';

function ae(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}) {
  const r = runCli(args, { cwd, env });
  return { code: r.status, signal: r.signal, out: r.stdout, err: r.stderr };
}

/** 2 epochs of 100 steps on 4,000 images (under a second each): a checkpoint at the end of epoch 1, then epoch 2. */
function setup(): string {
  const dir = tempDir('ae-fault-');
  fs.writeFileSync(
    path.join(dir, 'cfg.yaml'),
    `name: run\nepochs: 2\nbatch_size: 32\nMNIST:\n  path: ${JSON.stringify(MNIST_DIR)}\n  subset: 4000\n`,
  );
  return dir;
}

const lastCkpt = (dir: string) => path.join(dir, 'runs', 'run', 'weights', 'last.ckpt');

/** The loss history and final tensors' checksum of an uninterrupted run, for comparison (computed once). */
let reference: { history: Array<{ epoch: number; train_loss: number; val_loss: number }>; sha: string } | null = null;
function uninterrupted(): NonNullable<typeof reference> {
  if (reference) return reference;
  const dir = setup();
  const r = ae(['train', '--config', 'cfg.yaml'], dir);
  assert.equal(r.code, 0, r.err);
  const ckpt = readCheckpoint(lastCkpt(dir));
  reference = { history: ckpt.header.state.history, sha: ckpt.header.data_sha256 };
  return reference;
}

/** Resumes a crashed run and checks it ends exactly where an uninterrupted run ends, leaving no temp files. */
function resumeAndCompare(dir: string): void {
  const r = ae(['resume', 'runs/run'], dir);
  assert.equal(r.code, 0, r.err);
  const ckpt = readCheckpoint(lastCkpt(dir));
  const history = ckpt.header.state.history;
  assert.deepEqual(
    history.map((h) => h.epoch),
    [1, 2],
  );
  // Bit for bit: the same batches and noise, and Adam's state (moments, step, bias-correction products) restored exactly.
  const ref = uninterrupted();
  assert.deepEqual(
    history.map((h) => [h.train_loss, h.val_loss]),
    ref.history.map((h) => [h.train_loss, h.val_loss]),
  );
  assert.equal(ckpt.header.data_sha256, ref.sha, 'the resumed run ends with exactly the weights of an uninterrupted one');
  assert.ok(!listFiles(dir).some((f) => f.includes('.tmp-')), 'temp files were cleaned up');
}

test('SIGKILL in the middle of a checkpoint write: the previous checkpoint stays loadable and resume completes the run', () => {
  const dir = setup();
  // The second write of last.ckpt is the one at the end of epoch 2; the process dies halfway through it.
  const r = ae(['train', '--config', 'cfg.yaml'], dir, { AE_FAULT_INJECT: 'kill:last.ckpt:2' });
  assert.equal(r.signal, 'SIGKILL');
  assert.ok(
    listFiles(dir).some((f) => f.includes('last.ckpt.tmp-')),
    'the half-written temp file is there, beside the intact checkpoint',
  );
  const ckpt = readCheckpoint(lastCkpt(dir));
  assert.equal(ckpt.header.state.epoch, 1, 'last.ckpt is still the end of epoch 1');
  resumeAndCompare(dir);
});

test('a full disk during a checkpoint write: a clear error, the previous checkpoint intact, no temp file left; resume completes', () => {
  const dir = setup();
  const r = ae(['train', '--config', 'cfg.yaml'], dir, { AE_FAULT_INJECT: 'enospc:last.ckpt:2' });
  assert.equal(r.code, 1);
  assert.match(r.err, /cannot write checkpoint .*last\.ckpt: ENOSPC/);
  assert.match(r.err, /hint: the disk is full; free some space, then resume \(the previous checkpoint is intact\)/);
  assert.doesNotMatch(r.err, /\n\s+at /, 'no stack trace');
  assert.ok(!listFiles(dir).some((f) => f.includes('.tmp-')), 'the failed write removed its temp file');
  assert.equal(readCheckpoint(lastCkpt(dir)).header.state.epoch, 1);
  resumeAndCompare(dir);
});

test('SIGKILL at seeded random moments of epoch 2: resume always continues from the last checkpoint and matches', async () => {
  const rng = new Rng(2026);
  for (let trial = 0; trial < 2; trial++) {
    const dir = setup();
    // A random progress line of epoch 2 (steps 10..90 of 100), then a random few milliseconds: moments defined
    // by the run's own progress, so the test does not depend on how fast this machine trains.
    const atStep = 10 * (1 + Math.floor(rng.uniform() * 9)),
      delay = Math.floor(rng.uniform() * 20);
    const killed = await new Promise<NodeJS.Signals | null>((resolve) => {
      const child = startCli(['train', '--config', 'cfg.yaml'], { cwd: dir });
      let out = '',
        armed = true;
      child.stdout.on('data', (d) => {
        out += d;
        if (armed && out.includes(`epoch 2/2 step ${atStep}/100`)) {
          armed = false;
          setTimeout(() => child.kill('SIGKILL'), delay);
        }
      });
      child.on('close', (_code, signal) => resolve(signal));
    });
    assert.equal(killed, 'SIGKILL', `trial ${trial}: killed ${delay} ms after step ${atStep} of epoch 2`);
    assert.equal(readCheckpoint(lastCkpt(dir)).header.state.epoch, 1, `trial ${trial}`);
    resumeAndCompare(dir);
  }
});
