#pragma once
// Independent few-shot tasks on separate CPU threads.
//
// The convolutions of a Conv4 episode are too small to keep two intra-op threads busy
// (LibTorch's speed-up from a second thread is 1.0-1.3x on them), while the tasks of a
// meta-batch and the episodes of an evaluation are independent. A TaskPool runs them on
// `workers` threads, each limited to `intra_op_threads` intra-op threads of its own, so that
// the cores work on different tasks instead of splitting small kernels.
//
// Results must not depend on scheduling: callers write each task's result to its own slot and
// combine the slots in task order afterwards.

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace meta {

class TaskPool {
 public:
  TaskPool(int workers, int intra_op_threads);
  ~TaskPool();
  TaskPool(const TaskPool&) = delete;
  TaskPool& operator=(const TaskPool&) = delete;

  int workers() const { return static_cast<int>(threads_.size()); }
  int intra_op_threads() const { return intra_op_threads_; }

  // Calls fn(i) for i in [0, n) on the workers and returns when all are done. The first
  // exception thrown by a task is rethrown here (the other tasks still finish).
  void run(int64_t n, const std::function<void(int64_t)>& fn);

 private:
  void work();

  int intra_op_threads_;
  std::vector<std::thread> threads_;
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  const std::function<void(int64_t)>* fn_ = nullptr;
  int64_t next_ = 0, end_ = 0, running_ = 0;
  uint64_t generation_ = 0;
  bool stop_ = false;
  std::exception_ptr error_;
};

// Limits the calling thread to n intra-op (OpenMP) threads without touching the process-wide
// setting other threads start from. Returns false where the OpenMP runtime is not available.
bool set_thread_intra_op_threads(int n);

}  // namespace meta
