// `acdc-meta bench`: times meta-iterations of the real MAML engine on random episodes and
// reports seconds per meta-iteration, analytic FLOPs and achieved GFLOP/s, a large matrix
// product's rate measured in the same process (the machine's reference peak), and peak memory.
//
// Analytic FLOPs of one meta-iteration (a model, stated so that figures can be checked):
//   F(n) = 2 * MACs_per_image * n + 2 * reconstruction_MACs   (one forward over n images)
//   per task: inner_steps * (3 F(support)) + 3 F(query)         (forward + backward = 3 F)
//   second order adds the backward through every inner step:    + inner_steps * 6 F(support)
//   (autograd's double backward costs about twice a forward + backward.)

#include "backbones/registry.h"
#include "datasets/storage/json.h"
#include "experiments/commands/cli.h"
#include "experiments/commands/commands.h"
#include "experiments/runs/output_paths.h"
#include "experiments/report/numbers.h"
#include "experiments/report/progress.h"
#include "meta/maml.h"

#include <torch/csrc/autograd/profiler_legacy.h>
#include <torch/torch.h>

#ifdef ACDC_META_HAVE_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

#include <sys/resource.h>
#include <thread>

#include <algorithm>
#include <chrono>
#include <iostream>

// OpenBLAS names the kernels it picked for this CPU (weak: absent with another BLAS). Its CPU
// detection can fail inside VMs and fall back to decades-old kernels ("Prescott", 5x slower on
// the CI machines); the matmul reference below is then low, and OPENBLAS_CORETYPE fixes it.
extern "C" char* openblas_get_corename() __attribute__((weak));

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

int cmd_bench(const Args& args) {
  po::options_description desc("bench options");
  add_model_options(desc, "conv4", 5, 28);
  desc.add_options()
      ("ways", po::value<int64_t>()->default_value(5), "classes per task (N)")
      ("shots", po::value<int64_t>()->default_value(1), "support images per class (K)")
      ("queries", po::value<int64_t>()->default_value(15), "query images per class")
      ("inner-steps", po::value<int64_t>()->default_value(5), "inner-loop steps")
      ("inner-lr", po::value<double>()->default_value(0.01), "inner learning rate")
      ("meta-batch", po::value<int64_t>()->default_value(4), "tasks per meta-iteration (T)")
      ("first-order", po::bool_switch(), "first-order MAML (default: second order)")
      ("inner-params", po::value<std::string>()->default_value("all"), "adapted parameters: all, head, atoms, atoms+head")
      ("bn", po::value<std::string>()->default_value("transductive"), "BatchNorm mode: transductive, running, per-step")
      ("device", po::value<std::string>()->default_value("cpu"), "cpu or cuda[:N]")
      ("threads", po::value<int>()->default_value(0), "CPU threads (0: all cores)")
      ("iterations", po::value<int64_t>()->default_value(5), "timed meta-iterations (median reported)")
      ("warmup", po::value<int64_t>()->default_value(2), "untimed meta-iterations first")
      ("cudnn-benchmark", po::value<bool>()->default_value(true), "let cuDNN pick the fastest algorithms (cuda)")
      ("seed", po::value<uint64_t>()->default_value(0), "random seed")
      ("profile", po::value<std::string>(), "write a Chrome trace of the timed iterations (LibTorch profiler) to FILE")
      ("json", po::bool_switch(), "print one JSON object");
  po::variables_map vm;
  const std::string usage = "[--backbone conv4] [--conv standard] [--image-size 28] [--channels 1] [--first-order] [--device cpu] [--json]";
  // bench's default input is the Omniglot/Fashion-MNIST shape: 1 channel.
  auto argv = args;
  if (std::find(argv.begin(), argv.end(), "--channels") == argv.end()) {
    argv.push_back("--channels");
    argv.push_back("1");
  }
  if (!parse_args("bench", usage, argv, desc, vm)) return 0;
  if (vm.count("profile")) check_output_file(vm["profile"].as<std::string>(), "--profile");

  auto model_opts = model_options(vm);
  model_opts.classes = vm["ways"].as<int64_t>();
  const int64_t ways = vm["ways"].as<int64_t>(), shots = vm["shots"].as<int64_t>();
  const int64_t queries = vm["queries"].as<int64_t>(), tasks = vm["meta-batch"].as<int64_t>();
  const int64_t iterations = vm["iterations"].as<int64_t>(), warmup = vm["warmup"].as<int64_t>();
  if (ways < 1 || shots < 1 || queries < 1 || tasks < 1) {
    throw UsageError("--ways, --shots, --queries and --meta-batch must be at least 1");
  }
  if (iterations < 1 || warmup < 0) throw UsageError("--iterations must be >= 1 and --warmup >= 0");
  const int threads = vm["threads"].as<int>();
  if (threads < 0) throw UsageError("--threads must be >= 0, got " + std::to_string(threads));
  torch::set_num_threads(threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));

  torch::Device device(torch::kCPU);
  try {
    device = torch::Device(vm["device"].as<std::string>());
  } catch (const c10::Error&) {
    throw UsageError("--device: unknown device '" + vm["device"].as<std::string>() + "' (expected cpu or cuda[:N])");
  }
  if (device.is_cuda() && !torch::cuda::is_available()) {
    throw UsageError("--device cuda: no CUDA device is available to this build (acdc-meta info tells why)");
  }
  if (device.is_cuda()) at::globalContext().setBenchmarkCuDNN(vm["cudnn-benchmark"].as<bool>());

  meta::MamlConfig cfg;
  cfg.inner_steps = vm["inner-steps"].as<int64_t>();
  cfg.inner_lr = vm["inner-lr"].as<double>();
  cfg.first_order = vm["first-order"].as<bool>();
  try {
    cfg.inner_params = backbones::parse_param_filter(vm["inner-params"].as<std::string>());
    cfg.bn = backbones::parse_bn_mode(vm["bn"].as<std::string>());
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
  model_opts.bn_steps = cfg.bn == backbones::BnMode::kPerStep ? cfg.inner_steps + 1 : 1;

  torch::manual_seed(vm["seed"].as<uint64_t>());
  auto model = backbones::make_backbone(model_opts);
  const auto costs = model->costs(model_opts.image_size);
  meta::Maml maml(*model, cfg);
  maml.to(device);

  // Analytic FLOPs (see the header comment).
  const double macs = static_cast<double>(costs.macs_per_image());
  const double recon = static_cast<double>(costs.reconstruction_macs());
  auto forward_flops = [&](int64_t n) { return 2.0 * macs * n + 2.0 * recon; };
  const int64_t support = ways * shots, query = ways * queries;
  double per_task = cfg.inner_steps * 3.0 * forward_flops(support) + 3.0 * forward_flops(query);
  if (!cfg.first_order) per_task += cfg.inner_steps * 6.0 * forward_flops(support);
  const double flops = per_task * tasks;

  const auto opts = torch::TensorOptions().device(device);
  const int64_t c = model_opts.in_channels, h = model_opts.image_size;
  auto labels = [&](int64_t per_class) {
    return torch::arange(ways, opts.dtype(torch::kLong)).repeat_interleave(per_class).unsqueeze(0).repeat({tasks, 1});
  };
  const auto sy = labels(shots), qy = labels(queries);
  auto one_iteration = [&](int64_t it) {
    auto sx = torch::randn({tasks, support, c, h, h}, opts);
    auto qx = torch::randn({tasks, query, c, h, h}, opts);
    maml.meta_step(sx, sy, qx, qy, it);
  };

  for (int64_t i = 0; i < warmup; ++i) one_iteration(i);
  sync(device);
#ifdef ACDC_META_HAVE_CUDA
  if (device.is_cuda()) cuda_reset_peak(device);
#endif
  std::vector<double> times;
  {
    std::unique_ptr<torch::autograd::profiler::RecordProfile> profile;
    if (vm.count("profile")) profile = std::make_unique<torch::autograd::profiler::RecordProfile>(vm["profile"].as<std::string>());
    ProgressBar bar("bench", iterations);
    for (int64_t i = 0; i < iterations; ++i) {
      const auto start = std::chrono::steady_clock::now();
      one_iteration(warmup + i);
      sync(device);
      times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
      bar.update(i + 1);
    }
    bar.finish();
  }
  std::sort(times.begin(), times.end());
  const double sec = times[times.size() / 2];
  int64_t peak = peak_rss_bytes();
  std::string peak_kind = "resident_set";
#ifdef ACDC_META_HAVE_CUDA
  if (device.is_cuda()) {
    peak = cuda_peak_bytes(device);
    peak_kind = "cuda_allocator";
  }
#endif
  const double achieved = flops / sec / 1e9;
  const double reference = matmul_gflops(device);

  auto j = storage::json::object();
  j["backbone"] = model_opts.name;
  j["conv"] = acdc::to_string(model_opts.conv.type);
  j["atoms"] = model_opts.conv.atoms;
  j["group_size"] = model_opts.conv.group_size;
  j["image_size"] = h;
  j["channels"] = c;
  j["ways"] = ways;
  j["shots"] = shots;
  j["queries"] = queries;
  j["inner_steps"] = cfg.inner_steps;
  j["meta_batch"] = tasks;
  j["first_order"] = cfg.first_order;
  j["inner_params"] = backbones::to_string(cfg.inner_params);
  j["bn"] = backbones::to_string(cfg.bn);
  j["device"] = device.str();
  j["threads"] = static_cast<int64_t>(torch::get_num_threads());
  j["libtorch"] = TORCH_VERSION;
  j["iterations"] = iterations;
  j["sec_per_meta_iter"] = sec;
  j["sec_min"] = times.front();
  j["sec_max"] = times.back();
  j["params"] = model->num_params();
  j["macs_per_image"] = costs.macs_per_image();
  j["flops_per_meta_iter"] = flops;
  j["achieved_gflops"] = achieved;
  j["matmul_gflops"] = reference;
  j["fraction_of_matmul"] = achieved / reference;
  j["blas_core"] = openblas_get_corename != nullptr ? std::string(openblas_get_corename()) : std::string("unknown");
  j["peak_memory_bytes"] = peak;
  j["peak_memory_kind"] = peak_kind;
  if (vm["json"].as<bool>()) {
    std::cout << storage::dump_json(j) << "\n";
  } else {
    std::cout << model_opts.name << " / " << acdc::to_string(model_opts.conv.type) << " on " << device.str() << ", "
              << (cfg.first_order ? "first" : "second") << " order: " << significant(sec, 6)
              << " s per meta-iteration (median of " << iterations << "), " << significant(achieved, 6)
              << " GFLOP/s achieved = " << significant(100.0 * achieved / reference, 6) << "% of a "
              << significant(reference, 6) << " GFLOP/s matrix product; peak memory " << peak / (1 << 20) << " MiB ("
              << peak_kind << ")\n";
  }
  return 0;
}

}  // namespace experiments
