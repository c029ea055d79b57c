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
