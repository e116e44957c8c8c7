#pragma once
// A sweep of classify runs (`acdc-meta classify --sweep`): every variant is planned (its model
// built, not trained) before any training, so that a bad combination stops the sweep at once;
// then each trains in its own run directory, and the report (results.md, results.csv,
// results.svg, results.json) grows after every variant.

#include "experiments/training/classification.h"

#include <string>
#include <vector>

namespace experiments {

struct SweepRequest {
  std::string path;                     // the sweep file (named in errors)
  std::string out;                      // the sweep's directory: one subdirectory per variant
  std::vector<ClassifyRequest> variants;  // label and settings set; out, data and flags set here
  bool resume = false;
  bool json = false;                    // stdout: the results as one JSON array
  int64_t stop_after = 0;
  std::string command;                  // the command line, quoted into the report
};

// Returns the exit code (0; --stop-after stops early with 0).
int run_sweep(SweepRequest request);

}  // namespace experiments
