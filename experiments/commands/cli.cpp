#include "experiments/commands/cli.h"

#include "experiments/runs/ini.h"
#include "experiments/runs/settings.h"

#include "acdc/conv_options.h"
#include "backbones/registry.h"

#include <filesystem>
#include <fstream>
#include <iostream>

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

std::vector<int64_t> parse_int_list(const std::string& text, const std::string& flag, int64_t min_value) {
  std::vector<int64_t> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    size_t used = 0;
    int64_t v = 0;
    try {
      v = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != item.size()) throw UsageError(flag + ": expected a comma-separated list of integers, got '" + text + "'");
    if (v < min_value) throw UsageError(flag + " must be at least " + std::to_string(min_value) + ", got " + std::to_string(v));
    out.push_back(v);
  }
  if (out.empty()) throw UsageError(flag + ": empty list");
  return out;
}

bool parse_args(const std::string& command, const std::string& usage, const std::vector<std::string>& args,
                po::options_description& desc, po::variables_map& vm, bool config_flag,
                const po::options_description* hidden) {
  desc.add_options()("help,h", "show this help and exit");
  if (config_flag) {
    desc.add_options()("config", po::value<std::string>(),
                       "read options from an INI file (keys = long option names; the command line wins)");
  }
  // Every flag is accepted (and read from --config); --help lists only `desc`.
  po::options_description all;
  all.add(desc);
  if (hidden != nullptr) all.add(*hidden);
  try {
    auto parsed = po::command_line_parser(args).options(all).run();
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
      store_entries(file.top, all, vm, file.source);
    }
    po::notify(vm);
  } catch (const po::unknown_option& e) {
    throw UsageError("unknown option '" + e.get_option_name() + "' (see acdc-meta " + command + " --help)");
  } catch (const po::error& e) {
    throw UsageError(std::string(e.what()) + " (see acdc-meta " + command + " --help)");
  }
  return true;
}

void add_test_hooks(po::options_description& hidden, const std::string& unit) {
  hidden.add_options()("stop-after", po::value<int64_t>()->default_value(0),
                       ("exit after N " + unit + " of this invocation, as a kill would (0 = off)").c_str());
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

}  // namespace experiments
