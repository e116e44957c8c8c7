#pragma once
// Shared command-line plumbing for the acdc-meta subcommands: the subcommand table, argument
// parsing that rejects unknown flags (exit 2), the model options every subcommand shares, and
// XML escaping for the SVG figures. (JSON: datasets/storage/json.h; the progress bar:
// experiments/report/progress.h.)

#include "backbones/backbone.h"

#include <boost/program_options.hpp>

#include <cstdint>
#include <fstream>
#include <functional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace experiments {

namespace po = boost::program_options;

// A bad flag, value or combination: main prints "acdc-meta <cmd>: error: <message>" and exits 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Command {
  std::string name;
  std::string summary;
  std::function<int(const std::vector<std::string>& args)> run;
};

// Every subcommand, in the order --help lists them (defined in main.cpp).
const std::vector<Command>& commands();

// Parses `args` (after the subcommand name). Returns false after printing help for --help.
// Unknown flags, missing values and bad conversions throw UsageError naming the flag.
// `config_flag`: when true, a "--config FILE.ini" option is added and its keys (the long
// option names) fill options not given on the command line.
bool parse_args(const std::string& command, const std::string& usage, const std::vector<std::string>& args,
                po::options_description& desc, po::variables_map& vm, bool config_flag = false,
                const po::options_description* hidden = nullptr);

// Adds --stop-after N (a test hook: exit after N units of this invocation, as a kill would) to
// `hidden`, the flags parse_args accepts but --help does not list. `unit` is "iterations", "epochs".
void add_test_hooks(po::options_description& hidden, const std::string& unit);

// "1,5" -> {1, 5}; throws UsageError naming `flag` for an empty list, a non-number or a value
// below `min_value`.
std::vector<int64_t> parse_int_list(const std::string& text, const std::string& flag, int64_t min_value = 1);

// The options given on the command line or in --config (not left at their defaults).
std::set<std::string> explicit_keys(const po::variables_map& vm);
bool explicitly_given(const po::variables_map& vm, const std::string& key);

// --backbone --conv --atoms --group-size --atom-drop --atom-init --classes --channels
// --image-size --width
void add_model_options(po::options_description& desc, const std::string& default_backbone = "conv4",
                       int64_t default_classes = 5, int64_t default_image_size = 84);
// Builds BackboneOptions from the parsed model options; throws UsageError naming a bad value.
backbones::BackboneOptions model_options(const po::variables_map& vm);


}  // namespace experiments
