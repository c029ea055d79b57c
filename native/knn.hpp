// Exact k nearest neighbours (squared Euclidean) by blocked brute force, the way a GEMM is blocked: the data is
// repacked once into column panels (dim x kPanel, transposed), and a register-blocked micro-kernel computes a
// kRows x kPanel tile of dot products at a time; each tile is turned into distances and filtered against every row's
// current k-th distance, so only candidates touch the heap and no n x n matrix is ever stored.
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
constexpr int kPanel = 256;  // columns per panel: a 50-dim panel is 50 KB
constexpr int kPanelsPerBlock = 4;  // panels per column block: ~200 KB at 50 dimensions, they stay in L2
constexpr int kRowBlock = 384;      // rows whose selections stay live while the column blocks pass

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

using MicroKernelFn = void (*)(const float*, int, const float*, float*);
using FilterFn = int (*)(float*, const float*, float, int, float, int32_t*);

/** The data laid out for the search: squared norms and the column panels. */
struct Layout {
  int n = 0, dim = 0;
  const float* x = nullptr;  // row-major n x dim, borrowed
  std::vector<float> norms, packed;
};

// The k nearest (distance, index) pairs seen so far, kept lazily: candidates are appended to a buffer of 2k,
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
    if (items.size() >= 2 * static_cast<size_t>(k)) Cut();  // 2k: a tighter bound sooner (measured vs 4k)
  }
  void Cut() {
    if (static_cast<int>(items.size()) <= k) return;
    std::nth_element(items.begin(), items.begin() + (k - 1), items.end());
    items.resize(k);
    bound = items[k - 1].first;
    for (const auto& it : items) bound = std::max(bound, it.first);
  }
  /** Starts a row whose neighbours are known to lie within `limit` (INFINITY: no limit). */
  void Reset(float limit) {
    items.clear();
    bound = limit;
  }
  /** The k nearest, nearest first (with a limit, fewer may have been seen: the rest is index -1 at INFINITY). */
  void Drain(int32_t* outIdx, float* outDist) {
    Cut();
    std::sort(items.begin(), items.end());
    const int found = std::min<int>(k, static_cast<int>(items.size()));
    for (int t = 0; t < found; t++) { outIdx[t] = items[t].second; outDist[t] = items[t].first; }
    for (int t = found; t < k; t++) { outIdx[t] = -1; outDist[t] = INFINITY; }
    Reset(INFINITY);
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

/** Squared norms of n rows. */
inline std::vector<float> RowNorms(const float* x, int n, int dim) {
  std::vector<float> norms(n);
  for (int i = 0; i < n; i++) {
    float s = 0;
    for (int d = 0; d < dim; d++) s += x[static_cast<size_t>(i) * dim + d] * x[static_cast<size_t>(i) * dim + d];
    norms[i] = s;
  }
  return norms;
}

inline Layout BuildLayout(const float* x, int n, int dim) {
  Layout l;
  l.n = n; l.dim = dim; l.x = x;
  l.norms = RowNorms(x, n, dim);
  l.packed = PackPanels(x, n, dim);
  return l;
}

/** The rows whose neighbours are searched: the layout's own rows (self excluded), or other rows of the same width. */
struct Queries {
  const float* x;      // row-major, dim columns
  const float* norms;  // their squared norms
  bool self;           // the queries are the layout's rows: row i is not its own neighbour
};

inline Queries SelfQueries(const Layout& l) { return {l.x, l.norms.data(), true}; }

/** Neighbours of query rows [from, to) among the layout's rows: outIdx/outDist rows of k, nearest first (ties by index).
 *  With `limits`, only neighbours within limits[i] of query row i are wanted (the rest of its row is left at -1):
 *  a caller that already knows k neighbours that close saves the selection work for all farther points. */
inline void SearchRows(const Layout& l, int k, int32_t* outIdx, float* outDist, int from, int to, const Queries& q,
                       const float* limits = nullptr) {
  const int n = l.n, dim = l.dim, panels = (n + kPanel - 1) / kPanel;
  std::vector<float> a(static_cast<size_t>(kRows) * dim), dots(static_cast<size_t>(kRows) * kPanel);
#if SIMD_HAS_AVX2_PATH
  const bool avx2 = simd::HasAvx2();
  const MicroKernelFn microKernel = avx2 ? MicroKernelAvx2 : MicroKernelBaseline;
  const FilterFn filter = avx2 ? FilterAvx2 : FilterBaseline;
#else
  const MicroKernelFn microKernel = MicroKernelBaseline;
  const FilterFn filter = FilterBaseline;
#endif
  std::vector<int32_t> cand(kPanel);
  // Blocked like a GEMM for the caches: a block of rows keeps its selections while blocks of columns (~200 KB
  // of panels) pass through L2, so each column's data is read from memory once per row block, not once per
  // micro-tile of rows (which made the search memory-bound: 2-3x slower at 70k x 50).
  std::vector<Selection> selections(kRowBlock, Selection(k));
  for (int r0 = from; r0 < to; r0 += kRowBlock) {
    const int blockRows = std::min(kRowBlock, to - r0);
    if (limits) for (int r = 0; r < blockRows; r++) selections[r].Reset(limits[r0 + r]);
    for (int p0 = 0; p0 < panels; p0 += kPanelsPerBlock) {
      const int p1 = std::min(panels, p0 + kPanelsPerBlock);
      for (int i0 = r0; i0 < r0 + blockRows; i0 += kRows) {
        const int rows = std::min(kRows, r0 + blockRows - i0);
        std::fill(a.begin(), a.end(), 0.0f);
        std::memcpy(a.data(), q.x + static_cast<size_t>(i0) * dim, sizeof(float) * rows * dim);
        for (int pnl = p0; pnl < p1; pnl++) {
          microKernel(a.data(), dim, l.packed.data() + static_cast<size_t>(pnl) * dim * kPanel, dots.data());
          const int j0 = pnl * kPanel, cols = std::min(kPanel, n - j0);
          for (int r = 0; r < rows; r++) {
            const int i = i0 + r;
            float* dr = dots.data() + r * kPanel;
            Selection& sel = selections[i - r0];
            const int count = filter(dr, l.norms.data() + j0, q.norms[i], cols, sel.Bound(), cand.data());
            for (int t = 0; t < count; t++) {
              const int c = cand[t];
              if (!q.self || j0 + c != i) sel.Push(dr[c], j0 + c);  // Push re-checks against the bound, which may have tightened
            }
          }
        }
      }
    }
    for (int r = 0; r < blockRows; r++) selections[r].Drain(outIdx + static_cast<size_t>(r0 + r) * k, outDist + static_cast<size_t>(r0 + r) * k);
  }
}

}  // namespace knn
