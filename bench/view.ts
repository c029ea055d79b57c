/**
 * `ae view`'s latent map in headless Chromium (Debian's `chromium`, software rendering, no GPU):
 *   1. time from navigating to a run page to a drawn, interactive map of 10,000 points (the MNIST test split,
 *      mapped by `ae test --embed pca` of a one-epoch AE);
 *   2. frames per second while panning and zooming a map of all 70,000 MNIST images (PCA-2 of their pixels,
 *      written in the map format by this script; no thumbnails).
 *   npm run bench:view [-- --chromium /usr/bin/chromium]
 */
import fs from 'node:fs';
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
  .parse()
  .opts<{ chromium: string; mnist: string }>();

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
const arrays: Array<[string, Dtype, number[], ArrayBufferView]> = [
  ['coords', 'float32', [n, 2], coords],
  ['labels', 'uint8', [n], labels],
  ['indices', 'int32', [n], Int32Array.from({ length: n }, (_, i) => i)],
  ['errors', 'float32', [n], new Float32Array(n)],
  ['neighbours', 'int32', [n, 0], new Int32Array(0)],
];
const packed = packArrays(arrays);
const header = {
  format: 'ae-map-1',
  method: 'pca',
  description: 'PCA-2 of the pixels',
  split: 'all',
  count: n,
  height: 28,
  width: 28,
  channels: 1,
  k: 0,
  classes: data.classNames,
  arrays: packed.index,
};
fs.writeFileSync(path.join(big, 'vis_outputs', 'map_pca.bin'), packed.bytes);
fs.writeFileSync(path.join(big, 'vis_outputs', 'map_pca.json'), JSON.stringify(header));

const viewer = await startViewer({ project });
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
  console.log(`machine: ${os.cpus().length} cores, ${os.cpus()[0]?.model}; Chromium ${browser.version()} headless, software rendering`);
  console.log(
    `10,000-point map: navigation to drawn and interactive ${Math.min(...times).toFixed(0)} ms (best of 3; ${times.map((t) => t.toFixed(0)).join(', ')})`,
  );

  await page.goto(`${viewer.url}#/run/all-mnist`);
  await page.waitForSelector('#latent-map[data-ready="1"]', { timeout: 120_000 });
  await page.locator('#map').scrollIntoViewIfNeeded();
  const box = (await page.locator('#map').boundingBox())!;
  const frames = async () => Number(await page.getAttribute('#map', 'data-frames'));
  const measure = async (label: string, act: (i: number) => Promise<void>) => {
    const f0 = await frames();
    const t0 = performance.now();
    let i = 0;
    while (performance.now() - t0 < 3000) await act(i++);
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => r(null))));
    const seconds = (performance.now() - t0) / 1000;
    const fps = ((await frames()) - f0) / seconds;
    console.log(`${n.toLocaleString('en')}-point map, ${label}: ${fps.toFixed(1)} frames/s over ${i} input events`);
  };
  const cx = box.x + box.width / 2;
  const cy = box.y + box.height / 2;
  await page.mouse.move(cx, cy);
  await page.mouse.down();
  await measure('panning (drag)', (i) => page.mouse.move(cx + 100 * Math.sin(i / 10), cy + 60 * Math.cos(i / 10)));
  await page.mouse.up();
  await measure('zooming (wheel)', (i) => page.mouse.wheel(0, i % 20 < 10 ? -40 : 40));
  await page.waitForTimeout(300);
  // A full redraw of every point, as at rest: a click (mouse down and up) redraws once.
  const before = await frames();
  const t0 = performance.now();
  await page.mouse.move(cx + 3, cy + 3);
  await page.mouse.down();
  await page.mouse.up();
  await page.waitForFunction((f) => Number(document.getElementById('map')!.dataset.frames) > f, before);
  console.log(
    `${n.toLocaleString('en')}-point map: a full redraw of every point (after a click) ${(performance.now() - t0).toFixed(0)} ms`,
  );
} finally {
  await browser.close();
  await viewer.close();
  fs.rmSync(project, { recursive: true, force: true });
}
