// `acdc-meta classify`: supervised training and testing of a backbone (any conv type) on a
// dataset's own train/test split, with a run directory (config.ini, metrics.csv, last.h5 after
// every epoch, results.json), and `--sweep FILE.ini`, which trains several variants in turn and
// writes a Table-1-shaped report (results.md, results.csv) and a plot (results.svg).
//
// Sweep files: keys before any section are settings shared by every variant; each [section]
// is one variant (its name is the label) with its own settings; a [sweep] section may hold
// comma-separated lists of conv, atoms and group-size whose combinations become variants
// (standard once; group-size only for the acdc-g-* types). Other keys of [sweep] are shared
// settings. Precedence: command line > section > shared settings > --config > defaults.

#include "datasets/dataset.h"
#include "experiments/classify.h"
#include "experiments/cli.h"
#include "experiments/commands.h"
#include "experiments/fewshot.h"
#include "experiments/output_paths.h"
#include "experiments/report/sweep_report.h"
#include "experiments/run_config.h"

#include <torch/torch.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

namespace experiments {

namespace {

namespace fs = std::filesystem;

const char* const kUsage =
    "--dataset SPEC --out RUN_DIR [options]      train and test one variant\n"
    "       acdc-meta classify --sweep FILE.ini --out DIR [options]   train every variant of FILE.ini in turn\n"
    "  The dataset's own train/test split, all classes (miniimagenet: its 64 training classes, each\n"
    "  split 500/100 images into train/test). --image-size 0 keeps the native size; --classes and\n"
    "  --channels follow the dataset. --resume continues a run (or a sweep) in --out.";

// Options a resumed run may change: where and how it runs, and what it prints.
const std::vector<std::string> kResumeMayChange = {"threads", "device", "eval-batch-size", "test-every"};
// Options that are not settings of the run.
const std::vector<std::string> kNotSettings = {"help", "config", "resume", "json", "sweep", "stop-after", "out"};

void add_classify_options(po::options_description& desc) {
  add_model_options(desc, "conv4", /*default_classes=*/0, /*default_image_size=*/0);
  desc.add_options()
      ("dataset", po::value<std::string>()->default_value("fashion-mnist"),
       "source, its own train/test split: fashion-mnist[:DIR], mnist:DIR, cifar10:DIR, cifar100:DIR, "
       "tinyimagenet:DIR, miniimagenet:DIR, folder:DIR, h5:FILE")
      ("epochs", po::value<int64_t>()->default_value(10), "passes over the training split")
      ("batch-size", po::value<int64_t>()->default_value(128), "images per SGD step")
      ("lr", po::value<double>()->default_value(0.05), "initial learning rate")
      ("momentum", po::value<double>()->default_value(0.9), "SGD momentum (0 = plain SGD)")
      ("nesterov", po::bool_switch(), "Nesterov momentum")
      ("weight-decay", po::value<double>()->default_value(5e-4), "L2 weight decay (on every parameter)")
      ("schedule", po::value<std::string>()->default_value("cosine"),
       "learning-rate schedule: cosine (per step, to 0) or step (x0.1 at each --milestones epoch)")
      ("milestones", po::value<std::string>()->default_value(""),
       "epochs at which --schedule step multiplies the lr by 0.1, e.g. 30,60 (default: 50% and 75% of --epochs)")
      ("augment", po::bool_switch(), "random crop of the zero-padded image + horizontal flip (training only)")
      ("crop-padding", po::value<int64_t>()->default_value(-1),
       "padding of --augment's crop in pixels (-1 = 4 at 32 px, size/8 above, 2 below 32 px; 0 = flip only)")
      ("device", po::value<std::string>()->default_value("cpu"), "cpu, cuda or cuda:N")
      ("threads", po::value<int64_t>()->default_value(0),
       "CPU threads (0 = every core; use fewer when other jobs share the cores: busy OpenMP threads stall)")
      ("seed", po::value<int64_t>()->default_value(0), "seed of initialisation, shuffling, augmentation and atom-drop")
      ("test-every", po::value<int64_t>()->default_value(1), "test after every N epochs (0 = after the last only)")
      ("eval-batch-size", po::value<int64_t>()->default_value(500), "images per test batch")
      ("out", po::value<std::string>(), "run directory (created); with --sweep, one subdirectory per variant")
      ("resume", po::bool_switch(), "continue the run (or the sweep) in --out from its last checkpoints")
      ("json", po::bool_switch(), "print the results as JSON on stdout")
      ("sweep", po::value<std::string>(), "INI file of variants to train in turn (see --help's usage)")
      ("stop-after", po::value<int64_t>()->default_value(0),
       "exit after N epochs of this invocation, as a kill would (0 = off; for tests)");
}

bool explicitly_given(const po::variables_map& vm, const std::string& key) {
  return vm.count(key) != 0 && !vm[key].defaulted();
}

std::vector<std::string> explicit_keys(const po::variables_map& vm) {
  std::vector<std::string> out;
  for (const auto& [key, value] : vm) {
    if (!value.defaulted()) out.push_back(key);
  }
  return out;
}

std::string shell_quote(const std::string& s) {
  if (!s.empty() && s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=.,/:+") ==
                        std::string::npos) {
    return s;
  }
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string command_line(const Args& args) {
  std::string out = "acdc-meta classify";
  for (const auto& a : args) out += " " + shell_quote(a);
  return out;
}

report::VariantRow variant_row(const ClassifyResult& r) {
  return {r.label, r.backbone, r.conv, r.atoms, r.group_size, r.params, r.macs_per_image, r.test_accuracy,
          r.test_error, r.test_loss, r.train_loss, r.train_accuracy, r.epochs, r.run_dir};
}

void print_result(const ClassifyResult& r) {
  std::cout << r.label << ": test accuracy " << std::fixed << std::setprecision(2) << r.test_accuracy << " % (error "
            << r.test_error << " %), " << r.params << " parameters, " << r.macs_per_image << " MACs/image; "
            << run_file(r.run_dir, "results.json") << "\n";
  std::cout.unsetf(std::ios::fixed);
}

// ---- sweep files ----

struct Variant {
  std::string label;
  std::vector<std::pair<std::string, std::string>> settings;  // section keys (override shared ones)
};

struct SweepFile {
  std::vector<std::pair<std::string, std::string>> shared;
  std::vector<Variant> variants;
};

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

void set_key(std::vector<std::pair<std::string, std::string>>& kv, const std::string& key, const std::string& value) {
  for (auto& e : kv) {
    if (e.first == key) {
      e.second = value;
      return;
    }
  }
  kv.emplace_back(key, value);
}

SweepFile read_sweep(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw UsageError("--sweep: cannot open '" + path + "'");
  SweepFile f;
  std::vector<std::pair<std::string, std::string>> lists;  // [sweep] conv/atoms/group-size
  std::string section, line;
  bool in_section = false;
  int number = 0;
  std::set<std::string> labels;
  while (std::getline(in, line)) {
    ++number;
    const auto t = trim(line);
    const std::string where = path + " line " + std::to_string(number);
    if (t.empty() || t[0] == '#' || t[0] == ';') continue;
    if (t.front() == '[') {
      if (t.back() != ']' || t.size() < 3) throw UsageError(where + ": expected '[variant name]', got '" + t + "'");
      section = trim(t.substr(1, t.size() - 2));
      in_section = true;
      if (section != "sweep") {
        if (!labels.insert(section).second) throw UsageError(where + ": variant [" + section + "] appears twice");
        f.variants.push_back({section, {}});
      }
      continue;
    }
    const auto eq = t.find('=');
    if (eq == std::string::npos) throw UsageError(where + ": expected 'key = value', got '" + t + "'");
    const auto key = trim(t.substr(0, eq)), value = trim(t.substr(eq + 1));
    if (key.empty()) throw UsageError(where + ": empty key");
    for (const auto& bad : kNotSettings) {
      if (key == bad) throw UsageError(where + ": '" + key + "' cannot be set in a sweep file");
    }
    if (!in_section) {
      set_key(f.shared, key, value);
    } else if (section == "sweep") {
      if (key == "conv" || key == "atoms" || key == "group-size") {
        split_list(value, where + " (" + key + ")");
        set_key(lists, key, value);
      } else {
        set_key(f.shared, key, value);
      }
    } else {
      set_key(f.variants.back().settings, key, value);
    }
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
          Variant v;
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

// "acdc-net m=8" -> "acdc-net-m8": a directory name per variant.
std::string slug(const std::string& label) {
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

// The options of one variant: command line, then the variant's settings, then --config.
po::variables_map variant_options(const po::options_description& desc, const Args& args, const SweepFile& file,
                                  const Variant& v, const std::string& path) {
  auto merged = file.shared;
  for (const auto& [k, val] : v.settings) set_key(merged, k, val);
  std::string text;
  for (const auto& [k, val] : merged) text += k + " = " + val + "\n";
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(desc).run(), vm);
    std::istringstream in(text);
    po::store(po::parse_config_file(in, desc, /*allow_unregistered=*/false), vm);
    if (vm.count("config")) {
      std::ifstream config = open_config_file(vm["config"].as<std::string>());
      po::store(po::parse_config_file(config, desc, /*allow_unregistered=*/false), vm);
    }
    po::notify(vm);
  } catch (const po::unknown_option& e) {
    throw UsageError(path + " [" + v.label + "]: unknown setting '" + e.get_option_name() + "' (see acdc-meta classify --help)");
  } catch (const po::error& e) {
    throw UsageError(path + " [" + v.label + "]: " + e.what());
  }
  return vm;
}

std::string sweep_notes(const RunConfig& c, const ClassifyResult& first) {
  std::ostringstream n;
  n << "Settings: " << c.get("epochs") << " epochs, batch " << c.get("batch-size") << ", SGD lr " << c.get("lr")
    << " (" << c.get("schedule") << "), momentum " << c.get("momentum") << (c.get_bool("nesterov") ? " (Nesterov)" : "")
    << ", weight decay " << c.get("weight-decay") << ", atom-drop " << c.get("atom-drop")
    << (c.get_bool("augment") ? ", augment (crop + flip)" : ", no augmentation") << ", seed " << c.get("seed")
    << ". Test error = 100 − accuracy on the whole test split after the last epoch (no model selection on test); "
    << "MACs per image of " << first.backbone << " at the dataset's image size, kernel reconstruction excluded.";
  return n.str();
}

int run_sweep(const Args& args, po::options_description& desc, const po::variables_map& vm) {
  const std::string path = vm["sweep"].as<std::string>(), out = vm["out"].as<std::string>();
  const auto file = read_sweep(path);
  const bool resume = vm["resume"].as<bool>(), json = vm["json"].as<bool>();
  const int64_t stop_after = vm["stop-after"].as<int64_t>();

  // Every variant's settings are checked before any training (mlpack style).
  struct Planned {
    Variant variant;
    RunConfig config;
    std::vector<std::string> explicit_keys;
  };
  std::vector<Planned> plan;
  std::set<std::string> dirs;
  po::variables_map cli;  // the command line alone (without --config)
  po::store(po::command_line_parser(args).options(desc).run(), cli);
  for (const auto& v : file.variants) {
    const auto opts = variant_options(desc, args, file, v, path);
    for (const auto& [k, value] : v.settings) {
      if (explicitly_given(cli, k)) {
        throw UsageError("--" + k + " on the command line conflicts with " + path + " [" + v.label + "], which sets " + k);
      }
    }
    Planned p{v, RunConfig::from_options(opts, kNotSettings), explicit_keys(opts)};
    p.config.source = path + " [" + v.label + "]";
    try {
      validate_classify_config(p.config);
    } catch (const UsageError& e) {
      throw UsageError(path + " [" + v.label + "]: " + e.what());
    }
    if (!dirs.insert(slug(v.label)).second) throw UsageError(path + ": two variants share the directory name " + slug(v.label));
    plan.push_back(p);
  }

  parse_device(plan.front().config.get("device"));
  set_threads(plan.front().config.get_int("threads"));
  const RunDirLock lock(out, "--out");  // the report files; each variant's directory has its own lock

  // One load per (dataset, image size), shared by the variants.
  std::map<std::pair<std::string, int64_t>, datasets::Dataset> data;
  auto data_for = [&](const RunConfig& c) -> const datasets::Dataset& {
    const auto key = std::make_pair(c.get("dataset"), c.get_int("image-size"));
    auto it = data.find(key);
    if (it == data.end()) {
      datasets::LoadOptions load;
      load.image_size = key.second;
      it = data.emplace(key, datasets::load_classification_dataset(key.first, load)).first;
    }
    return it->second;
  };
  // Models are built (not trained) first, so that a bad backbone/conv combination stops the
  // sweep before hours of training.
  std::vector<ClassifyRunOptions> runs;
  for (const auto& p : plan) {
    ClassifyRunOptions o;
    o.config = p.config;
    o.out = run_file(out, slug(p.variant.label));
    o.label = p.variant.label;
    o.resume = resume;
    o.fresh_if_missing = true;
    o.resume_may_change = kResumeMayChange;
    o.explicit_keys = p.explicit_keys;
    o.data = &data_for(p.config);
    o.plan_only = true;
    try {
      run_classification(o);
    } catch (const UsageError& e) {
      throw UsageError(path + " [" + p.variant.label + "]: " + e.what());
    }
    o.plan_only = false;
    o.stop_after = stop_after;
    if (!resume && (fs::exists(run_file(o.out, "last.h5")) || fs::exists(run_file(o.out, "metrics.csv")))) {
      throw UsageError("--out " + out + " already holds a sweep (" + o.out + "); pass --resume to continue it, or remove the directory");
    }
    runs.push_back(o);
  }

  std::vector<ClassifyResult> rows;
  std::vector<report::VariantRow> table;
  report::SweepInfo info;
  info.command = command_line(args);
  const auto& first_data = *runs.front().data;
  info.title = plan.front().config.get("backbone") + " on " + first_data.source;
  const std::string svg_title = plan.front().config.get("backbone") + " on " + first_data.kind + ": test error vs parameters";
  for (size_t i = 0; i < runs.size(); ++i) {
    std::cerr << "sweep: variant " << (i + 1) << "/" << runs.size() << ": " << runs[i].label << "\n";
    if (!run_classification(runs[i]).finished) return 0;  // --stop-after
    // Rows come from the variant's results.json, so a resumed sweep writes the same report.
    const auto r = read_results(runs[i].out);
    rows.push_back(r);
    table.push_back(variant_row(r));
    // The report grows after every variant, so an interrupted sweep still shows what it has.
    info.notes = sweep_notes(plan.front().config, rows.front());
    write_text_file(run_file(out, "results.md"), report::sweep_markdown(table, info));
    write_text_file(run_file(out, "results.csv"), report::sweep_csv(table));
    write_text_file(run_file(out, "results.svg"), report::sweep_svg(table, svg_title));
    auto all = Json::array();
    for (const auto& row : rows) all.push(row.json);
    write_text_file(run_file(out, "results.json"), all.dump() + "\n");
    if (!json) print_result(r);
  }
  if (json) {
    auto all = Json::array();
    for (const auto& row : rows) all.push(row.json);
    std::cout << all.dump() << "\n";
  } else {
    std::cout << "\n" << report::sweep_markdown(table, {}) << "\nreport: " << run_file(out, "results.md") << ", "
              << run_file(out, "results.csv") << ", " << run_file(out, "results.svg") << "\n";
  }
  return 0;
}

}  // namespace

int cmd_classify(const Args& args) {
  po::options_description desc("classify options");
  add_classify_options(desc);
  po::variables_map vm;
  if (!parse_args("classify", kUsage, args, desc, vm, /*config_flag=*/true)) return 0;
  if (!vm.count("out")) throw UsageError("--out RUN_DIR is required");
  check_output_dir(vm["out"].as<std::string>(), "--out");
  const int64_t stop_after = vm["stop-after"].as<int64_t>();
  if (stop_after < 0) throw UsageError("--stop-after must be >= 0, got " + std::to_string(stop_after));
  if (vm.count("sweep")) return run_sweep(args, desc, vm);

  ClassifyRunOptions o;
  o.config = RunConfig::from_options(vm, kNotSettings);
  o.config.source = "classify options";
  o.out = vm["out"].as<std::string>();
  o.resume = vm["resume"].as<bool>();
  o.resume_may_change = kResumeMayChange;
  o.explicit_keys = explicit_keys(vm);
  o.stop_after = stop_after;
  if (!o.resume) validate_classify_config(o.config);
  parse_device(o.config.get("device"));
  set_threads(vm["threads"].as<int64_t>());
  const auto r = run_classification(o);
  if (!r.finished) return 0;
  if (vm["json"].as<bool>()) {
    std::cout << r.json.dump() << "\n";
  } else {
    print_result(r);
  }
  return 0;
}

}  // namespace experiments
