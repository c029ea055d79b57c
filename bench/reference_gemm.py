"""OpenBLAS's float32 GEMM through numpy, the machine's measured ceiling for bench/kernels.ts. Optional (Debian's
python3-numpy); never a dependency. Usage: reference_gemm.py M,K,N [M,K,N ...]. Threads: OPENBLAS_NUM_THREADS.
Prints one JSON line per shape: the best GFLOP/s of several timed products, and the largest difference from a
float64 product (so a fast wrong kernel cannot pass)."""
import json, sys, time
import numpy as np

rng = np.random.default_rng(0)
np.ones((4, 4), dtype=np.float32) @ np.ones((4, 4), dtype=np.float32)  # loads the BLAS library
# Which BLAS numpy runs (Debian's numpy links libblas.so.3: the reference BLAS unless libopenblas0 is installed).
blas = sorted({line.split('/')[-1].strip() for line in open('/proc/self/maps') if 'blas' in line.lower()})
print(json.dumps({'blas': blas}))
for spec in sys.argv[1:]:
    m, k, n = (int(v) for v in spec.split(','))
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    c = a @ b
    err = float(np.max(np.abs(c.astype(np.float64) - a.astype(np.float64) @ b.astype(np.float64))))
    flops = 2.0 * m * k * n
    reps = max(3, int(2e9 / flops))
    best = float('inf')
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(reps):
            np.matmul(a, b, out=c)
        best = min(best, (time.perf_counter() - t) / reps)
    print(json.dumps({'shape': [m, k, n], 'gflops': flops / best / 1e9, 'max_abs_error_vs_float64': err}))
