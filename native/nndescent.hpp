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
#include "memory.hpp"
#include "nndescent_graph.hpp"
#include "nndescent_join.hpp"
#include "parallel.hpp"

namespace nnd {

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

// The first k neighbours of each point: the exact nearest among its leaf-mates, leaf by leaf and tree by tree
// (leaves are disjoint, so leaves run in parallel without sharing a list), merged into the rows kept sorted.
inline void AddLeafNeighbours(const Data& data, const Tree& tree, Graph& g, int threads) {
  const int dim = data.dim, k = g.k;
  const int leaves = static_cast<int>(tree.leaves.size());
  parallel::For(leaves, threads, [&](int, int from, int to) {
    std::vector<float> rows;
    std::vector<int32_t> idx, mapped;
    std::vector<float> dist, limits;
    for (int l = from; l < to; l++) {
      const auto [lo, hi] = tree.leaves[l];
      const int size = hi - lo, kk = std::min(k, size - 1);
      if (kk < 1) continue;
      rows.resize(static_cast<size_t>(size) * dim);
      for (int p = 0; p < size; p++)
        std::memcpy(rows.data() + static_cast<size_t>(p) * dim, data.x + static_cast<size_t>(tree.perm[lo + p]) * dim, sizeof(float) * dim);
      idx.resize(static_cast<size_t>(size) * kk);
      dist.resize(static_cast<size_t>(size) * kk);
      // A point whose row is full (from earlier trees) takes only leaf-mates nearer than its current worst, so
      // the search skips the selection for all the others: after the first tree most rows are nearly settled.
      limits.resize(size);
      for (int p = 0; p < size; p++) limits[p] = g.Worst(tree.perm[lo + p]);
      const knn::Layout layout = knn::BuildLayout(rows.data(), size, dim);
      knn::SearchRows(layout, kk, idx.data(), dist.data(), 0, size, knn::SelfQueries(layout), limits.data());
      mapped.resize(kk);
      for (int p = 0; p < size; p++) {
        int found = 0;
        for (; found < kk && idx[static_cast<size_t>(p) * kk + found] >= 0; found++)
          mapped[found] = tree.perm[lo + idx[static_cast<size_t>(p) * kk + found]];
        g.MergeSorted(tree.perm[lo + p], mapped.data(), dist.data() + static_cast<size_t>(p) * kk, found);
      }
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

// The approximate k nearest neighbours of every row of x (n x dim) among the others, nearest first (ties by
// index), into outIdx/outDist (n x k). Returns the NN-descent rounds run.
inline int Search(const float* x0, int n, int dim, const Params& p, int32_t* outIdx, float* outDist, int threads) {
  // Renumber the points in the first tree's leaf order, so that neighbours are mostly near each other in memory
  // (the refinement's random reads then hit the cache far more often); numbers are mapped back at the end.
  Tree first = BuildTree(Data{x0, n, dim, PickDist()}, p.leafSize, Hash(p.seed, 0x7265657, 0));
  const std::vector<int32_t> order = std::move(first.perm);
  std::vector<float> xs;  // read row by row in scattered order by the joins: mapped as huge pages where allowed
  memory::Fill(xs, static_cast<size_t>(n) * dim, 0.0f);
  for (int i = 0; i < n; i++) std::memcpy(xs.data() + static_cast<size_t>(i) * dim, x0 + static_cast<size_t>(order[i]) * dim, sizeof(float) * dim);
  const Data data{xs.data(), n, dim, PickDist()};
  first.perm.resize(n);  // in the new numbering the first tree's leaves are consecutive ranges
  for (int i = 0; i < n; i++) first.perm[i] = i;
  std::vector<int32_t> leafOf(static_cast<size_t>(n));  // each point's leaf in the first tree (the joins skip leaf-mates)
  for (size_t l = 0; l < first.leaves.size(); l++)
    for (int i = first.leaves[l].first; i < first.leaves[l].second; i++) leafOf[i] = static_cast<int32_t>(l);
  Graph g(n, p.k);
  for (int t = 0; t < p.trees; t++) {
    AddLeafNeighbours(data, t == 0 ? first : BuildTree(data, p.leafSize, Hash(p.seed, 0x7265657, t)), g, threads);
  }
  FillShortRows(data, g, p.seed);
  int rounds = 0;
  {
    CandidateLists fresh(n, p.maxCandidates), old(n, p.maxCandidates);
    std::vector<std::vector<Update>> updates;
    for (; rounds < p.maxRounds; rounds++) {
      BuildCandidates(g, fresh, old, p.seed, rounds + 1, threads);
      const int64_t changed = JoinRound(data, g, fresh, old, leafOf.data(), threads, updates);
      if (static_cast<double>(changed) <= p.delta * n * p.k) { rounds++; break; }
    }
  }
  const int k = p.k;
  memory::Populate(outIdx, sizeof(int32_t) * n * static_cast<size_t>(k));
  memory::Populate(outDist, sizeof(float) * n * static_cast<size_t>(k));
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
