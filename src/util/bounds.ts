/** The axis-aligned box around 2-D points kept as interleaved (x, y) pairs: the maps, their quadtree, their pictures. */
export interface Bounds2D {
  minX: number;
  maxX: number;
  minY: number;
  maxY: number;
}

/**
 * The box around the first `n` points of `points` (all of them by default), grown from `box` when one is given (so
 * several sets share one box). No points give an empty box: minimums Infinity, maximums -Infinity.
 */
export function bounds2d(points: ArrayLike<number>, n = points.length >> 1, box?: Bounds2D): Bounds2D {
  let minX = box?.minX ?? Infinity,
    maxX = box?.maxX ?? -Infinity,
    minY = box?.minY ?? Infinity,
    maxY = box?.maxY ?? -Infinity;
  for (let i = 0; i < n; i++) {
    const x = points[2 * i]!,
      y = points[2 * i + 1]!;
    if (x < minX) minX = x;
    if (x > maxX) maxX = x;
    if (y < minY) minY = y;
    if (y > maxY) maxY = y;
  }
  return { minX, maxX, minY, maxY };
}
