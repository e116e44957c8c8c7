#include "experiments/runs/run_config.h"

#include "experiments/runs/ini.h"
#include "experiments/runs/settings.h"
#include "experiments/report/numbers.h"

#include "datasets/storage/atomic_file.h"


#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace experiments {

std::string format_double(double v) { return round_trip(v); }

RunConfig RunConfig::parse_ini(const std::string& text, const std::string& source) {
  std::istringstream in(text);
  IniFile file;
  try {
    file = read_ini(in, source);
  } catch (const UsageError& e) {
    throw std::invalid_argument(e.what());
  }
  if (!file.sections.empty()) {
    throw std::invalid_argument(source + ": [" + file.sections.front().name + "]: a run configuration has no sections");
  }
  RunConfig config;
  config.source = source;
  for (const auto& [key, value] : file.top) config.set(key, value);
  return config;
}

void RunConfig::set(const std::string& key, const std::string& value) {
  for (auto& e : entries_) {
    if (e.first == key) {
      e.second = value;
      return;
    }
  }
  entries_.emplace_back(key, value);
}

bool RunConfig::has(const std::string& key) const {
  for (const auto& e : entries_)
    if (e.first == key) return true;
  return false;
}

const std::string& RunConfig::get(const std::string& key) const {
  for (const auto& e : entries_)
    if (e.first == key) return e.second;
  throw std::invalid_argument(source + ": missing setting '" + key + "'");
}

int64_t RunConfig::get_int(const std::string& key) const {
  const auto& v = get(key);
  char* end = nullptr;
  errno = 0;
  const long long out = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || errno != 0) {
    throw std::invalid_argument(source + ": setting '" + key + "' must be an integer, got '" + v + "'");
  }
  return out;
}

double RunConfig::get_double(const std::string& key) const {
  const auto& v = get(key);
  char* end = nullptr;
  const double out = std::strtod(v.c_str(), &end);
  if (v.empty() || *end != '\0') {
    throw std::invalid_argument(source + ": setting '" + key + "' must be a number, got '" + v + "'");
  }
  return out;
}

bool RunConfig::get_bool(const std::string& key) const {
  const auto& v = get(key);
  if (v == "true" || v == "1" || v == "yes" || v == "on") return true;
  if (v == "false" || v == "0" || v == "no" || v == "off") return false;
  throw std::invalid_argument(source + ": setting '" + key + "' must be true or false, got '" + v + "'");
}

std::string RunConfig::to_ini() const {
  std::string out = "# acdc-meta run configuration (resolved; usable as `acdc-meta train --config FILE`)\n";
  for (const auto& [key, value] : entries_) out += key + " = " + value + "\n";
  return out;
}

void RunConfig::write_ini(const std::string& path) const { write_text_file(path, to_ini()); }

void write_text_file(const std::string& path, const std::string& text) {
  storage::AtomicFile file(path);
  {
    std::ofstream out(file.temp_path(), std::ios::trunc | std::ios::binary);
    out << text;
    out.close();
    if (!out) throw std::runtime_error("cannot write '" + path + "'");
  }
  file.commit();
}

namespace {

// metrics.csv before the accuracies were all percent and the seconds column was named for what
// it holds: a resumed old run is rewritten in the current layout, so that it continues in one.
const char* const kOldTrainHeader = "iteration,loss,accuracy,meta_lr,second_order,seconds,val_accuracy,val_ci95";
const char* const kNewTrainHeader = "iteration,loss,accuracy,meta_lr,second_order,elapsed_seconds,val_accuracy,val_ci95";
const char* const kOldClassifyHeader =
    "epoch,lr,train_loss,train_accuracy,test_loss,test_accuracy,seconds,images_per_second";
const char* const kNewClassifyHeader =
    "epoch,lr,train_loss,train_accuracy,test_loss,test_accuracy,epoch_seconds,images_per_second";

// An old train row with its query accuracy (the third cell, a fraction) in percent.
std::string accuracy_to_percent(const std::string& row, const std::string& path) {
  const auto a = row.find(','), b = row.find(',', a + 1), c = row.find(',', b + 1);
  if (a == std::string::npos || b == std::string::npos || c == std::string::npos) {
    throw std::invalid_argument(path + ": row '" + row + "' has fewer cells than its header");
  }
  double fraction = 0.0;
  try {
    fraction = std::stod(row.substr(b + 1, c - b - 1));
  } catch (const std::exception&) {
    throw std::invalid_argument(path + ": row '" + row + "': accuracy is not a number");
  }
  return row.substr(0, b + 1) + percent_of_fraction(fraction) + row.substr(c);
}

}  // namespace

void truncate_metrics(const std::string& path, int64_t last) {
  std::ifstream in(path);
  if (!in) return;
  std::string kept, line;
  bool header = true, old_train = false;
  while (std::getline(in, line)) {
    if (header) {
      old_train = line == kOldTrainHeader;
      if (old_train) line = kNewTrainHeader;
      if (line == kOldClassifyHeader) line = kNewClassifyHeader;
      kept += line + "\n";
      header = false;
      continue;
    }
    if (line.empty()) continue;
    if (std::stoll(line.substr(0, line.find(','))) <= last) kept += (old_train ? accuracy_to_percent(line, path) : line) + "\n";
  }
  in.close();
  write_text_file(path, kept);
}

backbones::BackboneOptions backbone_options(const RunConfig& c) { return meta_train_settings().from_config(c).network(); }

meta::MamlConfig maml_config(const RunConfig& c) { return meta_train_settings().from_config(c).maml(); }

std::string order_description(const meta::MamlConfig& m) {
  if (m.first_order) return "first";
  if (m.anneal_first_order > 0) return "first for " + std::to_string(m.anneal_first_order) + " iterations, then second";
  return "second";
}

}  // namespace experiments
