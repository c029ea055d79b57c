/**
 * Floating-point operations done by the native matrix kernels (GEMM, the dense layer, the convolutions), counted as
 * each call is made: 2 per multiply-add of its product. The benchmark reads it around a training step to put the
 * step's GFLOP/s next to the machine's GEMM limit; the element-wise work around the products is not counted (it is
 * a few percent of the arithmetic, and bound by memory, not by the FMA units).
 */
let counted = 0;

export function addFlops(n: number): void {
  counted += n;
}

/** Runs fn and returns what it returned with the operations the native matrix kernels did meanwhile. */
export function countFlops<T>(fn: () => T): { result: T; flops: number } {
  const before = counted;
  const result = fn();
  return { result, flops: counted - before };
}
