#include "experiments/runs/sweep.h"

#include "experiments/commands/cli.h"

#include <algorithm>
#include <cctype>
#include <sstream>

namespace experiments {

namespace po = boost::program_options;

namespace {

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\r") - b + 1);
}

std::vector<std::string> split_list(const std::string& text, const std::string& where) {
  std::vector<std::string> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    item = trim(item);
    if (item.empty()) throw UsageError(where + ": empty item in list '" + text + "'");
    out.push_back(item);
  }
  if (out.empty()) throw UsageError(where + ": empty list");
  return out;
}

void set_key(IniEntries& kv, const std::string& key, const std::string& value) {
  for (auto& e : kv) {
    if (e.first == key) {
      e.second = value;
      return;
    }
  }
  kv.emplace_back(key, value);
}

}  // namespace

SweepFile read_sweep(const std::string& path, const std::vector<std::string>& not_settings) {
  const auto ini = read_ini_file(path, "--sweep");
  SweepFile f;
  f.path = path;
  auto check_key = [&](const std::string& where, const std::string& key) {
    if (std::find(not_settings.begin(), not_settings.end(), key) != not_settings.end()) {
      throw UsageError(where + ": '" + key + "' cannot be set in a sweep file");
    }
  };
  for (const auto& [key, value] : ini.top) {
    check_key(path, key);
    set_key(f.shared, key, value);
  }
  IniEntries lists;  // [sweep] conv / atoms / group-size
  std::set<std::string> labels;
  for (const auto& section : ini.sections) {
    const std::string where = path + " [" + section.name + "]";
    if (section.name == "sweep") {
      for (const auto& [key, value] : section.entries) {
        check_key(where, key);
        if (key == "conv" || key == "atoms" || key == "group-size") {
          split_list(value, where + " " + key);
          set_key(lists, key, value);
        } else {
          set_key(f.shared, key, value);
        }
      }
      continue;
    }
    if (!labels.insert(section.name).second) throw UsageError(where + ": variant [" + section.name + "] appears twice");
    for (const auto& [key, value] : section.entries) check_key(where, key);
    f.variants.push_back({section.name, section.entries});
  }
  if (!lists.empty()) {
    auto list_of = [&](const std::string& key) -> std::vector<std::string> {
      for (const auto& [k, v] : lists) {
        if (k == key) return split_list(v, path + " [sweep] " + key);
      }
      return {""};  // not swept: the shared or default value
    };
    const auto convs = list_of("conv"), atoms = list_of("atoms"), sizes = list_of("group-size");
    if (convs.size() == 1 && convs[0].empty()) throw UsageError(path + ": [sweep] needs a 'conv' list");
    for (const auto& conv : convs) {
      const bool decomposed = conv != "standard", grouped = conv.rfind("acdc-g-", 0) == 0;
      for (const auto& m : decomposed ? atoms : std::vector<std::string>{""}) {
        for (const auto& s : grouped ? sizes : std::vector<std::string>{""}) {
          SweepVariant v;
          v.label = conv;
          v.settings.emplace_back("conv", conv);
          if (!m.empty()) {
            v.label += " m=" + m;
            v.settings.emplace_back("atoms", m);
          }
          if (!s.empty()) {
            v.label += " s=" + s;
            v.settings.emplace_back("group-size", s);
          }
          if (labels.insert(v.label).second) f.variants.push_back(v);
        }
      }
    }
  }
  if (f.variants.empty()) throw UsageError(path + ": no variants (add [name] sections or a [sweep] section with a conv list)");
  return f;
}

po::variables_map variant_options(const po::options_description& desc, const std::vector<std::string>& args,
                                  const SweepFile& file, const SweepVariant& v) {
  const std::string where = file.path + " [" + v.label + "]";
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(desc).run(), vm);
  } catch (const po::error& e) {
    throw UsageError(std::string(e.what()) + " (see acdc-meta classify --help)");
  }
  for (const auto& [key, value] : v.settings) {
    if (explicitly_given(vm, key)) {
      throw UsageError("--" + key + " on the command line conflicts with " + where + ", which sets " + key);
    }
  }
  auto merged = file.shared;
  for (const auto& [k, val] : v.settings) set_key(merged, k, val);
  store_entries(merged, desc, vm, where);
  if (vm.count("config")) {
    const auto config = read_ini_file(vm["config"].as<std::string>(), "--config");
    store_entries(config.top, desc, vm, config.source);
  }
  try {
    po::notify(vm);
  } catch (const po::error& e) {
    throw UsageError(where + ": " + e.what());
  }
  return vm;
}

std::string variant_slug(const std::string& label) {
  std::string out;
  for (char c : label) {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.') {
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else if (c == ' ' && !out.empty() && out.back() != '-') {
      out += '-';
    }
  }
  return out.empty() ? "variant" : out;
}

}  // namespace experiments
