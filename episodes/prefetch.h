#pragma once
// Background workers produce sampler.batch(first + i*stride, tasks) for i = 0, 1, 2, ... (stride 0:
// tasks, consecutive batches; a rank of a data-parallel run strides over the other ranks' tasks);
// next() hands them out strictly in order, so a run is the same with 1 or 8 threads.

#include "episodes/sampler.h"

#include <condition_variable>
#include <exception>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

namespace episodes {

class Prefetcher {
 public:
  Prefetcher(const EpisodeSampler& sampler, int64_t first_index, int64_t tasks, int threads = 2, int depth = 4,
             int64_t stride = 0);
  Prefetcher(const Prefetcher&) = delete;
  Prefetcher& operator=(const Prefetcher&) = delete;
  TaskBatch next();  // blocks until the next batch in order is ready; rethrows a worker's error
  ~Prefetcher();     // stops and joins workers

 private:
  void work();
  const EpisodeSampler& sampler_;
  int64_t first_, tasks_, stride_;
  int depth_;
  std::mutex mu_;
  std::condition_variable cv_;
  int64_t claimed_ = 0, consumed_ = 0;
  bool stop_ = false;
  std::map<int64_t, TaskBatch> ready_;
  std::map<int64_t, std::exception_ptr> errors_;
  std::vector<std::thread> workers_;
};

}  // namespace episodes
