/**
 * Synthetic colour images with structure, for the data benchmark and the streaming tests: eight classes of shapes
 * and patterns (disc, square, triangle, ring, horizontal and vertical stripes, checks, cross), each drawn with a
 * seeded random colour, position and size over a seeded two-colour gradient with grain. Image i of a seed is always
 * the same. Written as 8-bit RGB PNGs by a small encoder of our own (no filtering, zlib level 1), on every core:
 * a million files take minutes, where encoding through libvips took ~1.3 ms each.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';
import { deriveSeed, Rng } from '../src/util/rng.js';

export const CLASS_NAMES = ['disc', 'square', 'triangle', 'ring', 'hstripes', 'vstripes', 'checks', 'cross'];

/** Image `index` of `seed`: its class (index mod 8) and its pixels, HWC bytes. */
export function syntheticImage(index: number, seed: number, size = 64): { label: number; pixels: Uint8Array } {
  const rng = new Rng(deriveSeed(seed, 'synthetic', index));
  const label = index % CLASS_NAMES.length;
  const colour = () => [rng.uniform() * 255, rng.uniform() * 255, rng.uniform() * 255];
  const [a, b, fg] = [colour(), colour(), colour()] as [number[], number[], number[]];
  const cx = size * (0.3 + 0.4 * rng.uniform()),
    cy = size * (0.3 + 0.4 * rng.uniform()),
    r = size * (0.15 + 0.2 * rng.uniform()),
    period = 4 + Math.floor(rng.uniform() * 8),
    angle = rng.uniform() * Math.PI * 2;
  const cos = Math.cos(angle),
    sin = Math.sin(angle);
  const inside = (x: number, y: number): boolean => {
    const dx = x - cx,
      dy = y - cy;
    switch (label) {
      case 0:
        return dx * dx + dy * dy < r * r;
      case 1:
        return Math.abs(dx) < r && Math.abs(dy) < r;
      case 2: {
        const u = dx * cos + dy * sin,
          v = -dx * sin + dy * cos;
        return v > -r / 2 && Math.abs(u) < (r - v) * 0.6;
      }
      case 3: {
        const d = dx * dx + dy * dy;
        return d < r * r && d > 0.36 * r * r;
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
  for (let y = 0, o = 0; y < size; y++) {
    for (let x = 0; x < size; x++, o += 3) {
      const t = (x + y) / (2 * size);
      const on = inside(x, y);
      const grain = rng.uint32(); // one draw, three bytes of grain in [-12, 12)
      for (let c = 0; c < 3; c++) {
        const base = on ? fg[c]! : a[c]! * (1 - t) + b[c]! * t;
        const value = base + (((grain >>> (8 * c)) & 255) - 128) * (12 / 128);
        pixels[o + c] = value < 0 ? 0 : value > 255 ? 255 : Math.round(value);
      }
    }
  }
  return { label, pixels };
}

const CRC_TABLE = Int32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c;
});

function chunk(type: string, data: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  out.set(data, 8);
  let crc = -1;
  for (let i = 4; i < 8 + data.length; i++) crc = CRC_TABLE[(crc ^ out[i]!) & 255]! ^ (crc >>> 8);
  out.writeInt32BE(~crc, 8 + data.length);
  return out;
}

/** An 8-bit RGB PNG of HWC pixels: one IDAT, rows unfiltered, zlib level 1. */
export function encodePng(pixels: Uint8Array, width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  const raw = Buffer.alloc(height * (1 + width * 3));
  for (let y = 0; y < height; y++) raw.set(pixels.subarray(y * width * 3, (y + 1) * width * 3), y * (1 + width * 3) + 1);
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([
    signature,
    chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(raw, { level: 1 })),
    chunk('IEND', new Uint8Array(0)),
  ]);
}

export const syntheticFile = (dir: string, i: number): string =>
  path.join(dir, CLASS_NAMES[i % CLASS_NAMES.length]!, `${String(i).padStart(7, '0')}.png`);

/** Writes images [from, to) in this process; files that exist are kept. Prints a line per 1,000 written. */
function writeRange(dir: string, from: number, to: number, seed: number, size: number, every: number): void {
  for (let i = from; i < to; i += every) {
    const file = syntheticFile(dir, i);
    if (!fs.existsSync(file)) {
      fs.writeFileSync(`${file}.tmp`, encodePng(syntheticImage(i, seed, size).pixels, size, size));
      fs.renameSync(`${file}.tmp`, file);
    }
    if (((i - from) / every) % 1000 === 999) process.stdout.write('1000\n');
  }
}

/**
 * Writes images [from, to) of `seed` (size x size) as PNGs into `dir`/<class>/<index>.png, one process per core.
 * Existing files are kept, so a folder grows from one run to the next.
 */
export async function writeSyntheticFolder(
  dir: string,
  from: number,
  to: number,
  seed: number,
  onProgress?: (done: number, total: number) => void,
  size = 64,
): Promise<void> {
  for (const name of CLASS_NAMES) fs.mkdirSync(path.join(dir, name), { recursive: true });
  const workers = to - from >= 2000 ? os.availableParallelism() : 1;
  if (workers === 1) {
    writeRange(dir, from, to, seed, size, 1);
    onProgress?.(to - from, to - from);
    return;
  }
  let done = 0;
  const self = fileURLToPath(import.meta.url);
  await Promise.all(
    Array.from({ length: workers }, (_, w) => {
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', self, dir, String(from + w), String(to), String(seed), String(size), String(workers)],
        {
          stdio: ['ignore', 'pipe', 'inherit'],
        },
      );
      child.stdout.on('data', (b: Buffer) => {
        done += b.toString().split('\n').filter(Boolean).length * 1000;
        onProgress?.(Math.min(done, to - from), to - from);
      });
      return new Promise<void>((resolve, reject) =>
        child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`writer exited ${code}`)))),
      );
    }),
  );
  onProgress?.(to - from, to - from);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const [dir, from, to, seed, size, every] = process.argv.slice(2);
  writeRange(dir!, Number(from), Number(to), Number(seed), Number(size), Number(every));
}
