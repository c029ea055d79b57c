// Native kernels for autoencoders (N-API, C++17, std::thread): t-SNE's neighbour search and gradient sums, and
// the convolutions and matrix products of training. Optional: when this addon cannot be built, src/embed/ uses
// its TypeScript implementation of the same algorithms and training uses TensorFlow.js's wasm kernels (tests
// check that each pair agrees).
//
//   repulsion(y: Float64Array, n, theta, force: Float64Array, threads) -> Z
//     Barnes-Hut: force[2i..2i+1] = sum_j q_ij^2 (y_i - y_j), Z = sum_i sum_{j!=i} q_ij, q = 1/(1+|y_i-y_j|^2).
//   attraction(rowPtr: Int32Array, cols: Int32Array, vals: Float32Array | Float64Array, y: Float64Array, n, out: Float64Array, threads)
//     out[2i..2i+1] = sum_j p_ij q_ij (y_i - y_j) over the sparse P.
//   repulsionFft(y: Float64Array, n, force: Float64Array, threads) -> Z
//     the same sums by FFT-accelerated interpolation (FIt-SNE), native/fft_repulsion.hpp.
//   conditionalP(distances: Float32Array, n, k, perplexity, tol, maxIter, out: Float64Array, threads)
//     t-SNE's per-row Gaussian affinities at the target perplexity (binary search on the precision).
//   klTerm(rowPtr, cols, vals: Float32Array, y, n, threads) -> sum p_ij log(1 + |y_i - y_j|^2), for the KL divergence.
//   descend(y, attr, rep, update, gains, n, exaggeration, invZ, momentum, lr)
//     one gradient step with momentum and gains, then re-centring (all Float64Arrays of 2n).
//   knn(data: Float32Array, n, dim, k, indices: Int32Array, distances: Float32Array, threads)
//     exact k nearest neighbours (squared Euclidean) of every row among the others, nearest first (native/knn.hpp).
// Training (float32 buffers, usually views of TensorFlow.js's wasm memory): conv2d and its gradients, matmul,
// sumRows, and the fused dense layer, Adam step and loss of native/dense.hpp (denseForward, denseBackpropParams,
// adam, mse, mseGrad), batch norm + ReLU (native/batchnorm.hpp: batchNormRelu, batchNormReluGrad), dropoutMask.
#include <node_api.h>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>
#include "batchnorm.hpp"
#include "conv.hpp"
#include "dense.hpp"
#include "fft_repulsion.hpp"
#include "gemm.hpp"
#include "knn.hpp"
#include "parallel.hpp"

namespace {

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

double RepulsionRange(const std::vector<PackedNode>& nodes, const std::vector<int32_t>& order, const double* y,
                      double* force, int from, int to) {
  std::vector<int32_t> stack(4 * kMaxDepth + 16);
  double zTotal = 0;
  for (int k = from; k < to; k++) {
    const int i = order[k];
    const double x = y[2 * i], yy = y[2 * i + 1];
    double z = 0, fx = 0, fy = 0;
    int sp = 0;
    stack[sp++] = 0;
    while (sp > 0) {
      const PackedNode& nd = nodes[stack[--sp]];
      if (nd.count == 0) continue;
      if (nd.child == -1 && nd.point == i) continue;
      const double dx = x - nd.mx, dy = yy - nd.my;
      const double d2 = dx * dx + dy * dy;
      if (nd.child == -1 || nd.w2 < d2) {
        const double m = d2 == 0 ? nd.count - 1 : nd.count;
        const double q = 1 / (1 + d2);
        const double mq = m * q;
        z += mq;
        fx += mq * q * dx; fy += mq * q * dy;
      } else {
        const int first = nd.child;
        stack[sp++] = first; stack[sp++] = first + 1; stack[sp++] = first + 2; stack[sp++] = first + 3;
      }
    }
    force[2 * i] = fx; force[2 * i + 1] = fy;
    zTotal += z;
  }
  return zTotal;
}

using parallel::For;

bool GetTyped(napi_env env, napi_value v, napi_typedarray_type want, void** data, size_t* length) {
  bool is = false;
  napi_is_typedarray(env, v, &is);
  if (!is) return false;
  napi_typedarray_type type;
  napi_value buffer;
  size_t offset;
  napi_get_typedarray_info(env, v, &type, length, data, &buffer, &offset);
  return type == want;
}

napi_value Throw(napi_env env, const char* msg) {
  napi_throw_type_error(env, nullptr, msg);
  return nullptr;
}

napi_value Repulsion(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value args[5];
  napi_get_cb_info(env, info, &argc, args, nullptr, nullptr);
  if (argc < 5) return Throw(env, "repulsion(y, n, theta, force, threads)");
  double* y; double* force; size_t ly, lf;
  int32_t n, threads; double theta;
  if (!GetTyped(env, args[0], napi_float64_array, reinterpret_cast<void**>(&y), &ly)) return Throw(env, "y must be a Float64Array");
  napi_get_value_int32(env, args[1], &n);
  napi_get_value_double(env, args[2], &theta);
  if (!GetTyped(env, args[3], napi_float64_array, reinterpret_cast<void**>(&force), &lf)) return Throw(env, "force must be a Float64Array");
  napi_get_value_int32(env, args[4], &threads);
  if (n < 1 || ly < static_cast<size_t>(2 * n) || lf < static_cast<size_t>(2 * n)) return Throw(env, "arrays shorter than 2n");
  QuadTree tree;
  tree.Build(y, n);
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
  std::vector<int32_t> order;
  TreeOrder(tree, order, n);
  std::vector<double> partial(std::max(1, threads), 0.0);
  For(n, threads, [&](int t, int from, int to) { partial[t] = RepulsionRange(nodes, order, y, force, from, to); });
  double z = 0;
  for (double p : partial) z += p;
  napi_value out;
  napi_create_double(env, z, &out);
  return out;
}

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

template <typename Val>
void Attract(const int32_t* rowPtr, const int32_t* cols, const Val* vals, const double* y, double* out, int from, int to) {
#if SIMD_HAS_AVX2_PATH
  if (simd::HasAvx2()) { AttractionRowsAvx2(rowPtr, cols, vals, y, out, from, to); return; }
#endif
  AttractionRows(rowPtr, cols, vals, y, out, from, to);
}

// A sparse P in CSR form and a layout, as the attraction and the KL term take them: args[0..4] are rowPtr
// (Int32Array), cols (Int32Array), vals (Float32Array, or Float64Array where allowed), y (Float64Array, 2n), n.
struct SparsePArgs {
  int32_t* rowPtr; int32_t* cols; void* vals; bool single; double* y; int32_t n;
};

const char* ReadSparseP(napi_env env, napi_value* args, bool allowDouble, SparsePArgs* p) {
  size_t l0, l1, l2, l3;
  if (!GetTyped(env, args[0], napi_int32_array, reinterpret_cast<void**>(&p->rowPtr), &l0)) return "rowPtr must be an Int32Array";
  if (!GetTyped(env, args[1], napi_int32_array, reinterpret_cast<void**>(&p->cols), &l1)) return "cols must be an Int32Array";
  p->single = GetTyped(env, args[2], napi_float32_array, &p->vals, &l2);
  if (!p->single && (!allowDouble || !GetTyped(env, args[2], napi_float64_array, &p->vals, &l2))) {
    return allowDouble ? "vals must be a Float32Array or Float64Array" : "vals must be a Float32Array";
  }
  if (!GetTyped(env, args[3], napi_float64_array, reinterpret_cast<void**>(&p->y), &l3)) return "y must be a Float64Array";
  napi_get_value_int32(env, args[4], &p->n);
  const int32_t n = p->n;
  if (n < 1 || l0 < static_cast<size_t>(n + 1) || l3 < static_cast<size_t>(2 * n) ||
      static_cast<size_t>(p->rowPtr[n]) > std::min(l1, l2)) return "array sizes do not match n";
  return nullptr;
}

napi_value Attraction(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value args[7];
  napi_get_cb_info(env, info, &argc, args, nullptr, nullptr);
  if (argc < 7) return Throw(env, "attraction(rowPtr, cols, vals, y, n, out, threads)");
  SparsePArgs p;
  if (const char* error = ReadSparseP(env, args, true, &p)) return Throw(env, error);
  double* out; size_t l5;
  int32_t threads;
  if (!GetTyped(env, args[5], napi_float64_array, reinterpret_cast<void**>(&out), &l5)) return Throw(env, "out must be a Float64Array");
  napi_get_value_int32(env, args[6], &threads);
  if (l5 < static_cast<size_t>(2 * p.n)) return Throw(env, "array sizes do not match n");
  For(p.n, threads, [&](int, int from, int to) {
    if (p.single) Attract(p.rowPtr, p.cols, static_cast<const float*>(p.vals), p.y, out, from, to);
    else Attract(p.rowPtr, p.cols, static_cast<const double*>(p.vals), p.y, out, from, to);
  });
  return nullptr;
}

// sum_ij p_ij log(1 + |y_i - y_j|^2): with sum p log p and log Z it gives the KL divergence (KL = sum p log p +
// this + log Z when sum p = 1), on the iterations that report it.
napi_value KlTerm(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value args[6];
  napi_get_cb_info(env, info, &argc, args, nullptr, nullptr);
  if (argc < 6) return Throw(env, "klTerm(rowPtr, cols, vals, y, n, threads)");
  SparsePArgs p;
  if (const char* error = ReadSparseP(env, args, false, &p)) return Throw(env, error);
  int32_t threads;
  napi_get_value_int32(env, args[5], &threads);
  const int32_t* rowPtr = p.rowPtr; const int32_t* cols = p.cols; const double* y = p.y;
  const float* vals = static_cast<const float*>(p.vals);
  const int32_t n = p.n;
  std::vector<double> partial(std::max(1, threads), 0.0);
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
  napi_value out;
  napi_create_double(env, total, &out);
  return out;
}

// One gradient-descent step of t-SNE with momentum and gains (delta-bar-delta, as in every implementation), then
// re-centring: grad = exaggeration attr - rep / Z.
napi_value Descend(napi_env env, napi_callback_info info) {
  size_t argc = 10;
  napi_value args[10];
  napi_get_cb_info(env, info, &argc, args, nullptr, nullptr);
  if (argc < 10) return Throw(env, "descend(y, attr, rep, update, gains, n, exaggeration, invZ, momentum, lr)");
  double* a[5];
  size_t len[5];
  for (int k = 0; k < 5; k++) {
    if (!GetTyped(env, args[k], napi_float64_array, reinterpret_cast<void**>(&a[k]), &len[k])) return Throw(env, "descend: the first five arguments must be Float64Arrays");
  }
  int32_t n;
  double exaggeration, invZ, momentum, lr;
  napi_get_value_int32(env, args[5], &n);
  napi_get_value_double(env, args[6], &exaggeration);
  napi_get_value_double(env, args[7], &invZ);
  napi_get_value_double(env, args[8], &momentum);
  napi_get_value_double(env, args[9], &lr);
  for (size_t l : len) if (n < 1 || l < 2 * static_cast<size_t>(n)) return Throw(env, "descend: arrays shorter than 2n");
  double *y = a[0], *attr = a[1], *rep = a[2], *update = a[3], *gains = a[4];
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
  return nullptr;
}

// Conditional affinities P_j|i over each row's k neighbours: a Gaussian whose precision beta is found by binary
// search so that the row's perplexity is the target (the same search as src/embed/affinities.ts).
napi_value ConditionalP(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value args[8];
  napi_get_cb_info(env, info, &argc, args, nullptr, nullptr);
  if (argc < 8) return Throw(env, "conditionalP(distances, n, k, perplexity, tol, maxIter, out, threads)");
  float* distances; double* out;
  size_t ld, lo;
  int32_t n, k, maxIter, threads;
  double perplexity, tol;
  if (!GetTyped(env, args[0], napi_float32_array, reinterpret_cast<void**>(&distances), &ld)) return Throw(env, "distances must be a Float32Array");
  napi_get_value_int32(env, args[1], &n);
  napi_get_value_int32(env, args[2], &k);
  napi_get_value_double(env, args[3], &perplexity);
  napi_get_value_double(env, args[4], &tol);
  napi_get_value_int32(env, args[5], &maxIter);
  if (!GetTyped(env, args[6], napi_float64_array, reinterpret_cast<void**>(&out), &lo)) return Throw(env, "out must be a Float64Array");
  napi_get_value_int32(env, args[7], &threads);
  if (n < 1 || k < 1 || ld < static_cast<size_t>(n) * k || lo < static_cast<size_t>(n) * k) return Throw(env, "conditionalP: sizes do not match");
  const double target = std::log(perplexity);
  For(n, threads, [&](int, int from, int to) {
    std::vector<double> row(k);
    for (int i = from; i < to; i++) {
      const float* d = distances + static_cast<size_t>(i) * k;
      // Distances relative to the nearest neighbour keep exp() in range; the shift cancels in the normalisation.
      const double d0 = d[0];
      double beta = 1, lo = 0, hi = INFINITY;
      for (int it = 0; it < maxIter; it++) {
        double sum = 0, sumDP = 0;
        for (int j = 0; j < k; j++) {
          const double dj = d[j] - d0, v = std::exp(-beta * dj);
          row[j] = v; sum += v; sumDP += dj * v;
        }
        const double entropy = std::log(sum) + beta * sumDP / sum;
        if (std::fabs(entropy - target) < tol) break;
        if (entropy > target) { lo = beta; beta = hi == INFINITY ? beta * 2 : (beta + hi) / 2; }
        else { hi = beta; beta = (beta + lo) / 2; }
      }
      double sum = 0;
      for (int j = 0; j < k; j++) sum += row[j];
      for (int j = 0; j < k; j++) out[static_cast<size_t>(i) * k + j] = row[j] / sum;
    }
  }, 64);
  return nullptr;
}

napi_value Knn(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value args[7];
  napi_get_cb_info(env, info, &argc, args, nullptr, nullptr);
  if (argc < 7) return Throw(env, "knn(data, n, dim, k, indices, distances, threads)");
  float* x; int32_t* idx; float* dist;
  size_t lx, li, ld;
  int32_t n, dim, k, threads;
  if (!GetTyped(env, args[0], napi_float32_array, reinterpret_cast<void**>(&x), &lx)) return Throw(env, "data must be a Float32Array");
  napi_get_value_int32(env, args[1], &n);
  napi_get_value_int32(env, args[2], &dim);
  napi_get_value_int32(env, args[3], &k);
  if (!GetTyped(env, args[4], napi_int32_array, reinterpret_cast<void**>(&idx), &li)) return Throw(env, "indices must be an Int32Array");
  if (!GetTyped(env, args[5], napi_float32_array, reinterpret_cast<void**>(&dist), &ld)) return Throw(env, "distances must be a Float32Array");
  napi_get_value_int32(env, args[6], &threads);
  if (n < 2 || dim < 1 || k < 1 || k >= n || lx < static_cast<size_t>(n) * dim || li < static_cast<size_t>(n) * k || ld < static_cast<size_t>(n) * k) {
    return Throw(env, "knn: sizes do not match (need 1 <= k < n)");
  }
  const knn::Layout layout = knn::BuildLayout(x, n, dim);
  For(n, threads, [&](int, int from, int to) { knn::SearchRows(layout, k, idx, dist, from, to); });
  return nullptr;
}

fftrep::KernelCache kernelCache;  // the kernel's transform, reused while the grid keeps its size
std::mutex kernelCacheMutex;

napi_value RepulsionFft(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value args[4];
  napi_get_cb_info(env, info, &argc, args, nullptr, nullptr);
  if (argc < 4) return Throw(env, "repulsionFft(y, n, force, threads)");
  double* y; double* force; size_t ly, lf;
  int32_t n, threads;
  if (!GetTyped(env, args[0], napi_float64_array, reinterpret_cast<void**>(&y), &ly)) return Throw(env, "y must be a Float64Array");
  napi_get_value_int32(env, args[1], &n);
  if (!GetTyped(env, args[2], napi_float64_array, reinterpret_cast<void**>(&force), &lf)) return Throw(env, "force must be a Float64Array");
  napi_get_value_int32(env, args[3], &threads);
  if (n < 1 || ly < static_cast<size_t>(2 * n) || lf < static_cast<size_t>(2 * n)) return Throw(env, "arrays shorter than 2n");
  std::lock_guard<std::mutex> lock(kernelCacheMutex);
  const double z = fftrep::Repulsion(y, n, force, std::max(1, threads), kernelCache);
  napi_value out;
  napi_create_double(env, z, &out);
  return out;
}

// ---- Training kernels: convolutions and matrix products on float32 buffers (tfjs tensors in wasm memory). ----

bool GetF32(napi_env env, napi_value v, float** data, size_t* length) {
  return GetTyped(env, v, napi_float32_array, reinterpret_cast<void**>(data), length);
}

bool ReadGeometry(napi_env env, napi_value v, conv::Geometry* g) {
  int32_t* p; size_t len;
  if (!GetTyped(env, v, napi_int32_array, reinterpret_cast<void**>(&p), &len) || len < 13) return false;
  *g = {p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], p[9], p[10], p[11], p[12]};
  return g->batch > 0 && g->inH > 0 && g->inW > 0 && g->inC > 0 && g->outH > 0 && g->outW > 0 && g->outC > 0 &&
         g->kH > 0 && g->kW > 0 && g->strideH > 0 && g->strideW > 0;
}

// conv2d(x, w, out, geometry: Int32Array(13), threads), conv2dBackpropInput(dy, w, dx, geometry, threads),
// conv2dBackpropFilter(x, dy, dw, geometry, threads). Geometry: batch, inH, inW, inC, outH, outW, outC, kH, kW,
// strideH, strideW, padTop, padLeft.
template <int Which>
napi_value ConvOp(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value args[5];
  napi_get_cb_info(env, info, &argc, args, nullptr, nullptr);
  float *a, *b, *out; size_t la, lb, lo;
  conv::Geometry g;
  int32_t threads = 1;
  if (argc < 5 || !GetF32(env, args[0], &a, &la) || !GetF32(env, args[1], &b, &lb) || !GetF32(env, args[2], &out, &lo) ||
      !ReadGeometry(env, args[3], &g)) return Throw(env, "conv: (Float32Array, Float32Array, Float32Array, Int32Array geometry, threads)");
  napi_get_value_int32(env, args[4], &threads);
  const size_t xSize = static_cast<size_t>(g.batch) * g.inH * g.inW * g.inC, ySize = static_cast<size_t>(g.Rows()) * g.outC;
  const size_t wSize = static_cast<size_t>(g.K()) * g.outC;
  const size_t need[3][3] = {{xSize, wSize, ySize}, {ySize, wSize, xSize}, {xSize, ySize, wSize}};
  if (la < need[Which][0] || lb < need[Which][1] || lo < need[Which][2]) return Throw(env, "conv: buffer sizes do not match the geometry");
  if (Which == 0) conv::Forward(a, b, out, g, threads);
  else if (Which == 1) conv::BackpropInput(a, b, out, g, threads);
  else conv::BackpropFilter(a, b, out, g, threads);
  return nullptr;
}

// matmul(a, b, c, batch, m, n, k, transA, transB, broadcastB, threads): for each batch index,
// c[m x n] = op(a)[m x k] op(b)[k x n]; broadcastB: b has batch 1.
napi_value MatMul(napi_env env, napi_callback_info info) {
  size_t argc = 11;
  napi_value args[11];
  napi_get_cb_info(env, info, &argc, args, nullptr, nullptr);
  float *a, *b, *c; size_t la, lb, lc;
  if (argc < 11 || !GetF32(env, args[0], &a, &la) || !GetF32(env, args[1], &b, &lb) || !GetF32(env, args[2], &c, &lc))
    return Throw(env, "matmul(a, b, c, batch, m, n, k, transA, transB, broadcastB, threads)");
  int32_t batch, m, n, k, threads; bool transA, transB, broadcastB;
  napi_get_value_int32(env, args[3], &batch);
  napi_get_value_int32(env, args[4], &m);
  napi_get_value_int32(env, args[5], &n);
  napi_get_value_int32(env, args[6], &k);
  napi_get_value_bool(env, args[7], &transA);
  napi_get_value_bool(env, args[8], &transB);
  napi_get_value_bool(env, args[9], &broadcastB);
  napi_get_value_int32(env, args[10], &threads);
  const size_t sa = static_cast<size_t>(m) * k, sb = static_cast<size_t>(k) * n, sc = static_cast<size_t>(m) * n;
  if (batch < 1 || m < 0 || n < 0 || k < 0 || la < sa * batch || lb < sb * (broadcastB ? 1 : batch) || lc < sc * batch)
    return Throw(env, "matmul: buffer sizes do not match");
  for (int t = 0; t < batch; t++) {
    const gemm::Matrix am{a + sa * t, transA ? m : k, transA};
    const gemm::Matrix bm{b + (broadcastB ? 0 : sb * t), transB ? k : n, transB};
    gemm::Sgemm(m, n, k, am, bm, c + sc * t, n, false, threads);
  }
  return nullptr;
}

// sumRows(x, rows, cols, out, scale, threads): out[c] = scale * sum_r x[r, c], accumulated in double. The
// per-channel reductions of batch norm and bias gradients (NHWC tensors summed over N, H, W).
napi_value SumRows(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value args[6];
  napi_get_cb_info(env, info, &argc, args, nullptr, nullptr);
  float *x, *out; size_t lx, lo;
  int32_t rows, cols, threads; double scale;
  if (argc < 6 || !GetF32(env, args[0], &x, &lx) || !GetF32(env, args[3], &out, &lo)) return Throw(env, "sumRows(x, rows, cols, out, scale, threads)");
  napi_get_value_int32(env, args[1], &rows);
  napi_get_value_int32(env, args[2], &cols);
  napi_get_value_double(env, args[4], &scale);
  napi_get_value_int32(env, args[5], &threads);
  if (rows < 1 || cols < 1 || lx < static_cast<size_t>(rows) * cols || lo < static_cast<size_t>(cols)) return Throw(env, "sumRows: sizes do not match");
  threads = std::max(1, std::min(threads, static_cast<int>((static_cast<int64_t>(rows) * cols) >> 16)));
  std::vector<std::vector<double>> partial(threads, std::vector<double>(cols, 0.0));
  For(rows, threads, [&](int t, int from, int to) {
    double* acc = partial[t].data();
    for (int r = from; r < to; r++) {
      const float* row = x + static_cast<size_t>(r) * cols;
      for (int c = 0; c < cols; c++) acc[c] += row[c];
    }
  }, 1);
  for (int c = 0; c < cols; c++) {
    double sum = 0;
    for (int t = 0; t < threads; t++) sum += partial[t][c];
    out[c] = static_cast<float>(sum * scale);
  }
  return nullptr;
}

// A Float32Array argument that may also be null or undefined (the dropout mask).
bool GetOptionalF32(napi_env env, napi_value v, float** data, size_t* length) {
  napi_valuetype type;
  napi_typeof(env, v, &type);
  if (type == napi_null || type == napi_undefined) { *data = nullptr; *length = 0; return true; }
  return GetF32(env, v, data, length);
}

bool ReadInts(napi_env env, const napi_value* args, int count, int32_t* out) {
  for (int i = 0; i < count; i++)
    if (napi_get_value_int32(env, args[i], &out[i]) != napi_ok) return false;
  return true;
}

// denseForward(x, w, b, mask | null, y, batch, in, out, activation, threads): y = act(x w + b) (* mask).
napi_value DenseForward(napi_env env, napi_callback_info info) {
  size_t argc = 10;
  napi_value args[10];
  napi_get_cb_info(env, info, &argc, args, nullptr, nullptr);
  float *x, *w, *b, *mask, *y; size_t lx, lw, lb, lm, ly;
  int32_t dims[5];  // batch, in, out, activation, threads
  if (argc < 10 || !GetF32(env, args[0], &x, &lx) || !GetF32(env, args[1], &w, &lw) || !GetF32(env, args[2], &b, &lb) ||
      !GetOptionalF32(env, args[3], &mask, &lm) || !GetF32(env, args[4], &y, &ly) || !ReadInts(env, args + 5, 5, dims))
    return Throw(env, "denseForward(x, w, b, mask | null, y, batch, in, out, activation, threads)");
  const auto [batch, in, out, act, threads] = dims;
  const size_t ys = static_cast<size_t>(batch) * out;
  if (batch < 1 || in < 1 || out < 1 || act < 0 || act > 2 || lx < static_cast<size_t>(batch) * in || lw < static_cast<size_t>(in) * out ||
      lb < static_cast<size_t>(out) || ly < ys || (mask && lm < ys))
    return Throw(env, "denseForward: buffer sizes do not match");
  dense::Forward(x, w, b, mask, y, batch, in, out, act, threads);
  return nullptr;
}

// denseBackpropParams(dy, x, y, mask | null, dz, dw, db, batch, in, out, activation, threads).
napi_value DenseBackpropParams(napi_env env, napi_callback_info info) {
  size_t argc = 12;
  napi_value args[12];
  napi_get_cb_info(env, info, &argc, args, nullptr, nullptr);
  float *dy, *x, *y, *mask, *dz, *dw, *db; size_t ldy, lx, ly, lm, ldz, ldw, ldb;
  int32_t dims[5];
  if (argc < 12 || !GetF32(env, args[0], &dy, &ldy) || !GetF32(env, args[1], &x, &lx) || !GetF32(env, args[2], &y, &ly) ||
      !GetOptionalF32(env, args[3], &mask, &lm) || !GetF32(env, args[4], &dz, &ldz) || !GetF32(env, args[5], &dw, &ldw) ||
      !GetF32(env, args[6], &db, &ldb) || !ReadInts(env, args + 7, 5, dims))
    return Throw(env, "denseBackpropParams(dy, x, y, mask | null, dz, dw, db, batch, in, out, activation, threads)");
  const auto [batch, in, out, act, threads] = dims;
  const size_t ys = static_cast<size_t>(batch) * out;
  if (batch < 1 || in < 1 || out < 1 || act < 0 || act > 2 || ldy < ys || ly < ys || ldz < ys || (mask && lm < ys) ||
      lx < static_cast<size_t>(batch) * in || ldw < static_cast<size_t>(in) * out || ldb < static_cast<size_t>(out))
    return Throw(env, "denseBackpropParams: buffer sizes do not match");
  dense::BackpropParams(dy, x, y, mask, dz, dw, db, batch, in, out, act, threads);
  return nullptr;
}

// adam(p, g, m, v, lr, beta1, beta2, epsilon, c1, c2, threads): one Adam step on p, m, v in place, where
// c1 = 1 - beta1^t and c2 = 1 - beta2^t.
napi_value Adam(napi_env env, napi_callback_info info) {
  size_t argc = 11;
  napi_value args[11];
  napi_get_cb_info(env, info, &argc, args, nullptr, nullptr);
  float *p, *g, *m, *v; size_t lp, lg, lm, lv;
  double h[6];
  int32_t threads = 1;
  bool ok = argc >= 11 && GetF32(env, args[0], &p, &lp) && GetF32(env, args[1], &g, &lg) && GetF32(env, args[2], &m, &lm) &&
            GetF32(env, args[3], &v, &lv);
  for (int i = 0; ok && i < 6; i++) ok = napi_get_value_double(env, args[4 + i], &h[i]) == napi_ok;
  if (!ok || napi_get_value_int32(env, args[10], &threads) != napi_ok) return Throw(env, "adam(p, g, m, v, lr, beta1, beta2, epsilon, c1, c2, threads)");
  if (lg != lp || lm != lp || lv != lp) return Throw(env, "adam: p, g, m and v must have the same length");
  // Single-precision constants as TensorFlow.js's scalars hold them (1 - beta is taken in double first, as there).
  const dense::AdamParams a{static_cast<float>(h[0]), static_cast<float>(h[1]), static_cast<float>(h[2]), static_cast<float>(1 - h[1]),
                            static_cast<float>(1 - h[2]), static_cast<float>(h[3]), static_cast<float>(h[4]), static_cast<float>(h[5])};
  dense::Adam(p, g, m, v, lp, a, threads);
  return nullptr;
}

// dropoutMask(state: Uint32Array(4), rate, keep, out: Float32Array): out[i] = u_i >= rate ? keep : 0, where u_i
// are the uniform draws (uint32 / 2^32) of src/util/rng.ts's sfc32 generator continuing from `state` — the very
// values Rng.fillUniform would give, so native and JavaScript masks are identical.
napi_value DropoutMask(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value args[4];
  napi_get_cb_info(env, info, &argc, args, nullptr, nullptr);
  uint32_t* state; size_t ls; float* out; size_t lo; double rate, keep;
  if (argc < 4 || !GetTyped(env, args[0], napi_uint32_array, reinterpret_cast<void**>(&state), &ls) || ls < 4 ||
      napi_get_value_double(env, args[1], &rate) != napi_ok || napi_get_value_double(env, args[2], &keep) != napi_ok ||
      !GetF32(env, args[3], &out, &lo))
    return Throw(env, "dropoutMask(state: Uint32Array(4), rate, keep, out: Float32Array)");
  uint32_t a = state[0], b = state[1], c = state[2], d = state[3];
  const float kept = static_cast<float>(keep);
  for (size_t i = 0; i < lo; i++) {
    const uint32_t t = a + b + d;
    d += 1;
    a = b ^ (b >> 9);
    b = c + (c << 3);
    c = (c << 21) | (c >> 11);
    c += t;
    out[i] = static_cast<double>(t) / 4294967296.0 >= rate ? kept : 0.0f;
  }
  return nullptr;
}

// mse(p, t) -> mean (p - t)^2 (accumulated in double); mseGrad(p, t, dLoss, out): out = 2 dLoss (p - t) / n.
napi_value Mse(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value args[2];
  napi_get_cb_info(env, info, &argc, args, nullptr, nullptr);
  float *p, *t; size_t lp, lt;
  if (argc < 2 || !GetF32(env, args[0], &p, &lp) || !GetF32(env, args[1], &t, &lt) || lp != lt || lp == 0)
    return Throw(env, "mse(p, t): two Float32Arrays of one non-zero length");
  napi_value out;
  napi_create_double(env, dense::MeanSquaredError(p, t, lp), &out);
  return out;
}

napi_value MseGrad(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value args[4];
  napi_get_cb_info(env, info, &argc, args, nullptr, nullptr);
  float *p, *t, *out; size_t lp, lt, lo; double dLoss;
  if (argc < 4 || !GetF32(env, args[0], &p, &lp) || !GetF32(env, args[1], &t, &lt) || napi_get_value_double(env, args[2], &dLoss) != napi_ok ||
      !GetF32(env, args[3], &out, &lo) || lp != lt || lo != lp || lp == 0)
    return Throw(env, "mseGrad(p, t, dLoss, out): Float32Arrays of one non-zero length");
  dense::MeanSquaredErrorGrad(p, t, static_cast<float>(dLoss), out, lp);
  return nullptr;
}

// batchNormRelu(x, gamma, beta, epsilon, y, mean, variance, rows, channels, threads): training-mode batch norm
// over [rows, channels] then ReLU; mean and (biased) variance per channel are outputs too (native/batchnorm.hpp).
napi_value BatchNormRelu(napi_env env, napi_callback_info info) {
  size_t argc = 10;
  napi_value args[10];
  napi_get_cb_info(env, info, &argc, args, nullptr, nullptr);
  float *x, *gamma, *beta, *y, *mean, *var; size_t lx, lg, lb, ly, lm, lv; double eps;
  int32_t dims[3];  // rows, channels, threads
  if (argc < 10 || !GetF32(env, args[0], &x, &lx) || !GetF32(env, args[1], &gamma, &lg) || !GetF32(env, args[2], &beta, &lb) ||
      napi_get_value_double(env, args[3], &eps) != napi_ok || !GetF32(env, args[4], &y, &ly) || !GetF32(env, args[5], &mean, &lm) ||
      !GetF32(env, args[6], &var, &lv) || !ReadInts(env, args + 7, 3, dims))
    return Throw(env, "batchNormRelu(x, gamma, beta, epsilon, y, mean, variance, rows, channels, threads)");
  const auto [rows, channels, threads] = dims;
  const size_t n = static_cast<size_t>(rows) * channels, c = static_cast<size_t>(channels);
  if (rows < 1 || channels < 1 || lx < n || ly < n || lg < c || lb < c || lm < c || lv < c) return Throw(env, "batchNormRelu: buffer sizes do not match");
  batchnorm::ReluForward(x, gamma, beta, static_cast<float>(eps), y, mean, var, rows, channels, threads);
  return nullptr;
}

// batchNormReluGrad(dy, x, y, gamma, mean, variance, epsilon, dx, dgamma, dbeta, rows, channels, threads).
napi_value BatchNormReluGrad(napi_env env, napi_callback_info info) {
  size_t argc = 13;
  napi_value args[13];
  napi_get_cb_info(env, info, &argc, args, nullptr, nullptr);
  float *dy, *x, *y, *gamma, *mean, *var, *dx, *dgamma, *dbeta; size_t ldy, lx, ly, lg, lm, lv, ldx, ldg, ldb; double eps;
  int32_t dims[3];
  if (argc < 13 || !GetF32(env, args[0], &dy, &ldy) || !GetF32(env, args[1], &x, &lx) || !GetF32(env, args[2], &y, &ly) ||
      !GetF32(env, args[3], &gamma, &lg) || !GetF32(env, args[4], &mean, &lm) || !GetF32(env, args[5], &var, &lv) ||
      napi_get_value_double(env, args[6], &eps) != napi_ok || !GetF32(env, args[7], &dx, &ldx) || !GetF32(env, args[8], &dgamma, &ldg) ||
      !GetF32(env, args[9], &dbeta, &ldb) || !ReadInts(env, args + 10, 3, dims))
    return Throw(env, "batchNormReluGrad(dy, x, y, gamma, mean, variance, epsilon, dx, dgamma, dbeta, rows, channels, threads)");
  const auto [rows, channels, threads] = dims;
  const size_t n = static_cast<size_t>(rows) * channels, c = static_cast<size_t>(channels);
  if (rows < 1 || channels < 1 || ldy < n || lx < n || ly < n || ldx < n || lg < c || lm < c || lv < c || ldg < c || ldb < c)
    return Throw(env, "batchNormReluGrad: buffer sizes do not match");
  batchnorm::ReluBackward(dy, x, y, gamma, mean, var, static_cast<float>(eps), dx, dgamma, dbeta, rows, channels, threads);
  return nullptr;
}

napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"repulsion", nullptr, Repulsion, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"attraction", nullptr, Attraction, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"conditionalP", nullptr, ConditionalP, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"klTerm", nullptr, KlTerm, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"descend", nullptr, Descend, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"knn", nullptr, Knn, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"repulsionFft", nullptr, RepulsionFft, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"conv2d", nullptr, ConvOp<0>, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"conv2dBackpropInput", nullptr, ConvOp<1>, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"conv2dBackpropFilter", nullptr, ConvOp<2>, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"matmul", nullptr, MatMul, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"sumRows", nullptr, SumRows, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"denseForward", nullptr, DenseForward, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"denseBackpropParams", nullptr, DenseBackpropParams, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"adam", nullptr, Adam, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"dropoutMask", nullptr, DropoutMask, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"mse", nullptr, Mse, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"mseGrad", nullptr, MseGrad, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"batchNormRelu", nullptr, BatchNormRelu, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"batchNormReluGrad", nullptr, BatchNormReluGrad, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
