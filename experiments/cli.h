#pragma once
// Shared command-line plumbing for the acdc-meta subcommands: the subcommand table, argument
// parsing that rejects unknown flags (exit 2), the model options every subcommand shares, and
// small output helpers (JSON, progress bar).

#include "backbones/backbone.h"

#include <boost/program_options.hpp>

#include <chrono>
#include <cstdint>
#include <fstream>
#include <functional>
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
                po::options_description& desc, po::variables_map& vm, bool config_flag = false);

// Opens a --config INI file; throws UsageError naming the path when it is missing, unreadable or
// a directory.
std::ifstream open_config_file(const std::string& path);

// --backbone --conv --atoms --group-size --atom-drop --atom-init --classes --channels
// --image-size --width
void add_model_options(po::options_description& desc, const std::string& default_backbone = "conv4",
                       int64_t default_classes = 5, int64_t default_image_size = 84);
// Builds BackboneOptions from the parsed model options; throws UsageError naming a bad value.
backbones::BackboneOptions model_options(const po::variables_map& vm);

// Minimal JSON writer (objects keep insertion order).
class Json {
 public:
  static Json object();
  static Json array();
  Json& set(const std::string& key, const Json& value);
  Json& set(const std::string& key, const std::string& value);
  Json& set(const std::string& key, const char* value);
  Json& set(const std::string& key, double value);
  Json& set(const std::string& key, int64_t value);
  Json& set(const std::string& key, int value) { return set(key, static_cast<int64_t>(value)); }
  Json& set(const std::string& key, bool value);
  Json& push(const Json& value);
  Json& push(double value);
  Json& push(int64_t value);
  Json& push(const std::string& value);
  std::string dump(int indent = 2) const;
  static std::string quote(const std::string& s);

 private:
  enum class Kind { kObject, kArray, kRaw } kind_ = Kind::kRaw;
  std::string raw_;
  std::vector<std::pair<std::string, Json>> items_;
  void dump_to(std::string& out, int indent, int depth) const;
};

// A one-line progress bar on stderr (redrawn at most ~10 times a second; a plain line per 10%
// when stderr is not a terminal). `status` is extra text such as "loss 1.23 acc 45%".
class ProgressBar {
 public:
  ProgressBar(std::string label, int64_t total);
  void update(int64_t done, const std::string& status = "");
  void finish(const std::string& status = "");

 private:
  std::string label_;
  int64_t total_;
  bool tty_;
  int last_decile_ = -1;
  std::chrono::steady_clock::time_point start_, last_draw_;
  void draw(int64_t done, const std::string& status, bool final);
};

}  // namespace experiments
