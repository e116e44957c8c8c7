// The episode sampler on a split whose image i is filled with the value i (so every sampled
// image names its row), the augmentation, the prefetcher, and the real Fashion-MNIST.

#include "datasets/field_error.h"
#include "episodes/augment.h"
#include "episodes/prefetch.h"
#include "episodes/sampler.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <numeric>
#include <set>

namespace {

using episodes::EpisodeConfig;
using episodes::EpisodeSampler;

// 10 classes; class k has 12 + k images; row i is filled with value i (< 256); label of row i
// is assigned round-robin so classes interleave in file order.
datasets::Split numbered_split(int64_t h = 6, int64_t w = 6, int64_t c = 3) {
  std::vector<int64_t> labels;
  for (int64_t k = 0; k < 10; ++k)
    for (int64_t j = 0; j < 12 + k; ++j) labels.push_back(k);
  // Interleave: sort by (j, k) order, deterministic.
  std::vector<int64_t> order(labels.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return (a * 7) % 13 < (b * 7) % 13; });
  std::vector<int64_t> shuffled;
  for (auto i : order) shuffled.push_back(labels[static_cast<size_t>(i)]);
  const int64_t n = static_cast<int64_t>(shuffled.size());  // 165
  datasets::Split s;
  s.images = torch::arange(n, torch::kByte).view({n, 1, 1, 1}).expand({n, h, w, c}).contiguous();
  s.labels = torch::tensor(shuffled, torch::kLong);
  for (int k = 0; k < 10; ++k) s.class_names.push_back("class" + std::to_string(k));
  return s;
}

// The rows an episode tensor [n, C, H, W] (scaled to [0,1], no normalisation) came from.
std::vector<int64_t> rows_of(const torch::Tensor& x) {
  auto v = (x.select(1, 0).select(1, 0).select(1, 0) * 255).round().to(torch::kLong);
  return std::vector<int64_t>(v.data_ptr<int64_t>(), v.data_ptr<int64_t>() + v.numel());
}

TEST(Sampler, BalancedDisjointAndLabelsMatchClasses) {
  const auto split = numbered_split();
  EpisodeConfig cfg;
  cfg.ways = 4;
  cfg.shots = 3;
  cfg.queries = 5;
  EpisodeSampler sampler(split, "train", cfg);
  for (int64_t i = 0; i < 50; ++i) {
    const auto e = sampler.episode(i);
    ASSERT_EQ(e.support_x.sizes(), torch::IntArrayRef({12, 3, 6, 6}));
    ASSERT_EQ(e.query_x.sizes(), torch::IntArrayRef({20, 3, 6, 6}));
    ASSERT_EQ(e.classes.size(), 4u);
    EXPECT_EQ(std::set<int64_t>(e.classes.begin(), e.classes.end()).size(), 4u);
    const auto s_rows = rows_of(e.support_x), q_rows = rows_of(e.query_x);
    std::set<int64_t> all(s_rows.begin(), s_rows.end());
    all.insert(q_rows.begin(), q_rows.end());
    EXPECT_EQ(all.size(), 32u) << "support and query must be disjoint, no repeats";
    for (int64_t k = 0; k < 12; ++k) {
      EXPECT_EQ(e.support_y[k].item<int64_t>(), k / 3);
      EXPECT_EQ(split.labels[s_rows[k]].item<int64_t>(), e.classes[k / 3]);
    }
    for (int64_t k = 0; k < 20; ++k) {
      EXPECT_EQ(e.query_y[k].item<int64_t>(), k / 5);
      EXPECT_EQ(split.labels[q_rows[k]].item<int64_t>(), e.classes[k / 5]);
    }
  }
}

TEST(Sampler, DeterministicPerSeedSplitIndex) {
  const auto split = numbered_split();
  EpisodeConfig cfg;
  cfg.queries = 5;  // the smallest class has 12 images
  cfg.seed = 7;
  EpisodeSampler a(split, "train", cfg), b(split, "train", cfg);
  cfg.seed = 8;
  EpisodeSampler c(split, "train", cfg);
  cfg.seed = 7;
  EpisodeSampler v(split, "val", cfg);
  // Requests in another order give the same episodes.
  const auto a5 = a.episode(5);
  (void)b.episode(9);
  const auto b5 = b.episode(5);
  EXPECT_TRUE(torch::equal(a5.support_x, b5.support_x));
  EXPECT_TRUE(torch::equal(a5.query_x, b5.query_x));
  EXPECT_EQ(a5.classes, b5.classes);
  EXPECT_FALSE(torch::equal(a5.query_x, c.episode(5).query_x));
  EXPECT_FALSE(torch::equal(a5.query_x, v.episode(5).query_x));
  EXPECT_FALSE(torch::equal(a5.query_x, a.episode(6).query_x));
  // A batch is its episodes stacked.
  const auto batch = a.batch(4, 3);
  ASSERT_EQ(batch.support_x.sizes(), torch::IntArrayRef({3, 5, 3, 6, 6}));
  EXPECT_TRUE(torch::equal(batch.query_x[1], a5.query_x));
  EXPECT_TRUE(torch::equal(batch.support_y[1], a5.support_y));
  EXPECT_EQ(batch.classes[1], a5.classes);
}

TEST(Sampler, ClassesAreUsedEvenly) {
  const auto split = numbered_split();
  EpisodeConfig cfg;
  cfg.ways = 5;
  cfg.queries = 5;
  EpisodeSampler s(split, "train", cfg);
  std::vector<int64_t> count(10, 0);
  for (int64_t i = 0; i < 2000; ++i)
    for (auto k : s.draw(i).classes) ++count[static_cast<size_t>(k)];
  // Each class is drawn with probability 1/2 per episode: 1000 +- 5 sigma (sigma ~ 22).
  for (auto n : count) EXPECT_NEAR(static_cast<double>(n), 1000.0, 112.0);
}

TEST(Sampler, NormalisationAndRejectedConfigs) {
  const auto split = numbered_split(4, 4, 1);
  EpisodeConfig cfg;
  cfg.queries = 5;
  cfg.normalization = {{0.5f}, {0.25f}};
  EpisodeSampler s(split, "train", cfg);
  const auto e = s.episode(0);
  EpisodeConfig raw_cfg;
  raw_cfg.queries = 5;
  const auto r = EpisodeSampler(split, "train", raw_cfg).episode(0);
  EXPECT_TRUE(torch::allclose(e.support_x, (r.support_x - 0.5) / 0.25));

  auto message = [&](EpisodeConfig c, const std::string& name = "train") {
    try {
      EpisodeSampler bad(split, name, c);
    } catch (const std::invalid_argument& ex) {
      return std::string(ex.what());
    }
    return std::string("NO ERROR");
  };
  EpisodeConfig c;
  c.queries = 5;
  c.ways = 11;
  // The sampler names the config field; the CLI puts its flag in the field's place.
  EXPECT_EQ(message(c, "val"), "split 'val' has 10 classes, fewer than ways 11");
  try {
    EpisodeSampler bad(split, "val", c);
    FAIL() << "11 ways of 10 classes accepted";
  } catch (const datasets::FieldError& ex) {
    EXPECT_EQ(ex.field, "ways");
    EXPECT_EQ(ex.renamed("--ways"), "split 'val' has 10 classes, fewer than --ways 11");
  }
  c = EpisodeConfig();
  c.shots = 5;
  c.queries = 8;  // class 0 has 12 images
  EXPECT_EQ(message(c), "split 'train' class 0 'class0' has 12 images, fewer than shots + queries = 5 + 8 = 13");
  c = EpisodeConfig();
  c.queries = 5;
  c.shots = 0;
  EXPECT_EQ(message(c), "shots must be at least 1, got 0");
  c = EpisodeConfig();
  c.queries = 5;
  c.normalization = {{0.1f, 0.2f, 0.3f}, {1, 1, 1}};
  EXPECT_NE(message(c).find("normalisation has 3 channels"), std::string::npos);
}

TEST(Augment, DeterministicFlipCropAndJitter) {
  // Rows with spatial structure, so flips and shifts are visible.
  const int64_t n = 40, h = 8, w = 8;
  datasets::Split split;
  split.images = (torch::arange(h * w, torch::kLong).view({1, h, w, 1}) * 3 + torch::arange(n).view({n, 1, 1, 1}))
                     .remainder(256)
                     .to(torch::kByte)
                     .expand({n, h, w, 3})
                     .contiguous();
  split.labels = torch::arange(n) % 4;
  split.class_names = {"a", "b", "c", "d"};
  EpisodeConfig cfg;
  cfg.ways = 4;
  cfg.shots = 2;
  cfg.queries = 3;
  cfg.augment = true;
  cfg.seed = 3;
  EpisodeSampler s(split, "train", cfg), s2(split, "train", cfg);
  const auto a = s.episode(2);
  EXPECT_TRUE(torch::equal(a.query_x, s2.episode(2).query_x));
  EXPECT_TRUE(torch::allclose(s.batch(1, 2).query_x[1], a.query_x, 1e-6, 1e-6));
  cfg.augment = false;
  const auto plain = EpisodeSampler(split, "train", cfg).episode(2);
  EXPECT_EQ(plain.classes, a.classes) << "augmentation must not change which images are drawn";
  EXPECT_FALSE(torch::allclose(plain.query_x, a.query_x));
  EXPECT_GE(a.query_x.min().item<float>(), 0.0f);
  EXPECT_LE(a.query_x.max().item<float>(), 1.0f);

  // Flip + pad-crop only: every output is a shifted window of the zero-padded (maybe flipped) input.
  cfg.augment = true;
  cfg.jitter = 0;
  cfg.crop_padding = 2;
  const EpisodeSampler sc(split, "train", cfg);
  const auto e = sc.episode(0);
  cfg.augment = false;
  const auto src = EpisodeSampler(split, "train", cfg).episode(0).query_x;  // same draw, no augmentation
  cfg.augment = true;
  int flipped = 0, shifted = 0;
  for (int64_t i = 0; i < e.query_x.size(0); ++i) {
    bool found = false;
    for (int f = 0; f < 2 && !found; ++f) {
      auto img = f ? src[i].flip({2}) : src[i];
      auto padded = torch::constant_pad_nd(img, {2, 2, 2, 2}, 0);
      for (int64_t dy = 0; dy <= 4 && !found; ++dy)
        for (int64_t dx = 0; dx <= 4 && !found; ++dx)
          if (torch::equal(padded.narrow(1, dy, h).narrow(2, dx, w), e.query_x[i])) {
            found = true;
            flipped += f;
            shifted += (dy != 2 || dx != 2);
          }
    }
    EXPECT_TRUE(found) << "query image " << i << " is not a crop of its source";
  }
  EXPECT_GT(flipped, 0);
  EXPECT_GT(shifted, 0);

  cfg.resized_crop = true;
  const auto rc = EpisodeSampler(split, "train", cfg).episode(0);
  EXPECT_EQ(rc.query_x.sizes(), plain.query_x.sizes());
}

TEST(Prefetcher, SameBatchesInOrderWhateverTheThreads) {
  const auto split = numbered_split();
  EpisodeConfig cfg;
  cfg.queries = 5;
  cfg.augment = true;
  cfg.seed = 11;
  EpisodeSampler s(split, "train", cfg);
  episodes::Prefetcher one(s, 100, 4, 1, 2), many(s, 100, 4, 3, 6);
  for (int64_t i = 0; i < 12; ++i) {
    const auto direct = s.batch(100 + i * 4, 4);
    const auto a = one.next(), b = many.next();
    EXPECT_TRUE(torch::equal(a.query_x, direct.query_x)) << i;
    EXPECT_TRUE(torch::equal(b.query_x, direct.query_x)) << i;
    EXPECT_TRUE(torch::equal(b.support_y, direct.support_y)) << i;
  }
}

TEST(FashionMnist, SamplerOnTheRealSplit) {
  const auto d = datasets::load_dataset("fashion-mnist");
  EpisodeConfig cfg;
  cfg.normalization = datasets::normalization_for(d);
  cfg.augment = true;
  EpisodeSampler s(d.test, "test", cfg);
  const auto b = s.batch(0, 4);
  EXPECT_EQ(b.support_x.sizes(), torch::IntArrayRef({4, 5, 1, 28, 28}));
  EXPECT_EQ(b.query_x.sizes(), torch::IntArrayRef({4, 75, 1, 28, 28}));
  // Normalised: roughly zero mean, unit spread over a batch (Fashion-MNIST constants).
  const auto x = b.query_x;
  EXPECT_LT(std::abs(x.mean().item<double>()), 0.5);
  EXPECT_GT(x.std().item<double>(), 0.5);
}

}  // namespace
