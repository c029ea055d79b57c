/**
 * npm run bench:soak -- [--kills 50] [--disk-full 20] [--memory-epochs 200] [--seed 1]
 *
 * A soak of the promise that a crash costs only the work since the last checkpoint and that resuming is exact:
 *   kills      one run of many short epochs (the real CLI) is SIGKILLed at seeded random moments while it trains
 *              (mid-step, mid-validation, mid-checkpoint write), resumed, killed again, ... until it finishes; its
 *              weights and loss history must equal an uninterrupted run's of the same seed, bit for bit.
 *   disk-full  the same with a full disk (ENOSPC) injected at a random checkpoint write of each life
 *              (AE_FAULT_INJECT, the atomic writer's test hook): each life ends with a clear error, then resumes.
 *   memory     the AE trained for 200 epochs in one process: RSS at every epoch's end, flat from epoch 10 on.
 * Prints each part's figures; exits 1 when a run does not match or memory grows.
 */
import { spawn } from 'node:child_process';
import { cpuDescription } from './machine.js';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { readCheckpoint } from '../src/checkpoint/checkpoint.js';
import { resolveConfig } from '../src/config/load.js';
import { loadMnist } from '../src/data/mnist.js';
import { head } from '../src/data/dataset.js';
import { train } from '../src/train/trainer.js';
import { Rng } from '../src/util/rng.js';

const { values } = parseArgs({
  options: {
    kills: { type: 'string', default: '50' },
    'disk-full': { type: 'string', default: '20' },
    'memory-epochs': { type: 'string', default: '200' },
    seed: { type: 'string', default: '1' },
    parts: { type: 'string', default: 'kills,disk-full,memory' },
    mnist: { type: 'string', default: process.env.AE_TEST_MNIST ?? path.resolve('..', 'shared', 'data', 'mnist') },
  },
});
const CLI = path.resolve('dist', 'cli.js');
if (!fs.existsSync(CLI)) throw new Error('dist/cli.js is missing: run `npm run build` first');
const EPOCHS = 100;
const rng = new Rng(Number(values.seed));

/** 100 epochs of 25 steps (1,000 images, batch 32): a checkpoint about every tenth of a second of training. */
function project(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ae-soak-'));
  fs.writeFileSync(
    path.join(dir, 'cfg.yaml'),
    `name: run\nepochs: ${EPOCHS}\nbatch_size: 32\nseed: 5\nMNIST:\n  path: ${JSON.stringify(values.mnist)}\n  subset: 1000\n`,
  );
  return dir;
}

interface Life {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

/** Runs `ae ARGS`; `killWhen` (polled every 10 ms) returns true when the process should get SIGKILL. */
function life(dir: string, args: string[], env: NodeJS.ProcessEnv, killWhen: (() => boolean) | null): Promise<Life> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: dir, env: { ...process.env, CI: '1', ...env } });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.resume();
    const poll = killWhen
      ? setInterval(() => {
          if (killWhen()) child.kill('SIGKILL');
        }, 10)
      : null;
    child.on('close', (code, signal) => {
      if (poll) clearInterval(poll);
      resolve({ code, signal, stderr });
    });
  });
}

const ckptFile = (dir: string) => path.join(dir, 'runs', 'run', 'weights', 'last.ckpt');
const mtime = (f: string) => (fs.existsSync(f) ? fs.statSync(f).mtimeMs : 0);

function outcome(dir: string): { sha: string; losses: number[][]; epochs: number } {
  const ckpt = readCheckpoint(ckptFile(dir));
  return {
    sha: ckpt.header.data_sha256,
    losses: ckpt.header.state.history.map((h) => [h.train_loss, h.val_loss]),
    epochs: ckpt.header.state.history.length,
  };
}

function same(a: ReturnType<typeof outcome>, b: ReturnType<typeof outcome>): boolean {
  return a.sha === b.sha && JSON.stringify(a.losses) === JSON.stringify(b.losses);
}

console.log(`machine: ${os.cpus().length} cores (${cpuDescription()}), Node ${process.version}; seed ${values.seed}`);
let failed = false;

// The uninterrupted reference (timed, so the kills can be spread over a life's training), made when first needed.
let referenceRun: { result: ReturnType<typeof outcome>; seconds: number } | null = null;
async function uninterrupted(): Promise<{ result: ReturnType<typeof outcome>; seconds: number }> {
  if (referenceRun) return referenceRun;
  const dir = project();
  const t0 = performance.now();
  const ref = await life(dir, ['train', '--config', 'cfg.yaml'], {}, null);
  if (ref.code !== 0) throw new Error(`the reference run failed: ${ref.stderr}`);
  referenceRun = { result: outcome(dir), seconds: (performance.now() - t0) / 1000 };
  fs.rmSync(dir, { recursive: true, force: true });
  console.log(`reference: ${EPOCHS} epochs uninterrupted in ${referenceRun.seconds.toFixed(1)} s`);
  return referenceRun;
}

/**
 * Kills: the first life runs until its first checkpoint exists (before that there is nothing to resume); every
 * life is then killed at a random moment within about two epochs of its training having started (a write of
 * progress.json after the spawn), so kills land in steps, validation and checkpoint writes alike.
 */
async function killSoak(target: number): Promise<void> {
  const { result: reference, seconds: refSeconds } = await uninterrupted();
  const dir = project();
  const epochMs = (refSeconds * 1000) / EPOCHS;
  let kills = 0,
    lives = 0;
  const started = performance.now();
  for (;;) {
    const first = lives === 0;
    const spawned = Date.now();
    const delay = rng.uniform() * 2 * epochMs;
    let armedAt = 0;
    const progress = path.join(dir, 'runs', 'run', 'progress.json');
    const killWhen =
      kills < target
        ? () => {
            if (!armedAt && (first ? mtime(ckptFile(dir)) > spawned : mtime(progress) > spawned)) armedAt = Date.now();
            return armedAt > 0 && Date.now() - armedAt >= delay;
          }
        : null;
    const r = await life(dir, first ? ['train', '--config', 'cfg.yaml'] : ['resume', 'runs/run'], {}, killWhen);
    lives++;
    if (r.signal === 'SIGKILL') {
      kills++;
      continue;
    }
    if (r.code !== 0) throw new Error(`life ${lives} failed: ${r.stderr}`);
    break;
  }
  const got = outcome(dir);
  const ok = same(got, reference);
  failed ||= !ok;
  const leftovers = listAll(dir).filter((f) => f.includes('.tmp-'));
  fs.rmSync(dir, { recursive: true, force: true });
  console.log(
    `kills: ${kills} SIGKILLs over ${lives} lives in ${((performance.now() - started) / 1000).toFixed(0)} s; ${got.epochs} epochs; weights ${got.sha === reference.sha ? 'identical' : 'DIFFERENT'}, history ${JSON.stringify(got.losses) === JSON.stringify(reference.losses) ? 'identical' : 'DIFFERENT'}; temp files left: ${leftovers.length}`,
  );
}

/** Disk full: each life's n-th checkpoint write (n = 1..3, seeded) fails with ENOSPC; the next life resumes. */
async function diskFullSoak(target: number): Promise<void> {
  const { result: reference } = await uninterrupted();
  const dir = project();
  let faults = 0,
    lives = 0;
  const messages = new Set<string>();
  for (;;) {
    const first = lives === 0;
    // The first life's first write must succeed: before a checkpoint exists there is nothing to resume.
    const env = faults < target ? { AE_FAULT_INJECT: `enospc:last.ckpt:${(first ? 2 : 1) + rng.int(first ? 2 : 3)}` } : {};
    const r = await life(dir, first ? ['train', '--config', 'cfg.yaml'] : ['resume', 'runs/run'], env, null);
    lives++;
    if (r.code === 0) break;
    if (!/disk is full/.test(r.stderr)) throw new Error(`life ${lives} failed without the disk-full message: ${r.stderr}`);
    messages.add(r.stderr.split('\n')[0]!.replace(/\d+/g, 'N'));
    faults++;
    if (first && !fs.existsSync(ckptFile(dir))) throw new Error('a disk-full first life left no checkpoint to resume');
  }
  const got = outcome(dir);
  const ok = same(got, reference);
  failed ||= !ok;
  fs.rmSync(dir, { recursive: true, force: true });
  console.log(
    `disk-full: ${faults} ENOSPC failures over ${lives} lives; weights ${got.sha === reference.sha ? 'identical' : 'DIFFERENT'}, history ${JSON.stringify(got.losses) === JSON.stringify(reference.losses) ? 'identical' : 'DIFFERENT'}; messages: ${[...messages].join(' | ')}`,
  );
}

/** Memory: the AE for many epochs in this process; RSS at each epoch's end. */
async function memorySoak(epochs: number): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ae-soak-mem-'));
  const all = await loadMnist(values.mnist, 0.2, 1);
  const data = {
    train: head(all.train, 2048),
    validation: head(all.validation, 512),
    test: head(all.test, 512),
    classNames: all.classNames,
  };
  const config = resolveConfig({ project: dir, name: 'memory', epochs, batch_size: 128, MNIST: { path: values.mnist } });
  const rss: number[] = [],
    heap: number[] = [];
  const started = performance.now();
  await train(config, {
    data,
    onEvent: (e) => {
      if (e.type !== 'epoch-end') return;
      // With --expose-gc (the npm script passes it) garbage is collected first, so what is left is what is held.
      (globalThis as { gc?: () => void }).gc?.();
      const m = process.memoryUsage();
      rss.push(m.rss / 2 ** 20);
      heap.push((m.heapUsed + m.arrayBuffers) / 2 ** 20);
    },
  });
  const at = (v: number[], epoch: number) => v[Math.min(v.length, epoch) - 1]!;
  const mean = (v: number[]) => v.reduce((s, x) => s + x, 0) / v.length;
  const late = rss.slice(Math.floor(rss.length / 2));
  const quarter = Math.max(1, Math.floor(late.length / 4));
  // Flat: what the process holds (JS heap and array buffers, after a collection) within 4 MB of epoch 10's at the
  // end, and no steady rise of RSS across the second half (RSS also moves with the allocator's free pages).
  const held = at(heap, heap.length) - at(heap, 10);
  const trend = mean(late.slice(-quarter)) - mean(late.slice(0, quarter));
  const flat = held < 4 && trend < 8;
  failed ||= !flat;
  const mb = (v: number) => `${v >= 0 ? '+' : ''}${v.toFixed(1)} MB`;
  console.log(
    `memory: ${rss.length} AE epochs (2,048 images each) in ${((performance.now() - started) / 1000).toFixed(0)} s; RSS at epoch 1 ${rss[0]!.toFixed(0)} MB, 10 ${at(rss, 10).toFixed(0)}, 50 ${at(rss, 50).toFixed(0)}, 100 ${at(rss, 100).toFixed(0)}, ${rss.length} ${at(rss, rss.length).toFixed(0)}; JS heap + buffers ${mb(held)} from epoch 10 to ${rss.length}, RSS trend across the second half ${mb(trend)}: ${flat ? 'flat' : 'GROWING'}`,
  );
  fs.rmSync(dir, { recursive: true, force: true });
}

function listAll(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true, withFileTypes: true }).map((e) => path.join(e.parentPath, e.name));
}

const parts = new Set(values.parts.split(','));
if (parts.has('kills')) await killSoak(Number(values.kills));
if (parts.has('disk-full')) await diskFullSoak(Number(values['disk-full']));
if (parts.has('memory')) await memorySoak(Number(values['memory-epochs']));
process.exitCode = failed ? 1 : 0;
