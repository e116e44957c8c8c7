// `acdc-meta data inspect|convert|episodes`: look at a data set, convert it to the project's
// HDF5 cache, and sample episodes (with the sampling throughput).

#include "datasets/dataset.h"
#include "datasets/source.h"
#include "datasets/storage/json.h"
#include "episodes/prefetch.h"
#include "episodes/sampler.h"
#include "experiments/commands/cli.h"
#include "experiments/commands/commands.h"
#include "experiments/runs/output_paths.h"
#include "experiments/report/numbers.h"
#include "experiments/report/progress.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <chrono>
#include <iostream>
#include <memory>
#include <sstream>

namespace experiments {

namespace {

constexpr const char* kDatasetHelp =
    "data set: fashion-mnist[:DIR], mnist:DIR, miniimagenet:DIR, cifar10:DIR, cifar100:DIR, tinyimagenet:DIR, "
    "folder:DIR, h5:FILE";

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// A progress bar per loading stage ("decoding train", "resizing test", ...).
struct StageProgress {
  std::unique_ptr<ProgressBar> bar;
  std::string stage;
  void operator()(const std::string& s, int64_t done, int64_t total) {
    if (s != stage) {
      if (bar) bar->finish();
      bar = std::make_unique<ProgressBar>(s, total);
      stage = s;
    }
    bar->update(done);
  }
  void finish() {
    if (bar) bar->finish();
    bar.reset();
  }
};

storage::json shape_json(const datasets::Split& s) {
  auto a = storage::json::array();
  for (int64_t d = 1; d < 4; ++d) a.push_back(s.images.size(d));
  return a;
}

// A float statistic as the double its shortest text names (0.4914f -> 0.4914, not
// 0.49139997363090515), so the JSON shows the figure the code was given.
double float_figure(float v) { return std::stod(fmt::format("{}", v)); }

int data_inspect(const Args& args) {
  po::options_description desc("data inspect options");
  desc.add_options()("dataset", po::value<std::string>()->default_value("fashion-mnist"), kDatasetHelp)(
      "image-size", po::value<int64_t>()->default_value(0), "resize images to N x N (0: native size)")(
      "classification", po::bool_switch(), "show the classification split (official train/test) instead")(
      "classes", po::bool_switch(), "list the class names of each split")("json", po::bool_switch(),
                                                                           "print one JSON object");
  po::variables_map vm;
  if (!parse_args("data inspect", "--dataset D [--image-size N] [--classification] [--json]", args, desc, vm)) return 0;
  datasets::LoadOptions lo;
  lo.image_size = vm["image-size"].as<int64_t>();
  const auto spec = vm["dataset"].as<std::string>();
  const auto t0 = std::chrono::steady_clock::now();
  const auto d = vm["classification"].as<bool>() ? datasets::load_classification_dataset(spec, lo)
                                                 : datasets::load_dataset(spec, lo);
  const double load_s = seconds_since(t0);
  const auto norm = datasets::normalization_for(d);
  if (vm["json"].as<bool>()) {
    auto splits = storage::json::object();
    for (const char* name : {"train", "val", "test"}) {
      const auto& s = d.split(name);
      storage::json j = {{"classes", s.num_classes()}, {"images", s.size()}, {"image_shape", shape_json(s)}};
      if (vm["classes"].as<bool>()) j["class_names"] = s.class_names;
      splits[name] = j;
    }
    auto mean = storage::json::array(), sd = storage::json::array();
    for (float v : norm.mean) mean.push_back(float_figure(v));
    for (float v : norm.std) sd.push_back(float_figure(v));
    const storage::json out = {{"source", d.source},
                               {"kind", d.kind},
                               {"splits", splits},
                               {"normalization", {{"mean", mean}, {"std", sd}}},
                               {"load_seconds", load_s}};
    std::cout << storage::dump_json(out) << "\n";
    return 0;
  }
  std::cout << "source " << d.source << "  (loaded in " << fixed(load_s, 2) << " s)\n";
  std::cout << "split   classes   images   image shape (H, W, C)\n";
  for (const char* name : {"train", "val", "test"}) {
    const auto& s = d.split(name);
    std::cout << fmt::format("{:<8}{:>7}{:>9}   {} x {} x {}\n", name, s.num_classes(), s.size(), s.images.size(1),
                             s.images.size(2), s.images.size(3));
    if (vm["classes"].as<bool>()) {
      for (size_t i = 0; i < s.class_names.size(); ++i) std::cout << "    " << i << " " << s.class_names[i] << "\n";
    }
  }
  std::cout << "normalisation mean";
  for (float v : norm.mean) std::cout << " " << fixed(v, 4);
  std::cout << " std";
  for (float v : norm.std) std::cout << " " << fixed(v, 4);
  std::cout << "\n";
  return 0;
}

int data_convert(const Args& args) {
  po::options_description desc("data convert options");
  desc.add_options()("dataset", po::value<std::string>()->required(), kDatasetHelp)(
      "out", po::value<std::string>()->required(), "output HDF5 cache (written atomically)")(
      "image-size", po::value<int64_t>()->default_value(0), "resize images to N x N (0: native size)");
  po::variables_map vm;
  if (!parse_args("data convert", "--dataset D --out FILE.h5 [--image-size N]", args, desc, vm)) return 0;
  const auto out = vm["out"].as<std::string>();
  check_output_file(out, "--out");  // before minutes of conversion, not at the rename
  datasets::LoadOptions lo;
  lo.image_size = vm["image-size"].as<int64_t>();
  StageProgress stages;
  lo.progress = [&](const std::string& s, int64_t done, int64_t total) { stages(s, done, total); };
  const auto t0 = std::chrono::steady_clock::now();
  const auto source = datasets::read_source(vm["dataset"].as<std::string>(), lo);
  stages.finish();
  int64_t total = 0;
  for (const auto& p : source.parts) total += p.data.size();
  ProgressBar bar("writing " + out, total);
  datasets::write_cache(source, out, [&](int64_t done, int64_t) { bar.update(done); });
  bar.finish();
  const auto& im = source.parts.front().data.images;
  std::cout << "wrote " << out << ": " << source.kind << " (" << source.location << "), " << total << " images of "
            << im.size(1) << "x" << im.size(2) << "x" << im.size(3) << ", parts";
  for (const auto& p : source.parts) std::cout << " " << p.name << "=" << p.data.size();
  std::cout << ", " << fixed(seconds_since(t0), 1) << " s\n";
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
  const int64_t count = vm["count"].as<int64_t>(), tasks = vm["tasks"].as<int64_t>();
  const int threads = vm["threads"].as<int>();
  if (count < 1) throw UsageError("--count must be at least 1, got " + std::to_string(count));
  if (tasks < 1) throw UsageError("--tasks must be at least 1, got " + std::to_string(tasks));
  if (threads < 1) throw UsageError("--threads must be at least 1, got " + std::to_string(threads));
  const auto split_name = vm["split"].as<std::string>();
  if (split_name != "train" && split_name != "val" && split_name != "test") {
    throw UsageError("--split must be train, val or test, got '" + split_name + "'");
  }
  datasets::LoadOptions lo;
  lo.image_size = vm["image-size"].as<int64_t>();
  const auto t0 = std::chrono::steady_clock::now();
  const auto d = datasets::load_dataset(vm["dataset"].as<std::string>(), lo);
  const double load_s = seconds_since(t0);
  const auto& split = d.split(split_name);

  episodes::EpisodeConfig cfg;
  cfg.ways = vm["ways"].as<int64_t>();
  cfg.shots = vm["shots"].as<int64_t>();
  cfg.queries = vm["queries"].as<int64_t>();
  cfg.seed = vm["seed"].as<uint64_t>();
  cfg.augment = vm["augment"].as<bool>();
  cfg.normalization = datasets::normalization_for(d);
  const episodes::EpisodeSampler sampler(split, split_name, cfg);

  const int64_t batches = (count + tasks - 1) / tasks;
  const auto t1 = std::chrono::steady_clock::now();
  std::vector<int64_t> shape;
  {
    episodes::Prefetcher prefetch(sampler, 0, tasks, threads, 2 * threads + 2);
    for (int64_t b = 0; b < batches; ++b) {
      const auto batch = prefetch.next();
      if (b == 0) shape = batch.query_x.sizes().vec();
    }
  }
  const double sample_s = seconds_since(t1);
  const int64_t sampled = batches * tasks;
  const double eps = sampled / std::max(sample_s, 1e-9);
  const int64_t per = cfg.ways * (cfg.shots + cfg.queries);

  const int64_t show = std::min(vm["show"].as<int64_t>(), sampled);
  auto first = storage::json::array();
  std::ostringstream text;
  for (int64_t i = 0; i < show; ++i) {
    const auto draw = sampler.draw(i);
    auto cls = storage::json::array();
    text << "episode " << i << ":";
    for (int64_t c : draw.classes) {
      cls.push_back(split.class_names[static_cast<size_t>(c)]);
      text << " " << c << " (" << split.class_names[static_cast<size_t>(c)] << ")";
    }
    text << "\n";
    first.push_back(cls);
  }
  if (vm["json"].as<bool>()) {
    const std::vector<int64_t> shape_chw(shape.begin() + std::min<size_t>(2, shape.size()), shape.end());
    const storage::json out = {{"source", d.source},
                               {"split", split_name},
                               {"ways", cfg.ways},
                               {"shots", cfg.shots},
                               {"queries", cfg.queries},
                               {"seed", static_cast<int64_t>(cfg.seed)},
                               {"augment", cfg.augment},
                               {"episodes", sampled},
                               {"tasks_per_batch", tasks},
                               {"threads", static_cast<int64_t>(threads)},
                               {"image_shape_chw", shape_chw},
                               {"load_seconds", load_s},
                               {"sample_seconds", sample_s},
                               {"episodes_per_second", eps},
                               {"images_per_second", eps * per},
                               {"first_episode_classes", first}};
    std::cout << storage::dump_json(out) << "\n";
    return 0;
  }
  std::cout << "source " << d.source << ", split " << split_name << " (" << split.num_classes() << " classes, "
            << split.size() << " images), loaded in " << fixed(load_s, 2) << " s\n";
  std::cout << sampled << " episodes of " << cfg.ways << "-way " << cfg.shots << "-shot " << cfg.queries
            << "-query (" << per << " images of " << (shape.size() > 2 ? shape[2] : 0) << "x"
            << (shape.size() > 3 ? shape[3] : 0) << "x" << (shape.size() > 4 ? shape[4] : 0) << ", "
            << (cfg.augment ? "augmented" : "no augmentation") << ") in " << fixed(sample_s, 3)
            << " s: " << fixed(eps, 1) << " episodes/s, " << fixed(eps * per, 1) << " images/s (" << threads
            << " threads, " << tasks << " tasks per batch)\n"
            << text.str();
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
