// Exact k nearest neighbours (squared Euclidean) by blocked brute force, the way a GEMM is blocked: the data is
// repacked once into column panels (dim x kPanel, transposed), and a register-blocked micro-kernel computes a
// kRows x kPanel tile of dot products at a time; each tile is turned into distances and filtered against every row's
// current k-th distance, so only candidates touch the heap and no n x n matrix is ever stored.
//
// With many dimensions, the tile uses only the leading ones (the dimensions are first sorted by variance, which
// permutes coordinates and so keeps every distance): their partial distance is a lower bound of the full one, so
// only the few pairs under a row's current k-th distance (~3 % at 70k MNIST PCA-50, 16 of 50 dimensions) get
// their remaining dimensions added, one pair at a time. That does a third of the arithmetic in the fast kernel.
//
// The micro-kernel uses the compiler's portable vector types; on x86-64 it is compiled twice (AVX2 + FMA, and
// the baseline) and the one the CPU supports is picked at run time.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>
#include "simd.hpp"
#if SIMD_HAS_AVX2_PATH
#include <immintrin.h>
#endif

namespace knn {

constexpr int kRows = 6;     // rows per micro-tile: 6 x 16 accumulators fill 12 of the 16 vector registers
constexpr int kPanel = 256;  // columns per panel: a 50-dim panel is 50 KB, it stays in L2 across a row block

using simd::V8;

// dots[r][c] = sum_d a[r][d] * panel[d][c] for kRows rows of a (row-major, stride dim) and one packed panel.
// The kRows x 16 accumulator tile lives in registers across the whole d loop.
#define KNN_MICRO_KERNEL_BODY                                                              \
  for (int c0 = 0; c0 < kPanel; c0 += 16) {                                                \
    V8 acc[kRows][2] = {};                                                                 \
    for (int d = 0; d < dim; d++) {                                                        \
      V8 p0, p1;                                                                           \
      std::memcpy(&p0, panel + static_cast<size_t>(d) * kPanel + c0, sizeof(V8));         \
      std::memcpy(&p1, panel + static_cast<size_t>(d) * kPanel + c0 + 8, sizeof(V8));      \
      for (int r = 0; r < kRows; r++) {                                                    \
        const float ar = a[static_cast<size_t>(r) * dim + d];                              \
        acc[r][0] += ar * p0;                                                              \
        acc[r][1] += ar * p1;                                                              \
      }                                                                                    \
    }                                                                                      \
    for (int r = 0; r < kRows; r++) std::memcpy(dots + r * kPanel + c0, acc[r], sizeof(acc[r])); \
  }

inline void MicroKernelBaseline(const float* a, int dim, const float* panel, float* dots) { KNN_MICRO_KERNEL_BODY }

#if SIMD_HAS_AVX2_PATH
// The same loop compiled for AVX2 + FMA, used only when the CPU reports both (simd::HasAvx2).
SIMD_AVX2 inline void MicroKernelAvx2(const float* a, int dim, const float* panel, float* dots) {
  KNN_MICRO_KERNEL_BODY
}
#endif

// Turns one row of a tile's dot products into squared distances (in place) and lists the columns whose distance
// is at most `worst`: the only ones that can enter the row's heap. Most rows of most panels list none, so this
// scan, not the heap, is what the selection costs.
inline int FilterBaseline(float* dr, const float* nj, float ni, int cols, float worst, int32_t* cand) {
  int count = 0;
  for (int c = 0; c < cols; c++) dr[c] = std::max(ni + nj[c] - 2 * dr[c], 0.0f);
  for (int c = 0; c < cols; c++) if (dr[c] <= worst) cand[count++] = c;
  return count;
}

#if SIMD_HAS_AVX2_PATH
SIMD_AVX2 inline int FilterAvx2(float* dr, const float* nj, float ni, int cols, float worst, int32_t* cand) {
  int count = 0, c = 0;
  const __m256 vni = _mm256_set1_ps(ni), vworst = _mm256_set1_ps(worst), two = _mm256_set1_ps(2), zero = _mm256_setzero_ps();
  for (; c + 8 <= cols; c += 8) {
    const __m256 d = _mm256_max_ps(_mm256_fnmadd_ps(two, _mm256_loadu_ps(dr + c), _mm256_add_ps(vni, _mm256_loadu_ps(nj + c))), zero);
    _mm256_storeu_ps(dr + c, d);
    for (int mask = _mm256_movemask_ps(_mm256_cmp_ps(d, vworst, _CMP_LE_OQ)); mask != 0; mask &= mask - 1)
      cand[count++] = c + __builtin_ctz(mask);
  }
  for (; c < cols; c++) {
    dr[c] = std::max(ni + nj[c] - 2 * dr[c], 0.0f);
    if (dr[c] <= worst) cand[count++] = c;
  }
  return count;
}
#endif

// sum_t (a[t] - b[t])^2 over `len` values, a multiple of 8 (the tails are zero-padded to whole vectors).
#define KNN_TAIL_BODY                                         \
  V8 acc = {};                                                \
  for (int t = 0; t < len; t += 8) {                          \
    V8 va, vb;                                                \
    std::memcpy(&va, a + t, sizeof(V8));                      \
    std::memcpy(&vb, b + t, sizeof(V8));                      \
    const V8 d = va - vb;                                     \
    acc += d * d;                                             \
  }                                                           \
  return simd::Sum(acc);

inline float TailBaseline(const float* a, const float* b, int len) { KNN_TAIL_BODY }
#if SIMD_HAS_AVX2_PATH
SIMD_AVX2 inline float TailAvx2(const float* a, const float* b, int len) { KNN_TAIL_BODY }
#endif

using MicroKernelFn = void (*)(const float*, int, const float*, float*);
using FilterFn = int (*)(float*, const float*, float, int, float, int32_t*);
using TailFn = float (*)(const float*, const float*, int);

constexpr int kPruneMinDim = 32;  // below this the full dimension goes through the tile
constexpr int kLeadingDims = 16;  // dimensions in the tile when pruning (measured: 16 and 24 tie at 50)

/**
 * The data laid out for the search: dimensions sorted by decreasing variance; the leading `lead` of them as
 * row-major `head` (and packed into panels), the rest as row-major `tail` rows padded to whole vectors.
 */
struct Layout {
  int n = 0, lead = 0, tailLen = 0;
  std::vector<float> head, tail, norms, packed;  // norms: of the leading dimensions
};


// The k nearest (distance, index) pairs seen so far, kept lazily: candidates are appended to a buffer of 4k,
// and a full buffer is cut back to its k best with one nth_element, which also tightens the admission bound.
// Amortised O(1) per candidate instead of a heap's O(log k). Ties break by index, so the result does not
// depend on the scan order.
struct Selection {
  std::vector<std::pair<float, int32_t>> items;
  int k;
  float bound = INFINITY;  // the k-th best distance after the last cut: nothing above it can be among the k best
  explicit Selection(int k_) : k(k_) {}
  float Bound() const { return bound; }
  void Push(float d, int32_t j) {
    if (d > bound) return;
    items.emplace_back(d, j);
    if (items.size() >= 4 * static_cast<size_t>(k)) Cut();
  }
  void Cut() {
    if (static_cast<int>(items.size()) <= k) return;
    std::nth_element(items.begin(), items.begin() + (k - 1), items.end());
    items.resize(k);
    bound = items[k - 1].first;
    for (const auto& it : items) bound = std::max(bound, it.first);
  }
  /** The k nearest, nearest first; resets for the next row. */
  void Drain(int32_t* outIdx, float* outDist) {
    Cut();
    std::sort(items.begin(), items.end());
    for (int t = 0; t < k; t++) { outIdx[t] = items[t].second; outDist[t] = items[t].first; }
    items.clear();
    bound = INFINITY;
  }
};

/** Panels of the transposed data, zero-padded to whole panels. */
inline std::vector<float> PackPanels(const float* x, int n, int dim) {
  const int panels = (n + kPanel - 1) / kPanel;
  std::vector<float> packed(static_cast<size_t>(panels) * dim * kPanel, 0.0f);
  for (int j = 0; j < n; j++) {
    float* panel = packed.data() + static_cast<size_t>(j / kPanel) * dim * kPanel;
    for (int d = 0; d < dim; d++) panel[static_cast<size_t>(d) * kPanel + j % kPanel] = x[static_cast<size_t>(j) * dim + d];
  }
  return packed;
}

inline Layout BuildLayout(const float* x, int n, int dim) {
  Layout l;
  l.n = n;
  std::vector<int> dims(dim);
  for (int d = 0; d < dim; d++) dims[d] = d;
  if (dim >= kPruneMinDim) {
    std::vector<double> mean(dim, 0.0), var(dim, 0.0);
    for (int i = 0; i < n; i++) for (int d = 0; d < dim; d++) mean[d] += x[static_cast<size_t>(i) * dim + d];
    for (int d = 0; d < dim; d++) mean[d] /= n;
    for (int i = 0; i < n; i++)
      for (int d = 0; d < dim; d++) { const double v = x[static_cast<size_t>(i) * dim + d] - mean[d]; var[d] += v * v; }
    std::stable_sort(dims.begin(), dims.end(), [&](int a, int b) { return var[a] > var[b]; });
    l.lead = kLeadingDims;
  } else {
    l.lead = dim;
  }
  const int rest = dim - l.lead;
  l.tailLen = (rest + 7) / 8 * 8;
  l.head.resize(static_cast<size_t>(n) * l.lead);
  l.tail.assign(static_cast<size_t>(n) * l.tailLen, 0.0f);
  l.norms.resize(n);
  for (int i = 0; i < n; i++) {
    const float* row = x + static_cast<size_t>(i) * dim;
    float s = 0;
    for (int d = 0; d < l.lead; d++) {
      const float v = row[dims[d]];
      l.head[static_cast<size_t>(i) * l.lead + d] = v;
      s += v * v;
    }
    l.norms[i] = s;
    for (int d = 0; d < rest; d++) l.tail[static_cast<size_t>(i) * l.tailLen + d] = row[dims[l.lead + d]];
  }
  l.packed = PackPanels(l.head.data(), n, l.lead);
  return l;
}

/** Neighbours of rows [from, to): outIdx/outDist rows of k, nearest first (ties by index). */
inline void SearchRows(const Layout& l, int k, int32_t* outIdx, float* outDist, int from, int to) {
  const int n = l.n, dim = l.lead, panels = (n + kPanel - 1) / kPanel;
  const bool pruned = l.tailLen > 0;
  std::vector<float> a(static_cast<size_t>(kRows) * dim), dots(static_cast<size_t>(kRows) * kPanel);
  std::vector<Selection> selections(kRows, Selection(k));
#if SIMD_HAS_AVX2_PATH
  const bool avx2 = simd::HasAvx2();
  const MicroKernelFn microKernel = avx2 ? MicroKernelAvx2 : MicroKernelBaseline;
  const FilterFn filter = avx2 ? FilterAvx2 : FilterBaseline;
  const TailFn tailDistance = avx2 ? TailAvx2 : TailBaseline;
#else
  const MicroKernelFn microKernel = MicroKernelBaseline;
  const FilterFn filter = FilterBaseline;
  const TailFn tailDistance = TailBaseline;
#endif
  std::vector<int32_t> cand(kPanel);
  for (int i0 = from; i0 < to; i0 += kRows) {
    const int rows = std::min(kRows, to - i0);
    std::fill(a.begin(), a.end(), 0.0f);
    std::memcpy(a.data(), l.head.data() + static_cast<size_t>(i0) * dim, sizeof(float) * rows * dim);
    for (int pnl = 0; pnl < panels; pnl++) {
      microKernel(a.data(), dim, l.packed.data() + static_cast<size_t>(pnl) * dim * kPanel, dots.data());
      const int j0 = pnl * kPanel, cols = std::min(kPanel, n - j0);
      for (int r = 0; r < rows; r++) {
        const int i = i0 + r;
        float* dr = dots.data() + r * kPanel;
        Selection& sel = selections[r];
        // dr becomes the (partial) squared distances; only those under the row's bound come back.
        const int count = filter(dr, l.norms.data() + j0, l.norms[i], cols, sel.Bound(), cand.data());
        const float* ti = l.tail.data() + static_cast<size_t>(i) * l.tailLen;
        for (int t = 0; t < count; t++) {
          const int j = j0 + cand[t];
          if (j == i) continue;
          float d = dr[cand[t]];
          if (pruned) d += tailDistance(ti, l.tail.data() + static_cast<size_t>(j) * l.tailLen, l.tailLen);
          sel.Push(d, j);  // Push re-checks against the bound, which may have tightened
        }
      }
    }
    for (int r = 0; r < rows; r++) selections[r].Drain(outIdx + static_cast<size_t>(i0 + r) * k, outDist + static_cast<size_t>(i0 + r) * k);
  }
}

}  // namespace knn
