/**
 * Parity with PyTorch: the same model, the same initial weights (ours, exported), the same batches, trained side
 * by side; prints both loss curves and their largest relative difference. Dropout is 0 so both runs are
 * deterministic and comparable step by step.
 *   npm run bench:parity -- --model AE  --steps 300 --batch 128
 *   npm run bench:parity -- --model CAE --steps 100 --batch 16
 * Needs /usr/bin/python3 with torch (Debian's python3-torch; optional, never a dependency).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Command, Option } from 'commander';
import { initBackend } from '../src/backend/index.js';
import { resolveConfig } from '../src/config/load.js';
import { createModel } from '../src/models/registry.js';
import { createOptimizer, trainStep } from '../src/train/trainer.js';
import { evaluateLoss } from '../src/models/loss.js';
import { parseIdxImages } from '../src/data/idx.js';
import { batchTensor, type ImageSet } from '../src/data/dataset.js';
import { MNIST_FILES } from '../src/data/mnist.js';

const count = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`expected a positive integer, got ${v}`);
  return n;
};
const opts = new Command('bench:parity')
  .description("our training against PyTorch's from the same initial weights and batches, loss curve by loss curve")
  .addOption(new Option('--model <type>', 'AE or CAE').choices(['AE', 'CAE']).default('AE'))
  .option('--steps <n>', 'training steps (default: AE 300, CAE 100)', count)
  .option('--batch <n>', 'batch size (default: AE 128, CAE 16)', count)
  .option('--every <n>', 'validate every N steps (default: steps / 5)', count)
  .option('--val <n>', 'validation images (default: AE 2000, CAE 256)', count)
  .option('--seed <n>', 'seed of our initial weights (default 0)', (v) => Number(v))
  .option('--json <file>', 'also write both per-step loss curves (and the initial weight statistics) to this JSON file')
  .option('--mnist <dir>', 'MNIST folder', process.env.AE_TEST_MNIST ?? path.resolve('..', 'shared', 'data', 'mnist'))
  .parse()
  .opts<{
    model: 'AE' | 'CAE';
    steps?: number;
    batch?: number;
    every?: number;
    val?: number;
    mnist: string;
    seed?: number;
    json?: string;
  }>();
const kind = opts.model;
const steps = opts.steps ?? (kind === 'AE' ? 300 : 100);
const batch = opts.batch ?? (kind === 'AE' ? 128 : 16);
const every = opts.every ?? Math.max(1, Math.floor(steps / 5));
const nVal = opts.val ?? (kind === 'AE' ? 2000 : 256);
const mnistDir = opts.mnist;

/** Training images in file order: [0, steps*batch) for training, the next nVal for validation. */
function fileOrderSets(): { train: ImageSet; val: ImageSet } {
  const file = path.join(mnistDir, MNIST_FILES.trainImages.name);
  const img = parseIdxImages(fs.readFileSync(file), file);
  const make = (from: number, count: number): ImageSet => ({
    images: img.images.subarray(from * 784, (from + count) * 784),
    labels: new Uint8Array(count),
    count,
    height: 28,
    width: 28,
    channels: 1,
  });
  const nTrain = steps * batch;
  return { train: make(0, nTrain), val: make(nTrain, nVal) };
}

await initBackend('wasm');
const config = resolveConfig({ model_type: kind, dropout: 0, batch_size: batch, seed: opts.seed ?? 0 });
const model = createModel(config);
const optimizer = createOptimizer(config);
const varList = model.params.trainable();
const { train, val } = fileOrderSets();

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ae-parity-'));
fs.writeFileSync(
  path.join(dir, 'weights.json'),
  JSON.stringify(model.params.variables.map((v) => ({ name: v.name, shape: v.variable.shape }))),
);
fs.writeFileSync(
  path.join(dir, 'weights.bin'),
  Buffer.concat(model.params.variables.map((v) => Buffer.from((v.variable.dataSync() as Float32Array).buffer))),
);

const ours: Array<{ step: number; train: number; val?: number }> = [];
const t0 = performance.now();
for (let s = 0; s < steps; s++) {
  const x = batchTensor(train, null, s * batch, (s + 1) * batch);
  const loss = trainStep(model, optimizer, varList, x, config, 0, s).total;
  x.dispose();
  const row: { step: number; train: number; val?: number } = { step: s + 1, train: loss };
  if ((s + 1) % every === 0 || s === steps - 1) row.val = await evaluateLoss(model, val, null, 0);
  ours.push(row);
}
const oursSeconds = (performance.now() - t0) / 1000;

const script = path.join(path.dirname(fileURLToPath(import.meta.url)), 'reference_parity.py');
const r = spawnSync('/usr/bin/python3', [script, kind, dir, mnistDir, String(steps), String(batch), String(every), String(nVal)], {
  encoding: 'utf8',
  env: { ...process.env, OPENBLAS_NUM_THREADS: '1' },
  maxBuffer: 1 << 26,
});
fs.rmSync(dir, { recursive: true, force: true });
if (r.status !== 0) {
  console.log(`PyTorch side failed (needs /usr/bin/python3 with torch): ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  process.exit(1);
}
const theirs = JSON.parse(r.stdout.trim().split('\n').pop()!) as Array<{ step: number; train: number; val?: number }>;

console.log(
  `${kind}, batch ${batch}, ${steps} steps on MNIST training images in file order, same initial weights, dropout 0 (ours: ${oursSeconds.toFixed(0)} s)`,
);
console.log('| step | ours train | PyTorch train | ours val (inference mode) | PyTorch val |');
console.log('| ---: | ---: | ---: | ---: | ---: |');
let worstTrain = 0,
  worstVal = 0;
ours.forEach((o, i) => {
  const p = theirs[i]!;
  worstTrain = Math.max(worstTrain, Math.abs(o.train - p.train) / p.train);
  if (o.val !== undefined) {
    worstVal = Math.max(worstVal, Math.abs(o.val - p.val!) / p.val!);
    console.log(`| ${o.step} | ${o.train.toFixed(5)} | ${p.train.toFixed(5)} | ${o.val.toFixed(5)} | ${p.val!.toFixed(5)} |`);
  }
});
if (opts.json) fs.writeFileSync(opts.json, JSON.stringify({ kind, batch, steps, seed: opts.seed ?? 0, ours, theirs }));
console.log(`largest relative difference: train loss ${(worstTrain * 100).toFixed(2)} %, validation loss ${(worstVal * 100).toFixed(2)} %`);
