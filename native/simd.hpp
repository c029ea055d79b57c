// Portable SIMD for the native kernels: GCC/Clang vector types (8 floats: one AVX register, or two SSE/NEON
// ones), and run-time dispatch to versions of a loop compiled for AVX2 + FMA, so the addon is built for the
// baseline x86-64 and still loads on any CPU, yet uses the wider units where they exist.
#pragma once
#include <cstdlib>

namespace simd {

typedef float V8 __attribute__((vector_size(32)));

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define SIMD_HAS_AVX2_PATH 1
#define SIMD_AVX2 __attribute__((target("avx2,fma")))
#define SIMD_HAS_AVX512_PATH 1
#define SIMD_AVX512 __attribute__((target("avx512f,avx512vl,avx2,fma")))
#else
#define SIMD_HAS_AVX2_PATH 0
#define SIMD_AVX2
#define SIMD_HAS_AVX512_PATH 0
#define SIMD_AVX512
#endif

/** Whether this CPU runs the AVX2 + FMA versions (asked once; cheap to call in hot loops). */
inline bool HasAvx2() {
#if SIMD_HAS_AVX2_PATH
  static const bool avx2 = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }();
  return avx2;
#else
  return false;
#endif
}

/** Whether this CPU (and OS: libgcc checks XCR0) runs the AVX-512F versions; AE_NO_AVX512=1 holds them back (tests
 *  compare the two paths with it). */
inline bool HasAvx512() {
#if SIMD_HAS_AVX512_PATH
  static const bool avx512 = [] {
    __builtin_cpu_init();
    const char* off = std::getenv("AE_NO_AVX512");
    return __builtin_cpu_supports("avx512f") && HasAvx2() && !(off && off[0] == '1');
  }();
  return avx512;
#else
  return false;
#endif
}

inline float Sum(const V8& v) { return ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7])); }

}  // namespace simd
