// A small bounded pool for background block fetches. Work that does not fit
// in the queue is dropped: prefetching is only a hint.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace flint::flist {

class Prefetcher {
 public:
  Prefetcher(int threads, size_t max_queued);
  ~Prefetcher();
  Prefetcher(const Prefetcher&) = delete;
  Prefetcher& operator=(const Prefetcher&) = delete;

  // False when the queue is full or the pool is stopping.
  bool Submit(std::function<void()> task);
  // Drops queued work, waits for running tasks and joins the threads.
  void Stop();
  // Blocks until nothing is queued or running (for tests and benchmarks).
  void WaitIdle();

 private:
  void Work();

  const size_t max_queued_;
  std::mutex mu_;
  std::condition_variable has_work_;
  std::condition_variable idle_;
  std::deque<std::function<void()>> queue_;
  size_t running_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace flint::flist
