/**
 * The scale-out scripts measured (scale/ddp_train.py, scale/score_dask.py): samples/s of PyTorch DDP with 1 and 2
 * processes from our exports (AE and CAE), against one process with 1 and 2 threads, and images/s of Dask scoring
 * with 1 and 2 workers against `ae score` on the same folder. Prints a table and one JSON line.
 *   npm run bench:scale [-- --images 4000 --ae-steps 400 --cae-steps 40]
 * Needs /usr/bin/python3 with torch, dask, distributed, PIL (Debian's packages; optional, never dependencies).
 */
import fs from 'node:fs';
import { cpuDescription } from './machine.js';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import sharp from 'sharp';
import { initBackend } from '../src/backend/index.js';
import { resolveConfig } from '../src/config/load.js';
import { head } from '../src/data/dataset.js';
import { loadMnist } from '../src/data/mnist.js';
import { exportSafetensors } from '../src/exchange/index.js';
import { train } from '../src/train/trainer.js';
import { score } from '../src/use/score.js';

const count = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`expected a positive integer, got ${v}`);
  return n;
};
const opts = new Command('bench:scale')
  .option('--images <n>', 'PNG images scored by Dask and ae score', count, 4000)
  .option('--ae-steps <n>', 'DDP steps of the AE (batch 128)', count, 400)
  .option('--cae-steps <n>', 'DDP steps of the CAE (batch 64)', count, 40)
  .option('--mnist <dir>', 'MNIST folder', process.env.AE_TEST_MNIST ?? path.resolve('..', 'shared', 'data', 'mnist'))
  .parse()
  .opts<{ images: number; aeSteps: number; caeSteps: number; mnist: string }>();

const scale = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'scale');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'ae-bench-scale-'));
const python = (script: string, args: string[]) => {
  const r = spawnSync('/usr/bin/python3', [path.join(scale, script), ...args], {
    encoding: 'utf8',
    cwd: work,
    // The scripts set each process's BLAS threads from --threads (Debian's torch multiplies through OpenBLAS).
    env: { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'OPENBLAS_NUM_THREADS')), PYTHONWARNINGS: 'ignore' },
  });
  if (r.status !== 0) throw new Error(`${script} failed: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, number>;
};

try {
  await initBackend('wasm');
  console.log(
    `machine: ${os.cpus().length} cores (${cpuDescription()}), Node ${process.version}; ${new Date().toISOString().slice(0, 10)}`,
  );
  const all = await loadMnist(opts.mnist, 0.2, 0);
  const rows: string[] = [];
  const result: Record<string, unknown> = {};
  for (const [kind, steps, batch] of [
    ['AE', opts.aeSteps, 128],
    ['CAE', opts.caeSteps, 64],
  ] as const) {
    const config = resolveConfig({
      project: work,
      name: kind.toLowerCase(),
      model_type: kind,
      epochs: 1,
      batch_size: batch,
      MNIST: { path: opts.mnist },
    });
    const data = {
      train: head(all.train, 512),
      validation: head(all.validation, 128),
      test: head(all.test, 128),
      classNames: all.classNames,
    };
    await train(config, { data });
    const file = (await exportSafetensors(path.join(work, config.name), { out: path.join(work, `export-${kind}`) })).files.find((f) =>
      f.endsWith('.safetensors'),
    )!;
    const common = [file, '--steps', String(steps), '--batch-size', String(batch), '--subset', '20000', '--mnist', opts.mnist];
    const runs = {
      '1 process, 1 thread': python('ddp_train.py', [...common, '--procs', '1', '--threads', '1', '--out', 'a.safetensors']),
      '1 process, 2 threads': python('ddp_train.py', [...common, '--procs', '1', '--threads', '2', '--out', 'b.safetensors']),
      '2 processes (DDP, gloo), 1 thread each': python('ddp_train.py', [
        ...common,
        '--procs',
        '2',
        '--threads',
        '1',
        '--out',
        'c.safetensors',
      ]),
    };
    const base = runs['1 process, 1 thread'].samples_per_second!;
    for (const [what, r] of Object.entries(runs)) {
      rows.push(
        `| ${kind} training, ${what} | ${r.samples_per_second!.toFixed(0)} samples/s | ${(r.samples_per_second! / base).toFixed(2)}x |`,
      );
    }
    result[kind] = Object.fromEntries(Object.entries(runs).map(([k, r]) => [k, r.samples_per_second]));
  }
  // Scoring: real digits as 28 x 28 PNGs in one folder, scored by the AE export.
  const images = path.join(work, 'digits');
  fs.mkdirSync(images);
  const test = head(all.test, opts.images);
  for (let i = 0; i < opts.images; i++) {
    const px = Buffer.from(Uint8Array.from(test.images!.subarray(i * 784, (i + 1) * 784), (v) => Math.round(v * 255)));
    await sharp(px, { raw: { width: 28, height: 28, channels: 1 } })
      .png()
      .toFile(path.join(images, `${String(i).padStart(6, '0')}.png`));
  }
  const runDir = path.join(work, 'ae');
  // The first call also scores the run's training images for the threshold (stored); the second is timed.
  await score(runDir, { input: [images], outDir: path.join(work, 'ours') });
  const t0 = performance.now();
  await score(runDir, { input: [images], outDir: path.join(work, 'ours'), force: true });
  const ours = opts.images / ((performance.now() - t0) / 1000);
  rows.push(`| scoring, ae score (1 process, decoding and writing included) | ${ours.toFixed(0)} images/s | 1.00x |`);
  const file = path.join(work, 'export-AE', 'model.safetensors');
  const dask: Record<string, number> = {};
  for (const workers of [1, 2]) {
    const r = python('score_dask.py', [
      file,
      images,
      '--out',
      `dask-${workers}`,
      '--run',
      runDir,
      '--workers',
      String(workers),
      '--partition-size',
      '500',
    ]);
    dask[workers] = r.images_per_second!;
    rows.push(
      `| scoring, Dask LocalCluster, ${workers} worker${workers > 1 ? 's' : ''} | ${r.images_per_second!.toFixed(0)} images/s | ${(r.images_per_second! / ours).toFixed(2)}x |`,
    );
  }
  result.scoring = { ae_score: ours, dask };
  console.log('\n| what | speed | vs the first row of its group |\n| --- | ---: | ---: |');
  for (const r of rows) console.log(r);
  console.log(JSON.stringify(result));
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}
