// Mixed-radix (2, 3, 4, 5) complex FFT, Stockham autosort formulation, for the 2-D convolutions of FFT-accelerated
// t-SNE. Written here rather than vendored because nothing we may ship (no downloads, no system libraries such as
// FFTW) provides one, and the sizes t-SNE needs are small and 5-smooth by construction.
//
// One plan transforms many interleaved sequences at once: with base stride s0, element k of sequence q lives at
// x[q + s0 * k]. So s0 = 1 is one contiguous row, and s0 = L over an L x L row-major matrix transforms all its
// columns together, with unit-stride (vectorisable) inner loops and no transpose.
#pragma once
#include <cmath>
#include <complex>
#include <stdexcept>
#include <vector>

namespace fft {

using cplx = std::complex<double>;

/** True when n's only prime factors are 2, 3 and 5. */
inline bool IsSmooth(int n) {
  if (n < 1) return false;
  for (int p : {2, 3, 5}) while (n % p == 0) n /= p;
  return n == 1;
}

/** The smallest 5-smooth integer >= n. */
inline int NextSmooth(int n) {
  while (!IsSmooth(n)) n++;
  return n;
}

class Plan {
 public:
  explicit Plan(int n) : n_(n) {
    int rest = n;
    while (rest % 4 == 0) { radices_.push_back(4); rest /= 4; }
    while (rest % 2 == 0) { radices_.push_back(2); rest /= 2; }
    while (rest % 3 == 0) { radices_.push_back(3); rest /= 3; }
    while (rest % 5 == 0) { radices_.push_back(5); rest /= 5; }
    if (rest != 1) throw std::invalid_argument("fft::Plan: length must be 5-smooth");
    // Twiddles of each stage: w^(p j), w = exp(-2 pi i / len), for p < len / r and j < r.
    int len = n;
    for (int r : radices_) {
      const int m = len / r;
      std::vector<cplx> tw(static_cast<size_t>(m) * r);
      for (int p = 0; p < m; p++)
        for (int j = 0; j < r; j++) tw[static_cast<size_t>(p) * r + j] = std::polar(1.0, -2 * M_PI * p * j / len);
      twiddles_.push_back(std::move(tw));
      len = m;
    }
  }

  int size() const { return n_; }

  /**
   * In-place DFT (inverse: exp(+2 pi i ...), unscaled) of s0 interleaved sequences in x (n * s0 values); work must
   * hold as many values.
   */
  void Transform(cplx* x, cplx* work, int s0, bool inverse) const {
    cplx* in = x;
    cplx* out = work;
    int len = n_, s = s0;
    for (size_t stage = 0; stage < radices_.size(); stage++) {
      const int r = radices_[stage];
      if (inverse) Stage<true>(r, len, s, twiddles_[stage].data(), in, out);
      else Stage<false>(r, len, s, twiddles_[stage].data(), in, out);
      std::swap(in, out);
      len /= r;
      s *= r;
    }
    if (in != x) std::copy(in, in + static_cast<size_t>(n_) * s0, x);
  }

 private:
  template <bool Inv>
  static inline cplx Tw(cplx w) { return Inv ? std::conj(w) : w; }

  // Multiplication written out: std::complex's operator* checks for NaN/Inf (C99 Annex G) and does not inline.
  static inline cplx Mul(cplx a, cplx b) {
    return {a.real() * b.real() - a.imag() * b.imag(), a.real() * b.imag() + a.imag() * b.real()};
  }

  // One decimation-in-frequency step: y[q + s (r p + j)] = w^(p j) sum_k x[q + s (p + k m)] omega_r^(j k).
  template <bool Inv>
  static void Stage(int r, int len, int s, const cplx* tw, const cplx* x, cplx* y) {
    const int m = len / r;
    const double sign = Inv ? 1.0 : -1.0;  // exp(sign 2 pi i / r)
    for (int p = 0; p < m; p++) {
      const cplx* t = tw + static_cast<size_t>(p) * r;
      const cplx* xp = x + static_cast<size_t>(s) * p;
      cplx* yp = y + static_cast<size_t>(s) * r * p;
      const size_t sm = static_cast<size_t>(s) * m;
      if (r == 2) {
        const cplx w1 = Tw<Inv>(t[1]);
        for (int q = 0; q < s; q++) {
          const cplx a = xp[q], b = xp[q + sm];
          yp[q] = a + b;
          yp[q + s] = Mul(a - b, w1);
        }
      } else if (r == 4) {
        const cplx w1 = Tw<Inv>(t[1]), w2 = Tw<Inv>(t[2]), w3 = Tw<Inv>(t[3]);
        for (int q = 0; q < s; q++) {
          const cplx a0 = xp[q], a1 = xp[q + sm], a2 = xp[q + 2 * sm], a3 = xp[q + 3 * sm];
          const cplx s02 = a0 + a2, d02 = a0 - a2, s13 = a1 + a3, d13 = a1 - a3;
          // d13 * (sign i): forward multiplies by -i, inverse by +i.
          const cplx d13i = Inv ? cplx(-d13.imag(), d13.real()) : cplx(d13.imag(), -d13.real());
          yp[q] = s02 + s13;
          yp[q + s] = Mul(d02 + d13i, w1);
          yp[q + 2 * s] = Mul(s02 - s13, w2);
          yp[q + 3 * s] = Mul(d02 - d13i, w3);
        }
      } else if (r == 3) {
        const cplx w1 = Tw<Inv>(t[1]), w2 = Tw<Inv>(t[2]);
        const double c = -0.5, sn = sign * std::sqrt(3.0) / 2;  // omega_3 = c + i sn
        for (int q = 0; q < s; q++) {
          const cplx a0 = xp[q], a1 = xp[q + sm], a2 = xp[q + 2 * sm];
          const cplx sum = a1 + a2, diff = a1 - a2;
          const cplx base = a0 + c * sum;
          const cplx rot(-sn * diff.imag(), sn * diff.real());  // i sn (a1 - a2)
          yp[q] = a0 + sum;
          yp[q + s] = Mul(base + rot, w1);
          yp[q + 2 * s] = Mul(base - rot, w2);
        }
      } else {  // r == 5
        const cplx w1 = Tw<Inv>(t[1]), w2 = Tw<Inv>(t[2]), w3 = Tw<Inv>(t[3]), w4 = Tw<Inv>(t[4]);
        const double c1 = std::cos(2 * M_PI / 5), c2 = std::cos(4 * M_PI / 5);
        const double s1 = sign * std::sin(2 * M_PI / 5), s2 = sign * std::sin(4 * M_PI / 5);
        for (int q = 0; q < s; q++) {
          const cplx a0 = xp[q], a1 = xp[q + sm], a2 = xp[q + 2 * sm], a3 = xp[q + 3 * sm], a4 = xp[q + 4 * sm];
          const cplx p14 = a1 + a4, m14 = a1 - a4, p23 = a2 + a3, m23 = a2 - a3;
          const cplx b1 = a0 + c1 * p14 + c2 * p23, b2 = a0 + c2 * p14 + c1 * p23;
          const cplx r1 = s1 * m14 + s2 * m23, r2 = s2 * m14 - s1 * m23;  // times i below
          yp[q] = a0 + p14 + p23;
          yp[q + s] = Mul(b1 + cplx(-r1.imag(), r1.real()), w1);
          yp[q + 4 * s] = Mul(b1 - cplx(-r1.imag(), r1.real()), w4);
          yp[q + 2 * s] = Mul(b2 + cplx(-r2.imag(), r2.real()), w2);
          yp[q + 3 * s] = Mul(b2 - cplx(-r2.imag(), r2.real()), w3);
        }
      }
    }
  }

  int n_;
  std::vector<int> radices_;
  std::vector<std::vector<cplx>> twiddles_;
};

}  // namespace fft
