#include "episodes/sampler.h"

#include "episodes/augment.h"

#include "datasets/field_error.h"

#include <torch/torch.h>

#include <numeric>
#include <stdexcept>
#include <unordered_map>

namespace episodes {

namespace {

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ULL;
  return h;
}

// k distinct values of [0, n) in random order (sparse partial Fisher-Yates: O(k)).
std::vector<int64_t> sample_distinct(Rng& rng, int64_t n, int64_t k) {
  std::unordered_map<int64_t, int64_t> swapped;
  std::vector<int64_t> out(static_cast<size_t>(k));
  auto at = [&](int64_t i) {
    auto it = swapped.find(i);
    return it == swapped.end() ? i : it->second;
  };
  for (int64_t i = 0; i < k; ++i) {
    const int64_t j = i + static_cast<int64_t>(rng.below(static_cast<uint64_t>(n - i)));
    const int64_t vi = at(i), vj = at(j);
    out[static_cast<size_t>(i)] = vj;
    swapped[j] = vi;
  }
  return out;
}

}  // namespace

EpisodeSampler::EpisodeSampler(const datasets::Split& split, std::string split_name, EpisodeConfig config)
    : name_(std::move(split_name)), config_(std::move(config)) {
  const std::string where = "split '" + name_ + "'";
  if (!split.images.defined() || split.images.dim() != 4 || split.images.scalar_type() != torch::kByte) {
    throw std::invalid_argument(where + ": images must be uint8 [N, H, W, C]");
  }
  if (!split.labels.defined() || split.labels.dim() != 1 || split.labels.size(0) != split.images.size(0)) {
    throw std::invalid_argument(where + ": labels must be int64 [N] matching the images");
  }
  const auto& c = config_;
  if (c.ways < 1) throw datasets::FieldError("", "ways", " must be at least 1, got " + std::to_string(c.ways));
  if (c.shots < 1) throw datasets::FieldError("", "shots", " must be at least 1, got " + std::to_string(c.shots));
  if (c.queries < 0) throw datasets::FieldError("", "queries", " must be at least 0, got " + std::to_string(c.queries));
  const int64_t classes = split.num_classes();
  if (c.ways > classes) {
    throw datasets::FieldError(where + " has " + std::to_string(classes) + " classes, fewer than ", "ways",
                               " " + std::to_string(c.ways));
  }
  images_ = split.images.contiguous();
  const auto labels = split.labels.to(torch::kLong).contiguous();
  if (labels.numel() > 0 && (labels.min().item<int64_t>() < 0 || labels.max().item<int64_t>() >= classes)) {
    throw std::invalid_argument(where + ": labels outside 0.." + std::to_string(classes - 1));
  }
  // Rows grouped by class, file order kept within a class (stable sort).
  const auto order = std::get<1>(labels.sort(/*stable=*/true, /*dim=*/0, /*descending=*/false)).contiguous();
  by_class_.assign(order.data_ptr<int64_t>(), order.data_ptr<int64_t>() + order.numel());
  const auto counts = torch::bincount(labels, {}, classes).to(torch::kLong).contiguous();
  count_.assign(counts.data_ptr<int64_t>(), counts.data_ptr<int64_t>() + classes);
  offset_.assign(static_cast<size_t>(classes), 0);
  for (int64_t k = 1; k < classes; ++k) offset_[k] = offset_[k - 1] + count_[k - 1];
  const int64_t need = c.shots + c.queries;
  for (int64_t k = 0; k < classes; ++k) {
    if (count_[k] < need) {
      throw std::invalid_argument(where + " class " + std::to_string(k) + " '" + split.class_names[k] + "' has " +
                                  std::to_string(count_[k]) + " images, fewer than shots + queries = " +
                                  std::to_string(c.shots) + " + " + std::to_string(c.queries) + " = " +
                                  std::to_string(need));
    }
  }
  const int64_t channels = images_.size(3);
  const auto& nm = c.normalization;
  if (nm.mean.size() != nm.std.size()) {
    throw std::invalid_argument("normalisation: " + std::to_string(nm.mean.size()) + " means but " +
                                std::to_string(nm.std.size()) + " stds");
  }
  if (!nm.mean.empty()) {
    if (nm.mean.size() != 1 && static_cast<int64_t>(nm.mean.size()) != channels) {
      throw std::invalid_argument("normalisation has " + std::to_string(nm.mean.size()) + " channels, " + where +
                                  " images have " + std::to_string(channels));
    }
    for (float s : nm.std) {
      if (!(s > 0)) throw std::invalid_argument("normalisation std must be positive, got " + std::to_string(s));
    }
    const int64_t m = static_cast<int64_t>(nm.mean.size());
    mean_ = torch::tensor(nm.mean, torch::kFloat).view({1, m, 1, 1});
    std_ = torch::tensor(nm.std, torch::kFloat).view({1, m, 1, 1});
  }
  stream_ = Rng::mix(c.seed ^ Rng::mix(fnv1a(name_)));
}

EpisodeSampler::Draw EpisodeSampler::draw(int64_t index) const {
  Rng rng(Rng::mix(stream_ ^ Rng::mix(static_cast<uint64_t>(index) * 2)));
  const auto& c = config_;
  Draw d;
  d.classes = sample_distinct(rng, static_cast<int64_t>(count_.size()), c.ways);
  d.support.reserve(static_cast<size_t>(c.ways * c.shots));
  d.query.reserve(static_cast<size_t>(c.ways * c.queries));
  for (const int64_t k : d.classes) {
    const auto picks = sample_distinct(rng, count_[k], c.shots + c.queries);
    for (int64_t i = 0; i < c.shots + c.queries; ++i) {
      const int64_t row = by_class_[offset_[k] + picks[i]];
      (i < c.shots ? d.support : d.query).push_back(row);
    }
  }
  return d;
}

TaskBatch EpisodeSampler::batch(int64_t first_index, int64_t tasks) const {
  TORCH_CHECK(tasks >= 1, "EpisodeSampler::batch: tasks must be >= 1, got ", tasks);
  const auto& c = config_;
  const int64_t ns = c.ways * c.shots, nq = c.ways * c.queries, per = ns + nq;
  std::vector<int64_t> rows;
  rows.reserve(static_cast<size_t>(tasks * per));
  AugmentParams params;
  if (c.augment) params.reserve(static_cast<size_t>(tasks * per));
  TaskBatch b;
  for (int64_t t = 0; t < tasks; ++t) {
    const int64_t index = first_index + t;
    auto d = draw(index);
    rows.insert(rows.end(), d.support.begin(), d.support.end());
    rows.insert(rows.end(), d.query.begin(), d.query.end());
    b.classes.push_back(std::move(d.classes));
    if (c.augment) {
      Rng aug(Rng::mix(stream_ ^ Rng::mix(static_cast<uint64_t>(index) * 2 + 1)));
      for (int64_t i = 0; i < per; ++i) params.draw(aug, c.jitter);
    }
  }
  const auto idx = torch::from_blob(rows.data(), {static_cast<int64_t>(rows.size())}, torch::kLong);
  // One gather of every image of the batch, one conversion, one normalisation.
  auto x = images_.index_select(0, idx).permute({0, 3, 1, 2}).to(torch::kFloat).div_(255.0f);
  if (c.augment) {
    AugmentOptions o;
    o.resized_crop = c.resized_crop;
    o.crop_padding = c.crop_padding >= 0 ? c.crop_padding : std::max<int64_t>(1, images_.size(1) / 8);
    o.jitter = c.jitter > 0;
    o.flip = c.flip;
    x = augment_batch(x, params, o);
  }
  if (mean_.defined()) x = x.sub_(mean_).div_(std_);
  x = x.contiguous().view({tasks, per, x.size(1), x.size(2), x.size(3)});
  b.support_x = x.narrow(1, 0, ns).contiguous();
  b.query_x = x.narrow(1, ns, nq).contiguous();
  auto way = torch::arange(c.ways, torch::kLong);
  b.support_y = way.repeat_interleave(c.shots).unsqueeze(0).expand({tasks, ns}).contiguous();
  b.query_y = way.repeat_interleave(c.queries).unsqueeze(0).expand({tasks, nq}).contiguous();
  return b;
}

Episode EpisodeSampler::episode(int64_t index) const {
  TaskBatch b = batch(index, 1);
  Episode e;
  e.support_x = b.support_x[0];
  e.support_y = b.support_y[0];
  e.query_x = b.query_x[0];
  e.query_y = b.query_y[0];
  e.classes = std::move(b.classes[0]);
  return e;
}

}  // namespace episodes
