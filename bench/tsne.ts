/**
 * Our t-SNE against scikit-learn's TSNE() (defaults), side by side on the same points, with the same quality
 * metrics computed here for both: wall time, 2-D 5-NN accuracy (leave-one-out) and trustworthiness (k = 10, exact
 * over all points at 10k, and the mean over 5 seeded 2,000-point subsamples, test mode's protocol).
 *   npm run bench:tsne                         10k AE test latents and PCA-50 of the 10k test pixels
 *   npm run bench:tsne -- --run runs/mnist-ae  use that run's best AE (default: train one, runs/bench-ae)
 *   npm run bench:tsne -- --large              also all 70,000 MNIST images (PCA-50), ours only
 *   npm run bench:tsne -- --no-reference       skip scikit-learn
 *   npm run bench:tsne -- --large-only         only the 70,000-point run
 *   npm run bench:tsne -- --transform          only: the 10k test codes placed onto a map of the 60k training codes,
 *                                              against embedding all 70k jointly (see tsne-extras.ts)
 *   npm run bench:tsne -- --multiscale         only: perplexity 30 against multiscale [30, 300] on all 70k codes
 *   npm run bench:tsne -- --huge --map-out runs   also save each million-point map as a run `ae view runs` opens
 *   npm run bench:tsne -- --huge               only the 1,050,000-point runs (MNIST and Fashion-MNIST, 15 versions
 *                                              of every image; see tsne-huge.ts); --huge mnist or fashion-mnist: one
 */
import fs from 'node:fs';
import { cpuDescription } from './machine.js';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { initBackend } from '../src/backend/index.js';
import { loadConfig } from '../src/config/load.js';
import { loadMnist } from '../src/data/mnist.js';
import { concatSets } from '../src/data/dataset.js';
import { loadModel } from '../src/checkpoint/model-state.js';
import { openRunDir, readRunConfig } from '../src/checkpoint/run-dir.js';
import { encodeSet } from '../src/evaluate/latents.js';
import { leaveOneOutKnnAccuracy, trustworthiness } from '../src/evaluate/metrics.js';
import { pca } from '../src/embed/pca.js';
import { tsne } from '../src/embed/tsne.js';
import { bestKernels } from '../src/embed/kernels.js';
import { train } from '../src/train/trainer.js';

const opts = new Command('bench:tsne')
  .description("our t-SNE against scikit-learn's on the same points: seconds, 2-D 5-NN accuracy, trustworthiness")
  .option('--run <dir>', "take the latents from this run's best AE (default: train one in runs/bench-ae)")
  .option('--mnist <dir>', 'MNIST folder', process.env.AE_TEST_MNIST ?? path.resolve('..', 'shared', 'data', 'mnist'))
  .option('--large', 'also all 70,000 MNIST images (PCA-50), ours only')
  .option('--large-only', 'only the 70,000-point run')
  .option('--no-reference', 'skip scikit-learn')
  .option('--huge [dataset]', 'only t-SNE of 1,050,000 AE codes (15 versions of every image): mnist, fashion-mnist, or both')
  .option('--map-out <dir>', "with --huge: save each map as a run folder there (the AE's config and weights, the map), for ae view")
  .option('--transform', "only: test codes placed onto the training codes' map vs embedded jointly")
  .option('--multiscale', 'only: perplexity 30 vs multiscale [30, 300] on all 70,000 codes')
  .option('--fashion <dir>', 'Fashion-MNIST folder', path.resolve('..', 'shared', 'data', 'fashion-mnist'))
  .parse()
  .opts<{
    run?: string;
    mnist: string;
    fashion: string;
    large?: boolean;
    largeOnly?: boolean;
    reference: boolean;
    huge?: string | true;
    mapOut?: string;
    transform?: boolean;
    multiscale?: boolean;
  }>();
const mnistDir = opts.mnist;
const here = path.dirname(fileURLToPath(import.meta.url));

function sklearn(x: Float32Array, n: number, dim: number): { seconds: number; coords: Float32Array } | null {
  if (!opts.reference) return null;
  if (spawnSync('/usr/bin/python3', ['-c', 'import sklearn'], { encoding: 'utf8' }).status !== 0) {
    console.log('  scikit-learn reference skipped: /usr/bin/python3 has no sklearn (apt-get install python3-sklearn to compare)');
    return null;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ae-bench-tsne-'));
  fs.writeFileSync(path.join(dir, 'in.bin'), Buffer.from(x.buffer, x.byteOffset, n * dim * 4));
  const r = spawnSync(
    '/usr/bin/python3',
    [path.join(here, 'reference_tsne.py'), path.join(dir, 'in.bin'), String(n), String(dim), path.join(dir, 'out.bin')],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) {
    console.log(`  scikit-learn failed: ${r.stderr.trim().split('\n').pop()}`);
    return null;
  }
  const coords = new Float32Array(fs.readFileSync(path.join(dir, 'out.bin')).buffer.slice(0));
  fs.rmSync(dir, { recursive: true, force: true });
  return { seconds: Number(r.stdout.trim()), coords };
}

interface Row {
  input: string;
  impl: string;
  seconds: number;
  knn: number;
  trust: { all: number | null; sub: number };
}

/** Trustworthiness (k = 10), two ways: exact over all points (up to 10,000 points; all pairs of 70k would take
 *  too long), and the mean over 5 seeded 2,000-point subsamples (the protocol of test mode's metrics.json). The
 *  subsample value is lower (neighbours within a subsample are farther apart) and noisier. */
function trust(x: Float32Array, dim: number, coords: Float32Array, n: number): { all: number | null; sub: number } {
  let sum = 0;
  for (let seed = 0; seed < 5; seed++) sum += trustworthiness(x, dim, coords, 2, n, 10, 2000, seed);
  return { all: n <= 10000 ? trustworthiness(x, dim, coords, 2, n, 10, n) : null, sub: sum / 5 };
}
const fmt = (v: number | null, digits: number) => (v === null ? 'n/a' : v.toFixed(digits));
const rows: Row[] = [];

function compare(name: string, x: Float32Array, n: number, dim: number, labels: Uint8Array, withReference: boolean): void {
  console.log(`${name}: ${n} points x ${dim}`);
  const t0 = performance.now();
  const ours = tsne(x, n, dim, {
    seed: 0,
    onStage: (s) => console.log(`  ours: ${s} from ${((performance.now() - t0) / 1000).toFixed(1)} s`),
  });
  const seconds = (performance.now() - t0) / 1000;
  const how = ours.repulsion === 'fft' ? 'FFT' : `Barnes-Hut ${ours.theta}`;
  const row = {
    input: name,
    impl: `ours (${how}, ${bestKernels().name} kernels)`,
    seconds,
    knn: leaveOneOutKnnAccuracy(ours.embedding, labels, 2, 5),
    trust: trust(x, dim, ours.embedding, n),
  };
  rows.push(row);
  console.log(
    `  ours: ${seconds.toFixed(1)} s, 5-NN ${row.knn.toFixed(4)}, trustworthiness ${fmt(row.trust.all, 5)} (all points), ${row.trust.sub.toFixed(5)} (5 x 2,000), KL ${ours.kl.toFixed(3)}`,
  );
  if (!withReference) return;
  const ref = sklearn(x, n, dim);
  if (!ref) return;
  const refRow = {
    input: name,
    impl: 'scikit-learn TSNE()',
    seconds: ref.seconds,
    knn: leaveOneOutKnnAccuracy(ref.coords, labels, 2, 5),
    trust: trust(x, dim, ref.coords, n),
  };
  rows.push(refRow);
  console.log(
    `  scikit-learn: ${ref.seconds.toFixed(1)} s, 5-NN ${refRow.knn.toFixed(4)}, trustworthiness ${fmt(refRow.trust.all, 5)} (all points), ${refRow.trust.sub.toFixed(5)} (5 x 2,000); time ratio ours/sklearn ${(seconds / ref.seconds).toFixed(2)}`,
  );
}

await initBackend('wasm');
console.log(
  `machine: ${os.cpus().length} cores (${cpuDescription()}), Node ${process.version}; load average ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
/** The run dir of an AE trained from `preset` (10 epochs), trained now when it has no checkpoint yet. */
async function benchAe(name: string, preset: string, overrides: Record<string, unknown>): Promise<string> {
  const runDir = path.join('runs', name);
  if (!fs.existsSync(path.join(runDir, 'weights', 'best.ckpt'))) {
    console.log(`training an AE for the benchmark into ${runDir} (${preset}, 10 epochs, ~3 minutes)`);
    fs.rmSync(runDir, { recursive: true, force: true });
    await train(loadConfig(path.join(here, '..', 'configs', preset), { name, ...overrides }));
  }
  return runDir;
}

if (opts.huge) {
  const { hugeBenchmark } = await import('./tsne-huge.js');
  const which = opts.huge === true ? null : opts.huge.toLowerCase();
  const sets = [
    {
      name: 'MNIST',
      dir: mnistDir,
      run: () => (opts.run ? Promise.resolve(opts.run) : benchAe('bench-ae', 'mnist-ae.yaml', { MNIST: { path: mnistDir } })),
    },
    {
      name: 'Fashion-MNIST',
      dir: opts.fashion,
      run: () => benchAe('bench-ae-fashion', 'fashion-ae.yaml', { FASHION_MNIST: { path: opts.fashion } }),
    },
  ].filter((s) => which === null || s.name.toLowerCase() === which);
  await hugeBenchmark(sets, opts.mapOut);
  process.exit(0);
}
const data = await loadMnist(mnistDir, 0.2, 0);

if (opts.transform || opts.multiscale) {
  const { transformBenchmark, multiscaleBenchmark } = await import('./tsne-extras.js');
  const run = openRunDir(opts.run ?? (await benchAe('bench-ae', 'mnist-ae.yaml', { MNIST: { path: mnistDir } })));
  const { model } = loadModel(readRunConfig(run), run.bestCheckpoint);
  const coded = [data.train, data.validation, data.test].map((set) => ({ ...encodeSet(model, set), labels: set.labels, n: set.count }));
  const [tr, va, te] = coded as [(typeof coded)[0], (typeof coded)[0], (typeof coded)[0]];
  const dim = tr.dim;
  const join = (parts: (typeof coded)[0][]) => {
    const codes = new Float32Array(parts.reduce((s, p) => s + p.codes.length, 0));
    const labels = new Uint8Array(parts.reduce((s, p) => s + p.n, 0));
    let at = 0;
    for (const p of parts) {
      codes.set(p.codes, at * dim);
      labels.set(p.labels, at);
      at += p.n;
    }
    return { codes, labels, n: at, dim };
  };
  if (opts.transform) transformBenchmark(join([tr, va]), join([te]));
  if (opts.multiscale) multiscaleBenchmark(join([tr, va, te]));
  process.exit(0);
}

const largeOnly = opts.largeOnly === true;
// 1. Latents of a trained AE (the reference AE, 10 epochs).
let runDir = opts.run;
if (!runDir && !largeOnly) {
  runDir = await benchAe('bench-ae', 'mnist-ae.yaml', { MNIST: { path: mnistDir } });
}
if (runDir && !largeOnly) {
  const run = openRunDir(runDir);
  const { model } = loadModel(readRunConfig(run), run.bestCheckpoint);
  const latents = encodeSet(model, data.test);
  compare(`AE test latents (${runDir})`, latents.codes, data.test.count, latents.dim, data.test.labels, true);

  // 2. PCA-50 of the raw test pixels.
  const pixels50 = pca(data.test.images, data.test.count, 784, 50, 0).scores;
  compare('PCA-50 of 10k test pixels', pixels50, data.test.count, 50, data.test.labels, true);
}

// 3. All 70,000 images, PCA-50 (ours only: scikit-learn takes many minutes here).
if (opts.large || largeOnly) {
  const all = concatSets([data.train, data.validation, data.test]);
  compare('PCA-50 of all 70k MNIST images', pca(all.images, all.count, 784, 50, 0).scores, all.count, 50, all.labels, false);
}

console.log(
  '\n| input | implementation | wall time (s) | 2-D 5-NN accuracy | trustworthiness, all points | trustworthiness, mean of 5 x 2,000 |',
);
console.log('| --- | --- | ---: | ---: | ---: | ---: |');
for (const r of rows)
  console.log(
    `| ${r.input} | ${r.impl} | ${r.seconds.toFixed(1)} | ${r.knn.toFixed(3)} | ${fmt(r.trust.all, 4)} | ${r.trust.sub.toFixed(4)} |`,
  );
