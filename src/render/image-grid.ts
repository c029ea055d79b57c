/** A titled grid of images (samples.png, latent-grid.png), optionally with axis captions for a latent plane. */
import { font, imageCanvas, newCanvas, savePng } from './canvas.js';

export interface ImageGrid {
  /** rows x cols images (HWC floats in [0, 1]), concatenated row by row. */
  pixels: Float32Array;
  rows: number;
  cols: number;
  height: number;
  width: number;
  channels: number;
  title: string;
  /** Captions under the columns and beside the rows (e.g. the latent coordinates a grid cell decodes). */
  colLabels?: string[];
  rowLabels?: string[];
  /** Pixels per image side in the picture (default: about 56). */
  cell?: number;
}

export async function drawImageGrid(grid: ImageGrid, file: string): Promise<void> {
  const cell = grid.cell ?? Math.max(grid.height, grid.width) * Math.max(1, Math.floor(56 / Math.max(grid.height, grid.width)));
  const cellW = Math.round((cell * grid.width) / Math.max(grid.height, grid.width));
  const cellH = Math.round((cell * grid.height) / Math.max(grid.height, grid.width));
  const gap = 2;
  const top = 44;
  const left = grid.rowLabels ? 56 : 8;
  const bottom = grid.colLabels ? 30 : 8;
  const probe = newCanvas(1, 1).ctx;
  probe.font = font(18, true);
  const width = Math.max(left + grid.cols * (cellW + gap) + 8, Math.ceil(probe.measureText(grid.title).width) + 16);
  const { canvas, ctx } = newCanvas(width, top + grid.rows * (cellH + gap) + bottom);
  ctx.fillStyle = '#222';
  ctx.font = font(18, true);
  ctx.fillText(grid.title, 8, 28);
  ctx.imageSmoothingEnabled = false;
  const size = grid.height * grid.width * grid.channels;
  for (let r = 0; r < grid.rows; r++) {
    for (let c = 0; c < grid.cols; c++) {
      const i = r * grid.cols + c;
      if ((i + 1) * size > grid.pixels.length) break;
      const img = imageCanvas(grid.pixels, i * size, grid.height, grid.width, grid.channels);
      ctx.drawImage(img, left + c * (cellW + gap), top + r * (cellH + gap), cellW, cellH);
    }
  }
  ctx.font = font(11);
  ctx.fillStyle = '#444';
  ctx.textAlign = 'center';
  grid.colLabels?.forEach((label, c) => {
    ctx.fillText(label, left + c * (cellW + gap) + cellW / 2, top + grid.rows * (cellH + gap) + 16);
  });
  ctx.textAlign = 'right';
  grid.rowLabels?.forEach((label, r) => {
    ctx.fillText(label, left - 6, top + r * (cellH + gap) + cellH / 2 + 4);
  });
  await savePng(canvas, file);
}
