/**
 * A run's map file pair (vis_outputs/map_<method>.json/.bin, format ae-map-1) read by the page. The arrays the
 * first picture needs (coordinates, labels, errors) come first, by HTTP range; the rest (neighbours, thumbnails)
 * follows while the map is already drawn and usable, and the codes only when images are dropped on the map.
 */
import { BYTES_PER_ELEMENT, type Dtype, type MapArray, type MapHeader, mapHeaderProblem } from '../src/evaluate/map-format.js';

export type { MapHeader };

/** A map file pair, parsed: the header and typed views of its arrays. */
export interface MapData {
  header: MapHeader;
  /** Where the files are (the run's URL and the header's file name). */
  source: { base: string; jsonFile: string };
  coords: Float32Array;
  labels: Uint8Array;
  errors: Float32Array;
  /** Empty until `loadRest` has run. */
  neighbours: Int32Array;
  images: Uint8Array | null;
  recons: Uint8Array | null;
  classes: string[];
  /** `ae score`'s results for the map's split, by point (when scores_<split>/scores.csv exists). */
  scores: Scores | null;
  /** The neighbours and thumbnails on their way (loadRest puts them in place). */
  rest: Promise<Array<Record<string, Typed>>>;
}

export interface Scores {
  score: Float32Array;
  flagged: Uint8Array;
  threshold: number | null;
  percentile: number | null;
}

const TYPED = { float32: Float32Array, uint8: Uint8Array, int32: Int32Array } as const;
type Typed = Float32Array | Uint8Array | Int32Array;

/**
 * A map the page cannot show, and why, naming its file: the page shows the message in place of the map. Anything
 * else thrown while reading a map is a bug (the fuzzer's viewer-map target holds the reader to this).
 */
export class MapReadError extends Error {
  constructor(file: string, why: string) {
    super(`${file} is not a readable latent map: ${why}`);
    this.name = 'MapReadError';
  }
}

/** The bytes [from, to) of `url`: a range request, or the whole file sliced where the server ignores ranges. */
async function fetchRange(url: string, file: string, from: number, to: number): Promise<ArrayBuffer> {
  if (to <= from) return new ArrayBuffer(0);
  const r = await fetch(url, { headers: { Range: `bytes=${from}-${to - 1}` } });
  if (r.status === 416) throw new MapReadError(file, `its arrays lie past the end of the .bin file (bytes ${from}-${to - 1})`);
  if (!r.ok) throw new MapReadError(file, `HTTP ${r.status}`);
  const bytes = await r.arrayBuffer();
  const part = r.status === 206 ? bytes : bytes.slice(from, to);
  // The header is checked before any array is fetched, but not against the .bin's size: a short answer means the
  // .bin is shorter than the header says (damaged, or rewritten since).
  if (part.byteLength !== to - from) throw new MapReadError(file, `the .bin file ends before its arrays do (got ${part.byteLength} of ${to - from} bytes)`);
  return part;
}

const byteLength = (a: MapArray) => a.shape.reduce((x, y) => x * y, 1) * BYTES_PER_ELEMENT[a.dtype];

/** Fetches the named arrays (those present) in one range covering them all; views keyed by name. */
export async function fetchArrays(base: string, jsonFile: string, header: MapHeader, names: string[]): Promise<Record<string, Typed>> {
  const present = names.filter((n) => header.arrays[n]);
  if (present.length === 0) return {};
  const from = Math.min(...present.map((n) => header.arrays[n]!.offset));
  const to = Math.max(...present.map((n) => header.arrays[n]!.offset + byteLength(header.arrays[n]!)));
  const buffer = await fetchRange(`${base}/${jsonFile.replace(/\.json$/, '.bin')}`, jsonFile, from, to);
  const out: Record<string, Typed> = {};
  for (const n of present) {
    const a = header.arrays[n]!;
    const make = TYPED[a.dtype as Dtype];
    out[n] = new make(buffer, a.offset - from, byteLength(a) / make.BYTES_PER_ELEMENT);
  }
  return out;
}

/** The header and the arrays the first picture needs; a map that cannot be trusted is a MapReadError. */
export async function loadMapData(base: string, jsonFile: string): Promise<MapData> {
  const r = await fetch(`${base}/${jsonFile}`);
  if (!r.ok) throw new MapReadError(jsonFile, `HTTP ${r.status}`);
  let raw: unknown;
  try {
    raw = JSON.parse(await r.text());
  } catch (e) {
    throw new MapReadError(jsonFile, (e as Error).message);
  }
  const problem = mapHeaderProblem(raw);
  if (problem !== null) throw new MapReadError(jsonFile, problem);
  const header = raw as MapHeader;
  // The rest is requested at once too (it arrives while the first picture is drawn); loadRest waits for it.
  const rest = Promise.all([
    fetchArrays(base, jsonFile, header, ['neighbours']),
    fetchArrays(base, jsonFile, header, ['images', 'reconstructions']),
  ]);
  rest.catch(() => {}); // reported by loadRest
  const a = await fetchArrays(base, jsonFile, header, ['coords', 'labels', 'errors']);
  const n = header.count;
  const classes = header.classes ?? ['(unlabelled)'];
  const labels = a.labels as Uint8Array | undefined;
  if (labels && header.classes && labels.some((l) => l >= classes.length))
    throw new MapReadError(jsonFile, `a label is not one of its ${classes.length} classes`);
  return {
    header,
    source: { base, jsonFile },
    coords: a.coords as Float32Array,
    labels: labels ?? new Uint8Array(n),
    errors: (a.errors as Float32Array | undefined) ?? new Float32Array(n),
    neighbours: new Int32Array(0),
    images: null,
    recons: null,
    classes,
    scores: null,
    rest,
  };
}

/** Neighbours and thumbnails, into `data`. */
export async function loadRest(data: MapData): Promise<void> {
  const [nb, thumbs] = (await data.rest) as [Record<string, Typed>, Record<string, Typed>];
  const neighbours = (nb.neighbours as Int32Array | undefined) ?? new Int32Array(0);
  const n = data.header.count;
  if (neighbours.some((j) => j < 0 || j >= n)) throw new MapReadError(data.source.jsonFile, `a neighbour is not one of its ${n} points`);
  data.neighbours = neighbours;
  data.images = (thumbs.images as Uint8Array | undefined) ?? null;
  data.recons = (thumbs.reconstructions as Uint8Array | undefined) ?? null;
}

/**
 * Reads `ae score`'s scores.csv (index,label,class,path,score,flagged; quoted fields allowed) into per-point arrays,
 * and the threshold from summary.json beside it when there is one (`summaryUrl`).
 */
export async function loadScores(url: string, n: number, summaryUrl: string | null = null): Promise<Scores | null> {
  const r = await fetch(url);
  if (!r.ok) return null;
  const lines = (await r.text()).trim().split('\n');
  const score = new Float32Array(n).fill(Number.NaN);
  const flagged = new Uint8Array(n);
  for (const line of lines.slice(1)) {
    const fields = line.match(/("([^"]|"")*"|[^,]*)(,|$)/g)!.map((f) => f.replace(/,$/, ''));
    const index = Number(fields[0]);
    if (Number.isInteger(index) && index >= 0 && index < n) {
      score[index] = Number(fields[4]);
      flagged[index] = fields[5] === 'true' || fields[5] === '1' ? 1 : 0;
    }
  }
  let threshold: number | null = null;
  let percentile: number | null = null;
  if (summaryUrl) {
    const s = await fetch(summaryUrl);
    const summary = s.ok ? ((await s.json()) as { threshold?: unknown; percentile?: unknown }) : {};
    if (typeof summary.threshold === 'number') threshold = summary.threshold;
    if (typeof summary.percentile === 'number') percentile = summary.percentile;
  }
  return { score, flagged, threshold, percentile };
}
