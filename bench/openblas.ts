/**
 * The machine's measured GEMM limit for the benchmarks: OpenBLAS's sgemm through Debian's numpy
 * (bench/reference_gemm.py) on the given shapes and threads, with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset for
 * that command only (the machine sets them to hold OpenBLAS to AVX2). Null when numpy is missing.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface GemmReference {
  /** The BLAS libraries numpy loaded, and whether one of them is OpenBLAS (else the figures are not the limit). */
  blas: string[];
  openblas: boolean;
  /** By "MxKxN": best GFLOP/s and the largest difference from a float64 product. */
  shapes: Map<string, { gflops: number; error: number }>;
}

/**
 * The environment for a Python process on OpenBLAS with `threads` threads: "own" unsets OPENBLAS_CORETYPE and
 * OPENBLAS_L2_SIZE (OpenBLAS picks its kernels for this CPU, its best); "held" keeps the machine's values, with
 * OPENBLAS_CORETYPE=Haswell (the AVX2 kernels) where the machine does not set it.
 */
export function openblasEnv(kernels: 'own' | 'held', threads: number): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, OPENBLAS_NUM_THREADS: String(threads) };
  if (kernels === 'own') {
    delete env.OPENBLAS_CORETYPE;
    delete env.OPENBLAS_L2_SIZE;
  } else env.OPENBLAS_CORETYPE ??= 'Haswell';
  return env;
}

export function openblasSgemm(shapes: Array<[number, number, number]>, threads: number, python = '/usr/bin/python3'): GemmReference | null {
  const env = openblasEnv('own', threads);
  const script = path.join(path.dirname(fileURLToPath(import.meta.url)), 'reference_gemm.py');
  const r = spawnSync(python, [script, ...shapes.map((s) => s.join(','))], { env, encoding: 'utf8' });
  if (r.status !== 0) return null;
  const out: GemmReference = { blas: [], openblas: false, shapes: new Map() };
  for (const line of r.stdout.trim().split('\n')) {
    const row = JSON.parse(line) as { shape?: number[]; gflops?: number; max_abs_error_vs_float64?: number; blas?: string[] };
    if (row.blas) {
      out.blas = row.blas;
      out.openblas = row.blas.some((b) => b.includes('openblas'));
    } else out.shapes.set(row.shape!.join('x'), { gflops: row.gflops!, error: row.max_abs_error_vs_float64! });
  }
  return out;
}
