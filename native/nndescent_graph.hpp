// The k-NN graph NN-descent refines (nndescent.hpp), with what its parts share: the seeded hashes, the distance,
// the settings and the data.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>
#include "memory.hpp"
#include "simd.hpp"

namespace nnd {

inline uint64_t Mix(uint64_t x) {  // splitmix64's finaliser
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}
inline uint64_t Hash(uint64_t seed, uint64_t a, uint64_t b) { return Mix(Mix(seed ^ Mix(a)) ^ b); }

#define NND_DIST_BODY                                                       \
  simd::V8 acc = {};                                                       \
  int d = 0;                                                               \
  for (; d + 8 <= dim; d += 8) {                                           \
    simd::V8 x, y;                                                         \
    std::memcpy(&x, a + d, sizeof(x));                                     \
    std::memcpy(&y, b + d, sizeof(y));                                     \
    const simd::V8 t = x - y;                                              \
    acc += t * t;                                                          \
  }                                                                        \
  float s = simd::Sum(acc);                                                \
  for (; d < dim; d++) s += (a[d] - b[d]) * (a[d] - b[d]);                 \
  return s;

inline float DistBaseline(const float* a, const float* b, int dim) { NND_DIST_BODY }
#if SIMD_HAS_AVX2_PATH
SIMD_AVX2 inline float DistAvx2(const float* a, const float* b, int dim) { NND_DIST_BODY }
#endif
using DistFn = float (*)(const float*, const float*, int);
inline DistFn PickDist() {
#if SIMD_HAS_AVX2_PATH
  if (simd::HasAvx2()) return DistAvx2;
#endif
  return DistBaseline;
}

struct Params {
  int k, trees, leafSize, maxCandidates, maxRounds;
  double delta;
  uint64_t seed;
};

struct Data {
  const float* x;
  int n, dim;
  DistFn dist;
  float Dist(int i, int j) const {
    return dist(x + static_cast<size_t>(i) * dim, x + static_cast<size_t>(j) * dim, dim);
  }
};

// The k-NN graph being refined: row i holds k (distance, index) pairs as a max-heap on (distance, index), and
// whether each entry is new (not yet used in a local join).
struct Graph {
  int n, k;
  std::vector<float> dist;
  std::vector<int32_t> idx;
  std::vector<uint8_t> fresh;
  Graph(int n_, int k_) : n(n_), k(k_) {
    const size_t size = static_cast<size_t>(n_) * k_;
    memory::Fill(dist, size, INFINITY);
    memory::Fill(idx, size, -1);
    memory::Fill(fresh, size, uint8_t{0});
  }
  static bool Less(float da, int32_t ia, float db, int32_t ib) { return da < db || (da == db && ia < ib); }
  float Worst(int i) const { return dist[static_cast<size_t>(i) * k]; }
  // Inserts j into i's list if closer than its worst and not already there; true when it changed the list.
  bool Push(int i, int32_t j, float d) {
    float* dr = dist.data() + static_cast<size_t>(i) * k;
    int32_t* ir = idx.data() + static_cast<size_t>(i) * k;
    uint8_t* fr = fresh.data() + static_cast<size_t>(i) * k;
    if (!Less(d, j, dr[0], ir[0])) return false;
    int found = 0;  // no early exit: the compiler vectorises the whole scan
    for (int t = 0; t < k; t++) found |= ir[t] == j;
    if (found) return false;
    int c = 0;  // sift the new entry down from the root
    for (;;) {
      const int l = 2 * c + 1;
      if (l >= k) break;
      const int r = l + 1;
      const int m = r < k && Less(dr[l], ir[l], dr[r], ir[r]) ? r : l;
      if (!Less(d, j, dr[m], ir[m])) break;
      dr[c] = dr[m]; ir[c] = ir[m]; fr[c] = fr[m];
      c = m;
    }
    dr[c] = d; ir[c] = j; fr[c] = 1;
    return true;
  }
  // Merges a sorted list of candidates (nearest first, distinct, without i) into row i, whose entries are kept
  // sorted farthest first while the forest fills the graph (a list sorted that way is also a valid max-heap, so
  // Push works on it afterwards). The row becomes the k best of both, by (distance, index); a candidate already
  // in the row keeps its first distance, as Push does. One pass of O(k) instead of a Push per candidate.
  void MergeSorted(int i, const int32_t* candIdx, const float* candDist, int count) {
    float* dr = dist.data() + static_cast<size_t>(i) * k;
    int32_t* ir = idx.data() + static_cast<size_t>(i) * k;
    uint8_t* fr = fresh.data() + static_cast<size_t>(i) * k;
    thread_local std::vector<float> md;
    thread_local std::vector<int32_t> mi;
    thread_local std::vector<uint8_t> mf;
    md.resize(k); mi.resize(k); mf.resize(k);
    int a = k - 1, b = 0, out = 0;  // a walks the row nearest first (backwards), b the candidates
    while (out < k && (a >= 0 || b < count)) {
      if (b < count) {  // a candidate no better than the row's worst, or already in the row, cannot enter
        const float d = candDist[b];
        const int32_t j = candIdx[b];
        if (!Less(d, j, dr[0], ir[0])) { b = count; continue; }  // nor can any after it
        int found = 0;
        for (int t = 0; t < k; t++) found |= ir[t] == j;
        if (found) { b++; continue; }
      }
      if (b >= count || (a >= 0 && Less(dr[a], ir[a], candDist[b], candIdx[b]))) {
        md[out] = dr[a]; mi[out] = ir[a]; mf[out] = fr[a]; a--;
      } else {
        md[out] = candDist[b]; mi[out] = candIdx[b]; mf[out] = 1; b++;
      }
      out++;
    }
    for (int t = 0; t < out; t++) { dr[k - 1 - t] = md[t]; ir[k - 1 - t] = mi[t]; fr[k - 1 - t] = mf[t]; }
    for (int t = out; t < k; t++) { dr[k - 1 - t] = INFINITY; ir[k - 1 - t] = -1; fr[k - 1 - t] = 0; }
  }
};

}  // namespace nnd
