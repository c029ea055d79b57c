/**
 * The interactive latent map of a run (vis_outputs/map_<method>.json/.bin, written by `ae test`): the points in
 * WebGL (gl-points.ts) at the width of the page and the screen's pixel density, pan (drag) and zoom (wheel), colour
 * by class, by reconstruction error (a continuous scale with its values) or by `ae score`'s flags; a legend that
 * hides and shows classes; hover with the image, its reconstruction, class and error; click for the k nearest
 * latent neighbours (clickable, they move the selection); a lasso (or shift-drag) that lists the images inside
 * with their CSV; thumbnails in place of dots once few points are on screen; point size; reset (button or
 * double-click); search by class or #index; and a state (view, colouring, selection) the page keeps in its URL.
 */
import { csvField, download, el, imageCanvas, thumbnail } from './dom.js';
import { PointLayer, type View } from './gl-points.js';
import type { MapData } from './map-data.js';
import { PointIndex, shuffledIndices } from './point-index.js';

const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
const rgb = (hex: string): [number, number, number] => [1, 3, 5].map((k) => Number.parseInt(hex.slice(k, k + 2), 16)) as [number, number, number];
/** Reconstruction error, low to high: light yellow to dark red (ColorBrewer's YlOrRd), so high error stands out. */
const ERROR_STOPS: Array<[number, number, number]> = [
  [255, 255, 204],
  [254, 217, 118],
  [253, 141, 60],
  [227, 26, 28],
  [128, 0, 38],
];
const FLAG_STOPS: Array<[number, number, number]> = [
  [200, 200, 200],
  [214, 39, 40],
];
/** Thumbnails replace dots when at most this many points are on screen. */
const THUMBNAILS_AT = 300;
/** Images shown in the lasso's grid (all of them go into its CSV). */
const GRID_MAX = 120;

/** The colour at t in [0, 1] along ERROR_STOPS. */
export function errorColour(t: number): string {
  const x = Math.min(1, Math.max(0, t)) * (ERROR_STOPS.length - 1);
  const k = Math.min(ERROR_STOPS.length - 2, Math.floor(x));
  const f = x - k;
  const [a, b] = [ERROR_STOPS[k]!, ERROR_STOPS[k + 1]!];
  const hex = (c: number) => Math.round(a[c]! + f * (b[c]! - a[c]!)).toString(16).padStart(2, '0');
  return `#${hex(0)}${hex(1)}${hex(2)}`;
}

export type ColourBy = 'class' | 'error' | 'flagged';

/** What a shared link restores: colouring, view (centre in map units and zoom over the fitted view), selection. */
export interface MapState {
  colour?: ColourBy;
  /** [centre x, centre y, zoom]. */
  view?: [number, number, number];
  point?: number;
  size?: number;
  hidden?: number[];
}

/** A point placed on the map from outside it (images dropped on the page). */
export interface PlacedPoint {
  x: number;
  y: number;
  label: string;
}

export interface MapHandle {
  /** Points shown (hidden classes excluded). */
  drawn(): number;
  /** A point's position on the page (for automation and tests). */
  screenOf(i: number): { x: number; y: number };
  /** A map position's place on the page. */
  screenAt(x: number, y: number): { x: number; y: number };
  /** Selects point i (its neighbours listed) and centres the view on it. */
  locate(i: number): void;
  /** Draws placed points over the map. */
  place(points: PlacedPoint[]): void;
  /** Centres the view on a map position (zoomed in to at least twice the fitted view). */
  centreOn(x: number, y: number): void;
  state(): MapState;
  /** Redraws after the neighbours and thumbnails have arrived. */
  refresh(): void;
}

export interface MapOptions {
  state?: MapState;
  /** Called when the state changes (after the view comes to rest). */
  onState?: (s: MapState) => void;
}

export function renderMap(container: HTMLElement, data: MapData, opts: MapOptions = {}): MapHandle {
  const { header, coords, labels, errors, classes } = data;
  const n = header.count;
  const shuffled = shuffledIndices(n);
  const index = new PointIndex(coords, n, shuffled);
  const initial = opts.state ?? {};
  const hidden = new Set<number>((initial.hidden ?? []).filter((c) => c >= 0 && c < classes.length));
  let colourBy: ColourBy = initial.colour === 'error' || (initial.colour === 'flagged' && data.scores) ? initial.colour : 'class';
  let selected = -1;
  let hovered = -1;
  let pointSize = initial.size && initial.size > 0 && initial.size <= 12 ? initial.size : n > 200_000 ? 1.5 : n > 20_000 ? 2 : 3;
  let lasso: Array<[number, number]> | null = null;
  let lassoMode = false;
  let chosen: number[] = [];
  let placed: PlacedPoint[] = [];
  const perClass = new Map<number, number>();
  for (let i = 0; i < n; i++) perClass.set(labels[i]!, (perClass.get(labels[i]!) ?? 0) + 1);
  const colourOf = (i: number) =>
    colourBy === 'class'
      ? PALETTE[labels[i]! % PALETTE.length]!
      : colourBy === 'error'
        ? errorColour(errorT(errors[i]!))
        : `rgb(${FLAG_STOPS[data.scores?.flagged[i] ? 1 : 0]!.join(',')})`;
  const drawn = () => n - [...hidden].reduce((s, c) => s + (perClass.get(c) ?? 0), 0);
  const shown = (i: number) => !hidden.has(labels[i]!);

  // Colour by error: by value on a log scale from the smallest error to the largest (errors are skewed: a few
  // images reconstruct far worse than the rest).
  let minError = Infinity;
  let maxError = 0;
  for (const e of errors) {
    if (e > 0) minError = Math.min(minError, e);
    maxError = Math.max(maxError, e);
  }
  const logSpan = Math.log(maxError / minError) || 1;
  const errorT = (e: number) => (e > 0 && Number.isFinite(minError) ? Math.log(e / minError) / logSpan : 0);

  const canvas = el('canvas', { id: 'map', class: 'map' });
  const overlay = el('canvas', { id: 'map-overlay', class: 'map-overlay' });
  const tooltip = el('div', { id: 'map-tooltip', class: 'tooltip hidden' });
  const wrap = el('div', { class: 'map-wrap' }, canvas, overlay, tooltip);
  let layer: PointLayer | null = null;
  let failure = '';
  try {
    layer = new PointLayer(canvas, index, shuffled, labels);
  } catch (e) {
    failure = (e as Error).message;
  }
  const applyColours = () => {
    if (!layer) return;
    layer.setClasses(PALETTE.map(rgb), hidden);
    if (colourBy === 'class') layer.setValues(null);
    else if (colourBy === 'error') layer.setValues(Float32Array.from(errors, errorT), ERROR_STOPS);
    else layer.setValues(Float32Array.from(data.scores!.flagged), FLAG_STOPS);
    layer.setPointSize(pointSize);
  };
  applyColours();

  // The view: data (x, y) -> CSS px (tx + scale x, ty - scale y); `home` fits the whole map.
  let W = 1;
  let H = 1;
  let home: View = { scale: 1, tx: 0, ty: 0 };
  let view: View = { ...home };
  const b = index.bounds;
  const sx = (x: number) => view.tx + view.scale * x;
  const sy = (y: number) => view.ty - view.scale * y;
  const toData = (px: number, py: number): [number, number] => [(px - view.tx) / view.scale, (view.ty - py) / view.scale];
  const centreZoom = (): [number, number, number] => [...toData(W / 2, H / 2), view.scale / home.scale];
  const setCentreZoom = ([cx, cy, zoom]: [number, number, number]) => {
    const scale = zoom * home.scale;
    view = { scale, tx: W / 2 - scale * cx, ty: H / 2 + scale * cy };
  };

  let frames = 0;
  let pending = false;
  let settled = true;
  const schedule = () => {
    // Marked at once, so a check right after a change waits for the frame that completes it.
    canvas.dataset.complete = '';
    canvas.dataset.drawn = String(drawn());
    canvas.dataset.hovered = hovered >= 0 ? String(hovered) : '';
    if (pending) return;
    pending = true;
    requestAnimationFrame(tick);
  };
  // While the view keeps moving, only the cheap frames run (one per input); the full picture is built once it has
  // rested REST_MS, so building it never delays the next input.
  const REST_MS = 120;
  let lastMove = 0;
  let restTimer: ReturnType<typeof setTimeout> | undefined;
  const moved = () => {
    settled = false;
    lastMove = performance.now();
    schedule();
  };
  function tick(): void {
    pending = false;
    const complete = layer ? layer.frame(view) : true;
    drawOverlay();
    canvas.dataset.frames = String(++frames);
    canvas.dataset.complete = complete && !drag ? '1' : '';
    canvas.dataset.drawn = String(drawn());
    canvas.dataset.hovered = hovered >= 0 ? String(hovered) : '';
    if (!complete) {
      const wait = REST_MS - (performance.now() - lastMove);
      clearTimeout(restTimer);
      if (wait > 0 || drag) restTimer = setTimeout(schedule, Math.max(wait, 20));
      else schedule();
    } else if (!settled && !drag) {
      settled = true;
      opts.onState?.(state());
    }
  }

  function resize(): void {
    const keep = W > 1 ? centreZoom() : null;
    W = Math.max(320, Math.floor(container.clientWidth || 900));
    H = Math.round(Math.min(Math.max(360, W * 0.6), Math.max(360, window.innerHeight * 0.78)));
    const dpr = window.devicePixelRatio || 1;
    for (const c of [canvas, overlay]) {
      c.style.width = `${W}px`;
      c.style.height = `${H}px`;
    }
    wrap.style.height = `${H}px`;
    overlay.width = Math.round(W * dpr);
    overlay.height = Math.round(H * dpr);
    layer?.resize(W, H, dpr);
    const fit = 0.92 * Math.min(W / (b.x1 - b.x0), H / (b.y1 - b.y0));
    home = { scale: fit, tx: W / 2 - fit * ((b.x0 + b.x1) / 2), ty: H / 2 + fit * ((b.y0 + b.y1) / 2) };
    if (keep) setCentreZoom(keep);
    else if (initial.view && initial.view.every(Number.isFinite) && initial.view[2] > 0) setCentreZoom(initial.view);
    else view = { ...home };
    canvas.dataset.dpr = String(dpr);
    schedule();
  }

  // Thumbnails drawn on the overlay, cached per point.
  const thumbs = new Map<number, HTMLCanvasElement>();
  const thumbOf = (i: number) => {
    let t = thumbs.get(i);
    if (!t && data.images) {
      if (thumbs.size > 4000) thumbs.clear();
      t = imageCanvas(data.images, i, header);
      thumbs.set(i, t);
    }
    return t;
  };
  const visibleRect = () => ({ x0: -view.tx / view.scale, x1: (W - view.tx) / view.scale, y0: (view.ty - H) / view.scale, y1: view.ty / view.scale });

  function drawOverlay(): void {
    const dpr = overlay.width / W;
    const g = overlay.getContext('2d')!;
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, W, H);
    if (failure) {
      g.fillStyle = '#fff';
      g.fillRect(0, 0, W, H);
      g.fillStyle = '#a00';
      g.font = '14px system-ui';
      g.fillText(`The map cannot be drawn: ${failure}`, 20, 30);
      return;
    }
    // Zoomed in far enough (twice the fitted view, at most THUMBNAILS_AT on screen): each point as its image,
    // framed in the colour its dot has.
    let thumbSide = 0;
    if (data.images && view.scale >= 2 * home.scale && index.countIn(visibleRect()) <= THUMBNAILS_AT) {
      const onScreen: number[] = [];
      for (const [a, z] of index.ranges(visibleRect()))
        for (let k = a; k < z; k++) {
          const i = index.order[k]!;
          const [x, y] = [sx(coords[2 * i]!), sy(coords[2 * i + 1]!)];
          if (shown(i) && x > -40 && x < W + 40 && y > -40 && y < H + 40) onScreen.push(i);
        }
      if (onScreen.length > 0 && onScreen.length <= THUMBNAILS_AT) {
        thumbSide = Math.round(Math.min(64, Math.max(20, 0.45 * Math.sqrt((W * H) / onScreen.length))));
        g.imageSmoothingEnabled = false;
        for (const i of onScreen) {
          const [x, y] = [sx(coords[2 * i]!) - thumbSide / 2, sy(coords[2 * i + 1]!) - thumbSide / 2];
          g.drawImage(thumbOf(i)!, x, y, thumbSide, thumbSide);
          g.strokeStyle = colourOf(i);
          g.lineWidth = 2;
          g.strokeRect(x, y, thumbSide, thumbSide);
        }
      }
    }
    overlay.dataset.thumbnails = String(thumbSide > 0 ? 1 : 0);
    // The lasso being drawn, or the last one, and the points it holds.
    const path = lasso ?? null;
    if (path && path.length > 1) {
      g.strokeStyle = '#111';
      g.setLineDash([5, 4]);
      g.lineWidth = 1.5;
      g.beginPath();
      path.forEach(([x, y], k) => (k === 0 ? g.moveTo(sx(x), sy(y)) : g.lineTo(sx(x), sy(y))));
      g.closePath();
      g.stroke();
      g.setLineDash([]);
    }
    if (chosen.length > 0 && chosen.length <= 5000) {
      g.strokeStyle = '#000';
      g.lineWidth = 1;
      for (const i of chosen) g.strokeRect(sx(coords[2 * i]!) - 2.5, sy(coords[2 * i + 1]!) - 2.5, 5, 5);
    }
    if (selected >= 0) {
      g.strokeStyle = '#000';
      g.lineWidth = 2;
      for (let r = 0; r < header.k && data.neighbours.length >= (selected + 1) * header.k; r++) {
        const j = data.neighbours[selected * header.k + r]!;
        g.strokeRect(sx(coords[2 * j]!) - 4, sy(coords[2 * j + 1]!) - 4, 8, 8);
      }
      g.beginPath();
      g.arc(sx(coords[2 * selected]!), sy(coords[2 * selected + 1]!), 7, 0, 2 * Math.PI);
      g.stroke();
    }
    // The point the hover box describes: a ring, so the box (beside the pointer) and the point are tied.
    if (hovered >= 0 && shown(hovered)) {
      g.strokeStyle = '#111';
      g.lineWidth = 1.5;
      g.beginPath();
      g.arc(sx(coords[2 * hovered]!), sy(coords[2 * hovered + 1]!), Math.max(5, thumbSide / 2 + 2), 0, 2 * Math.PI);
      g.stroke();
    }
    // Images placed from outside (dropped on the page): black-edged diamonds, numbered.
    g.font = 'bold 12px system-ui';
    placed.forEach((p, k) => {
      const [x, y] = [sx(p.x), sy(p.y)];
      g.fillStyle = '#fff';
      g.strokeStyle = '#000';
      g.lineWidth = 2;
      g.beginPath();
      g.moveTo(x, y - 8);
      g.lineTo(x + 8, y);
      g.lineTo(x, y + 8);
      g.lineTo(x - 8, y);
      g.closePath();
      g.fill();
      g.stroke();
      g.fillStyle = '#000';
      g.fillText(String(k + 1), x + 10, y - 8);
    });
  }

  // Each number says what it is: the point, its class, its reconstruction error.
  const describe = (i: number) => `point #${i} · class ${classes[labels[i]!] ?? labels[i]} · MSE ${errors[i]!.toPrecision(3)}`;
  const neighbourList = el('ol', { id: 'neighbours' });
  const select = (i: number) => {
    selected = i;
    neighbourList.dataset.of = i >= 0 ? String(i) : '';
    const have = data.neighbours.length >= (i + 1) * header.k;
    neighbourList.replaceChildren(
      ...(i < 0 || !have
        ? []
        : Array.from({ length: header.k }, (_, r) => {
            const j = data.neighbours[i * header.k + r]!;
            // A neighbour is a button: clicking it moves the selection there (and its neighbours are listed).
            const item = el('li', { 'data-index': String(j), title: 'select this point' }, thumbnail(data.images, j, header, 2), el('div', {}, describe(j)));
            item.onclick = () => select(j);
            return item;
          })),
    );
    schedule();
    opts.onState?.(state());
  };

  // The lasso's result: how many, by class, a grid of their images (each selects its point), and a CSV.
  const selectionBox = el('div', { id: 'map-selection', class: 'hidden' });
  const csvOf = (list: number[]) => {
    const rows = [`index,label,class,x,y,error${data.scores ? ',score,flagged' : ''}`];
    for (const i of list) {
      const extra = data.scores ? `,${data.scores.score[i]},${data.scores.flagged[i]}` : '';
      rows.push(`${i},${labels[i]},${csvField(classes[labels[i]!] ?? '')},${coords[2 * i]},${coords[2 * i + 1]},${errors[i]}${extra}`);
    }
    return `${rows.join('\n')}\n`;
  };
  const showSelection = () => {
    if (chosen.length === 0 && !lasso) {
      selectionBox.classList.add('hidden');
      selectionBox.replaceChildren();
      return;
    }
    const byClass = new Map<number, number>();
    for (const i of chosen) byClass.set(labels[i]!, (byClass.get(labels[i]!) ?? 0) + 1);
    const counts = [...byClass.entries()].sort((a, z) => z[1] - a[1]).map(([c, k]) => `${k} of class ${classes[c] ?? c}`);
    const csv = el('button', { id: 'selection-csv' }, 'selection as CSV');
    csv.onclick = () => download(`selection_${header.method}.csv`, csvOf(chosen));
    const clear = el('button', { id: 'selection-clear' }, 'clear');
    clear.onclick = () => {
      chosen = [];
      lasso = null;
      showSelection();
      schedule();
    };
    selectionBox.dataset.count = String(chosen.length);
    selectionBox.classList.remove('hidden');
    selectionBox.replaceChildren(
      el(
        'p',
        {},
        el('strong', { id: 'selection-count' }, `${chosen.length} point${chosen.length === 1 ? '' : 's'} selected`),
        counts.length ? `: ${counts.join(', ')}` : '',
        chosen.length > GRID_MAX ? ` (the first ${GRID_MAX} shown; the CSV has all) ` : ' ',
        csv,
        ' ',
        clear,
      ),
      el(
        'div',
        { id: 'selection-grid', class: 'selection-grid' },
        ...chosen.slice(0, GRID_MAX).map((i) => {
          const f = el('figure', { 'data-index': String(i), title: describe(i) }, data.images ? thumbnail(data.images, i, header, 2) : `#${i}`);
          f.onclick = () => select(i);
          return f;
        }),
      ),
    );
  };

  let drag: { x: number; y: number } | null = null;
  // A press that moves more than a few pixels is a drag: the click that ends it must not select (or clear) a point.
  let pressedAt: { x: number; y: number } | null = null;
  let dragged = false;
  canvas.addEventListener('mousedown', (e) => {
    pressedAt = { x: e.offsetX, y: e.offsetY };
    dragged = false;
    if (lassoMode || e.shiftKey) {
      lasso = [toData(e.offsetX, e.offsetY)];
      chosen = [];
      schedule();
    } else drag = { x: e.offsetX, y: e.offsetY };
  });
  window.addEventListener('mouseup', () => {
    if (lasso && pressedAt) {
      chosen = lasso.length >= 3 ? index.inPolygon(lasso, shown) : [];
      if (chosen.length === 0) lasso = null;
      dragged = true;
      showSelection();
      schedule();
    }
    if (drag) moved();
    drag = null;
    pressedAt = null;
  });
  canvas.addEventListener('mousemove', (e) => {
    if (pressedAt && Math.hypot(e.offsetX - pressedAt.x, e.offsetY - pressedAt.y) > 3) dragged = true;
    if (lasso && pressedAt) {
      lasso.push(toData(e.offsetX, e.offsetY));
      schedule();
      return;
    }
    if (drag) {
      view = { ...view, tx: view.tx + e.offsetX - drag.x, ty: view.ty + e.offsetY - drag.y };
      drag = { x: e.offsetX, y: e.offsetY };
      moved();
      return;
    }
    const [x, y] = toData(e.offsetX, e.offsetY);
    const i = index.nearest(x, y, 6 / view.scale, shown);
    if (i < 0) return leave();
    tooltip.replaceChildren(thumbnail(data.images, i, header), thumbnail(data.recons, i, header), el('div', {}, describe(i)));
    tooltip.dataset.index = String(i);
    // Beside the pointer (on the side with room), not pinned over a corner of the map.
    tooltip.style.left = `${e.offsetX + (e.offsetX > W / 2 ? -200 : 16)}px`;
    tooltip.style.top = `${Math.min(e.offsetY + 16, H - 120)}px`;
    tooltip.classList.remove('hidden');
    if (hovered !== i) {
      hovered = i;
      schedule();
    }
  });
  const leave = () => {
    tooltip.classList.add('hidden');
    if (hovered >= 0) {
      hovered = -1;
      schedule();
    }
  };
  canvas.addEventListener('mouseleave', leave);
  canvas.addEventListener('click', (e) => {
    if (dragged) return;
    const [x, y] = toData(e.offsetX, e.offsetY);
    select(index.nearest(x, y, 6 / view.scale, shown));
  });
  const resetView = () => {
    view = { ...home };
    moved();
  };
  canvas.addEventListener('dblclick', resetView);
  canvas.addEventListener(
    'wheel',
    (e) => {
      e.preventDefault();
      const f = e.deltaY < 0 ? 1.2 : 1 / 1.2;
      view = { scale: view.scale * f, tx: e.offsetX - f * (e.offsetX - view.tx), ty: e.offsetY - f * (e.offsetY - view.ty) };
      moved();
    },
    { passive: false },
  );

  const legend = el(
    'div',
    { id: 'legend' },
    ...classes.map((name, c) => {
      const box = el('input', { type: 'checkbox', 'data-class': String(c) });
      box.checked = !hidden.has(c);
      box.onchange = () => {
        if (box.checked) hidden.delete(c);
        else hidden.add(c);
        applyColours();
        moved();
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
  colourSelect.value = colourBy;
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
  const flagKey = el(
    'div',
    { id: 'flag-key', class: 'hidden' },
    el('span', { class: 'swatch flag-yes' }),
    ` flagged by ae score (above ${data.scores?.threshold?.toPrecision(4) ?? 'its threshold'})  `,
    el('span', { class: 'swatch flag-no' }),
    ' not flagged',
  );
  const showKeys = () => {
    legend.classList.toggle('hidden', colourBy !== 'class');
    errorScale.classList.toggle('hidden', colourBy !== 'error');
    flagKey.classList.toggle('hidden', colourBy !== 'flagged');
  };
  showKeys();
  colourSelect.onchange = () => {
    colourBy = colourSelect.value as ColourBy;
    showKeys();
    applyColours();
    moved();
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
      const i = Number(byIndex[1]);
      if (i < n) {
        select(i);
        searchStatus.textContent = `point #${i} (class ${classes[labels[i]!] ?? labels[i]}) and its ${header.k} neighbours`;
      } else searchStatus.textContent = `no point #${i}: the map has points #0 to #${n - 1}`;
      return;
    }
    const c = classes.findIndex((name) => name.toLowerCase() === q.toLowerCase());
    if (c >= 0) {
      hidden.clear();
      classes.forEach((_, k) => k !== c && hidden.add(k));
      for (const box of legend.querySelectorAll('input')) box.checked = !hidden.has(Number(box.dataset.class));
      applyColours();
      moved();
      searchStatus.textContent = `class ${classes[c]}: ${drawn()} points shown (tick the legend to show the others)`;
      return;
    }
    searchStatus.textContent = `no class named "${q}"${/^\d+$/.test(q) ? ` (for point ${q}, search #${q})` : ''}`;
  };
  const reset = el('button', { id: 'map-reset', title: 'or double-click the map' }, 'reset view');
  reset.onclick = resetView;
  const lassoButton = el('button', { id: 'map-lasso', title: 'draw around points to list them (or shift-drag)', 'aria-pressed': 'false' }, 'lasso');
  lassoButton.onclick = () => {
    lassoMode = !lassoMode;
    lassoButton.setAttribute('aria-pressed', String(lassoMode));
    canvas.classList.toggle('lasso', lassoMode);
  };
  const sizeInput = el('input', { id: 'point-size', type: 'range', min: '1', max: '8', step: '0.5', value: String(pointSize), title: 'point size' });
  sizeInput.oninput = () => {
    pointSize = Number(sizeInput.value);
    layer?.setPointSize(pointSize);
    moved();
  };
  const csvButton = el('button', { id: 'download-csv' }, 'coordinates as CSV');
  csvButton.onclick = () =>
    download(
      `map_${header.method}.csv`,
      csvOf(Array.from({ length: n }, (_, i) => i)),
    );
  container.replaceChildren(
    el('h3', {}, `Latent map: ${header.description}, ${n.toLocaleString('en')} points`),
    el(
      'div',
      { class: 'map-controls' },
      colourSelect,
      ' ',
      search,
      ' ',
      searchStatus,
      ' ',
      reset,
      ' ',
      lassoButton,
      ' ',
      el('label', {}, 'point size ', sizeInput),
      ' ',
      csvButton,
    ),
    legend,
    errorScale,
    flagKey,
    wrap,
    el('p', { class: 'muted' }, 'drag to pan, wheel to zoom, double-click to reset; click a point for its neighbours; shift-drag (or lasso) to select'),
    selectionBox,
    el('h4', {}, 'Nearest latent neighbours of the clicked point'),
    neighbourList,
  );
  resize();
  new ResizeObserver(() => {
    if (Math.floor(container.clientWidth) !== W) resize();
  }).observe(container);
  if (initial.point !== undefined && initial.point >= 0 && initial.point < n) selected = initial.point;

  function state(): MapState {
    return {
      colour: colourBy,
      view: centreZoom(),
      ...(selected >= 0 ? { point: selected } : {}),
      size: pointSize,
      ...(hidden.size ? { hidden: [...hidden].sort((a, z) => a - z) } : {}),
    };
  }
  return {
    drawn,
    screenOf: (i) => {
      const r = canvas.getBoundingClientRect();
      return { x: r.left + sx(coords[2 * i]!), y: r.top + sy(coords[2 * i + 1]!) };
    },
    screenAt: (x, y) => {
      const r = canvas.getBoundingClientRect();
      return { x: r.left + sx(x), y: r.top + sy(y) };
    },
    locate: (i) => {
      const [, , zoom] = centreZoom();
      setCentreZoom([coords[2 * i]!, coords[2 * i + 1]!, Math.max(zoom, 2)]);
      moved();
      select(i);
    },
    centreOn: (x, y) => {
      setCentreZoom([x, y, Math.max(centreZoom()[2], 2)]);
      moved();
    },
    place: (points) => {
      placed = points;
      schedule();
    },
    state,
    refresh: () => {
      if (selected >= 0) select(selected);
      else schedule();
    },
  };
}
