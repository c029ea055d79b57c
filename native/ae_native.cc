// The addon's N-API glue, and only that: each exported function reads its one options object (field names as
// declared in src/accel/addon.ts) with napi::Options, checks that the sizes agree, and calls the algorithm in
// its header. t-SNE's functions (gradient sums, perplexity search, FFT repulsion, exact and approximate
// neighbours, placing new points) have their glue in glue_tsne.hpp; here: training's convolutions (conv.hpp), matrix
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
#include "gemm.hpp"
#include "glue_tsne.hpp"
#include "napi_options.hpp"
#include "reduce.hpp"

namespace {

using napi::Options;

using napi::Size;

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

// Which vector path the matrix products take on this CPU: "avx512", "avx2" or "baseline" (benchmarks print it,
// tests compare the paths).
napi_value GemmPath(napi_env env, napi_callback_info) {
  const char* path = simd::HasAvx512() ? "avx512" : simd::HasAvx2() ? "avx2" : "baseline";
  napi_value out;
  napi_create_string_utf8(env, path, NAPI_AUTO_LENGTH, &out);
  return out;
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

napi_value Bce(napi_env env, napi_callback_info info) {
  Options o(env, info, "bce");
  const double epsilon = o.Number("epsilon"), scale = o.Number("scale");
  size_t n = 0;
  const float* p = o.Array<float>("pred", 1, &n);
  const float* t = o.Array<float>("target", n);
  o.Require(epsilon > 0 && epsilon < 0.5, "epsilon must lie in (0, 0.5)");
  if (!o.ok()) return o.Throw();
  return o.Return(dense::BinaryCrossEntropy(p, t, n, epsilon, scale));
}

napi_value BceGrad(napi_env env, napi_callback_info info) {
  Options o(env, info, "bceGrad");
  const double epsilon = o.Number("epsilon"), scale = o.Number("scale");
  size_t n = 0;
  const float* p = o.Array<float>("pred", 1, &n);
  const float* t = o.Array<float>("target", n);
  float* out = o.Array<float>("out", n);
  o.Require(epsilon > 0 && epsilon < 0.5, "epsilon must lie in (0, 0.5)");
  if (!o.ok()) return o.Throw();
  dense::BinaryCrossEntropyGrad(p, t, epsilon, scale, out, n);
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
    {"repulsion", glue_tsne::Repulsion},
    {"repulsionFft", glue_tsne::RepulsionFft},
    {"placeOnto", glue_tsne::PlaceOnto},
    {"attraction", glue_tsne::Attraction},
    {"klTerm", glue_tsne::KlTerm},
    {"descend", glue_tsne::Descend},
    {"conditionalP", glue_tsne::ConditionalP},
    {"symmetrize", glue_tsne::Symmetrize},
    {"permuteP", glue_tsne::PermuteP},
    {"toFloat32", glue_tsne::ToFloat32},
    {"knn", glue_tsne::Knn},
    {"knnQuery", glue_tsne::KnnQuery},
    {"approxKnn", glue_tsne::ApproxKnn},
    {"conv2d", ConvOp<0>},
    {"conv2dBackpropInput", ConvOp<1>},
    {"conv2dBackpropFilter", ConvOp<2>},
    {"matmul", MatMul},
    {"gemmPath", GemmPath},
    {"sumRows", SumRows},
    {"denseForward", DenseForward},
    {"denseBackpropParams", DenseBackpropParams},
    {"adam", Adam},
    {"dropoutMask", DropoutMask},
    {"mse", Mse},
    {"mseGrad", MseGrad},
    {"bce", Bce},
    {"bceGrad", BceGrad},
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
