/** Parser for the IDX format of MNIST-style datasets (optionally gzip-compressed), with every header checked. */
import { gunzipSync } from 'node:zlib';
import { UserError } from '../errors.js';

/** IDX magic numbers: 0x00000801 = unsigned-byte vector (labels), 0x00000803 = unsigned-byte rank-3 (images). */
export const IDX_LABELS_MAGIC = 0x00000801;
export const IDX_IMAGES_MAGIC = 0x00000803;

export interface IdxArray {
  shape: number[];
  data: Uint8Array;
}

/** Decompresses when the bytes start with the gzip signature; a truncated or corrupt stream is a clear error. */
export function maybeGunzip(bytes: Uint8Array, source: string): Uint8Array {
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      return gunzipSync(bytes);
    } catch (e) {
      throw new UserError(
        `${source} is a corrupt or truncated gzip file (${(e as Error).message})`,
        'delete it so it is fetched again, or replace it with a good copy',
      );
    }
  }
  return bytes;
}

/** Parses an IDX unsigned-byte array, checking the magic number, the rank and that the payload size matches. */
export function parseIdx(raw: Uint8Array, source: string, expectedMagic: number): IdxArray {
  const bytes = maybeGunzip(raw, source);
  if (bytes.length < 4) throw new UserError(`${source} is too short to be an IDX file (${bytes.length} bytes)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0, false);
  if (magic !== expectedMagic) {
    throw new UserError(
      `${source} has IDX magic number 0x${magic.toString(16).padStart(8, '0')}, expected 0x${expectedMagic.toString(16).padStart(8, '0')} (${expectedMagic === IDX_IMAGES_MAGIC ? 'images' : 'labels'})`,
      'check that the file is the right one of the four MNIST files and not swapped or damaged',
    );
  }
  const rank = magic & 0xff;
  const headerBytes = 4 + 4 * rank;
  if (bytes.length < headerBytes) throw new UserError(`${source}: IDX header is truncated`);
  const shape: number[] = [];
  for (let i = 0; i < rank; i++) shape.push(view.getUint32(4 + 4 * i, false));
  const count = shape.reduce((a, b) => a * b, 1);
  if (bytes.length - headerBytes !== count) {
    throw new UserError(
      `${source}: header promises ${shape.join('x')} = ${count} bytes of data but the file holds ${bytes.length - headerBytes}`,
      'the file is truncated or damaged; delete it so it is fetched again',
    );
  }
  return { shape, data: bytes.subarray(headerBytes) };
}

/** Images as float32 in [0, 1], shape [n, rows, cols]. */
export function parseIdxImages(raw: Uint8Array, source: string): { images: Float32Array; count: number; rows: number; cols: number } {
  const { shape, data } = parseIdx(raw, source, IDX_IMAGES_MAGIC);
  const [count, rows, cols] = shape as [number, number, number];
  const images = new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) images[i] = data[i]! / 255;
  return { images, count, rows, cols };
}

export function parseIdxLabels(raw: Uint8Array, source: string): Uint8Array {
  const { data } = parseIdx(raw, source, IDX_LABELS_MAGIC);
  return Uint8Array.from(data);
}

/** Encodes an IDX unsigned-byte array (used by tests to write small files of their own). */
export function encodeIdx(shape: number[], data: Uint8Array): Uint8Array {
  const magic = shape.length === 1 ? IDX_LABELS_MAGIC : 0x00000800 | shape.length;
  const out = new Uint8Array(4 + 4 * shape.length + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, magic, false);
  shape.forEach((d, i) => {
    view.setUint32(4 + 4 * i, d, false);
  });
  out.set(data, 4 + 4 * shape.length);
  return out;
}
