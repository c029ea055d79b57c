import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { LOCK_FILE, acquireRunLock, readRunLock, STALE_AFTER_MS } from '../src/checkpoint/run-lock.js';
import { resolveConfig } from '../src/config/load.js';
import { UserError } from '../src/errors.js';
import { train } from '../src/train/trainer.js';
import { MNIST_DIR, runCli, smallMnist, startCli, tempDir } from './helpers.js';

/** The pid of a process that has exited (so no process runs under it). */
function deadPid(): number {
  return spawnSync(process.execPath, ['-e', '0']).pid!;
}

function writeLock(dir: string, info: Record<string, unknown>): void {
  fs.writeFileSync(path.join(dir, LOCK_FILE), JSON.stringify({ command: 'ae resume', started: new Date().toISOString(), ...info }));
}

test('run lock: a dead holder, a silent foreign holder and a damaged lock are taken over; a live one is refused', () => {
  const dir = tempDir('ae-lock-');
  const said: string[] = [];
  // A process of this host that no longer runs.
  const dead = deadPid();
  writeLock(dir, { pid: dead, host: os.hostname(), heartbeat: new Date().toISOString() });
  assert.deepEqual(readRunLock(dir), {
    held: false,
    info: JSON.parse(fs.readFileSync(path.join(dir, LOCK_FILE), 'utf8')),
    why: `process ${dead} is no longer running`,
  });
  let lock = acquireRunLock(dir, 'ae resume', (t) => said.push(t));
  assert.match(
    said.pop()!,
    new RegExp(`took over the lock .* from ae resume \\(pid ${dead} on .*\\): process ${dead} is no longer running`),
  );
  const held = readRunLock(dir);
  assert.ok(held.held && held.info.pid === process.pid, 'the lock is ours now');
  // While we hold it, another taker (this very process, as a library user might) is refused, naming us.
  assert.throws(
    () => acquireRunLock(dir, 'ae train'),
    (e: unknown) =>
      e instanceof UserError &&
      new RegExp(`being written by another process: ae resume \\(pid ${process.pid} on `).test(e.message) &&
      /kill/.test(e.hint ?? ''),
  );
  lock.release();
  assert.ok(!fs.existsSync(path.join(dir, LOCK_FILE)), 'released: the file is gone');

  // Another host: alive while its heartbeat is recent, abandoned after STALE_AFTER_MS of silence.
  writeLock(dir, { pid: 1, host: 'elsewhere', heartbeat: new Date(Date.now() - 5_000).toISOString() });
  assert.throws(() => acquireRunLock(dir, 'ae resume'), /pid 1 on elsewhere/);
  writeLock(dir, { pid: 1, host: 'elsewhere', heartbeat: new Date(Date.now() - STALE_AFTER_MS - 1_000).toISOString() });
  lock = acquireRunLock(dir, 'ae resume', (t) => said.push(t));
  assert.match(said.pop()!, /from ae resume \(pid 1 on elsewhere\): no heartbeat from elsewhere for 6\d s/);
  lock.release();

  // A lock file cut short by a crash holds no valid holder.
  fs.writeFileSync(path.join(dir, LOCK_FILE), '{"pid": 12');
  lock = acquireRunLock(dir, 'ae resume', (t) => said.push(t));
  assert.match(said.pop()!, /from an unreadable lock file/);
  lock.release();
});

test('one writer per run: a second ae resume is refused naming the first; a SIGKILLed writer leaves a lock the next one takes over', async () => {
  const config = resolveConfig({
    project: tempDir('ae-lock-run-'),
    name: 'run',
    epochs: 1,
    batch_size: 32,
    MNIST: { path: MNIST_DIR, subset: 2000 },
  });
  await train(config, { data: await smallMnist(256, 64) });
  const dir = path.join(config.project, config.name);
  const lockFile = path.join(dir, LOCK_FILE);
  // A long resume (1,600 training images, up to 500 epochs): it holds the lock while we try a second one.
  const first = startCli(['resume', dir, '--epochs', '500']);
  let firstOut = '';
  first.stdout.on('data', (d) => {
    firstOut += d;
  });
  const waitFor = async (what: () => boolean, label: string) => {
    for (let i = 0; i < 300 && !what(); i++) await new Promise((r) => setTimeout(r, 100));
    assert.ok(what(), `timed out waiting for ${label}`);
  };
  await waitFor(() => /epoch 3\//.test(firstOut), 'the first resume to train');
  assert.equal(JSON.parse(fs.readFileSync(lockFile, 'utf8')).pid, first.pid);
  const historyBefore = fs.readFileSync(path.join(dir, 'history.jsonl'), 'utf8');
  const second = runCli(['resume', dir, '--epochs', '500']);
  assert.equal(second.status, 1);
  assert.match(second.stderr, new RegExp(`is being written by another process: ae resume \\(pid ${first.pid} on ${os.hostname()}`));
  assert.match(second.stderr, /hint: wait for it to finish or stop it/);
  assert.ok(fs.readFileSync(path.join(dir, 'history.jsonl'), 'utf8').startsWith(historyBefore), 'the refused resume wrote nothing');
  // progress.json says where the live writer stands.
  const progress = JSON.parse(fs.readFileSync(path.join(dir, 'progress.json'), 'utf8'));
  assert.equal(progress.pid, first.pid);
  assert.equal(progress.epochs, 500);

  first.kill('SIGKILL');
  await new Promise((r) => first.on('close', r));
  assert.ok(fs.existsSync(lockFile), 'a killed writer cannot remove its lock');
  assert.equal(readRunLock(dir).held, false);
  const third = startCli(['resume', dir, '--epochs', '500']);
  let thirdOut = '';
  third.stdout.on('data', (d) => {
    thirdOut += d;
  });
  await waitFor(() => /took over the lock/.test(thirdOut) && /epoch \d+\/500/.test(thirdOut.split('took over')[1] ?? ''), 'the take-over');
  assert.match(
    thirdOut,
    new RegExp(`took over the lock of .* from ae resume \\(pid ${first.pid} on .*\\): process ${first.pid} is no longer running`),
  );
  third.kill('SIGINT');
  const code = await new Promise((r) => third.on('close', r));
  assert.equal(code, 130);
  assert.ok(!fs.existsSync(lockFile), 'a writer stopped by Ctrl-C releases its lock');
});
