// Approximate k nearest neighbours (squared Euclidean) for large n, where the exact search's n^2 distances cost
// too much (1M points: ~10^12). Two stages, as pynndescent:
//   1. A forest of random-projection trees (each split is the perpendicular bisector of two random points of the
//      node); each point's leaf-mates across the trees are its first candidates, and the best k start the graph.
//   2. NN-descent (Dong, Moses & Li 2011): a neighbour of a neighbour is likely a neighbour. Each round samples
//      up to maxCandidates "new" (not yet joined) and "old" neighbours per point, forward and reverse, and
//      compares every new candidate with every other candidate of the same point; a pair closer than either
//      end's current k-th neighbour updates that end's list. Rounds stop when fewer than delta * n * k updates
//      happen.
// Seeded and deterministic: random choices are hashes of (seed, tree or round, point), and parallel work is
// cut into fixed blocks whose updates are applied in block order, so the result is the same on any thread
// count. Ties between equal distances break by index.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>
#include "knn.hpp"
#include "parallel.hpp"
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

// One random-projection tree: `perm` holds the points leaf by leaf, `leaves` the [from, to) range of each leaf.
// Each split projects the node's points on the direction between two random points of it and cuts at the
// median, so leaves hold between leafSize / 2 and leafSize points: blocks the exact search handles efficiently.
struct Tree {
  std::vector<int32_t> perm;
  std::vector<std::pair<int32_t, int32_t>> leaves;
};

inline Tree BuildTree(const Data& data, int leafSize, uint64_t seed) {
  const int n = data.n, dim = data.dim;
  Tree t;
  t.perm.resize(n);
  for (int i = 0; i < n; i++) t.perm[i] = i;
  std::vector<std::pair<int32_t, int32_t>> stack{{0, n}};
  std::vector<float> normal(dim);
  std::vector<std::pair<float, int32_t>> proj;
  while (!stack.empty()) {
    const auto [lo, hi] = stack.back();
    stack.pop_back();
    const int size = hi - lo;
    if (size <= leafSize) {
      t.leaves.emplace_back(lo, hi);
      continue;
    }
    const uint64_t h = Hash(seed, lo, hi);
    const int pa = static_cast<int>(h % size), pb = (pa + 1 + static_cast<int>((h >> 32) % (size - 1))) % size;
    const float* a = data.x + static_cast<size_t>(t.perm[lo + pa]) * dim;
    const float* b = data.x + static_cast<size_t>(t.perm[lo + pb]) * dim;
    for (int d = 0; d < dim; d++) normal[d] = a[d] - b[d];
    proj.resize(size);
    for (int p = 0; p < size; p++) {
      const float* xp = data.x + static_cast<size_t>(t.perm[lo + p]) * dim;
      float side = 0;
      for (int d = 0; d < dim; d++) side += xp[d] * normal[d];
      proj[p] = {side, t.perm[lo + p]};  // ties (equal projections) break by index
    }
    const int half = size / 2;
    std::nth_element(proj.begin(), proj.begin() + half, proj.end());
    for (int p = 0; p < size; p++) t.perm[lo + p] = proj[p].second;
    stack.emplace_back(lo + half, hi);
    stack.emplace_back(lo, lo + half);
  }
  return t;
}

// The k-NN graph being refined: row i holds k (distance, index) pairs as a max-heap on (distance, index), and
// whether each entry is new (not yet used in a local join).
struct Graph {
  int n, k;
  std::vector<float> dist;
  std::vector<int32_t> idx;
  std::vector<uint8_t> fresh;
  Graph(int n_, int k_) : n(n_), k(k_), dist(static_cast<size_t>(n_) * k_, INFINITY), idx(static_cast<size_t>(n_) * k_, -1),
                          fresh(static_cast<size_t>(n_) * k_, 0) {}
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
};

// The first k neighbours of each point: the exact nearest among its leaf-mates, leaf by leaf and tree by tree
// (leaves are disjoint, so leaves run in parallel without sharing a list).
inline void AddLeafNeighbours(const Data& data, const Tree& tree, Graph& g, int threads) {
  const int dim = data.dim, k = g.k;
  const int leaves = static_cast<int>(tree.leaves.size());
  parallel::For(leaves, threads, [&](int, int from, int to) {
    std::vector<float> rows;
    std::vector<int32_t> idx;
    std::vector<float> dist;
    for (int l = from; l < to; l++) {
      const auto [lo, hi] = tree.leaves[l];
      const int size = hi - lo, kk = std::min(k, size - 1);
      if (kk < 1) continue;
      rows.resize(static_cast<size_t>(size) * dim);
      for (int p = 0; p < size; p++)
        std::memcpy(rows.data() + static_cast<size_t>(p) * dim, data.x + static_cast<size_t>(tree.perm[lo + p]) * dim, sizeof(float) * dim);
      idx.resize(static_cast<size_t>(size) * kk);
      dist.resize(static_cast<size_t>(size) * kk);
      const knn::Layout layout = knn::BuildLayout(rows.data(), size, dim);
      knn::SearchRows(layout, kk, idx.data(), dist.data(), 0, size, knn::SelfQueries(layout));
      for (int p = 0; p < size; p++)
        for (int t = 0; t < kk; t++)
          g.Push(tree.perm[lo + p], tree.perm[lo + idx[static_cast<size_t>(p) * kk + t]], dist[static_cast<size_t>(p) * kk + t]);
    }
  }, 1);
}

// Rows a forest's leaves could not fill (fewer than k others in every leaf: tiny inputs) get hashed random points.
inline void FillShortRows(const Data& data, Graph& g, uint64_t seed) {
  for (int i = 0; i < g.n; i++) {
    for (uint64_t r = 0; g.idx[static_cast<size_t>(i) * g.k] < 0; r++) {
      const int j = static_cast<int>(Hash(seed, i, r + 2) % g.n);
      if (j != i) g.Push(i, j, data.Dist(i, j));
    }
  }
}

// Bounded max-heaps of (priority, point), maxCandidates per point: a uniform random sample of the points offered.
struct CandidateLists {
  int n, cap;
  std::vector<uint32_t> prio;
  std::vector<int32_t> idx;
  std::vector<int32_t> count;
  CandidateLists(int n_, int cap_) : n(n_), cap(cap_), prio(static_cast<size_t>(n_) * cap_), idx(static_cast<size_t>(n_) * cap_),
                                     count(n_) {}
  void Clear(int from, int to) { std::fill(count.begin() + from, count.begin() + to, 0); }
  void Offer(int i, int32_t j, uint32_t p) {
    uint32_t* pr = prio.data() + static_cast<size_t>(i) * cap;
    int32_t* ir = idx.data() + static_cast<size_t>(i) * cap;
    int& size = count[i];
    auto less = [](uint32_t pa, int32_t ia, uint32_t pb, int32_t ib) { return pa < pb || (pa == pb && ia < ib); };
    if (size == cap && !less(p, j, pr[0], ir[0])) return;
    for (int t = 0; t < size; t++) if (ir[t] == j) return;
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
// sampled new neighbours old. Each thread fills the lists of its own range of points, scanning the whole graph.
// The marking is a second pass after every thread has sampled: sampling reads the flags of every row, so a thread
// clearing its rows' flags while another still reads them made the result depend on timing (seen with more
// threads than cores).
inline void BuildCandidates(Graph& g, CandidateLists& fresh, CandidateLists& old, uint64_t seed, int round, int threads) {
  const int n = g.n, k = g.k;
  parallel::For(n, threads, [&](int, int from, int to) {
    fresh.Clear(from, to);
    old.Clear(from, to);
    for (int i = 0; i < n; i++) {
      for (int t = 0; t < k; t++) {
        const size_t e = static_cast<size_t>(i) * k + t;
        const int32_t j = g.idx[e];
        const bool mine = i >= from && i < to, theirs = j >= from && j < to;
        if (j < 0 || !(mine || theirs)) continue;
        const uint32_t p = static_cast<uint32_t>(Hash(seed + round, std::min<int>(i, j), std::max<int>(i, j)));
        CandidateLists& lists = g.fresh[e] ? fresh : old;
        if (mine) lists.Offer(i, j, p);
        if (theirs) lists.Offer(j, i, p);
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

// One round of local joins, in chunks of points: the chunk's joins run in parallel, each block of points into
// its own update lists (one per range of target points), then the ranges are applied in parallel, each range's
// lists in block order, so a point's list sees the same updates in the same order on any thread count.
// Returns the updates that changed the graph.
inline int64_t JoinRound(const Data& data, Graph& g, const CandidateLists& fresh, const CandidateLists& old, int threads) {
  constexpr int kBlock = 256, kChunkBlocks = 64, kRanges = 32;
  const int n = g.n, blocks = (n + kBlock - 1) / kBlock;
  const int rangeSize = (n + kRanges - 1) / kRanges;
  std::vector<std::vector<Update>> updates(static_cast<size_t>(kChunkBlocks) * kRanges);
  int64_t changed = 0;
  for (int b0 = 0; b0 < blocks; b0 += kChunkBlocks) {
    const int chunk = std::min(kChunkBlocks, blocks - b0);
    parallel::For(chunk, threads, [&](int, int from, int to) {
      for (int b = from; b < to; b++) {
        std::vector<Update>* out = updates.data() + static_cast<size_t>(b) * kRanges;
        for (int r = 0; r < kRanges; r++) out[r].clear();
        const int v1 = std::min(n, (b0 + b + 1) * kBlock);
        for (int v = (b0 + b) * kBlock; v < v1; v++) {
          const int32_t* nw = fresh.Row(v);
          const int32_t* od = old.Row(v);
          const int nn = fresh.count[v], no = old.count[v];
          for (int s = 0; s < nn; s++) {
            const int p = nw[s];
            const float wp = g.Worst(p);
            for (int t = s + 1; t < nn + no; t++) {
              const int q = t < nn ? nw[t] : od[t - nn];
              if (q == p) continue;
              const float d = data.Dist(p, q);
              if (d < wp) out[p / rangeSize].push_back({p, q, d});
              if (d < g.Worst(q)) out[q / rangeSize].push_back({q, p, d});
            }
          }
        }
      }
    }, 1);
    std::vector<int64_t> partial(kRanges, 0);
    parallel::For(kRanges, threads, [&](int, int from, int to) {
      for (int r = from; r < to; r++) {
        int64_t c = 0;
        for (int b = 0; b < chunk; b++)
          for (const Update& u : updates[static_cast<size_t>(b) * kRanges + r]) c += g.Push(u.target, u.source, u.d);
        partial[r] = c;
      }
    }, 1);
    for (int64_t c : partial) changed += c;
  }
  return changed;
}

// The approximate k nearest neighbours of every row of x (n x dim) among the others, nearest first (ties by
// index), into outIdx/outDist (n x k). Returns the NN-descent rounds run.
inline int Search(const float* x0, int n, int dim, const Params& p, int32_t* outIdx, float* outDist, int threads) {
  // Renumber the points in the first tree's leaf order, so that neighbours are mostly near each other in memory
  // (the refinement's random reads then hit the cache far more often); numbers are mapped back at the end.
  Tree first = BuildTree(Data{x0, n, dim, PickDist()}, p.leafSize, Hash(p.seed, 0x7265657, 0));
  const std::vector<int32_t> order = std::move(first.perm);
  std::vector<float> xs(static_cast<size_t>(n) * dim);
  for (int i = 0; i < n; i++) std::memcpy(xs.data() + static_cast<size_t>(i) * dim, x0 + static_cast<size_t>(order[i]) * dim, sizeof(float) * dim);
  const Data data{xs.data(), n, dim, PickDist()};
  first.perm.resize(n);  // in the new numbering the first tree's leaves are consecutive ranges
  for (int i = 0; i < n; i++) first.perm[i] = i;
  Graph g(n, p.k);
  for (int t = 0; t < p.trees; t++) {
    AddLeafNeighbours(data, t == 0 ? first : BuildTree(data, p.leafSize, Hash(p.seed, 0x7265657, t)), g, threads);
  }
  FillShortRows(data, g, p.seed);
  int rounds = 0;
  {
    CandidateLists fresh(n, p.maxCandidates), old(n, p.maxCandidates);
    for (; rounds < p.maxRounds; rounds++) {
      BuildCandidates(g, fresh, old, p.seed, rounds + 1, threads);
      const int64_t changed = JoinRound(data, g, fresh, old, threads);
      if (static_cast<double>(changed) <= p.delta * n * p.k) { rounds++; break; }
    }
  }
  const int k = p.k;
  parallel::For(n, threads, [&](int, int from, int to) {
    std::vector<std::pair<float, int32_t>> row(k);
    for (int i = from; i < to; i++) {
      for (int t = 0; t < k; t++) row[t] = {g.dist[static_cast<size_t>(i) * k + t], order[g.idx[static_cast<size_t>(i) * k + t]]};
      std::sort(row.begin(), row.end());
      const size_t out = static_cast<size_t>(order[i]) * k;
      for (int t = 0; t < k; t++) { outIdx[out + t] = row[t].second; outDist[out + t] = row[t].first; }
    }
  });
  return rounds;
}

}  // namespace nnd
