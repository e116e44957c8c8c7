// `acdc-meta analyze rank|cam`: flags -> RankRequest / CamRequest -> run_rank / run_cam
// (experiments/analysis/analyze.h has the outputs, analysis.h the maths). Flags are checked here,
// before any work; bad input exits 2.

#include "experiments/analysis/analyze.h"
#include "experiments/commands/cli.h"
#include "experiments/commands/commands.h"
#include "experiments/runs/checkpoint.h"
#include "experiments/runs/output_paths.h"
#include "experiments/runs/run_directory.h"
#include "experiments/training/device.h"

#include <filesystem>
#include <iostream>
#include <limits>

namespace experiments {

namespace {

const char* const kUsage = "rank|cam [options]   (acdc-meta analyze rank --help, acdc-meta analyze cam --help)";

void add_checkpoint_options(po::options_description& desc) {
  desc.add_options()
      ("run", po::value<std::string>(), "run directory written by `acdc-meta classify` or `train`")
      ("checkpoint", po::value<std::string>()->default_value(""),
       "best, last (in --run; default: best when present, else last) or a checkpoint FILE")
      ("threads", po::value<int64_t>()->default_value(1), "CPU threads (0 = every core)");
}

// The checkpoint file the flags name; UsageError when it is missing or not a checkpoint.
std::string checkpoint_path(const po::variables_map& vm) {
  std::string which = vm["checkpoint"].as<std::string>();
  const std::string run = vm.count("run") ? vm["run"].as<std::string>() : "";
  if (run.empty() && which.empty()) throw UsageError("--run RUN_DIR is required (or --checkpoint FILE)");
  if (!run.empty() && !std::filesystem::is_directory(run)) throw UsageError("--run: no run directory '" + run + "'");
  if (which.empty()) which = std::filesystem::exists(resolve_checkpoint(run, "best")) ? "best" : "last";
  const std::string path = checkpoint_from_flags(run, which);
  if (!is_checkpoint(path)) throw UsageError("--checkpoint: '" + path + "' is not an acdc-meta checkpoint");
  return path;
}

int analyze_rank(const Args& args) {
  po::options_description desc("analyze rank options");
  add_checkpoint_options(desc);
  desc.add_options()
      ("atoms", po::value<int64_t>()->default_value(9), "atoms per layer m of the truncated SVD (at most k*k are used)")
      ("svg", po::value<std::string>(), "write the heat map of the pairwise effective ranks to this SVG file")
      ("json", "print the results as JSON on stdout instead of the table");
  po::variables_map vm;
  if (!parse_args("analyze rank", "--run RUN_DIR|--checkpoint FILE [--atoms M] [--svg FILE] [--json]", args, desc, vm)) {
    return 0;
  }
  RankRequest o;
  o.atoms = vm["atoms"].as<int64_t>();
  if (o.atoms < 1) throw UsageError("--atoms must be at least 1, got " + std::to_string(o.atoms));
  o.checkpoint = checkpoint_path(vm);
  if (vm.count("svg")) {
    o.svg = vm["svg"].as<std::string>();
    check_output_file(o.svg, "--svg");
    check_not_same_file(o.svg, "--svg", o.checkpoint, "checkpoint being analysed");
  }
  set_threads(vm["threads"].as<int64_t>());
  const auto r = run_rank(o);
  if (vm.count("json")) {
    std::cout << storage::dump_json(rank_json(r.report, o.checkpoint)) << "\n";
  } else {
    std::cout << rank_markdown(r.report, r.title);
    if (!o.svg.empty()) std::cout << "\nheat map: " << o.svg << "\n";
  }
  return 0;
}

int analyze_cam(const Args& args) {
  po::options_description desc("analyze cam options");
  add_checkpoint_options(desc);
  desc.add_options()
      ("image", po::value<std::vector<std::string>>()->composing(), "an image file (repeat for several)")
      ("dataset", po::value<std::string>()->default_value(""), "dataset spec for --index (default: the run's)")
      ("split", po::value<std::string>()->default_value("test"), "split of --dataset: train, val or test")
      ("index", po::value<std::string>(), "images of the split, e.g. 0,1,7")
      ("class", po::value<int64_t>()->default_value(-1), "class whose maps are drawn (-1 = each image's prediction)")
      ("out", po::value<std::string>(), "output directory: cam-<image>.png per image and maps.h5");
  po::variables_map vm;
  if (!parse_args("analyze cam",
                  "--run RUN_DIR|--checkpoint FILE (--image FILE ... | --index LIST [--dataset SPEC] [--split S]) "
                  "[--class C] --out DIR",
                  args, desc, vm)) {
    return 0;
  }
  CamRequest o;
  if (!vm.count("out")) throw UsageError("--out DIR is required");
  o.out = vm["out"].as<std::string>();
  if (vm.count("image")) o.image_files = vm["image"].as<std::vector<std::string>>();
  if (vm.count("index")) {
    // Any integer here: the range is checked against the split later ("--index -1 is out of range").
    o.indices = parse_int_list(vm["index"].as<std::string>(), "--index", std::numeric_limits<int64_t>::min());
  }
  if (o.image_files.empty() == o.indices.empty()) {
    throw UsageError("give either --image FILE (one or more) or --index LIST of a data set split, not both or neither");
  }
  for (const auto& f : o.image_files) {
    if (!std::filesystem::is_regular_file(f)) throw UsageError("--image: no file '" + f + "'");
  }
  o.dataset = vm["dataset"].as<std::string>();
  o.split = vm["split"].as<std::string>();
  if (o.split != "train" && o.split != "val" && o.split != "test") {
    throw UsageError("--split must be train, val or test, got '" + o.split + "'");
  }
  o.class_index = vm["class"].as<int64_t>();
  if (o.class_index < -1) throw UsageError("--class must be a class index or -1, got " + std::to_string(o.class_index));
  o.checkpoint = checkpoint_path(vm);
  check_output_dir(o.out, "--out");
  set_threads(vm["threads"].as<int64_t>());
  const auto r = run_cam(o);
  std::cout << "CAM of " << r.pngs.size() << " image(s) at " << r.cam.layers.size() << " layers of " << o.checkpoint
            << "\n";
  for (size_t l = 0; l < r.cam.layers.size(); ++l) {
    std::cout << "  layer " << l + 1 << ": after " << r.cam.layers[l] << ", " << r.cam.maps[l].size(1) << "x"
              << r.cam.maps[l].size(2) << "\n";
  }
  for (const auto& p : r.pngs) std::cout << "wrote " << p << "\n";
  std::cout << "wrote " << r.h5 << "\n";
  return 0;
}

}  // namespace

int cmd_analyze(const Args& args) {
  if (args.empty()) throw UsageError("an analysis is required: rank or cam (see acdc-meta analyze --help)");
  if (args[0] == "--help" || args[0] == "-h") {
    std::cout << "usage: acdc-meta analyze " << kUsage
              << "\n\n"
                 "  rank  effective ranks of each layer's SVD coefficients and of aligned layer pairs (paper §2.2)\n"
                 "  cam   class activation maps at every layer from the head's class weights (paper Figure 8)\n";
    return 0;
  }
  const Args rest(args.begin() + 1, args.end());
  if (args[0] == "rank") return analyze_rank(rest);
  if (args[0] == "cam") return analyze_cam(rest);
  throw UsageError("unknown analysis '" + args[0] + "': rank or cam");
}

}  // namespace experiments
