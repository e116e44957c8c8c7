// `acdc-meta adapt`: flags -> AdaptRequest -> adapt_to_images (experiments/training/adapt.h): a
// meta-trained run adapts to the user's support folder (one subfolder per class) and classifies
// query images; per image the predicted class, its probability and the top-k, and accuracy with
// a confusion matrix when the query folder has class subfolders. --out writes the predictions as
// CSV, --save-adapted the adapted weights in the export format (both atomically).

#include "experiments/commands/cli.h"
#include "experiments/commands/commands.h"
#include "experiments/commands/print_result.h"
#include "experiments/runs/checkpoint.h"
#include "experiments/runs/output_paths.h"
#include "experiments/runs/run_config.h"
#include "experiments/runs/run_directory.h"
#include "experiments/training/adapt.h"
#include "experiments/training/device.h"

#include <filesystem>

namespace experiments {

namespace {

const char* const kUsage =
    "--run RUN_DIR [--checkpoint best|last|FILE] --support DIR --query DIR|FILE... [--steps N] [--json]\n"
    "  [--out predictions.csv] [--save-adapted FILE.pt|FILE.h5]   (or --checkpoint FILE instead of --run)\n\n"
    "The support folder has one subfolder of images per class (the subfolder's name is the class);\n"
    "the query is a folder of images (flat, or with one subfolder per support class: then accuracy\n"
    "and a confusion matrix are printed too) or image files. Images are decoded, resized, converted\n"
    "to the run's channels and normalised as the run's training and eval saw them; adaptation starts\n"
    "from the meta parameters with the run's inner loop.";

void check_output(const std::string& path, const std::string& flag, const std::string& checkpoint) {
  check_output_file(path, flag);
  check_not_same_file(path, flag, checkpoint, "checkpoint being adapted");
  if (is_checkpoint(path)) {
    throw UsageError(flag + " " + path + " is an acdc-meta checkpoint; adapt never overwrites one (choose another " +
                     flag + ")");
  }
}

}  // namespace

int cmd_adapt(const Args& args) {
  po::options_description desc("adapt options");
  desc.add_options()
      ("run", po::value<std::string>(), "run directory written by `acdc-meta train`")
      ("checkpoint", po::value<std::string>()->default_value("best"), "best, last (in --run) or a checkpoint FILE")
      ("support", po::value<std::string>(), "folder with one subfolder of images per class (its name is the label)")
      ("query", po::value<std::vector<std::string>>()->multitoken(),
       "a folder of images (flat, or one subfolder per support class), or image files")
      ("steps", po::value<int64_t>()->default_value(-1), "adaptation steps (default: the run's inner-steps-test)")
      ("top-k", po::value<int64_t>()->default_value(3), "classes listed per query image, most probable first")
      ("out", po::value<std::string>(), "also write the predictions as CSV (file,label,predicted,probability,top)")
      ("save-adapted", po::value<std::string>(), "write the adapted weights in the export format (.pt or .h5)")
      ("device", po::value<std::string>()->default_value("cpu"), "cpu, cuda or cuda:N")
      ("threads", po::value<int64_t>()->default_value(0), "CPU threads (0 = every core)")
      ("json", po::bool_switch(), "print one JSON object instead of the text");
  po::variables_map vm;
  if (!parse_args("adapt", kUsage, args, desc, vm)) return 0;

  // ---- validate everything before work ----
  AdaptRequest request;
  const std::string run = vm.count("run") ? vm["run"].as<std::string>() : "";
  if (!run.empty() && !std::filesystem::is_directory(run)) {
    throw UsageError("--run " + run + ": no such run directory");
  }
  request.checkpoint = checkpoint_from_flags(run, vm["checkpoint"].as<std::string>());
  if (!vm.count("support")) throw UsageError("--support DIR is required (one subfolder of images per class)");
  request.support = vm["support"].as<std::string>();
  if (!vm.count("query")) throw UsageError("--query DIR|FILE... is required");
  request.query = vm["query"].as<std::vector<std::string>>();
  request.steps = vm["steps"].as<int64_t>();
  if (!vm["steps"].defaulted() && request.steps < 0) {
    throw UsageError("--steps must be >= 0, got " + std::to_string(request.steps));
  }
  request.top_k = vm["top-k"].as<int64_t>();
  if (request.top_k < 1) throw UsageError("--top-k must be at least 1, got " + std::to_string(request.top_k));
  std::string out;
  if (vm.count("out")) {
    out = vm["out"].as<std::string>();
    check_output(out, "--out", request.checkpoint);
  }
  if (vm.count("save-adapted")) {
    request.save_adapted = vm["save-adapted"].as<std::string>();
    const auto& f = request.save_adapted;
    if (f.size() < 3 || (f.compare(f.size() - 3, 3, ".pt") != 0 && f.compare(f.size() - 3, 3, ".h5") != 0)) {
      throw UsageError("--save-adapted " + f + ": the file must end in .pt (torch.load) or .h5 (h5py)");
    }
    check_output(f, "--save-adapted", request.checkpoint);
    if (!out.empty()) check_not_same_file(f, "--save-adapted", out, "--out file");
  }
  request.device = vm["device"].as<std::string>();
  parse_device(request.device);
  set_threads(vm["threads"].as<int64_t>());

  const auto result = adapt_to_images(request);
  if (!out.empty()) write_text_file(out, predictions_csv(result));
  print_result(result, vm["json"].as<bool>());
  return 0;
}

}  // namespace experiments
