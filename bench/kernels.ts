/**
 * A roofline for the native GEMM: GFLOP/s of our kernel (src/accel, native/) on the shapes the models use, next to
 * the machine's measured ceiling, OpenBLAS's sgemm through Debian's numpy on the same shapes and threads, with
 * OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset for that command only (so OpenBLAS picks its best kernels for this
 * CPU; the machine sets them to hold it to AVX2), and the fraction of it we reach. Both results are checked against
 * float64 products. Without python3-numpy the ceiling column says so.
 *   npm run bench:kernels [-- --threads 1,2] [--shapes 128x784x256,...]
 */
import os from 'node:os';
import { cpuDescription } from './machine.js';
import { Command } from 'commander';
import { loadAddon } from '../src/accel/addon.js';
import { openblasSgemm } from './openblas.js';

/** M x K x N: the AE's first layer forward (batch 128) and its transpose's shape, a square, a CAE im2col product. */
const DEFAULT_SHAPES = ['128x784x256', '128x256x784', '1024x1024x1024', '6272x288x64'];

const opts = new Command('bench:kernels')
  .option('--threads <list>', 'thread counts', '1,2')
  .option('--shapes <list>', 'M x K x N shapes', DEFAULT_SHAPES.join(','))
  .option('--python <path>', 'Python with numpy for the OpenBLAS ceiling', '/usr/bin/python3')
  .parse()
  .opts<{ threads: string; shapes: string; python: string }>();

const native = loadAddon();
if (!native) {
  console.error('the native addon is not built here (npm run build-native or npm ci with a compiler): nothing to measure');
  process.exit(1);
}
const shapes = opts.shapes.split(',').map((s) => s.split('x').map(Number) as [number, number, number]);
const threadCounts = opts.threads.split(',').map(Number);

/** Ours: the best of five timed batches of products, and the largest difference from a float64 product. */
function ours(m: number, k: number, n: number, threads: number): { gflops: number; error: number } {
  let seed = 1;
  const rand = () => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed / 2 ** 31 - 1;
  };
  const a = Float32Array.from({ length: m * k }, rand);
  const b = Float32Array.from({ length: k * n }, rand);
  const c = new Float32Array(m * n);
  const run = () => native!.matmul({ a, b, c, batch: 1, m, n, k, transA: false, transB: false, broadcastB: false, threads });
  run();
  // float64 check on a few rows (the whole product in float64 is slow in JS at 1024^3).
  let error = 0;
  for (const i of [0, Math.floor(m / 2), m - 1])
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let t = 0; t < k; t++) s += a[i * k + t]! * b[t * n + j]!;
      error = Math.max(error, Math.abs(s - c[i * n + j]!));
    }
  const flops = 2 * m * k * n;
  const reps = Math.max(3, Math.floor(2e9 / flops));
  let best = Infinity;
  for (let r = 0; r < 5; r++) {
    const t0 = performance.now();
    for (let q = 0; q < reps; q++) run();
    best = Math.min(best, (performance.now() - t0) / 1000 / reps);
  }
  return { gflops: flops / best / 1e9, error };
}

console.log(`machine: ${os.cpus().length} cores, ${cpuDescription()}; Node ${process.version}; ${new Date().toISOString().slice(0, 10)}`);
const refs = new Map(threadCounts.map((t) => [t, openblasSgemm(shapes, t, opts.python)]));
const first = refs.get(threadCounts[0]!);
if (first)
  console.log(
    `ceiling: numpy on ${first.blas.join(', ') || 'no BLAS library'}${first.openblas ? '' : ' (not OpenBLAS: apt-get install libopenblas0-pthread for the real ceiling)'}`,
  );
console.log('| shape (M x K x N) | threads | ours GFLOP/s | OpenBLAS GFLOP/s | fraction | ours max error | OpenBLAS max error |');
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const threads of threadCounts) {
  const ref = refs.get(threads);
  for (const [m, k, n] of shapes) {
    const o = ours(m, k, n, threads);
    const r = ref?.shapes.get(`${m}x${k}x${n}`);
    console.log(
      `| ${m} x ${k} x ${n} | ${threads} | ${o.gflops.toFixed(0)} | ${r ? r.gflops.toFixed(0) : 'no numpy'} | ${r ? (o.gflops / r.gflops).toFixed(2) : '—'} | ${o.error.toExponential(1)} | ${r ? r.error.toExponential(1) : '—'} |`,
    );
  }
}
