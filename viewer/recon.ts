/**
 * The reconstructions browser: images of the map's split (a seeded random pick, the worst reconstructed, or one
 * class), each as input, reconstruction and per-pixel squared error (a heat map), with the image's error. Built
 * from the map data `ae test` saved (thumbnails and errors), so it needs no model in the browser.
 */
import { el, seededRandom, thumbnail } from './dom.js';
import type { MapData } from './map-data.js';

/** Per-pixel squared error of image i as a heat map (black: none, yellow: the largest possible). */
function errorMap(data: MapData, i: number, scale = 3): HTMLCanvasElement {
  const { height: h, width: w, channels: c } = data.header;
  const out = el('canvas', { width: String(w * scale), height: String(h * scale), class: 'thumb' });
  if (!data.images || !data.recons) return out;
  const img = new ImageData(w, h);
  for (let p = 0; p < w * h; p++) {
    let se = 0;
    for (let k = 0; k < c; k++) se += ((data.images[(i * w * h + p) * c + k]! - data.recons[(i * w * h + p) * c + k]!) / 255) ** 2;
    const v = Math.min(1, Math.sqrt(se / c));
    img.data.set([Math.round(255 * Math.min(1, 2 * v)), Math.round(255 * Math.max(0, 2 * v - 1)), 0, 255], p * 4);
  }
  const tmp = el('canvas', { width: String(w), height: String(h) });
  tmp.getContext('2d')!.putImageData(img, 0, 0);
  const g = out.getContext('2d')!;
  g.imageSmoothingEnabled = false;
  g.drawImage(tmp, 0, 0, out.width, out.height);
  return out;
}

/**
 * The indices `mode` picks: `random` (seeded), `worst` (largest error first), `flagged` (flagged by `ae score`,
 * highest score first) or `class:<c>` (in split order).
 */
export function pick(data: MapData, mode: string, count: number, seed: number): number[] {
  const n = data.header.count;
  const all = Array.from({ length: n }, (_, i) => i);
  if (mode === 'worst') return all.sort((a, b) => data.errors[b]! - data.errors[a]! || a - b).slice(0, count);
  if (mode === 'flagged' && data.scores) {
    const { score, flagged } = data.scores;
    return all.filter((i) => flagged[i]).sort((a, b) => score[b]! - score[a]! || a - b).slice(0, count);
  }
  if (mode.startsWith('class:')) return all.filter((i) => data.labels[i] === Number(mode.slice(6))).slice(0, count);
  const rng = seededRandom(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [all[i], all[j]] = [all[j]!, all[i]!];
  }
  return all.slice(0, count);
}

export function renderReconstructions(container: HTMLElement, data: MapData): void {
  const mode = el(
    'select',
    { id: 'recon-mode' },
    el('option', { value: 'random' }, 'random (seeded)'),
    el('option', { value: 'worst' }, 'worst reconstructed'),
    ...(data.scores ? [el('option', { value: 'flagged' }, 'flagged by ae score, most anomalous first')] : []),
    ...data.classes.map((name, c) => el('option', { value: `class:${c}` }, `class ${name}`)),
  );
  const seed = el('input', { id: 'recon-seed', type: 'number', value: '0', size: '5' });
  const grid = el('div', { id: 'recon-grid', class: 'recon-grid' });
  // In the flagged list: how many are flagged, above which threshold, and how many of them are shown.
  const summary = el('p', { id: 'recon-summary', class: 'muted' });
  const show = () => {
    const picks = pick(data, mode.value, 12, Number(seed.value) || 0);
    summary.textContent = '';
    if (mode.value === 'flagged' && data.scores) {
      const { flagged, threshold, percentile } = data.scores;
      const count = flagged.reduce((s, f) => s + f, 0);
      const rule =
        threshold === null
          ? ''
          : ` (score above ${threshold.toPrecision(4)}${percentile === null ? '' : `, the ${percentile}th percentile of the training images' scores`})`;
      summary.textContent =
        `${count} of the map's ${data.header.count} images flagged by ae score${rule}; the ${Math.min(12, count)} most anomalous shown. ` +
        "The score is the reconstruction error, so they also lead 'worst reconstructed'.";
    }
    grid.replaceChildren(
      ...picks.map((i) =>
        el(
          'figure',
          { 'data-index': String(i) },
          thumbnail(data.images, i, data.header),
          thumbnail(data.recons, i, data.header),
          errorMap(data, i),
          el('figcaption', {}, `point #${i} · class ${data.classes[data.labels[i]!] ?? data.labels[i]} · MSE ${data.errors[i]!.toPrecision(3)}`),
        ),
      ),
    );
  };
  mode.onchange = show;
  seed.onchange = show;
  container.replaceChildren(
    el('h3', {}, 'Reconstructions'),
    el('p', {}, mode, ' seed ', seed, ' each: input, reconstruction, per-pixel error'),
    summary,
    data.images ? grid : el('p', { class: 'empty' }, 'This map was saved without thumbnails (too many or too large images).'),
  );
  show();
}
