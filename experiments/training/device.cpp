#include "experiments/training/device.h"

#include "experiments/commands/cli.h"

#include <torch/torch.h>

#include <algorithm>
#include <thread>

namespace experiments {

torch::Device parse_device(const std::string& name) {
  if (name != "cpu" && name.rfind("cuda", 0) != 0) {
    throw UsageError("--device must be cpu, cuda or cuda:N, got '" + name + "'");
  }
  torch::Device device(torch::kCPU);
  try {
    device = torch::Device(name);
  } catch (const c10::Error&) {
    throw UsageError("--device must be cpu, cuda or cuda:N, got '" + name + "'");
  }
  if (device.is_cuda()) {
    if (!torch::cuda::is_available()) {
      throw UsageError("--device " + name + ": no CUDA device is available to this build (LibTorch " +
                       std::string(TORCH_VERSION) + "; see `acdc-meta info`); use --device cpu");
    }
    const auto count = static_cast<int64_t>(torch::cuda::device_count());
    if (device.has_index() && device.index() >= count) {
      throw UsageError("--device " + name + ": only " + std::to_string(count) + " CUDA device(s) present");
    }
  }
  return device;
}

int64_t set_threads(int64_t threads) {
  if (threads < 0) throw UsageError("--threads must be >= 0 (0 = every core), got " + std::to_string(threads));
  if (threads > kMaxThreads) {  // the same bound as the settings tables', for the commands without one
    throw UsageError("--threads must be at most " + std::to_string(kMaxThreads) +
                     " (more threads than cores only contend; the largest machines have a few hundred), got " +
                     std::to_string(threads));
  }
  if (threads == 0) threads = std::max<int64_t>(1, static_cast<int64_t>(std::thread::hardware_concurrency()));
  torch::set_num_threads(static_cast<int>(threads));
  return threads;
}

}  // namespace experiments
