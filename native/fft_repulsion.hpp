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

using fft::cplx;

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

/** 2-D DFT of an L x L row-major grid whose rows >= nonzeroRows are zero (forward), or of which only rows <
 *  neededRows are wanted (inverse). Columns are transformed in blocks gathered into `block` (L x kColumnBlock),
 *  which keeps every stage of their transform in cache instead of streaming the whole grid once per stage;
 *  `work` must hold L x kColumnBlock values too. */
inline void Fft2d(const fft::Plan& plan, cplx* grid, cplx* block, cplx* work, int nonzeroRows, int neededRows, bool inverse) {
  const int L = plan.size();
  auto rows = [&](int count) {
    for (int r = 0; r < count; r++) plan.Transform(grid + static_cast<size_t>(r) * L, work, 1, inverse);
  };
  if (!inverse) rows(nonzeroRows);  // the zero rows transform to zero
  for (int c0 = 0; c0 < L; c0 += kColumnBlock) {
    const int width = std::min(kColumnBlock, L - c0);
    for (int r = 0; r < L; r++)
      std::copy(grid + static_cast<size_t>(r) * L + c0, grid + static_cast<size_t>(r) * L + c0 + width, block + static_cast<size_t>(r) * width);
    plan.Transform(block, work, width, inverse);
    for (int r = 0; r < L; r++)
      std::copy(block + static_cast<size_t>(r) * width, block + static_cast<size_t>(r + 1) * width, grid + static_cast<size_t>(r) * L + c0);
  }
  if (inverse) rows(neededRows);  // the other rows are never read
}

/** Buffers of one grid's convolution, kept between calls (allocating and faulting in ~10 MB per call costs more
 *  than the transforms). */
struct Workspace {
  std::vector<cplx> grid, block, work;
  void Prepare(int L) {
    const size_t cells = static_cast<size_t>(L) * L;
    if (grid.size() != cells) grid.assign(cells, cplx(0, 0));
    if (block.size() != static_cast<size_t>(L) * kColumnBlock) {
      block.assign(static_cast<size_t>(L) * kColumnBlock, cplx(0, 0));
      work.assign(static_cast<size_t>(L) * kColumnBlock, cplx(0, 0));
    }
  }
};

/** The kernel's transform for a grid of n x n nodes with spacing h (scaled by 1 / L^2, the inverse's factor). */
struct KernelCache {
  int n = 0;
  double h = 0;
  std::unique_ptr<fft::Plan> plan;
  std::vector<cplx> hat;
  Workspace grids[2];  // the two charge grids' buffers
  std::vector<int32_t> base;   // per point: first node row and column
  std::vector<double> weights; // per point: interpolation weights

  void Prepare(int nodes, double spacing) {
    if (nodes == n && spacing == h) return;
    n = nodes; h = spacing;
    const int L = 2 * n;
    plan = std::make_unique<fft::Plan>(L);
    hat.assign(static_cast<size_t>(L) * L, cplx(0, 0));
    for (auto& g : grids) g.Prepare(L);
    // Circulant embedding: entry (a, b) holds K at offsets (a or a - L, b or b - L); offset n is never used.
    for (int a = 0; a < L; a++) {
      if (a == n) continue;
      const double dx = h * (a < n ? a : L - a);
      for (int b = 0; b < L; b++) {
        if (b == n) continue;
        const double dy = h * (b < n ? b : L - b);
        const double q = 1 / (1 + dx * dx + dy * dy);
        hat[static_cast<size_t>(a) * L + b] = cplx(q * q, 0);
      }
    }
    Fft2d(*plan, hat.data(), grids[0].block.data(), grids[0].work.data(), L, L, false);
    const double scale = 1.0 / (static_cast<double>(L) * L);
    for (auto& v : hat) v *= scale;
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
  const size_t cells = static_cast<size_t>(L) * L;
  auto convolve = [&](int which) {
    Workspace& ws = cache.grids[which];
    std::vector<cplx>& g = ws.grid;
    std::fill(g.begin(), g.end(), cplx(0, 0));
    for (int i = 0; i < npts; i++) {
      const double yx = y[2 * i], yy = y[2 * i + 1];
      const cplx charge = which == 0 ? cplx(1, yx) : cplx(yy, yx * yx + yy * yy);
      const double* w = &wts[2 * P * static_cast<size_t>(i)];
      const int r0 = base[2 * i], c0 = base[2 * i + 1];
      for (int a = 0; a < P; a++) {
        cplx* row = g.data() + static_cast<size_t>(r0 + a) * L + c0;
        for (int b = 0; b < P; b++) row[b] += (w[a] * w[P + b]) * charge;
      }
    }
    Fft2d(*cache.plan, g.data(), ws.block.data(), ws.work.data(), n, n, false);
    for (size_t c = 0; c < cells; c++) {
      const cplx k = cache.hat[c], v = g[c];
      g[c] = cplx(v.real() * k.real() - v.imag() * k.imag(), v.real() * k.imag() + v.imag() * k.real());
    }
    Fft2d(*cache.plan, g.data(), ws.block.data(), ws.work.data(), n, n, true);
  };
  parallel::For(2, std::min(threads, 2), [&](int, int from, int to) { for (int g = from; g < to; g++) convolve(g); }, 1);

  std::vector<double> partial(std::max(1, threads), 0.0);
  const std::vector<cplx>& gridA = cache.grids[0].grid;
  const std::vector<cplx>& gridB = cache.grids[1].grid;
  parallel::For(npts, threads, [&](int t, int from, int to) {
    double z = 0;
    for (int i = from; i < to; i++) {
      const double* w = &wts[2 * P * static_cast<size_t>(i)];
      const int r0 = base[2 * i], c0 = base[2 * i + 1];
      cplx pa(0, 0), pb(0, 0);
      for (int a = 0; a < P; a++) {
        const size_t row = static_cast<size_t>(r0 + a) * L + c0;
        for (int b = 0; b < P; b++) {
          const double wab = w[a] * w[P + b];
          pa += wab * gridA[row + b];
          pb += wab * gridB[row + b];
        }
      }
      const double phi0 = pa.real(), phi1 = pa.imag(), phi2 = pb.real(), phi3 = pb.imag();
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
