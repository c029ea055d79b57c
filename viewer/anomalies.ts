/**
 * The anomaly view of a run page, from `ae score`'s results on the map's split: the threshold and its percentile,
 * a histogram of every score with the threshold drawn on it, and every flagged image, most anomalous first, a page
 * at a time (input beside reconstruction, score); clicking one locates it on the map.
 */
import { el, hidpiContext, thumbnail } from './dom.js';
import type { MapHandle } from './map.js';
import type { MapData } from './map-data.js';

/** Flagged images per page. */
export const PAGE_SIZE = 24;
const BINS = 40;

export function renderAnomalies(container: HTMLElement, data: MapData, map: MapHandle): void {
  const scores = data.scores;
  if (!scores) return;
  const n = data.header.count;
  const valid = Array.from({ length: n }, (_, i) => i).filter((i) => Number.isFinite(scores.score[i]!));
  const flagged = valid.filter((i) => scores.flagged[i]).sort((a, b) => scores.score[b]! - scores.score[a]! || a - b);
  const { threshold, percentile } = scores;
  const pages = Math.max(1, Math.ceil(flagged.length / PAGE_SIZE));
  let page = 0;

  // Histogram: BINS equal bins from the lowest score to the highest (the threshold inside the range when it can be).
  const values = valid.map((i) => scores.score[i]!);
  const lo = Math.min(...values, threshold ?? Infinity);
  const hi = Math.max(...values, threshold ?? -Infinity);
  const counts = new Array<number>(BINS).fill(0);
  for (const v of values) counts[Math.min(BINS - 1, Math.floor(((v - lo) / (hi - lo || 1)) * BINS))]!++;
  const hist = el('canvas', { id: 'anomaly-histogram', class: 'histogram' });
  const drawHistogram = () => {
    const { g, w, h } = hidpiContext(hist, 700, 180);
    const pad = { l: 50, r: 20, t: 10, b: 34 };
    const max = Math.max(...counts, 1);
    const px = (v: number) => pad.l + ((v - lo) / (hi - lo || 1)) * (w - pad.l - pad.r);
    const bw = (w - pad.l - pad.r) / BINS;
    counts.forEach((c, k) => {
      const binLo = lo + ((hi - lo) * k) / BINS;
      g.fillStyle = threshold !== null && binLo >= threshold ? '#d62728' : '#8aa';
      const bh = (c / max) * (h - pad.t - pad.b);
      g.fillRect(pad.l + k * bw + 0.5, h - pad.b - bh, bw - 1, bh);
    });
    g.strokeStyle = '#999';
    g.strokeRect(pad.l, pad.t, w - pad.l - pad.r, h - pad.t - pad.b);
    g.fillStyle = '#333';
    g.font = '11px system-ui';
    g.fillText(lo.toPrecision(3), pad.l, h - pad.b + 14);
    g.fillText(hi.toPrecision(3), w - pad.r - 30, h - pad.b + 14);
    g.fillText('score (reconstruction MSE)', (w - 120) / 2, h - 4);
    g.fillText(String(max), 8, pad.t + 10);
    g.fillText('images', 4, h - pad.b);
    if (threshold !== null) {
      const x = px(threshold);
      hist.dataset.thresholdX = String(x);
      g.strokeStyle = '#000';
      g.setLineDash([4, 3]);
      g.beginPath();
      g.moveTo(x, pad.t);
      g.lineTo(x, h - pad.b);
      g.stroke();
      g.setLineDash([]);
      g.fillStyle = '#000';
      g.fillText(`threshold ${threshold.toPrecision(4)}`, Math.min(x + 4, w - 120), pad.t + 12);
    }
  };
  hist.dataset.counts = counts.join(',');

  const grid = el('div', { id: 'anomaly-grid', class: 'recon-grid' });
  const position = el('span', { id: 'anomaly-page', class: 'muted' });
  const prev = el('button', { id: 'anomaly-prev' }, '← more anomalous');
  const next = el('button', { id: 'anomaly-next' }, 'less anomalous →');
  const show = () => {
    const items = flagged.slice(page * PAGE_SIZE, (page + 1) * PAGE_SIZE);
    position.textContent = flagged.length ? `page ${page + 1} of ${pages}: flagged images ${page * PAGE_SIZE + 1}-${page * PAGE_SIZE + items.length} of ${flagged.length}` : 'no image is flagged';
    prev.disabled = page === 0;
    next.disabled = page >= pages - 1;
    grid.replaceChildren(
      ...items.map((i) => {
        const f = el(
          'figure',
          { 'data-index': String(i), title: 'locate on the map' },
          thumbnail(data.images, i, data.header, 2),
          thumbnail(data.recons, i, data.header, 2),
          el('figcaption', {}, `point #${i} · class ${data.classes[data.labels[i]!] ?? data.labels[i]} · score ${scores.score[i]!.toPrecision(4)}`),
        );
        f.onclick = () => {
          map.locate(i);
          document.getElementById('map')?.scrollIntoView({ block: 'center' });
        };
        return f;
      }),
    );
  };
  prev.onclick = () => {
    page = Math.max(0, page - 1);
    show();
  };
  next.onclick = () => {
    page = Math.min(pages - 1, page + 1);
    show();
  };
  container.replaceChildren(
    el('h3', {}, 'Anomalies (ae score)'),
    el(
      'p',
      { id: 'anomaly-summary' },
      `${flagged.length.toLocaleString('en')} of the map's ${valid.length.toLocaleString('en')} scored images are flagged`,
      threshold === null ? '' : `: score above ${threshold.toPrecision(4)}${percentile === null ? '' : `, the ${percentile}th percentile of the training images' scores`}`,
      '. Click an image to find it on the map.',
    ),
    hist,
    el('p', {}, prev, ' ', next, ' ', position),
    grid,
  );
  requestAnimationFrame(drawHistogram);
  show();
}
