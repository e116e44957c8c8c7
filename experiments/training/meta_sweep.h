#pragma once
// A sweep of meta-training runs (`acdc-meta train --sweep`): every variant is planned (data
// sizes resolved, its model and engine built, not trained) before any training, so that a bad
// combination stops the sweep at once; then each meta-trains in its own run directory
// DIR/<slug>/ (meta_training.h: config.ini, metrics.csv, best.h5, last.h5), is evaluated by
// the meta-test protocol of `eval` (meta_test.h) at 1 and 5 shots with its own way count,
// writing DIR/<slug>/eval-1shot.json and eval-5shot.json (what `acdc-meta eval --shots K --json`
// prints), and the report (DIR/results.md, results.csv, results.svg, results.json) grows after
// every variant. --resume skips the evaluated variants, continues an interrupted one from its
// last.h5, and rewrites the report from the files.

#include "experiments/training/meta_training.h"

#include <cstdint>
#include <string>
#include <vector>

namespace experiments {

struct MetaSweepVariant {
  std::string label;
  MetaTrainRequest train;  // settings and explicit keys; out, resume and stop_after are set by the sweep
};

struct MetaSweepRequest {
  std::string path;                       // the sweep file (named in errors)
  std::string out;                        // the sweep's directory: one subdirectory per variant
  std::vector<MetaSweepVariant> variants;
  int64_t eval_episodes = 600;            // test episodes per shot count
  std::vector<int64_t> eval_shots = {1, 5};
  std::string shared_settings;            // "key = value, ..." of the file, for the report's notes
  bool resume = false;
  bool json = false;                      // stdout: the rows as one JSON array
  int64_t stop_after = 0;                 // train's --stop-after, per invocation of a variant
  std::string command;                    // the command line, quoted into the report
};

// Returns the exit code (0; --stop-after stops early with 0).
int run_meta_sweep(MetaSweepRequest request);

}  // namespace experiments
