#pragma once
// A run directory, the one place that knows its layout and its rules:
//   config.ini    the resolved settings (usable again as --config)
//   metrics.csv   one row per completed iteration (train) or epoch (classify)
//   last.h5       the latest checkpoint; best.h5 the best by validation accuracy (train)
//   results.json  the final figures (classify)
//   .lock         held while a process writes the run (output_paths.h: RunDirLock)
// Rules: a fresh run refuses a directory that already holds one; --resume continues the saved
// configuration (resume_config); a directory in another process's hands is refused before any work.

#include "experiments/runs/output_paths.h"
#include "experiments/runs/run_config.h"

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace experiments {

// DIR/NAME (no doubled slash).
std::string run_file(const std::string& run_dir, const std::string& name);
// --checkpoint best|last|FILE relative to a run directory (FILE when it is neither).
std::string resolve_checkpoint(const std::string& run_dir, const std::string& which);
// The checkpoint file that --run RUN_DIR (may be "") and --checkpoint best|last|FILE name (eval,
// export, analyze): UsageError when best or last come without --run, or the file is missing.
std::string checkpoint_from_flags(const std::string& run_dir, const std::string& which);

class RunDirectory {
 public:
  // `flag` names the directory in messages (--out). Checks at once that it can be a directory.
  explicit RunDirectory(std::string path, std::string flag = "--out");

  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const;
  std::string last() const { return file("last.h5"); }
  std::string best() const { return file("best.h5"); }
  std::string metrics() const { return file("metrics.csv"); }
  std::string results() const { return file("results.json"); }

  // Whether a run was started here (a checkpoint or metrics exist).
  bool holds_run() const;
  // UsageError "--out DIR already holds a run; pass --resume to continue it, or remove the directory".
  void refuse_existing_run() const;
  // UsageError when --resume finds no checkpoint to continue.
  void require_checkpoint() const;
  // When the directory exists, fails at once if another process holds it (nothing is kept).
  void probe_lock() const;
  // Takes the directory for this process (created when missing) until destruction; a fresh run
  // then refuses it again if another process started one meanwhile.
  void lock(bool fresh);

  // A fresh run: config.ini and the metrics header (`columns`, comma-separated).
  void start(const RunConfig& config, const std::string& columns) const;
  // A resumed run at `done` completed units: metrics rows after it are dropped.
  void resume_at(int64_t done) const;
  // Appends one metrics row (no newline needed); throws naming the file when it cannot.
  void append_metrics(const std::string& row) const;

 private:
  std::string path_, flag_;
  std::optional<RunDirLock> lock_;
};

// The configuration a resumed run continues with: the saved one, where
//  - keys in `may_change` take the value given now (given or default: where and how it runs);
//  - threads keeps the saved count unless given, with a note on stderr when that differs
//    (CPU reductions split by thread, so the last bits may differ from an uninterrupted run);
//  - `length_key` (the run's length, e.g. "iterations"; "" for none), given explicitly, takes the
//    value given: the run is extended (or shortened); the caller checks it against the units done;
//  - any other key given explicitly must equal the saved value (UsageError naming both).
// `who` prefixes the note ("" for none); `quiet` drops it.
RunConfig resume_config(const RunConfig& saved, const RunConfig& given, const std::set<std::string>& explicit_keys,
                        const std::vector<std::string>& may_change, const std::string& dir, const std::string& who,
                        bool quiet = false, const std::string& length_key = "");

}  // namespace experiments
