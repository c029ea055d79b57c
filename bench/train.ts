/**
 * Training and inference speed of every model type (samples/s), ours and, when /usr/bin/python3 has torch,
 * PyTorch's on the same models in the same run (scale/models.py holds the new model types), with ratios against
 * the faster of PyTorch under the machine's OpenBLAS settings and with OpenBLAS picking its own kernels.
 *   npm run bench:train                    all models, PyTorch reference if available
 *   npm run bench:train -- --models AE     one model
 *   npm run bench:train -- --no-reference skip PyTorch
 * It also prints where a training step's time goes: the 10 kernels with the largest share (exclusive time: our
 * patched kernels call other kernels, whose time is counted once, under its own name; the native Adam step,
 * which is not a tfjs kernel, is one entry), peak RSS and threads.
 */
import os from 'node:os';
import { cpuDescription } from './machine.js';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { openblasEnv, openblasSgemm } from './openblas.js';
import { Command, Option } from 'commander';
import { countFlops, nativeBuilt, nativeFile } from '../src/accel/index.js';
import { tf, initBackend } from '../src/backend/index.js';
import { resolveConfig } from '../src/config/load.js';
import { createModel, type ModelKind, reconstruct } from '../src/models/registry.js';
import { createOptimizer, trainStep } from '../src/train/trainer.js';
import { FusedAdamOptimizer } from '../src/train/adam.js';

const MODEL_TYPES: ModelKind[] = ['AE', 'CAE', 'BottleneckCAE', 'VAE', 'ConvVAE'];
const cli = new Command('bench:train')
  .description("training and inference samples/s of our models, and PyTorch's on the same CPU when available")
  .addOption(
    new Option('--models <list>', `comma-separated models (${MODEL_TYPES.join(', ')})`).default(MODEL_TYPES.join(',')).argParser((v) => {
      const list = v.split(',');
      for (const m of list)
        if (!MODEL_TYPES.includes(m as ModelKind)) throw new Error(`--models: ${m} is not one of ${MODEL_TYPES.join(', ')}`);
      return list;
    }),
  )
  .option('--no-reference', 'skip the PyTorch reference')
  .parse();
const opts = cli.opts<{ models: string | string[]; reference: boolean }>();
const models = (typeof opts.models === 'string' ? opts.models.split(',') : opts.models) as ModelKind[];
const withReference = opts.reference;
const TRAIN_BATCH = 128;
const INFER_BATCH = 1000;

/** Repeats `fn` after `warmup` calls until `minSeconds` have passed (and at least `minReps` times); samples/s. */
function measure(fn: () => void, samplesPerCall: number, warmup: number, minSeconds: number, minReps: number): number {
  for (let i = 0; i < warmup; i++) fn();
  let reps = 0;
  const t0 = performance.now();
  while (reps < minReps || performance.now() - t0 < minSeconds * 1000) {
    fn();
    reps++;
  }
  return (reps * samplesPerCall) / ((performance.now() - t0) / 1000);
}

interface Row {
  model: string;
  train: number;
  infer: number;
  rssMB: number;
  /** Operations of the native matrix kernels per training sample (0 without them). */
  flopsPerSample: number;
}

/**
 * Wraps every wasm kernel with a timer. The wasm backend runs kernels synchronously, so wall time around the
 * kernel function is the kernel's time; a stack subtracts nested kernels from their caller.
 */
function instrumentKernels(): { reset(): void; exclusiveMs(): Map<string, number> } {
  const exclusive = new Map<string, number>();
  const childTime: number[] = [];
  for (const kernel of tf.getKernelsForBackend('wasm')) {
    const inner = kernel.kernelFunc;
    tf.unregisterKernel(kernel.kernelName, 'wasm');
    tf.registerKernel({
      ...kernel,
      kernelFunc: (args) => {
        childTime.push(0);
        const t0 = performance.now();
        const out = inner(args);
        const total = performance.now() - t0;
        const nested = childTime.pop()!;
        exclusive.set(kernel.kernelName, (exclusive.get(kernel.kernelName) ?? 0) + total - nested);
        if (childTime.length > 0) childTime[childTime.length - 1]! += total;
        return out;
      },
    });
  }
  // The optimizer step is not a tfjs kernel when it runs natively (FusedAdamOptimizer): time it as one entry,
  // minus any kernels it ran (its tfjs fallback).
  const applyGradients = FusedAdamOptimizer.prototype.applyGradients;
  FusedAdamOptimizer.prototype.applyGradients = function (this: FusedAdamOptimizer, grads) {
    childTime.push(0);
    const t0 = performance.now();
    applyGradients.call(this, grads);
    const total = performance.now() - t0;
    exclusive.set('Adam step (optimizer)', (exclusive.get('Adam step (optimizer)') ?? 0) + total - childTime.pop()!);
  };
  return { reset: () => exclusive.clear(), exclusiveMs: () => exclusive };
}
let kernelTimer: ReturnType<typeof instrumentKernels>;

/** Runs `steps` training steps with the kernel timer and prints the top 10 kernels' share of the step time. */
function profileSteps(label: string, step: () => void, steps: number): void {
  step();
  kernelTimer.reset();
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) step();
  const totalMs = performance.now() - t0;
  const kernels = [...kernelTimer.exclusiveMs()].sort((a, b) => b[1] - a[1]);
  const inKernels = kernels.reduce((sum, [, ms]) => sum + ms, 0);
  console.log(
    `  ${label}: ${(totalMs / steps).toFixed(1)} ms per step; kernels and the optimizer step ${((100 * inKernels) / totalMs).toFixed(0)}%, the rest (JS: dispatch, autodiff tape, dropout masks, batch handling) ${(100 - (100 * inKernels) / totalMs).toFixed(0)}%`,
  );
  for (const [name, ms] of kernels.slice(0, 10))
    console.log(`    ${name.padEnd(22)} ${((100 * ms) / totalMs).toFixed(1).padStart(5)}%  ${(ms / steps).toFixed(2)} ms/step`);
}

function benchOurs(kind: ModelKind): Row {
  const config = resolveConfig({ model_type: kind, batch_size: TRAIN_BATCH });
  const model = createModel(config);
  const optimizer = createOptimizer(config);
  const vars = model.params.trainable();
  const x = tf.randomUniform([TRAIN_BATCH, 28, 28, 1], 0, 1, 'float32', 1) as tf.Tensor4D;
  let step = 0;
  const slow = kind === 'CAE';
  const oneStep = () => {
    trainStep(model, optimizer, vars, x, config, 0, step++);
  };
  const train = measure(oneStep, TRAIN_BATCH, 1, slow ? 20 : 5, slow ? 2 : 20);
  const flopsPerSample = countFlops(oneStep).flops / TRAIN_BATCH;
  profileSteps(`${kind} training step profile`, oneStep, slow ? 2 : 20);
  // The CAE's activations for 1000 images at once exceed what the 32-bit wasm heap can hold, so it infers the
  // same 1000 images as 4 chunks of 250.
  const chunk = slow ? 250 : INFER_BATCH;
  const xi = tf.randomUniform([chunk, 28, 28, 1], 0, 1, 'float32', 2) as tf.Tensor4D;
  const inferBatch = () => {
    for (let done = 0; done < INFER_BATCH; done += chunk) {
      // Read the result outside tidy: tidy walks a returned typed array element by element (~1 s for 784k).
      const y = tf.tidy(() => reconstruct(model, xi, { training: false, seed: 0 }));
      y.dataSync();
      y.dispose();
    }
  };
  const infer = measure(inferBatch, INFER_BATCH, 1, slow ? 10 : 5, slow ? 1 : 10);
  const rssMB = process.resourceUsage().maxRSS / 2 ** 10; // peak so far (kB -> MB)
  tf.dispose([x, xi]);
  optimizer.dispose();
  model.params.dispose();
  return { model: kind, train, infer, rssMB, flopsPerSample };
}

type TorchFigures = Record<string, { train: number; infer: number; threads: number }>;

/**
 * PyTorch on the same models (its linear layers go through OpenBLAS, its convolutions through oneDNN), with
 * OpenBLAS held to its AVX2 kernels ("held") or picking its own for this CPU ("own", Cooperlake's AVX-512 ones here):
 * openblasEnv says how. The ratios are against the faster.
 */
function benchPytorch(kinds: string[], openblasKernels: 'held' | 'own'): TorchFigures | null {
  const script = path.join(path.dirname(fileURLToPath(import.meta.url)), 'reference_torch.py');
  const r = spawnSync('/usr/bin/python3', [script, kinds.join(','), String(TRAIN_BATCH), String(INFER_BATCH)], {
    encoding: 'utf8',
    env: openblasEnv(openblasKernels, 1),
  });
  if (r.status !== 0) {
    console.log(`PyTorch reference failed: ${r.stderr.trim().split('\n').pop()}`);
    return null;
  }
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

const fmt = (n: number) => (n >= 100 ? n.toFixed(0) : n.toFixed(1));

await initBackend('wasm');
kernelTimer = instrumentKernels(); // after initBackend: it registers the native kernels
console.log(
  `machine: ${os.cpus().length} cores (${cpuDescription()}), ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, tfjs ${tf.version.tfjs} wasm backend (single-threaded under Node), native kernels ${nativeBuilt() ? `on, ${os.availableParallelism()} threads, from ${path.relative(process.cwd(), nativeFile() ?? '')}` : 'not built'}; load average ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
console.log(`training: forward + backward + Adam, batch ${TRAIN_BATCH}, after warm-up; inference: batch ${INFER_BATCH} (CAE: 4 x 250)`);
const ours = models.map((m) => {
  const r = benchOurs(m);
  console.log(`  ours ${m}: train ${fmt(r.train)} samples/s, infer ${fmt(r.infer)} samples/s, peak RSS so far ${r.rssMB.toFixed(0)} MB`);
  return r;
});
const torchHere = withReference && spawnSync('/usr/bin/python3', ['-c', 'import torch'], { encoding: 'utf8' }).status === 0;
if (withReference && !torchHere)
  console.log('PyTorch reference skipped: /usr/bin/python3 has no torch (apt-get install python3-torch to compare)');
const held = torchHere ? benchPytorch(models, 'held') : null;
const own = held ? benchPytorch(models, 'own') : null;
const heldEnv = openblasEnv('held', 1);
const heldAs = (['OPENBLAS_CORETYPE', 'OPENBLAS_L2_SIZE'] as const)
  .filter((v) => heldEnv[v] !== undefined)
  .map((v) => `${v}=${heldEnv[v]}`)
  .join(', ');
console.log('');
console.log(
  '| model | ours train (samples/s) | ours infer | PyTorch train, OpenBLAS held / own kernels | PyTorch infer, held / own | train ratio | infer ratio |',
);
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const r of ours) {
  const h = held?.[r.model];
  const o = own?.[r.model];
  const pair = (a?: number, b?: number) => `${a === undefined ? '-' : fmt(a)} / ${b === undefined ? '-' : fmt(b)}`;
  const best = (a?: number, b?: number) => Math.max(a ?? 0, b ?? 0);
  const cells = h
    ? [
        pair(h.train, o?.train),
        pair(h.infer, o?.infer),
        `${(r.train / best(h.train, o?.train)).toFixed(2)}x`,
        `${(r.infer / best(h.infer, o?.infer)).toFixed(2)}x`,
      ]
    : ['-', '-', '-', '-'];
  console.log(`| ${r.model} | ${fmt(r.train)} | ${fmt(r.infer)} | ${cells.join(' | ')} |`);
}
if (held)
  console.log(
    `PyTorch ratios are against the faster of its two OpenBLAS settings: "held" ran with ${heldAs} (AVX2 kernels), "own" with both variables unset (OpenBLAS picks its kernels for this CPU).`,
  );
// The roofline: each model's training step in GFLOP/s (the native matrix kernels' operations, counted as they run)
// against the machine's GEMM limit.
// The limit: OpenBLAS's best sgemm (1024^3) on as many threads, when numpy runs on OpenBLAS.
const reference = nativeBuilt() ? openblasSgemm([[1024, 1024, 1024]], os.availableParallelism()) : null;
const ceiling = reference?.openblas ? (reference.shapes.get('1024x1024x1024')?.gflops ?? null) : null;
console.log('');
console.log(
  `| model | GFLOP per training sample | training GFLOP/s | OpenBLAS sgemm 1024^3, ${os.availableParallelism()} threads | fraction of it |`,
);
console.log('| --- | ---: | ---: | ---: | ---: |');
for (const r of ours) {
  const gflops = (r.flopsPerSample * r.train) / 1e9;
  console.log(
    `| ${r.model} | ${r.flopsPerSample ? (r.flopsPerSample / 1e9).toFixed(4) : '- (no native kernels)'} | ${r.flopsPerSample ? gflops.toFixed(0) : '-'} | ${ceiling ? ceiling.toFixed(0) : '- (no numpy on OpenBLAS)'} | ${ceiling && r.flopsPerSample ? (gflops / ceiling).toFixed(2) : '-'} |`,
  );
}
if (held)
  console.log(
    `PyTorch ${spawnSync('/usr/bin/python3', ['-c', 'import torch;print(torch.__version__)'], { encoding: 'utf8' }).stdout.trim()}: best of 1 and 2 torch threads per model, OPENBLAS_NUM_THREADS=1`,
  );
