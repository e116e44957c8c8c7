#include "experiments/cli.h"

#include "experiments/runs/ini.h"
#include "experiments/runs/settings.h"

#include "acdc/conv_options.h"
#include "backbones/registry.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>

namespace experiments {

std::set<std::string> explicit_keys(const po::variables_map& vm) {
  std::set<std::string> out;
  for (const auto& [key, value] : vm) {
    if (!value.defaulted()) out.insert(key);
  }
  return out;
}

bool explicitly_given(const po::variables_map& vm, const std::string& key) {
  return vm.count(key) != 0 && !vm[key].defaulted();
}

bool parse_args(const std::string& command, const std::string& usage, const std::vector<std::string>& args,
                po::options_description& desc, po::variables_map& vm, bool config_flag) {
  desc.add_options()("help,h", "show this help and exit");
  if (config_flag) {
    desc.add_options()("config", po::value<std::string>(),
                       "read options from an INI file (keys = long option names; the command line wins)");
  }
  try {
    auto parsed = po::command_line_parser(args).options(desc).run();
    // Words that are no option's value would otherwise be dropped without a word.
    std::string extra;
    for (const auto& o : parsed.options) {
      if (o.position_key < 0) continue;
      for (const auto& token : o.original_tokens) extra += (extra.empty() ? "'" : " '") + token + "'";
    }
    if (!extra.empty()) {
      throw UsageError("unexpected argument(s) " + extra + " (every value follows its --flag; see acdc-meta " + command +
                       " --help)");
    }
    po::store(parsed, vm);
    if (vm.count("help")) {
      std::cout << "usage: acdc-meta " << command << " " << usage << "\n\n" << desc << "\n";
      return false;
    }
    if (config_flag && vm.count("config")) {
      const auto file = read_ini_file(vm["config"].as<std::string>(), "--config");
      if (!file.sections.empty()) {
        throw UsageError(file.source + ": [" + file.sections.front().name +
                         "]: a --config file has no sections (sections are for classify --sweep files)");
      }
      store_entries(file.top, desc, vm, file.source);
    }
    po::notify(vm);
  } catch (const po::unknown_option& e) {
    throw UsageError("unknown option '" + e.get_option_name() + "' (see acdc-meta " + command + " --help)");
  } catch (const po::error& e) {
    throw UsageError(std::string(e.what()) + " (see acdc-meta " + command + " --help)");
  }
  return true;
}

namespace {

const SettingsTable<ModelSettings>& model_settings() {
  static const auto table = [] {
    SettingsTable<ModelSettings> t;
    add_model_settings(t);
    return t;
  }();
  return table;
}

}  // namespace

void add_model_options(po::options_description& desc, const std::string& default_backbone, int64_t default_classes,
                       int64_t default_image_size) {
  ModelSettings defaults;
  defaults.backbone = default_backbone;
  defaults.classes = default_classes;
  defaults.image_size = default_image_size;
  model_settings().add_options(desc, defaults);
}

backbones::BackboneOptions model_options(const po::variables_map& vm) {
  const auto s = model_settings().from_options(vm);
  if (s.classes < 1) throw UsageError("--classes must be at least 1, got " + std::to_string(s.classes));
  if (s.image_size < 1) throw UsageError("--image-size must be positive, got " + std::to_string(s.image_size));
  return s.backbone_options();
}

// ---- Json ----

Json Json::object() {
  Json j;
  j.kind_ = Kind::kObject;
  return j;
}

Json Json::array() {
  Json j;
  j.kind_ = Kind::kArray;
  return j;
}

std::string Json::quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

namespace {
std::string number(double v) {
  if (!std::isfinite(v)) return "null";
  std::ostringstream out;
  out << std::setprecision(10) << v;
  return out.str();
}
}  // namespace

Json& Json::set(const std::string& key, const Json& value) {
  items_.emplace_back(key, value);
  return *this;
}
Json& Json::set(const std::string& key, const std::string& value) {
  Json j;
  j.raw_ = quote(value);
  return set(key, j);
}
Json& Json::set(const std::string& key, const char* value) { return set(key, std::string(value)); }
Json& Json::set(const std::string& key, double value) {
  Json j;
  j.raw_ = number(value);
  return set(key, j);
}
Json& Json::set(const std::string& key, int64_t value) {
  Json j;
  j.raw_ = std::to_string(value);
  return set(key, j);
}
Json& Json::set(const std::string& key, bool value) {
  Json j;
  j.raw_ = value ? "true" : "false";
  return set(key, j);
}
Json& Json::push(const Json& value) {
  items_.emplace_back("", value);
  return *this;
}
Json& Json::push(double value) {
  Json j;
  j.raw_ = number(value);
  return push(j);
}
Json& Json::push(int64_t value) {
  Json j;
  j.raw_ = std::to_string(value);
  return push(j);
}
Json& Json::push(const std::string& value) {
  Json j;
  j.raw_ = quote(value);
  return push(j);
}

std::string Json::dump(int indent) const {
  std::string out;
  dump_to(out, indent, 0);
  return out;
}

void Json::dump_to(std::string& out, int indent, int depth) const {
  if (kind_ == Kind::kRaw) {
    out += raw_;
    return;
  }
  const bool obj = kind_ == Kind::kObject;
  out += obj ? "{" : "[";
  if (items_.empty()) {
    out += obj ? "}" : "]";
    return;
  }
  const std::string pad = indent > 0 ? "\n" + std::string(static_cast<size_t>(indent * (depth + 1)), ' ') : "";
  for (size_t i = 0; i < items_.size(); ++i) {
    out += (i ? "," : "") + pad;
    if (obj) out += quote(items_[i].first) + (indent > 0 ? ": " : ":");
    items_[i].second.dump_to(out, indent, depth + 1);
  }
  out += indent > 0 ? "\n" + std::string(static_cast<size_t>(indent * depth), ' ') : "";
  out += obj ? "}" : "]";
}

// ---- ProgressBar ----

ProgressBar::ProgressBar(std::string label, int64_t total)
    : label_(std::move(label)), total_(std::max<int64_t>(total, 1)), tty_(isatty(STDERR_FILENO) != 0),
      start_(std::chrono::steady_clock::now()), last_draw_(start_) {}

void ProgressBar::update(int64_t done, const std::string& status) {
  const auto now = std::chrono::steady_clock::now();
  if (tty_) {
    if (now - last_draw_ < std::chrono::milliseconds(100) && done < total_) return;
  } else {
    const int decile = static_cast<int>(10 * done / total_);
    if (decile == last_decile_) return;
    last_decile_ = decile;
  }
  last_draw_ = now;
  draw(done, status, false);
}

void ProgressBar::finish(const std::string& status) { draw(total_, status, true); }

void ProgressBar::draw(int64_t done, const std::string& status, bool final) {
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = elapsed > 0 ? done / elapsed : 0.0;
  const double eta = rate > 0 ? (total_ - done) / rate : 0.0;
  constexpr int kWidth = 24;
  const int filled = static_cast<int>(kWidth * done / total_);
  std::ostringstream line;
  line << label_ << " [" << std::string(static_cast<size_t>(filled), '#')
       << std::string(static_cast<size_t>(kWidth - filled), '.') << "] " << done << "/" << total_ << " "
       << std::fixed << std::setprecision(rate < 10 ? 2 : 1) << rate << "/s";
  if (!final) line << " ETA " << static_cast<int64_t>(eta) << "s";
  else line << " " << std::setprecision(1) << elapsed << "s";
  if (!status.empty()) line << "  " << status;
  if (tty_) {
    std::cerr << "\r\033[K" << line.str() << (final ? "\n" : "") << std::flush;
  } else {
    std::cerr << line.str() << "\n";
  }
}

std::string xml_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

}  // namespace experiments
