#include "experiments/runs/run_directory.h"

#include "experiments/commands/cli.h"

#include <filesystem>
#include <fstream>
#include <iostream>

namespace experiments {

namespace fs = std::filesystem;

std::string run_file(const std::string& run_dir, const std::string& name) {
  if (run_dir.empty() || run_dir.back() == '/') return run_dir + name;
  return run_dir + "/" + name;
}

std::string resolve_checkpoint(const std::string& run_dir, const std::string& which) {
  if (which == "best" || which == "last") return run_file(run_dir, which + ".h5");
  return which;
}

std::string checkpoint_from_flags(const std::string& run_dir, const std::string& which) {
  if (run_dir.empty() && (which == "best" || which == "last")) {
    throw UsageError("--run RUN_DIR is required (or --checkpoint FILE)");
  }
  const std::string path = resolve_checkpoint(run_dir, which);
  if (!fs::exists(path)) throw UsageError("--checkpoint: no checkpoint '" + path + "'");
  return path;
}

RunDirectory::RunDirectory(std::string path, std::string flag) : path_(std::move(path)), flag_(std::move(flag)) {
  check_output_dir(path_, flag_);
}

std::string RunDirectory::file(const std::string& name) const { return run_file(path_, name); }

bool RunDirectory::holds_run() const { return fs::exists(last()) || fs::exists(metrics()); }

void RunDirectory::refuse_existing_run() const {
  if (holds_run()) {
    throw UsageError(flag_ + " " + path_ + " already holds a run; pass --resume to continue it, or remove the directory");
  }
}

void RunDirectory::require_checkpoint() const {
  if (!fs::exists(last())) throw UsageError("--resume: no checkpoint '" + last() + "' to continue");
}

void RunDirectory::probe_lock() const {
  if (!lock_ && fs::is_directory(path_)) const RunDirLock probe(path_, flag_);
}

void RunDirectory::lock(bool fresh) {
  if (!lock_) lock_.emplace(path_, flag_);
  if (fresh) refuse_existing_run();
}

void RunDirectory::start(const RunConfig& config, const std::string& columns) const {
  config.write_ini(file("config.ini"));
  write_text_file(metrics(), columns + "\n");
}

void RunDirectory::resume_at(int64_t done) const { truncate_metrics(metrics(), done); }

void RunDirectory::append_metrics(const std::string& row) const {
  std::ofstream csv(metrics(), std::ios::app);
  csv << row << "\n";
  csv.flush();
  if (!csv) throw std::runtime_error("cannot append to '" + metrics() + "'");
}

RunConfig resume_config(const RunConfig& saved, const RunConfig& given, const std::set<std::string>& explicit_keys,
                        const std::vector<std::string>& may_change, const std::string& dir, const std::string& who,
                        bool quiet, const std::string& length_key) {
  RunConfig merged = saved;
  for (const auto& [key, value] : given.entries()) {
    const bool is_explicit = explicit_keys.count(key) != 0;
    if (key == "threads") {
      const std::string saved_threads = merged.has(key) ? merged.get(key) : "0";
      if (is_explicit && value != saved_threads && !quiet) {
        std::cerr << (who.empty() ? "" : who + ": ") << "note: --threads " << value << " overrides the " << saved_threads
                  << (saved_threads == "1" ? " thread " : " threads ") << dir
                  << " was trained with; the result may differ in the last bits from an uninterrupted run\n";
      }
      merged.set(key, is_explicit ? value : saved_threads);
      continue;
    }
    if (std::find(may_change.begin(), may_change.end(), key) != may_change.end()) {
      merged.set(key, value);
      continue;
    }
    if (!is_explicit) continue;
    if (!length_key.empty() && key == length_key) {
      merged.set(key, value);
      continue;
    }
    if (!merged.has(key) || merged.get(key) != value) {
      throw UsageError("--resume continues " + dir + " with its saved configuration; --" + key + " " + value +
                       " differs from the saved " + (merged.has(key) ? merged.get(key) : std::string("(unset)")));
    }
  }
  return merged;
}

}  // namespace experiments
