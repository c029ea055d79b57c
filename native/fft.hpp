// Mixed-radix (2, 3, 4, 5) complex FFT in single precision, Stockham autosort formulation, for the 2-D
// convolutions of FFT-accelerated t-SNE. Written here rather than vendored because nothing we may ship (no
// downloads, no system libraries such as FFTW) provides one, and the sizes t-SNE needs are small and 5-smooth.
//
// Data is split-complex (real and imaginary parts in separate arrays) and one plan transforms many interleaved
// sequences at once: with base stride s0, element k of sequence q lives at x[q + s0 * k]. Every inner loop then
// runs over q with unit stride on plain float arrays, which the compiler turns into full-width vector code; the
// stages are compiled twice (baseline x86-64 and AVX2 + FMA) and the CPU picks one at run time.
//
// Single precision is enough here: the transforms carry interpolated charges whose own error is ~1e-3, and the
// tests compare the forces against exact double-precision sums.
#pragma once
#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <utility>
#include <vector>
#include "simd.hpp"

namespace fft {

/** True when n's only prime factors are 2, 3 and 5. */
inline bool IsSmooth(int n) {
  if (n < 1) return false;
  for (int p : {2, 3, 5}) while (n % p == 0) n /= p;
  return n == 1;
}

// The stage kernels, once per instruction set (fft_stages.inc holds the code; see its header).
namespace baseline {
#include "fft_stages.inc"
}
#if SIMD_HAS_AVX2_PATH && !defined(__clang__)
#pragma GCC push_options
#pragma GCC target("avx2,fma")
namespace avx2 {
#include "fft_stages.inc"
}
#pragma GCC pop_options
#define FFT_HAS_AVX2 1
#else
#define FFT_HAS_AVX2 0
#endif

class Plan {
 public:
  explicit Plan(int n) : n_(n), avx2_(FFT_HAS_AVX2 && simd::HasAvx2()) {
    int rest = n;
    while (rest % 4 == 0) { radices_.push_back(4); rest /= 4; }
    while (rest % 2 == 0) { radices_.push_back(2); rest /= 2; }
    while (rest % 3 == 0) { radices_.push_back(3); rest /= 3; }
    while (rest % 5 == 0) { radices_.push_back(5); rest /= 5; }
    if (rest != 1) throw std::invalid_argument("fft::Plan: length must be 5-smooth");
    // Twiddles of each stage: w^(p j), w = exp(-2 pi i / len), for p < len / r and j < r (computed in double).
    int len = n;
    for (int r : radices_) {
      const int m = len / r;
      std::vector<float> re(static_cast<size_t>(m) * r), im(re.size());
      for (int p = 0; p < m; p++)
        for (int j = 0; j < r; j++) {
          const double angle = -2 * M_PI * p * j / len;
          re[static_cast<size_t>(p) * r + j] = static_cast<float>(std::cos(angle));
          im[static_cast<size_t>(p) * r + j] = static_cast<float>(std::sin(angle));
        }
      twRe_.push_back(std::move(re));
      twIm_.push_back(std::move(im));
      len = m;
    }
  }

  int size() const { return n_; }

  /**
   * In-place DFT (inverse: exp(+2 pi i ...), unscaled) of s0 interleaved split-complex sequences in (re, im),
   * n * s0 values each; (workRe, workIm) must hold as many.
   */
  void Transform(float* re, float* im, float* workRe, float* workIm, int s0, bool inverse) const {
    float *inR = re, *inI = im, *outR = workRe, *outI = workIm;
    int len = n_, s = s0;
    for (size_t stage = 0; stage < radices_.size(); stage++) {
      const int r = radices_[stage];
      const float* tr = twRe_[stage].data();
      const float* ti = twIm_[stage].data();
#if FFT_HAS_AVX2
      if (avx2_) avx2::Stage(r, len, s, tr, ti, inverse, inR, inI, outR, outI);
      else baseline::Stage(r, len, s, tr, ti, inverse, inR, inI, outR, outI);
#else
      baseline::Stage(r, len, s, tr, ti, inverse, inR, inI, outR, outI);
#endif
      std::swap(inR, outR);
      std::swap(inI, outI);
      len /= r;
      s *= r;
    }
    if (inR != re) {
      const size_t count = static_cast<size_t>(n_) * s0;
      std::copy(inR, inR + count, re);
      std::copy(inI, inI + count, im);
    }
  }

 private:
  int n_;
  bool avx2_;
  std::vector<int> radices_;
  std::vector<std::vector<float>> twRe_, twIm_;
};

}  // namespace fft
