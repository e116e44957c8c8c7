#include "experiments/fewshot.h"

#include "episodes/prefetch.h"

#include <torch/torch.h>

#include <cmath>
#include <sstream>
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
  if (threads == 0) threads = std::max<int64_t>(1, static_cast<int64_t>(std::thread::hardware_concurrency()));
  torch::set_num_threads(static_cast<int>(threads));
  return threads;
}

AccuracySummary summarize(const std::vector<double>& accuracies) {
  AccuracySummary s;
  s.episodes = static_cast<int64_t>(accuracies.size());
  if (accuracies.empty()) return s;
  double sum = 0.0;
  for (double a : accuracies) sum += a;
  const double mean = sum / static_cast<double>(accuracies.size());
  double sq = 0.0;
  for (double a : accuracies) sq += (a - mean) * (a - mean);
  const double std = std::sqrt(sq / static_cast<double>(accuracies.size()));
  s.accuracy = 100.0 * mean;
  s.ci95 = 100.0 * 1.96 * std / std::sqrt(static_cast<double>(accuracies.size()));
  return s;
}

std::vector<double> run_episodes(meta::Maml& maml, const episodes::EpisodeSampler& sampler, int64_t first, int64_t n,
                                 int64_t steps, ProgressBar* bar) {
  std::vector<double> out;
  out.reserve(static_cast<size_t>(n));
  // Batches of as many episodes as there are threads, meta-tested side by side (one intra-op
  // thread each on the CPU): every episode's accuracy is the same with any thread count.
  const int64_t chunk = maml.model().device().is_cpu() ? std::max(1, at::get_num_threads()) : 1;
  episodes::Prefetcher prefetch(sampler, first, /*tasks=*/chunk, /*threads=*/1, /*depth=*/4);
  double sum = 0.0;
  while (static_cast<int64_t>(out.size()) < n) {
    const auto b = prefetch.next();
    const int64_t take = std::min<int64_t>(chunk, n - static_cast<int64_t>(out.size()));
    const auto metrics = maml.evaluate_tasks(b.support_x.narrow(0, 0, take), b.support_y.narrow(0, 0, take),
                                             b.query_x.narrow(0, 0, take), b.query_y.narrow(0, 0, take), steps);
    for (const auto& m : metrics) {
      out.push_back(m.accuracy);
      sum += m.accuracy;
    }
    if (bar != nullptr) {
      std::ostringstream status;
      status.setf(std::ios::fixed);
      status.precision(2);
      status << "acc " << 100.0 * sum / static_cast<double>(out.size()) << "%";
      bar->update(static_cast<int64_t>(out.size()), status.str());
    }
  }
  return out;
}

std::vector<int64_t> parse_int_list(const std::string& text, const std::string& flag, int64_t min_value) {
  std::vector<int64_t> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    size_t used = 0;
    int64_t v = 0;
    try {
      v = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != item.size()) throw UsageError(flag + ": expected a comma-separated list of integers, got '" + text + "'");
    if (v < min_value) throw UsageError(flag + " must be at least " + std::to_string(min_value) + ", got " + std::to_string(v));
    out.push_back(v);
  }
  if (out.empty()) throw UsageError(flag + ": empty list");
  return out;
}

std::string run_file(const std::string& run_dir, const std::string& name) {
  if (run_dir.empty() || run_dir.back() == '/') return run_dir + name;
  return run_dir + "/" + name;
}

std::string resolve_checkpoint(const std::string& run_dir, const std::string& which) {
  if (which == "best" || which == "last") return run_file(run_dir, which + ".h5");
  return which;
}

}  // namespace experiments
