// `acdc-meta train`: flags -> MetaTrainSettings -> meta_train (experiments/training/meta_training.h).

#include "experiments/commands/cli.h"
#include "experiments/commands/commands.h"
#include "experiments/commands/group_options.h"
#include "experiments/training/meta_training.h"

namespace experiments {

namespace {

const char* const kUsage =
    "--dataset SPEC --out RUN_DIR [options]   (or --config FILE.ini; --resume --out RUN_DIR continues a run)\n"
    "  --image-size 0 (the default) keeps the dataset's native size; --channels and --classes follow\n"
    "  the dataset and --ways\n"
    "  As one rank of a group: RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT, LOCAL_RANK (as torchrun and SLURM\n"
    "  wrappers set them) or --rank --world-size --master; --meta-batch is the global meta-batch";

}  // namespace

int cmd_train(const Args& args) {
  po::options_description desc("train options");
  meta_train_settings().add_options(desc);
  desc.add_options()
      ("out", po::value<std::string>(), "run directory (created)")
      ("resume", po::bool_switch(), "continue the run in --out from its last checkpoint");
  add_group_options(desc);
  po::options_description hidden;
  add_test_hooks(hidden, "iterations");
  po::variables_map vm;
  if (!parse_args("train", kUsage, args, desc, vm, /*config_flag=*/true, &hidden)) return 0;
  if (!vm.count("out")) throw UsageError("--out RUN_DIR is required");
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
