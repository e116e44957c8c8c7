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

namespace {

bool contains(const std::vector<std::string>& keys, const std::string& key) {
  return std::find(keys.begin(), keys.end(), key) != keys.end();
}

// The label's word for one list value (see sweep.h).
std::string label_piece(const std::string& key, const std::string& value) {
  if (key == "conv" || key == "backbone") return value;
  if (key == "atoms") return "m=" + value;
  if (key == "group-size") return "s=" + value;
  if (key == "ways") return value + "-way";
  if (key == "shots") return value + "-shot";
  if (value == "true" || value == "false") {
    if (key == "first-order") return value == "true" ? "first-order" : "second-order";
    return value == "true" ? key : "no-" + key;
  }
  return key + "=" + value;
}

struct SweepList {
  std::string key;
  std::vector<std::string> values;
};

// Every combination of `lists` (the first outermost); atoms apply to the decomposed convs only
// and group-size to the grouped ones, when conv is a list. Labels already taken are skipped.
void expand(const std::vector<SweepList>& lists, std::set<std::string>& labels, std::vector<SweepVariant>& out) {
  std::vector<size_t> at(lists.size(), 0);
  while (true) {
    std::string conv;
    for (size_t i = 0; i < lists.size(); ++i) {
      if (lists[i].key == "conv") conv = lists[i].values[at[i]];
    }
    const bool decomposed = conv != "standard", grouped = conv.empty() || conv.rfind("acdc-g-", 0) == 0;
    SweepVariant v;
    for (size_t i = 0; i < lists.size(); ++i) {
      const auto& key = lists[i].key;
      const auto& value = lists[i].values[at[i]];
      if ((key == "atoms" && !decomposed) || (key == "group-size" && !grouped)) continue;
      v.label += (v.label.empty() ? "" : " ") + label_piece(key, value);
      v.settings.emplace_back(key, value);
    }
    if (labels.insert(v.label).second) out.push_back(v);
    // The next combination: the last list turns fastest.
    size_t i = lists.size();
    while (i > 0 && ++at[i - 1] == lists[i - 1].values.size()) at[--i] = 0;
    if (i == 0) return;
  }
}

}  // namespace

SweepFile read_sweep(const std::string& path, const std::vector<std::string>& not_settings) {
  SweepSyntax syntax;
  syntax.not_settings = not_settings;
  return read_sweep(path, syntax);
}

SweepFile read_sweep(const std::string& path, const SweepSyntax& syntax) {
  const auto ini = read_ini_file(path, "--sweep");
  SweepFile f;
  f.path = path;
  f.command = syntax.command;
  auto check_key = [&](const std::string& where, const std::string& key) {
    if (contains(syntax.not_settings, key)) {
      throw UsageError(where + ": '" + key + "' cannot be set in a sweep file");
    }
  };
  auto shared_key = [&](const std::string& key, const std::string& value) {
    set_key(contains(syntax.sweep_keys, key) ? f.sweep_settings : f.shared, key, value);
  };
  for (const auto& [key, value] : ini.top) {
    check_key(path, key);
    shared_key(key, value);
  }
  auto is_list = [&](const std::string& key) {
    if (contains(syntax.sweep_keys, key)) return false;
    return syntax.list_keys.empty() ? contains(syntax.settings, key) : contains(syntax.list_keys, key);
  };
  std::vector<SweepList> lists;  // [sweep] lists in file order
  std::set<std::string> labels;
  for (const auto& section : ini.sections) {
    const std::string where = path + " [" + section.name + "]";
    if (section.name == "sweep") {
      for (const auto& [key, value] : section.entries) {
        check_key(where, key);
        if (!syntax.settings.empty() && !contains(syntax.settings, key) && !contains(syntax.sweep_keys, key)) {
          throw UsageError(where + ": unknown setting '" + key + "' (see acdc-meta " + syntax.command + " --help)");
        }
        if (is_list(key)) {
          lists.push_back({key, split_list(value, where + " " + key)});
        } else {
          shared_key(key, value);
        }
      }
      continue;
    }
    if (!labels.insert(section.name).second) throw UsageError(where + ": variant [" + section.name + "] appears twice");
    for (const auto& [key, value] : section.entries) {
      check_key(where, key);
      if (contains(syntax.sweep_keys, key)) {
        throw UsageError(where + ": '" + key + "' is a setting of the whole sweep; set it before the first section");
      }
    }
    f.variants.push_back({section.name, section.entries});
  }
  if (!lists.empty()) {
    // atoms and group-size right after conv (in that order): whether they apply depends on it.
    auto conv = std::find_if(lists.begin(), lists.end(), [](const SweepList& l) { return l.key == "conv"; });
    if (conv == lists.end() && syntax.needs_conv) throw UsageError(path + ": [sweep] needs a 'conv' list");
    if (conv != lists.end()) {
      std::vector<SweepList> ordered;
      for (const auto& l : lists) {
        if (l.key == "atoms" || l.key == "group-size") continue;
        ordered.push_back(l);
        if (l.key != "conv") continue;
        for (const char* dependent : {"atoms", "group-size"}) {
          for (const auto& d : lists) {
            if (d.key == dependent) ordered.push_back(d);
          }
        }
      }
      lists = ordered;
    }
    expand(lists, labels, f.variants);
  }
  if (f.variants.empty()) {
    throw UsageError(path + (syntax.needs_conv ? ": no variants (add [name] sections or a [sweep] section with a conv list)"
                                               : ": no variants (add [name] sections or lists in a [sweep] section)"));
  }
  return f;
}

po::variables_map variant_options(const po::options_description& desc, const std::vector<std::string>& args,
                                  const SweepFile& file, const SweepVariant& v) {
  const std::string where = file.path + " [" + v.label + "]";
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(desc).run(), vm);
  } catch (const po::error& e) {
    throw UsageError(std::string(e.what()) + " (see acdc-meta " + file.command + " --help)");
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

std::string quoted_command(const std::string& program, const std::vector<std::string>& args) {
  std::string out = program;
  for (const auto& a : args) {
    out += " ";
    if (!a.empty() && a.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=.,/:+") ==
                          std::string::npos) {
      out += a;
      continue;
    }
    out += "'";
    for (char c : a) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    out += "'";
  }
  return out;
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
