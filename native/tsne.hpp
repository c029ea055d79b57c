// t-SNE's gradient in native code: Barnes-Hut repulsion over a quadtree, one descent step with momentum and
// gains, and the perplexity search for the input affinities. The same algorithms as src/embed/ (TypeScript),
// which tests compare against these. The attraction and KL sums over the sparse P live in attraction.hpp, the
// FFT repulsion in fft_repulsion.hpp, the neighbour search in knn.hpp.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>
#include "memory.hpp"
#include "parallel.hpp"
#include "simd.hpp"
#include "attraction.hpp"

namespace tsne {

using parallel::For;

constexpr int kMaxDepth = 40;

struct QuadTree {
  std::vector<double> cx, cy, hw, comX, comY;
  std::vector<int32_t> count, child, point;
  int size = 0;

  int NewNode(double x, double y, double h) {
    cx.push_back(x); cy.push_back(y); hw.push_back(h);
    comX.push_back(0); comY.push_back(0); count.push_back(0); child.push_back(-1); point.push_back(-1);
    return size++;
  }
  int Quadrant(int node, double x, double y) const {
    return child[node] + (x > cx[node] ? 1 : 0) + (y > cy[node] ? 2 : 0);
  }
  void Subdivide(int node) {
    const double h = hw[node] / 2, x = cx[node], y = cy[node];
    const int first = NewNode(x - h, y - h, h);
    NewNode(x + h, y - h, h); NewNode(x - h, y + h, h); NewNode(x + h, y + h, h);
    child[node] = first;
  }
  void Build(const double* y, int n) {
    double minX = INFINITY, minY = INFINITY, maxX = -INFINITY, maxY = -INFINITY;
    for (int i = 0; i < n; i++) {
      minX = std::min(minX, y[2 * i]); maxX = std::max(maxX, y[2 * i]);
      minY = std::min(minY, y[2 * i + 1]); maxY = std::max(maxY, y[2 * i + 1]);
    }
    size = 0;
    for (auto* v : {&cx, &cy, &hw, &comX, &comY}) { v->clear(); v->reserve(4 * n + 8); }
    for (auto* v : {&count, &child, &point}) { v->clear(); v->reserve(4 * n + 8); }
    NewNode((minX + maxX) / 2, (minY + maxY) / 2, std::max(maxX - minX, maxY - minY) / 2 * (1 + 1e-5) + 1e-12);
    for (int i = 0; i < n; i++) Insert(i, y[2 * i], y[2 * i + 1]);
  }
  void Insert(int i, double x, double y) {
    int node = 0;
    for (int depth = 0;; depth++) {
      count[node]++; comX[node] += x; comY[node] += y;
      if (child[node] != -1) { node = Quadrant(node, x, y); continue; }
      if (count[node] == 1) { point[node] = i; return; }
      if (depth >= kMaxDepth) { point[node] = -1; return; }
      const int oldCount = count[node] - 1;
      const double ox = (comX[node] - x) / oldCount, oy = (comY[node] - y) / oldCount;
      const int old = point[node];
      point[node] = -1;
      Subdivide(node);  // may reallocate: index-based access only
      const int q = Quadrant(node, ox, oy);
      count[q] = oldCount; comX[q] = ox * oldCount; comY[q] = oy * oldCount;
      point[q] = oldCount == 1 ? old : -1;
      node = Quadrant(node, x, y);
    }
  }
};

// One node as the traversal needs it, packed so each visit touches one cache line.
struct PackedNode {
  double mx, my, w2;  // centre of mass, (cell width / theta)^2
  int32_t count, child, point, pad;
};

// Points in the order a depth-first walk of the tree meets them: neighbours in this order traverse nearly the
// same cells, so consecutive traversals reuse the cache.
void TreeOrder(const QuadTree& t, std::vector<int32_t>& order, int n) {
  order.clear();
  std::vector<int32_t> stack{0};
  std::vector<char> seen(n, 0);
  while (!stack.empty()) {
    const int node = stack.back();
    stack.pop_back();
    if (t.count[node] == 0) continue;
    if (t.child[node] == -1) {
      if (t.point[node] >= 0) { order.push_back(t.point[node]); seen[t.point[node]] = 1; }
      continue;
    }
    for (int c = 3; c >= 0; c--) stack.push_back(t.child[node] + c);
  }
  for (int i = 0; i < n; i++) if (!seen[i]) order.push_back(i);  // coincident points sharing a capped leaf
}

// Sums over the tree's points j other than `self` (-1: none) for a point at (x, y): writes sum_j q^2 (x - y_j)
// into (fxOut, fyOut) and returns sum_j q, q = 1 / (1 + d^2); far cells count as one body at their centre of
// mass. Coincident points exert no force and add q = 1 each (less one for `self` among them).
inline double Traverse(const std::vector<PackedNode>& nodes, double x, double yy, int self, std::vector<int32_t>& stack,
                       double& fxOut, double& fyOut) {
  double z = 0, fx = 0, fy = 0;
  int sp = 0;
  stack[sp++] = 0;
  while (sp > 0) {
    const PackedNode& nd = nodes[stack[--sp]];
    if (nd.count == 0) continue;
    if (nd.child == -1 && self >= 0 && nd.point == self) continue;
    const double dx = x - nd.mx, dy = yy - nd.my;
    const double d2 = dx * dx + dy * dy;
    if (nd.child == -1 || nd.w2 < d2) {
      const double m = d2 == 0 && self >= 0 ? nd.count - 1 : nd.count;
      const double q = 1 / (1 + d2);
      const double mq = m * q;
      z += mq;
      fx += mq * q * dx; fy += mq * q * dy;
    } else {
      const int first = nd.child;
      stack[sp++] = first; stack[sp++] = first + 1; stack[sp++] = first + 2; stack[sp++] = first + 3;
    }
  }
  fxOut = fx; fyOut = fy;
  return z;
}

inline double RepulsionRange(const std::vector<PackedNode>& nodes, const std::vector<int32_t>& order, const double* y,
                             double* force, int from, int to) {
  std::vector<int32_t> stack(4 * kMaxDepth + 16);
  double zTotal = 0;
  for (int k = from; k < to; k++) {
    const int i = order[k];
    zTotal += Traverse(nodes, y[2 * i], y[2 * i + 1], i, stack, force[2 * i], force[2 * i + 1]);
  }
  return zTotal;
}

// The tree's nodes packed for traversal at opening angle theta.
inline std::vector<PackedNode> PackNodes(const QuadTree& tree, double theta) {
  std::vector<PackedNode> nodes(tree.size);
  const double theta2 = theta * theta;
  for (int k = 0; k < tree.size; k++) {
    PackedNode& nd = nodes[k];
    nd.count = tree.count[k]; nd.child = tree.child[k]; nd.point = tree.point[k]; nd.pad = 0;
    nd.mx = nd.count > 0 ? tree.comX[k] / nd.count : 0;
    nd.my = nd.count > 0 ? tree.comY[k] / nd.count : 0;
    const double w = 2 * tree.hw[k];
    nd.w2 = theta2 > 0 ? w * w / theta2 : INFINITY;
  }
  return nodes;
}

// Barnes-Hut: force[2i..2i+1] = sum_j q_ij^2 (y_i - y_j); returns Z = sum_i sum_{j!=i} q_ij, q = 1/(1+|y_i-y_j|^2).
inline double Repulsion(const double* y, int n, double theta, double* force, int threads) {
  QuadTree tree;
  tree.Build(y, n);
  const std::vector<PackedNode> nodes = PackNodes(tree, theta);
  std::vector<int32_t> order;
  TreeOrder(tree, order, n);
  std::vector<double> partial(std::max(1, threads), 0.0);
  For(n, threads, [&](int t, int from, int to) { partial[t] = RepulsionRange(nodes, order, y, force, from, to); });
  double z = 0;
  for (double p : partial) z += p;
  return z;
}

// New points placed on a fixed map (t-SNE's transform, src/embed/transform.ts): each of the m points y (2m, in
// place) descends its own KL divergence against the n reference points refY for `iterations` steps, with
// attraction to its k neighbours (rows of nbIdx, weights p, each row summing to 1), Barnes-Hut repulsion from all
// reference points normalised by its own sum of q, momentum and gains. The points do not interact, so each runs
// all its steps on one thread against one tree built once.
struct PlaceStep {
  double exaggeration, lr, momentum, theta;
  int iterations;
};

inline void PlaceOnto(const double* refY, int n, const int32_t* nbIdx, const double* p, int k, double* y, int m, const PlaceStep& s,
                      int threads) {
  QuadTree tree;
  tree.Build(refY, n);
  const std::vector<PackedNode> nodes = PackNodes(tree, s.theta);
  For(m, threads, [&](int, int from, int to) {
    std::vector<int32_t> stack(4 * kMaxDepth + 16);
    for (int i = from; i < to; i++) {
      double pos[2] = {y[2 * i], y[2 * i + 1]}, update[2] = {0, 0}, gains[2] = {1, 1};
      for (int it = 0; it < s.iterations; it++) {
        double rep[2];
        const double z = Traverse(nodes, pos[0], pos[1], -1, stack, rep[0], rep[1]);
        double attr[2] = {0, 0};
        for (int t = 0; t < k; t++) {
          const int j = nbIdx[static_cast<size_t>(i) * k + t];
          const double dx = pos[0] - refY[2 * j], dy = pos[1] - refY[2 * j + 1];
          const double w = p[static_cast<size_t>(i) * k + t] / (1 + dx * dx + dy * dy);
          attr[0] += w * dx; attr[1] += w * dy;
        }
        const double invZ = z > 0 ? 1 / z : 0;
        for (int c = 0; c < 2; c++) {
          const double g = s.exaggeration * attr[c] - rep[c] * invZ;
          gains[c] = std::max(g * update[c] < 0 ? gains[c] + 0.2 : gains[c] * 0.8, 0.01);
          update[c] = s.momentum * update[c] - s.lr * gains[c] * g;
          pos[c] += update[c];
        }
      }
      y[2 * i] = pos[0]; y[2 * i + 1] = pos[1];
    }
  }, 16);
}

// One gradient-descent step with momentum and gains (delta-bar-delta, as in every implementation), then
// re-centring: grad = exaggeration attr - rep / Z. All arrays hold 2n doubles.
struct DescentStep {
  double exaggeration, invZ, momentum, lr;
};

inline void Descend(double* y, const double* attr, const double* rep, double* update, double* gains, int n, const DescentStep& s) {
  const double exaggeration = s.exaggeration, invZ = s.invZ, momentum = s.momentum, lr = s.lr;
  double mean[2] = {0, 0};
  for (int k = 0; k < 2 * n; k++) {
    const double g = exaggeration * attr[k] - rep[k] * invZ, u = update[k];
    const double gain = g * u < 0 ? gains[k] + 0.2 : gains[k] * 0.8;
    gains[k] = std::max(gain, 0.01);
    update[k] = momentum * u - lr * gains[k] * g;
    y[k] += update[k];
    mean[k & 1] += y[k];
  }
  mean[0] /= n; mean[1] /= n;
  for (int k = 0; k < 2 * n; k++) y[k] -= mean[k & 1];
}

// Conditional affinities P_j|i over each row's k neighbours: a Gaussian whose precision beta is found so that the
// row's perplexity is the target (the same search as src/embed/affinities.ts). The row's entropy H(beta) falls
// with beta, with slope -beta Var(d) under the row's distribution, so the search takes Newton's step where it
// lands inside the bracket known so far and halves the bracket (or doubles beta) where it does not: about 5
// passes over the row instead of bisection's 20-30 (at 1M points x 90 neighbours, ~1 s instead of 4-7).
inline void ConditionalP(const float* distances, int n, int k, double perplexity, double tol, int maxIter, double* out, int threads) {
  const double target = std::log(perplexity);
  memory::Populate(out, sizeof(double) * n * static_cast<size_t>(k));
  For(n, threads, [&](int, int from, int to) {
    std::vector<double> row(k);
    for (int i = from; i < to; i++) {
      const float* d = distances + static_cast<size_t>(i) * k;
      // Distances relative to the nearest neighbour keep exp() in range; the shift cancels in the normalisation.
      const double d0 = d[0];
      double beta = 1, lo = 0, hi = INFINITY;
      for (int it = 0; it < maxIter; it++) {
        double sum = 0, sumDP = 0, sumD2P = 0;
        for (int j = 0; j < k; j++) {
          const double dj = d[j] - d0, v = std::exp(-beta * dj);
          row[j] = v; sum += v; sumDP += dj * v; sumD2P += dj * dj * v;
        }
        const double mean = sumDP / sum, entropy = std::log(sum) + beta * mean;
        if (std::fabs(entropy - target) < tol) break;
        if (entropy > target) lo = beta; else hi = beta;
        const double slope = -beta * (sumD2P / sum - mean * mean);
        const double newton = beta - (entropy - target) / slope;
        if (slope < 0 && newton > lo && newton < hi) beta = newton;
        else beta = hi == INFINITY ? beta * 2 : (lo + hi) / 2;
      }
      double sum = 0;
      for (int j = 0; j < k; j++) sum += row[j];
      for (int j = 0; j < k; j++) out[static_cast<size_t>(i) * k + j] = row[j] / sum;
    }
  }, 64);
}

}  // namespace tsne
