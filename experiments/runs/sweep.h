#pragma once
// Sweep files (`acdc-meta classify --sweep FILE.ini`, `acdc-meta train --sweep FILE.ini`), read
// by the one INI reader (ini.h): keys before any section are settings shared by every variant;
// each [section] is one variant (its name is the label) with its own settings; a [sweep] section
// holds comma-separated lists whose combinations become variants: a cartesian product in file
// order (the first list outermost), except that atoms and group-size follow conv, standard conv
// comes once (no atoms) and group-size applies to the acdc-g-* types only. Which keys hold lists
// is the command's (SweepSyntax): classify lists conv, atoms and group-size (its other [sweep]
// keys are shared settings); train lists any of its settings.
// A variant's label names its value of every list: conv and backbone as they are, atoms "m=8",
// group-size "s=16", first-order "first-order" / "second-order", ways "5-way", shots "1-shot"
// (the training episodes), other true/false settings "KEY" / "no-KEY", the rest "KEY=VALUE".
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
  std::string command = "classify";  // the subcommand (its --help is named in errors)
  IniEntries shared;
  IniEntries sweep_settings;         // keys of SweepSyntax::sweep_keys (settings of the whole sweep)
  std::vector<SweepVariant> variants;
};

// How a command's sweep files read.
struct SweepSyntax {
  std::string command = "classify";
  std::vector<std::string> not_settings;  // flags of the command itself: refused in the file
  // [sweep] keys that hold lists; empty: every key of `settings`. Other [sweep] keys are shared.
  std::vector<std::string> list_keys = {"conv", "atoms", "group-size"};
  // The command's setting keys: a [sweep] key outside them (and outside sweep_keys) is a
  // UsageError naming FILE [sweep] and the key. Empty: [sweep] keys are checked per variant.
  std::vector<std::string> settings;
  // Settings of the sweep itself (e.g. eval-episodes): before the first section or in [sweep],
  // kept apart in SweepFile::sweep_settings; refused in a variant's section.
  std::vector<std::string> sweep_keys;
  bool needs_conv = true;  // [sweep] must list conv (classify)
};

// Throws UsageError naming the file (and section) of a bad line, list, key or an empty sweep.
SweepFile read_sweep(const std::string& path, const SweepSyntax& syntax);
// classify's syntax: keys in `not_settings` (flags of the command itself) are refused.
SweepFile read_sweep(const std::string& path, const std::vector<std::string>& not_settings);

// A variant's options: `args` (the command line, parsed with `desc`), then the variant's
// settings, then --config; a key set both on the command line and by the variant's section is
// refused. Errors name "FILE [label]".
boost::program_options::variables_map variant_options(const boost::program_options::options_description& desc,
                                                      const std::vector<std::string>& args, const SweepFile& file,
                                                      const SweepVariant& variant);

// `program` and `args` as a shell reads them back ('…' around an argument with other characters
// than letters, digits and -_=.,/:+), for the report's "Command:" line.
std::string quoted_command(const std::string& program, const std::vector<std::string>& args);

// "acdc-net m=8" -> "acdc-net-m8": a directory name per variant.
std::string variant_slug(const std::string& label);

}  // namespace experiments
