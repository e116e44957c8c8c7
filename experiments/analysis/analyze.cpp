#include "experiments/analysis/analyze.h"

#include "datasets/dataset.h"
#include "datasets/storage/atomic_file.h"
#include "datasets/storage/h5.h"
#include "experiments/runs/checkpoint.h"
#include "experiments/commands/cli.h"
#include "experiments/report/numbers.h"
#include "experiments/report/plot.h"
#include "experiments/report/table.h"
#include "experiments/runs/run_config.h"

#include <fmt/format.h>
#include <torch/torch.h>

#ifdef ACDC_META_HAVE_OPENCV
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#endif

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace experiments {

namespace {

std::string shape(const LayerRank& l) {
  return std::to_string(l.out_channels) + "x" + std::to_string(l.in_channels) + "x" + std::to_string(l.kernel_size) +
         "x" + std::to_string(l.kernel_size);
}

// "backbone (conv) on dataset" from a checkpoint's configuration.
std::string describe(const CheckpointInfo& info) {
  const auto& c = info.config;
  std::string s = c.has("backbone") ? c.get("backbone") : "?";
  if (c.has("conv")) s += " (" + c.get("conv") + ")";
  if (c.has("dataset")) s += " on " + c.get("dataset");
  return s;
}

}  // namespace

// ---- rank ----

std::string rank_markdown(const RankReport& report, const std::string& title) {
  const auto R = report::Align::kRight;
  report::Table layers({{"#", R}, {"layer"}, {"kernel"}, {"m", R}, {"energy in m atoms", R}, {"erank (all k*k)", R},
                        {"erank (coefficients)", R}},
                       "Effective rank of the coefficients: " + title);
  for (size_t i = 0; i < report.layers.size(); ++i) {
    const auto& l = report.layers[i];
    layers.add_row({std::to_string(i), l.name, shape(l), std::to_string(l.atoms), fixed(100 * l.energy_kept, 2) + " %",
                    fixed(l.kernel_erank, 3), fixed(l.coeff_erank, 3)});
  }
  report::Table pairs({{"pair"}, {"erank (first)", R}, {"erank (second)", R}, {"erank (pair, aligned)", R},
                       {"mean canonical corr. of atoms", R}});
  for (const auto& p : report.pairs) {
    pairs.add_row({std::to_string(p.first) + "-" + std::to_string(p.second), fixed(p.first_erank, 3),
                   fixed(p.second_erank, 3), fixed(p.pair_erank, 3), fixed(p.mean_correlation, 3)});
  }
  return layers.markdown() + "\n" + pairs.markdown() + "\nAverages over the " + std::to_string(report.pairs.size()) +
         " pairs: one layer's coefficients " + fixed(report.mean_layer_erank, 3) + ", the pair's aligned coefficients " +
         fixed(report.mean_pair_erank, 3) + ".\n";
}

storage::json rank_json(const RankReport& report, const std::string& checkpoint) {
  auto layers = storage::json::array();
  for (const auto& l : report.layers) {
    layers.push_back({{"name", l.name},
                      {"out_channels", l.out_channels},
                      {"in_channels", l.in_channels},
                      {"kernel_size", l.kernel_size},
                      {"atoms", l.atoms},
                      {"energy_kept", l.energy_kept},
                      {"kernel_erank", l.kernel_erank},
                      {"coeff_erank", l.coeff_erank}});
  }
  auto pairs = storage::json::array();
  for (const auto& p : report.pairs) {
    pairs.push_back({{"first", p.first},
                     {"second", p.second},
                     {"first_erank", p.first_erank},
                     {"second_erank", p.second_erank},
                     {"pair_erank", p.pair_erank},
                     {"mean_correlation", p.mean_correlation}});
  }
  return {{"checkpoint", checkpoint},
          {"atoms", report.atoms_requested},
          {"layers", layers},
          {"pairs", pairs},
          {"mean_layer_erank", report.mean_layer_erank},
          {"mean_pair_erank", report.mean_pair_erank}};
}

std::string rank_heatmap_svg(const RankReport& report, const std::string& title) {
  report::SymmetricHeatmap map;
  map.title = title;
  map.subtitle = "effective rank of the coefficients: diagonal one layer, off-diagonal the aligned pair";
  map.footer = "average over " + std::to_string(report.pairs.size()) + " pairs: layer " +
               fixed(report.mean_layer_erank, 3) + ", pair " + fixed(report.mean_pair_erank, 3);
  for (const auto& l : report.layers) {
    map.names.push_back(l.name);
    map.diagonal.push_back(l.coeff_erank);
  }
  for (const auto& p : report.pairs) map.pairs.push_back({p.first, p.second, p.pair_erank});
  return report::symmetric_heatmap_svg(map);
}

RankRunResult run_rank(const RankRequest& request) {
  CheckpointInfo info;
  const auto model = load_checkpoint_model(request.checkpoint, &info);
  RankRunResult result;
  result.report = rank_analysis(conv_kernels(*model), request.atoms);
  result.title = describe(info) + ", m = " + std::to_string(request.atoms);
  if (!request.svg.empty()) write_text_file(request.svg, rank_heatmap_svg(result.report, result.title));
  return result;
}

// ---- cam ----

std::vector<unsigned char> cam_png(const torch::Tensor& image, const std::vector<torch::Tensor>& maps,
                                   const std::string& caption) {
#ifdef ACDC_META_HAVE_OPENCV
  TORCH_CHECK(image.dim() == 3 && image.scalar_type() == torch::kByte, "cam_png: image must be uint8 [H, W, C]");
  const auto img = image.contiguous();
  const int h = static_cast<int>(img.size(0)), w = static_cast<int>(img.size(1));
  const int c = static_cast<int>(img.size(2));
  cv::Mat src(h, w, c == 1 ? CV_8UC1 : CV_8UC3, img.data_ptr<uint8_t>());
  cv::Mat bgr;
  if (c == 1) {
    cv::cvtColor(src, bgr, cv::COLOR_GRAY2BGR);
  } else {
    cv::cvtColor(src, bgr, cv::COLOR_RGB2BGR);
  }
  const int scale = std::max(1, (128 + std::max(h, w) - 1) / std::max(h, w));  // panels of at least 128 px
  const int ph = h * scale, pw = w * scale, strip = 20, top = 22;
  cv::Mat base;
  cv::resize(bgr, base, cv::Size(pw, ph), 0, 0, cv::INTER_NEAREST);
  const int panels = 1 + static_cast<int>(maps.size());
  cv::Mat canvas(top + ph + strip, panels * (pw + 4), CV_8UC3, cv::Scalar(255, 255, 255));
  auto label = [&](int panel, const std::string& text) {
    cv::putText(canvas, text, cv::Point(panel * (pw + 4) + 3, top + ph + 14), cv::FONT_HERSHEY_SIMPLEX, 0.4,
                cv::Scalar(0, 0, 0), 1, cv::LINE_AA);
  };
  base.copyTo(canvas(cv::Rect(0, top, pw, ph)));
  label(0, "input");
  for (size_t l = 0; l < maps.size(); ++l) {
    // Each map scaled to [0, 1] on its own (CAM's usual display); a constant map (e.g. the 1x1 map
    // of conv4 at 28 px) is shown at its sign.
    auto m = maps[l].detach().to(torch::kCPU, torch::kFloat).contiguous();
    const float lo = m.min().item<float>(), hi = m.max().item<float>();
    m = hi > lo ? (m - lo) / (hi - lo) : torch::full_like(m, hi > 0 ? 1.0f : 0.0f);
    const auto u8 = (m * 255).round().clamp(0, 255).to(torch::kByte).contiguous();
    cv::Mat small(static_cast<int>(u8.size(0)), static_cast<int>(u8.size(1)), CV_8UC1, u8.data_ptr<uint8_t>());
    cv::Mat big, colour, blended;
    cv::resize(small, big, cv::Size(pw, ph), 0, 0, cv::INTER_LINEAR);
    cv::applyColorMap(big, colour, cv::COLORMAP_JET);
    cv::addWeighted(base, 0.5, colour, 0.5, 0.0, blended);
    const int panel = static_cast<int>(l) + 1;
    blended.copyTo(canvas(cv::Rect(panel * (pw + 4), top, pw, ph)));
    label(panel, "layer " + std::to_string(l + 1) + " (" + std::to_string(u8.size(0)) + "x" +
                     std::to_string(u8.size(1)) + ")");
  }
  cv::putText(canvas, caption, cv::Point(3, 15), cv::FONT_HERSHEY_SIMPLEX, 0.45, cv::Scalar(0, 0, 0), 1, cv::LINE_AA);
  std::vector<unsigned char> png;
  if (!cv::imencode(".png", canvas, png)) throw std::runtime_error("cannot encode a PNG");
  return png;
#else
  (void)image;
  (void)maps;
  (void)caption;
  throw std::runtime_error("this build has no OpenCV (OPENCV=OFF): analyze cam cannot write PNGs");
#endif
}

namespace {

CamInputs read_image_files(const std::vector<std::string>& files, int64_t size, int64_t channels) {
#ifdef ACDC_META_HAVE_OPENCV
  CamInputs in;
  std::vector<torch::Tensor> images;
  for (const auto& f : files) {
    if (!std::filesystem::is_regular_file(f)) throw std::invalid_argument("--image: no file '" + f + "'");
    cv::Mat m = cv::imread(f, channels == 1 ? cv::IMREAD_GRAYSCALE : cv::IMREAD_COLOR);
    if (m.empty()) throw std::invalid_argument("--image: cannot decode '" + f + "' (not an image OpenCV reads)");
    cv::resize(m, m, cv::Size(static_cast<int>(size), static_cast<int>(size)), 0, 0, cv::INTER_AREA);
    if (channels == 3) cv::cvtColor(m, m, cv::COLOR_BGR2RGB);
    images.push_back(torch::from_blob(m.data, {size, size, channels}, torch::kByte).clone());
    in.names.push_back(std::filesystem::path(f).stem().string());
  }
  in.images = torch::stack(images);
  in.labels = torch::full({static_cast<int64_t>(files.size())}, -1, torch::kLong);
  return in;
#else
  (void)files;
  (void)size;
  (void)channels;
  throw std::runtime_error("this build has no OpenCV (OPENCV=OFF): --image files cannot be decoded");
#endif
}

std::string kind_of(const std::string& spec) { return spec.substr(0, spec.find(':')); }

}  // namespace

CamRunResult run_cam(const CamRequest& o) {
  CheckpointInfo info;
  auto model = load_checkpoint_model(o.checkpoint, &info);
  const auto& mo = model->options();
  const bool classify = is_classification_config(info.config);
  CamRunResult r;
  datasets::Normalization norm;
  const std::string spec = !o.dataset.empty() ? o.dataset : info.config.has("dataset") ? info.config.get("dataset") : "";
  if (!o.image_files.empty()) {
    r.inputs = read_image_files(o.image_files, mo.image_size, mo.in_channels);
    norm = datasets::normalization_for_kind(kind_of(spec), mo.in_channels);
  } else {
    if (spec.empty()) throw std::invalid_argument("--dataset: the checkpoint names no dataset; give --dataset SPEC");
    datasets::LoadOptions load;
    load.image_size = mo.image_size;
    const auto data = classify ? datasets::load_classification_dataset(spec, load) : datasets::load_dataset(spec, load);
    const auto& split = data.split(o.split);
    if (split.size() == 0) throw std::invalid_argument("--split " + o.split + " of " + spec + " has no images");
    if (data.channels() != mo.in_channels) {
      throw std::invalid_argument("--dataset " + spec + " has " + std::to_string(data.channels()) +
                                  " channels, the network takes " + std::to_string(mo.in_channels));
    }
    for (auto i : o.indices) {
      if (i < 0 || i >= split.size()) {
        throw std::invalid_argument("--index " + std::to_string(i) + " is out of range: split " + o.split + " has " +
                                    std::to_string(split.size()) + " images (0-" + std::to_string(split.size() - 1) +
                                    ")");
      }
      r.inputs.names.push_back(o.split + "[" + std::to_string(i) + "]");
    }
    const auto index = torch::tensor(o.indices, torch::kLong);
    r.inputs.images = split.images.index_select(0, index).contiguous();
    r.inputs.labels = split.labels.index_select(0, index);
    norm = datasets::normalization_for(data);
  }
  const auto mean = torch::tensor(norm.mean).view({1, -1, 1, 1});
  const auto std = torch::tensor(norm.std).view({1, -1, 1, 1});
  const auto x = (r.inputs.images.permute({0, 3, 1, 2}).to(torch::kFloat) / 255.0 - mean) / std;
  std::optional<torch::Tensor> classes;
  if (o.class_index >= 0) classes = torch::full({x.size(0)}, o.class_index, torch::kLong);
  const auto bn = classify ? backbones::BnMode::kRunning
                           : (info.config.has("bn") ? backbones::parse_bn_mode(info.config.get("bn"))
                                                    : backbones::BnMode::kTransductive);
  r.cam = cam_analysis(*model, x.contiguous(), classes, bn);

  std::filesystem::create_directories(o.out);
  const auto probs = torch::softmax(r.cam.logits, 1);
  for (int64_t n = 0; n < x.size(0); ++n) {
    std::vector<torch::Tensor> maps;
    for (const auto& m : r.cam.maps) maps.push_back(m[n]);
    const int64_t c = r.cam.classes[n].item<int64_t>();
    std::string caption = r.inputs.names[static_cast<size_t>(n)] + ": class " + std::to_string(c) + " (p " +
                          fixed(probs[n][c].item<double>(), 2) + ")";
    const int64_t label = r.inputs.labels[n].item<int64_t>();
    if (label >= 0) caption += ", label " + std::to_string(label);
    const auto png = cam_png(r.inputs.images[n], maps, caption);
    std::string stem = r.inputs.names[static_cast<size_t>(n)];
    std::replace(stem.begin(), stem.end(), '[', '-');
    stem.erase(std::remove(stem.begin(), stem.end(), ']'), stem.end());
    const std::string path = (std::filesystem::path(o.out) / ("cam-" + stem + ".png")).string();
    storage::AtomicFile file(path);
    {
      std::ofstream f(file.temp_path(), std::ios::binary | std::ios::trunc);
      f.write(reinterpret_cast<const char*>(png.data()), static_cast<std::streamsize>(png.size()));
      f.close();
      if (!f) throw std::runtime_error("cannot write '" + path + "'");
    }
    file.commit();
    r.pngs.push_back(path);
  }

  r.h5 = (std::filesystem::path(o.out) / "maps.h5").string();
  storage::AtomicFile file(r.h5);
  {
    auto f = storage::H5File::create(file.temp_path());
    f.write_tensor("images", r.inputs.images);
    f.write_tensor("labels", r.inputs.labels);
    f.write_tensor("logits", r.cam.logits);
    f.write_tensor("classes", r.cam.classes);
    f.write_tensor("head_bias", r.cam.head_bias);
    f.create_group("maps");
    for (size_t l = 0; l < r.cam.maps.size(); ++l) {
      const std::string name = fmt::format("maps/{:02d}", l);
      f.write_tensor(name, r.cam.maps[l]);
      f.set_attr(name, "layer", r.cam.layers[l]);
    }
    f.set_attr("/", "acdc_meta.checkpoint", o.checkpoint);
    f.set_attr("/", "backbone", mo.name);
    f.set_attr("/", "conv", acdc::to_string(mo.conv.type));
    std::string names;
    for (const auto& s : r.inputs.names) names += (names.empty() ? "" : "\n") + s;
    f.set_attr("/", "images", names);
    f.close();
  }
  file.commit();
  return r;
}

}  // namespace experiments
