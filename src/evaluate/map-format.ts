/**
 * The `ae-map-1` file format's header (map_<method>.json), declared once: written by map-data.ts, read by the
 * `ae view` page (viewer/map.ts imports these types; this file imports nothing, so the browser bundle can).
 */
export const MAP_FORMAT = 'ae-map-1';

export type Dtype = 'float32' | 'uint8' | 'int32';
export interface MapArray {
  offset: number;
  dtype: Dtype;
  shape: number[];
}
export interface MapHeader {
  format: typeof MAP_FORMAT;
  method: string;
  description: string;
  split: string;
  count: number;
  height: number;
  width: number;
  channels: number;
  /** Neighbours per point. */
  k: number;
  classes: string[] | null;
  arrays: Record<string, MapArray>;
}

export const BYTES_PER_ELEMENT: Record<Dtype, number> = { float32: 4, uint8: 1, int32: 4 };

/** The arrays a reader indexes by point, with their dtype and the shape after the point axis (`'d'`: any size >= 1). */
const PER_POINT: Record<string, { dtype: Dtype; rest: Array<number | 'd' | 'k' | 'h' | 'w' | 'c'> }> = {
  coords: { dtype: 'float32', rest: [2] },
  labels: { dtype: 'uint8', rest: [] },
  indices: { dtype: 'int32', rest: [] },
  errors: { dtype: 'float32', rest: [] },
  neighbours: { dtype: 'int32', rest: ['k'] },
  codes: { dtype: 'float32', rest: ['d'] },
  images: { dtype: 'uint8', rest: ['h', 'w', 'c'] },
  reconstructions: { dtype: 'uint8', rest: ['h', 'w', 'c'] },
};

const isSize = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 2 ** 31 - 1;
const PLAIN_WORD = /^[A-Za-z0-9_-]{1,32}$/;

/**
 * Why `raw` (a parsed map_<method>.json) cannot be trusted, or null when it can: every field a reader sizes,
 * indexes or names files by is checked before it is used (maps travel between machines and are read by `ae encode
 * --onto` and by the `ae view` page). With `binBytes`, every array must also lie inside the .bin of that size.
 * One check for both readers: this file imports nothing, so the browser bundle has it too.
 */
export function mapHeaderProblem(raw: unknown, binBytes?: number, binName = 'the .bin file'): string | null {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return 'it is not a JSON object';
  const h = raw as Record<string, unknown>;
  if (h.format !== MAP_FORMAT) return `its format is not ${MAP_FORMAT}`;
  const field = (name: string, why: string) => `header field ${name}: ${why}`;
  if (typeof h.method !== 'string' || !PLAIN_WORD.test(h.method)) return field('method', 'must be a plain word');
  if (h.split !== undefined && (typeof h.split !== 'string' || !PLAIN_WORD.test(h.split))) return field('split', 'must be a plain word');
  if (h.description !== undefined && typeof h.description !== 'string') return field('description', 'must be text');
  if (!isSize(h.count) || h.count < 1) return field('count', 'must be a whole number from 1 to 2^31-1');
  for (const name of ['height', 'width', 'channels', 'k'] as const) {
    if (h[name] !== undefined && !isSize(h[name])) return field(name, 'must be a whole number from 0 to 2^31-1');
  }
  if (typeof h.k === 'number' && h.k >= h.count) return field('k', `must be below the count ${h.count}`);
  if (h.classes !== null && h.classes !== undefined) {
    if (!Array.isArray(h.classes) || h.classes.length > 256) return field('classes', 'must be a list of at most 256 names, or null');
    const bad = h.classes.findIndex((c) => typeof c !== 'string');
    if (bad >= 0) return field(`classes.${bad}`, 'must be a name (text)');
  }
  if (h.arrays === null || typeof h.arrays !== 'object' || Array.isArray(h.arrays)) return field('arrays', 'must be an object');
  const arrays = h.arrays as Record<string, unknown>;
  // Object.keys sees JSON's own "__proto__" key, which `in` and property reads would take for the prototype.
  for (const name of Object.keys(arrays)) {
    if (!/^[a-z][a-z0-9_]{0,63}$/.test(name)) return `array name ${JSON.stringify(name)} is not a plain word`;
    const a = arrays[name] as Record<string, unknown> | null;
    if (a === null || typeof a !== 'object') return field(`arrays.${name}`, 'must be an object');
    if (!isSize(a.offset) || a.offset % 4 !== 0) return field(`arrays.${name}.offset`, 'must be a whole number, a multiple of 4');
    if (a.dtype !== 'float32' && a.dtype !== 'uint8' && a.dtype !== 'int32')
      return field(`arrays.${name}.dtype`, 'must be float32, uint8 or int32');
    if (!Array.isArray(a.shape) || a.shape.length < 1 || a.shape.length > 4)
      return field(`arrays.${name}.shape`, 'must be a list of 1 to 4 sizes');
    const bad = a.shape.findIndex((s) => !isSize(s));
    if (bad >= 0) return field(`arrays.${name}.shape.${bad}`, 'must be a whole number from 0 to 2^31-1');
    const end = a.offset + (a.shape as number[]).reduce((x, y) => x * y, 1) * BYTES_PER_ELEMENT[a.dtype];
    if (!(end <= (binBytes ?? 2 ** 53))) return `array ${name} lies outside ${binName}`;
  }
  if (!Object.hasOwn(arrays, 'coords')) return 'it has no coords array';
  for (const [name, want] of Object.entries(PER_POINT)) {
    if (!Object.hasOwn(arrays, name)) continue;
    const a = arrays[name] as MapArray;
    const sizes: Record<string, unknown> = { k: h.k, h: h.height, w: h.width, c: h.channels };
    const fits =
      a.shape[0] === h.count &&
      a.shape.length === 1 + want.rest.length &&
      want.rest.every((r, i) => {
        const s = a.shape[i + 1]!;
        return r === 'd' ? s >= 1 : typeof r === 'number' ? s === r : s === sizes[r];
      });
    if (!fits) return `array ${name} has shape ${a.shape.join('x')}, not one row per point of the ${h.count}`;
    if (a.dtype !== want.dtype) return field(`arrays.${name}.dtype`, `must be ${want.dtype}`);
  }
  return null;
}
