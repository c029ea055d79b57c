// The addon's N-API glue, and only that: each exported function reads its one options object (field names as
// declared in src/accel/addon.ts) with napi::Options, checks that the sizes agree, and calls the algorithm in
// its header. The algorithms: t-SNE's gradient sums and perplexity search (tsne.hpp), FFT repulsion
// (fft_repulsion.hpp), exact k nearest neighbours (knn.hpp), approximate ones
// (nndescent.hpp); training's convolutions (conv.hpp), matrix
// products (gemm.hpp), column sums (reduce.hpp), fused dense layer, loss and Adam step (dense.hpp), batch norm +
// ReLU (batchnorm.hpp) and dropout masks (dropout.hpp). Optional: without it, src/ runs the same algorithms in
// TypeScript and TensorFlow.js's wasm kernels (tests compare each pair).
#include "glibcxx_compat.hpp"  // first: it binds libstdc++ symbols for the prebuilds
#include <node_api.h>
#include <algorithm>
#include <cstdint>
#include <mutex>
#include "batchnorm.hpp"
#include "conv.hpp"
#include "dense.hpp"
#include "dropout.hpp"
#include "fft_repulsion.hpp"
#include "gemm.hpp"
#include "knn.hpp"
#include "napi_options.hpp"
#include "nndescent.hpp"
#include "reduce.hpp"
#include "tsne.hpp"

namespace {

using napi::Options;

size_t Size(int64_t a, int64_t b = 1) { return static_cast<size_t>(a) * static_cast<size_t>(b); }

// ---- t-SNE ----

napi_value Repulsion(napi_env env, napi_callback_info info) {
  Options o(env, info, "repulsion");
  const int n = o.Int("n"), threads = o.Int("threads");
  const double theta = o.Number("theta");
  o.Require(n >= 1, "n must be at least 1");
  const double* y = o.Array<double>("y", Size(2, n));
  double* force = o.Array<double>("force", Size(2, n));
  if (!o.ok()) return o.Throw();
  return o.Return(tsne::Repulsion(y, n, theta, force, threads));
}

napi_value PlaceOnto(napi_env env, napi_callback_info info) {
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

fftrep::KernelCache kernelCache;  // the kernel's transform, reused while the grid keeps its size
std::mutex kernelCacheMutex;

napi_value RepulsionFft(napi_env env, napi_callback_info info) {
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
tsne::SparseP<Val> ReadSparseP(Options& o, int n) {
  const int32_t* rowPtr = o.Array<int32_t>("rowPtr", Size(n) + 1);
  const size_t nnz = rowPtr ? static_cast<size_t>(std::max(0, rowPtr[n])) : 0;
  return {rowPtr, o.Array<int32_t>("cols", nnz), o.Array<Val>("vals", nnz), n};
}

napi_value Attraction(napi_env env, napi_callback_info info) {
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

napi_value KlTerm(napi_env env, napi_callback_info info) {
  Options o(env, info, "klTerm");
  const int n = o.Int("n"), threads = o.Int("threads");
  o.Require(n >= 1, "n must be at least 1");
  const double* y = o.Array<double>("y", Size(2, n));
  const auto p = ReadSparseP<float>(o, n);
  if (!o.ok()) return o.Throw();
  return o.Return(tsne::KlTerm(p, y, threads));
}

napi_value Descend(napi_env env, napi_callback_info info) {
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

napi_value ConditionalP(napi_env env, napi_callback_info info) {
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

napi_value Knn(napi_env env, napi_callback_info info) {
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

napi_value KnnQuery(napi_env env, napi_callback_info info) {
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

napi_value ApproxKnn(napi_env env, napi_callback_info info) {
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

// ---- Training (float32 buffers, usually views of TensorFlow.js's wasm memory) ----

// conv2d(x, filter -> y), conv2dBackpropInput(dy, filter -> dx), conv2dBackpropFilter(x, dy -> dw): inputs `a`
// and `b`, output `out`; geometry: Int32Array [batch, inH, inW, inC, outH, outW, outC, kH, kW, strideH,
// strideW, padTop, padLeft].
template <int Which>
napi_value ConvOp(napi_env env, napi_callback_info info) {
  static const char* const kNames[] = {"conv2d", "conv2dBackpropInput", "conv2dBackpropFilter"};
  Options o(env, info, kNames[Which]);
  const int threads = o.Int("threads");
  const int32_t* p = o.Array<int32_t>("geometry", 13);
  if (!o.ok()) return o.Throw();
  const conv::Geometry g{p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], p[9], p[10], p[11], p[12]};
  o.Require(g.batch > 0 && g.inH > 0 && g.inW > 0 && g.inC > 0 && g.outH > 0 && g.outW > 0 && g.outC > 0 && g.kH > 0 && g.kW > 0 &&
            g.strideH > 0 && g.strideW > 0, "geometry must be positive (pads may be 0)");
  const size_t x = Size(g.batch, g.inH) * g.inW * g.inC, y = Size(g.Rows(), g.outC), w = Size(g.K(), g.outC);
  const size_t need[3][3] = {{x, w, y}, {y, w, x}, {x, y, w}};
  const float* a = o.Array<float>("a", need[Which][0]);
  const float* b = o.Array<float>("b", need[Which][1]);
  float* out = o.Array<float>("out", need[Which][2]);
  if (!o.ok()) return o.Throw();
  if (Which == 0) conv::Forward(a, b, out, g, threads);
  else if (Which == 1) conv::BackpropInput(a, b, out, g, threads);
  else conv::BackpropFilter(a, b, out, g, threads);
  return nullptr;
}

napi_value MatMul(napi_env env, napi_callback_info info) {
  Options o(env, info, "matmul");
  const int batch = o.Int("batch"), m = o.Int("m"), n = o.Int("n"), k = o.Int("k"), threads = o.Int("threads");
  const bool transA = o.Bool("transA"), transB = o.Bool("transB"), broadcastB = o.Bool("broadcastB");
  o.Require(batch >= 1 && m >= 0 && n >= 0 && k >= 0, "batch must be at least 1 and m, n, k not negative");
  const float* a = o.Array<float>("a", Size(m, k) * batch);
  const float* b = o.Array<float>("b", Size(k, n) * (broadcastB ? 1 : batch));
  float* c = o.Array<float>("c", Size(m, n) * batch);
  if (!o.ok()) return o.Throw();
  gemm::BatchedSgemm(a, b, c, batch, m, n, k, transA, transB, broadcastB, threads);
  return nullptr;
}

napi_value SumRows(napi_env env, napi_callback_info info) {
  Options o(env, info, "sumRows");
  const int rows = o.Int("rows"), cols = o.Int("cols"), threads = o.Int("threads");
  const double scale = o.Number("scale");
  o.Require(rows >= 1 && cols >= 1, "rows and cols must be at least 1");
  const float* x = o.Array<float>("x", Size(rows, cols));
  float* out = o.Array<float>("out", Size(cols));
  if (!o.ok()) return o.Throw();
  reduce::SumRows(x, rows, cols, out, scale, threads);
  return nullptr;
}

// The dense kernels' sizes: batch, inFeatures, outFeatures, activation (0 linear, 1 relu, 2 sigmoid), threads.
struct DenseDims {
  int batch, in, out, activation, threads;
};

DenseDims ReadDenseDims(Options& o) {
  const DenseDims d{o.Int("batch"), o.Int("inFeatures"), o.Int("outFeatures"), o.Int("activation"), o.Int("threads")};
  o.Require(d.batch >= 1 && d.in >= 1 && d.out >= 1, "batch, inFeatures and outFeatures must be at least 1");
  o.Require(d.activation >= 0 && d.activation <= 2, "activation must be 0 (linear), 1 (relu) or 2 (sigmoid)");
  return d;
}

napi_value DenseForward(napi_env env, napi_callback_info info) {
  Options o(env, info, "denseForward");
  const DenseDims d = ReadDenseDims(o);
  const float* x = o.Array<float>("x", Size(d.batch, d.in));
  const float* w = o.Array<float>("w", Size(d.in, d.out));
  const float* b = o.Array<float>("b", Size(d.out));
  const float* mask = o.OptionalArray<float>("mask", Size(d.batch, d.out));
  float* y = o.Array<float>("y", Size(d.batch, d.out));
  if (!o.ok()) return o.Throw();
  dense::Forward(x, w, b, mask, y, d.batch, d.in, d.out, d.activation, d.threads);
  return nullptr;
}

napi_value DenseBackpropParams(napi_env env, napi_callback_info info) {
  Options o(env, info, "denseBackpropParams");
  const DenseDims d = ReadDenseDims(o);
  const size_t ys = Size(d.batch, d.out);
  const float* dy = o.Array<float>("dy", ys);
  const float* x = o.Array<float>("x", Size(d.batch, d.in));
  const float* y = o.Array<float>("y", ys);
  const float* mask = o.OptionalArray<float>("mask", ys);
  float* dz = o.Array<float>("dz", ys);
  float* dw = o.Array<float>("dw", Size(d.in, d.out));
  float* db = o.Array<float>("db", Size(d.out));
  if (!o.ok()) return o.Throw();
  dense::BackpropParams(dy, x, y, mask, dz, dw, db, d.batch, d.in, d.out, d.activation, d.threads);
  return nullptr;
}

napi_value Adam(napi_env env, napi_callback_info info) {
  Options o(env, info, "adam");
  const double lr = o.Number("lr"), beta1 = o.Number("beta1"), beta2 = o.Number("beta2"), epsilon = o.Number("epsilon");
  const double c1 = o.Number("c1"), c2 = o.Number("c2");
  const int threads = o.Int("threads");
  size_t n = 0;
  float* p = o.Array<float>("p", 0, &n);
  const float* g = o.Array<float>("g", n);
  float* m = o.Array<float>("m", n);
  float* v = o.Array<float>("v", n);
  if (!o.ok()) return o.Throw();
  // Single-precision constants as TensorFlow.js's scalars hold them (1 - beta is taken in double first, as there).
  const dense::AdamParams a{static_cast<float>(lr), static_cast<float>(beta1), static_cast<float>(beta2), static_cast<float>(1 - beta1),
                            static_cast<float>(1 - beta2), static_cast<float>(epsilon), static_cast<float>(c1), static_cast<float>(c2)};
  dense::Adam(p, g, m, v, n, a, threads);
  return nullptr;
}

napi_value DropoutMask(napi_env env, napi_callback_info info) {
  Options o(env, info, "dropoutMask");
  const double rate = o.Number("rate"), keep = o.Number("keep");
  const uint32_t* state = o.Array<uint32_t>("state", 4);
  size_t n = 0;
  float* out = o.Array<float>("out", 0, &n);
  if (!o.ok()) return o.Throw();
  dropout::Mask(state, rate, static_cast<float>(keep), out, n);
  return nullptr;
}

napi_value Mse(napi_env env, napi_callback_info info) {
  Options o(env, info, "mse");
  size_t n = 0;
  const float* p = o.Array<float>("pred", 1, &n);
  const float* t = o.Array<float>("target", n);
  if (!o.ok()) return o.Throw();
  return o.Return(dense::MeanSquaredError(p, t, n));
}

napi_value MseGrad(napi_env env, napi_callback_info info) {
  Options o(env, info, "mseGrad");
  const double dLoss = o.Number("dLoss");
  size_t n = 0;
  const float* p = o.Array<float>("pred", 1, &n);
  const float* t = o.Array<float>("target", n);
  float* out = o.Array<float>("out", n);
  if (!o.ok()) return o.Throw();
  dense::MeanSquaredErrorGrad(p, t, static_cast<float>(dLoss), out, n);
  return nullptr;
}

// Batch norm's sizes: rows x channels (n elements), c = channels values per statistic.
struct BatchNormDims {
  int rows, channels, threads;
  float epsilon;
  size_t n, c;
};

BatchNormDims ReadBatchNormDims(Options& o) {
  const int rows = o.Int("rows"), channels = o.Int("channels");
  o.Require(rows >= 1 && channels >= 1, "rows and channels must be at least 1");
  return {rows, channels, o.Int("threads"), static_cast<float>(o.Number("epsilon")), Size(rows, channels), Size(channels)};
}

napi_value BatchNormRelu(napi_env env, napi_callback_info info) {
  Options o(env, info, "batchNormRelu");
  const auto [rows, channels, threads, epsilon, n, c] = ReadBatchNormDims(o);
  const float* x = o.Array<float>("x", n);
  const float* gamma = o.Array<float>("gamma", c);
  const float* beta = o.Array<float>("beta", c);
  float* y = o.Array<float>("y", n);
  float* mean = o.Array<float>("mean", c);
  float* variance = o.Array<float>("variance", c);
  if (!o.ok()) return o.Throw();
  batchnorm::ReluForward(x, gamma, beta, epsilon, y, mean, variance, rows, channels, threads);
  return nullptr;
}

napi_value BatchNormReluGrad(napi_env env, napi_callback_info info) {
  Options o(env, info, "batchNormReluGrad");
  const auto [rows, channels, threads, epsilon, n, c] = ReadBatchNormDims(o);
  const float* dy = o.Array<float>("dy", n);
  const float* x = o.Array<float>("x", n);
  const float* y = o.Array<float>("y", n);
  const float* gamma = o.Array<float>("gamma", c);
  const float* mean = o.Array<float>("mean", c);
  const float* variance = o.Array<float>("variance", c);
  float* dx = o.Array<float>("dx", n);
  float* dgamma = o.Array<float>("dgamma", c);
  float* dbeta = o.Array<float>("dbeta", c);
  if (!o.ok()) return o.Throw();
  batchnorm::ReluBackward(dy, x, y, gamma, mean, variance, epsilon, dx, dgamma, dbeta, rows, channels, threads);
  return nullptr;
}

struct Export {
  const char* name;
  napi_callback function;
};

constexpr Export kExports[] = {
    {"repulsion", Repulsion},
    {"repulsionFft", RepulsionFft},
    {"placeOnto", PlaceOnto},
    {"attraction", Attraction},
    {"klTerm", KlTerm},
    {"descend", Descend},
    {"conditionalP", ConditionalP},
    {"knn", Knn},
    {"knnQuery", KnnQuery},
    {"approxKnn", ApproxKnn},
    {"conv2d", ConvOp<0>},
    {"conv2dBackpropInput", ConvOp<1>},
    {"conv2dBackpropFilter", ConvOp<2>},
    {"matmul", MatMul},
    {"sumRows", SumRows},
    {"denseForward", DenseForward},
    {"denseBackpropParams", DenseBackpropParams},
    {"adam", Adam},
    {"dropoutMask", DropoutMask},
    {"mse", Mse},
    {"mseGrad", MseGrad},
    {"batchNormRelu", BatchNormRelu},
    {"batchNormReluGrad", BatchNormReluGrad},
};

napi_value Init(napi_env env, napi_value exports) {
  for (const Export& e : kExports) {
    napi_value fn;
    napi_create_function(env, e.name, NAPI_AUTO_LENGTH, e.function, nullptr, &fn);
    napi_set_named_property(env, exports, e.name, fn);
  }
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
