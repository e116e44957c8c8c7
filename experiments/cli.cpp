#include "experiments/cli.h"

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

std::ifstream open_config_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw UsageError("--config " + path + " is a directory, not an INI file");
  std::ifstream in(path);
  if (!in) throw UsageError("--config: cannot open '" + path + "'");
  return in;
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
      std::ifstream in = open_config_file(vm["config"].as<std::string>());
      po::store(po::parse_config_file(in, desc, /*allow_unregistered=*/false), vm);
    }
    po::notify(vm);
  } catch (const po::unknown_option& e) {
    throw UsageError("unknown option '" + e.get_option_name() + "' (see acdc-meta " + command + " --help)");
  } catch (const po::error& e) {
    throw UsageError(std::string(e.what()) + " (see acdc-meta " + command + " --help)");
  }
  return true;
}

void add_model_options(po::options_description& desc, const std::string& default_backbone, int64_t default_classes,
                       int64_t default_image_size) {
  std::string conv_help = "conv type: ";
  for (const auto& n : acdc::conv_type_names()) conv_help += n + (n == "acdc-g-net" ? "" : ", ");
  desc.add_options()
      ("backbone", po::value<std::string>()->default_value(default_backbone),
       ("network: " + backbones::backbone_list()).c_str())
      ("conv", po::value<std::string>()->default_value("standard"), conv_help.c_str())
      ("atoms", po::value<int64_t>()->default_value(8), "dictionary atoms per layer (m)")
      ("group-size", po::value<int64_t>()->default_value(64), "channels per group for acdc-g-* (s)")
      ("atom-drop", po::value<double>()->default_value(0.0), "training-only atom-drop rate (p, paper: 0.1)")
      ("atom-init", po::value<std::string>()->default_value("normal"), "atom initialisation: normal, dct")
      ("classes", po::value<int64_t>()->default_value(default_classes), "classes of the linear head")
      ("channels", po::value<int64_t>()->default_value(3), "input channels (1 or 3)")
      ("image-size", po::value<int64_t>()->default_value(default_image_size), "input height = width in pixels")
      ("width", po::value<int64_t>()->default_value(64), "conv4 filters per layer");
}

backbones::BackboneOptions model_options(const po::variables_map& vm) {
  backbones::BackboneOptions o;
  try {
    o.name = vm["backbone"].as<std::string>();
    o.conv.type = acdc::parse_conv_type(vm["conv"].as<std::string>());
    o.conv.atom_init = acdc::parse_atom_init(vm["atom-init"].as<std::string>());
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
  o.conv.atoms = vm["atoms"].as<int64_t>();
  o.conv.group_size = vm["group-size"].as<int64_t>();
  o.conv.atom_drop = vm["atom-drop"].as<double>();
  o.classes = vm["classes"].as<int64_t>();
  o.in_channels = vm["channels"].as<int64_t>();
  o.image_size = vm["image-size"].as<int64_t>();
  o.width = vm["width"].as<int64_t>();
  if (o.conv.atoms < 1) throw UsageError("--atoms must be at least 1, got " + std::to_string(o.conv.atoms));
  if (o.conv.group_size < 1) throw UsageError("--group-size must be at least 1, got " + std::to_string(o.conv.group_size));
  if (!(o.conv.atom_drop >= 0 && o.conv.atom_drop < 1)) {
    throw UsageError("--atom-drop must be in [0, 1), got " + std::to_string(o.conv.atom_drop));
  }
  if (o.classes < 1) throw UsageError("--classes must be at least 1, got " + std::to_string(o.classes));
  if (o.in_channels != 1 && o.in_channels != 3) {
    throw UsageError("--channels must be 1 or 3, got " + std::to_string(o.in_channels));
  }
  if (o.image_size < 1) throw UsageError("--image-size must be positive, got " + std::to_string(o.image_size));
  return o;
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

}  // namespace experiments
