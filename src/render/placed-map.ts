/**
 * <codes>_on_<method>.png (`encode` with `onto`): a saved map's points, half transparent and coloured by class, with new points
 * placed on it drawn over them as larger dots with a dark ring, so where the new images landed stands out.
 */
import { CLASS_COLOURS, font, newCanvas, savePng } from './canvas.js';
import { bounds2d } from '../util/bounds.js';

export interface PlacedMap {
  /** The saved map's n x 2 coordinates and their class indices (null: unlabelled). */
  map: Float32Array;
  mapLabels: Uint8Array | null;
  /** The new points' m x 2 coordinates. */
  placed: Float32Array;
  title: string;
}

export async function drawPlacedPoints(p: PlacedMap, file: string): Promise<void> {
  const W = 1200,
    H = 1100,
    margin = 40,
    top = 70;
  const { canvas, ctx } = newCanvas(W, H);
  const { minX, maxX, minY, maxY } = bounds2d(p.placed, undefined, bounds2d(p.map));
  const plotW = W - 2 * margin,
    plotH = H - top - margin;
  const s = Math.min(plotW / (maxX - minX || 1), plotH / (maxY - minY || 1));
  const px = (x: number) => margin + (x - minX) * s + (plotW - (maxX - minX) * s) / 2;
  const py = (y: number) => top + (maxY - y) * s + (plotH - (maxY - minY) * s) / 2;
  ctx.fillStyle = '#222';
  ctx.font = font(20, true);
  ctx.fillText(p.title, margin, 38);
  const n = p.map.length / 2;
  const radius = n > 20000 ? 1.2 : n > 5000 ? 1.8 : 2.6;
  ctx.globalAlpha = 0.5;
  for (let i = 0; i < n; i++) {
    ctx.fillStyle = p.mapLabels ? CLASS_COLOURS[p.mapLabels[i]! % CLASS_COLOURS.length]! : '#1f77b4';
    ctx.beginPath();
    ctx.arc(px(p.map[2 * i]!), py(p.map[2 * i + 1]!), radius, 0, 2 * Math.PI);
    ctx.fill();
  }
  ctx.globalAlpha = 1;
  // A few new points stand out as large rings; thousands get small ones, so the map stays visible under them.
  const m = p.placed.length / 2;
  const ring = m <= 50 ? 5 : m <= 1000 ? 3.5 : 2;
  ctx.fillStyle = '#ffd400';
  ctx.strokeStyle = '#111';
  ctx.lineWidth = m <= 1000 ? 1.5 : 0.6;
  for (let i = 0; i < m; i++) {
    ctx.beginPath();
    ctx.arc(px(p.placed[2 * i]!), py(p.placed[2 * i + 1]!), ring, 0, 2 * Math.PI);
    ctx.fill();
    ctx.stroke();
  }
  await savePng(canvas, file);
}
