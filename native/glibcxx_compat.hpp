// Portability of the prebuilt binaries (scripts/prebuild.mjs defines AE_PORTABLE_LIBSTDCXX): built against GCC
// 12's libstdc++, the addon would need GLIBCXX_3.4.30 for one symbol and 3.4.29 for another, i.e. a GCC 12
// runtime, which RHEL 9 and Amazon Linux 2023 (GCC 11) lack. So:
//   - condition_variable::wait binds to its GLIBCXX_3.4.11 version, which every libstdc++ since GCC 4.4 exports
//     (GCC 12 added a new default version of the same function for an ABI detail of its own);
//   - std::__throw_bad_array_new_length (GCC 11's check in allocator<T>::allocate) gets a local definition, so
//     nothing is imported for it.
// A build from source (node-gyp) does not define the macro and links against the machine's own runtime.
#pragma once
#include <new>  // defines __GLIBCXX__ when the library is libstdc++
#if defined(AE_PORTABLE_LIBSTDCXX) && defined(__GLIBCXX__) && defined(__linux__)
__asm__(".symver _ZNSt18condition_variable4waitERSt11unique_lockISt5mutexE,_ZNSt18condition_variable4waitERSt11unique_lockISt5mutexE@GLIBCXX_3.4.11");
namespace std {
[[noreturn]] __attribute__((visibility("hidden"))) void __throw_bad_array_new_length() { throw bad_array_new_length(); }
}  // namespace std
#endif
