/** reconstructions.png: for N images, the model's input (noisy for a denoising run), the clean image and the reconstruction. */
import { font, imageCanvas, newCanvas, savePng } from './canvas.js';

export interface ReconstructionPanel {
  /** Row name and N images (HWC floats in [0, 1]), concatenated. */
  rows: Array<{ label: string; pixels: Float32Array }>;
  /** Caption above each column (e.g. the digit's label). */
  columnLabels: string[];
  height: number;
  width: number;
  channels: number;
  title: string;
}

export async function drawReconstructions(panel: ReconstructionPanel, file: string): Promise<void> {
  const n = panel.columnLabels.length;
  const scale = Math.max(1, Math.floor(96 / Math.max(panel.height, panel.width)));
  const cellW = panel.width * scale,
    cellH = panel.height * scale;
  const gap = 8,
    top = 70;
  // The left margin fits the longest row label.
  const probe = newCanvas(1, 1).ctx;
  probe.font = font(16);
  const left = Math.ceil(Math.max(...panel.rows.map((r) => probe.measureText(r.label).width))) + 28;
  probe.font = font(20, true);
  const width = Math.max(left + n * (cellW + gap) + gap, Math.ceil(probe.measureText(panel.title).width) + 2 * gap);
  const { canvas, ctx } = newCanvas(width, top + panel.rows.length * (cellH + gap) + gap);
  ctx.fillStyle = '#222';
  ctx.font = font(20, true);
  ctx.fillText(panel.title, gap, 28);
  ctx.font = font(15);
  ctx.textAlign = 'center';
  panel.columnLabels.forEach((label, c) => {
    ctx.fillText(label, left + c * (cellW + gap) + cellW / 2, top - 10);
  });
  ctx.imageSmoothingEnabled = false;
  const size = panel.height * panel.width * panel.channels;
  panel.rows.forEach((row, r) => {
    const y = top + r * (cellH + gap);
    ctx.textAlign = 'right';
    ctx.fillStyle = '#222';
    ctx.font = font(16);
    ctx.fillText(row.label, left - 12, y + cellH / 2 + 6);
    for (let c = 0; c < n; c++) {
      const img = imageCanvas(row.pixels, c * size, panel.height, panel.width, panel.channels);
      ctx.drawImage(img, left + c * (cellW + gap), y, cellW, cellH);
    }
  });
  await savePng(canvas, file);
}
