/**
 * latent_<method>.png: every point of a 2-D map coloured by class, a legend, and image thumbnails framed in
 * their class colour, placed (in a seeded order) only where they keep clear of those already placed, as the
 * reference does.
 */
import { CLASS_COLOURS, font, imageCanvas, newCanvas, savePng } from './canvas.js';
import { Rng } from '../util/rng.js';
import { bounds2d } from '../util/bounds.js';

export interface LatentMap {
  /** n x 2 coordinates, interleaved. */
  coords: Float32Array;
  labels: Uint8Array | null;
  classNames: string[];
  /** Images for thumbnails: n x (h*w*c), HWC in [0, 1], or image i on demand (only the thumbnails drawn are read). */
  images: Float32Array | ((i: number) => Float32Array);
  height: number;
  width: number;
  channels: number;
  title: string;
  seed: number;
}

/** A legend line as drawn: the class's swatch centre and its name's text baseline start, in pixels. */
export interface LegendEntry {
  classIndex: number;
  name: string;
  colour: string;
  swatch: { x: number; y: number };
  text: { x: number; y: number };
}

/** The legend's text style. */
export const LEGEND_FONT = font(16);

/** Draws the map into `file`; returns the legend as laid out (empty for unlabelled points). */
export async function drawLatentMap(map: LatentMap, file: string): Promise<{ legend: LegendEntry[] }> {
  const n = map.coords.length / 2;
  const W = 1400,
    H = 1200,
    margin = 50,
    top = 70,
    legendW = 190;
  const { canvas, ctx } = newCanvas(W, H);
  const { minX, maxX, minY, maxY } = bounds2d(map.coords, n);
  const plotW = W - 2 * margin - legendW,
    plotH = H - top - margin;
  const s = Math.min(plotW / (maxX - minX || 1), plotH / (maxY - minY || 1));
  const px = (i: number) => margin + (map.coords[2 * i]! - minX) * s + (plotW - (maxX - minX) * s) / 2;
  const py = (i: number) => top + (maxY - map.coords[2 * i + 1]!) * s + (plotH - (maxY - minY) * s) / 2;
  ctx.fillStyle = '#222';
  ctx.font = font(20, true);
  ctx.fillText(map.title, margin, 38);

  const colour = (i: number) => (map.labels ? CLASS_COLOURS[map.labels[i]! % CLASS_COLOURS.length]! : '#1f77b4');
  const radius = n > 20000 ? 1.2 : n > 5000 ? 1.8 : 2.6;
  ctx.globalAlpha = 0.7;
  for (let i = 0; i < n; i++) {
    ctx.fillStyle = colour(i);
    ctx.beginPath();
    ctx.arc(px(i), py(i), radius, 0, 2 * Math.PI);
    ctx.fill();
  }
  ctx.globalAlpha = 1;

  // Thumbnails: a point gets one if it lies at least `minGap` pixels from every thumbnail placed so far.
  const thumb = 30,
    minGap = 44;
  const placed: Array<[number, number]> = [];
  const order = new Rng(map.seed).permutation(n);
  const size = map.height * map.width * map.channels;
  ctx.imageSmoothingEnabled = true;
  for (const i of order) {
    const x = px(i),
      y = py(i);
    if (placed.some(([a, b]) => (a - x) ** 2 + (b - y) ** 2 < minGap * minGap)) continue;
    placed.push([x, y]);
    ctx.fillStyle = colour(i);
    ctx.fillRect(x - thumb / 2 - 2, y - thumb / 2 - 2, thumb + 4, thumb + 4);
    const pixels = typeof map.images === 'function' ? map.images(i) : map.images.subarray(i * size, (i + 1) * size);
    ctx.drawImage(imageCanvas(pixels, 0, map.height, map.width, map.channels), x - thumb / 2, y - thumb / 2, thumb, thumb);
  }

  const legend: LegendEntry[] = [];
  if (map.labels) {
    const present = [...new Set(map.labels)].sort((a, b) => a - b);
    const lx = W - legendW - margin / 2 + 20;
    ctx.font = font(17, true);
    ctx.fillStyle = '#222';
    ctx.textAlign = 'left';
    ctx.fillText('class', lx, top + 10);
    ctx.font = LEGEND_FONT;
    present.forEach((c, k) => {
      const entry = {
        classIndex: c,
        name: map.classNames[c] ?? String(c),
        colour: CLASS_COLOURS[c % CLASS_COLOURS.length]!,
        swatch: { x: lx + 8, y: top + 35 + k * 28 },
        text: { x: lx + 24, y: top + 40 + k * 28 },
      };
      ctx.fillStyle = entry.colour;
      ctx.beginPath();
      ctx.arc(entry.swatch.x, entry.swatch.y, 8, 0, 2 * Math.PI);
      ctx.fill();
      ctx.fillStyle = '#222';
      ctx.fillText(entry.name, entry.text.x, entry.text.y);
      legend.push(entry);
    });
  }
  await savePng(canvas, file);
  return { legend };
}
