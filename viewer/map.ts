/**
 * The interactive latent map of a run (from vis_outputs/map_<method>.json/.bin, written by `ae test`): every point
 * drawn on a canvas, pan (drag) and zoom (wheel), colour by class or by reconstruction error, a legend that hides and
 * shows classes, hover with the image, its reconstruction, label and error, click listing the k nearest latent
 * neighbours (highlighted on the map), search by class name or #index (saying what matched), a reset of the view
 * (button or double-click), and the coordinates as CSV.
 */
import type { MapArray, MapHeader } from '../src/evaluate/map-format.js';

export type { MapHeader };

const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
/** Reconstruction error, low to high: light yellow to dark red (ColorBrewer's YlOrRd), so high error stands out. */
const ERROR_STOPS: Array<[number, number, number]> = [
  [255, 255, 204],
  [254, 217, 118],
  [253, 141, 60],
  [227, 26, 28],
  [128, 0, 38],
];
/** Colour levels of the error scale (points are drawn in batches per colour). */
const ERROR_LEVELS = 64;

/** The colour at t in [0, 1] along ERROR_STOPS. */
export function errorColour(t: number): string {
  const x = Math.min(1, Math.max(0, t)) * (ERROR_STOPS.length - 1);
  const k = Math.min(ERROR_STOPS.length - 2, Math.floor(x));
  const f = x - k;
  const [a, b] = [ERROR_STOPS[k]!, ERROR_STOPS[k + 1]!];
  const hex = (c: number) => Math.round(a[c]! + f * (b[c]! - a[c]!)).toString(16).padStart(2, '0');
  return `#${hex(0)}${hex(1)}${hex(2)}`;
}

function view<T>(buffer: ArrayBuffer, a: MapArray | undefined, make: (b: ArrayBuffer, o: number, n: number) => T): T | null {
  if (!a) return null;
  return make(buffer, a.offset, a.shape.reduce((x, y) => x * y, 1));
}

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, ...children: Array<Node | string>): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  e.append(...children);
  return e;
}

/** Draws one thumbnail (uint8 HWC) into a new canvas, scaled up `scale` times. */
export function thumbnail(pixels: Uint8Array | null, i: number, h: MapHeader, scale = 3): HTMLCanvasElement {
  const c = el('canvas', { width: String(h.width * scale), height: String(h.height * scale), class: 'thumb' });
  if (!pixels) return c;
  const small = new ImageData(h.width, h.height);
  const px = h.width * h.height;
  for (let p = 0; p < px; p++) {
    const base = (i * px + p) * h.channels;
    const [r, g, b] = h.channels === 1 ? [pixels[base]!, pixels[base]!, pixels[base]!] : [pixels[base]!, pixels[base + 1]!, pixels[base + 2]!];
    small.data.set([r, g, b, 255], p * 4);
  }
  const tmp = el('canvas', { width: String(h.width), height: String(h.height) });
  tmp.getContext('2d')!.putImageData(small, 0, 0);
  const g = c.getContext('2d')!;
  g.imageSmoothingEnabled = false;
  g.drawImage(tmp, 0, 0, c.width, c.height);
  return c;
}

export interface MapHandle {
  /** Points drawn in the last frame (hidden classes excluded). */
  drawn(): number;
  /** A point's position on the page (for automation and tests). */
  screenOf(i: number): { x: number; y: number };
}

/** A map file pair, parsed: the header and typed views of its arrays. */
export interface MapData {
  header: MapHeader;
  coords: Float32Array;
  labels: Uint8Array;
  errors: Float32Array;
  neighbours: Int32Array;
  images: Uint8Array | null;
  recons: Uint8Array | null;
  classes: string[];
  /** `ae score`'s results for the map's split, by point (when scores_<split>/scores.csv exists). */
  scores: { score: Float32Array; flagged: Uint8Array; threshold: number | null; percentile: number | null } | null;
}

/**
 * Reads `ae score`'s scores.csv (index,label,class,path,score,flagged; quoted fields allowed) into per-point arrays,
 * and the threshold from summary.json beside it when there is one (`summaryUrl`).
 */
export async function loadScores(url: string, n: number, summaryUrl: string | null = null): Promise<MapData['scores']> {
  const r = await fetch(url);
  if (!r.ok) return null;
  const lines = (await r.text()).trim().split('\n');
  const score = new Float32Array(n).fill(Number.NaN);
  const flagged = new Uint8Array(n);
  for (const line of lines.slice(1)) {
    const fields = line.match(/("([^"]|"")*"|[^,]*)(,|$)/g)!.map((f) => f.replace(/,$/, ''));
    const index = Number(fields[0]);
    if (Number.isInteger(index) && index >= 0 && index < n) {
      score[index] = Number(fields[4]);
      flagged[index] = fields[5] === 'true' || fields[5] === '1' ? 1 : 0;
    }
  }
  let threshold: number | null = null;
  let percentile: number | null = null;
  if (summaryUrl) {
    const s = await fetch(summaryUrl);
    const summary = s.ok ? ((await s.json()) as { threshold?: unknown; percentile?: unknown }) : {};
    if (typeof summary.threshold === 'number') threshold = summary.threshold;
    if (typeof summary.percentile === 'number') percentile = summary.percentile;
  }
  return { score, flagged, threshold, percentile };
}

export async function loadMapData(base: string, jsonFile: string): Promise<MapData> {
  const header = (await (await fetch(`${base}/${jsonFile}`)).json()) as MapHeader;
  const buffer = await (await fetch(`${base}/${jsonFile.replace(/\.json$/, '.bin')}`)).arrayBuffer();
  return {
    header,
    coords: view(buffer, header.arrays.coords, (b, o, len) => new Float32Array(b, o, len))!,
    labels: view(buffer, header.arrays.labels, (b, o, len) => new Uint8Array(b, o, len))!,
    errors: view(buffer, header.arrays.errors, (b, o, len) => new Float32Array(b, o, len))!,
    neighbours: view(buffer, header.arrays.neighbours, (b, o, len) => new Int32Array(b, o, len))!,
    images: view(buffer, header.arrays.images, (b, o, len) => new Uint8Array(b, o, len)),
    recons: view(buffer, header.arrays.reconstructions, (b, o, len) => new Uint8Array(b, o, len)),
    classes: header.classes ?? ['(unlabelled)'],
    scores: null,
  };
}

export function renderMap(container: HTMLElement, data: MapData): MapHandle {
  const { header, coords, labels, errors, neighbours, images, recons, classes } = data;
  const n = header.count;
  const hidden = new Set<number>();
  let colourBy: 'class' | 'error' | 'flagged' = 'class';
  let selected = -1;
  let hovered = -1;
  let drawnCount = 0;
  // Colour by error: by value on a log scale from the smallest error to the largest (errors are skewed: a few
  // images reconstruct far worse than the rest), quantised to ERROR_LEVELS colours.
  let minError = Infinity;
  let maxError = 0;
  for (const e of errors) {
    if (e > 0) minError = Math.min(minError, e);
    maxError = Math.max(maxError, e);
  }
  const logSpan = Math.log(maxError / minError) || 1;
  const errorT = (e: number) => (e > 0 && Number.isFinite(minError) ? Math.log(e / minError) / logSpan : 0);
  const errorLevel = (e: number) => errorColour(Math.round(errorT(e) * (ERROR_LEVELS - 1)) / (ERROR_LEVELS - 1));

  // View transform: data -> canvas pixels.
  let minX = Infinity;
  let maxX = -Infinity;
  let minY = Infinity;
  let maxY = -Infinity;
  for (let i = 0; i < n; i++) {
    minX = Math.min(minX, coords[2 * i]!);
    maxX = Math.max(maxX, coords[2 * i]!);
    minY = Math.min(minY, coords[2 * i + 1]!);
    maxY = Math.max(maxY, coords[2 * i + 1]!);
  }
  const canvas = el('canvas', { id: 'map', class: 'map', width: '900', height: '640' });
  const W = 900;
  const H = 640;
  const fit = 0.92 * Math.min(W / (maxX - minX || 1), H / (maxY - minY || 1));
  const home = { scale: fit, tx: W / 2 - fit * ((minX + maxX) / 2), ty: H / 2 + fit * ((minY + maxY) / 2) };
  let { scale, tx, ty } = home;
  const sx = (i: number) => tx + scale * coords[2 * i]!;
  const sy = (i: number) => ty - scale * coords[2 * i + 1]!;

  // While the view moves, the last full drawing is shifted and scaled as a bitmap (one drawImage per frame, fast
  // at any point count); every point is drawn again once the view rests (mouse up, or 150 ms after the wheel).
  const still = document.createElement('canvas');
  still.width = W;
  still.height = H;
  let stillView = { tx, ty, scale };
  let frames = 0;
  let rest: ReturnType<typeof setTimeout> | undefined;
  const moved = () => {
    requestAnimationFrame(() => {
      const g = canvas.getContext('2d')!;
      const f = scale / stillView.scale;
      g.fillStyle = '#fff';
      g.fillRect(0, 0, W, H);
      g.drawImage(still, tx - f * stillView.tx, ty - f * stillView.ty, W * f, H * f);
      canvas.dataset.frames = String(++frames);
    });
    clearTimeout(rest);
    rest = setTimeout(() => {
      if (!drag) requestAnimationFrame(redraw);
    }, 150);
  };

  function draw(): void {
    const g = canvas.getContext('2d')!;
    g.fillStyle = '#fff';
    g.fillRect(0, 0, W, H);
    // Points batched by colour: one fillStyle per bucket.
    const buckets = new Map<string, number[]>();
    drawnCount = 0;
    for (let i = 0; i < n; i++) {
      if (hidden.has(labels[i]!)) continue;
      const colour =
        colourBy === 'class'
          ? PALETTE[labels[i]! % PALETTE.length]!
          : colourBy === 'flagged'
            ? data.scores?.flagged[i]
              ? '#d62728'
              : '#c8c8c8'
            : errorLevel(errors[i]!);
      let list = buckets.get(colour);
      if (!list) buckets.set(colour, (list = []));
      list.push(i);
      drawnCount++;
    }
    for (const [colour, list] of buckets) {
      g.fillStyle = colour;
      for (const i of list) g.fillRect(sx(i) - 1.5, sy(i) - 1.5, 3, 3);
    }
    if (selected >= 0) {
      g.strokeStyle = '#000';
      g.lineWidth = 2;
      for (let r = 0; r < header.k; r++) {
        const j = neighbours[selected * header.k + r]!;
        g.strokeRect(sx(j) - 4, sy(j) - 4, 8, 8);
      }
      g.beginPath();
      g.arc(sx(selected), sy(selected), 7, 0, 2 * Math.PI);
      g.stroke();
    }
    // The point the hover box describes: a ring, so the box (beside the pointer) and the point are tied.
    if (hovered >= 0 && !hidden.has(labels[hovered]!)) {
      g.strokeStyle = '#111';
      g.lineWidth = 1.5;
      g.beginPath();
      g.arc(sx(hovered), sy(hovered), 5, 0, 2 * Math.PI);
      g.stroke();
    }
    canvas.dataset.hovered = hovered >= 0 ? String(hovered) : '';
    canvas.dataset.drawn = String(drawnCount);
    canvas.dataset.frames = String(++frames);
    still.getContext('2d')!.drawImage(canvas, 0, 0);
    stillView = { tx, ty, scale };
  }

  // Hover: a uniform grid over the canvas, rebuilt when the view changes; the nearest visible point within 6 px.
  const CELL = 12;
  let grid = new Map<number, number[]>();
  const rebuildGrid = () => {
    grid = new Map();
    for (let i = 0; i < n; i++) {
      if (hidden.has(labels[i]!)) continue;
      const key = Math.floor(sx(i) / CELL) * 100003 + Math.floor(sy(i) / CELL);
      let list = grid.get(key);
      if (!list) grid.set(key, (list = []));
      list.push(i);
    }
  };
  const nearest = (x: number, y: number): number => {
    let best = -1;
    let bestD = 36;
    const cx = Math.floor(x / CELL);
    const cy = Math.floor(y / CELL);
    for (let dx = -1; dx <= 1; dx++)
      for (let dy = -1; dy <= 1; dy++)
        for (const i of grid.get((cx + dx) * 100003 + cy + dy) ?? []) {
          const d = (sx(i) - x) ** 2 + (sy(i) - y) ** 2;
          if (d < bestD) {
            bestD = d;
            best = i;
          }
        }
    return best;
  };
  const redraw = () => {
    rebuildGrid();
    draw();
  };

  const tooltip = el('div', { id: 'map-tooltip', class: 'tooltip hidden' });
  // Each number says what it is: the point, its class, its reconstruction error.
  const describe = (i: number) => `point #${i} · class ${classes[labels[i]!] ?? labels[i]} · MSE ${errors[i]!.toPrecision(3)}`;
  const neighbourList = el('ol', { id: 'neighbours' });
  const select = (i: number) => {
    selected = i;
    neighbourList.dataset.of = i >= 0 ? String(i) : '';
    neighbourList.replaceChildren(
      ...(i < 0
        ? []
        : Array.from({ length: header.k }, (_, r) => {
            const j = neighbours[i * header.k + r]!;
            // A neighbour is a button: clicking it moves the selection there (and its neighbours are listed).
            const item = el('li', { 'data-index': String(j), title: 'select this point' }, thumbnail(images, j, header, 2), el('div', {}, describe(j)));
            item.onclick = () => select(j);
            return item;
          })),
    );
    draw();
  };

  let drag: { x: number; y: number } | null = null;
  // A press that moves more than a few pixels is a drag: the click that ends it must not select (or clear) a point.
  let pressedAt: { x: number; y: number } | null = null;
  let dragged = false;
  canvas.addEventListener('mousedown', (e) => {
    drag = { x: e.offsetX, y: e.offsetY };
    pressedAt = { x: e.offsetX, y: e.offsetY };
    dragged = false;
  });
  window.addEventListener('mouseup', () => {
    if (drag) requestAnimationFrame(redraw);
    drag = null;
  });
  canvas.addEventListener('mousemove', (e) => {
    if (drag) {
      if (pressedAt && Math.hypot(e.offsetX - pressedAt.x, e.offsetY - pressedAt.y) > 3) dragged = true;
      tx += e.offsetX - drag.x;
      ty += e.offsetY - drag.y;
      drag = { x: e.offsetX, y: e.offsetY };
      moved();
      return;
    }
    const i = nearest(e.offsetX, e.offsetY);
    if (i < 0) return leave();
    tooltip.replaceChildren(thumbnail(images, i, header), thumbnail(recons, i, header), el('div', {}, describe(i)));
    tooltip.dataset.index = String(i);
    // Beside the pointer (on the side with room), not pinned over a corner of the map.
    tooltip.style.left = `${e.offsetX + (e.offsetX > W / 2 ? -200 : 16)}px`;
    tooltip.style.top = `${Math.min(e.offsetY + 16, H - 120)}px`;
    tooltip.classList.remove('hidden');
    if (hovered !== i) {
      hovered = i;
      draw();
    }
  });
  const leave = () => {
    tooltip.classList.add('hidden');
    if (hovered >= 0) {
      hovered = -1;
      draw();
    }
  };
  canvas.addEventListener('mouseleave', leave);
  canvas.addEventListener('click', (e) => {
    if (dragged) return;
    select(nearest(e.offsetX, e.offsetY));
  });
  const resetView = () => {
    ({ scale, tx, ty } = home);
    redraw();
  };
  canvas.addEventListener('dblclick', resetView);
  canvas.addEventListener(
    'wheel',
    (e) => {
      e.preventDefault();
      const f = e.deltaY < 0 ? 1.2 : 1 / 1.2;
      tx = e.offsetX - f * (e.offsetX - tx);
      ty = e.offsetY - f * (e.offsetY - ty);
      scale *= f;
      moved();
    },
    { passive: false },
  );

  const legend = el(
    'div',
    { id: 'legend' },
    ...classes.map((name, c) => {
      const box = el('input', { type: 'checkbox', 'data-class': String(c) });
      box.checked = true;
      box.onchange = () => {
        if (box.checked) hidden.delete(c);
        else hidden.add(c);
        redraw();
      };
      return el('label', {}, box, el('span', { class: 'swatch', 'data-colour': String(c % PALETTE.length) }), ` ${name}`);
    }),
  );
  const colourSelect = el(
    'select',
    { id: 'colour-by' },
    el('option', { value: 'class' }, 'colour by class'),
    el('option', { value: 'error' }, 'colour by reconstruction error'),
    ...(data.scores ? [el('option', { value: 'flagged' }, 'colour by ae score: flagged anomalies')] : []),
  );
  // The scale shown while colouring by error (the class legend then hides: its colours no longer apply).
  const gradient = el('canvas', { width: '240', height: '12', class: 'scale-bar' });
  {
    const g = gradient.getContext('2d')!;
    for (let x = 0; x < 240; x++) {
      g.fillStyle = errorColour(x / 239);
      g.fillRect(x, 0, 1, 12);
    }
  }
  const fmtError = (e: number) => (Number.isFinite(e) ? e.toPrecision(3) : '?');
  const errorScale = el(
    'div',
    { id: 'error-scale', class: 'hidden', 'data-min': fmtError(minError), 'data-max': fmtError(maxError) },
    'reconstruction error (MSE, log scale): ',
    el('span', { class: 'scale-min' }, fmtError(minError)),
    ' ',
    gradient,
    ' ',
    el('span', { class: 'scale-max' }, fmtError(maxError)),
  );
  colourSelect.onchange = () => {
    colourBy = colourSelect.value as 'class' | 'error' | 'flagged';
    legend.classList.toggle('hidden', colourBy !== 'class');
    errorScale.classList.toggle('hidden', colourBy !== 'error');
    draw();
  };
  // A class by its name ("7" on MNIST is the class of sevens); a point by "#" and its index ("#7"). The line
  // beside the box says what matched, or that nothing did.
  const search = el('input', { id: 'map-search', placeholder: 'class, or #index', size: '14' });
  const searchStatus = el('span', { id: 'map-search-status', class: 'muted' });
  search.onchange = () => {
    const q = search.value.trim();
    if (q === '') {
      searchStatus.textContent = '';
      return;
    }
    const byIndex = /^#\s*(\d+)$/.exec(q);
    if (byIndex) {
      const index = Number(byIndex[1]);
      if (index < n) {
        select(index);
        searchStatus.textContent = `point #${index} (class ${classes[labels[index]!] ?? labels[index]}) and its ${header.k} neighbours`;
      } else searchStatus.textContent = `no point #${index}: the map has points #0 to #${n - 1}`;
      return;
    }
    const c = classes.findIndex((name) => name.toLowerCase() === q.toLowerCase());
    if (c >= 0) {
      hidden.clear();
      classes.forEach((_, k) => k !== c && hidden.add(k));
      for (const box of legend.querySelectorAll('input')) box.checked = !hidden.has(Number(box.dataset.class));
      redraw();
      searchStatus.textContent = `class ${classes[c]}: ${drawnCount} points shown (tick the legend to show the others)`;
      return;
    }
    searchStatus.textContent = `no class named "${q}"${/^\d+$/.test(q) ? ` (for point ${q}, search #${q})` : ''}`;
  };
  const reset = el('button', { id: 'map-reset', title: 'or double-click the map' }, 'reset view');
  reset.onclick = resetView;
  const download = el('button', { id: 'download-csv' }, 'coordinates as CSV');
  download.onclick = () => {
    const rows = ['index,label,class,x,y,error'];
    for (let i = 0; i < n; i++) rows.push(`${i},${labels[i]},${classes[labels[i]!] ?? ''},${coords[2 * i]},${coords[2 * i + 1]},${errors[i]}`);
    const a = el('a', { href: URL.createObjectURL(new Blob([`${rows.join('\n')}\n`], { type: 'text/csv' })), download: `map_${header.method}.csv` });
    document.body.append(a);
    a.click();
    a.remove();
  };
  container.replaceChildren(
    el('h3', {}, `Latent map: ${header.description}, ${n} points`),
    el('div', { class: 'map-controls' }, colourSelect, ' ', search, ' ', searchStatus, ' ', reset, ' ', download),
    legend,
    errorScale,
    el('div', { class: 'map-wrap' }, canvas, tooltip),
    el('h4', {}, 'Nearest latent neighbours of the clicked point'),
    neighbourList,
  );
  redraw();
  return {
    drawn: () => drawnCount,
    screenOf: (i) => {
      const r = canvas.getBoundingClientRect();
      return { x: r.left + sx(i), y: r.top + sy(i) };
    },
  };
}
