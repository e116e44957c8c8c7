// `acdc-meta bench`: flags -> BenchRequest -> bench (experiments/training/bench.h, which also
// states the FLOP model): seconds per meta-iteration of the real MAML engine on random episodes,
// achieved GFLOP/s against a matrix product's, and peak memory.

#include "acdc/winograd.h"
#include "experiments/commands/cli.h"
#include "experiments/commands/commands.h"
#include "experiments/commands/group_options.h"
#include "experiments/report/numbers.h"
#include "experiments/runs/output_paths.h"
#include "experiments/training/bench.h"

#include <torch/torch.h>

#include <algorithm>
#include <iostream>

namespace experiments {

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
      ("json", po::bool_switch(), "print one JSON object")
      ("winograd", po::value<std::string>(),
       "3x3 stride-1 convolutions on the CPU by Winograd F(2x2,3x3): auto (maps of 4x4 and more; on "
       "AVX-512 CPUs only the builds of the loops (AVX-512: channels multiples of 32 floats; AVX2: of 16) that a "
       "timing against oneDNN at the process's first convolution finds faster, the faster first), "
       "on (wherever the kernels run: "
       "their AVX-512 build on AVX-512 CPUs, else AVX2), off (oneDNN); default: ACDC_META_WINOGRAD, else auto");
  add_group_options(desc);
  po::variables_map vm;
  const std::string usage = "[--backbone conv4] [--conv standard] [--image-size 28] [--channels 1] [--first-order] [--device cpu] [--json]";
  // bench's default input is the Omniglot/Fashion-MNIST shape: 1 channel.
  auto argv = args;
  if (std::find(argv.begin(), argv.end(), "--channels") == argv.end()) {
    argv.push_back("--channels");
    argv.push_back("1");
  }
  if (!parse_args("bench", usage, argv, desc, vm)) return 0;

  BenchRequest request;
  if (vm.count("profile")) {
    request.profile = vm["profile"].as<std::string>();
    check_output_file(request.profile, "--profile");
  }
  request.model = model_options(vm);
  request.ways = vm["ways"].as<int64_t>();
  request.shots = vm["shots"].as<int64_t>();
  request.queries = vm["queries"].as<int64_t>();
  request.meta_batch = vm["meta-batch"].as<int64_t>();
  request.iterations = vm["iterations"].as<int64_t>();
  request.warmup = vm["warmup"].as<int64_t>();
  if (request.ways < 1 || request.shots < 1 || request.queries < 1 || request.meta_batch < 1) {
    throw UsageError("--ways, --shots, --queries and --meta-batch must be at least 1");
  }
  if (request.iterations < 1 || request.warmup < 0) throw UsageError("--iterations must be >= 1 and --warmup >= 0");
  request.threads = vm["threads"].as<int>();
  if (request.threads < 0) throw UsageError("--threads must be >= 0, got " + std::to_string(request.threads));
  request.device = vm["device"].as<std::string>();
  torch::Device device(torch::kCPU);
  try {
    device = torch::Device(request.device);
  } catch (const c10::Error&) {
    throw UsageError("--device: unknown device '" + request.device + "' (expected cpu or cuda[:N])");
  }
  if (device.is_cuda() && !torch::cuda::is_available()) {
    throw UsageError("--device cuda: no CUDA device is available to this build (acdc-meta info tells why)");
  }
  request.cudnn_benchmark = vm["cudnn-benchmark"].as<bool>();
  request.maml.inner_steps = vm["inner-steps"].as<int64_t>();
  request.maml.inner_lr = vm["inner-lr"].as<double>();
  request.maml.first_order = vm["first-order"].as<bool>();
  try {
    request.maml.inner_params = backbones::parse_param_filter(vm["inner-params"].as<std::string>());
    request.maml.bn = backbones::parse_bn_mode(vm["bn"].as<std::string>());
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
  if (vm.count("winograd")) {
    try {
      acdc::set_winograd_use(acdc::parse_winograd_use(vm["winograd"].as<std::string>()));
    } catch (const std::invalid_argument& e) {
      throw UsageError(std::string("--winograd: ") + e.what());
    }
  }
  request.seed = vm["seed"].as<uint64_t>();
  request.group = group_settings(vm);
  if (request.meta_batch % request.group.world_size != 0) {
    throw UsageError("--meta-batch " + std::to_string(request.meta_batch) +
                     " (the global meta-batch) is not divisible by the world size " +
                     std::to_string(request.group.world_size));
  }

  const auto r = bench(request);
  if (r.rank != 0) return 0;  // rank 0 reports for the group
  if (vm["json"].as<bool>()) {
    std::cout << storage::dump_json(r.json()) << "\n";
  } else {
    std::cout << r.request.model.name << " / " << acdc::to_string(r.request.model.conv.type) << " on " << r.device
              << ", " << (r.request.maml.first_order ? "first" : "second") << " order: " << significant(r.sec, 6)
              << " s per meta-iteration (median of " << r.request.iterations << "), "
              << significant(r.achieved_gflops, 6)
              << " GFLOP/s achieved = " << significant(100.0 * r.achieved_gflops / r.matmul_gflops, 6) << "% of a "
              << significant(r.matmul_gflops, 6) << " GFLOP/s matrix product; peak memory "
              << r.peak_memory_bytes / (1 << 20) << " MiB (" << r.peak_memory_kind << "); Winograd "
              << r.winograd << "; CPU " << r.cpu << "\n";
    if (r.world_size > 1) {
      std::cout << r.world_size << " ranks x " << r.request.meta_batch / r.world_size << " tasks: s per meta-iteration";
      for (size_t k = 0; k < r.rank_sec.size(); ++k) std::cout << (k ? ", " : " ") << significant(r.rank_sec[k], 6);
      std::cout << " (ranks 0.." << r.world_size - 1 << "); " << significant(r.aggregate_tasks_per_sec, 6)
                << " tasks/s in all\n";
    }
  }
  return 0;
}

}  // namespace experiments
