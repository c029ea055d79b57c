/**
 * The `ae view` page: the runs of a project (sortable, select several to overlay their loss curves) and one run
 * live (config, loss per epoch, the current epoch's progress, the pictures `ae test` made). Updates come from the
 * server's event stream (/api/events). No framework: a few DOM helpers and a canvas chart.
 */

import type { HistoryRow, RunDetail, RunListEntry } from '../src/view/api-types.js';
import type { Config } from '../src/config/schema.js';
import { enableDrop } from './drop.js';
import { loadMapData, loadRest, loadScores, type MapData } from './map-data.js';
import { type MapHandle, type MapState, renderMap } from './map.js';
import { renderReconstructions } from './recon.js';
import { renderAnomalies } from './anomalies.js';
import { chartControls, lineChart, type Series } from './chart.js';
import { el } from './dom.js';

declare global {
  interface Window {
    /** The latent map on the page, for automation (the browser tests). */
    aeMap?: MapHandle;
  }
}

const main = document.getElementById('main')!;
let runs: RunListEntry[] = [];
let sortKey = 'updated';
let ascending = false;
const selected = new Set<string>();
const histories = new Map<string, HistoryRow[]>();

const fmt = (v: number | null) => (v === null ? '—' : v.toPrecision(5));

async function fetchRun(name: string): Promise<RunDetail> {
  const r = await fetch(`/api/runs/${encodeURIComponent(name)}`);
  if (!r.ok) throw new Error(`no run ${name}`);
  return (await r.json()) as RunDetail;
}

const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#17becf'];

/** A run's colour: its row's swatch and its curve on the overlay chart (stable: by name among all runs). */
function colourOf(name: string): string {
  const names = runs.map((r) => r.name).sort();
  return PALETTE[Math.max(0, names.indexOf(name)) % PALETTE.length]!;
}

/** "12 s ago", "5 min ago", "3 h ago", "2 d ago". */
function ago(iso: string): string {
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (!Number.isFinite(s)) return '?';
  if (s < 60) return `${Math.round(s)} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

/** 75 -> "1 min 15 s", 7500 -> "2 h 5 min". */
function duration(seconds: number): string {
  if (!(seconds > 0)) return '—';
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(seconds / 3600)} h ${Math.round((seconds % 3600) / 60)} min`;
}

let filterText = '';
type Column = { key: string; label: string; value: (r: RunListEntry) => string | number | null; show: (r: RunListEntry) => Node | string; num?: boolean; title?: string };
const COLUMNS: Column[] = [
  { key: 'name', label: 'run', value: (r) => r.name, show: (r) => el('a', { href: `#/run/${encodeURIComponent(r.name)}` }, r.name) },
  { key: 'model_type', label: 'model', value: (r) => r.model_type, show: (r) => r.model_type ?? '?' },
  { key: 'dataset', label: 'dataset', value: (r) => r.dataset, show: (r) => r.dataset ?? '?' },
  { key: 'status', label: 'status', value: (r) => r.status, show: (r) => el('span', { class: `status ${r.status}` }, r.status) },
  {
    key: 'epoch',
    label: 'epoch',
    num: true,
    value: (r) => r.epoch,
    // Finished epochs; for a run training, the epoch in progress, as its page says ("epoch 2 of 5").
    show: (r) => (r.status === 'training' && r.progress ? `${r.progress.epoch + 1} / ${r.progress.epochs}` : `${r.epoch} / ${r.epochs ?? '?'}`),
  },
  { key: 'best_val_loss', label: 'best val loss', num: true, value: (r) => r.best_val_loss, show: (r) => fmt(r.best_val_loss) },
  { key: 'mse', label: 'test MSE', num: true, title: "ae test's reconstruction MSE", value: (r) => r.results.mse, show: (r) => fmt(r.results.mse) },
  { key: 'knn', label: '5-NN acc.', num: true, title: 'labels predicted by the 5 nearest codes (ae test)', value: (r) => r.results.knn_accuracy, show: (r) => (r.results.knn_accuracy === null ? '—' : r.results.knn_accuracy.toFixed(3)) },
  { key: 'latent_dim', label: 'latent', num: true, value: (r) => r.latent_dim, show: (r) => String(r.latent_dim ?? '—') },
  { key: 'lr', label: 'lr', num: true, value: (r) => r.lr, show: (r) => (r.lr === null ? '—' : String(r.lr)) },
  { key: 'seconds', label: 'time', num: true, title: 'training and validation time of the finished epochs', value: (r) => r.seconds, show: (r) => duration(r.seconds) },
  { key: 'updated', label: 'updated', value: (r) => r.updated, show: (r) => el('span', { 'data-time': r.updated, title: new Date(r.updated).toLocaleString() }, ago(r.updated)) },
];

function renderOverview(): void {
  const column = COLUMNS.find((c) => c.key === sortKey) ?? COLUMNS[COLUMNS.length - 1]!;
  const q = filterText.trim().toLowerCase();
  const shown = runs.filter((r) => q === '' || [r.name, r.model_type, r.dataset, r.status].some((v) => (v ?? '').toLowerCase().includes(q)));
  const sorted = [...shown].sort((a, b) => {
    const x = column.value(a) ?? '';
    const y = column.value(b) ?? '';
    return (x < y ? -1 : x > y ? 1 : 0) * (ascending ? 1 : -1);
  });
  const head = el(
    'tr',
    {},
    el('th', {}, ''),
    ...COLUMNS.map((c) => {
      const th = el('th', { class: c.key === column.key ? `sorted${ascending ? ' asc' : ''}` : '', 'data-key': c.key, ...(c.title ? { title: c.title } : {}) }, c.label);
      th.onclick = () => {
        ascending = sortKey === c.key ? !ascending : true;
        sortKey = c.key;
        renderOverview();
      };
      return th;
    }),
  );
  const rows = sorted.map((r) => {
    const box = el('input', { type: 'checkbox', 'data-run': r.name, title: 'overlay its validation loss' });
    box.checked = selected.has(r.name);
    box.onchange = () => {
      if (box.checked) selected.add(r.name);
      else selected.delete(r.name);
      void drawOverlay();
    };
    const swatch = el('span', { class: 'run-colour' });
    swatch.style.background = colourOf(r.name);
    return el('tr', { 'data-run': r.name }, el('td', {}, box, swatch), ...COLUMNS.map((c) => el('td', c.num ? { class: 'num', 'data-col': c.key } : { 'data-col': c.key }, c.show(r))));
  });
  const filter = el('input', { id: 'runs-filter', type: 'search', placeholder: 'filter runs: name, model, dataset, status', size: '36', value: filterText });
  filter.oninput = () => {
    filterText = filter.value;
    renderOverview();
    const again = document.getElementById('runs-filter') as HTMLInputElement | null;
    again?.focus();
    again?.setSelectionRange(filterText.length, filterText.length);
  };
  overlay = lineChart('overlay', overlaySpec());
  main.replaceChildren(
    el('h2', {}, `Runs (${runs.length})`),
    runs.length === 0
      ? el('p', { class: 'empty' }, 'No runs in this folder yet: start one with ae train --config configs/mnist-ae.yaml')
      : el(
          'div',
          {},
          el('p', {}, filter, ' ', el('span', { class: 'muted', id: 'runs-shown' }, q ? `${shown.length} of ${runs.length} shown` : '')),
          el('table', { id: 'runs' }, el('thead', {}, head), el('tbody', {}, ...rows)),
        ),
    el('p', {}, 'Tick runs to overlay their validation loss curves (each in its row’s colour). ', chartControls()),
    overlay.element,
  );
  void drawOverlay();
}

let overlay: ReturnType<typeof lineChart> | null = null;
const overlaySpec = () => ({
  series: [...selected].map((name) => ({
    label: name,
    colour: colourOf(name),
    points: (histories.get(name) ?? []).map((h) => [h.epoch, h.val_loss] as [number, number]),
  })),
  xTitle: 'epoch',
  yTitle: 'validation loss',
  empty: selected.size === 0 ? 'tick runs in the table to overlay their validation loss' : 'no finished epoch yet in the runs ticked',
});

async function drawOverlay(): Promise<void> {
  for (const name of selected) if (!histories.has(name)) histories.set(name, (await fetchRun(name)).history);
  overlay?.update(overlaySpec());
}

// Relative times move on while the page stays open.
setInterval(() => {
  for (const e of document.querySelectorAll<HTMLElement>('[data-time]')) e.textContent = ago(e.dataset.time!);
}, 15_000);

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
  const live = run.status === 'training' && progress ? liveProgress(run, progress) : el('p', {}, `status: ${run.status}, ${run.epoch} of ${run.epochs ?? '?'} epochs`);
  // The epochs' losses, and while training the epoch in progress step by step (so a long epoch visibly moves).
  const series: Series[] = [
    { label: 'train loss', colour: PALETTE[0]!, points: run.history.map((h) => [h.epoch, h.train_loss]) },
    { label: 'validation loss', colour: PALETTE[1]!, points: run.history.map((h) => [h.epoch, h.val_loss]) },
  ];
  // Only entries of the epoch in progress: at the start of an epoch, progress.json still holds the last epoch's
  // (steps beyond the current one) until the first new entry is written.
  const thisEpoch = progress?.step_losses?.filter(([step]) => step <= progress.step) ?? [];
  if (run.status === 'training' && progress && thisEpoch.length && progress.steps > 0) {
    series.push({
      label: 'train loss by step',
      colour: '#7fb3d5',
      thin: true,
      points: thisEpoch.map(([step, loss]) => [progress.epoch + step / progress.steps, loss]),
    });
  }
  const chart = lineChart('run-chart', { series, xTitle: 'epoch', yTitle: 'loss', empty: 'no finished epoch yet' });
  const pictures = run.outputs.filter((f) => f.endsWith('.png'));
  const mapBox = el('div', { id: 'latent-map' });
  main.replaceChildren(
    el('p', {}, el('a', { href: '#/' }, '← all runs')),
    el('h2', {}, `${run.name} `, el('span', { class: `status ${run.status}` }, run.status)),
    // Results first: what ae test and ae score measured, and the settings that matter.
    resultsOf(run),
    keyConfig(run),
    live,
    ...run.notes.map((n) => el('p', { class: 'note' }, n)),
    el('p', { class: 'chart-bar' }, chartControls()),
    chart.element,
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
    let data: MapData;
    try {
      data = await loadMapData(base, mapFile);
    } catch (e) {
      // A damaged or hostile map file is reported where the map would be; the rest of the page stays usable.
      mapBox.append(el('p', { class: 'note', id: 'map-error' }, (e as Error).message, '. Rerun ae test ', name, ' to write it again.'));
      return;
    }
    const scoresFile = `scores_${data.header.split}/scores.csv`;
    const summaryFile = `scores_${data.header.split}/summary.json`;
    if (run.outputs.includes(scoresFile)) {
      data.scores = await loadScores(`${base}/${scoresFile}`, data.header.count, run.outputs.includes(summaryFile) ? `${base}/${summaryFile}` : null);
    }
    const map = renderMap(mapBox, data, { state: stateFromUrl(), onState: (s) => keepInUrl(name, s) });
    window.aeMap = map;
    // Neighbours and thumbnails arrive after the first picture; then the page is fully interactive.
    try {
      await loadRest(data);
    } catch (e) {
      mapBox.append(el('p', { class: 'note', id: 'map-error' }, (e as Error).message, ': neighbours and thumbnails are not shown.'));
      return;
    }
    map.refresh();
    if (run.config) enableDrop(mapBox, data, map, run.config as unknown as Config, base);
    mapBox.dataset.ready = '1';
    const reconBox = el('div', { id: 'reconstructions' });
    mapBox.after(reconBox);
    if (data.scores) {
      const anomalyBox = el('div', { id: 'anomalies' });
      mapBox.after(anomalyBox);
      renderAnomalies(anomalyBox, data, map);
    }
    setTimeout(() => renderReconstructions(reconBox, data), 0);
  } else mapBox.append(el('p', { class: 'empty' }, `No latent map yet: ae test ${name} writes it (vis_outputs/map_<method>.bin).`));
}

/** The metric cards at the top of a run page. */
function resultsOf(run: RunDetail): HTMLElement {
  const r = run.results;
  const card = (key: string, label: string, value: string, note = '') =>
    el('div', { class: 'card', 'data-metric': key }, el('div', { class: 'card-label' }, label), el('div', { class: 'card-value' }, value), note ? el('div', { class: 'card-note' }, note) : '');
  const cards: HTMLElement[] = [];
  if (r.mse !== null) cards.push(card('mse', `${r.split ?? 'test'} MSE`, r.mse.toPrecision(4), 'reconstruction error, per pixel'));
  if (r.knn_accuracy !== null) cards.push(card('knn', 'latent 5-NN accuracy', r.knn_accuracy.toFixed(3), 'labels from the 5 nearest codes'));
  if (r.trustworthiness !== null) cards.push(card('trust', 'map trustworthiness', r.trustworthiness.toFixed(3), 'k = 10: neighbours on the map are neighbours in the codes'));
  if (r.elbo !== null) cards.push(card('elbo', 'ELBO', `${r.elbo.toFixed(2)} nats`, 'per image'));
  if (r.nll !== null) cards.push(card('nll', 'NLL', `${r.nll.toFixed(2)} nats`, 'importance-sampled, per image'));
  if (r.threshold !== null)
    cards.push(
      card(
        'threshold',
        'anomaly threshold',
        r.threshold.toPrecision(4),
        `${r.percentile ?? '?'}th percentile of training scores${r.flagged !== null && r.scored !== null ? `; ${r.flagged.toLocaleString('en')} of ${r.scored.toLocaleString('en')} flagged` : ''}`,
      ),
    );
  if (cards.length === 0) return el('p', { id: 'results', class: 'empty' }, `No results yet: ae test ${run.name} measures them (ae score ${run.name} the anomaly threshold).`);
  return el('div', { id: 'results', class: 'cards' }, ...cards);
}

/** The settings that matter, on one line: model, latent size, learning rate, batch, epochs, time. */
function keyConfig(run: RunDetail): HTMLElement {
  const parts = [
    run.model_type ?? '?',
    run.dataset ?? '?',
    `latent ${run.latent_dim ?? '?'}`,
    `lr ${run.lr ?? '?'}`,
    `batch ${run.batch_size ?? '?'}`,
    `${run.epochs ?? '?'} epochs`,
    `${duration(run.seconds)} of training`,
  ];
  return el('p', { id: 'key-config', class: 'muted' }, parts.join(' · '));
}

/** The epoch in progress: step, loss so far, images per second, time spent training, time left in the epoch and the run. */
function liveProgress(run: RunDetail, progress: NonNullable<RunListEntry['progress']>): HTMLElement {
  // While validating, the epoch's training is done: its loss is final, and no training step is in progress.
  if (progress.phase === 'validation') {
    return el(
      'p',
      { id: 'live-progress' },
      `epoch ${progress.epoch + 1} of ${progress.epochs}: validating`,
      progress.epoch_loss === null ? '' : `; training loss of the epoch ${progress.epoch_loss.toPrecision(5)}`,
    );
  }
  // Widths are set through the CSSOM: the page's Content-Security-Policy forbids inline style attributes.
  const fill = el('div');
  fill.style.width = `${progress.steps ? Math.round((100 * progress.step) / progress.steps) : 0}%`;
  const bar = el('div', { class: 'progress', id: 'epoch-progress' }, fill);
  const rate = progress.epoch_seconds && progress.step > 0 ? progress.step / progress.epoch_seconds : null;
  let eta = '';
  if (rate) {
    const epochLeft = (progress.steps - progress.step) / rate;
    // Later epochs: as long as the finished ones took (validation included), else this one's pace.
    const perEpoch = run.history.length ? run.history.reduce((t, h) => t + h.seconds, 0) / run.history.length : progress.steps / rate;
    eta = `; ${duration(epochLeft)} left in the epoch, about ${duration(epochLeft + perEpoch * Math.max(0, progress.epochs - progress.epoch - 1))} in the run`;
  }
  const elapsed = run.seconds + (progress.epoch_seconds ?? 0);
  return el(
    'p',
    { id: 'live-progress' },
    `epoch ${progress.epoch + 1} of ${progress.epochs}, ${progress.phase}: step ${progress.step} / ${progress.steps} `,
    bar,
    progress.epoch_loss === null ? '' : ` loss so far ${progress.epoch_loss.toPrecision(5)}`,
    progress.images_per_second ? `; ${Math.round(progress.images_per_second).toLocaleString('en')} images/s` : '',
    elapsed > 0 ? `; ${duration(elapsed)} elapsed` : '',
    eta,
  );
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
