#pragma once
// Typed settings of the runs. Each kind of run has a plain struct (MetaTrainSettings for
// `train`, ClassifySettings for `classify`, ModelSettings for the commands that only build a
// network), and one table per struct that declares every setting once: its key (the long flag,
// the config.ini key and the checkpoint attribute), its help text, its bounds and the field it
// fills. The table builds the command's flags, reads parsed flags or a saved configuration
// (config.ini, checkpoint attributes) into the struct, and writes the struct back as text;
// a bad value is a UsageError naming --key and the value (exit 2).

#include "backbones/backbone.h"
#include "experiments/commands/cli.h"
#include "experiments/runs/run_config.h"
#include "meta/maml.h"

#include <boost/program_options.hpp>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

namespace experiments {

// Sanity bounds of the sizes (the tables name the reason in their errors).
constexpr int64_t kMaxAtoms = 1024;
constexpr int64_t kMaxClasses = 100000;
constexpr int64_t kMaxWidth = 1024;        // conv4 filters
constexpr int64_t kMaxTasks = 1024;        // episodes per meta-batch
constexpr int64_t kMaxInnerSteps = 10000;  // MAML inner-loop steps
constexpr int64_t kMaxBatchSize = 131072;  // images per batch

// Text forms of the setting types (strict: the whole text, finite or not as stated).
int64_t parse_setting_int(const std::string& key, const std::string& text);
double parse_setting_double(const std::string& key, const std::string& text);
bool parse_setting_bool(const std::string& key, const std::string& text);

template <class S>
class SettingsTable {
 public:
  struct Setting {
    std::string key, help;
    bool is_switch = false;  // --key alone sets it (bool settings)
    std::function<void(S&, const std::string&)> read;  // throws UsageError naming --key
    std::function<std::string(const S&)> write;
  };

  SettingsTable& text(const std::string& key, std::string S::*field, const std::string& help,
                      std::function<void(const std::string&)> check = {}) {
    return add({key, help, false,
                [=](S& s, const std::string& v) {
                  if (check) check(v);
                  s.*field = v;
                },
                [=](const S& s) { return s.*field; }});
  }
  // An integer within [min, max]; `bound` words the lower end in the error ("at least 1",
  // ">= 0"); `max.why` says why a value above max.value is refused (a size the machine cannot
  // hold, threads it cannot run), checked before anything is allocated from the value.
  struct Max {
    int64_t value = std::numeric_limits<int64_t>::max();
    std::string why;
  };
  SettingsTable& integer(const std::string& key, int64_t S::*field, const std::string& help,
                         int64_t min = std::numeric_limits<int64_t>::min(), const std::string& bound = "",
                         Max max = {}) {
    return add({key, help, false,
                [=](S& s, const std::string& v) {
                  const auto x = parse_setting_int(key, v);
                  if (x < min) throw UsageError("--" + key + " must be " + bound + ", got " + v);
                  if (x > max.value) {
                    throw UsageError("--" + key + " must be at most " + std::to_string(max.value) +
                                     (max.why.empty() ? "" : " (" + max.why + ")") + ", got " + v);
                  }
                  s.*field = x;
                },
                [=](const S& s) { return std::to_string(s.*field); }});
  }
  // A number; `check(x)` returns the wording of the allowed range when x is outside it, else "".
  SettingsTable& number(const std::string& key, double S::*field, const std::string& help,
                        std::function<std::string(double)> check = {}) {
    return add({key, help, false,
                [=](S& s, const std::string& v) {
                  const auto x = parse_setting_double(key, v);
                  if (check) {
                    const auto allowed = check(x);
                    if (!allowed.empty()) throw UsageError("--" + key + " must be " + allowed + ", got " + v);
                  }
                  s.*field = x;
                },
                [=](const S& s) { return format_double(s.*field); }});
  }
  SettingsTable& flag(const std::string& key, bool S::*field, const std::string& help) {
    return add({key, help, true, [=](S& s, const std::string& v) { s.*field = parse_setting_bool(key, v); },
                [=](const S& s) { return std::string(s.*field ? "true" : "false"); }});
  }
  // An enum with parse (throws std::invalid_argument naming the value) and to_string.
  template <class E, class C>
  SettingsTable& choice(const std::string& key, E C::*field, E (*parse)(const std::string&),
                        std::string (*format)(E), const std::string& help) {
    return add({key, help, false,
                [=](S& s, const std::string& v) {
                  try {
                    s.*field = parse(v);
                  } catch (const std::invalid_argument& e) {
                    throw UsageError("--" + key + ": " + e.what());
                  }
                },
                [=](const S& s) { return format(s.*field); }});
  }

  // The flags, with the defaults of `defaults` (the command line's text is read by read()).
  void add_options(po::options_description& desc, const S& defaults = S{}) const {
    for (const auto& s : settings_) {
      if (s.is_switch) {
        desc.add_options()(s.key.c_str(), po::bool_switch(), s.help.c_str());
      } else {
        desc.add_options()(s.key.c_str(), po::value<std::string>()->default_value(s.write(defaults)), s.help.c_str());
      }
    }
  }
  // Every setting present in `vm` (flags, --config) read over `defaults`.
  S from_options(const po::variables_map& vm, S defaults = S{}) const {
    for (const auto& s : settings_) {
      if (!vm.count(s.key)) continue;
      if (s.is_switch) {
        s.read(defaults, vm[s.key].template as<bool>() ? "true" : "false");
      } else {
        s.read(defaults, vm[s.key].template as<std::string>());
      }
    }
    return defaults;
  }
  // A saved configuration (config.ini, a checkpoint's attributes) read over `defaults`: keys
  // this table does not know are left out (the run's own flags), missing keys keep the default;
  // a bad value is std::invalid_argument naming config.source and the setting.
  S from_config(const RunConfig& config, S defaults = S{}) const {
    for (const auto& s : settings_) {
      if (!config.has(s.key)) continue;
      try {
        s.read(defaults, config.get(s.key));
      } catch (const UsageError& e) {
        std::string what = e.what();
        if (what.rfind("--", 0) == 0) what = what.substr(2);
        throw std::invalid_argument(config.source + ": setting " + what);
      }
    }
    return defaults;
  }
  // The text form, keys in alphabetical order.
  RunConfig to_config(const S& value) const {
    std::vector<const Setting*> sorted;
    for (const auto& s : settings_) sorted.push_back(&s);
    std::sort(sorted.begin(), sorted.end(), [](const Setting* a, const Setting* b) { return a->key < b->key; });
    RunConfig config;
    for (const auto* s : sorted) config.set(s->key, s->write(value));
    return config;
  }
  bool has(const std::string& key) const {
    for (const auto& s : settings_) {
      if (s.key == key) return true;
    }
    return false;
  }
  const std::vector<Setting>& settings() const { return settings_; }

 private:
  SettingsTable& add(Setting s) {
    settings_.push_back(std::move(s));
    return *this;
  }
  std::vector<Setting> settings_;
};

// ---- the network (every command that builds one) ----

struct ModelSettings {
  std::string backbone = "conv4";
  acdc::ConvType conv = acdc::ConvType::kStandard;
  int64_t atoms = 8;
  int64_t group_size = 64;
  double atom_drop = 0.0;
  acdc::AtomInit atom_init = acdc::AtomInit::kNormal;
  int64_t classes = 5;
  int64_t channels = 3;
  int64_t image_size = 84;
  int64_t width = 64;

  // The network these settings describe (the one place BackboneOptions is built from settings).
  // Throws UsageError naming the flag of a setting the network cannot have.
  backbones::BackboneOptions backbone_options(int64_t bn_steps = 1) const;
};

// --backbone --conv --atoms --group-size --atom-drop --atom-init --classes --channels
// --image-size --width, for any struct deriving from ModelSettings.
template <class S>
void add_model_settings(SettingsTable<S>& t);

// ---- acdc-meta train ----

struct MetaTrainSettings : ModelSettings {
  MetaTrainSettings() { image_size = 0; }
  std::string dataset = "fashion-mnist";
  int64_t ways = 5, shots = 1, queries = 15, meta_batch = 4;
  int64_t inner_steps = 5, inner_steps_test = 10;
  double inner_lr = 0.1;  // the main job's (experiments/configs/main.ini, README)
  bool learn_inner_lr = false;
  double meta_lr = 1e-3;
  bool cosine = false;
  double min_meta_lr = 0.0;
  int64_t iterations = 600;
  bool first_order = false;
  int64_t anneal_first_order = 0;
  backbones::ParamFilter inner_params = backbones::ParamFilter::kAll;
  bool multi_step_loss = false;
  int64_t multi_step_iterations = 0;
  double clip_grad = 0.0;
  backbones::BnMode bn = backbones::BnMode::kTransductive;
  bool augment = false;
  int64_t class_rotations = 1;  // training classes x rotations (datasets::with_rotated_classes)
  std::string device = "cpu";
  int64_t seed = 0, threads = 0, val_every = 100, val_episodes = 100;

  backbones::BackboneOptions network() const;  // classes = ways, per-step BN sets
  meta::MamlConfig maml() const;               // throws UsageError naming the flag
};
const SettingsTable<MetaTrainSettings>& meta_train_settings();

// ---- acdc-meta classify ----

struct ClassifySettings : ModelSettings {
  ClassifySettings() {
    classes = 0;
    image_size = 0;
  }
  std::string dataset = "fashion-mnist";
  int64_t epochs = 10, batch_size = 128;
  double lr = 0.05, momentum = 0.9;
  bool nesterov = false;
  double weight_decay = 5e-4;
  std::string schedule = "cosine", milestones;
  bool augment = false;
  int64_t crop_padding = -1;
  std::string device = "cpu";
  int64_t threads = 0, seed = 0, test_every = 1, eval_batch_size = 500;
  int64_t train_per_class = 0, test_per_class = 0;  // 0 = every image of the split

  std::vector<int64_t> milestone_epochs() const;  // --milestones, or 50 % and 75 % of --epochs
  int64_t crop_padding_at(int64_t image_size) const;  // 0 without --augment
};
const SettingsTable<ClassifySettings>& classify_settings();
// Cross-setting checks of a classify run (the table checks each value alone).
void validate(const ClassifySettings& s);

}  // namespace experiments
