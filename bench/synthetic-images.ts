/**
 * Synthetic 64 x 64 RGB images with structure, for the data benchmark: eight classes of shapes and patterns
 * (disc, square, triangle, ring, horizontal and vertical stripes, checks, cross), each drawn with a seeded random
 * colour, position and size over a seeded two-colour gradient with grain. Image i of a seed is always the same.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { deriveSeed, Rng } from '../src/util/rng.js';

export const CLASS_NAMES = ['disc', 'square', 'triangle', 'ring', 'hstripes', 'vstripes', 'checks', 'cross'];

/** Image `index` of `seed`: its class (index mod 8) and its pixels, HWC bytes. */
export function syntheticImage(index: number, seed: number, size = 64): { label: number; pixels: Uint8Array } {
  const rng = new Rng(deriveSeed(seed, 'synthetic', index));
  const label = index % CLASS_NAMES.length;
  const colour = () => [rng.uniform() * 255, rng.uniform() * 255, rng.uniform() * 255];
  const [a, b, fg] = [colour(), colour(), colour()];
  const cx = size * (0.3 + 0.4 * rng.uniform()),
    cy = size * (0.3 + 0.4 * rng.uniform()),
    r = size * (0.15 + 0.2 * rng.uniform()),
    period = 4 + Math.floor(rng.uniform() * 8),
    angle = rng.uniform() * Math.PI * 2;
  const inside = (x: number, y: number): boolean => {
    const dx = x - cx,
      dy = y - cy;
    switch (label) {
      case 0:
        return dx * dx + dy * dy < r * r;
      case 1:
        return Math.abs(dx) < r && Math.abs(dy) < r;
      case 2: {
        const u = dx * Math.cos(angle) + dy * Math.sin(angle),
          v = -dx * Math.sin(angle) + dy * Math.cos(angle);
        return v > -r / 2 && Math.abs(u) < (r - v) * 0.6;
      }
      case 3: {
        const d = Math.sqrt(dx * dx + dy * dy);
        return d < r && d > r * 0.6;
      }
      case 4:
        return Math.floor(y / period) % 2 === 0;
      case 5:
        return Math.floor(x / period) % 2 === 0;
      case 6:
        return (Math.floor(x / period) + Math.floor(y / period)) % 2 === 0;
      default:
        return (Math.abs(dx) < r / 4 && Math.abs(dy) < r) || (Math.abs(dy) < r / 4 && Math.abs(dx) < r);
    }
  };
  const pixels = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const t = (x + y) / (2 * size);
      const on = inside(x, y);
      for (let c = 0; c < 3; c++) {
        const base = on ? fg[c]! : a[c]! * (1 - t) + b[c]! * t;
        const grain = (rng.uniform() - 0.5) * 24;
        pixels[(y * size + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(base + grain)));
      }
    }
  }
  return { label, pixels };
}

/**
 * Writes images [from, to) of `seed` (size x size) as PNGs into `dir`/<class>/<index>.png (several encodes at a time: sharp
 * runs them on libuv's threads). Existing files are kept, so a folder grows from one run to the next.
 */
export async function writeSyntheticFolder(
  dir: string,
  from: number,
  to: number,
  seed: number,
  onProgress?: (done: number, total: number) => void,
  size = 64,
): Promise<void> {
  const sharp = (await import('sharp')).default;
  for (const name of CLASS_NAMES) fs.mkdirSync(path.join(dir, name), { recursive: true });
  let next = from,
    done = 0;
  const worker = async () => {
    for (let i = next++; i < to; i = next++) {
      const file = path.join(dir, CLASS_NAMES[i % CLASS_NAMES.length]!, `${String(i).padStart(7, '0')}.png`);
      if (!fs.existsSync(file)) {
        const { pixels } = syntheticImage(i, seed, size);
        await sharp(pixels, { raw: { width: size, height: size, channels: 3 } })
          .png()
          .toFile(`${file}.tmp`);
        fs.renameSync(`${file}.tmp`, file);
      }
      onProgress?.(++done, to - from);
    }
  };
  await Promise.all(Array.from({ length: os.availableParallelism() * 2 }, worker));
}
