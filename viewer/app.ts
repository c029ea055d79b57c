/**
 * The `ae view` page: the runs of a project (sortable, select several to overlay their loss curves) and one run
 * live (config, loss per epoch, the current epoch's progress, the pictures `ae test` made). Updates come from the
 * server's event stream (/api/events). No framework: a few DOM helpers and a canvas chart.
 */

import type { HistoryRow, RunDetail, RunListEntry } from '../src/view/api-types.js';
import type { Config } from '../src/config/schema.js';
import { enableDrop } from './drop.js';
import { loadMapData, loadRest, loadScores } from './map-data.js';
import { type MapHandle, type MapState, renderMap } from './map.js';
import { renderReconstructions } from './recon.js';

declare global {
  interface Window {
    /** The latent map on the page, for automation (the browser tests). */
    aeMap?: MapHandle;
  }
}

const main = document.getElementById('main')!;
let runs: RunListEntry[] = [];
let sortKey: keyof RunListEntry = 'updated';
let ascending = false;
const selected = new Set<string>();
const histories = new Map<string, HistoryRow[]>();

function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, ...children: Array<Node | string>): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  e.append(...children);
  return e;
}

const fmt = (v: number | null) => (v === null ? '—' : v.toPrecision(5));

async function fetchRun(name: string): Promise<RunDetail> {
  const r = await fetch(`/api/runs/${encodeURIComponent(name)}`);
  if (!r.ok) throw new Error(`no run ${name}`);
  return (await r.json()) as RunDetail;
}

/**
 * Lines on a canvas: one series per entry, log scale when the values span more than 10x, axis titles. `empty` is
 * what the chart says when there is nothing to draw (also kept in data-note).
 */
function drawChart(
  canvas: HTMLCanvasElement,
  series: Array<{ label: string; colour: string; points: Array<[number, number]> }>,
  empty = 'no finished epoch yet',
): void {
  const ratio = window.devicePixelRatio || 1;
  const w = canvas.clientWidth || 900;
  const h = canvas.clientHeight || 320;
  canvas.width = w * ratio;
  canvas.height = h * ratio;
  const g = canvas.getContext('2d')!;
  g.scale(ratio, ratio);
  g.clearRect(0, 0, w, h);
  const all = series.flatMap((s) => s.points);
  canvas.dataset.note = all.length === 0 ? empty : '';
  if (all.length === 0) {
    g.fillStyle = '#666';
    g.fillText(empty, 20, 30);
    return;
  }
  const xs = all.map((p) => p[0]);
  const ys = all.map((p) => p[1]).filter((v) => v > 0);
  const log = ys.length > 0 && Math.max(...ys) / Math.min(...ys) > 10;
  const ty = (v: number) => (log ? Math.log10(v) : v);
  // One epoch: the points sit in the middle of an axis from epoch - 0.5 to epoch + 0.5, not on its left edge.
  const [first, last] = [Math.min(...xs), Math.max(...xs)];
  const [x0, x1] = last > first ? [first, last] : [first - 0.5, first + 0.5];
  // A margin above and below the values (and a band around a flat series), so no point sits on the frame.
  const [lo, hi] = [Math.min(...ys.map(ty)), Math.max(...ys.map(ty))];
  const band = hi - lo > 1e-12 ? 0.08 * (hi - lo) : Math.abs(hi) * 0.05 || 1;
  const [y0, y1] = [lo - band, hi + band];
  const pad = { l: 76, r: 150, t: 12, b: 34 };
  const px = (x: number) => pad.l + ((x - x0) / (x1 - x0)) * (w - pad.l - pad.r);
  const py = (y: number) => h - pad.b - ((ty(y) - y0) / (y1 - y0 || 1)) * (h - pad.t - pad.b);
  g.strokeStyle = '#999';
  g.strokeRect(pad.l, pad.t, w - pad.l - pad.r, h - pad.t - pad.b);
  g.fillStyle = '#333';
  g.font = '11px system-ui';
  for (let i = 0; i <= 4; i++) {
    const v = y0 + ((y1 - y0) * i) / 4;
    const value = log ? 10 ** v : v;
    g.fillText(value.toPrecision(3), 22, h - pad.b - ((h - pad.t - pad.b) * i) / 4 + 4);
  }
  if (last > first) {
    g.fillText(`${first}`, pad.l, h - pad.b + 14);
    g.fillText(`${last}`, w - pad.r - 16, h - pad.b + 14);
  } else g.fillText(`${first}`, px(first) - 3, h - pad.b + 14);
  g.fillText('epoch', (pad.l + w - pad.r) / 2 - 14, h - 4);
  g.save();
  g.translate(12, (pad.t + h - pad.b) / 2 + 30);
  g.rotate(-Math.PI / 2);
  g.fillText(log ? 'loss (log scale)' : 'loss', 0, 0);
  g.restore();
  series.forEach((s, i) => {
    g.strokeStyle = s.colour;
    g.fillStyle = s.colour;
    g.lineWidth = 2;
    g.beginPath();
    s.points.forEach(([x, y], k) => (k === 0 ? g.moveTo(px(x), py(y)) : g.lineTo(px(x), py(y))));
    g.stroke();
    for (const [x, y] of s.points) g.fillRect(px(x) - 2, py(y) - 2, 4, 4);
    g.fillText(s.label, w - pad.r + 8, pad.t + 14 + i * 16);
  });
}

const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#17becf'];

function renderOverview(): void {
  const sorted = [...runs].sort((a, b) => {
    const x = a[sortKey] ?? '';
    const y = b[sortKey] ?? '';
    return (x < y ? -1 : x > y ? 1 : 0) * (ascending ? 1 : -1);
  });
  const columns: Array<[keyof RunListEntry, string]> = [
    ['name', 'run'],
    ['model_type', 'model'],
    ['dataset', 'dataset'],
    ['status', 'status'],
    ['epoch', 'epoch'],
    ['best_val_loss', 'best val loss'],
    ['updated', 'updated'],
  ];
  const head = el('tr', {}, el('th', {}, ''), ...columns.map(([k, label]) => {
    const th = el('th', { class: k === sortKey ? `sorted${ascending ? ' asc' : ''}` : '', 'data-key': String(k) }, label);
    th.onclick = () => {
      ascending = sortKey === k ? !ascending : true;
      sortKey = k;
      renderOverview();
    };
    return th;
  }));
  const rows = sorted.map((r) => {
    const box = el('input', { type: 'checkbox', 'data-run': r.name });
    box.checked = selected.has(r.name);
    box.onchange = () => {
      if (box.checked) selected.add(r.name);
      else selected.delete(r.name);
      void drawOverlay();
    };
    // Finished epochs; for a run training, the epoch in progress, as its page says ("epoch 2 of 5").
    const epoch = r.status === 'training' && r.progress ? `${r.progress.epoch + 1} / ${r.progress.epochs}` : `${r.epoch} / ${r.epochs ?? '?'}`;
    return el(
      'tr',
      { 'data-run': r.name },
      el('td', {}, box),
      el('td', {}, el('a', { href: `#/run/${encodeURIComponent(r.name)}` }, r.name)),
      el('td', {}, r.model_type ?? '?'),
      el('td', {}, r.dataset ?? '?'),
      el('td', {}, el('span', { class: `status ${r.status}` }, r.status)),
      el('td', { class: 'num' }, epoch),
      el('td', { class: 'num' }, fmt(r.best_val_loss)),
      el('td', {}, new Date(r.updated).toLocaleString()),
    );
  });
  const canvas = el('canvas', { class: 'chart', id: 'overlay' });
  main.replaceChildren(
    el('h2', {}, `Runs (${runs.length})`),
    runs.length === 0 ? el('p', { class: 'empty' }, 'No runs in this folder yet: start one with ae train --config configs/mnist-ae.yaml') : el('table', { id: 'runs' }, el('thead', {}, head), el('tbody', {}, ...rows)),
    el('p', {}, 'Select runs to overlay their validation loss curves.'),
    canvas,
  );
  void drawOverlay();
}

async function drawOverlay(): Promise<void> {
  const canvas = document.getElementById('overlay') as HTMLCanvasElement | null;
  if (!canvas) return;
  for (const name of selected) if (!histories.has(name)) histories.set(name, (await fetchRun(name)).history);
  drawChart(
    canvas,
    [...selected].map((name, i) => ({ label: name, colour: PALETTE[i % PALETTE.length]!, points: (histories.get(name) ?? []).map((h) => [h.epoch, h.val_loss] as [number, number]) })),
    selected.size === 0 ? 'tick runs in the table to overlay their validation loss' : 'no finished epoch yet in the runs ticked',
  );
}

async function renderRun(name: string): Promise<void> {
  let run: RunDetail;
  try {
    run = await fetchRun(name);
  } catch {
    main.replaceChildren(el('p', { class: 'note' }, `No run named ${name} in this project.`), el('a', { href: '#/' }, 'all runs'));
    return;
  }
  histories.set(name, run.history);
  const summary = runs.find((r) => r.name === name);
  const progress = summary?.progress ?? null;
  // Widths are set through the CSSOM: the page's Content-Security-Policy forbids inline style attributes.
  const fill = el('div');
  fill.style.width = `${progress && progress.steps ? Math.round((100 * progress.step) / progress.steps) : 0}%`;
  const bar = el('div', { class: 'progress', id: 'epoch-progress' }, fill);
  // While validating, the epoch's training is done: its loss is final, and no training step is in progress.
  const live =
    run.status === 'training' && progress
      ? progress.phase === 'validation'
        ? el(
            'p',
            { id: 'live-progress' },
            `epoch ${progress.epoch + 1} of ${progress.epochs}: validating`,
            progress.epoch_loss === null ? '' : `; training loss of the epoch ${progress.epoch_loss.toPrecision(5)}`,
          )
        : el(
            'p',
            { id: 'live-progress' },
            `epoch ${progress.epoch + 1} of ${progress.epochs}, ${progress.phase}: step ${progress.step} / ${progress.steps} `,
            bar,
            progress.epoch_loss === null ? '' : ` loss so far ${progress.epoch_loss.toPrecision(5)}`,
          )
      : el('p', {}, `status: ${run.status}, ${run.epoch} of ${run.epochs ?? '?'} epochs`);
  const canvas = el('canvas', { class: 'chart', id: 'run-chart' });
  const pictures = run.outputs.filter((f) => f.endsWith('.png'));
  const mapBox = el('div', { id: 'latent-map' });
  main.replaceChildren(
    el('p', {}, el('a', { href: '#/' }, '← all runs')),
    el('h2', {}, `${run.name} `, el('span', { class: `status ${run.status}` }, run.status)),
    live,
    ...run.notes.map((n) => el('p', { class: 'note' }, n)),
    canvas,
    // The interactive map first; the static pictures of the same results (the map, the curves) fold away.
    mapBox,
    pictures.length
      ? el(
          'details',
          { id: 'files' },
          el('summary', {}, `files: ${pictures.length} pictures from ae test`),
          el('div', { class: 'pictures' }, ...pictures.map((f) => el('img', { src: `/runs/${encodeURIComponent(name)}/${f}`, alt: f }))),
        )
      : el('p', { class: 'empty' }, `No pictures yet: ae test ${name} makes them (reconstructions, latent map, loss curve).`),
    el('h3', {}, 'Config'),
    el('pre', {}, JSON.stringify(run.config, null, 2)),
  );
  const mapFile = run.outputs.find((f) => /^vis_outputs\/map_\w+\.json$/.test(f));
  window.aeMap = undefined;
  if (mapFile) {
    const base = `/runs/${encodeURIComponent(name)}`;
    const data = await loadMapData(base, mapFile);
    const scoresFile = `scores_${data.header.split}/scores.csv`;
    const summaryFile = `scores_${data.header.split}/summary.json`;
    if (run.outputs.includes(scoresFile)) {
      data.scores = await loadScores(`${base}/${scoresFile}`, data.header.count, run.outputs.includes(summaryFile) ? `${base}/${summaryFile}` : null);
    }
    const map = renderMap(mapBox, data, { state: stateFromUrl(), onState: (s) => keepInUrl(name, s) });
    window.aeMap = map;
    // Neighbours and thumbnails arrive after the first picture; then the page is fully interactive.
    await loadRest(data);
    map.refresh();
    if (run.config) enableDrop(mapBox, data, map, run.config as unknown as Config, base);
    mapBox.dataset.ready = '1';
    const reconBox = el('div', { id: 'reconstructions' });
    mapBox.after(reconBox);
    setTimeout(() => renderReconstructions(reconBox, data), 0);
  } else mapBox.append(el('p', { class: 'empty' }, `No latent map yet: ae test ${name} writes it (vis_outputs/map_<method>.bin).`));
  drawChart(canvas, [
    { label: 'train loss', colour: PALETTE[0]!, points: run.history.map((h) => [h.epoch, h.train_loss]) },
    { label: 'validation loss', colour: PALETTE[1]!, points: run.history.map((h) => [h.epoch, h.val_loss]) },
  ]);
}

/** The run a page shows, from its address: #/run/<name>?<map state>. */
function shownRun(): string | null {
  const m = /^#\/run\/([^?]+)/.exec(location.hash);
  return m ? decodeURIComponent(m[1]!) : null;
}

/** The map state a shared address carries (colour, view, selected point, point size, hidden classes). */
function stateFromUrl(): MapState {
  const q = new URLSearchParams(location.hash.split('?')[1] ?? '');
  const numbers = (k: string) => (q.get(k) ?? '').split(',').filter((v) => v !== '').map(Number);
  const view = numbers('view');
  const colour = q.get('colour');
  return {
    ...(colour === 'class' || colour === 'error' || colour === 'flagged' ? { colour } : {}),
    ...(view.length === 3 && view.every(Number.isFinite) ? { view: view as [number, number, number] } : {}),
    ...(q.has('point') && Number.isInteger(Number(q.get('point'))) ? { point: Number(q.get('point')) } : {}),
    ...(q.has('size') && Number(q.get('size')) > 0 ? { size: Number(q.get('size')) } : {}),
    ...(q.has('hidden') ? { hidden: numbers('hidden').filter(Number.isInteger) } : {}),
  };
}

/** Writes the map's state into the address (no history entry, no reload), so the link shows this view. */
function keepInUrl(name: string, s: MapState): void {
  const q = new URLSearchParams();
  if (s.colour && s.colour !== 'class') q.set('colour', s.colour);
  if (s.view) q.set('view', s.view.map((v) => Number(v.toPrecision(6))).join(','));
  if (s.point !== undefined) q.set('point', String(s.point));
  if (s.size !== undefined) q.set('size', String(s.size));
  if (s.hidden?.length) q.set('hidden', s.hidden.join(','));
  history.replaceState(null, '', `#/run/${encodeURIComponent(name)}?${q.toString().replace(/%2C/g, ',')}`);
}

let routed = '';
function route(): void {
  const name = shownRun();
  // A change of the address's map state alone (the page wrote it) is not a new page.
  routed = name ?? '';
  if (name !== null) void renderRun(name);
  else renderOverview();
}

function connect(): void {
  const status = document.getElementById('live')!;
  const events = new EventSource('/api/events');
  events.addEventListener('runs', (e) => {
    const previous = new Map(runs.map((r) => [r.name, JSON.stringify(r)]));
    runs = (JSON.parse((e as MessageEvent).data) as { runs: RunListEntry[] }).runs;
    for (const r of runs) histories.delete(r.name); // refetched when drawn
    status.textContent = `live · ${new Date().toLocaleTimeString()}`;
    status.classList.remove('down');
    // A run page is redrawn only when its run changed (the map keeps its zoom and selection otherwise).
    const name = shownRun();
    if (name !== null && previous.get(name) === JSON.stringify(runs.find((r) => r.name === name))) return;
    route();
  });
  events.onerror = () => {
    status.textContent = 'disconnected: retrying';
    status.classList.add('down');
  };
}

window.addEventListener('hashchange', () => {
  if (shownRun() !== routed || shownRun() === null) route();
});
void fetch('/api/runs')
  .then((r) => r.json())
  .then((d: { project: string; runs: RunListEntry[] }) => {
    document.getElementById('project')!.textContent = d.project;
    runs = d.runs;
    route();
    connect();
  });
