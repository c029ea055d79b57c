/**
 * Line charts as people expect them from TensorBoard's scalars: axis titles, a linear or log scale (auto: log when
 * the values span more than 10x), smoothing (TensorBoard's debiased exponential moving average, the raw line kept
 * faint), and hover values (a guide at the nearest x, each series' value there). Drawn on a canvas at the screen's
 * pixel density; the settings are shared by the page's charts and kept while it stays open.
 */
import { el, hidpiContext } from './dom.js';

export interface Series {
  label: string;
  colour: string;
  points: Array<[number, number]>;
  /** Drawn thin and without markers (e.g. the loss step by step within the epoch in progress). */
  thin?: boolean;
}

export interface ChartSpec {
  series: Series[];
  xTitle: string;
  yTitle: string;
  /** What the chart says when there is nothing to draw (also in data-note). */
  empty: string;
}

export const chartSettings = { scale: 'auto' as 'auto' | 'linear' | 'log', smoothing: 0 };
const charts = new Set<() => void>();

/** TensorBoard's smoothing: an exponential moving average, debiased for its start. */
export function smooth(values: number[], weight: number): number[] {
  if (weight <= 0) return values;
  let last = 0;
  return values.map((v, i) => {
    last = last * weight + (1 - weight) * v;
    return last / (1 - weight ** (i + 1));
  });
}

/** The controls shared by the page's charts: scale and smoothing. */
export function chartControls(): HTMLElement {
  const scale = el(
    'select',
    { id: 'chart-scale', title: 'y axis' },
    el('option', { value: 'auto' }, 'scale: auto'),
    el('option', { value: 'linear' }, 'scale: linear'),
    el('option', { value: 'log' }, 'scale: log'),
  );
  scale.value = chartSettings.scale;
  scale.onchange = () => {
    chartSettings.scale = scale.value as typeof chartSettings.scale;
    for (const redraw of charts) redraw();
  };
  const smoothing = el('input', { id: 'chart-smoothing', type: 'range', min: '0', max: '0.95', step: '0.05', value: String(chartSettings.smoothing) });
  const shown = el('span', {}, chartSettings.smoothing.toFixed(2));
  smoothing.oninput = () => {
    chartSettings.smoothing = Number(smoothing.value);
    shown.textContent = chartSettings.smoothing.toFixed(2);
    for (const redraw of charts) redraw();
  };
  return el('span', { class: 'chart-controls' }, scale, ' smoothing ', smoothing, ' ', shown);
}

/** A chart: a canvas and its hover box in a wrapper. `update` redraws with new data. */
export function lineChart(id: string, spec: ChartSpec): { element: HTMLElement; update(spec: ChartSpec): void } {
  const canvas = el('canvas', { class: 'chart', id });
  const tip = el('div', { class: 'chart-tip hidden', id: `${id}-tip` });
  const element = el('div', { class: 'chart-wrap' }, canvas, tip);
  let current = spec;
  let hoverX: number | null = null;
  // What the last drawing mapped: for hover.
  let layout: { px: (x: number) => number; xs: number[]; w: number; h: number } | null = null;

  const draw = () => {
    if (!canvas.isConnected) {
      charts.delete(draw);
      return;
    }
    const { g, w, h } = hidpiContext(canvas, 900, 320);
    const series = current.series.map((s) => ({ ...s, points: s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)) }));
    const all = series.flatMap((s) => s.points);
    canvas.dataset.note = all.length === 0 ? current.empty : '';
    canvas.dataset.series = series.map((s) => s.label).join('|');
    if (all.length === 0) {
      layout = null;
      g.fillStyle = '#666';
      g.font = '13px system-ui';
      g.fillText(current.empty, 20, 30);
      return;
    }
    const xs = [...new Set(all.map((p) => p[0]))].sort((a, b) => a - b);
    const positive = all.map((p) => p[1]).filter((v) => v > 0);
    const spans = positive.length > 0 && Math.max(...positive) / Math.min(...positive) > 10;
    const log = positive.length === all.length && (chartSettings.scale === 'log' || (chartSettings.scale === 'auto' && spans));
    canvas.dataset.scale = log ? 'log' : 'linear';
    const ty = (v: number) => (log ? Math.log10(v) : v);
    // One x value: the points sit mid-axis, not on its left edge.
    const [first, last] = [xs[0]!, xs[xs.length - 1]!];
    const [x0, x1] = last > first ? [first, last] : [first - 0.5, first + 0.5];
    const [lo, hi] = [Math.min(...all.map((p) => ty(p[1]))), Math.max(...all.map((p) => ty(p[1])))];
    const band = hi - lo > 1e-12 ? 0.08 * (hi - lo) : Math.abs(hi) * 0.05 || 1;
    const [y0, y1] = [lo - band, hi + band];
    const pad = { l: 76, r: 150, t: 12, b: 38 };
    const px = (x: number) => pad.l + ((x - x0) / (x1 - x0)) * (w - pad.l - pad.r);
    const py = (y: number) => h - pad.b - ((ty(y) - y0) / (y1 - y0 || 1)) * (h - pad.t - pad.b);
    g.strokeStyle = '#999';
    g.lineWidth = 1;
    g.strokeRect(pad.l, pad.t, w - pad.l - pad.r, h - pad.t - pad.b);
    g.fillStyle = '#333';
    g.font = '11px system-ui';
    for (let i = 0; i <= 4; i++) {
      const v = y0 + ((y1 - y0) * i) / 4;
      g.fillText((log ? 10 ** v : v).toPrecision(3), 22, h - pad.b - ((h - pad.t - pad.b) * i) / 4 + 4);
    }
    const ticks = last > first ? [first, (first + last) / 2, last] : [first];
    for (const t of ticks) g.fillText(Number.isInteger(t) ? String(t) : t.toFixed(1), px(t) - 4, h - pad.b + 14);
    g.fillText(current.xTitle, (pad.l + w - pad.r) / 2 - 14, h - 6);
    g.save();
    g.translate(12, (pad.t + h - pad.b) / 2 + 40);
    g.rotate(-Math.PI / 2);
    g.fillText(`${current.yTitle}${log ? ' (log scale)' : ''}`, 0, 0);
    g.restore();
    const weight = chartSettings.smoothing;
    series.forEach((s, i) => {
      const ys = s.points.map((p) => p[1]);
      const smoothed = s.thin ? ys : smooth(ys, weight);
      const line = (values: number[], alpha: number, width: number) => {
        g.globalAlpha = alpha;
        g.strokeStyle = s.colour;
        g.lineWidth = width;
        g.beginPath();
        s.points.forEach(([x], k) => (k === 0 ? g.moveTo(px(x), py(values[k]!)) : g.lineTo(px(x), py(values[k]!))));
        g.stroke();
        g.globalAlpha = 1;
      };
      if (weight > 0 && !s.thin) line(ys, 0.25, 1.5);
      line(smoothed, 1, s.thin ? 1 : 2);
      g.fillStyle = s.colour;
      if (!s.thin) for (const [k, [x]] of s.points.entries()) g.fillRect(px(x) - 2, py(smoothed[k]!) - 2, 4, 4);
      g.fillText(s.label, w - pad.r + 8, pad.t + 14 + i * 16);
    });
    layout = { px, xs, w, h };
    if (hoverX !== null) {
      g.strokeStyle = '#555';
      g.setLineDash([3, 3]);
      g.beginPath();
      g.moveTo(px(hoverX), pad.t);
      g.lineTo(px(hoverX), h - pad.b);
      g.stroke();
      g.setLineDash([]);
    }
  };
  charts.add(draw);
  canvas.addEventListener('mousemove', (e) => {
    if (!layout) return;
    // The nearest x that has data, and each series' value there (smoothed when smoothing is on).
    let best = layout.xs[0]!;
    for (const x of layout.xs) if (Math.abs(layout.px(x) - e.offsetX) < Math.abs(layout.px(best) - e.offsetX)) best = x;
    hoverX = best;
    const rows = current.series.flatMap((s) => {
      const ys = s.points.map((p) => p[1]);
      const sm = s.thin ? ys : smooth(ys, chartSettings.smoothing);
      const k = s.points.findIndex((p) => p[0] === best);
      return k < 0 ? [] : [`${s.label}: ${sm[k]!.toPrecision(5)}`];
    });
    tip.replaceChildren(el('strong', {}, `${current.xTitle} ${Number.isInteger(best) ? best : best.toFixed(2)}`), ...rows.map((r) => el('div', {}, r)));
    tip.dataset.x = String(best);
    tip.style.left = `${Math.min(e.offsetX + 14, layout.w - 200)}px`;
    tip.style.top = `${Math.max(0, e.offsetY - 30)}px`;
    tip.classList.remove('hidden');
    draw();
  });
  canvas.addEventListener('mouseleave', () => {
    hoverX = null;
    tip.classList.add('hidden');
    draw();
  });
  requestAnimationFrame(draw);
  return {
    element,
    update(spec2) {
      current = spec2;
      draw();
    },
  };
}
