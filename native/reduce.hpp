// Column sums of a row-major matrix: the per-channel reductions of batch norm and of bias gradients (NHWC
// tensors summed over N, H, W), which TensorFlow.js's wasm backend runs slowly (it transposes first).
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>
#include "parallel.hpp"

namespace reduce {

// out[c] = scale * sum_r x[r * cols + c], accumulated in double per thread, then combined.
inline void SumRows(const float* x, int rows, int cols, float* out, double scale, int threads) {
  threads = std::max(1, std::min(threads, static_cast<int>((static_cast<int64_t>(rows) * cols) >> 16)));
  std::vector<std::vector<double>> partial(threads, std::vector<double>(cols, 0.0));
  parallel::For(rows, threads, [&](int t, int from, int to) {
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
}

}  // namespace reduce
