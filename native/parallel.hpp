// The one way the native kernels use several cores: split [0, n) into contiguous ranges, one thread each.
#pragma once
#include <algorithm>
#include <cstdint>
#include <thread>
#include <vector>

namespace parallel {

/** Runs body(thread, from, to) over [0, n) on up to `threads` threads, each with at least minPerThread items
 *  (fewer items run on the calling thread alone). */
template <typename F>
void For(int n, int threads, F body, int minPerThread = 256) {
  threads = std::max(1, std::min(threads, n / std::max(1, minPerThread)));
  if (threads == 1) { body(0, 0, n); return; }
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; t++) {
    const int from = static_cast<int>(static_cast<int64_t>(n) * t / threads);
    const int to = static_cast<int>(static_cast<int64_t>(n) * (t + 1) / threads);
    pool.emplace_back(body, t, from, to);
  }
  for (auto& th : pool) th.join();
}

}  // namespace parallel
