/**
 * The reference CAE's first steps, ours against PyTorch's, each from its own seeded initialisation, split and batch
 * order (what a user gets), for several seeds: per-step training loss averaged over windows of steps, the first and
 * last BatchNorm layers' running statistics along the way, and the validation loss in inference mode at the end.
 * Answers whether a one-epoch difference between the two is ours or seed spread (issue 16).
 *   npm run bench:early -- --seeds 0,1,2 --steps 300
 * Needs /usr/bin/python3 with torch (Debian's python3-torch) for the PyTorch side; optional, never a dependency.
 */
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { initBackend, type tf } from '../src/backend/index.js';
import { resolveConfig } from '../src/config/load.js';
import { batchTensor, head } from '../src/data/dataset.js';
import { loadMnist } from '../src/data/mnist.js';
import { evaluateLoss } from '../src/models/loss.js';
import { createModel } from '../src/models/registry.js';
import { createOptimizer, trainStep } from '../src/train/trainer.js';
import { deriveSeed, Rng } from '../src/util/rng.js';

const opts = new Command('bench:early')
  .option('--seeds <list>', 'comma-separated seeds', '0,1,2')
  .option('--steps <n>', 'training steps', (v) => Number(v), 300)
  .option('--val <n>', 'validation images for the final inference-mode loss', (v) => Number(v), 2000)
  .option('--mnist <dir>', 'MNIST folder', process.env.AE_TEST_MNIST ?? path.resolve('..', 'shared', 'data', 'mnist'))
  .parse()
  .opts<{ seeds: string; steps: number; val: number; mnist: string }>();
const seeds = opts.seeds.split(',').map(Number);
const STEPS = opts.steps;
const CHECKPOINTS = [1, 10, 50, 100, 300];
const WINDOWS: Array<[number, number]> = [
  [1, 10],
  [11, 50],
  [51, 100],
  [101, 200],
  [201, 300],
].filter(([a]) => a! <= STEPS) as Array<[number, number]>;

interface Curve {
  losses: number[];
  bn: Record<number, number[][]>;
  val: number;
}

async function ours(seed: number): Promise<Curve> {
  const config = resolveConfig({ model_type: 'CAE', seed, MNIST: { path: opts.mnist } });
  const data = await loadMnist(opts.mnist, 0.2, seed);
  const model = createModel(config);
  const optimizer = createOptimizer(config);
  const vars = model.params.trainable();
  const bns = model.params.variables.filter((v) => v.name.endsWith('.running_mean') || v.name.endsWith('.running_var'));
  const firstAndLast = [bns.slice(0, 2), bns.slice(-2)];
  const order = new Rng(deriveSeed(seed, 'shuffle', 0)).permutation(data.train.count);
  const losses: number[] = [];
  const bn: Curve['bn'] = {};
  for (let s = 0; s < STEPS; s++) {
    const x = batchTensor(data.train, order, s * 128, (s + 1) * 128);
    losses.push(trainStep(model, optimizer, vars, x, config, 0, s).total);
    x.dispose();
    if (CHECKPOINTS.includes(s + 1))
      bn[s + 1] = firstAndLast.map((pair) => pair.map((v) => (v.variable.mean() as tf.Scalar).arraySync() as number));
  }
  const val = await evaluateLoss(model, head(data.validation, opts.val), null, 0);
  optimizer.dispose();
  model.params.dispose();
  return { losses, bn, val };
}

function pytorch(seed: number): Curve | null {
  const script = path.join(path.dirname(fileURLToPath(import.meta.url)), 'reference_early.py');
  const r = spawnSync('/usr/bin/python3', [script, opts.mnist, String(seed), String(STEPS), '128', String(opts.val)], {
    encoding: 'utf8',
    env: { ...process.env, OPENBLAS_NUM_THREADS: '1' },
    maxBuffer: 1 << 26,
  });
  if (r.status !== 0) {
    console.log(`PyTorch side failed (needs /usr/bin/python3 with torch): ${r.stderr.trim().split('\n').slice(-2).join(' | ')}`);
    return null;
  }
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Curve;
}

const windowMean = (losses: number[], [a, b]: [number, number]) => {
  const part = losses.slice(a - 1, b);
  return part.reduce((s, v) => s + v, 0) / part.length;
};

await initBackend('wasm');
console.log(`machine: ${os.cpus().length} cores, Node ${process.version}; reference CAE, batch 128, Adam 1e-3, full MNIST 48k/12k split`);
const rows: Array<{ who: string; seed: number; curve: Curve }> = [];
for (const seed of seeds) {
  rows.push({ who: 'ours', seed, curve: await ours(seed) });
  const theirs = pytorch(seed);
  if (theirs) rows.push({ who: 'PyTorch', seed, curve: theirs });
  console.log(`seed ${seed} done`);
}
console.log('');
console.log(`| run | seed | ${WINDOWS.map(([a, b]) => `steps ${a}-${b}`).join(' | ')} | val MSE after ${STEPS} |`);
console.log(`| --- | ---: | ${WINDOWS.map(() => '---:').join(' | ')} | ---: |`);
for (const { who, seed, curve } of rows) {
  console.log(`| ${who} | ${seed} | ${WINDOWS.map((w) => windowMean(curve.losses, w).toFixed(5)).join(' | ')} | ${curve.val.toFixed(6)} |`);
}
for (const who of ['ours', 'PyTorch']) {
  const mine = rows.filter((r) => r.who === who);
  if (mine.length === 0) continue;
  const mean = (f: (c: Curve) => number) => mine.reduce((s, r) => s + f(r.curve), 0) / mine.length;
  console.log(
    `| ${who}, mean | | ${WINDOWS.map((w) => mean((c) => windowMean(c.losses, w)).toFixed(5)).join(' | ')} | ${mean((c) => c.val).toFixed(6)} |`,
  );
}
console.log('\nBatchNorm running statistics (mean over channels of running_mean / running_var), first and last BN layer:');
for (const { who, seed, curve } of rows) {
  const cells = Object.entries(curve.bn).map(
    ([step, [first, last]]) => `step ${step}: ${first!.map((v) => v.toFixed(3)).join('/')} | ${last!.map((v) => v.toFixed(3)).join('/')}`,
  );
  console.log(`  ${who} seed ${seed}: ${cells.join('; ')}`);
}
