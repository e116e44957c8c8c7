// `acdc-meta train`: flags -> MetaTrainSettings -> meta_train (experiments/training/meta_training.h),
// or, with --sweep FILE.ini, every variant of the file (experiments/runs/sweep.h) ->
// run_meta_sweep (experiments/training/meta_sweep.h).

#include "experiments/commands/cli.h"
#include "experiments/commands/commands.h"
#include "experiments/commands/group_options.h"
#include "experiments/runs/output_paths.h"
#include "experiments/runs/sweep.h"
#include "experiments/training/meta_sweep.h"
#include "experiments/training/meta_training.h"

#include <algorithm>

namespace experiments {

namespace {

const char* const kUsage =
    "--dataset SPEC --out RUN_DIR [options]   (or --config FILE.ini; --resume --out RUN_DIR continues a run)\n"
    "  --image-size 0 (the default) keeps the dataset's native size; --channels and --classes follow\n"
    "  the dataset and --ways\n"
    "  As one rank of a group: RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT, LOCAL_RANK (as torchrun and SLURM\n"
    "  wrappers set them) or --rank --world-size --master; --meta-batch is the global meta-batch\n"
    "       acdc-meta train --sweep FILE.ini --out DIR [--eval-episodes 600] [--resume] [--json] [options]\n"
    "  Meta-trains every variant of FILE.ini in DIR/<variant>/, evaluates each at 1 and 5 shots (as eval does) and\n"
    "  writes DIR/results.md, .csv, .svg, .json. Sweep files: shared 'key = value' settings first; each [name]\n"
    "  section is a variant; a [sweep] section's lists (any setting, e.g. conv = standard, acdc-net and\n"
    "  atoms = 4, 8) expand into every combination. Precedence: command line > section > shared > --config.";

// Flags of the command itself (and where it runs), not settings of a variant.
const std::vector<std::string> kNotSettings = {"help", "config", "resume", "json", "sweep", "stop-after", "out",
                                               "rank", "world-size", "master", "backend", "collective-timeout"};

// `train --sweep`: every variant's settings read and checked before any work.
int run_sweep_command(const Args& args, const po::options_description& desc, const po::variables_map& vm) {
  if (group_settings(vm).distributed()) throw UsageError("--sweep runs in one process (no --world-size / $WORLD_SIZE)");
  MetaSweepRequest sweep;
  sweep.path = vm["sweep"].as<std::string>();
  sweep.out = vm["out"].as<std::string>();
  sweep.resume = vm["resume"].as<bool>();
  sweep.json = vm["json"].as<bool>();
  sweep.stop_after = vm["stop-after"].as<int64_t>();
  sweep.command = quoted_command("acdc-meta train", args);
  SweepSyntax syntax;
  syntax.command = "train";
  syntax.not_settings = kNotSettings;
  syntax.list_keys = {};  // every setting
  for (const auto& s : meta_train_settings().settings()) syntax.settings.push_back(s.key);
  syntax.sweep_keys = {"eval-episodes"};
  syntax.needs_conv = false;
  const auto file = read_sweep(sweep.path, syntax);
  // --eval-episodes: the command line, else the file, else 600.
  std::string episodes = "600";
  for (const auto& [key, value] : file.sweep_settings) {
    if (key == "eval-episodes") episodes = value;
  }
  std::string where = sweep.path + ": eval-episodes";
  if (!vm["eval-episodes"].defaulted()) {
    episodes = vm["eval-episodes"].as<std::string>();
    where = "--eval-episodes";
  }
  if (episodes.find(',') != std::string::npos) throw UsageError(where + " must be one number, got '" + episodes + "'");
  sweep.eval_episodes = parse_int_list(episodes, where).front();
  for (const auto& v : file.variants) {
    const auto opts = variant_options(desc, args, file, v);
    MetaSweepVariant variant;
    variant.label = v.label;
    try {
      variant.train.settings = meta_train_settings().from_options(opts);
      variant.train.settings.maml();
    } catch (const UsageError& e) {
      throw UsageError(sweep.path + " [" + v.label + "]: " + e.what());
    }
    variant.train.explicit_keys = explicit_keys(opts);
    sweep.variants.push_back(variant);
  }
  // The report's notes: the file's shared settings and those of the command line, as every variant
  // uses them (a key that a section sets differently is left out).
  const auto& table = meta_train_settings();
  std::vector<std::string> keys;
  for (const auto& [key, value] : file.shared) keys.push_back(key);
  for (const auto& key : explicit_keys(vm)) {
    if (table.has(key) && std::find(keys.begin(), keys.end(), key) == keys.end()) keys.push_back(key);
  }
  std::vector<RunConfig> configs;
  for (const auto& v : sweep.variants) configs.push_back(table.to_config(v.train.settings));
  for (const auto& key : keys) {
    if (!table.has(key)) continue;
    const auto& value = configs.front().get(key);
    bool same = true;
    for (const auto& c : configs) same = same && c.get(key) == value;
    if (same) sweep.shared_settings += (sweep.shared_settings.empty() ? "" : ", ") + key + " = " + value;
  }
  return run_meta_sweep(sweep);
}

}  // namespace

int cmd_train(const Args& args) {
  po::options_description desc("train options");
  meta_train_settings().add_options(desc);
  desc.add_options()
      ("out", po::value<std::string>(), "run directory (created)")
      ("resume", po::bool_switch(), "continue the run in --out from its last checkpoint")
      ("sweep", po::value<std::string>(), "INI file of variants to meta-train and evaluate in turn (see --help's usage)")
      ("eval-episodes", po::value<std::string>()->default_value("600"),
       "with --sweep: test episodes per shot count of each variant's evaluation")
      ("json", po::bool_switch(), "with --sweep: print the results as one JSON array on stdout");
  add_group_options(desc);
  po::options_description hidden;
  add_test_hooks(hidden, "iterations");
  po::variables_map vm;
  if (!parse_args("train", kUsage, args, desc, vm, /*config_flag=*/true, &hidden)) return 0;
  if (!vm.count("out")) throw UsageError("--out RUN_DIR is required");
  if (vm.count("sweep")) {
    check_output_dir(vm["out"].as<std::string>(), "--out");
    if (vm["stop-after"].as<int64_t>() < 0) {
      throw UsageError("--stop-after must be >= 0, got " + std::to_string(vm["stop-after"].as<int64_t>()));
    }
    po::options_description all;  // --help's flags and the hidden test hooks
    all.add(desc).add(hidden);
    return run_sweep_command(args, all, vm);
  }
  for (const char* flag : {"eval-episodes", "json"}) {
    if (explicitly_given(vm, flag)) throw UsageError(std::string("--") + flag + " needs --sweep FILE.ini");
  }
  MetaTrainRequest request;
  request.out = vm["out"].as<std::string>();
  request.resume = vm["resume"].as<bool>();
  request.stop_after = vm["stop-after"].as<int64_t>();
  if (request.stop_after < 0) throw UsageError("--stop-after must be >= 0, got " + std::to_string(request.stop_after));
  request.settings = meta_train_settings().from_options(vm);
  request.explicit_keys = explicit_keys(vm);
  request.group = group_settings(vm);
  meta_train(request);
  return 0;
}

}  // namespace experiments
