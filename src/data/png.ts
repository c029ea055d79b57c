/**
 * A fast path for the commonest image files: 8-bit, non-interlaced PNGs (grey, RGB or palette, no transparency, no
 * embedded colour profile) already at the configured size, whose pixels are then copied as they are. libvips (sharp)
 * gives exactly these bytes for such files too (test/png.test.ts compares the two), but it costs about 0.6 ms of
 * set-up per image whatever its size, which capped a folder of small PNGs at ~1,600 images/s on two cores; inflating
 * and unfiltering here costs a tenth of that. Anything else (other sizes, alpha, 16 bits, interlacing, profiles,
 * JPEG...) returns null and goes through sharp.
 */
import zlib from 'node:zlib';

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

export interface FastTarget {
  height: number;
  width: number;
  channels: 1 | 3;
}

/**
 * The pixels (HWC bytes) of a PNG when it qualifies for the fast path, written into `out`; false when it does not
 * qualify or is damaged in any way (the general decoder then decides, and reports damage).
 */
export function decodePngInto(file: Uint8Array, target: FastTarget, out: Uint8Array): boolean {
  try {
    return decode(file, target, out);
  } catch {
    return false;
  }
}

function decode(buf: Uint8Array, target: FastTarget, out: Uint8Array): boolean {
  if (buf.length < 8 + 25) return false;
  for (let i = 0; i < 8; i++) if (buf[i] !== SIGNATURE[i]) return false;
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let width = 0,
    height = 0,
    colourType = -1;
  let palette: Uint8Array | null = null;
  const idat: Uint8Array[] = [];
  let ended = false;
  for (let at = 8; at + 12 <= buf.length; ) {
    const length = view.getUint32(at);
    const type = String.fromCharCode(buf[at + 4]!, buf[at + 5]!, buf[at + 6]!, buf[at + 7]!);
    const data = at + 8;
    if (data + length + 4 > buf.length) return false;
    if (type === 'IHDR') {
      if (length !== 13) return false;
      width = view.getUint32(data);
      height = view.getUint32(data + 4);
      const depth = buf[data + 8]!;
      colourType = buf[data + 9]!;
      const interlace = buf[data + 12]!;
      if (depth !== 8 || interlace !== 0 || buf[data + 10] !== 0 || buf[data + 11] !== 0) return false;
      if (width !== target.width || height !== target.height) return false;
      // grey -> grey or RGB; RGB -> RGB; palette -> RGB. Alpha, and colour to grey, need libvips's arithmetic.
      const ok = colourType === 0 || (target.channels === 3 && (colourType === 2 || colourType === 3));
      if (!ok) return false;
    } else if (type === 'PLTE') {
      palette = buf.subarray(data, data + length);
    } else if (type === 'tRNS' || type === 'iCCP') {
      return false;
    } else if (type === 'IDAT') {
      idat.push(buf.subarray(data, data + length));
    } else if (type === 'IEND') {
      ended = true;
      break;
    }
    at = data + length + 4;
  }
  if (!ended || colourType < 0 || idat.length === 0) return false;
  if (colourType === 3 && (!palette || palette.length % 3 !== 0)) return false;
  const bpp = colourType === 2 ? 3 : 1;
  const stride = width * bpp;
  const raw = zlib.inflateSync(idat.length === 1 ? idat[0]! : Buffer.concat(idat));
  if (raw.length !== height * (stride + 1)) return false;
  const rows = unfilter(raw, height, stride, bpp);
  if (!rows) return false;
  const pixels = width * height;
  if (colourType === 2 || (colourType === 0 && target.channels === 1)) {
    out.set(rows.subarray(0, pixels * target.channels));
  } else if (colourType === 0) {
    for (let i = 0, o = 0; i < pixels; i++, o += 3) out[o] = out[o + 1] = out[o + 2] = rows[i]!;
  } else {
    const entries = palette!.length / 3;
    for (let i = 0, o = 0; i < pixels; i++, o += 3) {
      const e = rows[i]!;
      if (e >= entries) return false;
      out[o] = palette![3 * e]!;
      out[o + 1] = palette![3 * e + 1]!;
      out[o + 2] = palette![3 * e + 2]!;
    }
  }
  return true;
}

/** Undoes PNG's per-row filters (None, Sub, Up, Average, Paeth); null on an unknown filter type. */
function unfilter(raw: Uint8Array, height: number, stride: number, bpp: number): Uint8Array | null {
  const out = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!;
    const src = y * (stride + 1) + 1;
    const row = y * stride;
    const up = row - stride;
    switch (filter) {
      case 0:
        out.set(raw.subarray(src, src + stride), row);
        break;
      case 1:
        for (let x = 0; x < stride; x++) out[row + x] = raw[src + x]! + (x >= bpp ? out[row + x - bpp]! : 0);
        break;
      case 2:
        for (let x = 0; x < stride; x++) out[row + x] = raw[src + x]! + (y > 0 ? out[up + x]! : 0);
        break;
      case 3:
        for (let x = 0; x < stride; x++) {
          const left = x >= bpp ? out[row + x - bpp]! : 0;
          const above = y > 0 ? out[up + x]! : 0;
          out[row + x] = raw[src + x]! + ((left + above) >> 1);
        }
        break;
      case 4:
        for (let x = 0; x < stride; x++) {
          const a = x >= bpp ? out[row + x - bpp]! : 0;
          const b = y > 0 ? out[up + x]! : 0;
          const c = x >= bpp && y > 0 ? out[up + x - bpp]! : 0;
          const p = a + b - c;
          const pa = Math.abs(p - a),
            pb = Math.abs(p - b),
            pc = Math.abs(p - c);
          out[row + x] = raw[src + x]! + (pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
        }
        break;
      default:
        return null;
    }
  }
  return out;
}
