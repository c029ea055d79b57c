// t-SNE's repulsive forces by FFT-accelerated interpolation (Linderman et al. 2019, "Fast interpolation-based
// t-SNE", the method of FIt-SNE and openTSNE), in 2-D:
//
//   force_i = sum_j q_ij^2 (y_i - y_j),   Z = sum_{i != j} q_ij,   q_ij = 1 / (1 + |y_i - y_j|^2).
//
// The plane is cut into n_boxes x n_boxes square boxes with 3 equispaced interpolation nodes per box and axis.
// Each point spreads four charges (1, y_x, y_y, |y|^2) onto the 9 nodes around it with Lagrange weights; the
// kernel q^2 is convolved over the uniform node grid by 2-D FFT (the grid is zero-padded to twice its size so
// the circular convolution is the linear one); the potentials are interpolated back with the same weights. Then
//   sum_j q_ij^2 (y_i - y_j) = y_i phi0 - phi_y,      sum_j q_ij = (1 + |y_i|^2) phi0 - 2 y_i . phi_y + phi3
// (phi_y = (phi1, phi2)), the j = i terms contributing 0 to the force and exactly 1 each to the sum.
//
// Boxes are at most one unit wide (openTSNE's intervals_per_integer = 1) and there are at least 50 per axis.
// Beyond 50 units of extent the box width is exactly 1 and the box count is rounded up to a 5-smooth number,
// so the kernel's transform depends only on the box count and is reused across iterations until it changes.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>
#include "fft.hpp"
#include "parallel.hpp"

namespace fftrep {


constexpr int kNodes = 3;            // equispaced interpolation nodes per box and axis
constexpr double kMaxBoxWidth = 1;   // embedding units (openTSNE's intervals_per_integer = 1)
constexpr int kMinBoxes = 50;        // per axis
// Measured on a 70k embedding: wider boxes, or 4-7 nodes in wider boxes at the same grid size, raise the force
// error from 3 % to 10-100 %+ (equispaced high-order interpolation rings), so these stay openTSNE's values.

// Lagrange weights of the p nodes at 0.5, 1.5, ..., p - 0.5 (in node spacings) for a position t in [0, p).
inline void LagrangeWeights(int p, double t, double* w) {
  for (int k = 0; k < p; k++) {
    double num = 1, den = 1;
    for (int m = 0; m < p; m++) {
      if (m == k) continue;
      num *= t - (m + 0.5);
      den *= k - m;
    }
    w[k] = num / den;
  }
}

constexpr int kColumnBlock = 16;  // columns transformed together: L x 16 values stay in L2 through every stage

/** A split-complex L x L grid (row-major). */
struct Grid {
  std::vector<float> re, im;
  void Resize(size_t cells) {
    if (re.size() != cells) { re.assign(cells, 0.0f); im.assign(cells, 0.0f); }
  }
};

/** One block's gather buffer and the FFT's work space (L x kColumnBlock values each). */
struct BlockBuffers {
  std::vector<float> re, im, workRe, workIm;
  void Resize(int L) {
    const size_t size = static_cast<size_t>(L) * kColumnBlock;
    if (re.size() != size) { re.assign(size, 0); im.assign(size, 0); workRe.assign(size, 0); workIm.assign(size, 0); }
  }
};

/**
 * Transforms columns [0, cols) of src along its rows (1-D DFTs of length L), reading only rows < inRows (the
 * others are taken as zero) and writing only output rows < outRows: into dst at the same place, or transposed
 * (column c of the result becomes row c of dst). Columns go through in blocks of kColumnBlock, gathered into
 * a small buffer so every stage runs in cache on unit-stride vectors.
 *
 * With `filter` (a real L x L spectrum stored block by block, see KernelCache), each block is transformed
 * forward, multiplied by the filter and transformed back before it is written: a whole convolution along this
 * axis without the spectrum ever leaving the cache.
 */
inline void ColumnPass(const fft::Plan& plan, const Grid& src, Grid& dst, int cols, int inRows, int outRows,
                       bool transpose, bool inverse, BlockBuffers& b, const float* filter = nullptr) {
  const int L = plan.size();
  for (int c0 = 0; c0 < cols; c0 += kColumnBlock) {
    const int w = std::min(kColumnBlock, cols - c0);
    for (int r = 0; r < L; r++) {
      float* br = b.re.data() + static_cast<size_t>(r) * w;
      float* bi = b.im.data() + static_cast<size_t>(r) * w;
      if (r < inRows) {
        const size_t at = static_cast<size_t>(r) * L + c0;
        std::copy(src.re.data() + at, src.re.data() + at + w, br);
        std::copy(src.im.data() + at, src.im.data() + at + w, bi);
      } else {
        std::fill(br, br + w, 0.0f);
        std::fill(bi, bi + w, 0.0f);
      }
    }
    if (filter) {
      plan.Transform(b.re.data(), b.im.data(), b.workRe.data(), b.workIm.data(), w, false);
      const float* f = filter + static_cast<size_t>(c0) * L;  // this block's L x w values
      const size_t count = static_cast<size_t>(L) * w;
      for (size_t t = 0; t < count; t++) { b.re[t] *= f[t]; b.im[t] *= f[t]; }
      plan.Transform(b.re.data(), b.im.data(), b.workRe.data(), b.workIm.data(), w, true);
    } else {
      plan.Transform(b.re.data(), b.im.data(), b.workRe.data(), b.workIm.data(), w, inverse);
    }
    if (transpose) {
      for (int j = 0; j < w; j++) {
        float* dr = dst.re.data() + static_cast<size_t>(c0 + j) * L;
        float* di = dst.im.data() + static_cast<size_t>(c0 + j) * L;
        for (int r = 0; r < outRows; r++) {
          dr[r] = b.re[static_cast<size_t>(r) * w + j];
          di[r] = b.im[static_cast<size_t>(r) * w + j];
        }
      }
    } else {
      for (int r = 0; r < outRows; r++) {
        const size_t at = static_cast<size_t>(r) * L + c0;
        std::copy(b.re.data() + static_cast<size_t>(r) * w, b.re.data() + static_cast<size_t>(r + 1) * w, dst.re.data() + at);
        std::copy(b.im.data() + static_cast<size_t>(r) * w, b.im.data() + static_cast<size_t>(r + 1) * w, dst.im.data() + at);
      }
    }
  }
}

/**
 * The 2-D convolution of `grid` (nonzero only in its top-left n x n corner; L = 2n) with the kernel whose
 * spectrum is `filter`, leaving the top-left n x n corner of the result in `grid`. Three column passes with two
 * transposes, so no pass walks a row with a short stride: along the first axis forward (only the n nonzero
 * columns); along the second axis forward, times the filter, and back, block by block; along the first axis
 * back (only the n wanted columns). `scratch` holds the transposed intermediate.
 */
inline void Convolve2d(const fft::Plan& plan, Grid& grid, Grid& scratch, const float* filter, int n, BlockBuffers& b) {
  const int L = plan.size();
  ColumnPass(plan, grid, scratch, n, n, L, true, false, b);         // scratch rows >= n are stale ...
  ColumnPass(plan, scratch, grid, L, n, n, true, false, b, filter);  // ... and read as zero here
  ColumnPass(plan, grid, grid, n, L, n, false, true, b);
}

/** Buffers of one charge grid's convolution, kept between calls (allocating and faulting in ~10 MB per call
 *  costs more than the transforms). */
struct Workspace {
  Grid grid, scratch;
  BlockBuffers block;
  void Prepare(int L) {
    const size_t cells = static_cast<size_t>(L) * L;
    grid.Resize(cells);
    scratch.Resize(cells);
    block.Resize(L);
  }
};

/** The kernel's transform for a grid of n x n nodes with spacing h, scaled by 1 / L^2 (the inverse's factor).
 *  The kernel is real and even in both axes, so its transform is real (and symmetric): one real plane, stored
 *  column block by column block in the order ColumnPass reads it. */
struct KernelCache {
  int n = 0;
  double h = 0;
  std::unique_ptr<fft::Plan> plan;
  std::vector<float> filter;
  Workspace grids[2];  // the two charge grids' buffers
  std::vector<int32_t> base;   // per point: first node row and column
  std::vector<double> weights; // per point: interpolation weights

  void Prepare(int nodes, double spacing) {
    if (nodes == n && spacing == h) return;
    n = nodes; h = spacing;
    const int L = 2 * n;
    plan = std::make_unique<fft::Plan>(L);
    for (auto& g : grids) g.Prepare(L);
    // Circulant embedding: entry (a, b) holds K at offsets (a or a - L, b or b - L); offset n is never used.
    Grid kernel, spectrum;
    kernel.Resize(static_cast<size_t>(L) * L);
    spectrum.Resize(static_cast<size_t>(L) * L);
    for (int a = 0; a < L; a++) {
      if (a == n) continue;
      const double dx = h * (a < n ? a : L - a);
      for (int b = 0; b < L; b++) {
        if (b == n) continue;
        const double dy = h * (b < n ? b : L - b);
        const double q = 1 / (1 + dx * dx + dy * dy);
        kernel.re[static_cast<size_t>(a) * L + b] = static_cast<float>(q * q);
      }
    }
    // Forward along the first axis (transposed out), then along the second: the layout Convolve2d multiplies in.
    ColumnPass(*plan, kernel, spectrum, L, L, L, true, false, grids[0].block);
    ColumnPass(*plan, spectrum, spectrum, L, L, L, false, false, grids[0].block);
    const double scale = 1.0 / (static_cast<double>(L) * L);
    filter.resize(static_cast<size_t>(L) * L);
    for (int c0 = 0; c0 < L; c0 += kColumnBlock) {
      const int w = std::min(kColumnBlock, L - c0);
      for (int r = 0; r < L; r++)
        for (int j = 0; j < w; j++)
          filter[static_cast<size_t>(c0) * L + static_cast<size_t>(r) * w + j] = static_cast<float>(spectrum.re[static_cast<size_t>(r) * L + c0 + j] * scale);
    }
  }
};

inline double Repulsion(const double* y, int npts, double* force, int threads, KernelCache& cache) {
  constexpr int P = kNodes;
  double lo = INFINITY, hi = -INFINITY;
  for (int i = 0; i < 2 * npts; i++) { lo = std::min(lo, y[i]); hi = std::max(hi, y[i]); }
  const double span = std::max(hi - lo, 1e-12);
  int boxes;
  double width;
  if (span <= kMinBoxes * kMaxBoxWidth) {
    boxes = kMinBoxes;
    width = span / kMinBoxes * (1 + 1e-9);
  } else {
    boxes = static_cast<int>(std::ceil(span / kMaxBoxWidth)) + 1;
    while (!fft::IsSmooth(2 * P * boxes)) boxes++;
    width = kMaxBoxWidth;
  }
  const int n = boxes * P, L = 2 * n;
  const double h = width / P;
  cache.Prepare(n, h);

  // Each point's first node (row, column) and its P + P weights (buffers kept between iterations).
  std::vector<int32_t>& base = cache.base;
  std::vector<double>& wts = cache.weights;
  base.resize(2 * static_cast<size_t>(npts));
  wts.resize(2 * P * static_cast<size_t>(npts));
  parallel::For(npts, threads, [&](int, int from, int to) {
    for (int i = from; i < to; i++) {
      for (int d = 0; d < 2; d++) {
        const double u = (y[2 * i + d] - lo) / h;  // in node spacings from the grid's edge
        const int box = std::min(boxes - 1, std::max(0, static_cast<int>(u / P)));
        base[2 * i + d] = box * P;
        LagrangeWeights(P, u - box * P, &wts[2 * P * static_cast<size_t>(i) + P * d]);
      }
    }
  });

  // Two complex grids carry the four real charges: A = 1 + i y_x, B = y_y + i |y|^2. The kernel is real, so the
  // real and imaginary parts convolve independently. One thread per grid.
  auto convolve = [&](int which) {
    Workspace& ws = cache.grids[which];
    Grid& g = ws.grid;
    for (int r = 0; r < n; r++) {  // only the top-left n x n corner is ever spread into or read
      std::fill(g.re.data() + static_cast<size_t>(r) * L, g.re.data() + static_cast<size_t>(r) * L + n, 0.0f);
      std::fill(g.im.data() + static_cast<size_t>(r) * L, g.im.data() + static_cast<size_t>(r) * L + n, 0.0f);
    }
    for (int i = 0; i < npts; i++) {
      const double yx = y[2 * i], yy = y[2 * i + 1];
      const double chargeRe = which == 0 ? 1 : yy, chargeIm = which == 0 ? yx : yx * yx + yy * yy;
      const double* w = &wts[2 * P * static_cast<size_t>(i)];
      const int r0 = base[2 * i], c0 = base[2 * i + 1];
      for (int a = 0; a < P; a++) {
        const size_t row = static_cast<size_t>(r0 + a) * L + c0;
        for (int b = 0; b < P; b++) {
          const double wab = w[a] * w[P + b];
          g.re[row + b] += static_cast<float>(wab * chargeRe);
          g.im[row + b] += static_cast<float>(wab * chargeIm);
        }
      }
    }
    Convolve2d(*cache.plan, g, ws.scratch, cache.filter.data(), n, ws.block);
  };
  parallel::For(2, std::min(threads, 2), [&](int, int from, int to) { for (int g = from; g < to; g++) convolve(g); }, 1);

  std::vector<double> partial(std::max(1, threads), 0.0);
  const Grid& gridA = cache.grids[0].grid;
  const Grid& gridB = cache.grids[1].grid;
  parallel::For(npts, threads, [&](int t, int from, int to) {
    double z = 0;
    for (int i = from; i < to; i++) {
      const double* w = &wts[2 * P * static_cast<size_t>(i)];
      const int r0 = base[2 * i], c0 = base[2 * i + 1];
      double phi0 = 0, phi1 = 0, phi2 = 0, phi3 = 0;
      for (int a = 0; a < P; a++) {
        const size_t row = static_cast<size_t>(r0 + a) * L + c0;
        for (int b = 0; b < P; b++) {
          const double wab = w[a] * w[P + b];
          phi0 += wab * gridA.re[row + b];
          phi1 += wab * gridA.im[row + b];
          phi2 += wab * gridB.re[row + b];
          phi3 += wab * gridB.im[row + b];
        }
      }
      const double yx = y[2 * i], yy = y[2 * i + 1];
      force[2 * i] = yx * phi0 - phi1;
      force[2 * i + 1] = yy * phi0 - phi2;
      z += (1 + yx * yx + yy * yy) * phi0 - 2 * (yx * phi1 + yy * phi2) + phi3;
    }
    partial[t] = z;
  });
  double z = -npts;  // the j = i terms
  for (double p : partial) z += p;
  return z;
}

}  // namespace fftrep
