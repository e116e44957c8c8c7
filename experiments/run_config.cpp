#include "experiments/run_config.h"

#include "datasets/storage/atomic_file.h"

#include <boost/any.hpp>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace experiments {

namespace po = boost::program_options;

std::string format_double(double v) {
  char buf[64];
  for (int precision = 6; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

namespace {

std::string trim(const std::string& s) {
  const auto begin = s.find_first_not_of(" \t\r");
  if (begin == std::string::npos) return "";
  const auto end = s.find_last_not_of(" \t\r");
  return s.substr(begin, end - begin + 1);
}

std::string any_to_string(const boost::any& value, const std::string& key) {
  if (value.empty()) return "";
  if (const auto* s = boost::any_cast<std::string>(&value)) return *s;
  if (const auto* i = boost::any_cast<int64_t>(&value)) return std::to_string(*i);
  if (const auto* i = boost::any_cast<int>(&value)) return std::to_string(*i);
  if (const auto* d = boost::any_cast<double>(&value)) return format_double(*d);
  if (const auto* b = boost::any_cast<bool>(&value)) return *b ? "true" : "false";
  throw std::logic_error("option --" + key + " has a type the run configuration cannot record");
}

}  // namespace

RunConfig RunConfig::from_options(const po::variables_map& vm, const std::vector<std::string>& skip) {
  RunConfig config;
  for (const auto& [key, value] : vm) {
    bool skipped = false;
    for (const auto& s : skip) skipped = skipped || s == key;
    if (!skipped) config.set(key, any_to_string(value.value(), key));
  }
  return config;
}

RunConfig RunConfig::parse_ini(const std::string& text, const std::string& source) {
  RunConfig config;
  config.source = source;
  std::istringstream in(text);
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    const auto t = trim(line);
    if (t.empty() || t[0] == '#' || t[0] == ';') continue;
    const auto eq = t.find('=');
    if (eq == std::string::npos) {
      throw std::invalid_argument(source + " line " + std::to_string(number) + ": expected 'key = value', got '" + t + "'");
    }
    config.set(trim(t.substr(0, eq)), trim(t.substr(eq + 1)));
  }
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

backbones::BackboneOptions backbone_options(const RunConfig& c) {
  backbones::BackboneOptions o;
  o.name = c.get("backbone");
  o.conv.type = acdc::parse_conv_type(c.get("conv"));
  o.conv.atoms = c.get_int("atoms");
  o.conv.group_size = c.get_int("group-size");
  o.conv.atom_drop = c.get_double("atom-drop");
  o.conv.atom_init = acdc::parse_atom_init(c.get("atom-init"));
  o.conv.validate();
  o.classes = c.get_int("ways");
  o.in_channels = c.get_int("channels");
  o.image_size = c.get_int("image-size");
  o.width = c.get_int("width");
  // Per-step statistics: one set per training inner step plus the query pass after the last;
  // evaluation beyond the trained steps uses the last set (the engine clamps the index).
  o.bn_steps = backbones::parse_bn_mode(c.get("bn")) == backbones::BnMode::kPerStep ? c.get_int("inner-steps") + 1 : 1;
  return o;
}

meta::MamlConfig maml_config(const RunConfig& c) {
  meta::MamlConfig m;
  m.inner_steps = c.get_int("inner-steps");
  m.inner_steps_test = c.get_int("inner-steps-test");
  m.inner_lr = c.get_double("inner-lr");
  m.learn_inner_lr = c.get_bool("learn-inner-lr");
  m.first_order = c.get_bool("first-order");
  m.anneal_first_order = c.get_int("anneal-first-order");
  m.inner_params = backbones::parse_param_filter(c.get("inner-params"));
  m.multi_step_loss = c.get_bool("multi-step-loss");
  m.multi_step_iterations = c.get_int("multi-step-iterations");
  m.meta_lr = c.get_double("meta-lr");
  m.clip_grad_norm = c.get_double("clip-grad");
  m.cosine_schedule = c.get_bool("cosine");
  m.min_meta_lr = c.get_double("min-meta-lr");
  m.iterations = c.get_int("iterations");
  m.bn = backbones::parse_bn_mode(c.get("bn"));
  m.validate();
  return m;
}

std::string order_description(const meta::MamlConfig& m) {
  if (m.first_order) return "first";
  if (m.anneal_first_order > 0) return "first for " + std::to_string(m.anneal_first_order) + " iterations, then second";
  return "second";
}

}  // namespace experiments
