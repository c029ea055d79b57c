/**
 * Shared drawing helpers on @napi-rs/canvas (its prebuilt binary ships inside the npm package). Text uses DejaVu
 * Sans from the dejavu-fonts-ttf package, registered explicitly: with no system fonts, text would silently vanish.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { createCanvas, GlobalFonts, type Canvas, type SKRSContext2D } from '@napi-rs/canvas';
import { writeFileAtomic } from '../util/fs.js';

export const FONT = 'DejaVu Sans';
let fontsReady = false;

export function ensureFonts(): void {
  if (fontsReady) return;
  const require = createRequire(import.meta.url);
  const dir = path.join(path.dirname(require.resolve('dejavu-fonts-ttf/package.json')), 'ttf');
  GlobalFonts.registerFromPath(path.join(dir, 'DejaVuSans.ttf'), FONT);
  GlobalFonts.registerFromPath(path.join(dir, 'DejaVuSans-Bold.ttf'), FONT);
  fontsReady = true;
}

export function newCanvas(width: number, height: number): { canvas: Canvas; ctx: SKRSContext2D } {
  ensureFonts();
  const canvas = createCanvas(Math.round(width), Math.round(height));
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  return { canvas, ctx };
}

export function font(size: number, bold = false): string {
  return `${bold ? 'bold ' : ''}${size}px "${FONT}"`;
}

/** Ten distinct colours (matplotlib's tab10), one per class. */
export const CLASS_COLOURS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

/** A grayscale or RGB image (HWC floats in [0, 1], clamped) as a canvas of its own size. */
export function imageCanvas(pixels: Float32Array, offset: number, height: number, width: number, channels: number): Canvas {
  const canvas = createCanvas(width, height);
  const ctx = canvas.getContext('2d');
  const img = ctx.createImageData(width, height);
  for (let p = 0; p < height * width; p++) {
    for (let c = 0; c < 3; c++) {
      const v = pixels[offset + p * channels + (channels === 1 ? 0 : c)]!;
      img.data[4 * p + c] = Math.round(255 * Math.min(1, Math.max(0, v)));
    }
    img.data[4 * p + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
  return canvas;
}

/** Encodes to PNG and writes atomically. */
export async function savePng(canvas: Canvas, file: string): Promise<void> {
  writeFileAtomic(file, await canvas.encode('png'));
}
