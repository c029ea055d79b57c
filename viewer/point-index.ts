/**
 * A uniform grid over the map's points in data space, built once (a counting sort, O(n)): the points of each cell
 * lie together in `order`, row by row, so the cells a view shows are one index range per grid row. The map uses it
 * to draw only what is on screen when zoomed in, to find the point under the pointer and the points inside a lasso,
 * all without scanning a million points per event.
 */
import { seededRandom } from './dom.js';

/** A rectangle in data coordinates. */
export interface DataRect {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

export class PointIndex {
  /** Cells per side. */
  readonly side: number;
  /** Point indices, cell by cell (row-major: cell = cy * side + cx); random order within a cell. */
  readonly order: Int32Array;
  /** order[start[c]] .. order[start[c + 1] - 1] are cell c's points. */
  readonly start: Int32Array;
  readonly bounds: DataRect;
  private readonly cellW: number;
  private readonly cellH: number;

  constructor(
    readonly coords: Float32Array,
    readonly n: number,
    shuffled: Int32Array,
  ) {
    // About 64 points per cell on average, between 16 and 256 cells a side.
    this.side = Math.max(16, Math.min(256, Math.round(Math.sqrt(n / 64))));
    let [x0, y0, x1, y1] = [Infinity, Infinity, -Infinity, -Infinity];
    for (let i = 0; i < n; i++) {
      const x = coords[2 * i]!;
      const y = coords[2 * i + 1]!;
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
    }
    if (!(x1 > x0)) [x0, x1] = [x0 - 1, x0 + 1];
    if (!(y1 > y0)) [y0, y1] = [y0 - 1, y0 + 1];
    if (n === 0) [x0, y0, x1, y1] = [-1, -1, 1, 1];
    this.bounds = { x0, y0, x1, y1 };
    this.cellW = (x1 - x0) / this.side;
    this.cellH = (y1 - y0) / this.side;
    const cells = this.side * this.side;
    const cellOf = new Int32Array(n);
    const count = new Int32Array(cells + 1);
    for (let i = 0; i < n; i++) {
      const c = this.cellAt(coords[2 * i]!, coords[2 * i + 1]!);
      cellOf[i] = c;
      count[c + 1]!++;
    }
    for (let c = 0; c < cells; c++) count[c + 1]! += count[c]!;
    this.start = count.slice();
    // Placed in the shuffled order, so each cell's points are a random sample of it in any prefix.
    const next = count;
    this.order = new Int32Array(n);
    for (const i of shuffled) this.order[next[cellOf[i]!]!++] = i;
  }

  private col(x: number): number {
    return Math.min(this.side - 1, Math.max(0, Math.floor((x - this.bounds.x0) / this.cellW)));
  }

  private row(y: number): number {
    return Math.min(this.side - 1, Math.max(0, Math.floor((y - this.bounds.y0) / this.cellH)));
  }

  cellAt(x: number, y: number): number {
    return this.row(y) * this.side + this.col(x);
  }

  /** Ranges [from, to) of `order` covering every point in `r` (and some just outside), one per grid row. */
  ranges(r: DataRect): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    if (r.x1 < this.bounds.x0 || r.x0 > this.bounds.x1 || r.y1 < this.bounds.y0 || r.y0 > this.bounds.y1) return out;
    const [c0, c1, r0, r1] = [this.col(r.x0), this.col(r.x1), this.row(r.y0), this.row(r.y1)];
    for (let row = r0; row <= r1; row++) {
      const from = this.start[row * this.side + c0]!;
      const to = this.start[row * this.side + c1 + 1]!;
      if (to > from) out.push([from, to]);
    }
    return out;
  }

  /** Points within `r` in `rect` (and possibly slightly outside it): the sum of `ranges`. */
  countIn(r: DataRect): number {
    return this.ranges(r).reduce((s, [a, b]) => s + b - a, 0);
  }

  /** The point nearest (x, y) within `radius` (data units) that `accept` takes, or -1. */
  nearest(x: number, y: number, radius: number, accept: (i: number) => boolean): number {
    let best = -1;
    let bestD = radius * radius;
    for (const [a, b] of this.ranges({ x0: x - radius, y0: y - radius, x1: x + radius, y1: y + radius })) {
      for (let k = a; k < b; k++) {
        const i = this.order[k]!;
        const d = (this.coords[2 * i]! - x) ** 2 + (this.coords[2 * i + 1]! - y) ** 2;
        if (d < bestD && accept(i)) {
          bestD = d;
          best = i;
        }
      }
    }
    return best;
  }

  /** Every point inside the polygon (data coordinates, closed implicitly) that `accept` takes, in index order. */
  inPolygon(polygon: Array<[number, number]>, accept: (i: number) => boolean): number[] {
    if (polygon.length < 3) return [];
    const xs = polygon.map((p) => p[0]);
    const ys = polygon.map((p) => p[1]);
    const rect = { x0: Math.min(...xs), y0: Math.min(...ys), x1: Math.max(...xs), y1: Math.max(...ys) };
    const out: number[] = [];
    for (const [a, b] of this.ranges(rect)) {
      for (let k = a; k < b; k++) {
        const i = this.order[k]!;
        const x = this.coords[2 * i]!;
        const y = this.coords[2 * i + 1]!;
        if (x < rect.x0 || x > rect.x1 || y < rect.y0 || y > rect.y1 || !accept(i)) continue;
        // Even-odd rule: count the polygon's edges crossed by a ray to the right of the point.
        let inside = false;
        for (let e = 0, f = polygon.length - 1; e < polygon.length; f = e++) {
          const [xe, ye] = polygon[e]!;
          const [xf, yf] = polygon[f]!;
          if (ye > y !== yf > y && x < ((xf - xe) * (y - ye)) / (yf - ye) + xe) inside = !inside;
        }
        if (inside) out.push(i);
      }
    }
    return out.sort((p, q) => p - q);
  }
}

/** A seeded permutation of 0..n-1 (Fisher-Yates): the same map always draws in the same order. */
export function shuffledIndices(n: number, seed = 1): Int32Array {
  const rand = seededRandom(seed);
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = p[i]!;
    p[i] = p[j]!;
    p[j] = t;
  }
  return p;
}
