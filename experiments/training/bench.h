#pragma once
// The speed benchmark (`acdc-meta bench`): times meta-iterations of the real MAML engine on
// random episodes and reports seconds per meta-iteration, analytic FLOPs and achieved GFLOP/s, a
// large matrix product's rate measured in the same process (the machine's reference peak), and
// peak memory.
//
// Analytic FLOPs of one meta-iteration (a model, stated so that figures can be checked):
//   F(n) = 2 * MACs_per_image * n + 2 * reconstruction_MACs   (one forward over n images)
//   per task: inner_steps * (3 F(support)) + 3 F(query)         (forward + backward = 3 F)
//   second order adds the backward through every inner step:    + inner_steps * 6 F(support)
//   (autograd's double backward costs about twice a forward + backward.)

#include "backbones/backbone.h"
#include "distributed/group.h"
#include "datasets/storage/json.h"
#include "meta/maml.h"

#include <cstdint>
#include <string>

namespace experiments {

// What to time; the caller has checked it (counts >= 1, warmup >= 0, threads >= 0, a device
// this build has).
struct BenchRequest {
  backbones::BackboneOptions model;  // classes and bn_steps are set from ways and maml.bn
  int64_t ways = 5, shots = 1, queries = 15, meta_batch = 4;
  meta::MamlConfig maml;             // inner_steps, inner_lr, first_order, inner_params, bn
  std::string device = "cpu";        // cpu or cuda[:N]
  int threads = 0;                   // CPU threads (0: all cores)
  int64_t iterations = 5;            // timed meta-iterations (the median is reported)
  int64_t warmup = 2;                // untimed meta-iterations first
  bool cudnn_benchmark = true;       // cuda only
  uint64_t seed = 0;
  std::string profile;               // Chrome trace of the timed iterations ("" = none)
  // As one rank of a group: meta_batch is the global meta-batch, this rank times its share with
  // the meta-gradient all-reduce included.
  distributed::GroupSettings group;
};

struct BenchResult {
  BenchRequest request;              // with model.classes and model.bn_steps as used
  std::string device;                // the device's canonical name
  int64_t threads = 0;               // CPU threads used
  double sec = 0.0, sec_min = 0.0, sec_max = 0.0;  // per meta-iteration: median, min, max
  int64_t params = 0, macs_per_image = 0;
  double flops = 0.0;                // analytic FLOPs per meta-iteration
  double achieved_gflops = 0.0, matmul_gflops = 0.0;
  std::string cpu;                   // host::cpu_summary(): the CPU's name and vector instructions
  std::string blas_core;             // OpenBLAS's kernel set, "unknown" with another BLAS
  std::string winograd;              // acdc::winograd_status(): 3x3 convolutions by Winograd or oneDNN
  int64_t peak_memory_bytes = 0;
  std::string peak_memory_kind;      // resident_set or cuda_allocator
  // In a group (world_size > 1): every rank's median seconds per meta-iteration, in rank order,
  // and the tasks per second of the whole group (global meta-batch over the slowest rank's).
  int64_t world_size = 1, rank = 0;
  std::vector<double> rank_sec;
  double aggregate_tasks_per_sec = 0.0;
  // Every setting and figure, in the order `bench --json` prints them.
  storage::json json() const;
};

BenchResult bench(BenchRequest request);

}  // namespace experiments
