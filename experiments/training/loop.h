#pragma once
// The one training loop, shared by meta-training (`train`: a unit is a meta-iteration) and
// supervised classification (`classify`: a unit is an epoch). The loop runs units from `start`
// to `total`; after each unit, the callbacks run in order (evaluation, metrics, checkpoints,
// progress, stopping); a unit whose training loss is not finite stops the run with an error
// naming the last good checkpoint. What differs between the two kinds of run is only the step
// (one unit of training) and the callbacks' settings.

#include "experiments/runs/checkpoint.h"
#include "experiments/runs/run_directory.h"

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace experiments {

class ProgressBar;

// One unit of training and what the callbacks add to it.
struct Unit {
  int64_t index = 0;                         // 0-based
  int64_t done() const { return index + 1; }  // units completed after this one
  double loss = 0.0, accuracy = 0.0;         // training figures of the unit (accuracy in [0, 1] or percent, as the step says)
  std::map<std::string, std::string> cells;  // metrics.csv cells by column
  bool evaluated = false;                    // an evaluation ran after this unit
  bool best = false;                         // ... and it is the best so far
  bool stop = false;                         // a callback asks the loop to stop after this unit
};

class Callback {
 public:
  virtual ~Callback() = default;
  virtual void after_unit(Unit& unit) = 0;
  // The run stops on an error after `unit` (a non-finite loss): finish what must be finished.
  virtual void on_error(Unit& unit) { (void)unit; }
};

struct LoopOptions {
  int64_t start = 0, total = 0;
  std::string unit_name = "iteration";  // in messages: "iteration", "epoch"
  std::string loss_name = "training loss";
  // Words appended to the non-finite-loss error (what to try), and the checkpoint it names.
  std::string hint;
  const std::string* last_checkpoint = nullptr;
  const CheckpointInfo* info = nullptr;  // its iteration is the last good checkpoint's
  std::string who;                       // message prefix ("" for none)
};

// Runs the units; returns the number of units completed when the loop ended (total, or fewer
// when a callback stopped it).
int64_t run_training(const LoopOptions& options, const std::function<void(Unit&)>& step,
                     const std::vector<Callback*>& callbacks);

// ---- the callbacks ----

// Evaluates after every `every` units (0: only after the last) and after the last:
// evaluate(unit) fills the unit's evaluation cells and returns the figure that ranks checkpoints
// (higher is better), in [0, 1], or NaN when there is nothing to measure (then the latest unit
// counts as the best); with `track_best`, info's best figures follow it.
class Evaluation : public Callback {
 public:
  Evaluation(int64_t every, int64_t total, std::function<double(Unit&)> evaluate, CheckpointInfo& info, bool track_best);
  void after_unit(Unit& unit) override;

 private:
  int64_t every_, total_;
  std::function<double(Unit&)> evaluate_;
  CheckpointInfo& info_;
  bool track_best_;
};

// Appends the unit's row to the run's metrics.csv, cells in `columns` order (missing: empty).
class MetricsWriter : public Callback {
 public:
  MetricsWriter(const RunDirectory& run, std::vector<std::string> columns);
  void after_unit(Unit& unit) override;
  void on_error(Unit& unit) override;
  // The header line.
  std::string header() const;

 private:
  const RunDirectory& run_;
  std::vector<std::string> columns_;
};

// Saves last.h5 after evaluated units (`every_unit`: after every unit), best.h5 first when the
// unit is the best so far (`keep_best`). info's counters are set to the unit.
class Checkpointer : public Callback {
 public:
  Checkpointer(const RunDirectory& run, TrainingState state, CheckpointInfo& info, bool every_unit, bool keep_best,
               int64_t episodes_per_unit = 0);
  void after_unit(Unit& unit) override;

 private:
  const RunDirectory& run_;
  TrainingState state_;
  CheckpointInfo& info_;
  bool every_unit_, keep_best_;
  int64_t episodes_per_unit_;
};

// Stops after `units` units of this invocation (0 = off) unless the run is complete, as a kill
// would (for tests of --resume), with a message on stderr.
class StopAfter : public Callback {
 public:
  StopAfter(int64_t units, int64_t start, int64_t total, std::function<std::string(const Unit&)> message);
  void after_unit(Unit& unit) override;

 private:
  int64_t units_, start_, total_;
  std::function<std::string(const Unit&)> message_;
};

// One progress bar over all units; status(unit) is its text.
class Progress : public Callback {
 public:
  Progress(ProgressBar& bar, std::function<std::string(const Unit&)> status);
  void after_unit(Unit& unit) override;
  void on_error(Unit& unit) override;

 private:
  ProgressBar& bar_;
  std::function<std::string(const Unit&)> status_;
};

}  // namespace experiments
