// `acdc-meta classify`: flags -> ClassifySettings -> run_classification
// (experiments/training/classification.h), or, with --sweep FILE.ini, every variant of the file
// (experiments/runs/sweep.h) -> run_sweep (experiments/training/sweep.h).

#include "experiments/commands/cli.h"
#include "experiments/training/device.h"
#include "experiments/commands/commands.h"
#include "experiments/runs/output_paths.h"
#include "experiments/runs/sweep.h"
#include "experiments/training/classification.h"
#include "experiments/training/sweep.h"

#include <iostream>

namespace experiments {

namespace {

const char* const kUsage =
    "--dataset SPEC --out RUN_DIR [options]      train and test one variant\n"
    "       acdc-meta classify --sweep FILE.ini --out DIR [options]   train every variant of FILE.ini in turn\n"
    "  The dataset's own train/test split, all classes (miniimagenet: its 64 training classes, each\n"
    "  split 500/100 images into train/test). --image-size 0 keeps the native size; --classes and\n"
    "  --channels follow the dataset. --resume continues a run (or a sweep) in --out.\n"
    "  Sweep files: shared 'key = value' settings first; each [name] section is a variant with its own\n"
    "  settings; a [sweep] section's conv, atoms and group-size lists expand into variants.\n"
    "  Precedence: command line > section > shared settings > --config > defaults.";

// Flags of the command itself, not settings of a run.
const std::vector<std::string> kNotSettings = {"help", "config", "resume", "json", "sweep", "stop-after", "out"};

std::string shell_quote(const std::string& s) {
  if (!s.empty() && s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=.,/:+") ==
                        std::string::npos) {
    return s;
  }
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

}  // namespace

int cmd_classify(const Args& args) {
  po::options_description desc("classify options");
  classify_settings().add_options(desc);
  desc.add_options()
      ("out", po::value<std::string>(), "run directory (created); with --sweep, one subdirectory per variant")
      ("resume", po::bool_switch(), "continue the run (or the sweep) in --out from its last checkpoints")
      ("json", po::bool_switch(), "print the results as JSON on stdout")
      ("sweep", po::value<std::string>(), "INI file of variants to train in turn (see --help's usage)");
  po::options_description hidden;
  add_test_hooks(hidden, "epochs");
  po::variables_map vm;
  if (!parse_args("classify", kUsage, args, desc, vm, /*config_flag=*/true, &hidden)) return 0;
  if (!vm.count("out")) throw UsageError("--out RUN_DIR is required");
  check_output_dir(vm["out"].as<std::string>(), "--out");
  const int64_t stop_after = vm["stop-after"].as<int64_t>();
  if (stop_after < 0) throw UsageError("--stop-after must be >= 0, got " + std::to_string(stop_after));

  if (vm.count("sweep")) {
    SweepRequest sweep;
    sweep.path = vm["sweep"].as<std::string>();
    sweep.out = vm["out"].as<std::string>();
    sweep.resume = vm["resume"].as<bool>();
    sweep.json = vm["json"].as<bool>();
    sweep.stop_after = stop_after;
    sweep.command = "acdc-meta classify";
    for (const auto& a : args) sweep.command += " " + shell_quote(a);
    // Every variant's settings are read and checked before any training.
    const auto file = read_sweep(sweep.path, kNotSettings);
    po::options_description all;  // --help's flags and the hidden test hooks
    all.add(desc).add(hidden);
    for (const auto& v : file.variants) {
      const auto opts = variant_options(all, args, file, v);
      ClassifyRequest r;
      r.label = v.label;
      try {
        r.settings = classify_settings().from_options(opts);
        validate(r.settings);
      } catch (const UsageError& e) {
        throw UsageError(sweep.path + " [" + v.label + "]: " + e.what());
      }
      r.explicit_keys = explicit_keys(opts);
      sweep.variants.push_back(r);
    }
    return run_sweep(sweep);
  }

  ClassifyRequest request;
  request.settings = classify_settings().from_options(vm);
  request.out = vm["out"].as<std::string>();
  request.resume = vm["resume"].as<bool>();
  request.explicit_keys = explicit_keys(vm);
  request.stop_after = stop_after;
  if (!request.resume) validate(request.settings);
  parse_device(request.settings.device);
  set_threads(request.settings.threads);
  const auto r = run_classification(request);
  if (!r.finished) return 0;
  if (vm["json"].as<bool>()) {
    std::cout << storage::dump_json(results_json(r)) << "\n";
  } else {
    print_result(r);
  }
  return 0;
}

}  // namespace experiments
