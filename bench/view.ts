/**
 * `ae view`'s latent map in headless Chromium (Debian's `chromium`, software rendering, no GPU):
 *   1. time from navigating to a run page to a drawn, interactive map of 10,000 points (the MNIST test split,
 *      mapped by `ae test --embed pca` of a one-epoch AE);
 *   2. frames per second while panning and zooming a map of all 70,000 MNIST images (PCA-2 of their pixels,
 *      written in the map format by this script; no thumbnails);
 *   3. the same at 1,000,000 points (each MNIST image's place repeated with a small seeded jitter, 14-15 times), and
 *      from navigation to the first picture, to the complete picture, and to neighbours and hover being ready.
 *   npm run bench:view [-- --chromium /usr/bin/chromium] [--map-run runs/mnist-1m-map]
 */
import fs from 'node:fs';
import { cpuDescription } from './machine.js';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { chromium } from 'playwright-core';
import { initBackend } from '../src/backend/index.js';
import { resolveConfig } from '../src/config/load.js';
import { concatSets } from '../src/data/dataset.js';
import { loadData } from '../src/data/load.js';
import { pca } from '../src/embed/pca.js';
import { evaluateRun } from '../src/evaluate/evaluate-run.js';
import { type Dtype, packArrays } from '../src/evaluate/map-data.js';
import { train } from '../src/train/trainer.js';
import { startViewer } from '../src/view/server.js';

const opts = new Command('bench:view')
  .option('--chromium <path>', 'Chromium executable', process.env.AE_CHROMIUM ?? '/usr/bin/chromium')
  .option('--mnist <dir>', 'MNIST folder', process.env.AE_TEST_MNIST ?? path.resolve('..', 'shared', 'data', 'mnist'))
  .option('--keep', 'keep the project of runs it made (and print where), to open it with ae view')
  .option('--map-run <dir>', "also measure this run's map (e.g. one saved by bench:tsne --huge --map-out)")
  .parse()
  .opts<{ chromium: string; mnist: string; keep?: boolean; mapRun?: string }>();

const project = fs.mkdtempSync(path.join(os.tmpdir(), 'ae-bench-view-'));
await initBackend('wasm');
const config = resolveConfig({ project, name: 'mnist-ae', epochs: 1, MNIST: { path: opts.mnist } });
await train(config);
await evaluateRun(path.join(project, 'mnist-ae'), { embed: 'pca' });

// A second "run" holding a 70k-point map: PCA-2 of all MNIST pixels, in the documented map format.
const data = await loadData(config);
const { images: pixels, labels, count: n } = concatSets([data.train, data.validation, data.test]);
const coords = pca(pixels, n, 784, 2, 0).scores;
const big = path.join(project, 'all-mnist');
fs.mkdirSync(path.join(big, 'vis_outputs'), { recursive: true });
fs.writeFileSync(path.join(big, 'config.yaml'), fs.readFileSync(path.join(project, 'mnist-ae', 'config.yaml')));
/** Writes a map file pair (no thumbnails) as run `name` of the project. */
function writeMap(name: string, description: string, coords: Float32Array, labels: Uint8Array, errors: Float32Array): void {
  const count = labels.length;
  const dir = path.join(project, name);
  fs.mkdirSync(path.join(dir, 'vis_outputs'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'config.yaml'), fs.readFileSync(path.join(project, 'mnist-ae', 'config.yaml')));
  const arrays: Array<[string, Dtype, number[], ArrayBufferView]> = [
    ['coords', 'float32', [count, 2], coords],
    ['labels', 'uint8', [count], labels],
    ['indices', 'int32', [count], Int32Array.from({ length: count }, (_, i) => i)],
    ['errors', 'float32', [count], errors],
    ['neighbours', 'int32', [count, 0], new Int32Array(0)],
  ];
  const packed = packArrays(arrays);
  const header = {
    format: 'ae-map-1',
    method: 'pca',
    description,
    split: 'all',
    count,
    height: 28,
    width: 28,
    channels: 1,
    k: 0,
    classes: data.classNames,
    arrays: packed.index,
  };
  fs.writeFileSync(path.join(dir, 'vis_outputs', 'map_pca.bin'), packed.bytes);
  fs.writeFileSync(path.join(dir, 'vis_outputs', 'map_pca.json'), JSON.stringify(header));
}
writeMap('all-mnist', 'PCA-2 of the pixels', coords, labels, new Float32Array(n));
// A million points: each image's place again and again, jittered (seeded), with its label and a made-up error.
const MILLION = 1_000_000;
const bigCoords = new Float32Array(2 * MILLION);
const bigLabels = new Uint8Array(MILLION);
const bigErrors = new Float32Array(MILLION);
let seed = 12345;
const rand = () => {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return seed / 4294967296;
};
let spread = 0;
for (let i = 0; i < 2 * n; i++) spread = Math.max(spread, Math.abs(coords[i]!));
for (let i = 0; i < MILLION; i++) {
  const j = i % n;
  bigCoords[2 * i] = coords[2 * j]! + (rand() - 0.5) * spread * 0.02;
  bigCoords[2 * i + 1] = coords[2 * j + 1]! + (rand() - 0.5) * spread * 0.02;
  bigLabels[i] = labels[j]!;
  bigErrors[i] = 0.01 + 0.05 * rand() ** 3;
}
writeMap('million', 'PCA-2 of the pixels, each image 14-15 times, jittered', bigCoords, bigLabels, bigErrors);

/**
 * Runs in the page: 90 animation frames, each after a synthetic drag step or wheel step on the map; frames drawn
 * per second and the median time between frames.
 */
async function inPageMotion(kind: 'pan' | 'zoom'): Promise<{ fps: number; median: number }> {
  const c = document.getElementById('map') as HTMLCanvasElement;
  const r = c.getBoundingClientRect();
  const [x, y] = [r.left + r.width / 2, r.top + r.height / 2];
  const f0 = Number(c.dataset.frames);
  const stamps: number[] = [];
  if (kind === 'pan') c.dispatchEvent(new MouseEvent('mousedown', { clientX: x, clientY: y, bubbles: true }));
  for (let i = 0; i < 90; i++) {
    if (kind === 'pan')
      c.dispatchEvent(
        new MouseEvent('mousemove', { clientX: x + 100 * Math.sin(i / 10), clientY: y + 60 * Math.cos(i / 10), bubbles: true }),
      );
    else
      c.dispatchEvent(new WheelEvent('wheel', { deltaY: i % 30 < 15 ? -40 : 40, clientX: x, clientY: y, bubbles: true, cancelable: true }));
    stamps.push(await new Promise<number>((done) => requestAnimationFrame(done)));
  }
  window.dispatchEvent(new MouseEvent('mouseup'));
  const gaps = stamps
    .slice(1)
    .map((t, i) => t - stamps[i]!)
    .sort((a, b) => a - b);
  return { fps: ((Number(c.dataset.frames) - f0) * 1000) / (stamps[stamps.length - 1]! - stamps[0]!), median: gaps[gaps.length >> 1]! };
}

const viewer = await startViewer({ project });
let extra: Awaited<ReturnType<typeof startViewer>> | null = null;
const browser = await chromium.launch({ executablePath: opts.chromium, args: ['--no-sandbox'] });
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const times: number[] = [];
  for (let r = 0; r < 3; r++) {
    const t0 = performance.now();
    await page.goto(`${viewer.url}#/run/mnist-ae`);
    await page.waitForSelector('#latent-map[data-ready="1"]');
    times.push(performance.now() - t0);
    await page.goto('about:blank');
  }
  console.log(`machine: ${os.cpus().length} cores, ${cpuDescription()}; Chromium ${browser.version()} headless, software rendering`);
  console.log(
    `10,000-point map: navigation to drawn and interactive ${Math.min(...times).toFixed(0)} ms (best of 3; ${times.map((t) => t.toFixed(0)).join(', ')})`,
  );

  // The extra run (--map-run) is served by a viewer of its own project.
  extra = opts.mapRun ? await startViewer({ project: path.dirname(path.resolve(opts.mapRun)) }) : null;
  const maps: Array<[string, string, string]> = [
    [viewer.url, 'all-mnist', `${n.toLocaleString('en')}-point map`],
    [viewer.url, 'million', `${MILLION.toLocaleString('en')}-point map`],
    ...(extra ? [[extra.url, path.basename(opts.mapRun!), `${path.basename(opts.mapRun!)} map`] as [string, string, string]] : []),
  ];
  for (const [server, run, label] of maps) {
    await page.goto('about:blank');
    const t0 = performance.now();
    await page.goto(`${server}#/run/${run}`);
    await page.waitForFunction(() => Number(document.getElementById('map')?.dataset.frames ?? 0) > 0, null, { timeout: 120_000 });
    const first = performance.now() - t0;
    await page.waitForSelector('#map[data-complete="1"]', { timeout: 120_000 });
    const complete = performance.now() - t0;
    await page.waitForSelector('#latent-map[data-ready="1"]', { timeout: 120_000 });
    const ready = performance.now() - t0;
    console.log(
      `${label}: navigation to the first picture ${first.toFixed(0)} ms, to every point drawn ${complete.toFixed(0)} ms, to hover and neighbours ready ${ready.toFixed(0)} ms`,
    );
    await page.locator('#map').scrollIntoViewIfNeeded();
    const box = (await page.locator('#map').boundingBox())!;
    const frames = async () => Number(await page.getAttribute('#map', 'data-frames'));
    const measure = async (what: string, act: (i: number) => Promise<void>) => {
      const f0 = await frames();
      const start = performance.now();
      let i = 0;
      while (performance.now() - start < 3000) await act(i++);
      await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => r(null))));
      const seconds = (performance.now() - start) / 1000;
      const fps = ((await frames()) - f0) / seconds;
      console.log(`${label}, ${what}: ${fps.toFixed(1)} frames/s over ${i} input events (${(i / seconds).toFixed(1)} events/s)`);
    };
    const cx = box.x + box.width / 2;
    const cy = box.y + box.height / 2;
    // Driven by playwright: each input event waits for its round trip to the page, so the events, not the page,
    // set the pace (about 25 a second here).
    await page.mouse.move(cx, cy);
    await page.mouse.down();
    await measure('panning (playwright drag)', (i) => page.mouse.move(cx + 100 * Math.sin(i / 10), cy + 60 * Math.cos(i / 10)));
    await page.mouse.up();
    await measure('zooming (playwright wheel)', (i) => page.mouse.wheel(0, i % 20 < 10 ? -40 : 40));
    // Driven in the page: a new pointer position every animation frame, as a mouse (60-1000 events a second,
    // coalesced per frame by the browser) gives; the figure is frames drawn per second, each at a new view.
    for (const kind of ['pan', 'zoom'] as const) {
      const { fps, median } = await page.evaluate(inPageMotion, kind);
      console.log(
        `${label}, ${kind === 'pan' ? 'panning' : 'zooming'} (in-page events, one per frame): ${fps.toFixed(1)} frames/s, median frame ${median.toFixed(1)} ms`,
      );
    }
    await page.waitForSelector('#map[data-complete="1"]', { timeout: 120_000 });
    // From rest to every point drawn again: the colouring changed (nothing of the last picture can be reused).
    const before = await frames();
    const r0 = performance.now();
    await page.selectOption('#colour-by', 'error');
    await page.waitForFunction(
      (f) => Number(document.getElementById('map')!.dataset.frames) > f && document.getElementById('map')!.dataset.complete === '1',
      before,
      {
        timeout: 120_000,
      },
    );
    console.log(`${label}: a full redraw of every point (colour by error) ${(performance.now() - r0).toFixed(0)} ms`);
    // Hover: from the pointer's move to the box describing the point under it (points on screen, away from others).
    await page.locator('#map').scrollIntoViewIfNeeded();
    const area = (await page.locator('#map').boundingBox())!;
    const hovers: number[] = [];
    for (let k = 0; hovers.length < 10 && k < 1000; k++) {
      const p = await page.evaluate(
        (i) => (window as unknown as { aeMap: { screenOf(i: number): { x: number; y: number } } }).aeMap.screenOf(i),
        k * 997,
      );
      if (p.x < area.x + 20 || p.x > area.x + area.width - 20 || p.y < area.y + 20 || p.y > area.y + area.height - 20) continue;
      const h0 = performance.now();
      await page.mouse.move(p.x, p.y);
      await page.waitForSelector('#map-tooltip:not(.hidden)');
      hovers.push(performance.now() - h0);
      await page.mouse.move(area.x + area.width / 2, area.y - 20); // off the map: the box goes
      await page.waitForSelector('#map-tooltip.hidden', { state: 'attached' });
    }
    hovers.sort((a, b) => a - b);
    console.log(`${label}: hover to its box ${hovers[5]!.toFixed(0)} ms (median of 10, playwright's round trip included)`);
    await page.selectOption('#colour-by', 'class');
  }
} finally {
  await browser.close();
  await viewer.close();
  await extra?.close();
  if (opts.keep) console.log(`the runs are kept in ${project}: ae view ${project}`);
  else fs.rmSync(project, { recursive: true, force: true });
}
