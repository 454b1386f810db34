#include "flist-snapshotter/fuse/prefetcher.h"

namespace flint::flist {

Prefetcher::Prefetcher(int threads, size_t max_queued) : max_queued_(max_queued) {
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Work(); });
}

Prefetcher::~Prefetcher() { Stop(); }

bool Prefetcher::Submit(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ || threads_.empty() || queue_.size() >= max_queued_) return false;
    queue_.push_back(std::move(task));
  }
  has_work_.notify_one();
  return true;
}

void Prefetcher::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    queue_.clear();
  }
  has_work_.notify_all();
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
  idle_.notify_all();
}

void Prefetcher::WaitIdle() {
  std::unique_lock<std::mutex> lock(mu_);
  idle_.wait(lock, [&] { return (queue_.empty() && running_ == 0) || stopping_; });
}

void Prefetcher::Work() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    has_work_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    std::function<void()> task = std::move(queue_.front());
    queue_.pop_front();
    ++running_;
    lock.unlock();
    task();
    lock.lock();
    --running_;
    if (queue_.empty() && running_ == 0) idle_.notify_all();
  }
}

}  // namespace flint::flist
