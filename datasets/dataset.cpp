// Dataset spec parsing, dispatch to the readers, normalisation constants.

#include "datasets/dataset.h"

#include "datasets/field_error.h"
#include "datasets/internal/readers.h"
#include "datasets/source.h"

#include <torch/torch.h>

namespace datasets {

namespace {

constexpr const char* kSyntax =
    "fashion-mnist[:DIR], mnist:DIR, miniimagenet:DIR, cifar10:DIR, cifar100:DIR, tinyimagenet:DIR, "
    "folder:DIR, h5:FILE";
constexpr const char* kDefaultFashionMnist = "/usr/share/datasets/fashion-mnist";

}  // namespace

const Split& Dataset::split(const std::string& name) const {
  if (name == "train") return train;
  if (name == "val") return val;
  if (name == "test") return test;
  throw std::invalid_argument("unknown split '" + name + "' (expected train, val or test)");
}

namespace {
const Split& first_nonempty(const Dataset& d) {
  for (const Split* s : {&d.train, &d.val, &d.test}) {
    if (s->images.defined() && s->images.dim() == 4) return *s;
  }
  throw std::invalid_argument("dataset '" + d.source + "' has no images");
}
}  // namespace

int64_t Dataset::channels() const { return first_nonempty(*this).images.size(3); }
int64_t Dataset::height() const { return first_nonempty(*this).images.size(1); }
int64_t Dataset::width() const { return first_nonempty(*this).images.size(2); }

Split empty_split(int64_t h, int64_t w, int64_t c) {
  Split s;
  s.images = torch::empty({0, h, w, c}, torch::kByte);
  s.labels = torch::empty({0}, torch::kLong);
  return s;
}

Split first_per_class(const Split& split, int64_t n) {
  if (n <= 0 || split.size() == 0) return split;
  // Keep, per class, its first n images in file order: a rank within the class by a stable sort.
  const auto order = std::get<1>(split.labels.sort(/*stable=*/true, /*dim=*/0, /*descending=*/false));
  const auto sorted = split.labels.index_select(0, order);
  const auto counts = torch::bincount(sorted, {}, split.num_classes());
  const auto starts = counts.cumsum(0) - counts;
  const auto rank = torch::arange(split.size(), torch::kLong) - starts.index_select(0, sorted);
  const auto kept = std::get<0>(order.masked_select(rank < n).sort());
  Split out;
  out.images = split.images.index_select(0, kept).contiguous();
  out.labels = split.labels.index_select(0, kept).contiguous();
  out.class_names = split.class_names;
  return out;
}

Split with_rotated_classes(const Split& split, int64_t rotations) {
  if (rotations != 1 && rotations != 2 && rotations != 4) {
    throw std::invalid_argument("rotations must be 1, 2 or 4, got " + std::to_string(rotations));
  }
  if (rotations == 4 && split.images.size(1) != split.images.size(2)) {
    throw std::invalid_argument("rotations by 90 degrees need square images, these are " +
                                std::to_string(split.images.size(1)) + "x" + std::to_string(split.images.size(2)));
  }
  if (rotations == 1) return split;
  const int64_t quarter_turns = 4 / rotations;
  std::vector<torch::Tensor> images, labels;
  Split out;
  for (int64_t r = 0; r < rotations; ++r) {
    images.push_back(r == 0 ? split.images : split.images.rot90(r * quarter_turns, {1, 2}));
    labels.push_back(split.labels + r * split.num_classes());
    for (const auto& name : split.class_names) {
      out.class_names.push_back(r == 0 ? name : name + "@" + std::to_string(r * 360 / rotations));
    }
  }
  out.images = torch::cat(images).contiguous();
  out.labels = torch::cat(labels).contiguous();
  return out;
}

const Part* Source::find(const std::string& name) const {
  for (const auto& p : parts) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

const Part& Source::get(const std::string& name) const {
  if (const Part* p = find(name)) return *p;
  throw DataError("dataset '" + spec + "' has no '" + name + "' part");
}

Source read_source(const std::string& spec, const LoadOptions& options) {
  if (options.image_size < 0) {
    throw FieldError("", "image_size", " must be positive (or 0 for native), got " + std::to_string(options.image_size));
  }
  if (options.image_size > kMaxImageSize) {
    throw FieldError("", "image_size",
                     " must be at most " + std::to_string(kMaxImageSize) +
                         " (one 64-channel activation of a 1024 px image is 256 MiB), got " +
                         std::to_string(options.image_size));
  }
  const size_t colon = spec.find(':');
  const std::string kind = spec.substr(0, colon);
  std::string path = colon == std::string::npos ? "" : spec.substr(colon + 1);
  if (kind == "fashion-mnist" && path.empty()) path = kDefaultFashionMnist;
  static const std::vector<std::string> kinds = {"fashion-mnist", "mnist",        "miniimagenet", "cifar10",
                                                 "cifar100",      "tinyimagenet", "folder",       "h5"};
  if (std::find(kinds.begin(), kinds.end(), kind) == kinds.end()) {
    throw DataError("unknown dataset '" + spec + "' (expected one of " + kSyntax + ")");
  }
  if (path.empty()) throw DataError("dataset '" + spec + "' needs a path: " + kind + ":" + (kind == "h5" ? "FILE" : "DIR"));

  Source s;
  if (kind == "h5") {
    s = read_cache(path, options);
  } else {
    if (!internal::is_dir(path)) {
      throw DataError(kind + ": dataset folder '" + path + "' does not exist or is not a folder");
    }
    if (kind == "fashion-mnist" || kind == "mnist") s = internal::read_idx_source(kind, path);
    else if (kind == "cifar10") s = internal::read_cifar10(path);
    else if (kind == "cifar100") s = internal::read_cifar100(path);
    else if (kind == "miniimagenet") s = internal::read_miniimagenet(path, options);
    else if (kind == "tinyimagenet") s = internal::read_tinyimagenet(path, options);
    else s = internal::read_folder(path, options);
    s.location = path;
  }
  s.spec = spec;
  // Decoded image sets are resized while decoding; tensor sources (IDX, CIFAR, caches) here.
  if (options.image_size > 0) {
    for (auto& p : s.parts) {
      auto& im = p.data.images;
      if (im.size(1) != options.image_size || im.size(2) != options.image_size) {
        if (options.progress) options.progress("resizing " + p.name, 0, im.size(0));
        im = resize_images(im, options.image_size);
        if (options.progress) options.progress("resizing " + p.name, im.size(0), im.size(0));
      }
    }
  }
  return s;
}

namespace {
Dataset finish(Dataset d, const Source& s) {
  d.source = s.kind + ":" + s.location;
  if (s.spec.rfind("h5:", 0) == 0) d.source = s.spec + " (cache of " + s.kind + ":" + s.location + ")";
  d.kind = s.kind;
  return d;
}
}  // namespace

Dataset load_dataset(const std::string& spec, const LoadOptions& options) {
  const Source s = read_source(spec, options);
  return finish(few_shot_splits(s), s);
}

Dataset load_classification_dataset(const std::string& spec, const LoadOptions& options) {
  const Source s = read_source(spec, options);
  return finish(classification_splits(s), s);
}

Normalization normalization_for_kind(const std::string& kind, int64_t channels) {
  Normalization n;
  if (kind == "fashion-mnist") {
    n = {{0.2860f}, {0.3530f}};
  } else if (kind == "mnist") {
    n = {{0.1307f}, {0.3081f}};
  } else if (kind == "cifar10") {
    n = {{0.4914f, 0.4822f, 0.4465f}, {0.2470f, 0.2435f, 0.2616f}};
  } else if (kind == "cifar100") {
    n = {{0.5071f, 0.4865f, 0.4409f}, {0.2673f, 0.2564f, 0.2762f}};
  } else if (kind == "miniimagenet" || kind == "tinyimagenet" || kind == "folder") {
    n = {{0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}};
  } else {
    n = {{0.5f}, {0.5f}};  // unknown source: maps [0,1] to [-1,1]
  }
  // A source stored with another channel count (grayscale folder, resized caches, ...): use
  // the channel average, so the constants still fit.
  if (static_cast<int64_t>(n.mean.size()) != channels && channels > 0) {
    float m = 0, sd = 0;
    for (size_t i = 0; i < n.mean.size(); ++i) {
      m += n.mean[i];
      sd += n.std[i];
    }
    m /= static_cast<float>(n.mean.size());
    sd /= static_cast<float>(n.std.size());
    n.mean.assign(static_cast<size_t>(channels), m);
    n.std.assign(static_cast<size_t>(channels), sd);
  }
  return n;
}

Normalization normalization_for(const Dataset& d) {
  std::string kind = d.kind;
  if (kind.empty()) kind = d.source.substr(0, d.source.find(':'));
  int64_t channels = 0;
  try {
    channels = d.channels();
  } catch (const std::invalid_argument&) {
  }
  return normalization_for_kind(kind, channels);
}

}  // namespace datasets
