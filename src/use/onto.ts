/**
 * `encode` with `onto`: new images placed on a saved t-SNE map (map_<method>.json from `ae test`) with
 * transformPoints (openTSNE's method), the map's points held fixed. Writes <codes>_on_<method>.csv (index, x, y,
 * the image's label and path, and the label most common among its nearest map points) and a picture of the
 * map with the new points drawn over it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../errors.js';
import { projectionFrom } from '../embed/incremental-pca.js';
import { transformPoints } from '../embed/transform.js';
import { type MapData, readMapData } from '../evaluate/map-data.js';
import { drawPlacedPoints } from '../render/placed-map.js';
import { writeFileAtomic } from '../util/fs.js';
import type { InputRow } from './inputs.js';

/** A saved map opened for placing points: its file, contents and the files placing will write. */
export interface OpenedMap {
  file: string;
  map: MapData;
  /** The map's codes, and how new codes get into their space (checked against the model's code size). */
  space: MapSpace;
  outputs: { csv: string; png: string };
}

interface MapSpace {
  codes: Float32Array;
  project: (codes: Float32Array, m: number) => Float32Array;
}

/** The map file `onto` names: a map_<method>.json, or a run folder (its vis_outputs/map_tsne.json). */
function resolveMapFile(runDir: string, onto: string | true): string {
  const given = onto === true ? runDir : onto;
  const file = given.endsWith('.json') ? given : path.join(given, 'vis_outputs', 'map_tsne.json');
  if (!fs.existsSync(file)) {
    throw new UserError(
      `no latent map at ${file}`,
      onto === true || !given.endsWith('.json')
        ? `run \`ae test ${given}\` first (it writes vis_outputs/map_tsne.json), or pass \`onto\` a map_<method>.json`
        : 'pass `onto` a map_<method>.json written by `ae test`, or a run folder',
    );
  }
  return file;
}

export interface PlacedPoints {
  files: string[];
  /** m x 2 positions on the map. */
  coords: Float32Array;
  method: string;
}

/**
 * Opens the map `onto` names and checks, before any encoding, that new codes of codeDim numbers can be placed
 * on it; the outputs are named after `outStem` (the codes file without its extension).
 */
export function openMapForPlacing(runDir: string, onto: string | true, codeDim: number, outStem: string): OpenedMap {
  const file = resolveMapFile(runDir, onto);
  const map = readMapData(file);
  const space = mapSpace(map, file, codeDim);
  const method = map.header.method;
  return { file, map, space, outputs: { csv: `${outStem}_on_${method}.csv`, png: `${outStem}_on_${method}.png` } };
}

/** The map's codes and how new codes get into their space (through the map's PCA, when it has one). */
function mapSpace(map: MapData, file: string, codeDim: number): MapSpace {
  const codes = map.arrays.codes;
  if (!(map.arrays.coords instanceof Float32Array)) {
    throw new UserError(
      `${file} has no float32 coords array: it is not a map to place points on`,
      'rerun `ae test` on the run to rewrite it',
    );
  }
  if (!(codes instanceof Float32Array)) {
    throw new UserError(
      `${file} has no codes to place new points among (it was written before maps kept them)`,
      'rerun `ae test` on the run to rewrite it',
    );
  }
  const mean = map.arrays.projection_mean,
    components = map.arrays.projection_components;
  const expected = mean instanceof Float32Array ? mean.length : codes.length / map.header.count;
  if (expected !== codeDim) {
    throw new UserError(
      `the map in ${file} was made from ${expected}-number codes, this model's have ${codeDim}`,
      'use a map of the same run',
    );
  }
  if (mean instanceof Float32Array && components instanceof Float32Array) {
    if (components.length !== mean.length * (codes.length / map.header.count)) {
      throw new UserError(
        `${file}: its projection (${components.length} numbers) does not map ${mean.length}-number codes to its own`,
        'rerun `ae test` on the run to rewrite it',
      );
    }
    const projection = projectionFrom(mean, components);
    return { codes, project: (c, m) => projection.transform(c, m) };
  }
  return { codes, project: (c) => c };
}

/** The most common label among each placed point's `k` nearest map points, as the class it landed in. */
function landedIn(map: MapData, neighbours: Int32Array, k: number, m: number): string[] {
  const labels = map.arrays.labels;
  const names = map.header.classes;
  return Array.from({ length: m }, (_, i) => {
    if (!(labels instanceof Uint8Array) || !names) return '';
    const votes = new Map<number, number>();
    for (let t = 0; t < k; t++) {
      const l = labels[neighbours[i * k + t]!]!;
      votes.set(l, (votes.get(l) ?? 0) + 1);
    }
    const best = [...votes.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0])[0]![0];
    return names[best] ?? String(best);
  });
}

const csvField = (v: string) => (/[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);

/** Places m new codes (m rows of the code size the map was opened for) on an opened map; writes its CSV and picture. */
export async function placeOnMap(opened: OpenedMap, codes: Float32Array, m: number, rows: InputRow[]): Promise<PlacedPoints> {
  const { map, space } = opened;
  const n = map.header.count,
    dim = space.codes.length / n;
  const mapCoords = map.arrays.coords as Float32Array;
  const placed = transformPoints({ data: space.codes, coords: mapCoords, n, dim }, space.project(codes, m), m);
  const k = placed.neighbours.k;
  const landed = landedIn(map, placed.neighbours.indices, k, m);
  const lines = ['index,x,y,label,landed_among,path'];
  rows.forEach((row, i) => {
    const label = row.className ?? (row.label === null ? '' : String(row.label));
    lines.push(
      [
        String(i),
        placed.coords[2 * i]!.toFixed(4),
        placed.coords[2 * i + 1]!.toFixed(4),
        csvField(label),
        csvField(landed[i]!),
        csvField(row.path ?? ''),
      ].join(','),
    );
  });
  const { csv, png } = opened.outputs;
  writeFileAtomic(csv, `${lines.join('\n')}\n`);
  await drawPlacedPoints(
    {
      map: mapCoords,
      mapLabels: map.arrays.labels instanceof Uint8Array ? map.arrays.labels : null,
      placed: placed.coords,
      title: `${m} new point${m === 1 ? '' : 's'} on ${map.header.description} of ${n} ${map.header.split} images`,
    },
    png,
  );
  return { files: [csv, png], coords: placed.coords, method: map.header.method };
}
