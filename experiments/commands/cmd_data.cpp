// `acdc-meta data inspect|convert|episodes`: flags -> DataInspectRequest / DataConvertRequest /
// EpisodeSampleRequest -> inspect_data / convert_data / sample_episodes
// (experiments/data/data.h): look at a data set, convert it to the project's HDF5 cache, and
// sample episodes (with the sampling throughput).

#include "experiments/data/data.h"
#include "experiments/commands/cli.h"
#include "experiments/commands/commands.h"
#include "experiments/commands/print_result.h"
#include "experiments/runs/output_paths.h"

#include <iostream>
#include <string>

namespace experiments {

namespace {

constexpr int kMaxPrefetchThreads = 64;
constexpr int64_t kMaxTasksPerBatch = 1024;  // as train's --meta-batch

constexpr const char* kDatasetHelp =
    "data set: fashion-mnist[:DIR], mnist:DIR, miniimagenet:DIR, cifar10:DIR, cifar100:DIR, tinyimagenet:DIR, "
    "folder:DIR, h5:FILE";

int data_inspect(const Args& args) {
  po::options_description desc("data inspect options");
  desc.add_options()("dataset", po::value<std::string>()->default_value("fashion-mnist"), kDatasetHelp)(
      "image-size", po::value<int64_t>()->default_value(0), "resize images to N x N (0: native size)")(
      "classification", po::bool_switch(), "show the classification split (official train/test) instead")(
      "classes", po::bool_switch(), "list the class names of each split")("json", po::bool_switch(),
                                                                           "print one JSON object");
  po::variables_map vm;
  if (!parse_args("data inspect", "--dataset D [--image-size N] [--classification] [--json]", args, desc, vm)) return 0;
  DataInspectRequest request;
  request.dataset = vm["dataset"].as<std::string>();
  request.image_size = vm["image-size"].as<int64_t>();
  request.classification = vm["classification"].as<bool>();
  request.class_names = vm["classes"].as<bool>();
  print_result(inspect_data(request), vm["json"].as<bool>());
  return 0;
}

int data_convert(const Args& args) {
  po::options_description desc("data convert options");
  desc.add_options()("dataset", po::value<std::string>()->required(), kDatasetHelp)(
      "out", po::value<std::string>()->required(), "output HDF5 cache (written atomically)")(
      "image-size", po::value<int64_t>()->default_value(0), "resize images to N x N (0: native size)");
  po::variables_map vm;
  if (!parse_args("data convert", "--dataset D --out FILE.h5 [--image-size N]", args, desc, vm)) return 0;
  DataConvertRequest request;
  request.dataset = vm["dataset"].as<std::string>();
  request.out = vm["out"].as<std::string>();
  request.image_size = vm["image-size"].as<int64_t>();
  check_output_file(request.out, "--out");  // before minutes of conversion, not at the rename
  std::cout << to_text(convert_data(request));
  return 0;
}

int data_episodes(const Args& args) {
  po::options_description desc("data episodes options");
  desc.add_options()("dataset", po::value<std::string>()->default_value("fashion-mnist"), kDatasetHelp)(
      "split", po::value<std::string>()->default_value("train"), "train, val or test")(
      "ways", po::value<int64_t>()->default_value(5), "classes per episode (N)")(
      "shots", po::value<int64_t>()->default_value(1), "support images per class (K)")(
      "queries", po::value<int64_t>()->default_value(15), "query images per class (Q)")(
      "count", po::value<int64_t>()->default_value(100), "episodes to sample")(
      "seed", po::value<uint64_t>()->default_value(0), "sampling seed")(
      "augment", po::bool_switch(), "training augmentation (pad+crop, flip, colour jitter)")(
      "tasks", po::value<int64_t>()->default_value(4), "episodes per batch (meta-batch size)")(
      "threads", po::value<int>()->default_value(2), "prefetch worker threads")(
      "image-size", po::value<int64_t>()->default_value(0), "resize images to N x N (0: native size)")(
      "show", po::value<int64_t>()->default_value(3), "print the classes of this many first episodes")(
      "json", po::bool_switch(), "print one JSON object");
  po::variables_map vm;
  if (!parse_args("data episodes", "--dataset D --split S --ways N --shots K --queries Q --count C [--json]", args,
                  desc, vm)) {
    return 0;
  }
  EpisodeSampleRequest request;
  request.dataset = vm["dataset"].as<std::string>();
  request.split = vm["split"].as<std::string>();
  request.image_size = vm["image-size"].as<int64_t>();
  request.ways = vm["ways"].as<int64_t>();
  request.shots = vm["shots"].as<int64_t>();
  request.queries = vm["queries"].as<int64_t>();
  request.seed = vm["seed"].as<uint64_t>();
  request.augment = vm["augment"].as<bool>();
  request.count = vm["count"].as<int64_t>();
  request.tasks = vm["tasks"].as<int64_t>();
  request.threads = vm["threads"].as<int>();
  request.show = vm["show"].as<int64_t>();
  if (request.count < 1) throw UsageError("--count must be at least 1, got " + std::to_string(request.count));
  if (request.tasks < 1) throw UsageError("--tasks must be at least 1, got " + std::to_string(request.tasks));
  if (request.threads < 1) throw UsageError("--threads must be at least 1, got " + std::to_string(request.threads));
  // Bounded before any thread starts: the queue holds 2 x threads + 2 batches of --tasks episodes.
  if (request.threads > kMaxPrefetchThreads) {
    throw UsageError("--threads must be at most " + std::to_string(kMaxPrefetchThreads) +
                     " (prefetch workers; each one keeps two batches of episodes in memory), got " +
                     std::to_string(request.threads));
  }
  if (request.tasks > kMaxTasksPerBatch) {
    throw UsageError("--tasks must be at most " + std::to_string(kMaxTasksPerBatch) +
                     " (the episodes of a batch are held in memory together), got " + std::to_string(request.tasks));
  }
  if (request.split != "train" && request.split != "val" && request.split != "test") {
    throw UsageError("--split must be train, val or test, got '" + request.split + "'");
  }
  print_result(sample_episodes(request), vm["json"].as<bool>());
  return 0;
}

}  // namespace

int cmd_data(const Args& args) {
  const std::string usage =
      "usage: acdc-meta data <action> [options]   (acdc-meta data <action> --help)\n"
      "  inspect   classes, images and image shape per split\n"
      "  convert   write the project's HDF5 cache (--out FILE.h5)\n"
      "  episodes  sample N-way K-shot episodes and report the throughput\n";
  if (args.empty()) throw UsageError("expected an action: inspect, convert or episodes (see acdc-meta data --help)");
  const std::string action = args[0];
  const Args rest(args.begin() + 1, args.end());
  if (action == "--help" || action == "-h") {
    std::cout << usage;
    return 0;
  }
  if (action == "inspect") return data_inspect(rest);
  if (action == "convert") return data_convert(rest);
  if (action == "episodes") return data_episodes(rest);
  throw UsageError("unknown action '" + action + "' (expected inspect, convert or episodes)");
}

}  // namespace experiments
