#pragma once
// Pieces shared by train, eval and export: device and thread setup, the meta-test loop over
// sampled episodes, and the CloserLook accuracy summary (mean and 1.96·std/sqrt(n), percent).

#include "episodes/sampler.h"
#include "experiments/cli.h"
#include "experiments/report/progress.h"
#include "meta/maml.h"

#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace experiments {

// "cpu", "cuda" or "cuda:N"; throws UsageError naming --device when the value is unknown or
// no CUDA device is present.
torch::Device parse_device(const std::string& name);

// --threads: 0 = every core. Throws UsageError for a negative count. Returns the count used.
int64_t set_threads(int64_t threads);

struct AccuracySummary {
  int64_t episodes = 0;
  double accuracy = 0.0;  // mean, percent
  double ci95 = 0.0;      // 1.96 * std / sqrt(n), percent (population std, as CloserLook)
};
AccuracySummary summarize(const std::vector<double>& accuracies);

// Meta-tests episodes first..first+n-1 of `sampler` (prefetched in the background), each with
// `steps` adaptation steps from the meta parameters. Returns per-episode query accuracies in
// [0, 1]. `bar` (optional) is updated after every episode.
std::vector<double> run_episodes(meta::Maml& maml, const episodes::EpisodeSampler& sampler, int64_t first,
                                 int64_t n, int64_t steps, ProgressBar* bar = nullptr);

// "1,5" -> {1, 5}; throws UsageError naming `flag` for an empty list, a non-number or a value
// below `min_value`.
std::vector<int64_t> parse_int_list(const std::string& text, const std::string& flag, int64_t min_value = 1);

// Names of the run directory's files.
std::string run_file(const std::string& run_dir, const std::string& name);
// --checkpoint best|last|FILE relative to a run directory (FILE when it is neither).
std::string resolve_checkpoint(const std::string& run_dir, const std::string& which);

}  // namespace experiments
