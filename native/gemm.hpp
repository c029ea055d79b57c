// Single-precision matrix product for the convolution kernels: C (+)= op(A) op(B), row-major, op = identity or
// transpose, in the classic blocked form (Goto/BLIS): B packed into kc x 16 column panels, A into kc x 6 row
// panels, a 6 x 16 register-blocked micro-kernel (12 accumulators), the rows split across threads. The
// micro-kernel is compiled for AVX2 + FMA and for the baseline, and picked at run time (simd.hpp).
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>
#include "parallel.hpp"
#include "simd.hpp"

namespace gemm {

constexpr int kMr = 6, kNr = 16, kKc = 256;

struct Matrix {
  const float* data;
  int ld;     // row stride of the stored matrix
  bool trans; // use the transpose of the stored matrix
  float at(int r, int c) const { return trans ? data[static_cast<size_t>(c) * ld + r] : data[static_cast<size_t>(r) * ld + c]; }
};

// Packs op(B)[k0:k0+kc, n0:n0+16] into kc x 16, zero-padded past n.
inline void PackB(const Matrix& b, int k0, int kc, int n0, int n, float* out) {
  const int cols = std::min(kNr, n - n0);
  for (int k = 0; k < kc; k++) {
    float* row = out + static_cast<size_t>(k) * kNr;
    if (!b.trans && cols == kNr) {
      std::memcpy(row, b.data + static_cast<size_t>(k0 + k) * b.ld + n0, sizeof(float) * kNr);
    } else {
      for (int c = 0; c < cols; c++) row[c] = b.at(k0 + k, n0 + c);
      for (int c = cols; c < kNr; c++) row[c] = 0;
    }
  }
}

// Packs op(A)[m0:m0+6, k0:k0+kc] into kc x 6 (k-major, so the micro-kernel broadcasts 6 consecutive values).
inline void PackA(const Matrix& a, int m0, int m, int k0, int kc, float* out) {
  const int rows = std::min(kMr, m - m0);
  for (int k = 0; k < kc; k++) {
    float* col = out + static_cast<size_t>(k) * kMr;
    for (int r = 0; r < rows; r++) col[r] = a.at(m0 + r, k0 + k);
    for (int r = rows; r < kMr; r++) col[r] = 0;
  }
}

#define GEMM_MICRO_KERNEL_BODY                                                     \
  simd::V8 acc[kMr][2] = {};                                                       \
  for (int k = 0; k < kc; k++) {                                                   \
    simd::V8 b0, b1;                                                               \
    std::memcpy(&b0, bp + static_cast<size_t>(k) * kNr, sizeof(b0));               \
    std::memcpy(&b1, bp + static_cast<size_t>(k) * kNr + 8, sizeof(b1));           \
    const float* av = ap + static_cast<size_t>(k) * kMr;                           \
    for (int r = 0; r < kMr; r++) {                                                \
      acc[r][0] += av[r] * b0;                                                     \
      acc[r][1] += av[r] * b1;                                                     \
    }                                                                              \
  }                                                                                \
  std::memcpy(tile, acc, sizeof(acc));

// tile (6 x 16, row-major) = packed A panel (kc x 6) times packed B panel (kc x 16).
inline void MicroBaseline(const float* ap, const float* bp, int kc, float* tile) { GEMM_MICRO_KERNEL_BODY }
#if SIMD_HAS_AVX2_PATH
SIMD_AVX2 inline void MicroAvx2(const float* ap, const float* bp, int kc, float* tile) { GEMM_MICRO_KERNEL_BODY }
#endif

using MicroFn = void (*)(const float*, const float*, int, float*);
inline MicroFn PickMicro() {
#if SIMD_HAS_AVX2_PATH
  if (simd::HasAvx2()) return MicroAvx2;
#endif
  return MicroBaseline;
}

/** C[m x n] (ldc) = op(A)[m x k] op(B)[k x n] (+ C when accumulate), on `threads` threads (rows split). */
inline void Sgemm(int m, int n, int k, const Matrix& a, const Matrix& b, float* c, int ldc, bool accumulate, int threads) {
  static const MicroFn micro = PickMicro();
  if (!accumulate) for (int r = 0; r < m; r++) std::fill(c + static_cast<size_t>(r) * ldc, c + static_cast<size_t>(r) * ldc + n, 0.0f);
  if (m == 0 || n == 0 || k == 0) return;
  const int nPanels = (n + kNr - 1) / kNr;
  std::vector<float> packedB(static_cast<size_t>(nPanels) * kKc * kNr);
  const int mBlocks = (m + kMr - 1) / kMr;
  threads = std::max(1, std::min(threads, mBlocks / 4));  // a thread gets at least 4 row blocks
  for (int k0 = 0; k0 < k; k0 += kKc) {
    const int kc = std::min(kKc, k - k0);
    parallel::For(nPanels, threads, [&](int, int from, int to) {
      for (int p = from; p < to; p++) PackB(b, k0, kc, p * kNr, n, packedB.data() + static_cast<size_t>(p) * kKc * kNr);
    }, 1);
    parallel::For(mBlocks, threads, [&](int, int from, int to) {
      std::vector<float> packedA(static_cast<size_t>(kKc) * kMr);
      float tile[kMr * kNr];
      for (int blk = from; blk < to; blk++) {
        const int m0 = blk * kMr, rows = std::min(kMr, m - m0);
        PackA(a, m0, m, k0, kc, packedA.data());
        for (int p = 0; p < nPanels; p++) {
          micro(packedA.data(), packedB.data() + static_cast<size_t>(p) * kKc * kNr, kc, tile);
          const int n0 = p * kNr, cols = std::min(kNr, n - n0);
          for (int r = 0; r < rows; r++) {
            float* crow = c + static_cast<size_t>(m0 + r) * ldc + n0;
            for (int col = 0; col < cols; col++) crow[col] += tile[r * kNr + col];
          }
        }
      }
    }, 4);
  }
}

}  // namespace gemm
