#include "slimlm/threadpool.h"

#include <algorithm>

namespace slimlm {

ThreadPool::ThreadPool(int threads) {
  for (int i = 1; i < threads; i++) workers_.emplace_back([this] { work(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& worker : workers_) worker.join();
}

void ThreadPool::drain() {
  const int64_t chunks = (count_ + grain_ - 1) / grain_;
  for (int64_t chunk = nextChunk_.fetch_add(1); chunk < chunks; chunk = nextChunk_.fetch_add(1)) {
    const int64_t begin = chunk * grain_;
    fn_(ctx_, begin, std::min(count_, begin + grain_));
  }
}

void ThreadPool::work() {
  uint64_t seen = 0;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || generation_ != seen; });
      if (stopping_) return;
      seen = generation_;
      busy_++;
    }
    drain();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      busy_--;
    }
    done_.notify_all();
  }
}

void ThreadPool::run(int64_t count, int64_t grain, ParallelFn fn, void* ctx) {
  if (count <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  if (workers_.empty() || count <= grain) {
    fn(ctx, 0, count);
    return;
  }
  std::lock_guard<std::mutex> job(runMutex_);
  {
    // A worker that woke late for the previous job may still be inside drain(): the job's fields
    // change only once every worker is out.
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [&] { return busy_ == 0; });
    fn_ = fn;
    ctx_ = ctx;
    count_ = count;
    grain_ = grain;
    nextChunk_.store(0);
    generation_++;
  }
  wake_.notify_all();
  drain();
  // Wait until every worker that picked up this job has finished its chunks.
  std::unique_lock<std::mutex> lock(mutex_);
  done_.wait(lock, [&] { return busy_ == 0; });
}

Parallel ThreadPool::handle() {
  return Parallel{
      this,
      [](void* pool, int64_t count, int64_t grain, ParallelFn fn, void* ctx) {
        static_cast<ThreadPool*>(pool)->run(count, grain, fn, ctx);
      },
      threads(),
  };
}

}  // namespace slimlm
