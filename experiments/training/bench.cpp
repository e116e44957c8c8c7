#include "experiments/training/bench.h"

#include "acdc/winograd.h"
#include "backbones/registry.h"
#include "experiments/report/progress.h"
#include "experiments/training/build_info.h"
#include "host/cpu.h"

#include <torch/csrc/autograd/profiler_legacy.h>
#include <torch/torch.h>

#ifdef ACDC_META_HAVE_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

namespace experiments {
namespace {

void sync(const torch::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize();
}

// GFLOP/s of an n x n float32 matrix product on the device (median of a few runs).
double matmul_gflops(const torch::Device& device) {
  const int64_t n = device.is_cuda() ? 8192 : 2048;
  auto a = torch::randn({n, n}, torch::TensorOptions().device(device));
  auto b = torch::randn({n, n}, torch::TensorOptions().device(device));
  torch::NoGradGuard no_grad;
  auto c = a.mm(b);  // warm-up
  sync(device);
  std::vector<double> times;
  for (int i = 0; i < 5; ++i) {
    const auto start = std::chrono::steady_clock::now();
    c = a.mm(b);
    sync(device);
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(times.begin(), times.end());
  return 2.0 * n * n * n / times[times.size() / 2] / 1e9;
}

int64_t peak_rss_bytes() {
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<int64_t>(usage.ru_maxrss) * 1024;
}

#ifdef ACDC_META_HAVE_CUDA
int64_t cuda_peak_bytes(const torch::Device& device) {
  const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device.index() < 0 ? 0 : device.index());
  return stats.allocated_bytes[0].peak;  // index 0: the aggregate over pools
}
void cuda_reset_peak(const torch::Device& device) {
  c10::cuda::CUDACachingAllocator::resetPeakStats(device.index() < 0 ? 0 : device.index());
}
#endif

}  // namespace

storage::json BenchResult::json() const {
  const auto& r = request;
  auto j = storage::json::object();
  j["backbone"] = r.model.name;
  j["conv"] = acdc::to_string(r.model.conv.type);
  j["atoms"] = r.model.conv.atoms;
  j["group_size"] = r.model.conv.group_size;
  j["image_size"] = r.model.image_size;
  j["channels"] = r.model.in_channels;
  j["ways"] = r.ways;
  j["shots"] = r.shots;
  j["queries"] = r.queries;
  j["inner_steps"] = r.maml.inner_steps;
  j["meta_batch"] = r.meta_batch;
  j["first_order"] = r.maml.first_order;
  j["inner_params"] = backbones::to_string(r.maml.inner_params);
  j["bn"] = backbones::to_string(r.maml.bn);
  j["device"] = device;
  j["threads"] = threads;
  j["libtorch"] = TORCH_VERSION;
  j["iterations"] = r.iterations;
  j["sec_per_meta_iter"] = sec;
  j["sec_min"] = sec_min;
  j["sec_max"] = sec_max;
  j["params"] = params;
  j["macs_per_image"] = macs_per_image;
  j["flops_per_meta_iter"] = flops;
  j["achieved_gflops"] = achieved_gflops;
  j["matmul_gflops"] = matmul_gflops;
  j["fraction_of_matmul"] = achieved_gflops / matmul_gflops;
  j["cpu"] = cpu;
  j["blas_core"] = blas_core;
  j["winograd"] = winograd;
  j["peak_memory_bytes"] = peak_memory_bytes;
  j["peak_memory_kind"] = peak_memory_kind;
  if (world_size > 1) {
    j["world_size"] = world_size;
    j["sec_per_meta_iter_per_rank"] = rank_sec;
    j["aggregate_tasks_per_sec"] = aggregate_tasks_per_sec;
  }
  return j;
}

BenchResult bench(BenchRequest request) {
  torch::set_num_threads(request.threads > 0 ? request.threads
                                             : static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  torch::Device device(request.device);
  const auto& where = request.group;
  if (where.distributed() && request.device == "cuda") device = torch::Device(torch::kCUDA, static_cast<int8_t>(where.local_rank));
  if (device.is_cuda()) at::globalContext().setBenchmarkCuDNN(request.cudnn_benchmark);
  std::unique_ptr<distributed::Group> group;
  if (where.distributed()) group = std::make_unique<distributed::Group>(where, device);

  const auto& cfg = request.maml;
  auto& model_opts = request.model;
  model_opts.classes = request.ways;
  model_opts.bn_steps = cfg.bn == backbones::BnMode::kPerStep ? cfg.inner_steps + 1 : 1;

  torch::manual_seed(request.seed);
  auto model = backbones::make_backbone(model_opts);
  const auto costs = model->costs(model_opts.image_size);
  meta::Maml maml(*model, cfg);
  maml.to(device);

  // Analytic FLOPs (see the header comment).
  const double macs = static_cast<double>(costs.macs_per_image());
  const double recon = static_cast<double>(costs.reconstruction_macs());
  auto forward_flops = [&](int64_t n) { return 2.0 * macs * n + 2.0 * recon; };
  const int64_t ways = request.ways, global_tasks = request.meta_batch, tasks = global_tasks / where.world_size;
  const int64_t support = ways * request.shots, query = ways * request.queries;
  double per_task = cfg.inner_steps * 3.0 * forward_flops(support) + 3.0 * forward_flops(query);
  if (!cfg.first_order) per_task += cfg.inner_steps * 6.0 * forward_flops(support);

  BenchResult result;
  result.flops = per_task * global_tasks;
  const auto opts = torch::TensorOptions().device(device);
  const int64_t c = model_opts.in_channels, h = model_opts.image_size;
  auto labels = [&](int64_t per_class) {
    return torch::arange(ways, opts.dtype(torch::kLong)).repeat_interleave(per_class).unsqueeze(0).repeat({tasks, 1});
  };
  const auto sy = labels(request.shots), qy = labels(request.queries);
  auto one_iteration = [&](int64_t it) {
    auto sx = torch::randn({tasks, support, c, h, h}, opts);
    auto qx = torch::randn({tasks, query, c, h, h}, opts);
    meta::Maml::GradientReducer reduce;
    if (group) {
      reduce = [&](std::vector<torch::Tensor>& grads, meta::TaskMetrics&) {
        group->all_reduce_mean(grads, "meta-gradient at iteration " + std::to_string(it + 1));
      };
    }
    maml.meta_step(sx, sy, qx, qy, it, reduce);
  };

  for (int64_t i = 0; i < request.warmup; ++i) one_iteration(i);
  sync(device);
#ifdef ACDC_META_HAVE_CUDA
  if (device.is_cuda()) cuda_reset_peak(device);
#endif
  std::vector<double> times;
  {
    std::unique_ptr<torch::autograd::profiler::RecordProfile> profile;
    if (!request.profile.empty()) profile = std::make_unique<torch::autograd::profiler::RecordProfile>(request.profile);
    ProgressBar bar(group ? "bench " + group->name() : "bench", request.iterations);
    for (int64_t i = 0; i < request.iterations; ++i) {
      const auto start = std::chrono::steady_clock::now();
      one_iteration(request.warmup + i);
      sync(device);
      times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
      if (!group || group->is_root()) bar.update(i + 1);
    }
    if (!group || group->is_root()) bar.finish();
  }
  std::sort(times.begin(), times.end());
  result.sec = times[times.size() / 2];
  result.sec_min = times.front();
  result.sec_max = times.back();
  if (group) {
    result.world_size = group->size();
    result.rank = group->rank();
    result.rank_sec = group->all_gather({result.sec}, "bench timings");
    result.aggregate_tasks_per_sec =
        static_cast<double>(global_tasks) / *std::max_element(result.rank_sec.begin(), result.rank_sec.end());
  }
  result.peak_memory_bytes = peak_rss_bytes();
  result.peak_memory_kind = "resident_set";
#ifdef ACDC_META_HAVE_CUDA
  if (device.is_cuda()) {
    result.peak_memory_bytes = cuda_peak_bytes(device);
    result.peak_memory_kind = "cuda_allocator";
  }
#endif
  result.achieved_gflops = result.flops / result.sec / 1e9;
  result.matmul_gflops = matmul_gflops(device);
  result.device = device.str();
  result.threads = static_cast<int64_t>(torch::get_num_threads());
  result.params = model->num_params();
  result.macs_per_image = costs.macs_per_image();
  result.winograd = device.is_cpu() ? acdc::winograd_status() : "not used (CUDA: cuDNN)";
  result.blas_core = blas_core();  // where it is "Prescott", the matmul reference above is low
  result.cpu = host::cpu_summary();
  result.request = request;
  return result;
}

}  // namespace experiments
