// t-SNE's sums over the sparse P (tsne.hpp): the attraction sum_j p_ij q_ij (y_i - y_j) of each row and the KL
// divergence's term sum p_ij log(1 + |y_i - y_j|^2), in AVX-512, AVX2 + FMA and baseline copies picked at run time.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <vector>
#include "memory.hpp"
#include "parallel.hpp"
#include "simd.hpp"
#if SIMD_HAS_AVX512_PATH
#include <immintrin.h>
#endif

namespace tsne {

using parallel::For;

// Attraction for rows [from, to): out_i = sum_j p_ij q_ij (y_i - y_j). Bound by the division in q, so each row's
// neighbours are gathered 8 at a time into vectors and q is computed in single precision, 8 divisions per
// instruction (the sums stay accurate to ~1e-7 relative: far below the gradient's other approximations).
#define ATTRACTION_ROWS_BODY                                                                \
  for (int i = from; i < to; i++) {                                                         \
    const double xi = y[2 * i], yi = y[2 * i + 1];                                          \
    simd::V8 ax = {}, ay = {};                                                              \
    int c = rowPtr[i];                                                                      \
    const int end = rowPtr[i + 1];                                                          \
    for (; c + 8 <= end; c += 8) {                                                          \
      simd::V8 dx, dy, p;                                                                   \
      for (int t = 0; t < 8; t++) {                                                         \
        const int j = cols[c + t];                                                          \
        dx[t] = static_cast<float>(xi - y[2 * j]);                                          \
        dy[t] = static_cast<float>(yi - y[2 * j + 1]);                                      \
        p[t] = static_cast<float>(vals[c + t]);                                             \
      }                                                                                     \
      const simd::V8 w = p / (1 + dx * dx + dy * dy);                                       \
      ax += w * dx;                                                                         \
      ay += w * dy;                                                                         \
    }                                                                                       \
    double sx = simd::Sum(ax), sy = simd::Sum(ay);                                          \
    for (; c < end; c++) {                                                                  \
      const int j = cols[c];                                                                \
      const double dx = xi - y[2 * j], dy = yi - y[2 * j + 1];                              \
      const double w = vals[c] / (1 + dx * dx + dy * dy);                                   \
      sx += w * dx; sy += w * dy;                                                           \
    }                                                                                       \
    out[2 * i] = sx; out[2 * i + 1] = sy;                                                   \
  }

template <typename Val>
void AttractionRows(const int32_t* rowPtr, const int32_t* cols, const Val* vals, const double* y, double* out, int from, int to) {
  ATTRACTION_ROWS_BODY
}
#if SIMD_HAS_AVX2_PATH
template <typename Val>
SIMD_AVX2 void AttractionRowsAvx2(const int32_t* rowPtr, const int32_t* cols, const Val* vals, const double* y, double* out, int from, int to) {
  ATTRACTION_ROWS_BODY
}
#endif

#if SIMD_HAS_AVX512_PATH
// The AVX-512 attraction: 16 neighbours per step, their (x, y) pairs fetched by two 64-bit gathers from a
// single-precision copy of the layout `yf` (half the bytes of the doubles, and one gather per 8 pairs instead
// of two), the tail under a mask. Positions rounded to floats move a force by ~1e-7 of the map's extent
// relative to the neighbour distance: far below the FFT repulsion's ~1e-2 error.
SIMD_AVX512 inline void AttractionRowsAvx512(const int32_t* rowPtr, const int32_t* cols, const float* vals, const float* yf, double* out,
                                             int from, int to) {
  const __m512i evens = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odds = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  const __m512 one = _mm512_set1_ps(1);
  const double* pairs = reinterpret_cast<const double*>(yf);  // pair j as one 64-bit lane
  for (int i = from; i < to; i++) {
    const __m512 xi = _mm512_set1_ps(yf[2 * i]), yi = _mm512_set1_ps(yf[2 * i + 1]);
    __m512 ax = _mm512_setzero_ps(), ay = _mm512_setzero_ps();
    int c = rowPtr[i];
    const int end = rowPtr[i + 1];
    for (; c + 16 <= end; c += 16) {
      const __m256i j0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(cols + c));
      const __m256i j1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(cols + c + 8));
      const __m512 g0 = _mm512_castpd_ps(_mm512_i32gather_pd(j0, pairs, 8));
      const __m512 g1 = _mm512_castpd_ps(_mm512_i32gather_pd(j1, pairs, 8));
      const __m512 dx = _mm512_sub_ps(xi, _mm512_permutex2var_ps(g0, evens, g1));
      const __m512 dy = _mm512_sub_ps(yi, _mm512_permutex2var_ps(g0, odds, g1));
      const __m512 w = _mm512_div_ps(_mm512_loadu_ps(vals + c), _mm512_fmadd_ps(dx, dx, _mm512_fmadd_ps(dy, dy, one)));
      ax = _mm512_fmadd_ps(w, dx, ax);
      ay = _mm512_fmadd_ps(w, dy, ay);
    }
    if (c < end) {
      const __mmask16 m = static_cast<__mmask16>((1u << (end - c)) - 1);
      const __m512i j = _mm512_maskz_loadu_epi32(m, cols + c);
      const __m512i j2 = _mm512_add_epi32(j, j);
      const __m512 dx = _mm512_maskz_sub_ps(m, xi, _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, j2, yf, 4));
      const __m512 dy = _mm512_maskz_sub_ps(m, yi, _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, j2, yf + 1, 4));
      const __m512 w = _mm512_div_ps(_mm512_maskz_loadu_ps(m, vals + c), _mm512_fmadd_ps(dx, dx, _mm512_fmadd_ps(dy, dy, one)));
      ax = _mm512_fmadd_ps(w, dx, ax);
      ay = _mm512_fmadd_ps(w, dy, ay);
    }
    out[2 * i] = _mm512_reduce_add_ps(ax);
    out[2 * i + 1] = _mm512_reduce_add_ps(ay);
  }
}

// log(x) of 16 floats x >= 1 (Cephes' logf: x = m 2^e with m in [sqrt(1/2), sqrt(2)), log(m) by its series
// polynomial; relative error ~1e-7, as std::log in single precision).
SIMD_AVX512 inline __m512 LogAvx512(__m512 x) {
  __m512 e = _mm512_getexp_ps(x);
  __m512 m = _mm512_getmant_ps(x, _MM_MANT_NORM_1_2, _MM_MANT_SIGN_src);
  const __mmask16 big = _mm512_cmp_ps_mask(m, _mm512_set1_ps(1.41421356f), _CMP_GT_OQ);
  m = _mm512_mask_mul_ps(m, big, m, _mm512_set1_ps(0.5f));
  e = _mm512_mask_add_ps(e, big, e, _mm512_set1_ps(1));
  const __m512 f = _mm512_sub_ps(m, _mm512_set1_ps(1));
  const __m512 z = _mm512_mul_ps(f, f);
  __m512 poly = _mm512_set1_ps(7.0376836292E-2f);
  for (const float c : {-1.1514610310E-1f, 1.1676998740E-1f, -1.2420140846E-1f, 1.4249322787E-1f, -1.6668057665E-1f, 2.0000714765E-1f,
                        -2.4999993993E-1f, 3.3333331174E-1f})
    poly = _mm512_fmadd_ps(poly, f, _mm512_set1_ps(c));
  __m512 r = _mm512_mul_ps(_mm512_mul_ps(poly, f), z);
  r = _mm512_fmadd_ps(e, _mm512_set1_ps(-2.12194440e-4f), r);
  r = _mm512_fnmadd_ps(z, _mm512_set1_ps(0.5f), r);
  r = _mm512_add_ps(f, r);
  return _mm512_fmadd_ps(e, _mm512_set1_ps(0.693359375f), r);
}

// The KL term's sum over rows [from, to): sum p_ij log(1 + |y_i - y_j|^2), gathered as the attraction is.
SIMD_AVX512 inline double KlRowsAvx512(const int32_t* rowPtr, const int32_t* cols, const float* vals, const float* yf, int from, int to) {
  const __m512 one = _mm512_set1_ps(1);
  double sum = 0;
  for (int i = from; i < to; i++) {
    const __m512 xi = _mm512_set1_ps(yf[2 * i]), yi = _mm512_set1_ps(yf[2 * i + 1]);
    __m512 acc = _mm512_setzero_ps();
    for (int c = rowPtr[i], end = rowPtr[i + 1]; c < end; c += 16) {
      const __mmask16 m = end - c >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << (end - c)) - 1);
      const __m512i j2 = _mm512_slli_epi32(_mm512_maskz_loadu_epi32(m, cols + c), 1);
      const __m512 dx = _mm512_maskz_sub_ps(m, xi, _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, j2, yf, 4));
      const __m512 dy = _mm512_maskz_sub_ps(m, yi, _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, j2, yf + 1, 4));
      const __m512 lg = LogAvx512(_mm512_fmadd_ps(dx, dx, _mm512_fmadd_ps(dy, dy, one)));
      acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, vals + c), lg, acc);
    }
    sum += _mm512_reduce_add_ps(acc);
  }
  return sum;
}

// The layout in single precision for the AVX-512 loops, in a buffer each calling thread keeps (a fresh 8 MB
// per iteration would cost more in page faults than the conversion).
inline const float* SinglePrecision(const double* y, int n, int threads) {
  thread_local std::vector<float> yf;
  if (yf.size() < 2 * static_cast<size_t>(n)) {
    yf = {};  // a fresh vector: its pages mapped as huge pages where allowed (memory.hpp), which the gathers favour
    memory::Fill(yf, 2 * static_cast<size_t>(n), 0.0f);
  }
  float* out = yf.data();
  For(n, threads, [&](int, int from, int to) {
    for (size_t k = 2 * static_cast<size_t>(from); k < 2 * static_cast<size_t>(to); k++) out[k] = static_cast<float>(y[k]);
  }, 4096);
  return out;
}
#endif

template <typename Val>
void Attract(const int32_t* rowPtr, const int32_t* cols, const Val* vals, const double* y, double* out, int from, int to) {
#if SIMD_HAS_AVX2_PATH
  if (simd::HasAvx2()) { AttractionRowsAvx2(rowPtr, cols, vals, y, out, from, to); return; }
#endif
  AttractionRows(rowPtr, cols, vals, y, out, from, to);
}

// A sparse P in CSR form: row i's entries are cols/vals[rowPtr[i] .. rowPtr[i+1]).
template <typename Val>
struct SparseP {
  const int32_t* rowPtr;
  const int32_t* cols;
  const Val* vals;
  int n;
};

// out[2i..2i+1] = sum_j p_ij q_ij (y_i - y_j) over the sparse P.
template <typename Val>
void Attraction(const SparseP<Val>& p, const double* y, double* out, int threads) {
#if SIMD_HAS_AVX512_PATH
  if constexpr (std::is_same_v<Val, float>) {
    if (simd::HasAvx512()) {
      const float* yf = SinglePrecision(y, p.n, threads);
      For(p.n, threads, [&](int, int from, int to) { AttractionRowsAvx512(p.rowPtr, p.cols, p.vals, yf, out, from, to); });
      return;
    }
  }
#endif
  For(p.n, threads, [&](int, int from, int to) { Attract(p.rowPtr, p.cols, p.vals, y, out, from, to); });
}

// sum_ij p_ij log(1 + |y_i - y_j|^2): with sum p log p and log Z it gives the KL divergence (KL = sum p log p +
// this + log Z when sum p = 1), on the iterations that report it.
inline double KlTerm(const SparseP<float>& p, const double* y, int threads) {
  const int32_t* rowPtr = p.rowPtr; const int32_t* cols = p.cols; const float* vals = p.vals;
  const int n = p.n;
  std::vector<double> partial(std::max(1, threads), 0.0);
#if SIMD_HAS_AVX512_PATH
  if (simd::HasAvx512()) {
    const float* yf = SinglePrecision(y, n, threads);
    For(n, threads, [&](int t, int from, int to) { partial[t] = KlRowsAvx512(rowPtr, cols, vals, yf, from, to); });
    double total = 0;
    for (double v : partial) total += v;
    return total;
  }
#endif
  For(n, threads, [&](int t, int from, int to) {
    double sum = 0;
    for (int i = from; i < to; i++) {
      for (int c = rowPtr[i]; c < rowPtr[i + 1]; c++) {
        const int j = cols[c];
        const double dx = y[2 * i] - y[2 * j], dy = y[2 * i + 1] - y[2 * j + 1];
        // Single-precision log (several times faster than log1p; the KL is reported, not differentiated).
        sum += vals[c] * std::log(1.0f + static_cast<float>(dx * dx + dy * dy));
      }
    }
    partial[t] = sum;
  });
  double total = 0;
  for (double v : partial) total += v;
  return total;
}

}  // namespace tsne
