// NN-descent's rounds (nndescent.hpp): each samples every point's new and old candidates, then joins them locally
// and applies the proposed updates in a fixed order.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>
#include "memory.hpp"
#include "nndescent_graph.hpp"
#include "parallel.hpp"
#include "simd.hpp"

namespace nnd {

// Bounded max-heaps of (priority, point), maxCandidates per point: a uniform random sample of the points offered.
struct CandidateLists {
  int n, cap;
  std::vector<uint32_t> prio;
  std::vector<int32_t> idx;
  std::vector<int32_t> count;
  CandidateLists(int n_, int cap_) : n(n_), cap(cap_) {
    memory::Fill(prio, static_cast<size_t>(n_) * cap_, uint32_t{0});
    memory::Fill(idx, static_cast<size_t>(n_) * cap_, int32_t{0});
    memory::Fill(count, static_cast<size_t>(n_), int32_t{0});
  }
  void Clear(int from, int to) { std::fill(count.begin() + from, count.begin() + to, 0); }
  void Offer(int i, int32_t j, uint32_t p) {
    uint32_t* pr = prio.data() + static_cast<size_t>(i) * cap;
    int32_t* ir = idx.data() + static_cast<size_t>(i) * cap;
    int& size = count[i];
    auto less = [](uint32_t pa, int32_t ia, uint32_t pb, int32_t ib) { return pa < pb || (pa == pb && ia < ib); };
    if (size == cap && !less(p, j, pr[0], ir[0])) return;
    int found = 0;  // no early exit: a vector compare instead of a mispredicted branch per entry
    for (int t = 0; t < size; t++) found |= ir[t] == j;
    if (found) return;
    if (size < cap) {  // sift up
      int c = size++;
      while (c > 0) {
        const int par = (c - 1) >> 1;
        if (!less(pr[par], ir[par], p, j)) break;
        pr[c] = pr[par]; ir[c] = ir[par];
        c = par;
      }
      pr[c] = p; ir[c] = j;
      return;
    }
    int c = 0;
    for (;;) {
      const int l = 2 * c + 1;
      if (l >= cap) break;
      const int r = l + 1;
      const int m = r < cap && less(pr[l], ir[l], pr[r], ir[r]) ? r : l;
      if (!less(p, j, pr[m], ir[m])) break;
      pr[c] = pr[m]; ir[c] = ir[m];
      c = m;
    }
    pr[c] = p; ir[c] = j;
  }
  const int32_t* Row(int i) const { return idx.data() + static_cast<size_t>(i) * cap; }
};

// Samples each point's new and old candidates (its neighbours and the points that list it), then marks the
// sampled new neighbours old. Each thread fills the lists of its own range of points, scanning the whole graph:
// first the new candidates, then the old ones of only those points that have a new one (a point without one has
// no pair to join; in the late rounds that is most points, and the old lists were most of the sampling). A
// list keeps the offers of least (priority, index), whatever their order, so the lists are those of one pass.
// The marking is a second pass after every thread has sampled: sampling reads the flags of every row, so a thread
// clearing its rows' flags while another still reads them made the result depend on timing (seen with more
// threads than cores).
inline void BuildCandidates(Graph& g, CandidateLists& fresh, CandidateLists& old, uint64_t seed, int round, int threads) {
  const int n = g.n, k = g.k;
  const uint64_t roundSeed = Mix(Mix(seed) + static_cast<uint64_t>(round));
  parallel::For(n, threads, [&](int, int from, int to) {
    fresh.Clear(from, to);
    old.Clear(from, to);
    constexpr size_t kAhead = 16;  // entries: the scattered lists of points ahead are fetched while this one is offered
    const size_t entries = static_cast<size_t>(n) * k;
    for (const bool sampleNew : {true, false}) {
      CandidateLists& lists = sampleNew ? fresh : old;
      // The old lists are wanted only for points with a new candidate.
      auto wanted = [&](int32_t v) { return v >= from && v < to && (sampleNew || fresh.count[v] > 0); };
      for (int i = 0; i < n; i++) {
        const bool mine = wanted(i);
        for (int t = 0; t < k; t++) {
          const size_t e = static_cast<size_t>(i) * k + t;
          if (e + kAhead < entries && (g.fresh[e + kAhead] != 0) == sampleNew) {
            const int32_t ahead = g.idx[e + kAhead];
            if (ahead >= from && ahead < to) {
              __builtin_prefetch(lists.prio.data() + static_cast<size_t>(ahead) * lists.cap);
              __builtin_prefetch(lists.idx.data() + static_cast<size_t>(ahead) * lists.cap);
              __builtin_prefetch(lists.count.data() + ahead);
              if (!sampleNew) __builtin_prefetch(fresh.count.data() + ahead);
            }
          }
          if ((g.fresh[e] != 0) != sampleNew) continue;
          const int32_t j = g.idx[e];
          const bool theirs = j >= 0 && wanted(j);
          if (j < 0 || !(mine || theirs)) continue;
          // One mixing of the pair (the same priority from either end) with the round's seed mixed once.
          const uint64_t pair = static_cast<uint64_t>(std::min<int>(i, j)) << 32 | static_cast<uint32_t>(std::max<int>(i, j));
          const uint32_t p = static_cast<uint32_t>(Mix(roundSeed ^ pair) >> 32);
          if (mine) lists.Offer(i, j, p);
          if (theirs) lists.Offer(j, i, p);
        }
      }
    }
  }, 1024);
  parallel::For(n, threads, [&](int, int from, int to) {
    for (int i = from; i < to; i++) {  // a sampled new neighbour has now been joined
      const int32_t* row = fresh.Row(i);
      const int count = fresh.count[i];
      for (int t = 0; t < k; t++) {
        const size_t e = static_cast<size_t>(i) * k + t;
        if (g.fresh[e] && std::find(row, row + count, g.idx[e]) != row + count) g.fresh[e] = 0;
      }
    }
  }, 1024);
}

// A proposed entry: `source` at distance d for `target`'s list.
struct Update {
  int32_t target, source;
  float d;
};

// The local joins of points [v0, v1): every new candidate of a point against its other candidates, each pair
// closer than either end's current worst proposed as an update into out[target / rangeSize]. The candidates'
// rows and current worst distances are first copied side by side, so the pairs' distances run from cache in
// 16-wide vectors (one 32-number distance: two AVX-512 steps) instead of two scattered rows per pair.
// Pairs of points in the same leaf of the first tree (leafOf) are skipped: that leaf's exact search already gave
// each of them its nearest leaf-mates, so such a pair could only repeat an entry or lose to the row's worst
// (up to rounding: the leaf search's distances come from norms and dot products). At 1.05M points this cut the
// joins' time by about a third (65 -> 46 s over 7 rounds), recall unchanged.
#define NND_JOIN_BODY                                                                                           \
  typedef float V16 __attribute__((vector_size(64)));                                                          \
  for (int v = v0; v < v1; v++) {                                                                              \
    const int32_t* nw = fresh.Row(v);                                                                          \
    const int32_t* od = old.Row(v);                                                                            \
    const int nn = fresh.count[v], total = nn + old.count[v];                                                  \
    if (nn == 0) continue; /* no new candidate: no pair to join (and its old list was not sampled) */          \
    for (int t = 0; t < total; t++) {                                                                          \
      const int32_t c = t < nn ? nw[t] : od[t - nn];                                                           \
      ids[t] = c;                                                                                              \
      leaf[t] = leafOf[c];                                                                                     \
      worst[t] = g.Worst(c);                                                                                   \
      std::memcpy(rows + static_cast<size_t>(t) * dim, data.x + static_cast<size_t>(c) * dim, sizeof(float) * dim); \
    }                                                                                                          \
    for (int s = 0; s < nn; s++) {                                                                             \
      const int p = ids[s];                                                                                    \
      const float* a = rows + static_cast<size_t>(s) * dim;                                                    \
      for (int t = s + 1; t < total; t++) {                                                                    \
        const int q = ids[t];                                                                                  \
        if (q == p || leaf[t] == leaf[s]) continue; /* leaf-mates: compared in the first tree's leaf already */ \
        const float* b = rows + static_cast<size_t>(t) * dim;                                                  \
        V16 acc = {};                                                                                          \
        int d = 0;                                                                                             \
        for (; d + 16 <= dim; d += 16) {                                                                       \
          V16 x, y;                                                                                            \
          std::memcpy(&x, a + d, sizeof(x));                                                                   \
          std::memcpy(&y, b + d, sizeof(y));                                                                   \
          const V16 e = x - y;                                                                                 \
          acc += e * e;                                                                                        \
        }                                                                                                      \
        float dist = 0;                                                                                        \
        for (int l = 0; l < 16; l++) dist += acc[l];                                                           \
        for (; d < dim; d++) dist += (a[d] - b[d]) * (a[d] - b[d]);                                            \
        if (dist < worst[s]) out[p / rangeSize].push_back({p, q, dist});                                       \
        if (dist < worst[t]) out[q / rangeSize].push_back({q, p, dist});                                       \
      }                                                                                                        \
    }                                                                                                          \
  }

#define NND_JOIN_ARGS                                                                                          \
  const Data &data, const Graph &g, const CandidateLists &fresh, const CandidateLists &old, int v0, int v1,   \
      const int32_t *leafOf, int rangeSize, std::vector<Update>*out, int32_t *ids, int32_t *leaf, float *worst, float *rows
inline void JoinPointsBaseline(NND_JOIN_ARGS) { const int dim = data.dim; NND_JOIN_BODY }
#if SIMD_HAS_AVX2_PATH
SIMD_AVX2 inline void JoinPointsAvx2(NND_JOIN_ARGS) { const int dim = data.dim; NND_JOIN_BODY }
SIMD_AVX512 inline void JoinPointsAvx512(NND_JOIN_ARGS) { const int dim = data.dim; NND_JOIN_BODY }
#endif
using JoinPointsFn = void (*)(NND_JOIN_ARGS);
#undef NND_JOIN_ARGS
#undef NND_JOIN_BODY

inline JoinPointsFn PickJoinPoints() {
#if SIMD_HAS_AVX2_PATH
  if (simd::HasAvx512()) return JoinPointsAvx512;
  if (simd::HasAvx2()) return JoinPointsAvx2;
#endif
  return JoinPointsBaseline;
}

// One round of local joins, in chunks of points: the chunk's joins run in parallel, each block of points into
// its own update lists (one per range of target points), then the ranges are applied in parallel, each range's
// lists in block order, so a point's list sees the same updates in the same order on any thread count.
// Returns the updates that changed the graph.
// `updates` is the caller's, kept from round to round (its pages, once faulted in, stay mapped).
constexpr int kJoinChunkBlocks = 64, kJoinRanges = 32;
inline int64_t JoinRound(const Data& data, Graph& g, const CandidateLists& fresh, const CandidateLists& old, const int32_t* leafOf,
                         int threads, std::vector<std::vector<Update>>& updates) {
  constexpr int kBlock = 256, kChunkBlocks = kJoinChunkBlocks, kRanges = kJoinRanges;
  const int n = g.n, blocks = (n + kBlock - 1) / kBlock;
  const int rangeSize = (n + kRanges - 1) / kRanges;
  const int most = fresh.cap + old.cap;
  updates.resize(static_cast<size_t>(kChunkBlocks) * kRanges);
  const JoinPointsFn joinPoints = PickJoinPoints();
  int64_t changed = 0;
  for (int b0 = 0; b0 < blocks; b0 += kChunkBlocks) {
    const int chunk = std::min(kChunkBlocks, blocks - b0);
    parallel::For(chunk, threads, [&](int, int from, int to) {
      std::vector<int32_t> ids(most), leaf(most);
      std::vector<float> worst(most), rows(static_cast<size_t>(most) * data.dim);
      for (int b = from; b < to; b++) {
        std::vector<Update>* out = updates.data() + static_cast<size_t>(b) * kRanges;
        for (int r = 0; r < kRanges; r++) out[r].clear();
        joinPoints(data, g, fresh, old, (b0 + b) * kBlock, std::min(n, (b0 + b + 1) * kBlock), leafOf, rangeSize, out, ids.data(),
                   leaf.data(), worst.data(), rows.data());
      }
    }, 1);
    std::vector<int64_t> partial(kRanges, 0);
    parallel::For(kRanges, threads, [&](int, int from, int to) {
      for (int r = from; r < to; r++) {
        int64_t c = 0;
        for (int b = 0; b < chunk; b++) {
          const std::vector<Update>& list = updates[static_cast<size_t>(b) * kRanges + r];
          constexpr size_t kAhead = 8;  // the scattered rows of the updates ahead are fetched while this one is applied
          for (size_t u = 0; u < list.size(); u++) {
            if (u + kAhead < list.size()) {
              const size_t row = static_cast<size_t>(list[u + kAhead].target) * g.k;
              __builtin_prefetch(g.dist.data() + row);
              // the whole index row: Push scans it for the source before inserting
              for (size_t line = 0; line < sizeof(int32_t) * g.k; line += 64)
                __builtin_prefetch(reinterpret_cast<const char*>(g.idx.data() + row) + line);
            }
            c += g.Push(list[u].target, list[u].source, list[u].d);
          }
        }
        partial[r] = c;
      }
    }, 1);
    for (int64_t c : partial) changed += c;
  }
  return changed;
}

}  // namespace nnd
