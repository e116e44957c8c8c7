#include "experiments/training/adapt.h"

#include "backbones/registry.h"
#include "datasets/image_files.h"
#include "datasets/source.h"
#include "datasets/storage/h5.h"
#include "episodes/sampler.h"
#include "experiments/commands/cli.h"
#include "experiments/report/numbers.h"
#include "experiments/report/progress.h"
#include "experiments/report/table.h"
#include "experiments/runs/checkpoint.h"
#include "experiments/runs/export.h"
#include "experiments/runs/settings.h"
#include "experiments/training/device.h"
#include "meta/maml.h"

#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <sstream>

namespace experiments {

namespace {

namespace fs = std::filesystem;
using datasets::DataError;

std::string quoted_list(const std::vector<std::string>& names) {
  std::string s;
  for (const auto& n : names) s += (s.empty() ? "" : ", ") + n;
  return s;
}

// The kind of a dataset spec; an h5 cache records the kind of the source it holds.
std::string source_kind(const std::string& spec) {
  const auto colon = spec.find(':');
  const std::string kind = spec.substr(0, colon);
  if (kind != "h5") return kind;
  const std::string path = colon == std::string::npos ? "" : spec.substr(colon + 1);
  try {
    return storage::H5File::open(path).attr_string("/", "kind");
  } catch (const std::exception& e) {
    throw DataError("the run's dataset cache '" + path + "' (dataset = " + spec +
                    ") is needed for its normalisation and cannot be read: " + e.what());
  }
}

// uint8 NHWC with `from` channels -> `to` channels; says so in `notes`.
torch::Tensor convert_channels(torch::Tensor images, int64_t to, const std::string& what,
                               std::vector<std::string>* notes) {
  const int64_t from = images.size(3);
  if (from == to) return images;
  std::string note;
  if (from == 1 && to == 3) {
    images = images.expand({-1, -1, -1, 3}).contiguous();
    note = what + ": grayscale images converted to RGB (the run has 3 channels)";
  } else if (from == 3 && to == 1) {
    // ITU-R BT.601 luma, OpenCV's RGB2GRAY weights; a gray image (R = G = B) keeps its values.
    const auto w = torch::tensor({0.299f, 0.587f, 0.114f}, torch::kFloat);
    images = (images.to(torch::kFloat) * w).sum(3, /*keepdim=*/true).round_().clamp_(0, 255).to(torch::kByte);
    note = what + ": colour images converted to grayscale (the run has 1 channel)";
  } else {
    throw DataError(what + ": images have " + count_of(from, "channel") + ", the run has " + count_of(to, "channel"));
  }
  if (notes != nullptr) notes->push_back(note);
  return images;
}

// Image files of a folder, with a named error when there are none.
std::vector<std::string> images_of(const std::string& dir, const std::string& what) {
  auto names = datasets::image_files_in(dir);
  if (names.empty()) {
    throw DataError(what + " '" + dir + "' holds no images (.jpg, .jpeg, .png, .bmp, .ppm, .pgm, .pnm, .tif, .tiff, .webp)");
  }
  for (auto& n : names) n = (fs::path(dir) / n).string();
  return names;
}

struct ClassFolders {
  std::vector<std::string> names;                // sorted
  std::vector<std::vector<std::string>> files;   // per class
};

// DIR/<class>/<image>: every class folder must hold images, and no image may sit beside them.
ClassFolders read_class_folders(const std::string& dir, const std::string& what) {
  ClassFolders c;
  c.names = datasets::subfolders_of(dir);
  const auto loose = datasets::image_files_in(dir);
  if (!c.names.empty() && !loose.empty()) {
    throw DataError(what + " '" + dir + "' holds images beside its class subfolders (e.g. '" + loose.front() +
                    "'); put every image in its class's subfolder");
  }
  for (const auto& name : c.names) c.files.push_back(images_of((fs::path(dir) / name).string(), what + " class folder"));
  return c;
}

struct Labelled {
  std::vector<std::string> files;
  std::vector<int64_t> labels;  // -1: unknown
  bool labelled = false;
};

// --query: one folder (flat, or one subfolder per support class) or image files.
Labelled read_query(const std::vector<std::string>& query, const std::vector<std::string>& classes) {
  Labelled q;
  if (query.empty()) throw DataError("no query images given");
  if (query.size() == 1 && fs::is_directory(query[0])) {
    const auto dir = query[0];
    if (datasets::subfolders_of(dir).empty()) {
      q.files = images_of(dir, "query folder");
      q.labels.assign(q.files.size(), -1);
      return q;
    }
    const auto folders = read_class_folders(dir, "query folder");
    q.labelled = true;
    for (size_t c = 0; c < folders.names.size(); ++c) {
      const auto it = std::find(classes.begin(), classes.end(), folders.names[c]);
      if (it == classes.end()) {
        throw DataError("query class folder '" + (fs::path(dir) / folders.names[c]).string() +
                        "' is not a class of the support set (" + quoted_list(classes) + ")");
      }
      for (const auto& f : folders.files[c]) {
        q.files.push_back(f);
        q.labels.push_back(it - classes.begin());
      }
    }
    return q;
  }
  for (const auto& f : query) {
    if (fs::is_directory(f)) {
      throw DataError("query '" + f + "' is a folder; give one query folder, or image files only");
    }
    if (!fs::is_regular_file(f)) throw DataError("query image '" + f + "' does not exist");
    q.files.push_back(f);
  }
  q.labels.assign(q.files.size(), -1);
  return q;
}

struct Engine {
  std::unique_ptr<backbones::Backbone> model;
  std::unique_ptr<meta::Maml> maml;
};

// The run's network and engine, restored from the checkpoint by the validating loader.
Engine load_engine(const std::string& checkpoint, const MetaTrainSettings& s, const torch::Device& device) {
  Engine e;
  torch::manual_seed(static_cast<uint64_t>(s.seed));
  e.model = backbones::make_backbone(s.network());
  e.maml = std::make_unique<meta::Maml>(*e.model, s.maml());
  load_checkpoint(checkpoint, *e.maml, /*restore_rng=*/false);
  e.maml->to(device);
  return e;
}

struct Adapted {
  std::vector<torch::Tensor> fast;  // the adapted parameters, slot order
  torch::Tensor probs;              // double [queries, classes], CPU
};

// `steps` inner steps on the support set from the meta parameters (Maml::adapt), then the
// queries in one batch as Maml::evaluate classifies an episode's queries. A head wider than
// `classes`: only the first `classes` outputs compete.
Adapted adapt_and_classify(meta::Maml& maml, const torch::Tensor& support_x, const torch::Tensor& support_y,
                           const torch::Tensor& query_x, int64_t steps, int64_t classes) {
  auto& model = maml.model();
  const auto device = model.device();
  Adapted a;
  a.fast = maml.adapt(support_x.to(device), support_y.to(device), steps, /*create_graph=*/false, /*training=*/false);
  torch::NoGradGuard no_grad;
  backbones::ForwardOptions fo;
  fo.training = false;
  fo.bn = maml.config().bn;
  fo.step = steps;
  const auto logits = model.forward_with(query_x.to(device), a.fast, fo);
  a.probs = torch::softmax(logits.narrow(1, 0, classes), 1).to(torch::kCPU, torch::kDouble).contiguous();
  return a;
}

// One prediction per row of `probs` (file left empty), with the top `top_k` classes.
std::vector<AdaptPrediction> predictions_of(const torch::Tensor& probs, const std::vector<int64_t>& labels,
                                            int64_t top_k) {
  const int64_t k = std::min<int64_t>(std::max<int64_t>(top_k, 1), probs.size(1));
  const auto top = probs.topk(k, 1);
  const auto top_p = std::get<0>(top), top_i = std::get<1>(top);
  std::vector<AdaptPrediction> out;
  for (int64_t i = 0; i < probs.size(0); ++i) {
    AdaptPrediction p;
    p.label = labels[static_cast<size_t>(i)];
    for (int64_t j = 0; j < k; ++j) p.top.emplace_back(top_i[i][j].item<int64_t>(), top_p[i][j].item<double>());
    p.predicted = p.top.front().first;
    p.probability = p.top.front().second;
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace

bool ImagePreprocessing::resize_while_decoding() const {
  return kind == "folder" || kind == "miniimagenet" || kind == "tinyimagenet";
}

ImagePreprocessing image_preprocessing(const MetaTrainSettings& run) {
  ImagePreprocessing p;
  p.kind = source_kind(run.dataset);
  p.image_size = run.image_size;
  p.channels = run.channels;
  if (p.image_size < 1) throw std::invalid_argument("the run's configuration has no image_size (got " +
                                                    std::to_string(p.image_size) + ")");
  p.normalization = datasets::normalization_for_kind(p.kind, p.channels);
  return p;
}

torch::Tensor preprocess_images(const ImagePreprocessing& p, const std::vector<std::string>& files,
                                const std::string& what, std::vector<std::string>* notes) {
  const std::vector<std::string> where(files.size(), what);
  torch::Tensor images;  // uint8 NHWC
  if (p.resize_while_decoding()) {
    images = datasets::decode_image_files(files, where, p.image_size);
  } else {
    // As read_source treats IDX, CIFAR and their caches: native size, then the tensor resize.
    std::vector<torch::Tensor> each;
    for (size_t i = 0; i < files.size(); ++i) {
      auto one = datasets::decode_image_files({files[i]}, {where[i]}, /*image_size=*/0);
      each.push_back(datasets::resize_images(one, p.image_size));
    }
    int64_t c = 1;  // a set mixing grayscale and colour becomes RGB, as decode_images does
    for (const auto& t : each) c = std::max(c, t.size(3));
    for (auto& t : each) t = t.expand({-1, -1, -1, c});
    images = torch::cat(each, 0);
  }
  images = convert_channels(images, p.channels, what, notes);
  // The episode sampler's conversion (episodes/sampler.cpp): the same operations in the same order.
  auto x = images.permute({0, 3, 1, 2}).to(torch::kFloat).div_(255.0f);
  const auto& nm = p.normalization;
  if (!nm.mean.empty()) {
    const int64_t m = static_cast<int64_t>(nm.mean.size());
    x = x.sub_(torch::tensor(nm.mean, torch::kFloat).view({1, m, 1, 1}))
            .div_(torch::tensor(nm.std, torch::kFloat).view({1, m, 1, 1}));
  }
  return x.contiguous();
}

double AdaptResult::accuracy() const {
  return predictions.empty() || !labelled ? 0.0
                                          : 100.0 * static_cast<double>(correct) / static_cast<double>(predictions.size());
}

AdaptResult adapt_to_images(const AdaptRequest& request) {
  AdaptResult r;
  r.checkpoint = request.checkpoint;
  CheckpointInfo info = read_checkpoint_info(request.checkpoint);
  if (is_classification_config(info.config)) {
    throw std::invalid_argument("checkpoint '" + request.checkpoint +
                                "' is of a classify run; adapt needs a meta-trained run (acdc-meta train)");
  }
  const auto s = meta_train_settings().from_config(info.config);
  r.iteration = info.iteration;
  r.backbone = s.backbone;
  r.conv = acdc::to_string(s.conv);
  r.head_outputs = s.ways;
  r.steps = request.steps >= 0 ? request.steps : s.inner_steps_test;
  const auto device = parse_device(request.device);
  r.device = device.str();
  const auto prep = image_preprocessing(s);

  // ---- images: checked before the model is built ----
  if (!fs::is_directory(request.support)) {
    throw DataError("support folder '" + request.support + "' does not exist or is not a folder");
  }
  const auto support = read_class_folders(request.support, "support folder");
  if (support.names.empty()) {
    throw DataError("support folder '" + request.support +
                    "' has no class subfolders (one subfolder of images per class, named by the class)");
  }
  r.classes = support.names;
  const auto n = static_cast<int64_t>(r.classes.size());
  if (n > s.ways) {
    throw DataError("support folder '" + request.support + "' has " + std::to_string(n) + " classes (" +
                    quoted_list(r.classes) + "), more than the " + std::to_string(s.ways) +
                    " outputs of the run's head (it was meta-trained " + std::to_string(s.ways) + "-way)");
  }
  const auto query = read_query(request.query, r.classes);
  r.labelled = query.labelled;

  std::vector<torch::Tensor> xs;
  std::vector<int64_t> ys;
  for (int64_t c = 0; c < n; ++c) {
    const auto& files = support.files[static_cast<size_t>(c)];
    xs.push_back(preprocess_images(prep, files, "support class '" + r.classes[static_cast<size_t>(c)] + "'", &r.notes));
    ys.insert(ys.end(), files.size(), c);
  }
  const auto support_x = torch::cat(xs, 0);
  const auto support_y = torch::tensor(ys, torch::kLong);
  r.support_images = support_x.size(0);
  const auto query_x = preprocess_images(prep, query.files, "query", &r.notes);

  // ---- the run's engine, adapted from its meta parameters ----
  auto engine = load_engine(request.checkpoint, s, device);
  const auto adapted = adapt_and_classify(*engine.maml, support_x, support_y, query_x, r.steps, n);

  // ---- predictions ----
  r.predictions = predictions_of(adapted.probs, query.labels, request.top_k);
  if (r.labelled) r.confusion.assign(static_cast<size_t>(n), std::vector<int64_t>(static_cast<size_t>(n), 0));
  for (size_t i = 0; i < r.predictions.size(); ++i) {
    auto& p = r.predictions[i];
    p.file = query.files[i];
    if (r.labelled) {
      r.confusion[static_cast<size_t>(p.label)][static_cast<size_t>(p.predicted)] += 1;
      if (p.label == p.predicted) ++r.correct;
    }
  }

  // ---- the adapted weights, in the export format ----
  if (!request.save_adapted.empty()) {
    const auto& out = request.save_adapted;
    const std::string ext = out.size() >= 3 ? out.substr(out.size() - 3) : "";
    if (ext != ".pt" && ext != ".h5") {
      throw std::invalid_argument("save-adapted file '" + out + "' must end in .pt or .h5");
    }
    {
      torch::NoGradGuard no_grad;
      auto& params = engine.model->params().tensors();
      for (size_t i = 0; i < params.size(); ++i) params[i].copy_(adapted.fast[i]);
    }
    engine.maml->to(torch::kCPU);
    // Written as `export` writes the checkpoint it adapted from, with the adapted tensors.
    const auto weights = model_weights(*engine.model, engine.maml.get(), request.checkpoint);
    r.saved_tensors = write_export(weights, info, request.checkpoint, ext.substr(1), out, /*materialized=*/false).tensors;
    r.saved = out;
  }
  return r;
}

storage::json to_json(const AdaptResult& r) {
  storage::json j;
  j["checkpoint"] = r.checkpoint;
  j["iteration"] = r.iteration;
  j["backbone"] = r.backbone;
  j["conv"] = r.conv;
  j["head_outputs"] = r.head_outputs;
  j["steps"] = r.steps;
  j["device"] = r.device;
  j["classes"] = r.classes;
  j["support_images"] = r.support_images;
  j["notes"] = r.notes;
  auto preds = storage::json::array();
  for (const auto& p : r.predictions) {
    storage::json q;
    q["file"] = p.file;
    if (r.labelled) q["label"] = r.classes[static_cast<size_t>(p.label)];
    q["predicted"] = r.classes[static_cast<size_t>(p.predicted)];
    q["probability"] = p.probability;
    auto top = storage::json::array();
    for (const auto& [c, prob] : p.top) top.push_back({{"class", r.classes[static_cast<size_t>(c)]}, {"probability", prob}});
    q["top"] = top;
    preds.push_back(q);
  }
  j["predictions"] = preds;
  if (r.labelled) {
    j["correct"] = r.correct;
    j["accuracy"] = r.accuracy();
    j["confusion"] = r.confusion;
  }
  if (!r.saved.empty()) j["saved_adapted"] = r.saved;
  return j;
}

std::string to_text(const AdaptResult& r) {
  std::ostringstream out;
  out << r.backbone << " " << r.conv << ", " << r.checkpoint << " (iteration " << r.iteration << "): "
      << r.classes.size() << " classes (" << quoted_list(r.classes) << ") from " << r.support_images
      << " support images, " << r.steps << " adaptation steps\n";
  if (static_cast<int64_t>(r.classes.size()) < r.head_outputs) {
    out << "note: the head has " << r.head_outputs << " outputs; only the first " << r.classes.size()
        << " (the support's classes) compete\n";
  }
  for (const auto& n : r.notes) out << "note: " << n << "\n";
  size_t file_w = 4, class_w = 9;
  for (const auto& p : r.predictions) file_w = std::max(file_w, p.file.size());
  for (const auto& c : r.classes) class_w = std::max(class_w, c.size());
  auto pad = [](const std::string& s, size_t w) { return s + std::string(w > s.size() ? w - s.size() : 0, ' '); };
  out << pad("file", file_w) << "  " << pad("predicted", class_w) << "  probability  top-"
      << (r.predictions.empty() ? 0 : r.predictions.front().top.size()) << "\n";
  for (const auto& p : r.predictions) {
    std::string top;
    for (const auto& [c, prob] : p.top) {
      top += (top.empty() ? "" : ", ") + r.classes[static_cast<size_t>(c)] + " " + fixed(prob, 3);
    }
    out << pad(p.file, file_w) << "  " << pad(r.classes[static_cast<size_t>(p.predicted)], class_w) << "  "
        << pad(fixed(p.probability, 3), 11) << "  " << top;
    if (r.labelled) out << (p.label == p.predicted ? "" : "   (true: " + r.classes[static_cast<size_t>(p.label)] + ")");
    out << "\n";
  }
  if (r.labelled) {
    out << "accuracy: " << fixed(r.accuracy(), 2) << " % (" << r.correct << " of " << r.predictions.size() << ")\n";
    out << "confusion matrix (rows: true class, columns: predicted):\n";
    size_t w = 1;
    for (const auto& c : r.classes) w = std::max(w, c.size());
    for (const auto& row : r.confusion) {
      for (const auto v : row) w = std::max(w, std::to_string(v).size());
    }
    auto rpad = [](const std::string& s, size_t width) {
      return std::string(width > s.size() ? width - s.size() : 0, ' ') + s;
    };
    out << "  " << pad("", w);
    for (const auto& c : r.classes) out << "  " << rpad(c, w);
    out << "\n";
    for (size_t i = 0; i < r.confusion.size(); ++i) {
      out << "  " << pad(r.classes[i], w);
      for (const auto v : r.confusion[i]) out << "  " << rpad(std::to_string(v), w);
      out << "\n";
    }
  }
  if (!r.saved.empty()) out << "adapted weights (" << r.saved_tensors << " tensors) written to " << r.saved << "\n";
  return out.str();
}

std::string predictions_csv(const AdaptResult& r) {
  report::Table t({{"file"}, {"label"}, {"predicted"}, {"probability"}, {"top"}});
  for (const auto& p : r.predictions) {
    std::string top;
    for (const auto& [c, prob] : p.top) {
      top += (top.empty() ? "" : ";") + r.classes[static_cast<size_t>(c)] + ":" + round_trip(prob);
    }
    t.add_row({p.file, p.label >= 0 ? r.classes[static_cast<size_t>(p.label)] : "",
               r.classes[static_cast<size_t>(p.predicted)], round_trip(p.probability), top});
  }
  return t.csv();
}

// ---- one meta-test episode, shown ----

double EpisodeView::accuracy() const {
  return predictions.empty() ? 0.0 : 100.0 * static_cast<double>(correct) / static_cast<double>(predictions.size());
}

EpisodeView show_episode(const ShowEpisodeRequest& o) {
  EpisodeView v;
  const auto info = read_checkpoint_info(o.checkpoint);
  if (is_classification_config(info.config)) {
    throw std::invalid_argument("checkpoint '" + o.checkpoint +
                                "' is of a classify run; episodes need a meta-trained run (acdc-meta train)");
  }
  const auto s = meta_train_settings().from_config(info.config);
  v.checkpoint = o.checkpoint;
  v.iteration = info.iteration;
  v.episode = o.episode;
  v.ways = s.ways;
  v.shots = o.shots > 0 ? o.shots : s.shots;
  v.queries = o.queries;
  v.steps = o.steps >= 0 ? o.steps : s.inner_steps_test;
  v.seed = o.seed;
  v.split = o.split;
  v.dataset = o.dataset.empty() ? s.dataset : o.dataset;
  const auto device = parse_device(o.device);

  // The episode exactly as `eval` samples it (meta_test.cpp): same data, configuration and seed.
  datasets::LoadOptions load;
  load.image_size = s.image_size;
  const auto data = datasets::load_dataset(v.dataset, load);
  const auto& split = data.split(o.split);
  if (v.ways > split.num_classes()) {
    throw UsageError("the run is " + std::to_string(v.ways) + "-way, more than the " +
                     std::to_string(split.num_classes()) + " classes of the " + o.split + " split of " + data.source);
  }
  episodes::EpisodeConfig ec;
  ec.ways = v.ways;
  ec.shots = v.shots;
  ec.queries = o.queries;
  ec.seed = static_cast<uint64_t>(o.seed);
  ec.augment = false;
  ec.normalization = datasets::normalization_for(data);
  const episodes::EpisodeSampler sampler(split, o.split, ec);
  const auto draw = sampler.draw(o.episode);
  const auto e = sampler.episode(o.episode);
  v.classes = draw.classes;
  for (const auto c : draw.classes) v.class_names.push_back(split.class_names[static_cast<size_t>(c)]);
  v.support = draw.support;
  v.query = draw.query;

  auto engine = load_engine(o.checkpoint, s, device);
  const auto adapted = adapt_and_classify(*engine.maml, e.support_x, e.support_y, e.query_x, v.steps, v.ways);
  const auto labels = e.query_y.to(torch::kLong).contiguous();
  v.predictions = predictions_of(adapted.probs, std::vector<int64_t>(labels.data_ptr<int64_t>(),
                                                                     labels.data_ptr<int64_t>() + labels.numel()),
                                 o.top_k);
  for (size_t i = 0; i < v.predictions.size(); ++i) {
    v.predictions[i].file = "row " + std::to_string(v.query[i]);
    if (v.predictions[i].label == v.predictions[i].predicted) ++v.correct;
  }
  return v;
}

storage::json to_json(const EpisodeView& v) {
  storage::json j;
  j["checkpoint"] = v.checkpoint;
  j["iteration"] = v.iteration;
  j["dataset"] = v.dataset;
  j["split"] = v.split;
  j["seed"] = v.seed;
  j["episode"] = v.episode;
  j["ways"] = v.ways;
  j["shots"] = v.shots;
  j["queries"] = v.queries;
  j["steps"] = v.steps;
  auto ways = storage::json::array();
  for (size_t w = 0; w < v.classes.size(); ++w) {
    storage::json rows = storage::json::array();
    for (int64_t k = 0; k < v.shots; ++k) rows.push_back(v.support[w * static_cast<size_t>(v.shots) + static_cast<size_t>(k)]);
    ways.push_back({{"way", w}, {"class", v.classes[w]}, {"name", v.class_names[w]}, {"support_rows", rows}});
  }
  j["classes"] = ways;
  auto preds = storage::json::array();
  for (size_t i = 0; i < v.predictions.size(); ++i) {
    const auto& p = v.predictions[i];
    auto top = storage::json::array();
    for (const auto& [c, prob] : p.top) top.push_back({{"way", c}, {"probability", prob}});
    preds.push_back({{"row", v.query[i]}, {"label", p.label}, {"predicted", p.predicted}, {"probability", p.probability},
                     {"top", top}});
  }
  j["predictions"] = preds;
  j["correct"] = v.correct;
  j["accuracy"] = v.accuracy();
  return j;
}

std::string to_text(const EpisodeView& v) {
  auto pad = [](const std::string& s, size_t w) { return s + std::string(w > s.size() ? w - s.size() : 0, ' '); };
  size_t name_w = 4;
  for (const auto& n : v.class_names) name_w = std::max(name_w, n.size());
  std::ostringstream out;
  out << "episode " << v.episode << " of the " << v.split << " split of " << v.dataset << " (seed " << v.seed << "): "
      << v.ways << "-way " << v.shots << "-shot, " << v.queries << " queries per class, " << v.steps
      << " adaptation steps, " << v.checkpoint << " (iteration " << v.iteration << ")\n";
  out << "way  class  " << pad("name", name_w) << "  support (rows of the " << v.split << " split)\n";
  for (size_t w = 0; w < v.classes.size(); ++w) {
    std::string rows;
    for (int64_t k = 0; k < v.shots; ++k) {
      rows += (rows.empty() ? "" : " ") + std::to_string(v.support[w * static_cast<size_t>(v.shots) + static_cast<size_t>(k)]);
    }
    out << pad(std::to_string(w), 3) << "  " << pad(std::to_string(v.classes[w]), 5) << "  " << pad(v.class_names[w], name_w)
        << "  " << rows << "\n";
  }
  out << "query row  " << pad("true", name_w) << "  " << pad("predicted", name_w) << "  probability\n";
  for (size_t i = 0; i < v.predictions.size(); ++i) {
    const auto& p = v.predictions[i];
    out << pad(std::to_string(v.query[i]), 9) << "  " << pad(v.class_names[static_cast<size_t>(p.label)], name_w) << "  "
        << pad(v.class_names[static_cast<size_t>(p.predicted)], name_w) << "  " << fixed(p.probability, 3)
        << (p.label == p.predicted ? "" : "  (wrong)") << "\n";
  }
  out << "accuracy: " << fixed(v.accuracy(), 2) << " % (" << v.correct << " of " << v.predictions.size() << ")\n";
  return out.str();
}

}  // namespace experiments
