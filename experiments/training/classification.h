#pragma once
// Supervised classification (`acdc-meta classify`): a backbone trained with SGD on a dataset's
// own train split and tested on its test split, in a run directory driven by the one training
// loop (loop.h): a unit is an epoch; a test after every --test-every epochs; last.h5 after every
// epoch; results.json at the end. Epoch e's shuffling and augmentation depend on (seed, e) only,
// so --resume ends bit-identical to an uninterrupted run.

#include "datasets/dataset.h"
#include "datasets/storage/json.h"
#include "experiments/runs/settings.h"

#include <ATen/core/Generator.h>
#include <torch/types.h>

#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace experiments {

// ---- pieces of the epoch (exposed for tests) ----

// The images of `images` (uint8 [N, H, W, C], any device) at `index` (int64 [B]) as a float
// [B, C, H, W] batch in [0, 1], then normalised with per-channel `mean`/`std` ([C], same
// device). With `crop_padding` > 0: a random H x W window of the zero-padded image; with `flip`:
// a random horizontal flip. The random offsets and flips come from `gen` (CPU), so a batch
// depends only on the generator's state. Every step is a tensor op over the whole batch.
torch::Tensor make_batch(const torch::Tensor& images, const torch::Tensor& index, const torch::Tensor& mean,
                         const torch::Tensor& std, int64_t crop_padding, bool flip, at::Generator& gen);

// The learning rate of global step `step` (0-based) out of `steps_per_epoch * epochs`.
// cosine: lr * (1 + cos(pi * step / total)) / 2, per step; step: lr * 0.1^k with k the number of
// `milestones` (epochs) at or below the step's epoch.
double scheduled_lr(const std::string& schedule, double lr, int64_t step, int64_t steps_per_epoch, int64_t epochs,
                    const std::vector<int64_t>& milestones);

// ---- one run ----

struct ClassifyRequest {
  ClassifySettings settings;            // as given (flags, sweep section, --config, defaults)
  std::set<std::string> explicit_keys;  // on resume, settings whose values must match the saved ones
  std::string out;                      // run directory
  std::string label;                    // variant name for messages and reports
  bool resume = false;
  int64_t stop_after = 0;               // epochs of this invocation before stopping (0 = off; tests)
  const datasets::Dataset* data = nullptr;  // already loaded (a sweep shares one); else loaded here
  bool fresh_if_missing = false;        // --resume without a checkpoint starts the run (sweeps)
  bool plan_only = false;               // build the model, fill params/MACs, train nothing, write nothing
  bool quiet = false;                   // no per-epoch lines on stderr (the progress bars stay)
};

// What a run measured: results.json holds these and the settings.
struct ClassifyResult {
  bool finished = false;  // false when --stop-after stopped the run
  std::string label, backbone, conv, run_dir, dataset;
  int64_t atoms = 0, group_size = 0;
  int64_t params = 0, macs_per_image = 0, reconstruction_macs = 0, epochs = 0;
  int64_t train_images = 0, test_images = 0, classes = 0, image_size = 0;
  double test_accuracy = 0.0;  // percent
  double test_error = 0.0;     // percent
  double test_loss = 0.0, train_loss = 0.0, train_accuracy = 0.0, seconds = 0.0;
  RunConfig settings;          // the resolved configuration
};

// Keys a resumed run takes from the command line rather than from the saved configuration.
extern const std::vector<std::string> kClassifyResumeMayChange;

// The network of a saved classify configuration (classes, channels and image-size resolved, as
// run_classification records them). Throws std::invalid_argument naming a bad setting.
backbones::BackboneOptions classify_backbone_options(const RunConfig& config);

// Trains and tests one configuration (see above). Throws UsageError for bad settings.
ClassifyResult run_classification(const ClassifyRequest& request);

// "LABEL: test accuracy A % (error E %), P parameters, M MACs/image; RUN/results.json" on stdout.
void print_result(const ClassifyResult& result);

// results.json: its text, and a finished run's results read back (for a resumed sweep; throws
// std::invalid_argument naming the file).
storage::json results_json(const ClassifyResult& result);
ClassifyResult read_results(const std::string& run_dir);

}  // namespace experiments
