#include "experiments/training/meta_test.h"

#include "backbones/registry.h"
#include "datasets/dataset.h"
#include "episodes/prefetch.h"
#include "experiments/report/numbers.h"
#include "experiments/training/build_info.h"
#include "experiments/training/device.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <sstream>
#include <thread>

namespace experiments {

namespace {
// An evaluation estimated to take at least this long says so up front.
constexpr double kEstimateFromSeconds = 60.0;
}  // namespace

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
  const auto t0 = std::chrono::steady_clock::now();
  while (static_cast<int64_t>(out.size()) < n) {
    const auto b = prefetch.next();
    const int64_t take = std::min<int64_t>(chunk, n - static_cast<int64_t>(out.size()));
    const auto metrics = maml.evaluate_tasks(b.support_x.narrow(0, 0, take), b.support_y.narrow(0, 0, take),
                                             b.query_x.narrow(0, 0, take), b.query_y.narrow(0, 0, take), steps);
    for (const auto& m : metrics) {
      out.push_back(m.accuracy);
      sum += m.accuracy;
    }
    if (bar != nullptr && out.size() == metrics.size() && maml.model().device().is_cpu()) {
      // A big model on the CPU: what the whole evaluation will take, timed on the first batch.
      const double first_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      const double estimate = first_s * static_cast<double>(n) / static_cast<double>(out.size());
      if (estimate >= kEstimateFromSeconds) {
        bar->note(fmt::format("about {} for {} (the first {} took {:.1f} s)",
                              count_of(std::lround(estimate / 60.0), "minute"), count_of(n, "episode"),
                              count_of(static_cast<int64_t>(out.size()), "episode"), first_s));
      }
    }
    if (bar != nullptr) {
      bar->update(static_cast<int64_t>(out.size()), "acc " + fixed(100.0 * sum / static_cast<double>(out.size()), 2) + "%");
    }
  }
  return out;
}

void check_data_channels(int64_t model_channels, const std::string& model, int64_t data_channels,
                         const std::string& data_source) {
  if (model_channels == data_channels) return;
  throw UsageError(data_source + " has " + count_of(data_channels, "channel") + " per image; " + model + " was trained on " +
                   count_of(model_channels, "channel") + " (use data with " + count_of(model_channels, "channel") + ")");
}

MetaTestResult meta_test(const MetaTestRequest& o) {
  MetaTestResult r;
  r.info = read_checkpoint_info(o.checkpoint);
  r.run = meta_train_settings().from_config(r.info.config);
  const auto& s = r.run;
  if (o.ways < 0) throw UsageError("--ways must be at least 1, got " + std::to_string(o.ways));
  r.ways = o.ways > 0 ? o.ways : s.ways;
  if (r.ways != s.ways) {
    throw UsageError("--ways " + std::to_string(r.ways) + ": the model was trained " + std::to_string(s.ways) +
                     "-way (its head has " + std::to_string(s.ways) + " outputs)");
  }
  r.shots = o.shots.empty() ? std::vector<int64_t>{s.shots} : o.shots;
  r.steps = o.inner_steps_test >= 0 ? o.inner_steps_test : s.inner_steps_test;
  r.dataset = o.dataset.empty() ? s.dataset : o.dataset;
  r.checkpoint = o.checkpoint;
  r.split = o.split;
  r.queries = o.queries;
  r.episodes = o.episodes;
  r.seed = o.seed;
  auto device = parse_device(o.device);
  if (o.group.distributed() && o.device == "cuda") device = torch::Device(torch::kCUDA, static_cast<int8_t>(o.group.local_rank));
  r.device = device.str();
  r.root = o.group.rank == 0;
  std::unique_ptr<distributed::Group> group;
  if (o.group.distributed()) group = std::make_unique<distributed::Group>(o.group, device);

  // ---- data, model ----
  datasets::Dataset loaded;
  if (o.data == nullptr) {
    datasets::LoadOptions load;
    load.image_size = s.image_size;
    loaded = datasets::load_dataset(r.dataset, load);
  }
  const datasets::Dataset& data = o.data != nullptr ? *o.data : loaded;
  const auto& split_data = data.split(o.split);
  check_data_channels(s.channels, o.checkpoint, data.channels(), data.source);
  if (r.ways > split_data.num_classes()) {
    throw UsageError("--ways " + std::to_string(r.ways) + " is more than the " + std::to_string(split_data.num_classes()) +
                     " classes of the " + o.split + " split of " + data.source);
  }
  torch::manual_seed(static_cast<uint64_t>(s.seed));
  auto model = backbones::make_backbone(s.network());
  meta::Maml maml(*model, s.maml());
  load_checkpoint(o.checkpoint, maml, /*restore_rng=*/false);
  maml.to(device);
  auto standard = s.network();
  standard.conv.type = acdc::ConvType::kStandard;
  r.parameters = model->num_params();
  r.parameters_standard_conv = backbones::make_backbone(standard)->num_params();

  // ---- episodes ----
  for (const auto k : r.shots) {
    episodes::EpisodeConfig ec;
    ec.ways = r.ways;
    ec.shots = k;
    ec.queries = o.queries;
    ec.seed = static_cast<uint64_t>(o.seed);
    ec.augment = false;
    ec.normalization = datasets::normalization_for(data);
    const episodes::EpisodeSampler sampler(split_data, o.split, ec);
    ProgressBar bar("eval " + std::to_string(r.ways) + "-way " + std::to_string(k) + "-shot", o.episodes);
    // As one rank: its contiguous share of the episodes, gathered in episode order (the summary
    // one process computes); rank 0 draws the bar over its own share.
    const auto [first, end] = distributed::share(o.episodes, o.group.rank, o.group.world_size);
    auto accuracies = run_episodes(maml, sampler, first, end - first, r.steps, r.root ? &bar : nullptr);
    if (group) accuracies = group->all_gather(accuracies, std::to_string(k) + "-shot accuracies");
    const auto summary = summarize(accuracies);
    if (r.root) bar.finish("acc " + fixed(summary.accuracy, 2) + " ± " + fixed(summary.ci95, 2) + " %");
    r.summaries.push_back(summary);
  }
  return r;
}

storage::json MetaTestResult::json() const {
  auto results = storage::json::array();
  for (size_t i = 0; i < shots.size(); ++i) {
    const auto& m = summaries[i];
    results.push_back({{"ways", ways}, {"shots", shots[i]}, {"episodes", m.episodes}, {"accuracy", m.accuracy},
                       {"ci95", m.ci95}});
  }
  const auto& s = run;
  auto settings = storage::json::object();
  settings["backbone"] = s.backbone;
  settings["conv"] = acdc::to_string(s.conv);
  settings["width"] = s.width;
  settings["atoms"] = s.atoms;
  settings["group_size"] = s.group_size;
  settings["atom_drop"] = s.atom_drop;
  settings["image_size"] = s.image_size;
  settings["channels"] = s.channels;
  settings["bn"] = backbones::to_string(s.bn);
  settings["inner_params"] = backbones::to_string(s.inner_params);
  settings["inner_steps_train"] = s.inner_steps;
  settings["inner_steps_test"] = steps;
  settings["inner_lr"] = s.inner_lr;
  settings["learn_inner_lr"] = s.learn_inner_lr;
  settings["order"] = order_description(s.maml());
  settings["first_order"] = s.first_order;
  settings["anneal_first_order"] = s.anneal_first_order;
  settings["meta_batch"] = s.meta_batch;
  settings["meta_lr"] = s.meta_lr;
  settings["train_shots"] = s.shots;
  settings["iterations"] = s.iterations;
  settings["dataset"] = dataset;
  settings["split"] = split;
  settings["queries"] = queries;
  settings["checkpoint"] = checkpoint;
  settings["checkpoint_iteration"] = info.iteration;
  settings["best_val_accuracy"] = info.best_val_accuracy >= 0 ? 100.0 * info.best_val_accuracy : -1.0;
  settings["seeds"] = {{"train", s.seed}, {"eval", seed}};
  settings["parameters"] = parameters;
  settings["parameters_standard_conv"] = parameters_standard_conv;
  settings["device"] = device;
  // The last bits of a result depend on the machine's kernels (README "The main job").
  return {{"results", results}, {"settings", settings}, {"machine", build_info().json()}};
}

}  // namespace experiments
