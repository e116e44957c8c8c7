#include "experiments/runs/ini.h"

#include "experiments/commands/cli.h"

#include <filesystem>
#include <fstream>
#include <set>

namespace experiments {

namespace po = boost::program_options;

IniFile read_ini(std::istream& in, const std::string& source) {
  po::options_description none;
  po::parsed_options parsed(&none);
  try {
    parsed = po::parse_config_file(in, none, /*allow_unregistered=*/true);
  } catch (const po::error& e) {
    throw UsageError(source + ": " + e.what());
  }
  IniFile file;
  file.source = source;
  std::set<std::string> seen;
  for (const auto& o : parsed.options) {
    // Keys of a section come as "section.key"; keys never contain '.'.
    const auto dot = o.string_key.rfind('.');
    const std::string section = dot == std::string::npos ? "" : o.string_key.substr(0, dot);
    const std::string key = dot == std::string::npos ? o.string_key : o.string_key.substr(dot + 1);
    const std::string value = o.value.empty() ? "" : o.value.front();
    if (!seen.insert(o.string_key).second) {
      throw UsageError(source + (section.empty() ? "" : " [" + section + "]") + ": '" + key + "' is set twice");
    }
    if (section.empty()) {
      file.top.emplace_back(key, value);
      continue;
    }
    if (file.sections.empty() || file.sections.back().name != section) file.sections.push_back({section, {}});
    file.sections.back().entries.emplace_back(key, value);
  }
  return file;
}

IniFile read_ini_file(const std::string& path, const std::string& flag) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw UsageError(flag + " " + path + " is a directory, not an INI file");
  std::ifstream in(path);
  if (!in) throw UsageError(flag + ": cannot open '" + path + "'");
  return read_ini(in, path);
}

void store_entries(const IniEntries& entries, const po::options_description& desc, po::variables_map& vm,
                   const std::string& where) {
  po::parsed_options parsed(&desc);
  for (const auto& [key, value] : entries) {
    if (desc.find_nothrow(key, /*approx=*/false) == nullptr) throw UsageError(where + ": unknown setting '" + key + "'");
    po::option o;
    o.string_key = key;
    o.value = {value};
    o.original_tokens = {key, value};
    parsed.options.push_back(o);
  }
  try {
    po::store(parsed, vm);
  } catch (const po::error& e) {
    throw UsageError(where + ": " + e.what());
  }
}

}  // namespace experiments
