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

void truncate_metrics(const std::string& path, int64_t last) {
  std::ifstream in(path);
  if (!in) return;
  std::string kept, line;
  bool header = true;
  while (std::getline(in, line)) {
    if (header) {
      kept += line + "\n";
      header = false;
      continue;
    }
    if (line.empty()) continue;
    if (std::stoll(line.substr(0, line.find(','))) <= last) kept += line + "\n";
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
