// The one way the native kernels use several cores: split [0, n) into contiguous ranges, one thread each.
//
// Work runs on a persistent pool (started on first use, never torn down): a training step makes dozens of
// parallel calls of 50-500 microseconds each, and starting threads for each cost more than the work itself on
// small matrices. Idle workers spin briefly (the next call of a training step usually comes within that time),
// then sleep on a condition variable. A call made while the pool is busy (a nested call, or two JavaScript
// threads using the addon at once) starts threads of its own, as before the pool existed.
#pragma once
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace parallel {

namespace detail {

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

class Pool {
 public:
  explicit Pool(int workers) : workers_(workers) {
    for (int w = 0; w < workers; w++) std::thread([this, w] { Work(w + 1); }).detach();
  }

  int Workers() const { return workers_; }

  /** Runs task(slot) for slot in [0, slots) with slot 0 on the caller; false (nothing run) when the pool is busy. */
  bool TryRun(int slots, const std::function<void(int)>& task) {
    bool expected = false;
    if (!busy_.compare_exchange_strong(expected, true, std::memory_order_acquire)) return false;
    task_ = &task;
    slots_ = slots;
    pending_.store(workers_, std::memory_order_relaxed);  // every worker acknowledges every call (see Work)
    {
      std::lock_guard<std::mutex> lock(mutex_);
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    task(0);
    while (pending_.load(std::memory_order_acquire) != 0) CpuRelax();
    busy_.store(false, std::memory_order_release);
    return true;
  }

 private:
  void Work(int slot) {
    uint64_t seen = 0;
    for (;;) {
      uint64_t gen = generation_.load(std::memory_order_acquire);
      if (gen == seen) {
        // Spin ~200 microseconds before sleeping: steps of a training loop follow each other closely.
        const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(200);
        while ((gen = generation_.load(std::memory_order_acquire)) == seen) {
          for (int i = 0; i < 64; i++) CpuRelax();
          if (std::chrono::steady_clock::now() > until) {
            std::unique_lock<std::mutex> lock(mutex_);
            wake_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
          }
        }
      }
      seen = gen;
      // Workers without a slot acknowledge too, so no worker can still be reading this call's task_ and
      // slots_ when the next call writes them.
      if (slot < slots_) (*task_)(slot);
      pending_.fetch_sub(1, std::memory_order_acq_rel);
    }
  }

  int workers_ = 0;
  std::atomic<bool> busy_{false};
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  const std::function<void(int)>* task_ = nullptr;
  int slots_ = 0;
  std::mutex mutex_;
  std::condition_variable wake_;
};

inline Pool& GetPool() {
  // Leaked on purpose: workers are detached and may be asleep at exit.
  static Pool* pool = new Pool(std::max(1u, std::thread::hardware_concurrency()) - 1);
  return *pool;
}

}  // namespace detail

/** Runs body(thread, from, to) over [0, n) on up to `threads` threads, each with at least minPerThread items
 *  (fewer items run on the calling thread alone). */
template <typename F>
void For(int n, int threads, F body, int minPerThread = 256) {
  threads = std::max(1, std::min(threads, n / std::max(1, minPerThread)));
  if (threads == 1) { body(0, 0, n); return; }
  auto range = [&](int t) {
    const int from = static_cast<int>(static_cast<int64_t>(n) * t / threads);
    const int to = static_cast<int>(static_cast<int64_t>(n) * (t + 1) / threads);
    body(t, from, to);
  };
  detail::Pool& pool = detail::GetPool();
  if (threads <= pool.Workers() + 1 && pool.TryRun(threads, std::function<void(int)>(range))) return;
  std::vector<std::thread> extra;
  for (int t = 1; t < threads; t++) extra.emplace_back(range, t);
  range(0);
  for (auto& th : extra) th.join();
}

}  // namespace parallel
