#pragma once
// The one INI reader: `--config FILE.ini`, sweep files (`classify --sweep`) and config.ini.
// Boost.Program_options' config-file syntax: "key = value" lines, '#' comments (to the end of
// the line), "[section]" headers; keys are the long option names.

#include <boost/program_options.hpp>

#include <istream>
#include <string>
#include <utility>
#include <vector>

namespace experiments {

using IniEntries = std::vector<std::pair<std::string, std::string>>;

struct IniSection {
  std::string name;
  IniEntries entries;  // in file order
};

struct IniFile {
  std::string source;             // named in errors
  IniEntries top;                 // keys before the first section
  std::vector<IniSection> sections;  // in file order (a section without keys is not listed)
};

// Throws UsageError naming `source` for a syntax error or a key given twice in one section.
IniFile read_ini(std::istream& in, const std::string& source);
// Opens `path` (UsageError naming `flag` and the path when it is missing, unreadable or a
// directory) and reads it.
IniFile read_ini_file(const std::string& path, const std::string& flag);

// Stores `entries` into `vm` as one more source of option values (after the command line: what
// is already stored wins). A key that is no option of `desc` is a UsageError "WHERE: unknown
// setting 'KEY'"; a bad value names WHERE and the key.
void store_entries(const IniEntries& entries, const boost::program_options::options_description& desc,
                   boost::program_options::variables_map& vm, const std::string& where);

}  // namespace experiments
