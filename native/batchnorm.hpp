// Batch normalisation in training mode followed by ReLU, over the rows of an NHWC tensor seen as [rows, C]
// (rows = N·H·W), as two native calls instead of tfjs's ~25 element-wise kernels forward and backward:
//   Forward:  mean, var (biased) per channel; y = relu(gamma (x - mean) / sqrt(var + eps) + beta)
//   Backward: dz = dy [y > 0]; dbeta = sum dz; dgamma = sum dz xhat; dx = gamma rstd (dz - dbeta/M - xhat dgamma/M)
// with xhat = (x - mean) rstd, rstd = 1/sqrt(var + eps), M = rows: the exact gradient through the batch
// statistics. Channel sums are taken per thread over contiguous row ranges in double, then combined.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>
#include "parallel.hpp"

namespace batchnorm {

constexpr int kMinRowsPerThread = 256;

// Sums per channel of f(row, channel) over all rows, in double, on up to `threads` threads.
template <typename F>
void ChannelSums(int rows, int channels, int threads, int outputs, std::vector<double>* sums, F f) {
  const int parts = std::max(1, std::min(threads, rows / kMinRowsPerThread));
  std::vector<std::vector<double>> partial(parts, std::vector<double>(static_cast<size_t>(outputs) * channels, 0.0));
  parallel::For(rows, parts, [&](int t, int r0, int r1) { f(r0, r1, partial[t].data()); }, kMinRowsPerThread);
  sums->assign(static_cast<size_t>(outputs) * channels, 0.0);
  for (const auto& p : partial)
    for (size_t i = 0; i < p.size(); i++) (*sums)[i] += p[i];
}

inline void ReluForward(const float* x, const float* gamma, const float* beta, float eps, float* y, float* meanOut, float* varOut,
                        int rows, int channels, int threads) {
  std::vector<double> sums;
  // Shifted sums (by the first row) keep the variance accurate when |mean| >> std.
  ChannelSums(rows, channels, threads, 2, &sums, [&](int r0, int r1, double* acc) {
    for (int r = r0; r < r1; r++) {
      const float* row = x + static_cast<size_t>(r) * channels;
      for (int c = 0; c < channels; c++) {
        const double d = static_cast<double>(row[c]) - x[c];
        acc[c] += d;
        acc[channels + c] += d * d;
      }
    }
  });
  std::vector<float> scale(channels), shift(channels);
  for (int c = 0; c < channels; c++) {
    const double m = sums[c] / rows, var = std::max(0.0, sums[channels + c] / rows - m * m);
    const float mean = static_cast<float>(m + x[c]), variance = static_cast<float>(var);
    meanOut[c] = mean;
    varOut[c] = variance;
    const float rstd = 1.0f / std::sqrt(variance + eps);
    scale[c] = gamma[c] * rstd;
    shift[c] = beta[c] - mean * scale[c];
  }
  parallel::For(rows, threads, [&](int, int r0, int r1) {
    for (int r = r0; r < r1; r++) {
      const float* in = x + static_cast<size_t>(r) * channels;
      float* out = y + static_cast<size_t>(r) * channels;
      for (int c = 0; c < channels; c++) out[c] = std::max(0.0f, in[c] * scale[c] + shift[c]);
    }
  }, kMinRowsPerThread);
}

inline void ReluBackward(const float* dy, const float* x, const float* y, const float* gamma, const float* mean, const float* var, float eps,
                         float* dx, float* dgamma, float* dbeta, int rows, int channels, int threads) {
  std::vector<float> rstdBuf(channels);
  for (int c = 0; c < channels; c++) rstdBuf[c] = 1.0f / std::sqrt(var[c] + eps);
  const float* __restrict rstd = rstdBuf.data();
  std::vector<double> sums;
  ChannelSums(rows, channels, threads, 2, &sums, [&](int r0, int r1, double* acc) {
    double* __restrict sumDz = acc;
    double* __restrict sumDzXhat = acc + channels;
    for (int r = r0; r < r1; r++) {
      const size_t o = static_cast<size_t>(r) * channels;
      const float* __restrict dyRow = dy + o;
      const float* __restrict xRow = x + o;
      const float* __restrict yRow = y + o;
      for (int c = 0; c < channels; c++) {
        const float dz = dyRow[c] * static_cast<float>(yRow[c] > 0.0f);  // no branch: vectorises (with -fno-trapping-math)
        sumDz[c] += dz;
        sumDzXhat[c] += static_cast<double>(dz * ((xRow[c] - mean[c]) * rstd[c]));
      }
    }
  });
  std::vector<float> coef(3 * static_cast<size_t>(channels));
  float* __restrict k = coef.data();
  float* __restrict meanDz = k + channels;
  float* __restrict meanDzXhat = meanDz + channels;
  for (int c = 0; c < channels; c++) {
    dbeta[c] = static_cast<float>(sums[c]);
    dgamma[c] = static_cast<float>(sums[channels + c]);
    k[c] = gamma[c] * rstd[c];
    meanDz[c] = static_cast<float>(sums[c] / rows);
    meanDzXhat[c] = static_cast<float>(sums[channels + c] / rows);
  }
  parallel::For(rows, threads, [&](int, int r0, int r1) {
    for (int r = r0; r < r1; r++) {
      const size_t o = static_cast<size_t>(r) * channels;
      const float* __restrict dyRow = dy + o;
      const float* __restrict xRow = x + o;
      const float* __restrict yRow = y + o;
      float* __restrict dxRow = dx + o;
      for (int c = 0; c < channels; c++) {
        const float dz = dyRow[c] * static_cast<float>(yRow[c] > 0.0f);  // no branch: vectorises (with -fno-trapping-math)
        const float xhat = (xRow[c] - mean[c]) * rstd[c];
        dxRow[c] = k[c] * (dz - meanDz[c] - xhat * meanDzXhat[c]);
      }
    }
  }, kMinRowsPerThread);
}

}  // namespace batchnorm
