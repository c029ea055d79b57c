/**
 * Barnes-Hut repulsion for 2-D t-SNE: a quadtree over the embedding (flat typed arrays, rebuilt each iteration),
 * and for every point the sum over all others of q = 1/(1+d^2) and q^2 (y_i - y_j), with cells far enough away
 * (cell width / distance < theta) taken as one body at their centre of mass.
 */
import { bounds2d } from '../util/bounds.js';

const MAX_DEPTH = 40; // coincident points stop subdividing here and share a leaf

export class QuadTree {
  private cap = 0;
  size = 0;
  private cx!: Float64Array;
  private cy!: Float64Array;
  private hw!: Float64Array;
  private comX!: Float64Array;
  private comY!: Float64Array;
  private count!: Int32Array;
  private child!: Int32Array; // index of the first of 4 children, or -1 for a leaf
  private point!: Int32Array; // the single point in a leaf, or -1

  constructor(initialNodes = 1024) {
    this.grow(initialNodes);
  }

  private grow(cap: number): void {
    const copy = <T extends Float64Array | Int32Array>(old: T | undefined, make: (n: number) => T): T => {
      const next = make(cap);
      if (old) next.set(old.subarray(0, this.size) as never);
      return next;
    };
    this.cx = copy(this.cx, (n) => new Float64Array(n));
    this.cy = copy(this.cy, (n) => new Float64Array(n));
    this.hw = copy(this.hw, (n) => new Float64Array(n));
    this.comX = copy(this.comX, (n) => new Float64Array(n));
    this.comY = copy(this.comY, (n) => new Float64Array(n));
    this.count = copy(this.count, (n) => new Int32Array(n));
    this.child = copy(this.child, (n) => new Int32Array(n));
    this.point = copy(this.point, (n) => new Int32Array(n));
    this.cap = cap;
  }

  private newNode(cx: number, cy: number, hw: number): number {
    if (this.size === this.cap) this.grow(this.cap * 2);
    const n = this.size++;
    this.cx[n] = cx;
    this.cy[n] = cy;
    this.hw[n] = hw;
    this.comX[n] = 0;
    this.comY[n] = 0;
    this.count[n] = 0;
    this.child[n] = -1;
    this.point[n] = -1;
    return n;
  }

  private subdivide(node: number): void {
    const h = this.hw[node]! / 2,
      x = this.cx[node]!,
      y = this.cy[node]!;
    const first = this.newNode(x - h, y - h, h);
    this.newNode(x + h, y - h, h);
    this.newNode(x - h, y + h, h);
    this.newNode(x + h, y + h, h);
    this.child[node] = first;
  }

  private quadrant(node: number, x: number, y: number): number {
    return this.child[node]! + (x > this.cx[node]! ? 1 : 0) + (y > this.cy[node]! ? 2 : 0);
  }

  /** Rebuilds the tree over points y (n x 2, interleaved). */
  build(y: Float64Array, n: number): void {
    const { minX, maxX, minY, maxY } = bounds2d(y, n);
    this.size = 0;
    this.prepared = null;
    const hw = (Math.max(maxX - minX, maxY - minY) / 2) * (1 + 1e-5) + 1e-12;
    this.newNode((minX + maxX) / 2, (minY + maxY) / 2, hw);
    for (let i = 0; i < n; i++) this.insert(i, y[2 * i]!, y[2 * i + 1]!);
  }

  private insert(i: number, x: number, y: number): void {
    let node = 0;
    for (let depth = 0; ; depth++) {
      this.count[node]!++;
      this.comX[node]! += x;
      this.comY[node]! += y;
      if (this.child[node] !== -1) {
        node = this.quadrant(node, x, y);
        continue;
      }
      if (this.count[node] === 1) {
        this.point[node] = i;
        return;
      }
      if (depth >= MAX_DEPTH) {
        this.point[node] = -1;
        return;
      } // coincident points share this leaf
      // Split the leaf: its earlier point moves one level down with its mass; the new one continues from there.
      const oldCount = this.count[node]! - 1;
      const ox = (this.comX[node]! - x) / oldCount,
        oy = (this.comY[node]! - y) / oldCount;
      const old = this.point[node]!;
      this.point[node] = -1;
      this.subdivide(node);
      const q = this.quadrant(node, ox, oy);
      this.count[q] = oldCount;
      this.comX[q] = ox * oldCount;
      this.comY[q] = oy * oldCount;
      this.point[q] = oldCount === 1 ? old : -1;
      node = this.quadrant(node, x, y);
    }
  }

  /** Per-node centre of mass and squared (width / theta), for a traversal at this opening angle. */
  private prepare(theta: number): { mx: Float64Array; my: Float64Array; w2: Float64Array } {
    const size = this.size;
    const mx = new Float64Array(size),
      my = new Float64Array(size),
      w2 = new Float64Array(size);
    const theta2 = theta * theta;
    for (let k = 0; k < size; k++) {
      const c = this.count[k]!;
      if (c > 0) {
        mx[k] = this.comX[k]! / c;
        my[k] = this.comY[k]! / c;
      }
      const w = 2 * this.hw[k]!;
      w2[k] = (w * w) / theta2;
    }
    return { mx, my, w2 };
  }

  /**
   * Sums over the tree's points j other than `self` (-1: none) at (x, y): writes sum_j q^2 (x - y_j) into
   * out[0..1] and returns sum_j q, with q = 1 / (1 + |x - y_j|^2); cells with width / distance < theta count as one
   * body. Coincident points exert no force and add q = 1 each (less one for `self` among them).
   */
  private traverse(
    x: number,
    y: number,
    self: number,
    nodes: { mx: Float64Array; my: Float64Array; w2: Float64Array },
    stack: Int32Array,
    out: Float64Array,
  ): number {
    const { mx, my, w2 } = nodes;
    const count = this.count,
      child = this.child,
      point = this.point;
    let z = 0,
      fx = 0,
      fy = 0,
      sp = 0;
    stack[sp++] = 0;
    while (sp > 0) {
      const node = stack[--sp]!;
      const cnt = count[node]!;
      if (cnt === 0) continue;
      const first = child[node]!;
      if (first === -1 && self >= 0 && point[node] === self) continue;
      const dx = x - mx[node]!,
        dy = y - my[node]!;
      const d2 = dx * dx + dy * dy;
      if (first === -1 || w2[node]! < d2) {
        // A far cell, or a leaf; a leaf at distance 0 of a tree point holds it among coincident points.
        const m = d2 === 0 && self >= 0 ? cnt - 1 : cnt;
        const q = 1 / (1 + d2);
        const mq = m * q;
        z += mq;
        const mq2 = mq * q;
        fx += mq2 * dx;
        fy += mq2 * dy;
      } else {
        stack[sp++] = first;
        stack[sp++] = first + 1;
        stack[sp++] = first + 2;
        stack[sp++] = first + 3;
      }
    }
    out[0] = fx;
    out[1] = fy;
    return z;
  }

  /**
   * Repulsion on every point: writes sum_j q^2 (y_i - y_j) into force[2i..2i+1] and returns Z = sum_i sum_j q,
   * with q = 1 / (1 + |y_i - y_j|^2) over all pairs j != i. Cells with width / distance < theta count as one body.
   */
  repulsionAll(y: Float64Array, n: number, theta: number, force: Float64Array): number {
    const nodes = this.prepare(theta);
    const stack = new Int32Array(4 * MAX_DEPTH + 16);
    const out = new Float64Array(2);
    let zTotal = 0;
    for (let i = 0; i < n; i++) {
      zTotal += this.traverse(y[2 * i]!, y[2 * i + 1]!, i, nodes, stack, out);
      force[2 * i] = out[0]!;
      force[2 * i + 1] = out[1]!;
    }
    return zTotal;
  }

  /**
   * Repulsion of the tree's points on m other points (queries, m x 2): force[2i..2i+1] = sum_j q^2 (x_i - y_j)
   * and z[i] = sum_j q over all the tree's points j. The tree is not changed, so it serves many calls.
   */
  repulsionOn(queries: Float64Array, m: number, theta: number, force: Float64Array, z: Float64Array): void {
    if (this.prepared?.theta !== theta) this.prepared = { theta, nodes: this.prepare(theta) };
    const nodes = this.prepared.nodes;
    const stack = new Int32Array(4 * MAX_DEPTH + 16);
    const out = new Float64Array(2);
    for (let i = 0; i < m; i++) {
      z[i] = this.traverse(queries[2 * i]!, queries[2 * i + 1]!, -1, nodes, stack, out);
      force[2 * i] = out[0]!;
      force[2 * i + 1] = out[1]!;
    }
  }
  private prepared: { theta: number; nodes: { mx: Float64Array; my: Float64Array; w2: Float64Array } } | null = null;
}
