#pragma once
// The resolved configuration of a run as text: every setting of its kind (runs/settings.h), keys
// in alphabetical order, values that parse back to the same value. It is written to the run directory as config.ini (readable again by --config), stored
// as attributes in every checkpoint and export, and it is the one place eval/export rebuild the
// model and the engine from, so a checkpoint alone is enough to evaluate it.

#include "backbones/backbone.h"
#include "meta/maml.h"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace experiments {

class RunConfig {
 public:
  // The text form of typed settings is written by their table (runs/settings.h: to_config).
  // Lines "key = value" read by the one INI reader (runs/ini.h); sections are refused. Throws
  // std::invalid_argument naming the source.
  static RunConfig parse_ini(const std::string& text, const std::string& source);

  void set(const std::string& key, const std::string& value);
  bool has(const std::string& key) const;
  // Throw std::invalid_argument naming the key (and the source) when missing or malformed.
  const std::string& get(const std::string& key) const;
  int64_t get_int(const std::string& key) const;
  double get_double(const std::string& key) const;
  bool get_bool(const std::string& key) const;

  const std::vector<std::pair<std::string, std::string>>& entries() const { return entries_; }
  std::string to_ini() const;
  // Writes to_ini() to `path` atomically (temporary name, then rename).
  void write_ini(const std::string& path) const;

  bool operator==(const RunConfig& other) const { return entries_ == other.entries_; }

  std::string source = "configuration";  // named in error messages

 private:
  std::vector<std::pair<std::string, std::string>> entries_;
};

// Writes `text` to `path` atomically (temporary name, then rename).
void write_text_file(const std::string& path, const std::string& text);
// Keeps the header and the rows of a metrics CSV whose first column is <= `last` (a resumed
// run rewrites the rest); a missing file is left missing. A file in the earlier layout
// (train: "seconds", query accuracy a fraction; classify: "seconds") is rewritten in the current
// one (elapsed_seconds / epoch_seconds, accuracy in percent).
void truncate_metrics(const std::string& path, int64_t last);

// Text form of a double that parses back to the same value, as short as possible.
std::string format_double(double v);

// The network and the engine a configuration describes (keys = train's long options).
backbones::BackboneOptions backbone_options(const RunConfig& config);
meta::MamlConfig maml_config(const RunConfig& config);
// "first", "second", or "first for N iterations, then second".
std::string order_description(const meta::MamlConfig& config);

}  // namespace experiments
