/**
 * `ae view` in a real browser: Debian's Chromium driven by playwright-core (no browser download). Without
 * Chromium the tests skip with a note; CI sets AE_REQUIRE_BROWSER=1 and installs the package, so there they run.
 * Screenshots of each page go to $TMPDIR/ae-view-screens/ for a person to look at.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { chromium, type Page } from 'playwright-core';
import sharp from 'sharp';
import YAML from 'yaml';
import { evaluateRun } from '../src/evaluate/evaluate-run.js';
import { encode } from '../src/use/encode.js';
import { score } from '../src/use/score.js';
import { startViewer } from '../src/view/server.js';
import { smooth } from '../viewer/chart.js';
import { MNIST_DIR, startCli } from './helpers.js';
import { fixtureProject, latentNeighbours, readMap } from './view-fixture.js';

const CHROMIUM = process.env.AE_CHROMIUM ?? '/usr/bin/chromium';
const haveBrowser = fs.existsSync(CHROMIUM);
if (!haveBrowser && process.env.AE_REQUIRE_BROWSER === '1') {
  throw new Error(`AE_REQUIRE_BROWSER=1 but there is no Chromium at ${CHROMIUM}: apt-get install chromium`);
}
const skip = haveBrowser ? false : `no Chromium at ${CHROMIUM} (apt-get install chromium): browser tests skipped`;
const SCREENS = path.join(os.tmpdir(), 'ae-view-screens');

/** Pixels of a canvas that are not background (white or transparent). */
function inkOf(page: Page, selector: string): Promise<number> {
  return page.evaluate((sel) => {
    const c = document.querySelector(sel) as HTMLCanvasElement;
    const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    let ink = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i + 3]! > 0 && (d[i]! < 240 || d[i + 1]! < 240 || d[i + 2]! < 240)) ink++;
    return ink;
  }, selector);
}

/**
 * The canvas's ink once it exceeds `min`, or after `timeoutMs` whatever it is: the page draws charts after its
 * fetches return, so a check right after navigation can run before the drawing (it did, on a loaded CI machine).
 */
async function inkWhenOver(page: Page, selector: string, min: number, timeoutMs = 5000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let ink = await inkOf(page, selector);
  while (ink <= min && Date.now() < deadline) {
    await page.waitForTimeout(100);
    ink = await inkOf(page, selector);
  }
  return ink;
}

/** The colour on screen at page position (x, y), from a screenshot: what the person sees, whatever drew it. */
async function pixelAt(page: Page, x: number, y: number): Promise<[number, number, number]> {
  const png = await page.screenshot({ clip: { x: Math.floor(x), y: Math.floor(y), width: 1, height: 1 } });
  const { data } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return [data[0]!, data[1]!, data[2]!];
}

/** Runs `fn` on a page of Chromium at 1280 x 900 against `ae view` of `project`; closes both after. */
async function inBrowser(project: string, fn: (page: Page, url: string) => Promise<void>, deviceScaleFactor = 1): Promise<void> {
  const viewer = await startViewer({ project });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  try {
    await fn(await browser.newPage({ viewport: { width: 1280, height: 900 }, deviceScaleFactor }), viewer.url);
  } finally {
    await browser.close();
    await viewer.close();
  }
}

test('ae view in Chromium: the overview lists and sorts the runs, overlays curves, and a run page shows its pictures; a training run goes live', {
  skip,
}, async () => {
  fs.mkdirSync(SCREENS, { recursive: true });
  const project = await fixtureProject();
  const viewer = await startViewer({ project });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  const errors: string[] = [];
  const child = { current: null as ReturnType<typeof startCli> | null };
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(viewer.url);
    await page.waitForSelector('#runs tbody tr');
    const names = () => page.$$eval('#runs tbody tr', (rows) => rows.map((r) => r.getAttribute('data-run')));
    assert.deepEqual([...(await names())].sort(), ['damaged', 'failed', 'finished', 'interrupted']);
    assert.equal(await page.textContent('#runs tr[data-run="interrupted"] .status'), 'interrupted');
    assert.equal(await page.textContent('#runs tr[data-run="finished"] td.num'), '1 / 1');
    await page.click('th[data-key="name"]');
    assert.deepEqual(await names(), ['damaged', 'failed', 'finished', 'interrupted'], 'sorted by name');
    await page.click('th[data-key="name"]');
    assert.deepEqual(await names(), ['interrupted', 'finished', 'failed', 'damaged'], 'and the other way');
    const emptyChart = await inkOf(page, '#overlay');
    await page.check('input[data-run="finished"]');
    await page.check('input[data-run="interrupted"]');
    await page.waitForFunction(() => document.querySelectorAll('input[type=checkbox]:checked').length === 2);
    assert.ok((await inkWhenOver(page, '#overlay', emptyChart + 200)) > emptyChart + 200, 'two curves drawn on the overlay chart');
    await page.screenshot({ path: path.join(SCREENS, 'overview.png'), fullPage: true });

    await page.click('a[href="#/run/finished"]');
    // The interactive map comes before the folded pictures, within the first screen (it began ~3,000 px down).
    await page.waitForSelector('#map');
    assert.ok((await page.locator('#map').boundingBox())!.y < 900, 'the map starts within the first screen');
    assert.equal(await page.locator('.pictures img').first().isVisible(), false, 'the pictures are folded away');
    await page.click('#files summary');
    await page.waitForSelector('.pictures img');
    await page.waitForFunction(() =>
      [...document.querySelectorAll<HTMLImageElement>('.pictures img')].every((i) => i.complete && i.naturalWidth > 0),
    );
    assert.equal(await page.locator('.pictures img').count(), 3, 'latent_pca, loss and reconstructions');
    assert.ok((await inkWhenOver(page, '#run-chart', 100)) > 100, 'the loss chart is drawn');
    await page.screenshot({ path: path.join(SCREENS, 'run-finished.png'), fullPage: true });

    // The latent map: every point drawn; hover shows a point; a click lists its true nearest latent neighbours;
    // hiding a class removes its points; the CSV holds the stored coordinates.
    // ae score on the test split (threshold: the training scores' median, so about half are flagged), then the page
    // again: its scores join the map as a colouring and the reconstructions browser as a ranked list.
    await score(path.join(project, 'finished'), { percentile: 50 });
    await page.reload();
    await page.waitForSelector('#latent-map[data-ready="1"]');
    assert.equal(await page.getAttribute('#map', 'data-drawn'), '40');
    const scored = fs
      .readFileSync(path.join(project, 'finished', 'scores_test', 'scores.csv'), 'utf8')
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => l.split(','))
      .map((f) => ({ index: Number(f[0]), score: Number(f[4]), flagged: f[5] === '1' }))
      .filter((r) => r.index < 40);
    const flaggedFirst = scored.filter((r) => r.flagged).sort((a, b) => b.score - a.score || a.index - b.index);
    assert.ok(flaggedFirst.length > 0, 'some of the 40 mapped images are flagged');
    await page.selectOption('#recon-mode', 'flagged');
    const summary = JSON.parse(fs.readFileSync(path.join(project, 'finished', 'scores_test', 'summary.json'), 'utf8'));
    assert.equal(summary.percentile, 50);
    assert.ok(
      scored.every((r) => r.flagged === r.score > summary.threshold),
      'summary.json holds the threshold the flags used',
    );
    assert.equal(
      await page.textContent('#recon-summary'),
      `${flaggedFirst.length} of the map's 40 images flagged by ae score (score above ${summary.threshold.toPrecision(4)}, the 50th percentile of the training images' scores); the ${Math.min(12, flaggedFirst.length)} most anomalous shown. The score is the reconstruction error, so they also lead 'worst reconstructed'.`,
    );
    assert.deepEqual(
      await page.$$eval('#recon-grid figure', (fs) => fs.map((f) => Number(f.getAttribute('data-index')))),
      flaggedFirst.slice(0, 12).map((r) => r.index),
    );
    await page.selectOption('#colour-by', 'flagged');
    await page.waitForSelector('#map[data-complete="1"]');
    const shot = await page.locator('#map').screenshot();
    const { data: px } = await sharp(shot).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    let red = 0;
    for (let i = 0; i < px.length; i += 3) if (px[i] === 0xd6 && px[i + 1] === 0x27 && px[i + 2] === 0x28) red++;
    assert.ok(red >= 4 * flaggedFirst.length, `flagged points drawn in red: ${red} px`);
    await page.selectOption('#colour-by', 'class');
    const { arr } = readMap(path.join(project, 'finished', 'vis_outputs'), 'pca');
    const { nearest } = await latentNeighbours(project, 40, 10);
    await page.locator('#map').scrollIntoViewIfNeeded();
    const at = await page.evaluate(() =>
      (window as unknown as { aeMap: { screenOf(i: number): { x: number; y: number } } }).aeMap.screenOf(5),
    );
    await page.mouse.move(at.x, at.y);
    await page.waitForSelector('#map-tooltip:not(.hidden)');
    const hovered = Number(await page.getAttribute('#map-tooltip', 'data-index'));
    assert.match(
      (await page.textContent('#map-tooltip')) ?? '',
      new RegExp(`^point #${hovered} · class \\d · MSE 0\\.\\d+$`),
      'each number named',
    );
    assert.match((await page.textContent('#recon-grid figcaption')) ?? '', /^point #\d+ · class \d · MSE 0\.\d+$/);
    assert.equal(await page.locator('#map-tooltip canvas').count(), 2, 'the image and its reconstruction');
    await page.mouse.click(at.x, at.y);
    await page.waitForSelector('#neighbours li');
    const listed = await page.$$eval('#neighbours li', (items) => items.map((li) => Number(li.getAttribute('data-index'))));
    assert.deepEqual(listed, nearest(hovered), "the clicked point's 10 nearest latent neighbours");
    const labels = arr('labels');
    const cls = labels[0]!;
    const inClass = [...labels].filter((l) => l === cls).length;
    await page.uncheck(`#legend input[data-class="${cls}"]`);
    assert.equal(await page.getAttribute('#map', 'data-drawn'), String(40 - inClass));
    await page.check(`#legend input[data-class="${cls}"]`);
    await page.selectOption('#colour-by', 'error');
    await page.screenshot({ path: path.join(SCREENS, 'latent-map.png'), fullPage: true });
    // The reconstructions browser: the worst reconstructed first, one class, and a seeded random pick.
    const shownIndices = () => page.$$eval('#recon-grid figure', (fs) => fs.map((f) => Number(f.getAttribute('data-index'))));
    const errs = arr('errors');
    await page.selectOption('#recon-mode', 'worst');
    const worst = [...Array(40).keys()].sort((a, b) => errs[b]! - errs[a]! || a - b).slice(0, 12);
    assert.deepEqual(await shownIndices(), worst);
    assert.equal(await page.locator('#recon-grid figure').first().locator('canvas').count(), 3, 'input, reconstruction, error map');
    await page.selectOption('#recon-mode', `class:${cls}`);
    assert.ok((await shownIndices()).every((i) => labels[i] === cls) && (await shownIndices()).length === Math.min(12, inClass));
    await page.selectOption('#recon-mode', 'random');
    const seed0 = await shownIndices();
    await page.fill('#recon-seed', '1');
    await page.dispatchEvent('#recon-seed', 'change');
    const seed1 = await shownIndices();
    await page.fill('#recon-seed', '0');
    await page.dispatchEvent('#recon-seed', 'change');
    assert.deepEqual(await shownIndices(), seed0, 'the same seed picks the same images');
    assert.notDeepEqual(seed1, seed0);
    await page.locator('#reconstructions').screenshot({ path: path.join(SCREENS, 'reconstructions.png') });
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-csv')]);
    const csv = fs
      .readFileSync((await download.path())!, 'utf8')
      .trim()
      .split('\n');
    // With ae score's results on the map, each row carries the image's score and flag too.
    assert.equal(csv[0], 'index,label,class,x,y,error,score,flagged');
    assert.equal(csv.length, 41);
    const coords = arr('coords');
    for (const i of [0, 17, 39]) {
      const [index, , , x, y, , s, flag] = csv[i + 1]!.split(',');
      const row = scored.find((r) => r.index === i)!;
      assert.deepEqual([Number(index), Math.fround(Number(x)), Math.fround(Number(y))], [i, coords[2 * i], coords[2 * i + 1]]);
      assert.deepEqual([Math.fround(Number(s)), flag === '1'], [Math.fround(row.score), row.flagged]);
    }
    await page.goto(`${viewer.url}#/run/interrupted`);
    await page.waitForSelector('text=No pictures yet: ae test interrupted makes them');

    // Live: a run started now appears as training, and its page follows the epochs.
    const config = path.join(project, 'live.yaml');
    fs.writeFileSync(config, YAML.stringify({ name: 'live', project, epochs: 200, MNIST: { path: MNIST_DIR } }));
    child.current = startCli(['train', '--config', config]);
    await page.goto(viewer.url);
    await page.waitForSelector('#runs tr[data-run="live"] .status.training', { timeout: 60_000 });
    await page.click('a[href="#/run/live"]');
    const epochShown = async () =>
      Number(/epoch (\d+) of 200/.exec((await page.textContent('#live-progress').catch(() => '')) ?? '')?.[1] ?? 0);
    await page.waitForFunction(() => /epoch \d+ of 200/.test(document.getElementById('live-progress')?.textContent ?? ''), null, {
      timeout: 60_000,
    });
    const first = await epochShown();
    await page.waitForFunction(
      (n) => Number(/epoch (\d+) of 200/.exec(document.getElementById('live-progress')?.textContent ?? '')?.[1] ?? 0) > n,
      first,
      { timeout: 60_000 },
    );
    await page.screenshot({ path: path.join(SCREENS, 'run-live.png'), fullPage: true });
    assert.deepEqual(errors, [], 'no errors in the page');
  } finally {
    child.current?.kill('SIGKILL');
    await browser.close();
    await viewer.close();
  }
});

test('the map in Chromium: class search and #index search say what matched; a drag keeps the selection; the hover box leaves with the pointer and its point is ringed; double-click and the button reset the view', {
  skip,
}, async () => {
  const project = await fixtureProject();
  await inBrowser(project, async (page, url) => {
    await page.goto(`${url}#/run/finished`);
    await page.waitForSelector('#map');
    await page.locator('#map').scrollIntoViewIfNeeded();
    const { arr } = readMap(path.join(project, 'finished', 'vis_outputs'), 'pca');
    const labels = arr('labels');
    const screenOf = (i: number) =>
      page.evaluate((k) => (window as unknown as { aeMap: { screenOf(i: number): { x: number; y: number } } }).aeMap.screenOf(k), i);
    // Where point i is on the map canvas (not the viewport: clicks may scroll the page).
    const onCanvas = async (i: number) => {
      const p = await screenOf(i);
      const b = (await page.locator('#map').boundingBox())!;
      return { x: p.x - b.x, y: p.y - b.y };
    };
    const search = async (q: string) => {
      await page.fill('#map-search', q);
      await page.dispatchEvent('#map-search', 'change');
      return (await page.textContent('#map-search-status')) ?? '';
    };
    // 1. "7" is the class of sevens (MNIST's class names are digits); "#7" is point 7; no match says so.
    const sevens = [...labels].filter((l) => l === 7).length;
    assert.match(await search('7'), new RegExp(`^class 7: ${sevens} points shown`));
    assert.equal(await page.getAttribute('#map', 'data-drawn'), String(sevens));
    assert.equal(await page.locator('#neighbours li').count(), 0, 'a class search selects no point');
    assert.match(await search('#7'), new RegExp(`^point #7 \\(class ${labels[7]}\\)`));
    assert.equal(await page.locator('#neighbours li').count(), 10);
    assert.equal(await search('zebra'), 'no class named "zebra"');
    assert.equal(await search('#400'), 'no point #400: the map has points #0 to #39');
    for (let c = 0; c < 10; c++) await page.check(`#legend input[data-class="${c}"]`);

    // 3. A drag that ends on the canvas keeps the clicked point and its neighbours.
    const p5 = await screenOf(5);
    const start5 = await onCanvas(5);
    await page.mouse.click(p5.x, p5.y);
    await page.waitForSelector('#neighbours li');
    const before = await page.$$eval('#neighbours li', (items) => items.map((li) => li.getAttribute('data-index')));
    const box = (await page.locator('#map').boundingBox())!;
    await page.mouse.move(box.x + 300, box.y + 300);
    await page.mouse.down();
    await page.mouse.move(box.x + 360, box.y + 340, { steps: 5 });
    await page.mouse.up();
    assert.deepEqual(await page.$$eval('#neighbours li', (items) => items.map((li) => li.getAttribute('data-index'))), before);

    // 13. The neighbours sit in a compact grid, and clicking one moves the selection to it.
    const listBox = (await page.locator('#neighbours').boundingBox())!;
    assert.ok(listBox.height < 260, `the ten neighbours take ${listBox.height} px of height`);
    const { nearest } = await latentNeighbours(project, 40, 10);
    const next = Number(before[3]);
    await page.click(`#neighbours li[data-index="${next}"]`);
    await page.waitForFunction((j) => document.getElementById('neighbours')?.dataset.of === String(j), next);
    assert.deepEqual(
      await page.$$eval('#neighbours li', (items) => items.map((li) => Number(li.getAttribute('data-index')))),
      nearest(next),
      "the clicked neighbour's own 10 nearest neighbours",
    );

    // 5. Double-click (and the button) restore the first view after a pan and a zoom.
    const moved5 = await onCanvas(5);
    assert.ok(Math.abs(moved5.x - start5.x - 60) < 1 && Math.abs(moved5.y - start5.y - 40) < 1, 'the drag moved the map by the pointer');
    await page.locator('#map').scrollIntoViewIfNeeded();
    const box2 = (await page.locator('#map').boundingBox())!;
    await page.mouse.move(box2.x + 450, box2.y + 320);
    await page.mouse.wheel(0, -300);
    await page.waitForTimeout(250);
    await page.dblclick('#map', { position: { x: 20, y: 20 } });
    const reset = await onCanvas(5);
    assert.ok(
      Math.abs(reset.x - start5.x) < 0.5 && Math.abs(reset.y - start5.y) < 0.5,
      `double-click resets: ${JSON.stringify([reset, start5])}`,
    );
    await page.mouse.move(box2.x + 300, box2.y + 300);
    await page.mouse.down();
    await page.mouse.move(box2.x + 200, box2.y + 250, { steps: 3 });
    await page.mouse.up();
    await page.click('#map-reset');
    const again = await onCanvas(5);
    assert.ok(Math.abs(again.x - start5.x) < 0.5 && Math.abs(again.y - start5.y) < 0.5, 'the button resets too');

    // 4. The hover box describes a ringed point, and goes when the pointer leaves the map.
    await page.locator('#map').scrollIntoViewIfNeeded();
    const box3 = (await page.locator('#map').boundingBox())!;
    const h5 = await screenOf(5);
    await page.mouse.move(h5.x, h5.y);
    await page.waitForSelector('#map-tooltip:not(.hidden)');
    const hovered = await page.getAttribute('#map-tooltip', 'data-index');
    assert.equal(await page.getAttribute('#map', 'data-hovered'), hovered, 'the ring marks the described point');
    const tip = (await page.locator('#map-tooltip').boundingBox())!;
    assert.ok(Math.hypot(tip.x - h5.x, tip.y - h5.y) < 260, 'the box sits beside the pointer');
    await page.mouse.move(box3.x - 30, box3.y - 30);
    await page.waitForSelector('#map-tooltip.hidden', { state: 'attached' });
    assert.equal(await page.getAttribute('#map', 'data-hovered'), '', 'no ring once the pointer has left');
    await page.screenshot({ path: path.join(SCREENS, 'map-tools.png'), fullPage: true });
  });
});

test('charts in Chromium: the overview says to tick runs when none is ticked; a one-epoch run is drawn mid-axis, not in the corners', {
  skip,
}, async () => {
  const project = await fixtureProject();
  await inBrowser(project, async (page, url) => {
    await page.goto(url);
    await page.waitForSelector('#runs tbody tr');
    await page.waitForFunction(() => (document.getElementById('overlay') as HTMLCanvasElement | null)?.dataset.note !== undefined);
    assert.equal(await page.getAttribute('#overlay', 'data-note'), 'tick runs in the table to overlay their validation loss');
    await page.check('input[data-run="finished"]');
    await page.waitForFunction(() => document.getElementById('overlay')?.dataset.note === '');

    // The finished run has one epoch: its two points (train, validation) in the middle of the plot's width, apart.
    await page.goto(`${url}#/run/finished`);
    await page.waitForSelector('#run-chart');
    await inkWhenOver(page, '#run-chart', 100);
    const dots = await page.evaluate(() => {
      const c = document.getElementById('run-chart') as HTMLCanvasElement;
      const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      // Pixels of the two series' colours inside the plot (left of the legend, which starts 150 px from the right).
      const found: Record<string, number[][]> = { train: [], validation: [] };
      for (let y = 0; y < c.height; y++)
        for (let x = 0; x < c.width - 150; x++) {
          const i = 4 * (y * c.width + x);
          if (d[i] === 0x1f && d[i + 1] === 0x77 && d[i + 2] === 0xb4) found.train!.push([x, y]);
          if (d[i] === 0xff && d[i + 1] === 0x7f && d[i + 2] === 0x0e) found.validation!.push([x, y]);
        }
      return { width: c.width, height: c.height, found };
    });
    const centre = (pts: number[][]) => [pts.reduce((s, p) => s + p[0]!, 0) / pts.length, pts.reduce((s, p) => s + p[1]!, 0) / pts.length];
    const plotMiddle = (76 + dots.width - 150) / 2;
    for (const series of ['train', 'validation']) {
      const pts = dots.found[series]!;
      assert.ok(pts.length >= 9, `${series} dot drawn (${pts.length} px)`);
      const [x, y] = centre(pts);
      assert.ok(Math.abs(x! - plotMiddle) < 4, `${series} dot at x ${x}, the plot's middle is ${plotMiddle}`);
      assert.ok(y! > 16 && y! < dots.height - 40, `${series} dot off the frame (y ${y})`);
    }
  });
});

test('colour by reconstruction error in Chromium: a continuous scale with its MSE values replaces the class legend, and the worst image is the darkest red', {
  skip,
}, async () => {
  const project = await fixtureProject();
  await inBrowser(project, async (page, url) => {
    await page.goto(`${url}#/run/finished`);
    await page.waitForSelector('#latent-map[data-ready="1"]');
    await page.locator('#map').scrollIntoViewIfNeeded();
    const errs = readMap(path.join(project, 'finished', 'vis_outputs'), 'pca').arr('errors');
    const order = [...errs.keys()].sort((a, b) => errs[a]! - errs[b]!);
    assert.equal(await page.isVisible('#error-scale'), false);
    await page.selectOption('#colour-by', 'error');
    assert.equal(await page.isVisible('#legend'), false, 'the class legend hides');
    assert.equal(await page.isVisible('#error-scale'), true, 'the error scale shows');
    assert.equal(await page.getAttribute('#error-scale', 'data-min'), errs[order[0]!]!.toPrecision(3));
    assert.equal(await page.textContent('#error-scale .scale-max'), errs[order[order.length - 1]!]!.toPrecision(3));
    // The colour drawn at a point: the worst reconstructed is the scale's dark red end, the best its light end.
    await page.waitForSelector('#map[data-complete="1"]');
    const colourAt = async (i: number) => {
      const p = await page.evaluate(
        (k) => (window as unknown as { aeMap: { screenOf(i: number): { x: number; y: number } } }).aeMap.screenOf(k),
        i,
      );
      return pixelAt(page, p.x, p.y);
    };
    assert.deepEqual(await colourAt(order[order.length - 1]!), [128, 0, 38], 'highest error: dark red');
    assert.deepEqual(await colourAt(order[0]!), [255, 255, 204], 'lowest error: light yellow');
    await page.selectOption('#colour-by', 'class');
    assert.equal(await page.isVisible('#legend'), true);
    assert.equal(await page.isVisible('#error-scale'), false);
  });
});

test('a run validating, in Chromium: the overview and the run page name the same epoch, and the page says it is validating, not training', {
  skip,
}, async () => {
  const project = await fixtureProject();
  // A run that has finished one of five epochs and is validating the second: progress.json as the trainer writes
  // it, and writer.lock held by this (live) process, as `ae resume` would hold it.
  const dir = path.join(project, 'validating');
  fs.cpSync(path.join(project, 'interrupted'), dir, { recursive: true });
  const now = new Date().toISOString();
  fs.writeFileSync(
    path.join(dir, 'progress.json'),
    JSON.stringify({ phase: 'validation', epoch: 1, epochs: 5, step: 4, steps: 4, epoch_loss: 0.123456, updated: now, pid: process.pid }),
  );
  fs.writeFileSync(
    path.join(dir, 'writer.lock'),
    JSON.stringify({ pid: process.pid, host: os.hostname(), command: 'ae resume', started: now, heartbeat: now }),
  );
  await inBrowser(project, async (page, url) => {
    await page.goto(url);
    await page.waitForSelector('#runs tr[data-run="validating"] .status.training');
    assert.equal(await page.textContent('#runs tr[data-run="validating"] td.num'), '2 / 5', 'the epoch in progress, as the run page says');
    await page.click('a[href="#/run/validating"]');
    await page.waitForSelector('#live-progress');
    const line = (await page.textContent('#live-progress')) ?? '';
    assert.equal(line, 'epoch 2 of 5: validating; training loss of the epoch 0.12346');
    assert.equal(await page.locator('#epoch-progress').count(), 0, 'no training-step bar while validating');
  });
});

test('a run page open in Chromium shows the outputs of an ae test run after it opened, without a reload', { skip }, async () => {
  const project = await fixtureProject();
  await inBrowser(project, async (page, url) => {
    await page.goto(`${url}#/run/interrupted`);
    await page.waitForSelector('text=No pictures yet: ae test interrupted makes them');
    assert.equal(await page.locator('#map').count(), 0);
    await evaluateRun(path.join(project, 'interrupted'), { embed: 'pca', limit: 40, count: 4 });
    // The server polls once a second; the page redraws the run when its summary changes.
    await page.waitForSelector('#latent-map[data-ready="1"]', { timeout: 15_000 });
    assert.equal(await page.getAttribute('#map', 'data-drawn'), '40');
    // The map can be ready while ae test is still writing its pictures (seen in CI: 2 of 3 at that moment); the
    // next poll brings the rest, so wait for them (up to the same bound) before counting.
    await page
      .waitForFunction(() => document.querySelectorAll('#files .pictures img').length >= 3, null, { timeout: 15_000 })
      .catch(() => undefined);
    assert.equal(await page.locator('#files .pictures img').count(), 3, 'its pictures too');
  });
});

test('a damaged map in Chromium: the run page says which file cannot be read and why, in place of the map; the rest of the page stays', {
  skip,
}, async () => {
  const project = await fixtureProject();
  const run = path.join(project, 'broken-map');
  fs.cpSync(path.join(project, 'finished'), run, { recursive: true });
  const bin = path.join(run, 'vis_outputs', 'map_pca.bin');
  fs.truncateSync(bin, 64); // a copy cut short: the header promises the coordinates and more
  const errors: string[] = [];
  await inBrowser(project, async (page, url) => {
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${url}#/run/broken-map`);
    const note = await page.waitForSelector('#map-error');
    assert.match(
      (await note.textContent())!,
      /vis_outputs\/map_pca\.json is not a readable latent map: the \.bin file ends before its arrays do/,
    );
    assert.equal(await page.locator('#map').count(), 0, 'no map drawn from a damaged file');
    assert.equal(await page.locator('#files .pictures img').count(), 3, 'the pictures are still shown');
    assert.deepEqual(errors, [], 'no uncaught error in the page');
    await page.screenshot({ path: path.join(SCREENS, 'run-damaged-map.png'), fullPage: true });
  });
});

type MapWindow = { aeMap: { screenOf(i: number): { x: number; y: number } } };

/** Pixels of a screenshot that are not white or near-white. */
async function inkOfShot(png: Buffer): Promise<number> {
  const { data } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  let ink = 0;
  for (let i = 0; i < data.length; i += 3) if (data[i]! < 240 || data[i + 1]! < 240 || data[i + 2]! < 240) ink++;
  return ink;
}

test('the map in Chromium on a 2x screen: fills the width at full pixel density; a lasso lists the images inside with their CSV; zoomed in, points become thumbnails; the address restores view, colouring and selection', {
  skip,
}, async () => {
  const project = await fixtureProject();
  await inBrowser(
    project,
    async (page, url) => {
      await page.goto(`${url}#/run/finished`);
      await page.waitForSelector('#latent-map[data-ready="1"]');
      await page.locator('#map').scrollIntoViewIfNeeded();
      await page.waitForSelector('#map[data-complete="1"]');
      // Defect 14: the canvas takes the page's width and draws at the device's pixel ratio.
      const size = await page.$eval('#map', (c) => {
        const canvas = c as HTMLCanvasElement;
        return {
          w: canvas.width,
          h: canvas.height,
          cssW: canvas.clientWidth,
          cssH: canvas.clientHeight,
          main: document.getElementById('main')!.clientWidth,
        };
      });
      assert.ok(size.cssW >= size.main - 40, `the map fills the width: ${size.cssW} of ${size.main} px`);
      assert.deepEqual([size.w, size.h], [2 * size.cssW, 2 * size.cssH], 'two device pixels per CSS pixel');
      const dots = await inkOfShot(await page.locator('#map').screenshot({ scale: 'device' }));
      assert.ok(dots >= 40 * 25, `each 3-px point covers 6 x 6 device pixels: ${dots} drawn`);

      // A lasso (shift-drag) around the left half of the points: exactly those inside are listed.
      const where = await page.evaluate(() => Array.from({ length: 40 }, (_, i) => (window as unknown as MapWindow).aeMap.screenOf(i)));
      const xs = where.map((p) => p.x).sort((a, b) => a - b);
      const cut = (xs[19]! + xs[20]!) / 2;
      const box = (await page.locator('#map').boundingBox())!;
      const [x0, y0, x1, y1] = [box.x + 5, box.y + 5, cut, box.y + box.height - 5];
      const inside = where.flatMap((p, i) => (p.x > x0 && p.x < x1 && p.y > y0 && p.y < y1 ? [i] : []));
      assert.ok(inside.length >= 15 && inside.length <= 25, `about half the points: ${inside.length}`);
      await page.keyboard.down('Shift');
      await page.mouse.move(x0, y0);
      await page.mouse.down();
      for (const [x, y] of [
        [x1, y0],
        [x1, y1],
        [x0, y1],
        [x0, y0 + 1],
      ] as const)
        await page.mouse.move(x, y, { steps: 4 });
      await page.mouse.up();
      await page.keyboard.up('Shift');
      await page.waitForSelector('#map-selection:not(.hidden)');
      assert.match((await page.textContent('#selection-count')) ?? '', new RegExp(`^${inside.length} points selected$`));
      const grid = await page.$$eval('#selection-grid figure', (fs) => fs.map((f) => Number(f.getAttribute('data-index'))));
      assert.deepEqual(grid, inside);
      assert.equal(await page.locator('#selection-grid figure canvas').count(), inside.length, 'each with its image');
      const [download] = await Promise.all([page.waitForEvent('download'), page.click('#selection-csv')]);
      const rows = fs
        .readFileSync((await download.path())!, 'utf8')
        .trim()
        .split('\n');
      assert.deepEqual(
        rows.slice(1).map((r) => Number(r.split(',')[0])),
        inside,
      );
      await page.locator('#latent-map').screenshot({ path: path.join(SCREENS, 'map-lasso.png') });
      await page.click('#selection-clear');
      assert.equal(await page.isVisible('#map-selection'), false);

      // Point size: 2.5 px right of the most isolated point's centre is background at 3 px, the point at 6 px.
      await page.locator('#map').scrollIntoViewIfNeeded();
      await page.mouse.move(0, 0);
      const ps = await page.evaluate(() => Array.from({ length: 40 }, (_, i) => (window as unknown as MapWindow).aeMap.screenOf(i)));
      const gap = (i: number) => Math.min(...ps.map((q, j) => (j === i ? Infinity : Math.hypot(q.x - ps[i]!.x, q.y - ps[i]!.y))));
      const lonely = ps.reduce((best, p, i) => (gap(i) > gap(ps.indexOf(best)) ? p : best), ps[0]!);
      const centreColour = await pixelAt(page, lonely.x, lonely.y);
      assert.ok(
        centreColour.some((v) => v < 200),
        `the point itself is drawn: ${centreColour}`,
      );
      assert.deepEqual(await pixelAt(page, lonely.x + 2.5, lonely.y), [255, 255, 255], 'beside a 3-px point: background');
      await page.$eval('#point-size', (e) => {
        (e as HTMLInputElement).value = '6';
        e.dispatchEvent(new Event('input'));
      });
      await page.waitForSelector('#map[data-complete="1"]');
      assert.deepEqual(await pixelAt(page, lonely.x + 2.5, lonely.y), centreColour, 'within a 6-px point: its colour');

      // Zoomed in on a point, the points on screen are drawn as their images.
      assert.equal(await page.getAttribute('#map-overlay', 'data-thumbnails'), '0');
      await page.locator('#map').scrollIntoViewIfNeeded();
      const target = await page.evaluate((i) => (window as unknown as MapWindow).aeMap.screenOf(i), inside[0]!);
      for (let k = 0; k < 8; k++) {
        await page.mouse.move(target.x, target.y);
        await page.mouse.wheel(0, -100);
      }
      await page.waitForFunction(() => document.getElementById('map-overlay')?.dataset.thumbnails === '1');
      await page.locator('#map').screenshot({ path: path.join(SCREENS, 'map-thumbnails.png') });

      // Colour by error, select a point: the address now carries the view, and a new page opened on it shows
      // the same view, colouring and selection.
      await page.selectOption('#colour-by', 'error');
      await page.evaluate(() => (document.getElementById('map-search') as HTMLInputElement).scrollIntoView());
      await page.fill('#map-search', `#${inside[0]}`);
      await page.dispatchEvent('#map-search', 'change');
      await page.waitForFunction(() => /view=/.test(location.hash) && /point=/.test(location.hash));
      await page.waitForSelector('#map[data-complete="1"]');
      const shared = page.url();
      const placeAt = await page.evaluate((i) => {
        const p = (window as unknown as MapWindow).aeMap.screenOf(i);
        const r = document.getElementById('map')!.getBoundingClientRect();
        return { x: p.x - r.left, y: p.y - r.top };
      }, inside[1]!);
      await page.goto('about:blank');
      const again = page;
      await again.goto(shared);
      await again.waitForSelector('#latent-map[data-ready="1"]');
      assert.equal(await again.$eval('#colour-by', (e) => (e as HTMLSelectElement).value), 'error');
      assert.equal(await again.getAttribute('#neighbours', 'data-of'), String(inside[0]));
      const placeAgain = await again.evaluate((i) => {
        const p = (window as unknown as MapWindow).aeMap.screenOf(i);
        const r = document.getElementById('map')!.getBoundingClientRect();
        return { x: p.x - r.left, y: p.y - r.top };
      }, inside[1]!);
      assert.ok(Math.abs(placeAgain.x - placeAt.x) < 1 && Math.abs(placeAgain.y - placeAt.y) < 1, 'the same view');
    },
    2,
  );
});

test('images dropped on the map in Chromium: encoded by the run model in the page, scored as ae score scores them (within 1e-5), placed where ae encode --onto places them', {
  skip,
}, async () => {
  const project = await fixtureProject();
  const runDir = path.join(project, 'finished');
  // Four MNIST test images past the 40 on the map, as 28 x 28 grey PNG files.
  const { set } = await latentNeighbours(project, 44, 1);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ae-drop-'));
  const files: string[] = [];
  for (const i of [40, 41, 42, 43]) {
    const bytes = Buffer.from(Array.from(set.images.subarray(i * 784, (i + 1) * 784), (v) => Math.round(v * 255)));
    const file = path.join(dir, `digit-${i}.png`);
    await sharp(bytes, { raw: { width: 28, height: 28, channels: 1 } })
      .png()
      .toFile(file);
    files.push(file);
  }
  const mapFile = path.join(runDir, 'vis_outputs', 'map_pca.json');
  const cli = await encode(runDir, { input: files, onto: mapFile, out: path.join(dir, 'codes.csv'), format: 'csv' });
  const scored = await score(runDir, { input: files, outDir: path.join(dir, 'scores'), percentile: 50 });
  const scoreOf = new Map(scored.rows.map((r) => [path.basename(r.path!), r.score]));
  const coords = readMap(path.join(runDir, 'vis_outputs'), 'pca').arr('coords');
  let extent = 0;
  for (let i = 0; i < coords.length; i += 2) extent = Math.max(extent, Math.abs(coords[i]!), Math.abs(coords[i + 1]!));
  await inBrowser(project, async (page, url) => {
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    let uploads = 0;
    page.on('request', (r) => {
      if (r.method() !== 'GET') uploads++;
    });
    await page.goto(`${url}#/run/finished`);
    await page.waitForSelector('#latent-map[data-ready="1"]');
    // Three through the file button, one dropped on the map (a drop event carrying the file).
    await page.setInputFiles('#place-files', files.slice(0, 3));
    await page.waitForSelector('#placed[data-count="3"]', { timeout: 60_000 });
    const dropped = fs.readFileSync(files[3]!).toString('base64');
    await page.evaluate(
      ([b64, name]) => {
        const bytes = Uint8Array.from(atob(b64!), (ch) => ch.charCodeAt(0));
        const transfer = new DataTransfer();
        transfer.items.add(new File([bytes], name!, { type: 'image/png' }));
        document
          .getElementById('latent-map')!
          .dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }));
      },
      [dropped, path.basename(files[3]!)],
    );
    await page.waitForSelector('#placed[data-count="4"]', { timeout: 60_000 });
    const shown = await page.$$eval('#placed figure', (fs) =>
      fs.map((f) => ({
        name: f.getAttribute('data-name')!,
        x: Number(f.getAttribute('data-x')),
        y: Number(f.getAttribute('data-y')),
        score: Number(f.getAttribute('data-score')),
      })),
    );
    assert.deepEqual(
      shown.map((s) => s.name),
      files.map((f) => path.basename(f)),
    );
    shown.forEach((s, i) => {
      const want = scoreOf.get(s.name)!;
      assert.ok(Math.abs(s.score - want) <= 1e-5, `${s.name}: score ${s.score} in the page, ${want} by ae score`);
      const [x, y] = [cli.placed!.coords[2 * i]!, cli.placed!.coords[2 * i + 1]!];
      const d = Math.hypot(s.x - x, s.y - y);
      // The page runs transformPoints' TypeScript path, ae encode the native one: the same steps, float rounding
      // apart (measured: at most 1.4e-6 of a map 1.8 units wide; the bound is 1e-4 of the extent).
      assert.ok(d <= 1e-4 * extent, `${s.name}: placed ${d} map units from ae encode --onto's place (map extent ${extent})`);
    });
    assert.equal(await page.locator('#placed figure canvas').count(), 8, 'each image beside its reconstruction');
    assert.equal(uploads, 0, 'nothing but GET requests: the images never leave the page');
    await page.locator('#latent-map').screenshot({ path: path.join(SCREENS, 'map-dropped.png') });
    assert.deepEqual(errors, []);
  });
});

test('results first in Chromium: the run page opens with its metrics and key settings; the overview has their columns, filters and colours its rows as their curves; charts show values on hover and switch scale; the anomaly view pages the flagged images over a histogram with the threshold', {
  skip,
}, async () => {
  const project = await fixtureProject();
  const runDir = path.join(project, 'finished');
  await score(runDir, { percentile: 10, outDir: path.join(runDir, 'scores_test') });
  const metrics = JSON.parse(fs.readFileSync(path.join(runDir, 'vis_outputs', 'metrics.json'), 'utf8'));
  const summary = JSON.parse(fs.readFileSync(path.join(runDir, 'scores_test', 'summary.json'), 'utf8'));
  const history = fs
    .readFileSync(path.join(runDir, 'history.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  // The trainer's step-by-step losses (progress.json) average to the epoch's training loss (4 steps of 64 images).
  const progress = JSON.parse(fs.readFileSync(path.join(runDir, 'progress.json'), 'utf8'));
  assert.deepEqual(
    progress.step_losses.map((s: number[]) => s[0]),
    [1, 2, 3, 4],
  );
  const mean = progress.step_losses.reduce((t: number, s: number[]) => t + s[1]!, 0) / 4;
  assert.ok(Math.abs(mean - history[0].train_loss) < 1e-6, `step losses average ${mean}, the epoch's loss ${history[0].train_loss}`);
  // TensorBoard's smoothing by hand, weight 0.5: EMAs 0.5 and 1.75, debiased by 1 - 0.5 and 1 - 0.25.
  const smoothed = smooth([1, 3], 0.5);
  assert.ok(Math.abs(smoothed[0]! - 1) < 1e-12 && Math.abs(smoothed[1]! - 7 / 3) < 1e-12, `${smoothed}`);
  await inBrowser(project, async (page, url) => {
    await page.goto(url);
    await page.waitForSelector('#runs tr[data-run="finished"]');
    const cell = (run: string, col: string) => page.textContent(`#runs tr[data-run="${run}"] td[data-col="${col}"]`);
    assert.equal(await cell('finished', 'mse'), metrics.test_mse.toPrecision(5));
    assert.equal(await cell('finished', 'knn'), metrics.latent.knn5_accuracy.toFixed(3));
    assert.equal(await cell('finished', 'latent_dim'), '32');
    assert.equal(await cell('finished', 'lr'), '0.001');
    assert.match((await cell('finished', 'updated')) ?? '', /^\d+ (s|min|h|d) ago$/);
    await page.fill('#runs-filter', 'interr');
    await page.waitForFunction(() => document.querySelectorAll('#runs tbody tr').length === 1);
    assert.equal(await page.getAttribute('#runs tbody tr', 'data-run'), 'interrupted');
    assert.equal(await page.textContent('#runs-shown'), '1 of 4 shown');
    await page.fill('#runs-filter', '');
    await page.waitForFunction(() => document.querySelectorAll('#runs tbody tr').length === 4);
    // The row's swatch colour is the colour its curve is drawn in.
    const swatch = await page.$eval('#runs tr[data-run="interrupted"] .run-colour', (e) => getComputedStyle(e).backgroundColor);
    const [r, g, b] = swatch.match(/\d+/g)!.map(Number);
    await page.check('input[data-run="interrupted"]');
    await page.waitForFunction(() => document.getElementById('overlay')?.dataset.note === '');
    const inColour = await page.evaluate(
      ([r0, g0, b0]) => {
        const c = document.getElementById('overlay') as HTMLCanvasElement;
        const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
        let k = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i] === r0 && d[i + 1] === g0 && d[i + 2] === b0) k++;
        return k;
      },
      [r!, g!, b!],
    );
    assert.ok(inColour > 10, `the curve is drawn in the row's colour rgb(${r}, ${g}, ${b}): ${inColour} px`);

    await page.goto(`${url}#/run/finished`);
    await page.waitForSelector('#latent-map[data-ready="1"]');
    const card = (key: string) => page.textContent(`#results .card[data-metric="${key}"] .card-value`);
    assert.equal(await card('mse'), metrics.test_mse.toPrecision(4));
    assert.equal(await card('knn'), metrics.latent.knn5_accuracy.toFixed(3));
    assert.equal(await card('trust'), metrics.embedding.trustworthiness_k10.toFixed(3));
    assert.equal(await card('threshold'), summary.threshold.toPrecision(4));
    assert.equal(
      (await page.textContent('#results .card[data-metric="threshold"] .card-note')) ?? '',
      `10th percentile of training scores; ${summary.flagged.toLocaleString('en')} of ${summary.images.toLocaleString('en')} flagged`,
    );
    assert.equal(
      await page.textContent('#key-config'),
      `AE · mnist · latent 32 · lr 0.001 · batch 64 · 1 epochs · ${history[0].seconds.toFixed(1)} s of training`,
    );
    const top = async (sel: string) => (await page.locator(sel).boundingBox())!.y;
    assert.ok(
      (await top('#results')) < (await top('#run-chart')) && (await top('#run-chart')) < (await top('#map')),
      'results, then the chart, then the map',
    );
    assert.ok((await top('#results')) < 300, 'the metrics are the first thing on the page');

    // Hover on the chart: the values at the nearest epoch.
    const chart = (await page.locator('#run-chart').boundingBox())!;
    await page.mouse.move(chart.x + chart.width / 2, chart.y + chart.height / 2);
    await page.waitForSelector('#run-chart-tip:not(.hidden)');
    const tip = (await page.textContent('#run-chart-tip')) ?? '';
    assert.ok(
      tip.includes(`train loss: ${history[0].train_loss.toPrecision(5)}`) &&
        tip.includes(`validation loss: ${history[0].val_loss.toPrecision(5)}`),
      tip,
    );
    await page.selectOption('#chart-scale', 'log');
    assert.equal(await page.getAttribute('#run-chart', 'data-scale'), 'log');
    await page.selectOption('#chart-scale', 'linear');
    assert.equal(await page.getAttribute('#run-chart', 'data-scale'), 'linear');

    // The anomaly view: every scored map image in the histogram, flagged ones highest score first, a page at a time.
    const scored = fs
      .readFileSync(path.join(runDir, 'scores_test', 'scores.csv'), 'utf8')
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => l.split(','))
      .map((f) => ({ index: Number(f[0]), score: Number(f[4]), flagged: f[5] === '1' }))
      .filter((s) => s.index < 40);
    const flagged = scored.filter((s) => s.flagged).sort((a, b) => b.score - a.score || a.index - b.index);
    assert.ok(flagged.length > 24, `more than a page flagged: ${flagged.length}`);
    const counts = ((await page.getAttribute('#anomaly-histogram', 'data-counts')) ?? '').split(',').map(Number);
    assert.equal(
      counts.reduce((s, c) => s + c, 0),
      40,
    );
    assert.ok(Number(await page.getAttribute('#anomaly-histogram', 'data-threshold-x')) > 0, 'the threshold drawn');
    assert.match(
      (await page.textContent('#anomaly-summary')) ?? '',
      new RegExp(`^${flagged.length} of the map's 40 scored images are flagged: score above ${summary.threshold.toPrecision(4)}`),
    );
    const shownIndices = () => page.$$eval('#anomaly-grid figure', (fs) => fs.map((f) => Number(f.getAttribute('data-index'))));
    assert.deepEqual(
      await shownIndices(),
      flagged.slice(0, 24).map((s) => s.index),
    );
    await page.click('#anomaly-next');
    assert.deepEqual(
      await shownIndices(),
      flagged.slice(24).map((s) => s.index),
    );
    assert.equal(await page.textContent('#anomaly-page'), `page 2 of 2: flagged images 25-${flagged.length} of ${flagged.length}`);
    await page.click(`#anomaly-grid figure[data-index="${flagged[24]!.index}"]`);
    await page.waitForFunction((i) => document.getElementById('neighbours')?.dataset.of === String(i), flagged[24]!.index);
    await page.screenshot({ path: path.join(SCREENS, 'run-results.png'), fullPage: true });
  });
});

test('a run training, in Chromium: the chart draws the epoch in progress step by step, and the progress line gives images/s and the time left', {
  skip,
}, async () => {
  const project = await fixtureProject();
  const dir = path.join(project, 'training');
  fs.cpSync(path.join(project, 'interrupted'), dir, { recursive: true });
  const now = new Date().toISOString();
  // Epoch 2 of 5, 50 of 100 steps done in 25 s (2 steps/s, 256 images/s); the finished epoch took 60 s.
  const stepLosses = Array.from({ length: 50 }, (_, k) => [k + 1, 0.3 - 0.001 * k]);
  fs.writeFileSync(
    path.join(dir, 'progress.json'),
    JSON.stringify({
      phase: 'train',
      epoch: 1,
      epochs: 5,
      step: 50,
      steps: 100,
      epoch_loss: 0.275,
      updated: now,
      pid: process.pid,
      step_losses: stepLosses,
      epoch_seconds: 25,
      images_per_second: 256,
    }),
  );
  const history = fs
    .readFileSync(path.join(dir, 'history.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  fs.writeFileSync(path.join(dir, 'history.jsonl'), `${JSON.stringify({ ...history[0], seconds: 60 })}\n`);
  fs.writeFileSync(
    path.join(dir, 'writer.lock'),
    JSON.stringify({ pid: process.pid, host: os.hostname(), command: 'ae resume', started: now, heartbeat: now }),
  );
  await inBrowser(project, async (page, url) => {
    await page.goto(`${url}#/run/training`);
    await page.waitForSelector('#live-progress');
    // 60 s for the finished epoch and 25 s of this one; 50 steps left at 2 a second: 25 s; then 3 more epochs of 60 s.
    assert.equal(
      await page.textContent('#live-progress'),
      'epoch 2 of 5, train: step 50 / 100  loss so far 0.27500; 256 images/s; 1 min 25 s elapsed; 25.0 s left in the epoch, about 3 min 25 s in the run',
    );
    // Hovering the chart at epoch 1.5 (step 50 of 100 in epoch 2) shows the step-by-step loss there.
    await inkWhenOver(page, '#run-chart', 100);
    const chart = (await page.locator('#run-chart').boundingBox())!;
    // x of epoch 1.5 on the axis from 1 to 1.5 (the last step-loss point): the right end of the plot.
    await page.mouse.move(chart.x + chart.width - 150 - 2, chart.y + chart.height / 2);
    await page.waitForSelector('#run-chart-tip:not(.hidden)');
    assert.equal(await page.getAttribute('#run-chart-tip', 'data-x'), '1.5');
    assert.ok(((await page.textContent('#run-chart-tip')) ?? '').includes(`train loss by step: ${(0.3 - 0.049).toPrecision(5)}`));
    await page.screenshot({ path: path.join(SCREENS, 'run-training.png'), fullPage: false });
    assert.equal(await page.getAttribute('#run-chart', 'data-series'), 'train loss|validation loss|train loss by step');
    // The next epoch has just begun (step 0): progress.json still holds the last epoch's steps, which are not drawn
    // as this epoch's.
    fs.writeFileSync(
      path.join(dir, 'progress.json'),
      JSON.stringify({
        phase: 'train',
        epoch: 2,
        epochs: 5,
        step: 0,
        steps: 100,
        epoch_loss: null,
        updated: new Date().toISOString(),
        pid: process.pid,
        step_losses: stepLosses,
        epoch_seconds: 0,
        images_per_second: null,
      }),
    );
    await page.waitForFunction(() => document.getElementById('live-progress')?.textContent?.startsWith('epoch 3 of 5'), null, {
      timeout: 15_000,
    });
    await page.waitForFunction(() => document.getElementById('run-chart')?.dataset.series === 'train loss|validation loss');
  });
});
