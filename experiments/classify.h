#pragma once
// Supervised classification (acdc-meta classify): training a backbone with SGD on a dataset's
// own train split and testing it on its test split. The report of a sweep over conv variants is
// in experiments/report/sweep_report.h.

#include "backbones/backbone.h"
#include "datasets/dataset.h"
#include "experiments/cli.h"
#include "experiments/run_config.h"

#include <ATen/core/Generator.h>
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace experiments {

// ---- pieces of the training loop (exposed for tests) ----

// The images of `images` (uint8 [N, H, W, C], any device) at `index` (int64 [B]) as a float
// [B, C, H, W] batch in [0, 1], then normalised with per-channel `mean`/`std` ([C], same
// device). With `crop_padding` > 0: a random H x W window of the zero-padded image; with `flip`:
// a random horizontal flip. The random offsets and flips come from `gen` (CPU), so a batch
// depends only on the generator's state. Every step is a tensor op over the whole batch.
torch::Tensor make_batch(const torch::Tensor& images, const torch::Tensor& index, const torch::Tensor& mean,
                         const torch::Tensor& std, int64_t crop_padding, bool flip, at::Generator& gen);

// SGD as torch.optim.SGD (dampening 0): d = g + wd*p; b = mu*b + d; d = nesterov ? d + mu*b : b;
// p -= lr*d. Momentum buffers start at zero (equal to PyTorch's first-step copy when dampening
// is 0) so that they can be checkpointed from the first step.
class Sgd {
 public:
  Sgd(std::vector<torch::Tensor> params, double momentum, bool nesterov, double weight_decay);
  // One update from the parameters' .grad() (undefined gradients are skipped), then zeroes them.
  void step(double lr);
  std::vector<torch::Tensor>& momentum() { return momentum_; }

 private:
  std::vector<torch::Tensor> params_, momentum_;
  double mu_, wd_;
  bool nesterov_;
};

// The learning rate of global step `step` (0-based) out of `steps_per_epoch * epochs`.
// cosine: lr * (1 + cos(pi * step / total)) / 2, per step; step: lr * 0.1^k with k the number of
// `milestones` (epochs) at or below the step's epoch.
double scheduled_lr(const std::string& schedule, double lr, int64_t step, int64_t steps_per_epoch, int64_t epochs,
                    const std::vector<int64_t>& milestones);

// ---- one run ----

struct ClassifyRunOptions {
  RunConfig config;                  // keys = classify's long options (see cmd_classify.cpp)
  std::string out;                   // run directory
  std::string label;                 // variant name for messages and reports
  bool resume = false;
  std::vector<std::string> resume_may_change;  // keys a resumed run may change
  std::vector<std::string> explicit_keys;      // on resume, keys whose values must match the saved ones
  int64_t stop_after = 0;            // epochs of this invocation before stopping (0 = off; tests)
  const datasets::Dataset* data = nullptr;  // already loaded (a sweep shares one); else loaded here
  bool fresh_if_missing = false;     // --resume without a checkpoint starts the run (sweeps)
  bool plan_only = false;            // build the model, fill params/MACs, train nothing, write nothing
  bool quiet = false;                // no per-epoch lines on stderr (the progress bar stays)
};

struct ClassifyResult {
  bool finished = false;  // false when --stop-after stopped the run
  std::string label, backbone, conv, run_dir;
  int64_t atoms = 0, group_size = 0;
  int64_t params = 0, macs_per_image = 0, epochs = 0;
  double test_accuracy = 0.0;  // percent
  double test_error = 0.0;     // percent
  double test_loss = 0.0, train_loss = 0.0, train_accuracy = 0.0, seconds = 0.0;
  Json json = Json::object();  // what results.json holds
};

// The network of a classify configuration whose classes, channels and image-size are resolved
// (as run_classification records them). Throws std::invalid_argument naming a bad setting.
backbones::BackboneOptions classify_backbone_options(const RunConfig& config);

// Checks every setting of a configuration (numbers, enums, lists) before any work; throws
// UsageError naming the flag and the allowed values.
void validate_classify_config(const RunConfig& config);

// Trains and tests one configuration in `out` (config.ini, metrics.csv, last.h5 after every
// epoch, results.json at the end). Throws UsageError for bad settings.
ClassifyResult run_classification(const ClassifyRunOptions& options);

// The results.json of a finished run (for a resumed sweep); throws naming the file.
ClassifyResult read_results(const std::string& run_dir);

}  // namespace experiments
