#include "meta/task_pool.h"

#include <ATen/Parallel.h>
#include <dlfcn.h>

#include <stdexcept>

// LibTorch's CPU kernels (and oneDNN and OpenBLAS inside it) size their parallel regions from
// the calling thread's OpenMP setting. at::set_num_threads would also change the process-wide
// default, so the per-thread OpenMP call is used directly, looked up at run time in the OpenMP
// runtime that LibTorch loaded: Debian's LibTorch links the system libgomp, the one inside
// Python's torch package a private copy under another file name that a link-time (weak)
// reference never sees. Absent in a build without OpenMP.
// MKL (inside Python's torch package; Debian's LibTorch uses OpenBLAS) keeps its own thread
// count, which at::set_num_threads sets process-wide; its per-thread override is looked up the
// same way and is absent where MKL is not loaded or does not export it. The by-value C entry is
// MKL_Set_Num_Threads_Local (mkl_service.h maps the lowercase name to it): the exported lowercase
// symbol is the Fortran entry, which takes an int* (calling it with an int crashed every worker).
namespace {
using SetThreads = void (*)(int);
using MklSetThreadsLocal = int (*)(int);

template <typename F>
F lookup(const char* name) {
  return reinterpret_cast<F>(::dlsym(RTLD_DEFAULT, name));
}

SetThreads omp_set_num_threads_fn() {
  static const auto fn = lookup<SetThreads>("omp_set_num_threads");
  return fn;
}

MklSetThreadsLocal mkl_set_num_threads_local_fn() {
  static const auto fn = lookup<MklSetThreadsLocal>("MKL_Set_Num_Threads_Local");
  return fn;
}
}  // namespace

namespace meta {

bool set_thread_intra_op_threads(int n) {
  const auto set = omp_set_num_threads_fn();
  if (set == nullptr) return false;
  // First let LibTorch initialise this thread (it copies the process-wide count into the
  // thread's OpenMP and MKL settings once), then override the thread's own setting. The
  // initialisation is reached through at::get_num_threads, which runs inside LibTorch:
  // at::internal::lazy_init_num_threads is inline, and where LibTorch is built with hidden
  // symbols (the torch wheel) our copy of its thread-local "done" flag is not LibTorch's, so
  // LibTorch's first parallel kernel on this thread would initialise again over our setting.
  (void)at::get_num_threads();
  set(n);
  if (const auto mkl = mkl_set_num_threads_local_fn()) mkl(n);
  return true;
}

TaskPool::TaskPool(int workers, int intra_op_threads) : intra_op_threads_(intra_op_threads) {
  if (workers < 1 || intra_op_threads < 1) {
    throw std::invalid_argument("task pool: workers and intra-op threads must be at least 1");
  }
  threads_.reserve(static_cast<size_t>(workers));
  for (int i = 0; i < workers; ++i) threads_.emplace_back([this] { work(); });
}

TaskPool::~TaskPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  for (auto& t : threads_) t.join();
}

void TaskPool::run(int64_t n, const std::function<void(int64_t)>& fn) {
  if (n <= 0) return;
  std::unique_lock<std::mutex> lock(mutex_);
  fn_ = &fn;
  next_ = 0;
  end_ = n;
  running_ = 0;
  error_ = nullptr;
  ++generation_;
  wake_.notify_all();
  done_.wait(lock, [this] { return next_ >= end_ && running_ == 0; });
  fn_ = nullptr;
  if (error_) std::rethrow_exception(error_);
}

void TaskPool::work() {
  set_thread_intra_op_threads(intra_op_threads_);
  uint64_t seen = 0;
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    wake_.wait(lock, [&] { return stop_ || (generation_ != seen && next_ < end_); });
    if (stop_) return;
    while (next_ < end_) {
      const int64_t i = next_++;
      ++running_;
      const auto* fn = fn_;
      lock.unlock();
      try {
        (*fn)(i);
      } catch (...) {
        std::lock_guard<std::mutex> guard(mutex_);
        if (!error_) error_ = std::current_exception();
      }
      lock.lock();
      --running_;
    }
    seen = generation_;
    if (running_ == 0) done_.notify_all();
  }
}

}  // namespace meta
