#pragma once
// Checkpoints of a training run (meta-training or supervised), one HDF5 file each (written to a temporary name, then
// renamed):
//   /params/<name>                 meta parameters, by their parameter-dictionary names
//   /buffers/<name>                BatchNorm running statistics
//   /inner_lrs/<name>              learned inner learning rates ("inner_lr.<param>"), if any
//   /optimizer/<state>/<name>      the optimizer's state (meta/optim.h): Adam's exp_avg and
//                                  exp_avg_sq, SGD's momentum; keyed like the tensors they
//                                  belong to (parameters, then inner lrs); attr "steps" (Adam)
//   /rng/cpu                       the default CPU generator's state (uint8), for atom-drop
//   root attributes                "acdc_meta.format", "acdc_meta.iteration" (completed
//                                  iterations), "acdc_meta.next_episode", best validation
//                                  figures, "acdc_meta.winograd_auto" (what `--winograd auto`
//                                  chose on an AVX-512 CPU, acdc::winograd_auto_choice; absent
//                                  elsewhere), and every setting of the resolved configuration
//                                  (its option names as attribute names).
// Datasets are written with HDF5's Fletcher-32 checksum (older checkpoints without it still
// load); a damaged dataset is an error naming it. Loading is exact: every tensor is restored bit
// for bit. Loading validates: the format, the counters (iteration within the run's total,
// next_episode = iteration x meta-batch, best figures of an iteration already done), every
// tensor the model needs (present, floating point, the model's shape, finite), the optimizer
// state and the generator state; each failure is std::invalid_argument naming the file and what
// is wrong (exit 2).

#include "experiments/runs/run_config.h"
#include "meta/maml.h"
#include "meta/optim.h"

#include <torch/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace experiments {

struct CheckpointInfo {
  int64_t iteration = 0;            // completed meta-iterations
  int64_t next_episode = 0;         // first training episode index of the next iteration
  double best_val_accuracy = -1.0;  // in [0, 1]; -1 when no validation ran yet
  int64_t best_iteration = 0;
  std::string winograd_auto;  // acdc::winograd_auto_choice() of the process that wrote it; "" if none
  RunConfig config;
};

// Makes `--winograd auto` in this process run the builds the checkpoint's run chose
// (acdc::pin_winograd_auto_choice), so that on an AVX-512 CPU a resumed run computes as an
// uninterrupted one; call before any convolution. Where this process has chosen otherwise
// already, a note on stderr says that the last bits may differ. Nothing to do for a checkpoint
// without a choice.
void follow_winograd_choice(const CheckpointInfo& info);

// What a checkpoint holds of a run in training: parameter stores under their group names, and
// the optimizer whose state tensors are keyed by the names of the stores it optimizes.
struct TrainingState {
  std::vector<std::pair<std::string, acdc::ParamStore*>> stores;
  meta::Optimizer* optimizer = nullptr;
  std::vector<const acdc::ParamStore*> optimized;  // the optimizer's tensors, store after store

  // Meta-training: params, buffers, inner_lrs; Adam over params then inner lrs.
  static TrainingState of(meta::Maml& maml);
  // Supervised training: params, buffers; the optimizer over params.
  static TrainingState of(backbones::Backbone& model, meta::Optimizer& optimizer);
};

// Writes everything needed to continue training bit-identically (see above).
void save_checkpoint(const std::string& path, const TrainingState& state, const CheckpointInfo& info);
// Restores every tensor of `state` and, when `restore_rng`, the CPU generator. Throws
// std::invalid_argument naming the file and the first missing or mismatched tensor (e.g. a
// checkpoint of another architecture).
CheckpointInfo load_checkpoint(const std::string& path, TrainingState& state, bool restore_rng);
// The same for a meta-training engine (TrainingState::of(maml)).
void save_checkpoint(const std::string& path, meta::Maml& maml, const CheckpointInfo& info);
CheckpointInfo load_checkpoint(const std::string& path, meta::Maml& maml, bool restore_rng);

// The counters and configuration only (to build the model before loading it).
CheckpointInfo read_checkpoint_info(const std::string& path);

// name -> tensor of what an export contains: parameters, BatchNorm buffers and learned inner
// lrs, all under their own (distinct) names. Loaded through load_checkpoint into the model the checkpoint's configuration
// describes, so a checkpoint that eval or --resume would refuse is refused here too.
std::map<std::string, torch::Tensor> read_checkpoint_weights(const std::string& path);
// The same entries from a model in memory (and its engine's learned inner lrs, when `maml` is
// given): detached copies. `source` names the model in the error for a name that appears twice.
std::map<std::string, torch::Tensor> model_weights(const backbones::Backbone& model, const meta::Maml* maml,
                                                   const std::string& source);

// The network a checkpoint's own configuration describes (a classify or a train run), restored by
// the same validating loader (load_checkpoint), on the CPU. The caller's
// generator is left as it was. `info` (optional) receives the counters and configuration.
std::unique_ptr<backbones::Backbone> load_checkpoint_model(const std::string& path, CheckpointInfo* info = nullptr);

// Whether `path` is an existing HDF5 file carrying this project's checkpoint format attribute.
bool is_checkpoint(const std::string& path);
// Whether a checkpoint's configuration is that of `acdc-meta classify` (else `train`).
bool is_classification_config(const RunConfig& config);

}  // namespace experiments
