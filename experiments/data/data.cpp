#include "experiments/data/data.h"

#include "datasets/dataset.h"
#include "datasets/source.h"
#include "episodes/prefetch.h"
#include "episodes/sampler.h"
#include "experiments/report/numbers.h"
#include "experiments/report/progress.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <sstream>
#include <stdexcept>

namespace experiments {
namespace {

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

// A float statistic as the double its shortest text names (0.4914f -> 0.4914, not
// 0.49139997363090515), so the JSON shows the figure the code was given.
double float_figure(float v) { return std::stod(fmt::format("{}", v)); }

// Dimension `d` of `shape`, 0 when it has fewer.
int64_t dim_or_zero(const std::vector<int64_t>& shape, size_t d) { return shape.size() > d ? shape[d] : 0; }

}  // namespace

// ---- inspect ----

DataInspection inspect_data(const DataInspectRequest& request) {
  datasets::LoadOptions lo;
  lo.image_size = request.image_size;
  const auto t0 = std::chrono::steady_clock::now();
  const auto d = request.classification ? datasets::load_classification_dataset(request.dataset, lo)
                                        : datasets::load_dataset(request.dataset, lo);
  DataInspection out;
  out.load_seconds = seconds_since(t0);
  out.source = d.source;
  out.kind = d.kind;
  out.class_names = request.class_names;
  for (const char* name : {"train", "val", "test"}) {
    const auto& s = d.split(name);
    SplitSummary summary;
    summary.name = name;
    summary.classes = s.num_classes();
    summary.images = s.size();
    for (int64_t dim = 1; dim < 4; ++dim) summary.image_shape.push_back(s.images.size(dim));
    if (request.class_names) summary.class_names = s.class_names;
    out.splits.push_back(summary);
  }
  const auto norm = datasets::normalization_for(d);
  out.mean = norm.mean;
  out.std = norm.std;
  return out;
}

storage::json to_json(const DataInspection& inspection) {
  auto splits = storage::json::object();
  for (const auto& s : inspection.splits) {
    storage::json j = {{"classes", s.classes}, {"images", s.images}, {"image_shape", s.image_shape}};
    if (inspection.class_names) j["class_names"] = s.class_names;
    splits[s.name] = j;
  }
  auto mean = storage::json::array(), sd = storage::json::array();
  for (float v : inspection.mean) mean.push_back(float_figure(v));
  for (float v : inspection.std) sd.push_back(float_figure(v));
  return {{"source", inspection.source},
          {"kind", inspection.kind},
          {"splits", splits},
          {"normalization", {{"mean", mean}, {"std", sd}}},
          {"load_seconds", inspection.load_seconds}};
}

std::string to_text(const DataInspection& inspection) {
  std::ostringstream out;
  out << "source " << inspection.source << "  (loaded in " << fixed(inspection.load_seconds, 2) << " s)\n";
  out << "split   classes   images   image shape (H, W, C)\n";
  for (const auto& s : inspection.splits) {
    out << fmt::format("{:<8}{:>7}{:>9}   {} x {} x {}\n", s.name, s.classes, s.images, s.image_shape[0],
                       s.image_shape[1], s.image_shape[2]);
    if (inspection.class_names) {
      for (size_t i = 0; i < s.class_names.size(); ++i) out << "    " << i << " " << s.class_names[i] << "\n";
    }
  }
  out << "normalisation mean";
  for (float v : inspection.mean) out << " " << fixed(v, 4);
  out << " std";
  for (float v : inspection.std) out << " " << fixed(v, 4);
  out << "\n";
  return out.str();
}

// ---- convert ----

DataConversion convert_data(const DataConvertRequest& request) {
  datasets::LoadOptions lo;
  lo.image_size = request.image_size;
  StageProgress stages;
  lo.progress = [&](const std::string& s, int64_t done, int64_t total) { stages(s, done, total); };
  const auto t0 = std::chrono::steady_clock::now();
  const auto source = datasets::read_source(request.dataset, lo);
  stages.finish();
  DataConversion out;
  out.out = request.out;
  out.kind = source.kind;
  out.location = source.location;
  for (const auto& p : source.parts) {
    out.images += p.data.size();
    out.parts.emplace_back(p.name, p.data.size());
  }
  ProgressBar bar("writing " + request.out, out.images);
  datasets::write_cache(source, request.out, [&](int64_t done, int64_t) { bar.update(done); });
  bar.finish();
  const auto& im = source.parts.front().data.images;
  out.image_shape = {im.size(1), im.size(2), im.size(3)};
  out.seconds = seconds_since(t0);
  return out;
}

std::string to_text(const DataConversion& conversion) {
  std::ostringstream out;
  out << "wrote " << conversion.out << ": " << conversion.kind << " (" << conversion.location << "), "
      << conversion.images << " images of " << conversion.image_shape[0] << "x" << conversion.image_shape[1] << "x"
      << conversion.image_shape[2] << ", parts";
  for (const auto& [name, n] : conversion.parts) out << " " << name << "=" << n;
  out << ", " << fixed(conversion.seconds, 1) << " s\n";
  return out.str();
}

// ---- episodes ----

EpisodeSampling sample_episodes(const EpisodeSampleRequest& request) {
  const auto& r = request;
  if (r.count < 1) throw std::invalid_argument("episode count must be at least 1, got " + std::to_string(r.count));
  if (r.tasks < 1) throw std::invalid_argument("tasks per batch must be at least 1, got " + std::to_string(r.tasks));
  if (r.threads < 1) throw std::invalid_argument("threads must be at least 1, got " + std::to_string(r.threads));
  if (r.split != "train" && r.split != "val" && r.split != "test") {
    throw std::invalid_argument("split must be train, val or test, got '" + r.split + "'");
  }
  EpisodeSampling out;
  out.request = r;
  datasets::LoadOptions lo;
  lo.image_size = r.image_size;
  const auto t0 = std::chrono::steady_clock::now();
  const auto d = datasets::load_dataset(r.dataset, lo);
  out.load_seconds = seconds_since(t0);
  out.source = d.source;
  const auto& split = d.split(r.split);
  out.split_classes = split.num_classes();
  out.split_images = split.size();

  episodes::EpisodeConfig cfg;
  cfg.ways = r.ways;
  cfg.shots = r.shots;
  cfg.queries = r.queries;
  cfg.seed = r.seed;
  cfg.augment = r.augment;
  cfg.normalization = datasets::normalization_for(d);
  const episodes::EpisodeSampler sampler(split, r.split, cfg);

  const int64_t batches = (r.count + r.tasks - 1) / r.tasks;
  const auto t1 = std::chrono::steady_clock::now();
  {
    episodes::Prefetcher prefetch(sampler, 0, r.tasks, r.threads, 2 * r.threads + 2);
    for (int64_t b = 0; b < batches; ++b) {
      const auto batch = prefetch.next();
      if (b == 0) out.batch_shape = batch.query_x.sizes().vec();
    }
  }
  out.sample_seconds = seconds_since(t1);
  out.episodes = batches * r.tasks;
  out.episodes_per_second = out.episodes / std::max(out.sample_seconds, 1e-9);
  out.images_per_episode = cfg.ways * (cfg.shots + cfg.queries);

  const int64_t show = std::min(r.show, out.episodes);
  for (int64_t i = 0; i < show; ++i) {
    const auto draw = sampler.draw(i);
    std::vector<EpisodeClass> classes;
    for (int64_t c : draw.classes) classes.push_back({c, split.class_names[static_cast<size_t>(c)]});
    out.first_classes.push_back(classes);
  }
  return out;
}

storage::json to_json(const EpisodeSampling& sampling) {
  const auto& r = sampling.request;
  const auto& shape = sampling.batch_shape;
  const std::vector<int64_t> shape_chw(shape.begin() + std::min<size_t>(2, shape.size()), shape.end());
  auto first = storage::json::array();
  for (const auto& classes : sampling.first_classes) {
    auto names = storage::json::array();
    for (const auto& c : classes) names.push_back(c.name);
    first.push_back(names);
  }
  return {{"source", sampling.source},
          {"split", r.split},
          {"ways", r.ways},
          {"shots", r.shots},
          {"queries", r.queries},
          {"seed", static_cast<int64_t>(r.seed)},
          {"augment", r.augment},
          {"episodes", sampling.episodes},
          {"tasks_per_batch", r.tasks},
          {"threads", static_cast<int64_t>(r.threads)},
          {"image_shape_chw", shape_chw},
          {"load_seconds", sampling.load_seconds},
          {"sample_seconds", sampling.sample_seconds},
          {"episodes_per_second", sampling.episodes_per_second},
          {"images_per_second", sampling.episodes_per_second * sampling.images_per_episode},
          {"first_episode_classes", first}};
}

std::string to_text(const EpisodeSampling& sampling) {
  const auto& r = sampling.request;
  const auto& shape = sampling.batch_shape;
  const double eps = sampling.episodes_per_second;
  const int64_t per = sampling.images_per_episode;
  std::ostringstream out;
  out << "source " << sampling.source << ", split " << r.split << " (" << sampling.split_classes << " classes, "
      << sampling.split_images << " images), loaded in " << fixed(sampling.load_seconds, 2) << " s\n";
  out << count_of(sampling.episodes, "episode") << " of " << r.ways << "-way " << r.shots << "-shot " << r.queries << "-query ("
      << per << " images of " << dim_or_zero(shape, 2) << "x" << dim_or_zero(shape, 3) << "x" << dim_or_zero(shape, 4)
      << ", " << (r.augment ? "augmented" : "no augmentation") << ") in " << fixed(sampling.sample_seconds, 3)
      << " s: " << fixed(eps, 1) << " episodes/s, " << fixed(eps * per, 1) << " images/s ("
      << count_of(r.threads, "thread") << ", " << count_of(r.tasks, "task") << " per batch)\n";
  for (size_t i = 0; i < sampling.first_classes.size(); ++i) {
    out << "episode " << i << ":";
    for (const auto& c : sampling.first_classes[i]) out << " " << c.index << " (" << c.name << ")";
    out << "\n";
  }
  return out.str();
}

}  // namespace experiments
