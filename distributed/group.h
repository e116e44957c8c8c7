#pragma once
// A process group for data parallelism on LibTorch's c10d: rank 0 hosts a TCPStore at the master
// address, every rank joins it, and a Gloo (CPU) or NCCL (CUDA LibTorch only) process group runs
// the collectives. What a data-parallel meta-training needs and no more: the mean of tensors over
// the ranks in few large buckets, a broadcast from rank 0, a gather of per-rank values in rank
// order, and short texts passed through the store. Every collective waits at most the group's
// timeout; a peer that died or hangs makes it throw std::runtime_error naming the ranks.
//
// The c10d headers stay in group.cpp: including this header costs <torch/types.h> only.

#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace distributed {

// Settings a group cannot start with (a bad rank or size, a port in use, a master nobody answers
// at, a backend this build or device lacks): the command line reports them as usage errors.
struct SetupError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

// Where a rank runs. The defaults are one process: no group at all.
struct GroupSettings {
  int64_t rank = 0;
  int64_t world_size = 1;
  int64_t local_rank = 0;                // rank on this machine (picks cuda:LOCAL_RANK for plain "cuda")
  std::string master_addr = "127.0.0.1";
  int64_t master_port = 29500;
  std::string backend;                   // "gloo" or "nccl"; "" = nccl on CUDA, gloo on the CPU
  double timeout_seconds = 300;          // rendezvous and every collective

  // Whether to join a group: several ranks, or a backend asked for by name (a group of one runs
  // every collective too: how a single GPU checks the NCCL path).
  bool distributed() const { return world_size > 1 || !backend.empty(); }
};

// The variables torchrun and SLURM wrappers set (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR,
// MASTER_PORT), each read over `defaults` when present; throws SetupError naming the variable
// and its value.
GroupSettings settings_from_env(GroupSettings defaults = {});

// "ADDR:PORT" (ADDR may be a name, an IPv4 address or [IPv6]) into master_addr/master_port;
// throws SetupError naming `what` (the flag or variable) and the text.
void parse_master(const std::string& text, GroupSettings& settings, const std::string& what = "--master");

// The backend a group on `device` uses: settings.backend, or nccl on CUDA and gloo on the CPU.
// Throws SetupError for an unknown backend, nccl on the CPU, or nccl in a LibTorch without it.
std::string resolve_backend(const GroupSettings& settings, const torch::Device& device);

// Checks rank, world size, port and timeout; throws SetupError naming the setting and value.
void validate(const GroupSettings& settings);

class Group {
 public:
  // Joins the group: rank 0 opens the store on master_port, the others connect to it, then the
  // process group connects every pair of ranks. Throws SetupError when the port is in use, the
  // master does not answer or not every rank joins within the timeout.
  Group(const GroupSettings& settings, const torch::Device& device);
  ~Group();
  Group(const Group&) = delete;
  Group& operator=(const Group&) = delete;

  int64_t rank() const { return rank_; }
  int64_t size() const { return size_; }
  bool is_root() const { return rank_ == 0; }
  const std::string& backend() const { return backend_; }
  // "rank 1 of 2", the prefix of this rank's messages.
  std::string name() const;

  // Replaces each defined tensor by its mean over the ranks, in place (undefined entries are
  // skipped: every rank must pass the same structure). The tensors are flattened into buckets
  // of one dtype of at most kBucketBytes each, so a whole model is a few collectives. `what`
  // names the collective in errors ("meta-gradient at iteration 3").
  static constexpr int64_t kBucketBytes = 25 << 20;
  void all_reduce_mean(std::vector<torch::Tensor>& tensors, const std::string& what);
  // Sums of a few numbers over the ranks (double precision).
  std::vector<double> all_reduce_sum(const std::vector<double>& values, const std::string& what);
  // Copies rank 0's values into every rank's tensors, in place (same bucketing).
  void broadcast(std::vector<torch::Tensor>& tensors, const std::string& what);
  // Every rank's values, concatenated in rank order (ranks may pass different counts).
  std::vector<double> all_gather(const std::vector<double>& values, const std::string& what);
  // Rank 0's text on every rank, through the store (`key` unique per use).
  std::string broadcast_text(const std::string& text, const std::string& key);
  // Returns when every rank got here.
  void barrier(const std::string& what);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int64_t rank_ = 0, size_ = 1;
  std::string backend_;
  double timeout_seconds_ = 0;
  // Rethrows a failed collective as std::runtime_error naming this rank, the peers and the timeout.
  [[noreturn]] void fail(const std::string& what, const std::string& cause) const;
};

// The first and one-past-last of `n` items (episodes) that `rank` of `size` takes: contiguous
// ranges in rank order, sizes differing by at most one.
std::pair<int64_t, int64_t> share(int64_t n, int64_t rank, int64_t size);

}  // namespace distributed
