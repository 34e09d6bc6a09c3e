// A fixed pool of worker threads that split a range of work with the calling thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "slimlm/common.h"

namespace slimlm {

class ThreadPool {
 public:
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int threads() const { return static_cast<int>(workers_.size()) + 1; }

  /// Splits [0, count) into chunks of `grain` and runs them on every thread; returns when all
  /// are done. Calls from several threads at once take turns.
  void run(int64_t count, int64_t grain, ParallelFn fn, void* ctx);

  /// The Parallel handle kernels receive.
  Parallel handle();

 private:
  void work();
  void drain();

  std::vector<std::thread> workers_;
  std::mutex runMutex_;  // one job at a time
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  // Written under mutex_; atomic so that the spinning waits (see threadpool.cc) may read them.
  std::atomic<uint64_t> generation_{0};
  bool stopping_ = false;
  std::atomic<int> busy_{0};
  // The job in flight.
  ParallelFn fn_ = nullptr;
  void* ctx_ = nullptr;
  int64_t count_ = 0;
  int64_t grain_ = 1;
  std::atomic<int64_t> nextChunk_{0};
};

}  // namespace slimlm
