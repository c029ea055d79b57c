// The N-API glue of t-SNE's native functions (tsne.hpp, affinities.hpp, fft_repulsion.hpp, knn.hpp, nndescent.hpp): each reads
// its one options object with napi::Options, checks the sizes and calls the algorithm. ae_native.cc exports them.
#pragma once
#include <node_api.h>
#include <algorithm>
#include <cstdint>
#include <mutex>
#include "affinities.hpp"
#include "fft_repulsion.hpp"
#include "knn.hpp"
#include "napi_options.hpp"
#include "nndescent.hpp"
#include "tsne.hpp"

namespace glue_tsne {

using napi::Options;
using napi::Size;

inline napi_value Repulsion(napi_env env, napi_callback_info info) {
  Options o(env, info, "repulsion");
  const int n = o.Int("n"), threads = o.Int("threads");
  const double theta = o.Number("theta");
  o.Require(n >= 1, "n must be at least 1");
  const double* y = o.Array<double>("y", Size(2, n));
  double* force = o.Array<double>("force", Size(2, n));
  if (!o.ok()) return o.Throw();
  return o.Return(tsne::Repulsion(y, n, theta, force, threads));
}

inline napi_value PlaceOnto(napi_env env, napi_callback_info info) {
  Options o(env, info, "placeOnto");
  const int n = o.Int("n"), m = o.Int("m"), k = o.Int("k"), threads = o.Int("threads");
  const tsne::PlaceStep step{o.Number("exaggeration"), o.Number("lr"), o.Number("momentum"), o.Number("theta"), o.Int("iterations")};
  o.Require(n >= 1 && m >= 0 && k >= 1 && step.iterations >= 0, "sizes do not match (need n >= 1, k >= 1)");
  const double* refY = o.Array<double>("refY", Size(2, n));
  const int32_t* nbIdx = o.Array<int32_t>("indices", Size(m, k));
  const double* p = o.Array<double>("p", Size(m, k));
  double* y = o.Array<double>("y", Size(2, m));
  bool inside = true;
  for (size_t e = 0; o.ok() && e < Size(m, k); e++) inside = inside && nbIdx[e] >= 0 && nbIdx[e] < n;
  o.Require(inside, "indices must lie in [0, n)");
  if (!o.ok()) return o.Throw();
  tsne::PlaceOnto(refY, n, nbIdx, p, k, y, m, step, std::max(1, threads));
  return nullptr;
}

inline fftrep::KernelCache kernelCache;  // the kernel's transform, reused while the grid keeps its size
inline std::mutex kernelCacheMutex;

inline napi_value RepulsionFft(napi_env env, napi_callback_info info) {
  Options o(env, info, "repulsionFft");
  const int n = o.Int("n"), threads = o.Int("threads");
  o.Require(n >= 1, "n must be at least 1");
  const double* y = o.Array<double>("y", Size(2, n));
  double* force = o.Array<double>("force", Size(2, n));
  if (!o.ok()) return o.Throw();
  std::lock_guard<std::mutex> lock(kernelCacheMutex);
  return o.Return(fftrep::Repulsion(y, n, force, std::max(1, threads), kernelCache));
}

// The sparse P (rowPtr, cols, vals with `Val` elements) of n rows; its entry count is checked against cols and vals.
template <typename Val>
inline tsne::SparseP<Val> ReadSparseP(Options& o, int n) {
  const int32_t* rowPtr = o.Array<int32_t>("rowPtr", Size(n) + 1);
  const size_t nnz = rowPtr ? static_cast<size_t>(std::max(0, rowPtr[n])) : 0;
  return {rowPtr, o.Array<int32_t>("cols", nnz), o.Array<Val>("vals", nnz), n};
}

inline napi_value Attraction(napi_env env, napi_callback_info info) {
  Options o(env, info, "attraction");
  const int n = o.Int("n"), threads = o.Int("threads");
  o.Require(n >= 1, "n must be at least 1");
  const double* y = o.Array<double>("y", Size(2, n));
  double* out = o.Array<double>("out", Size(2, n));
  if (o.Is<double>("vals")) {
    const auto p = ReadSparseP<double>(o, n);
    if (!o.ok()) return o.Throw();
    tsne::Attraction(p, y, out, threads);
  } else {
    const auto p = ReadSparseP<float>(o, n);
    if (!o.ok()) return o.Throw();
    tsne::Attraction(p, y, out, threads);
  }
  return nullptr;
}

inline napi_value KlTerm(napi_env env, napi_callback_info info) {
  Options o(env, info, "klTerm");
  const int n = o.Int("n"), threads = o.Int("threads");
  o.Require(n >= 1, "n must be at least 1");
  const double* y = o.Array<double>("y", Size(2, n));
  const auto p = ReadSparseP<float>(o, n);
  if (!o.ok()) return o.Throw();
  return o.Return(tsne::KlTerm(p, y, threads));
}

inline napi_value Descend(napi_env env, napi_callback_info info) {
  Options o(env, info, "descend");
  const int n = o.Int("n");
  const tsne::DescentStep step{o.Number("exaggeration"), o.Number("invZ"), o.Number("momentum"), o.Number("lr")};
  o.Require(n >= 1, "n must be at least 1");
  double* y = o.Array<double>("y", Size(2, n));
  const double* attr = o.Array<double>("attr", Size(2, n));
  const double* rep = o.Array<double>("rep", Size(2, n));
  double* update = o.Array<double>("update", Size(2, n));
  double* gains = o.Array<double>("gains", Size(2, n));
  if (!o.ok()) return o.Throw();
  tsne::Descend(y, attr, rep, update, gains, n, step);
  return nullptr;
}

inline napi_value ConditionalP(napi_env env, napi_callback_info info) {
  Options o(env, info, "conditionalP");
  const int n = o.Int("n"), k = o.Int("k"), maxIter = o.Int("maxIter"), threads = o.Int("threads");
  const double perplexity = o.Number("perplexity"), tol = o.Number("tol");
  o.Require(n >= 1 && k >= 1, "n and k must be at least 1");
  const float* distances = o.Array<float>("distances", Size(n, k));
  double* out = o.Array<double>("out", Size(n, k));
  if (!o.ok()) return o.Throw();
  tsne::ConditionalP(distances, n, k, perplexity, tol, maxIter, out, threads);
  return nullptr;
}

inline napi_value Symmetrize(napi_env env, napi_callback_info info) {
  Options o(env, info, "symmetrize");
  const int n = o.Int("n"), k = o.Int("k"), threads = o.Int("threads");
  o.Require(n >= 1 && k >= 1, "n and k must be at least 1");
  o.Require(2.0 * n * k < 2147483647.0, "2 n k entries must fit a 32-bit row pointer");
  const int32_t* indices = o.Array<int32_t>("indices", Size(n, k));
  const double* cond = o.Array<double>("cond", Size(n, k));
  int32_t* rowPtr = o.Array<int32_t>("rowPtr", Size(n) + 1);
  int32_t* cols = o.Array<int32_t>("cols", 2 * Size(n, k));
  double* vals = o.Array<double>("vals", 2 * Size(n, k));
  bool inside = true;
  for (size_t e = 0; o.ok() && e < Size(n, k); e++) inside = inside && indices[e] >= 0 && indices[e] < n && indices[e] != static_cast<int32_t>(e / k);
  o.Require(inside, "indices must lie in [0, n), a point not among its own neighbours");
  if (!o.ok()) return o.Throw();
  return o.Return(static_cast<double>(affinities::Symmetrize(indices, cond, n, k, rowPtr, cols, vals, std::max(1, threads))));
}

inline napi_value PermuteP(napi_env env, napi_callback_info info) {
  Options o(env, info, "permuteP");
  const int n = o.Int("n"), threads = o.Int("threads");
  o.Require(n >= 1, "n must be at least 1");
  const int32_t* rowPtr = o.Array<int32_t>("rowPtr", Size(n) + 1);
  const int32_t* order = o.Array<int32_t>("order", Size(n));
  int32_t* outRowPtr = o.Array<int32_t>("outRowPtr", Size(n) + 1);
  const size_t nnz = o.ok() && rowPtr[0] == 0 && rowPtr[n] >= 0 ? static_cast<size_t>(rowPtr[n]) : 0;
  const int32_t* cols = o.Array<int32_t>("cols", nnz);
  const double* vals = o.Array<double>("vals", nnz);
  int32_t* outCols = o.Array<int32_t>("outCols", nnz);
  double* outVals = o.Array<double>("outVals", nnz);
  bool valid = o.ok() && rowPtr[0] == 0;
  for (int i = 0; valid && i < n; i++) valid = rowPtr[i] <= rowPtr[i + 1];
  for (size_t c = 0; valid && c < nnz; c++) valid = cols[c] >= 0 && cols[c] < n;
  std::vector<uint8_t> seen(valid ? static_cast<size_t>(n) : 0, 0);
  for (int r = 0; valid && r < n; r++) valid = order[r] >= 0 && order[r] < n && !seen[order[r]]++;
  o.Require(valid, "rowPtr must rise from 0, cols lie in [0, n) and order be a permutation of [0, n)");
  if (!o.ok()) return o.Throw();
  affinities::Permute(n, rowPtr, cols, vals, order, outRowPtr, outCols, outVals, std::max(1, threads));
  return nullptr;
}

inline napi_value ToFloat32(napi_env env, napi_callback_info info) {
  Options o(env, info, "toFloat32");
  const int count = o.Int("count"), threads = o.Int("threads");
  o.Require(count >= 0, "count must not be negative");
  const double* from = o.Array<double>("from", Size(count));
  float* to = o.Array<float>("to", Size(count));
  if (!o.ok()) return o.Throw();
  affinities::Narrow(from, Size(count), to, std::max(1, threads));
  return nullptr;
}

inline napi_value Knn(napi_env env, napi_callback_info info) {
  Options o(env, info, "knn");
  const int n = o.Int("n"), dim = o.Int("dim"), k = o.Int("k"), threads = o.Int("threads");
  o.Require(n >= 2 && dim >= 1 && k >= 1 && k < n, "sizes do not match (need 1 <= k < n, dim >= 1)");
  const float* data = o.Array<float>("data", Size(n, dim));
  int32_t* indices = o.Array<int32_t>("indices", Size(n, k));
  float* distances = o.Array<float>("distances", Size(n, k));
  if (!o.ok()) return o.Throw();
  const knn::Layout layout = knn::BuildLayout(data, n, dim);
  const knn::Queries self = knn::SelfQueries(layout);
  parallel::For(n, threads, [&](int, int from, int to) { knn::SearchRows(layout, k, indices, distances, from, to, self); });
  return nullptr;
}

inline napi_value KnnQuery(napi_env env, napi_callback_info info) {
  Options o(env, info, "knnQuery");
  const int nRef = o.Int("nRef"), nQuery = o.Int("nQuery"), dim = o.Int("dim"), k = o.Int("k"), threads = o.Int("threads");
  o.Require(nRef >= 1 && nQuery >= 0 && dim >= 1 && k >= 1 && k <= nRef, "sizes do not match (need 1 <= k <= nRef, dim >= 1)");
  const float* ref = o.Array<float>("ref", Size(nRef, dim));
  const float* queries = o.Array<float>("queries", Size(nQuery, dim));
  int32_t* indices = o.Array<int32_t>("indices", Size(nQuery, k));
  float* distances = o.Array<float>("distances", Size(nQuery, k));
  if (!o.ok()) return o.Throw();
  const knn::Layout layout = knn::BuildLayout(ref, nRef, dim);
  const std::vector<float> norms = knn::RowNorms(queries, nQuery, dim);
  const knn::Queries q{queries, norms.data(), false};
  parallel::For(nQuery, threads, [&](int, int from, int to) { knn::SearchRows(layout, k, indices, distances, from, to, q); });
  return nullptr;
}

inline napi_value ApproxKnn(napi_env env, napi_callback_info info) {
  Options o(env, info, "approxKnn");
  const int n = o.Int("n"), dim = o.Int("dim"), k = o.Int("k"), threads = o.Int("threads");
  const nnd::Params params{k, o.Int("trees"), o.Int("leafSize"), o.Int("maxCandidates"), o.Int("maxRounds"), o.Number("delta"),
                           static_cast<uint64_t>(o.Number("seed"))};
  o.Require(n >= 2 && dim >= 1 && k >= 1 && k < n, "sizes do not match (need 1 <= k < n, dim >= 1)");
  o.Require(params.trees >= 1 && params.leafSize >= 2 && params.maxCandidates >= 1 && params.maxRounds >= 0,
            "trees, leafSize, maxCandidates must be positive");
  const float* data = o.Array<float>("data", Size(n, dim));
  int32_t* indices = o.Array<int32_t>("indices", Size(n, k));
  float* distances = o.Array<float>("distances", Size(n, k));
  if (!o.ok()) return o.Throw();
  return o.Return(nnd::Search(data, n, dim, params, indices, distances, std::max(1, threads)));
}

}  // namespace glue_tsne
