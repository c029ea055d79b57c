// Single-precision matrix product for the training kernels: C (+)= op(A) op(B), row-major, op = identity or
// transpose, in the classic blocked form (Goto/BLIS): B packed into kc x nr column panels, A into kc x mr row
// panels, an mr x nr register-blocked micro-kernel that writes its tile straight into C. Two micro-kernels:
// 6 x 16 for AVX2 + FMA and the baseline (12 accumulators of 8 floats), 12 x 32 for AVX-512 (24 accumulators of
// 16 floats: half the machine's FMA width was idle on CPUs with 512-bit units).
//
// Threads split the column panels (or, for narrow C, the row panels) once per call, and each thread packs what
// it needs into buffers of its own that live as long as the thread: no synchronisation inside a call, no
// allocation after warm-up. This matters for the autoencoder's matrices (e.g. 128 x 784 x 256), where a call
// takes well under a millisecond. The micro-kernel is compiled for AVX2 + FMA and for the baseline, and picked
// at run time (simd.hpp).
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>
#include "parallel.hpp"
#include "simd.hpp"
#if SIMD_HAS_AVX2_PATH
#include <immintrin.h>
#endif

namespace gemm {


struct Matrix {
  const float* data;
  int ld;     // row stride of the stored matrix
  bool trans; // use the transpose of the stored matrix
  float at(int r, int c) const { return trans ? data[static_cast<size_t>(c) * ld + r] : data[static_cast<size_t>(r) * ld + c]; }
};

// Packs op(B)[k0:k0+kc, n0:n0+kNr] into kc x kNr, zero-padded past n.
template <int kNr>
inline void PackB(const Matrix& b, int k0, int kc, int n0, int n, float* out) {
  const int cols = std::min(kNr, n - n0);
  if (!b.trans) {
    for (int k = 0; k < kc; k++) {
      float* row = out + static_cast<size_t>(k) * kNr;
      const float* src = b.data + static_cast<size_t>(k0 + k) * b.ld + n0;
      if (cols == kNr) { std::memcpy(row, src, sizeof(float) * kNr); continue; }
      for (int c = 0; c < cols; c++) row[c] = src[c];
      for (int c = cols; c < kNr; c++) row[c] = 0;
    }
    return;
  }
  // Transposed: each of the panel's columns is a contiguous run of the stored matrix.
  for (int c = 0; c < cols; c++) {
    const float* src = b.data + static_cast<size_t>(n0 + c) * b.ld + k0;
    for (int k = 0; k < kc; k++) out[static_cast<size_t>(k) * kNr + c] = src[k];
  }
  for (int c = cols; c < kNr; c++)
    for (int k = 0; k < kc; k++) out[static_cast<size_t>(k) * kNr + c] = 0;
}

// Packs op(A)[m0:m0+kMr, k0:k0+kc] into kc x kMr (k-major, so the micro-kernel broadcasts kMr consecutive values).
template <int kMr>
inline void PackA(const Matrix& a, int m0, int m, int k0, int kc, float* out) {
  const int rows = std::min(kMr, m - m0);
  if (a.trans) {
    for (int k = 0; k < kc; k++) {
      float* col = out + static_cast<size_t>(k) * kMr;
      const float* src = a.data + static_cast<size_t>(k0 + k) * a.ld + m0;
      for (int r = 0; r < rows; r++) col[r] = src[r];
      for (int r = rows; r < kMr; r++) col[r] = 0;
    }
    return;
  }
  for (int r = 0; r < rows; r++) {
    const float* src = a.data + static_cast<size_t>(m0 + r) * a.ld + k0;
    for (int k = 0; k < kc; k++) out[static_cast<size_t>(k) * kMr + r] = src[k];
  }
  for (int r = rows; r < kMr; r++)
    for (int k = 0; k < kc; k++) out[static_cast<size_t>(k) * kMr + r] = 0;
}

// c (6 x 16 tile, row stride ldc) = or += packed A panel (kc x 6) times packed B panel (kc x 16).
constexpr int kMr = 6, kNr = 16;
inline void MicroBaseline(const float* ap, const float* bp, int kc, float* c, int ldc, bool accumulate) {
  simd::V8 acc[kMr][2] = {};
  for (int k = 0; k < kc; k++) {
    simd::V8 b0, b1;
    std::memcpy(&b0, bp + static_cast<size_t>(k) * kNr, sizeof(b0));
    std::memcpy(&b1, bp + static_cast<size_t>(k) * kNr + 8, sizeof(b1));
    const float* av = ap + static_cast<size_t>(k) * kMr;
    for (int r = 0; r < kMr; r++) {
      acc[r][0] += av[r] * b0;
      acc[r][1] += av[r] * b1;
    }
  }
  for (int r = 0; r < kMr; r++) {
    float* row = c + static_cast<size_t>(r) * ldc;
    if (accumulate) {
      simd::V8 c0, c1;
      std::memcpy(&c0, row, sizeof(c0));
      std::memcpy(&c1, row + 8, sizeof(c1));
      acc[r][0] += c0;
      acc[r][1] += c1;
    }
    std::memcpy(row, &acc[r][0], sizeof(acc[r][0]));
    std::memcpy(row + 8, &acc[r][1], sizeof(acc[r][1]));
  }
}

#if SIMD_HAS_AVX2_PATH
// The same with intrinsics: GCC's vector-extension code for this loop runs ~10% slower here (Zen 3).
SIMD_AVX2 inline void MicroAvx2(const float* ap, const float* bp, int kc, float* c, int ldc, bool accumulate) {
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
  __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  for (int k = 0; k < kc; k++, ap += kMr, bp += kNr) {
    const __m256 b0 = _mm256_loadu_ps(bp), b1 = _mm256_loadu_ps(bp + 8);
    __m256 a = _mm256_broadcast_ss(ap);
    c00 = _mm256_fmadd_ps(a, b0, c00); c01 = _mm256_fmadd_ps(a, b1, c01);
    a = _mm256_broadcast_ss(ap + 1);
    c10 = _mm256_fmadd_ps(a, b0, c10); c11 = _mm256_fmadd_ps(a, b1, c11);
    a = _mm256_broadcast_ss(ap + 2);
    c20 = _mm256_fmadd_ps(a, b0, c20); c21 = _mm256_fmadd_ps(a, b1, c21);
    a = _mm256_broadcast_ss(ap + 3);
    c30 = _mm256_fmadd_ps(a, b0, c30); c31 = _mm256_fmadd_ps(a, b1, c31);
    a = _mm256_broadcast_ss(ap + 4);
    c40 = _mm256_fmadd_ps(a, b0, c40); c41 = _mm256_fmadd_ps(a, b1, c41);
    a = _mm256_broadcast_ss(ap + 5);
    c50 = _mm256_fmadd_ps(a, b0, c50); c51 = _mm256_fmadd_ps(a, b1, c51);
  }
  const __m256 rows[kMr][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
  for (int r = 0; r < kMr; r++, c += ldc) {
    __m256 lo = rows[r][0], hi = rows[r][1];
    if (accumulate) { lo = _mm256_add_ps(lo, _mm256_loadu_ps(c)); hi = _mm256_add_ps(hi, _mm256_loadu_ps(c + 8)); }
    _mm256_storeu_ps(c, lo);
    _mm256_storeu_ps(c + 8, hi);
  }
}
#endif

#if SIMD_HAS_AVX512_PATH
// 12 x 32 with AVX-512: per k, two 16-float loads of B, twelve broadcasts of A, 24 FMAs into 24 accumulators
// (of the 32 zmm registers), enough independent chains to keep two 512-bit FMA pipes busy.
constexpr int kMr512 = 12, kNr512 = 32;
SIMD_AVX512 inline void MicroAvx512(const float* ap, const float* bp, int kc, float* c, int ldc, bool accumulate) {
  __m512 acc[kMr512][2];
#pragma GCC unroll 12
  for (int r = 0; r < kMr512; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  for (int k = 0; k < kc; k++, ap += kMr512, bp += kNr512) {
    const __m512 b0 = _mm512_loadu_ps(bp), b1 = _mm512_loadu_ps(bp + 16);
#pragma GCC unroll 12
    for (int r = 0; r < kMr512; r++) {
      const __m512 a = _mm512_set1_ps(ap[r]);
      acc[r][0] = _mm512_fmadd_ps(a, b0, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(a, b1, acc[r][1]);
    }
  }
#pragma GCC unroll 12
  for (int r = 0; r < kMr512; r++) {
    float* row = c + static_cast<size_t>(r) * ldc;
    __m512 lo = acc[r][0], hi = acc[r][1];
    if (accumulate) { lo = _mm512_add_ps(lo, _mm512_loadu_ps(row)); hi = _mm512_add_ps(hi, _mm512_loadu_ps(row + 16)); }
    _mm512_storeu_ps(row, lo);
    _mm512_storeu_ps(row + 16, hi);
  }
}
#endif

using MicroFn = void (*)(const float*, const float*, int, float*, int, bool);
inline MicroFn PickMicro() {
#if SIMD_HAS_AVX2_PATH
  if (simd::HasAvx2()) return MicroAvx2;
#endif
  return MicroBaseline;
}

/** A buffer that lives as long as its thread and only grows (packing space for the calls that thread runs). */
inline float* ThreadScratch(int which, size_t floats) {
  thread_local std::vector<float> buffers[2];
  std::vector<float>& buf = buffers[which];
  if (buf.size() < floats) buf.resize(floats);
  return buf.data();
}

/** The blocked product with an MR x NR micro-kernel `micro` and k blocks of at most KC. */
template <int MR, int NR, int KC>
inline void SgemmWith(MicroFn micro, int m, int n, int k, const Matrix& a, const Matrix& b, float* c, int ldc, bool accumulate, int threads) {
  const int nPanels = (n + NR - 1) / NR, mBlocks = (m + MR - 1) / MR;
  const int kBlocks = (k + KC - 1) / KC, kcStep = (k + kBlocks - 1) / kBlocks;
  // Below ~1 MFLOP a second thread costs more than it saves.
  if (static_cast<int64_t>(m) * n * k < (1 << 19)) threads = 1;
  // Split the column panels between threads when there are enough of them, else the row blocks.
  const bool splitColumns = nPanels >= 2 * threads || nPanels >= mBlocks;
  const int units = splitColumns ? nPanels : mBlocks;
  parallel::For(units, threads, [&](int, int from, int to) {
    const int p0 = splitColumns ? from : 0, p1 = splitColumns ? to : nPanels;
    const int b0 = splitColumns ? 0 : from, b1 = splitColumns ? mBlocks : to;
    float* packedB = ThreadScratch(0, static_cast<size_t>(p1 - p0) * kcStep * NR);
    float* packedA = ThreadScratch(1, static_cast<size_t>(kcStep) * MR);
    alignas(64) float tile[MR * NR];
    for (int k0 = 0; k0 < k; k0 += kcStep) {
      const int kc = std::min(kcStep, k - k0);
      const bool acc = accumulate || k0 > 0;
      for (int p = p0; p < p1; p++) PackB<NR>(b, k0, kc, p * NR, n, packedB + static_cast<size_t>(p - p0) * kc * NR);
      for (int blk = b0; blk < b1; blk++) {
        const int m0 = blk * MR, rows = std::min(MR, m - m0);
        PackA<MR>(a, m0, m, k0, kc, packedA);
        for (int p = p0; p < p1; p++) {
          const int n0 = p * NR, cols = std::min(NR, n - n0);
          const float* bp = packedB + static_cast<size_t>(p - p0) * kc * NR;
          float* cTile = c + static_cast<size_t>(m0) * ldc + n0;
          if (rows == MR && cols == NR) { micro(packedA, bp, kc, cTile, ldc, acc); continue; }
          micro(packedA, bp, kc, tile, NR, false);  // an edge tile: compute whole, keep the part inside C
          for (int r = 0; r < rows; r++)
            for (int col = 0; col < cols; col++) {
              float& dst = cTile[static_cast<size_t>(r) * ldc + col];
              dst = acc ? dst + tile[r * NR + col] : tile[r * NR + col];
            }
        }
      }
    }
  }, 1);
}

/** C[m x n] (ldc) = op(A)[m x k] op(B)[k x n] (+ C when accumulate), on up to `threads` threads. */
inline void Sgemm(int m, int n, int k, const Matrix& a, const Matrix& b, float* c, int ldc, bool accumulate, int threads) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    if (!accumulate) for (int r = 0; r < m; r++) std::fill(c + static_cast<size_t>(r) * ldc, c + static_cast<size_t>(r) * ldc + n, 0.0f);
    return;
  }
#if SIMD_HAS_AVX512_PATH
  // k blocks of 256: a packed 256 x 32 panel of B (32 KB) stays in the 48 KB L1 while A's rows stream past it.
  if (simd::HasAvx512()) return SgemmWith<kMr512, kNr512, 256>(MicroAvx512, m, n, k, a, b, c, ldc, accumulate, threads);
#endif
  static const MicroFn micro = PickMicro();
  SgemmWith<kMr, kNr, 512>(micro, m, n, k, a, b, c, ldc, accumulate, threads);
}

// For each of `batch` matrices: c[t] (m x n) = op(a[t]) op(b[t]) (b[0] for every t when broadcastB).
inline void BatchedSgemm(const float* a, const float* b, float* c, int batch, int m, int n, int k, bool transA, bool transB,
                         bool broadcastB, int threads) {
  const size_t sa = static_cast<size_t>(m) * k, sb = static_cast<size_t>(k) * n, sc = static_cast<size_t>(m) * n;
  for (int t = 0; t < batch; t++) {
    const Matrix am{a + sa * t, transA ? m : k, transA};
    const Matrix bm{b + (broadcastB ? 0 : sb * t), transB ? k : n, transB};
    Sgemm(m, n, k, am, bm, c + sc * t, n, false, threads);
  }
}

}  // namespace gemm
