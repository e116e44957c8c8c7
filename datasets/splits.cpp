// The split logic, in one place: how a source's official parts become few-shot splits
// (disjoint classes) or classification splits (all classes). Documented in source.h.

#include "datasets/source.h"

#include <torch/torch.h>

#include <numeric>

namespace datasets {

namespace {

std::vector<int64_t> range(int64_t begin, int64_t end) {
  std::vector<int64_t> v(static_cast<size_t>(std::max<int64_t>(0, end - begin)));
  std::iota(v.begin(), v.end(), begin);
  return v;
}

// Concatenates parts that share the same class list (e.g. CIFAR-100 train + test).
Split concat(const Split& a, const Split& b) {
  Split s;
  s.images = torch::cat({a.images, b.images}, 0);
  s.labels = torch::cat({a.labels, b.labels}, 0);
  s.class_names = a.class_names;
  return s;
}

// Per class, the first `keep_num / keep_den` of its images (file order) go to `first`, the
// rest to `second`. Labels stay as they are.
void split_within_classes(const Split& s, int64_t keep_num, int64_t keep_den, Split& first, Split& second) {
  std::vector<torch::Tensor> a, b;
  for (int64_t c = 0; c < s.num_classes(); ++c) {
    const auto idx = (s.labels == c).nonzero().view(-1);
    const int64_t n = idx.size(0);
    const int64_t k = n * keep_num / keep_den;
    a.push_back(idx.narrow(0, 0, k));
    b.push_back(idx.narrow(0, k, n - k));
  }
  auto take = [&](std::vector<torch::Tensor>& parts, Split& out) {
    auto idx = parts.empty() ? torch::empty({0}, torch::kLong) : std::get<0>(torch::cat(parts).sort());
    out.images = s.images.index_select(0, idx).contiguous();
    out.labels = s.labels.index_select(0, idx).contiguous();
    out.class_names = s.class_names;
  };
  take(a, first);
  take(b, second);
}

Split empty_like(const Split& s) {
  Split e = empty_split(s.images.size(1), s.images.size(2), s.images.size(3));
  return e;
}

}  // namespace

Split select_classes(const Split& part, const std::vector<int64_t>& classes) {
  const int64_t total = part.num_classes();
  auto lut = torch::full({std::max<int64_t>(total, 1)}, -1, torch::kLong);
  Split out;
  for (size_t i = 0; i < classes.size(); ++i) {
    const int64_t c = classes[i];
    TORCH_CHECK(c >= 0 && c < total, "select_classes: class ", c, " out of range 0..", total - 1);
    lut[c] = static_cast<int64_t>(i);
    out.class_names.push_back(part.class_names[static_cast<size_t>(c)]);
  }
  const auto local = lut.index_select(0, part.labels);
  const auto idx = (local >= 0).nonzero().view(-1);
  out.images = part.images.index_select(0, idx).contiguous();
  out.labels = local.index_select(0, idx).contiguous();
  return out;
}

Dataset few_shot_splits(const Source& s) {
  Dataset d;
  const std::string& k = s.kind;
  if (k == "fashion-mnist" || k == "mnist" || k == "cifar10") {
    const Split& train = s.get("train").data;
    const Split& test = s.get("test").data;
    d.train = select_classes(train, range(0, 5));
    d.val = select_classes(train, range(5, 10));
    d.test = select_classes(test, range(5, 10));
  } else if (k == "cifar100") {
    const Split all = concat(s.get("train").data, s.get("test").data);
    d.train = select_classes(all, range(0, 64));
    d.val = select_classes(all, range(64, 80));
    d.test = select_classes(all, range(80, 100));
  } else if (k == "tinyimagenet") {
    const Split& train = s.get("train").data;
    const int64_t n = train.num_classes();
    d.train = select_classes(train, range(0, n * 3 / 5));
    d.val = select_classes(train, range(n * 3 / 5, n * 4 / 5));
    d.test = select_classes(train, range(n * 4 / 5, n));
  } else if (k == "miniimagenet" || (k == "folder" && s.find("train"))) {
    d.train = s.get("train").data;
    d.val = s.find("val") ? s.get("val").data : empty_like(d.train);
    d.test = s.find("test") ? s.get("test").data : empty_like(d.train);
  } else if (k == "folder") {
    const Split& all = s.get("all").data;
    const int64_t n = all.num_classes();
    const int64_t a = (n * 3 + 2) / 5, b = a + (n + 2) / 5;  // ~60% / 20% / 20%
    d.train = select_classes(all, range(0, a));
    d.val = select_classes(all, range(a, std::min(b, n)));
    d.test = select_classes(all, range(std::min(b, n), n));
  } else {
    throw DataError("dataset '" + s.spec + "': no few-shot split defined for source kind '" + k + "'");
  }
  return d;
}

Dataset classification_splits(const Source& s) {
  Dataset d;
  const std::string& k = s.kind;
  if (k == "fashion-mnist" || k == "mnist" || k == "cifar10" || k == "cifar100") {
    d.train = s.get("train").data;
    d.test = s.get("test").data;
    d.val = empty_like(d.train);
  } else if (k == "tinyimagenet") {
    d.train = s.get("train").data;
    d.test = s.get("val").data;
    d.val = empty_like(d.train);
  } else if (k == "miniimagenet") {
    // Only the 64 meta-train classes: 500 / 100 images per class (5/6 in file order).
    split_within_classes(s.get("train").data, 5, 6, d.train, d.test);
    d.val = empty_like(d.train);
  } else if (k == "folder" && s.find("train")) {
    d.train = s.get("train").data;
    d.val = s.find("val") ? s.get("val").data : empty_like(d.train);
    if (!s.find("test")) {
      throw DataError("folder:" + s.location + ": has train/ but no test/ subfolder for classification");
    }
    d.test = s.get("test").data;
    if (d.test.class_names != d.train.class_names) {
      throw DataError("folder:" + s.location + ": test/ and train/ hold different class folders");
    }
  } else if (k == "folder") {
    split_within_classes(s.get("all").data, 5, 6, d.train, d.test);
    d.val = empty_like(d.train);
  } else {
    throw DataError("dataset '" + s.spec + "': no classification split defined for source kind '" + k + "'");
  }
  return d;
}

torch::Tensor resize_images(const torch::Tensor& nhwc, int64_t size) {
  TORCH_CHECK(nhwc.dim() == 4 && nhwc.scalar_type() == torch::kByte, "resize_images: expected uint8 NHWC");
  TORCH_CHECK(size > 0, "resize_images: size must be positive");
  const int64_t n = nhwc.size(0), h = nhwc.size(1), w = nhwc.size(2), c = nhwc.size(3);
  auto out = torch::empty({n, size, size, c}, torch::kByte);
  if (n == 0 || (h == size && w == size)) return n == 0 ? out : nhwc.clone();
  namespace F = torch::nn::functional;
  const bool shrink = size <= h && size <= w;
  const int64_t chunk = std::max<int64_t>(1, (64 << 20) / std::max<int64_t>(1, h * w * c * 4));
  for (int64_t i = 0; i < n; i += chunk) {
    const int64_t m = std::min(chunk, n - i);
    auto x = nhwc.narrow(0, i, m).permute({0, 3, 1, 2}).to(torch::kFloat);
    auto opts = F::InterpolateFuncOptions().size(std::vector<int64_t>{size, size});
    if (shrink) opts.mode(torch::kArea);
    else opts.mode(torch::kBilinear).align_corners(false);
    auto y = F::interpolate(x, opts).round_().clamp_(0, 255).to(torch::kByte);
    out.narrow(0, i, m).copy_(y.permute({0, 2, 3, 1}));
  }
  return out;
}

}  // namespace datasets
