/**
 * Eigen-decomposition of a symmetric matrix: Householder reduction to tridiagonal form, then the implicit QL
 * algorithm (EISPACK's tred2 and tql2, as JAMA writes them). O(m^3) with small constants: a 300 x 300 matrix takes
 * a few milliseconds, where cyclic Jacobi sweeps took a hundred times longer.
 */

export interface SymmetricEigen {
  /** Eigenvalues, largest first. */
  values: Float64Array;
  /** m x m, row-major; column c is the unit eigenvector of values[c]. */
  vectors: Float64Array;
}

/** Eigenvalues (descending) and eigenvectors (as columns) of the symmetric m x m matrix `input` (row-major). */
export function symmetricEigen(input: Float64Array, m: number): SymmetricEigen {
  const v = Float64Array.from(input.subarray(0, m * m));
  const d = new Float64Array(m);
  const e = new Float64Array(m);
  if (m === 0) return { values: d, vectors: v };
  tridiagonalize(v, d, e, m);
  // The QL sweeps rotate pairs of eigenvector columns: transposed, each rotation runs over contiguous memory.
  const w = transpose(v, m);
  diagonalizeTridiagonal(w, d, e, m);
  const order = Array.from({ length: m }, (_, i) => i).sort((x, y) => d[y]! - d[x]!);
  const values = Float64Array.from(order, (i) => d[i]!);
  const vectors = new Float64Array(m * m);
  order.forEach((src, dst) => {
    for (let k = 0; k < m; k++) vectors[k * m + dst] = w[src * m + k]!;
  });
  return { values, vectors };
}

function transpose(a: Float64Array, n: number): Float64Array {
  const t = new Float64Array(n * n);
  for (let r = 0; r < n; r++) for (let c = 0; c < n; c++) t[c * n + r] = a[r * n + c]!;
  return t;
}

/**
 * tred2: reduces the symmetric matrix in `v` to tridiagonal form by Householder reflections. On return `d` holds
 * the diagonal, `e` the sub-diagonal (e[0] = 0) and `v` the accumulated orthogonal transformation.
 */
function tridiagonalize(v: Float64Array, d: Float64Array, e: Float64Array, n: number): void {
  const at = (r: number, c: number) => r * n + c;
  for (let j = 0; j < n; j++) d[j] = v[at(n - 1, j)]!;
  for (let i = n - 1; i > 0; i--) {
    let scale = 0;
    let h = 0;
    for (let k = 0; k < i; k++) scale += Math.abs(d[k]!);
    if (scale === 0) {
      e[i] = d[i - 1]!;
      for (let j = 0; j < i; j++) {
        d[j] = v[at(i - 1, j)]!;
        v[at(i, j)] = 0;
        v[at(j, i)] = 0;
      }
    } else {
      // The Householder vector, scaled to avoid under- and overflow.
      for (let k = 0; k < i; k++) {
        d[k]! /= scale;
        h += d[k]! * d[k]!;
      }
      let f = d[i - 1]!;
      let g = Math.sqrt(h);
      if (f > 0) g = -g;
      e[i] = scale * g;
      h -= f * g;
      d[i - 1] = f - g;
      for (let j = 0; j < i; j++) e[j] = 0;
      // Applies the similarity transformation to the remaining columns.
      for (let j = 0; j < i; j++) {
        f = d[j]!;
        v[at(j, i)] = f;
        g = e[j]! + v[at(j, j)]! * f;
        for (let k = j + 1; k <= i - 1; k++) {
          g += v[at(k, j)]! * d[k]!;
          e[k]! += v[at(k, j)]! * f;
        }
        e[j] = g;
      }
      f = 0;
      for (let j = 0; j < i; j++) {
        e[j]! /= h;
        f += e[j]! * d[j]!;
      }
      const hh = f / (h + h);
      for (let j = 0; j < i; j++) e[j]! -= hh * d[j]!;
      for (let j = 0; j < i; j++) {
        f = d[j]!;
        g = e[j]!;
        for (let k = j; k <= i - 1; k++) v[at(k, j)]! -= f * e[k]! + g * d[k]!;
        d[j] = v[at(i - 1, j)]!;
        v[at(i, j)] = 0;
      }
    }
    d[i] = h;
  }
  // Accumulates the transformations.
  for (let i = 0; i < n - 1; i++) {
    v[at(n - 1, i)] = v[at(i, i)]!;
    v[at(i, i)] = 1;
    const h = d[i + 1]!;
    if (h !== 0) {
      for (let k = 0; k <= i; k++) d[k] = v[at(k, i + 1)]! / h;
      for (let j = 0; j <= i; j++) {
        let g = 0;
        for (let k = 0; k <= i; k++) g += v[at(k, i + 1)]! * v[at(k, j)]!;
        for (let k = 0; k <= i; k++) v[at(k, j)]! -= g * d[k]!;
      }
    }
    for (let k = 0; k <= i; k++) v[at(k, i + 1)] = 0;
  }
  for (let j = 0; j < n; j++) {
    d[j] = v[at(n - 1, j)]!;
    v[at(n - 1, j)] = 0;
  }
  v[at(n - 1, n - 1)] = 1;
  e[0] = 0;
}

/**
 * tql2: the eigenvalues (into `d`) of the tridiagonal matrix from tridiagonalize, and its eigenvectors as the rows
 * of `w` (the transposed transformation on entry).
 */
function diagonalizeTridiagonal(w: Float64Array, d: Float64Array, e: Float64Array, n: number): void {
  for (let i = 1; i < n; i++) e[i - 1] = e[i]!;
  e[n - 1] = 0;
  let f = 0;
  let tst1 = 0;
  const eps = 2 ** -52;
  for (let l = 0; l < n; l++) {
    // Finds a small sub-diagonal element: the matrix splits there.
    tst1 = Math.max(tst1, Math.abs(d[l]!) + Math.abs(e[l]!));
    let m = l;
    while (m < n - 1 && Math.abs(e[m]!) > eps * tst1) m++;
    if (m > l) {
      for (let iter = 0; ; iter++) {
        if (iter > 100) throw new Error('symmetricEigen: the QL iteration did not converge');
        // An implicit shift from the trailing 2 x 2 block.
        let g = d[l]!;
        let p = (d[l + 1]! - g) / (2 * e[l]!);
        let r = Math.hypot(p, 1);
        if (p < 0) r = -r;
        d[l] = e[l]! / (p + r);
        d[l + 1] = e[l]! * (p + r);
        const dl1 = d[l + 1]!;
        let h = g - d[l]!;
        for (let i = l + 2; i < n; i++) d[i]! -= h;
        f += h;
        // The QL sweep, rotating the eigenvector columns along.
        p = d[m]!;
        let c = 1;
        let c2 = c;
        let c3 = c;
        const el1 = e[l + 1]!;
        let s = 0;
        let s2 = 0;
        for (let i = m - 1; i >= l; i--) {
          c3 = c2;
          c2 = c;
          s2 = s;
          g = c * e[i]!;
          h = c * p;
          r = Math.hypot(p, e[i]!);
          e[i + 1] = s * r;
          s = e[i]! / r;
          c = p / r;
          p = c * d[i]! - s * g;
          d[i + 1] = h + s * (c * g + s * d[i]!);
          for (let k = 0, a = i * n, b = (i + 1) * n; k < n; k++) {
            const wk1 = w[b + k]!;
            const wk = w[a + k]!;
            w[b + k] = s * wk + c * wk1;
            w[a + k] = c * wk - s * wk1;
          }
        }
        p = (-s * s2 * c3 * el1 * e[l]!) / dl1;
        e[l] = s * p;
        d[l] = c * p;
        if (Math.abs(e[l]!) <= eps * tst1) break;
      }
    }
    d[l] = d[l]! + f;
    e[l] = 0;
  }
}
