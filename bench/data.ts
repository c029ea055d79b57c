/**
 * `npm run bench:data`: a real image collection, streamed. Generates (seeded, kept between runs under
 * .cache/bench-data/) a folder of synthetic 64 x 64 RGB PNGs in eight classes (bench/synthetic-images.ts), then
 * measures:
 *   - decoding: our decoder against PIL with two worker processes (torchvision's ImageFolder path) on the same files;
 *   - for each size (30k, 300k, 1M images by default): the first run's decode-and-cache (images/s end to end, cache
 *     size), then training the BottleneckCAE for a fixed number of steps streamed from the cache: samples/s and peak
 *     RSS; at the smallest size also in memory (`CUSTOM.in_memory`), the throughput to compare;
 *   - at the largest size, an AE trained a few steps, then `ae test` and `ae encode` over every image: peak RSS.
 * Each case runs in a process of its own (bench/data-case.ts), so its peak RSS is its own.
 *
 * Options: --sizes 30000,300000,1000000  --steps 40  --dir .cache/bench-data  --skip-pil  --generate-only
 *          --inference-only (only ae test and ae encode, on the AE run of an earlier bench when there is one)
 */
import { spawnSync } from 'node:child_process';
import { cpuDescription } from './machine.js';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { listImageFolder } from '../src/data/folder.js';
import { decodeFiles } from '../src/data/decode.js';
import { CLASS_NAMES, syntheticFile, writeSyntheticFolder } from './synthetic-images.js';

const args = process.argv.slice(2);
const opt = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : fallback;
};
const sizes = opt('sizes', '30000,300000,1000000').split(',').map(Number);
const steps = Number(opt('steps', '40'));
const root = path.resolve(opt('dir', '.cache/bench-data'));
const SEED = 1;
const largest = Math.max(...sizes);

function line(text: string): void {
  process.stdout.write(`${text}\n`);
}

function progress(label: string): (done: number, total: number) => void {
  let last = 0;
  const t0 = performance.now();
  return (done, total) => {
    if (performance.now() - last < 2000 && done < total) return;
    last = performance.now();
    const s = (performance.now() - t0) / 1000;
    const eta = done > 0 ? (s / done) * (total - done) : 0;
    process.stderr.write(`  ${label}: ${done}/${total} (${(done / s).toFixed(0)}/s, ETA ${eta.toFixed(0)} s)\n`);
  };
}

/** The folder of the largest size, generated once; smaller sizes are folders of hard links to its first images. */
async function folders(): Promise<Map<number, string>> {
  const main = path.join(root, `synthetic-64-${largest}`);
  const marker = path.join(main, '.complete');
  if (!fs.existsSync(marker)) {
    line(`generating ${largest} synthetic 64x64 PNGs in ${main} (once; kept for later runs)`);
    await writeSyntheticFolder(main, 0, largest, SEED, progress('generating'));
    fs.writeFileSync(marker, '');
  }
  const out = new Map<number, string>();
  for (const size of sizes) {
    if (size === largest) {
      out.set(size, main);
      continue;
    }
    const dir = path.join(root, `synthetic-64-${size}`);
    if (!fs.existsSync(path.join(dir, '.complete'))) {
      for (const c of CLASS_NAMES) fs.mkdirSync(path.join(dir, c), { recursive: true });
      for (let i = 0; i < size; i++) {
        const target = syntheticFile(dir, i);
        if (!fs.existsSync(target)) fs.linkSync(syntheticFile(main, i), target);
      }
      fs.writeFileSync(path.join(dir, '.complete'), '');
    }
    out.set(size, dir);
  }
  return out;
}

async function decodeSpeed(dir: string): Promise<{ ours: number; pil: number | null; files: number }> {
  const listing = listImageFolder(dir, 'bench');
  const files = listing.files.map((f) => f.path);
  const p = { height: 64, width: 64, channels: 3 as const, fit: 'squash' as const, background: 'black' as const };
  let best = Infinity;
  for (let pass = 0; pass < 2; pass++) {
    const t0 = performance.now();
    const out = new Uint8Array(4096 * 64 * 64 * 3);
    for (let start = 0; start < files.length; start += 4096) {
      const reasons = await decodeFiles(files.slice(start, start + 4096), p, out);
      if (reasons.some((r) => r !== null)) throw new Error('a synthetic image failed to decode');
    }
    best = Math.min(best, (performance.now() - t0) / 1000);
  }
  let pil: number | null = null;
  const python = '/usr/bin/python3';
  if (!args.includes('--skip-pil') && spawnSync(python, ['-c', 'import PIL, numpy']).status === 0) {
    const list = path.join(root, `files-${files.length}.txt`);
    fs.writeFileSync(list, `${files.join('\n')}\n`);
    const r = spawnSync(
      python,
      [path.join(import.meta.dirname, 'reference_decode.py'), list, String(os.availableParallelism()), '64', '64'],
      {
        encoding: 'utf8',
      },
    );
    if (r.status !== 0) throw new Error(`PIL reference failed: ${r.stderr}`);
    pil = JSON.parse(r.stdout).images_per_sec;
  } else {
    line('PIL reference skipped: /usr/bin/python3 has no PIL or numpy (apt-get install python3-pil python3-numpy to compare)');
  }
  return { ours: files.length / best, pil, files: files.length };
}

function runCase(args: string[]): Record<string, unknown> {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, 'data-case.ts'), ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 1 << 26,
  });
  if (r.status !== 0) throw new Error(`case ${args[0]} failed (exit ${r.status})`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

function duBytes(dir: string): number {
  let total = 0;
  for (const name of fs.existsSync(dir) ? fs.readdirSync(dir) : []) total += fs.statSync(path.join(dir, name)).size;
  return total;
}

const project = path.join(root, 'runs');
function trainConfig(size: number, dir: string, model: string, name: string, inMemory: boolean): string {
  fs.rmSync(path.join(project, name), { recursive: true, force: true });
  return JSON.stringify({
    dataset: 'folder',
    model_type: model,
    height: 64,
    width: 64,
    color_channel: 3,
    batch_size: 128,
    epochs: 1,
    seed: SEED,
    project,
    name,
    CUSTOM: { train_data_path: dir, test_data_path: dir, valset_proportion: 0.01, in_memory: inMemory, data_name: `synthetic-${size}` },
  });
}

const cpu = cpuDescription();
line(
  `bench:data on ${os.availableParallelism()} cores (${cpu}), ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ${new Date().toISOString().slice(0, 10)}`,
);
const dirs = await folders();
if (args.includes('--generate-only')) process.exit(0);
const smallest = Math.min(...sizes);

const inferenceOnly = args.includes('--inference-only');
const decode = inferenceOnly ? null : await decodeSpeed(dirs.get(smallest)!);
if (decode)
  line(
    `decode ${decode.files} PNGs to 64x64x3: ours ${decode.ours.toFixed(0)} images/s` +
      (decode.pil
        ? `, PIL with ${os.availableParallelism()} processes ${decode.pil.toFixed(0)} images/s (${(decode.ours / decode.pil).toFixed(2)}x)`
        : ''),
  );

if (!inferenceOnly) line('| images | first load (decode + cache) | cache on disk | BottleneckCAE training | peak RSS |');
if (!inferenceOnly) line('|---|---|---|---|---|');
for (const size of inferenceOnly ? [] : sizes) {
  const dir = dirs.get(size)!;
  const cacheDir = path.join(project, 'data', `synthetic-${size}`, '64x64x3-squash-black');
  const fresh = !fs.existsSync(cacheDir);
  const streamed = runCase(['train', trainConfig(size, dir, 'BottleneckCAE', `bcae-${size}`, false), String(steps)]);
  const load = fresh
    ? `${(size / (streamed.load_seconds as number)).toFixed(0)} images/s (${(streamed.load_seconds as number).toFixed(0)} s)`
    : 'cached';
  line(
    `| ${size} streamed | ${load} | ${(duBytes(cacheDir) / 1e9).toFixed(2)} GB | ${(streamed.samples_per_sec as number).toFixed(1)} samples/s | ${(streamed.peak_rss_mb as number).toFixed(0)} MB |`,
  );
  if (size === smallest) {
    const memory = runCase(['train', trainConfig(size, dir, 'BottleneckCAE', `bcae-${size}-memory`, true), String(steps)]);
    line(
      `| ${size} in memory | cached | | ${(memory.samples_per_sec as number).toFixed(1)} samples/s (streamed: ${(((streamed.samples_per_sec as number) / (memory.samples_per_sec as number)) * 100).toFixed(1)} %) | ${(memory.peak_rss_mb as number).toFixed(0)} MB |`,
    );
  }
}

// ae test and ae encode over every image of the largest set, with an AE (fast enough to read a million images).
const dir = dirs.get(largest)!;
const runDir = path.join(project, `ae-${largest}`);
if (!inferenceOnly || !fs.existsSync(path.join(runDir, 'weights', 'last.ckpt'))) {
  runCase(['train', trainConfig(largest, dir, 'AE', `ae-${largest}`, false), String(steps)]);
}
const tested = runCase(['test', runDir]);
line(
  `ae test (AE, PCA map) on ${largest} images: ${(tested.seconds as number).toFixed(0)} s, peak RSS ${(tested.peak_rss_mb as number).toFixed(0)} MB, RSS after 10 s ${JSON.stringify(tested.rss_after_10s_mb)}; map ${JSON.stringify(tested.map_sample)}`,
);
const encoded = runCase(['encode', runDir, path.join(root, `codes-${largest}.npy`)]);
line(
  `ae encode (AE) of ${largest} images: ${(encoded.seconds as number).toFixed(0)} s, peak RSS ${(encoded.peak_rss_mb as number).toFixed(0)} MB, RSS after 10 s ${JSON.stringify(encoded.rss_after_10s_mb)}`,
);
