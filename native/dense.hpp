// The autoencoder's fully connected layer and its optimizer step as single native calls:
//   Forward:         y = act(x W + b) (* dropout mask)
//   BackpropParams:  dz = dy * act'(y) (* mask), db = sum over rows of dz, dW = x^T dz  (dx = dz W^T is a plain
//                    matrix product, left to the BatchMatMul kernel so it runs only when x needs a gradient)
//   Adam:            the whole update of one variable, in place, in one pass over memory.
//   MeanSquaredError, BinaryCrossEntropy and their gradients: the reconstruction losses in one pass each.
// TensorFlow.js runs each of these as 5-15 separate kernels, each a pass over memory plus JavaScript dispatch.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>
#include "gemm.hpp"
#include "parallel.hpp"
#include "simd.hpp"

namespace dense {

enum Activation { kLinear = 0, kRelu = 1, kSigmoid = 2 };

struct AdamParams {
  float lr, beta1, beta2, oneMinusBeta1, oneMinusBeta2, eps, c1, c2;
};

// One copy of the element-wise loops per instruction set, each with its vector width. (The baseline copy passes
// 8-float vectors between inline functions, which GCC's -Wpsabi warns about: the ABI differs from the AVX one,
// which does not matter inside one library. binding.gyp turns that warning off.)
namespace baseline {
typedef simd::V8 VF;
typedef int32_t IF __attribute__((vector_size(32)));
#include "dense_elementwise.inc"
}  // namespace baseline
#if SIMD_HAS_AVX2_PATH
#pragma GCC push_options
#pragma GCC target("avx2,fma")
namespace avx2 {
typedef simd::V8 VF;
typedef int32_t IF __attribute__((vector_size(32)));
#include "dense_elementwise.inc"
}  // namespace avx2
#pragma GCC pop_options
#endif
#if SIMD_HAS_AVX512_PATH
#pragma GCC push_options
#pragma GCC target("avx512f,avx512vl,avx2,fma")
namespace avx512 {
typedef float VF __attribute__((vector_size(64)));
typedef int32_t IF __attribute__((vector_size(64)));
#include "dense_elementwise.inc"
}  // namespace avx512
#pragma GCC pop_options
#endif

#if SIMD_HAS_AVX512_PATH
#define DENSE_DISPATCH(fn, ...) \
  (simd::HasAvx512() ? avx512::fn(__VA_ARGS__) : simd::HasAvx2() ? avx2::fn(__VA_ARGS__) : baseline::fn(__VA_ARGS__))
#elif SIMD_HAS_AVX2_PATH
#define DENSE_DISPATCH(fn, ...) (simd::HasAvx2() ? avx2::fn(__VA_ARGS__) : baseline::fn(__VA_ARGS__))
#else
#define DENSE_DISPATCH(fn, ...) baseline::fn(__VA_ARGS__)
#endif

/** y[batch x out] = act(x[batch x in] w[in x out] + b) (* mask); mask may be null. */
inline void Forward(const float* x, const float* w, const float* b, const float* mask, float* y, int batch, int in, int out,
                    int act, int threads) {
  gemm::Sgemm(batch, out, in, gemm::Matrix{x, in, false}, gemm::Matrix{w, out, false}, y, out, false, threads);
  const int rowsPerThread = std::max(1, (1 << 14) / std::max(1, out));
  parallel::For(batch, threads, [&](int, int r0, int r1) { DENSE_DISPATCH(BiasActivate, y, b, mask, r0, r1, out, act); }, rowsPerThread);
}

/** dz = dy act'(y) (* mask), db = column sums of dz, dw = x^T dz. */
inline void BackpropParams(const float* dy, const float* x, const float* y, const float* mask, float* dz, float* dw, float* db,
                           int batch, int in, int out, int act, int threads) {
  const int rowsPerThread = std::max(1, (1 << 14) / std::max(1, out));
  const int parts = std::max(1, std::min(threads, batch / rowsPerThread));
  std::vector<float> partial(static_cast<size_t>(parts) * out, 0.0f);
  parallel::For(batch, parts, [&](int t, int r0, int r1) {
    DENSE_DISPATCH(ActivationGrad, dy, y, mask, dz, partial.data() + static_cast<size_t>(t) * out, r0, r1, out, act);
  }, rowsPerThread);
  for (int c = 0; c < out; c++) {
    float sum = 0;
    for (int t = 0; t < parts; t++) sum += partial[static_cast<size_t>(t) * out + c];
    db[c] = sum;
  }
  gemm::Sgemm(in, out, batch, gemm::Matrix{x, in, true}, gemm::Matrix{dz, out, false}, dw, out, false, threads);
}

/** One Adam step on n values of a variable p with gradient g and moments m, v, all updated in place. */
inline void Adam(float* p, const float* g, float* m, float* v, size_t n, const AdamParams& a, int threads) {
  constexpr int kChunk = 1 << 12;
  const int chunks = static_cast<int>((n + kChunk - 1) / kChunk);
  parallel::For(chunks, threads, [&](int, int c0, int c1) {
    DENSE_DISPATCH(AdamRange, p, g, m, v, static_cast<size_t>(c0) * kChunk, std::min(n, static_cast<size_t>(c1) * kChunk), a);
  }, 8);
}

/** Mean squared error of n values, and its gradient with respect to p (scaled by dLoss). */
inline double MeanSquaredError(const float* p, const float* t, size_t n) { return DENSE_DISPATCH(SquaredErrorSum, p, t, n) / static_cast<double>(n); }
inline void MeanSquaredErrorGrad(const float* p, const float* t, float dLoss, float* out, size_t n) {
  DENSE_DISPATCH(ScaledDifference, p, t, static_cast<float>(2.0 * dLoss / static_cast<double>(n)), out, n);
}

/** Binary cross-entropy summed over n values (p clipped to [epsilon, 1 - epsilon] inside the logarithms) times
 *  scale, and its gradient with respect to p (times dLoss). */
inline double BinaryCrossEntropy(const float* p, const float* t, size_t n, double epsilon, double scale) {
  return DENSE_DISPATCH(BceSum, p, t, n, static_cast<float>(epsilon), static_cast<float>(1.0 - epsilon)) * scale;
}
inline void BinaryCrossEntropyGrad(const float* p, const float* t, double epsilon, double scale, float* out, size_t n) {
  DENSE_DISPATCH(BceGrad, p, t, static_cast<float>(epsilon), static_cast<float>(1.0 - epsilon), static_cast<float>(scale), out, n);
}

#undef DENSE_DISPATCH

}  // namespace dense
