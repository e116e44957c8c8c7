#include "episodes/prefetch.h"

#include <torch/torch.h>

namespace episodes {

Prefetcher::Prefetcher(const EpisodeSampler& sampler, int64_t first_index, int64_t tasks, int threads, int depth,
                       int64_t stride)
    : sampler_(sampler), first_(first_index), tasks_(tasks), stride_(stride > 0 ? stride : tasks), depth_(std::max(1, depth)) {
  if (tasks < 1) throw std::invalid_argument("Prefetcher: tasks must be >= 1, got " + std::to_string(tasks));
  const int n = std::max(1, threads);
  for (int i = 0; i < n; ++i) workers_.emplace_back([this] { work(); });
}

Prefetcher::~Prefetcher() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : workers_) t.join();
}

void Prefetcher::work() {
  torch::NoGradGuard no_grad;
  while (true) {
    int64_t i;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stop_ || claimed_ < consumed_ + depth_; });
      if (stop_) return;
      i = claimed_++;
    }
    TaskBatch b;
    std::exception_ptr err;
    try {
      b = sampler_.batch(first_ + i * stride_, tasks_);
    } catch (...) {
      err = std::current_exception();
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (err) errors_[i] = err;
      else ready_[i] = std::move(b);
    }
    cv_.notify_all();
  }
}

TaskBatch Prefetcher::next() {
  std::unique_lock<std::mutex> lock(mu_);
  const int64_t i = consumed_;
  cv_.wait(lock, [&] { return ready_.count(i) > 0 || errors_.count(i) > 0; });
  ++consumed_;
  if (auto it = errors_.find(i); it != errors_.end()) {
    auto err = it->second;
    errors_.erase(it);
    lock.unlock();
    cv_.notify_all();
    std::rethrow_exception(err);
  }
  TaskBatch b = std::move(ready_[i]);
  ready_.erase(i);
  lock.unlock();
  cv_.notify_all();
  return b;
}

}  // namespace episodes
