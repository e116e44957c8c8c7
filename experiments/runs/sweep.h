#pragma once
// Sweep files (`acdc-meta classify --sweep FILE.ini`), read by the one INI reader (ini.h): keys
// before any section are settings shared by every variant; each [section] is one variant (its
// name is the label) with its own settings; a [sweep] section may hold comma-separated lists of
// conv, atoms and group-size whose combinations become variants (standard once; group-size only
// for the acdc-g-* types); its other keys are shared settings.
// Precedence: command line > section > shared settings > --config > defaults.

#include "experiments/runs/ini.h"
#include "experiments/runs/settings.h"

#include <boost/program_options.hpp>

#include <set>
#include <string>
#include <vector>

namespace experiments {

struct SweepVariant {
  std::string label;
  IniEntries settings;  // the section's own keys (they override the shared ones)
};

struct SweepFile {
  std::string path;
  IniEntries shared;
  std::vector<SweepVariant> variants;
};

// Throws UsageError naming the file (and section) of a bad line, list, key or an empty sweep.
// Keys in `not_settings` (flags of the command itself) are refused.
SweepFile read_sweep(const std::string& path, const std::vector<std::string>& not_settings);

// A variant's options: `args` (the command line, parsed with `desc`), then the variant's
// settings, then --config; a key set both on the command line and by the variant's section is
// refused. Errors name "FILE [label]".
boost::program_options::variables_map variant_options(const boost::program_options::options_description& desc,
                                                      const std::vector<std::string>& args, const SweepFile& file,
                                                      const SweepVariant& variant);

// "acdc-net m=8" -> "acdc-net-m8": a directory name per variant.
std::string variant_slug(const std::string& label);

}  // namespace experiments
