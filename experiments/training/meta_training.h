#pragma once
// Meta-training (`acdc-meta train`): MAML over episodes of a few-shot split, in a run directory
// (experiments/runs/run_directory.h) driven by the one training loop (loop.h): a unit is a
// meta-iteration; validation and checkpoints every --val-every iterations. Iteration i always
// trains on episodes i*T..i*T+T-1 of (seed, train split) and the CPU generator (atom-drop) is
// checkpointed, so --resume ends bit-identical to an uninterrupted run.
//
// As one rank of a group (distributed/group.h), rank r of W trains tasks r*T/W..(r+1)*T/W-1 of
// each iteration's global meta-batch of T: the meta-gradients are averaged over the ranks, every
// rank takes the same step, validation episodes are shared out and gathered; rank 0 alone writes
// the run directory and the progress bar (a resume reads --out on every rank: a shared folder).

#include "distributed/group.h"
#include "experiments/runs/settings.h"

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <set>
#include <string>

namespace backbones {
class Backbone;
}
namespace datasets {
struct Dataset;
}

namespace experiments {

struct MetaTrainRequest {
  MetaTrainSettings settings;           // as given (flags over --config over defaults)
  std::set<std::string> explicit_keys;  // settings given on the command line or in --config
  std::string out;                      // run directory
  bool resume = false;
  int64_t stop_after = 0;               // iterations of this invocation before stopping as a kill would (0 = off)
  distributed::GroupSettings group;     // where this process runs (world size 1: alone)
  // The data set `settings.dataset` at `settings.image_size`, loaded by the caller (a sweep
  // shares one load between its variants); null: meta_train loads it.
  const datasets::Dataset* data = nullptr;
};

// Keys a resumed run takes from the command line rather than from the saved configuration.
extern const std::vector<std::string> kMetaTrainResumeMayChange;

void meta_train(const MetaTrainRequest& request);

// The run's network, its draws seeded by --seed; a backbone that cannot be built is a
// UsageError naming it. Shared by meta_train and the sweep's planning (meta_sweep.h).
std::unique_ptr<backbones::Backbone> build_meta_model(const MetaTrainSettings& s);

// --ways against the classes of each named split of `data` (an empty val split, of a source
// without one, is skipped): a UsageError naming the split and the source.
void check_ways(int64_t ways, const datasets::Dataset& data, std::initializer_list<const char*> splits);

}  // namespace experiments
