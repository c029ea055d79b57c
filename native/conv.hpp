// 2-D convolution (NHWC, filters [kh, kw, in, out], dilation 1) and its two gradients as im2col/col2im plus the
// blocked GEMM of gemm.hpp. The im2col matrix is built a chunk of output pixels at a time (a few MB), so memory
// stays flat whatever the batch.
//   forward:        out[rows, co]  = col(x)[rows, K] . W[K, co]                 (K = kh kw ci)
//   input grad:     dx            += col2im(dy[rows, co] . W^T[co, K])
//   filter grad:    dW[K, co]      = sum over chunks of col(x)^T[K, rows] . dy[rows, co]
#pragma once
#include <algorithm>
#include <vector>
#include "gemm.hpp"
#include "parallel.hpp"

namespace conv {

struct Geometry {
  int batch, inH, inW, inC, outH, outW, outC, kH, kW, strideH, strideW, padTop, padLeft;
  int K() const { return kH * kW * inC; }
  int Rows() const { return batch * outH * outW; }
};

// Output pixels per chunk: about 1M floats of im2col matrix.
inline int ChunkRows(const Geometry& g) { return std::max(256, (1 << 20) / std::max(1, g.K())); }

// col[r - r0][(i kw + j) ci + c] = x[b, oh s + i - pad, ow s + j - pad, c] (0 outside), r = (b oh_n + oh) ow_n + ow.
inline void Im2col(const float* x, const Geometry& g, int r0, int rows, float* col) {
  const int K = g.K();
  for (int r = 0; r < rows; r++) {
    const int pix = r0 + r, ow = pix % g.outW, oh = (pix / g.outW) % g.outH, b = pix / (g.outW * g.outH);
    float* out = col + static_cast<size_t>(r) * K;
    for (int i = 0; i < g.kH; i++) {
      const int y = oh * g.strideH + i - g.padTop;
      for (int j = 0; j < g.kW; j++, out += g.inC) {
        const int xx = ow * g.strideW + j - g.padLeft;
        if (y < 0 || y >= g.inH || xx < 0 || xx >= g.inW) {
          std::fill(out, out + g.inC, 0.0f);
        } else {
          const float* src = x + ((static_cast<size_t>(b) * g.inH + y) * g.inW + xx) * g.inC;
          std::copy(src, src + g.inC, out);
        }
      }
    }
  }
}

// The adjoint of Im2col: dx[...] += col[...] over the same index map.
inline void Col2imAdd(const float* col, const Geometry& g, int r0, int rows, float* dx) {
  const int K = g.K();
  for (int r = 0; r < rows; r++) {
    const int pix = r0 + r, ow = pix % g.outW, oh = (pix / g.outW) % g.outH, b = pix / (g.outW * g.outH);
    const float* in = col + static_cast<size_t>(r) * K;
    for (int i = 0; i < g.kH; i++) {
      const int y = oh * g.strideH + i - g.padTop;
      for (int j = 0; j < g.kW; j++, in += g.inC) {
        const int xx = ow * g.strideW + j - g.padLeft;
        if (y < 0 || y >= g.inH || xx < 0 || xx >= g.inW) continue;
        float* dst = dx + ((static_cast<size_t>(b) * g.inH + y) * g.inW + xx) * g.inC;
        for (int c = 0; c < g.inC; c++) dst[c] += in[c];
      }
    }
  }
}

// Runs body(thread, rowFrom, rowTo, gemmThreads) over the output pixels split by whole images across threads: every
// thread builds its own im2col chunks and runs a single-threaded GEMM on them, so the copies are parallel too
// and threads start once per call. Whole images keep col2im's writes to dx disjoint between threads. With
// fewer images than threads, one range and a multithreaded GEMM instead.
template <typename Body>
void SplitByImages(const Geometry& g, int threads, Body body) {
  const int perImage = g.outH * g.outW;
  if (threads <= 1 || g.batch < 2 * threads) { body(0, 0, g.Rows(), threads); return; }
  parallel::For(g.batch, threads, [&](int t, int b0, int b1) { body(t, b0 * perImage, b1 * perImage, 1); }, 2);
}

inline void Forward(const float* x, const float* w, float* out, const Geometry& g, int threads) {
  const int K = g.K(), chunk = ChunkRows(g);
  const gemm::Matrix wm{w, g.outC, false};
  SplitByImages(g, threads, [&](int, int from, int to, int gemmThreads) {
    std::vector<float> col(static_cast<size_t>(chunk) * K);
    for (int r0 = from; r0 < to; r0 += chunk) {
      const int rows = std::min(chunk, to - r0);
      Im2col(x, g, r0, rows, col.data());
      gemm::Sgemm(rows, g.outC, K, gemm::Matrix{col.data(), K, false}, wm, out + static_cast<size_t>(r0) * g.outC, g.outC, false, gemmThreads);
    }
  });
}

inline void BackpropInput(const float* dy, const float* w, float* dx, const Geometry& g, int threads) {
  const int K = g.K(), chunk = ChunkRows(g);
  std::fill(dx, dx + static_cast<size_t>(g.batch) * g.inH * g.inW * g.inC, 0.0f);
  const gemm::Matrix wt{w, g.outC, true};  // W^T: [co, K] from W stored [K, co]
  SplitByImages(g, threads, [&](int, int from, int to, int gemmThreads) {
    std::vector<float> col(static_cast<size_t>(chunk) * K);
    for (int r0 = from; r0 < to; r0 += chunk) {
      const int rows = std::min(chunk, to - r0);
      gemm::Sgemm(rows, K, g.outC, gemm::Matrix{dy + static_cast<size_t>(r0) * g.outC, g.outC, false}, wt, col.data(), K, false, gemmThreads);
      Col2imAdd(col.data(), g, r0, rows, dx);
    }
  });
}

inline void BackpropFilter(const float* x, const float* dy, float* dw, const Geometry& g, int threads) {
  const int K = g.K(), chunk = ChunkRows(g);
  const size_t wSize = static_cast<size_t>(K) * g.outC;
  std::vector<std::vector<float>> partial(std::max(1, threads));  // one dW per thread, summed below
  SplitByImages(g, threads, [&](int t, int from, int to, int gemmThreads) {
    std::vector<float>& acc = partial[t];
    acc.assign(wSize, 0.0f);
    std::vector<float> col(static_cast<size_t>(chunk) * K);
    for (int r0 = from; r0 < to; r0 += chunk) {
      const int rows = std::min(chunk, to - r0);
      Im2col(x, g, r0, rows, col.data());
      gemm::Sgemm(K, g.outC, rows, gemm::Matrix{col.data(), K, true}, gemm::Matrix{dy + static_cast<size_t>(r0) * g.outC, g.outC, false},
                  acc.data(), g.outC, true, gemmThreads);
    }
  });
  std::fill(dw, dw + wSize, 0.0f);
  for (const auto& acc : partial)
    for (size_t i = 0; i < acc.size(); i++) dw[i] += acc[i];
}

}  // namespace conv
