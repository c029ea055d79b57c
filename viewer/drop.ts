/**
 * Images dropped on the map (or chosen with the button): preprocessed as the run's images are (its size and
 * channels; alpha flattened onto its background; `pad` or `fill`), encoded and reconstructed by the run's model in
 * the page, scored (reconstruction MSE, `ae score`'s score) against the run's threshold, and placed on the map as
 * `ae encode --onto` places them. Nothing leaves the browser: the files are read locally and the server is
 * read-only.
 */
import type { Config } from '../src/config/schema.js';
import { el, thumbnail } from './dom.js';
import type { MapHandle } from './map.js';
import type { MapData } from './map-data.js';

/** Files accepted (what the browser can decode; the run's own folders take PNG and JPEG). */
const ACCEPT = 'image/png,image/jpeg,image/webp,image/gif,image/bmp';
/** Images placed at once at most. */
const MAX_FILES = 64;

interface Preprocessing {
  height: number;
  width: number;
  channels: number;
  fit: 'fill' | 'pad';
  background: 'black' | 'white';
}

/** The run's preprocessing of image files (as src/data/folder.ts's preprocessingOf: the same for MNIST runs). */
function preprocessingOf(data: MapData, config: Config): Preprocessing {
  return {
    height: data.header.height,
    width: data.header.width,
    channels: data.header.channels,
    fit: config.CUSTOM?.fit === 'pad' ? 'pad' : 'fill',
    background: config.CUSTOM?.background === 'white' ? 'white' : 'black',
  };
}

/**
 * One file as the model's input: H x W x C floats, byte / 255 as the run's loader makes them. Same-size images are
 * taken byte for byte (grey files stay exact; colour to grey by Rec. 709 luma); other sizes are resized by the
 * browser's high-quality smoothing, which differs from libvips's resize in the last levels.
 */
async function preprocess(file: File, p: Preprocessing): Promise<{ pixels: Float32Array; resized: boolean }> {
  const bitmap = await createImageBitmap(file, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  const canvas = el('canvas', { width: String(p.width), height: String(p.height) });
  const g = canvas.getContext('2d', { willReadFrequently: true })!;
  g.fillStyle = p.background === 'white' ? '#fff' : '#000';
  g.fillRect(0, 0, p.width, p.height);
  g.imageSmoothingQuality = 'high';
  const resized = bitmap.width !== p.width || bitmap.height !== p.height;
  if (p.fit === 'pad' && resized) {
    const s = Math.min(p.width / bitmap.width, p.height / bitmap.height);
    const [w, h] = [bitmap.width * s, bitmap.height * s];
    g.drawImage(bitmap, (p.width - w) / 2, (p.height - h) / 2, w, h);
  } else g.drawImage(bitmap, 0, 0, p.width, p.height);
  bitmap.close();
  const rgba = g.getImageData(0, 0, p.width, p.height).data;
  const pixels = new Float32Array(p.width * p.height * p.channels);
  for (let q = 0; q < p.width * p.height; q++) {
    const [r, gr, b] = [rgba[4 * q]!, rgba[4 * q + 1]!, rgba[4 * q + 2]!];
    if (p.channels === 1) pixels[q] = (r === gr && gr === b ? r : Math.round(0.2126 * r + 0.7152 * gr + 0.0722 * b)) / 255;
    else for (let k = 0; k < 3; k++) pixels[3 * q + k] = rgba[4 * q + k]! / 255;
  }
  return { pixels, resized };
}

const toBytes = (f: Float32Array) => Uint8Array.from(f, (v) => Math.round(Math.min(1, Math.max(0, v)) * 255));

/** Adds the drop target and the file button to the map's container; results go in a panel below the map. */
export function enableDrop(container: HTMLElement, data: MapData, map: MapHandle, config: Config, runBase: string): void {
  const p = preprocessingOf(data, config);
  const input = el('input', { type: 'file', id: 'place-files', multiple: '', accept: ACCEPT });
  const status = el('span', { id: 'place-status', class: 'muted' });
  const results = el('div', { id: 'placed', class: 'placed-grid' });
  const button = el('label', { class: 'file-button', title: 'or drop image files on the map' }, 'place your images on the map… ', input);
  const threshold = data.scores?.threshold ?? null;
  const intro = el(
    'p',
    { class: 'muted' },
    `Drop image files on the map (or choose them): the run's model encodes them in this page (nothing is uploaded), `,
    `each is shown beside its reconstruction with its anomaly score${threshold === null ? ' (run ae score on the run for a threshold)' : ` against the threshold ${threshold.toPrecision(4)}`}, `,
    'and placed among the map’s points as ae encode --onto places it.',
  );
  const section = el('div', { id: 'place-section' }, el('h4', {}, 'Your images on this map'), intro, el('p', {}, button, ' ', status), results);
  const neighbours = container.querySelector('h4');
  if (neighbours) container.insertBefore(section, neighbours);
  else container.append(section);

  let model: Promise<import('./in-page-model.js').PageModel> | null = null;
  let placedSoFar: Array<{ x: number; y: number; label: string }> = [];
  const run = async (files: File[]) => {
    const images = files.filter((f) => f.type.startsWith('image/') || /\.(png|jpe?g|webp|gif|bmp)$/i.test(f.name)).slice(0, MAX_FILES);
    if (images.length === 0) {
      status.textContent = 'no image files among those dropped (PNG, JPEG, WebP, GIF, BMP)';
      return;
    }
    try {
      status.textContent = `reading ${images.length} image${images.length === 1 ? '' : 's'}…`;
      const decoded = await Promise.all(images.map((f) => preprocess(f, p)));
      const size = p.height * p.width * p.channels;
      const pixels = new Float32Array(images.length * size);
      decoded.forEach((d, i) => pixels.set(d.pixels, i * size));
      status.textContent = 'loading the run’s model into the page…';
      const page = await import('./in-page-model.js');
      model ??= page.loadPageModel(runBase, config, p);
      const m = await model;
      status.textContent = `encoding ${images.length} image${images.length === 1 ? '' : 's'}…`;
      const out = m.encode(pixels, images.length);
      status.textContent = 'placing on the map…';
      const placed = await page.placeOnMap(data, out.codes, images.length);
      const start = placedSoFar.length;
      placedSoFar = placedSoFar.concat(images.map((f, i) => ({ x: placed.coords[2 * i]!, y: placed.coords[2 * i + 1]!, label: f.name })));
      map.place(placedSoFar);
      const shape = { height: p.height, width: p.width, channels: p.channels };
      results.append(
        ...images.map((f, i) => {
          const s = out.scores[i]!;
          const flagged = threshold !== null && s > threshold;
          const [x, y] = [placed.coords[2 * i]!, placed.coords[2 * i + 1]!];
          const cls = data.classes[placed.landed[i]!] ?? String(placed.landed[i]);
          const item = el(
            'figure',
            {
              class: `placed-item${flagged ? ' flagged' : ''}`,
              'data-name': f.name,
              'data-x': String(x),
              'data-y': String(y),
              'data-score': String(s),
              'data-flagged': flagged ? '1' : '0',
              title: 'show it on the map',
            },
            thumbnail(toBytes(decoded[i]!.pixels), 0, shape, 2),
            thumbnail(toBytes(out.recons.subarray(i * size, (i + 1) * size)), 0, shape, 2),
            el(
              'figcaption',
              {},
              el('strong', {}, `${start + i + 1}. ${f.name}`),
              el('br'),
              `score (MSE) ${s.toPrecision(4)}${threshold === null ? '' : flagged ? ` · above ${threshold.toPrecision(4)}: flagged` : ` · below ${threshold.toPrecision(4)}: not flagged`}`,
              el('br'),
              `at (${x.toFixed(3)}, ${y.toFixed(3)}) among class ${cls}${decoded[i]!.resized ? ' · resized in the browser' : ''}`,
            ),
          );
          item.onclick = () => map.centreOn(x, y);
          return item;
        }),
      );
      status.textContent = `${placedSoFar.length} image${placedSoFar.length === 1 ? '' : 's'} placed (diamonds on the map, numbered); weights ${m.sha256.slice(0, 12)}`;
      results.dataset.count = String(placedSoFar.length);
    } catch (e) {
      status.textContent = `could not place the images: ${(e as Error).message}`;
    }
  };
  input.onchange = () => {
    void run([...(input.files ?? [])]);
    input.value = '';
  };
  container.addEventListener('dragover', (e) => {
    if (!e.dataTransfer?.types.includes('Files')) return;
    e.preventDefault();
    container.classList.add('dropping');
  });
  container.addEventListener('dragleave', () => container.classList.remove('dropping'));
  container.addEventListener('drop', (e) => {
    if (!e.dataTransfer?.files.length) return;
    e.preventDefault();
    container.classList.remove('dropping');
    void run([...e.dataTransfer.files]);
  });
}
