#pragma once
// The meta-test protocol (`acdc-meta eval`, and validation during `train`): the loop over
// sampled episodes, each adapted from the meta parameters; the CloserLook accuracy summary (mean
// and 1.96·std/sqrt(n), percent); and the whole evaluation of a checkpoint (FEWSHOT.md): N
// episodes of ways-way k-shot with fixed seeds for every requested shot count.

#include "distributed/group.h"
#include "episodes/sampler.h"
#include "experiments/commands/cli.h"
#include "datasets/storage/json.h"
#include "experiments/report/progress.h"
#include "experiments/runs/checkpoint.h"
#include "experiments/runs/settings.h"
#include "meta/maml.h"

#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace experiments {

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

// UsageError naming both channel counts when the data's differ from the model's (a 3-channel
// checkpoint given 1-channel data, or the reverse), before any episode reaches the first conv.
void check_data_channels(int64_t model_channels, const std::string& model, int64_t data_channels,
                         const std::string& data_source);

struct MetaTestRequest {
  std::string checkpoint;        // a train checkpoint
  int64_t episodes = 600;
  int64_t ways = 0;              // 0: as trained (the head has one output per way)
  std::vector<int64_t> shots;    // empty: as trained
  int64_t queries = 15;
  std::string split = "test";    // test, val, train
  int64_t inner_steps_test = -1; // -1: the run's
  int64_t seed = 0;              // episode seed
  std::string dataset;           // "": the run's
  std::string device = "cpu";
  distributed::GroupSettings group;  // as one rank of a group: its share of the episodes, gathered
  // The data set of the evaluation, loaded by the caller (a sweep shares one load between its
  // variants); null: meta_test loads `dataset` (or the run's) at the run's image size.
  const datasets::Dataset* data = nullptr;
};

struct MetaTestResult {
  MetaTrainSettings run;         // the checkpoint's settings
  CheckpointInfo info;
  std::string checkpoint, dataset, split, device;
  int64_t ways = 0, queries = 0, episodes = 0, steps = 0, seed = 0;
  int64_t parameters = 0, parameters_standard_conv = 0;
  std::vector<int64_t> shots;
  std::vector<AccuracySummary> summaries;  // one per shot count
  bool root = true;                        // rank 0 (or alone): the one that reports
  // {results: [{ways, shots, episodes, accuracy, ci95}], settings: {every setting FEWSHOT.md asks for},
  //  machine: build_info() (acdc-meta and LibTorch versions, CPU, its kernels)}
  storage::json json() const;
};

// Evaluates a checkpoint (the run's device and thread settings are the caller's); throws
// UsageError naming a flag that does not fit the run or the data.
MetaTestResult meta_test(const MetaTestRequest& request);

}  // namespace experiments
