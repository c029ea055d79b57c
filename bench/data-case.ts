/**
 * One measured case of `npm run bench:data`, in a process of its own so its peak RSS is its own:
 *   train CONFIG_JSON STEPS   trains STEPS steps (from a new run), prints samples/s and memory
 *   test RUN_DIR              ae test (PCA map) on the run's test split
 *   encode RUN_DIR OUT        ae encode of the run's test split to OUT (.npy)
 * Prints one JSON line: the figures, peak RSS (MB) and RSS sampled every second after the first 10 s (min, max).
 */
import { resolveConfig } from '../src/config/load.js';
import { TrainingInterrupted } from '../src/errors.js';
import { evaluateRun } from '../src/evaluate/evaluate-run.js';
import { train } from '../src/train/trainer.js';
import { encode } from '../src/use/encode.js';

const t0 = performance.now();
const samples: number[] = [];
const sampler = setInterval(() => {
  if (performance.now() - t0 > 10_000) samples.push(process.memoryUsage.rss() / 1e6);
}, 1000);
const [mode, a, b] = process.argv.slice(2);
let figures: Record<string, unknown> = {};
const say = (m: string) => process.stderr.write(`  ${m}\n`);

if (mode === 'train') {
  const steps = Number(b);
  const times: number[] = [];
  let loaded = 0;
  let count = 0;
  try {
    await train(resolveConfig(JSON.parse(a!)), {
      shouldStop: () => count >= steps,
      onEvent: (e) => {
        if (e.type === 'start') loaded = (performance.now() - t0) / 1000;
        if (e.type === 'message') say(e.text);
        if (e.type === 'batch') {
          count++;
          times.push(e.samplesPerSec);
        }
      },
    });
  } catch (e) {
    if (!(e instanceof TrainingInterrupted)) throw e;
  }
  const steady = times.slice(5).sort((x, y) => x - y);
  figures = { steps: count, samples_per_sec: steady[Math.floor(steady.length / 2)], load_seconds: loaded };
} else if (mode === 'test') {
  const r = await evaluateRun(a!, { embed: 'pca', weights: 'last', onMessage: say });
  figures = { images: r.metrics.images, map_sample: r.metrics.map_sample, seconds: (performance.now() - t0) / 1000 };
} else if (mode === 'encode') {
  const r = await encode(a!, { input: ['test'], out: b!, format: 'npy', force: true, weights: 'last' });
  figures = { images: r.count, seconds: (performance.now() - t0) / 1000 };
}
clearInterval(sampler);
const steadyRss = samples.length ? { min: Math.min(...samples), max: Math.max(...samples) } : null;
console.log(JSON.stringify({ ...figures, peak_rss_mb: process.resourceUsage().maxRSS / 1024, rss_after_10s_mb: steadyRss }));
