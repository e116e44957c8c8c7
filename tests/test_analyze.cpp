// acdc-meta analyze: the effective rank against hand-derived values, the SVD decomposition and
// the pair alignment, CAM on random networks (the last layer's map is standard CAM: its mean
// plus the class bias is the class logit), and both commands end to end through the real binary
// (ACDC_META_BIN) on tiny classify runs made here, with bad input exiting 2.

#include "backbones/registry.h"
#include "datasets/storage/h5.h"
#include "experiments/analysis/analysis.h"
#include "tests/support/acdc_meta.h"
#include "tests/support/files.h"
#include "tests/support/images.h"
#include "tests/support/temp_dir.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#ifdef ACDC_META_HAVE_OPENCV
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#endif

#include <cmath>
#include <filesystem>
#include <map>
#include <stdexcept>
#include <string>

namespace {

namespace fs = std::filesystem;

// ---- effective rank ----

TEST(EffectiveRank, HandCheckedValues) {
  // Identity 4x4: singular values 1,1,1,1 -> p_i = 1/4, entropy ln 4, erank 4.
  EXPECT_NEAR(experiments::effective_rank(torch::eye(4, torch::kDouble)), 4.0, 1e-12);
  // Rank 1 (outer product u v^T): one non-zero singular value -> p = (1, 0, ...), erank e^0 = 1.
  const auto u = torch::tensor({1.0, -2.0, 3.0}, torch::kDouble), v = torch::tensor({0.5, 4.0}, torch::kDouble);
  EXPECT_NEAR(experiments::effective_rank(torch::outer(u, v)), 1.0, 1e-9);
  // diag(1, 1, 2): p = (1/4, 1/4, 1/2), entropy 2 * (1/4) ln 4 + (1/2) ln 2 = 1.5 ln 2 -> erank 2^1.5.
  EXPECT_NEAR(experiments::effective_rank(torch::diag(torch::tensor({1.0, 1.0, 2.0}, torch::kDouble))),
              std::pow(2.0, 1.5), 1e-12);
  // Singular values given directly: zeros contribute nothing (0 log 0 = 0), so (3, 0, 0) -> 1 and
  // (2, 2, 0) -> 2; the scale does not matter: 5 * I_3 -> 3.
  EXPECT_NEAR(experiments::effective_rank_of_values(torch::tensor({3.0, 0.0, 0.0})), 1.0, 1e-12);
  EXPECT_NEAR(experiments::effective_rank_of_values(torch::tensor({2.0, 2.0, 0.0})), 2.0, 1e-12);
  EXPECT_NEAR(experiments::effective_rank(5 * torch::eye(3, torch::kDouble)), 3.0, 1e-12);
  // Bounds: 1 <= erank <= number of non-zero singular values, for a random 6x4 matrix.
  torch::manual_seed(0);
  const double r = experiments::effective_rank(torch::randn({6, 4}, torch::kDouble));
  EXPECT_GE(r, 1.0);
  EXPECT_LE(r, 4.0);
}

TEST(EffectiveRank, RejectsDegenerateInput) {
  EXPECT_THROW(experiments::effective_rank(torch::zeros({3, 3})), std::invalid_argument);
  EXPECT_THROW(experiments::effective_rank_of_values(torch::tensor({1.0, -1.0})), std::invalid_argument);
  EXPECT_THROW(experiments::effective_rank_of_values(torch::tensor({1.0, std::nan("")})), std::invalid_argument);
  EXPECT_THROW(experiments::effective_rank(torch::ones({3})), std::invalid_argument);
}

// ---- decomposition and alignment ----

TEST(RankAnalysis, DecompositionReconstructsAndTruncates) {
  torch::manual_seed(1);
  const auto w = torch::randn({5, 3, 3, 3}, torch::kDouble);
  // m = 12 > k*k: clipped to 9 atoms, exact reconstruction, every bit of energy kept.
  const auto full = experiments::decompose_kernel(w, 12, "layer");
  EXPECT_EQ(full.atoms, 9);
  EXPECT_TRUE(torch::allclose(torch::matmul(full.coefficients, full.atom_basis), w.reshape({15, 9}), 1e-10, 1e-10));
  EXPECT_TRUE(torch::allclose(torch::matmul(full.atom_basis, full.atom_basis.t()), torch::eye(9, torch::kDouble),
                              1e-10, 1e-10));  // orthonormal atoms
  EXPECT_NEAR(full.energy_kept, 1.0, 1e-12);
  // m = 4: the best rank-4 approximation (Eckart-Young), energy = top-4 s^2 / all s^2.
  const auto part = experiments::decompose_kernel(w, 4, "layer");
  EXPECT_EQ(part.coefficients.sizes(), (torch::IntArrayRef{15, 4}));
  const auto s2 = full.singular_values.square();
  EXPECT_NEAR(part.energy_kept, (s2.slice(0, 0, 4).sum() / s2.sum()).item<double>(), 1e-12);
  // A 1-channel stem with 4 kernels: 4 non-zero singular values, yet 9 orthonormal atoms (the
  // basis completed), so it pairs with the 9-atom layers; the coefficients keep every kernel.
  const auto stem = experiments::decompose_kernel(torch::randn({4, 1, 3, 3}, torch::kDouble), 9, "stem");
  EXPECT_EQ(stem.atoms, 9);
  EXPECT_TRUE(torch::allclose(torch::matmul(stem.atom_basis, stem.atom_basis.t()), torch::eye(9, torch::kDouble),
                              1e-10, 1e-10));
  EXPECT_NEAR(stem.energy_kept, 1.0, 1e-12);
  EXPECT_THROW(experiments::decompose_kernel(torch::ones({2, 2, 1, 1}), 4, "pointwise"), std::invalid_argument);
  EXPECT_THROW(experiments::decompose_kernel(w, 0, "layer"), std::invalid_argument);
}

TEST(RankAnalysis, AlignedCoefficientsReconstructTheKernels) {
  torch::manual_seed(2);
  const auto a = experiments::decompose_kernel(torch::randn({4, 4, 3, 3}, torch::kDouble), 5, "a");
  const auto b = experiments::decompose_kernel(torch::randn({6, 4, 3, 3}, torch::kDouble), 5, "b");
  const auto pair = experiments::align_pair(a, b);
  // The transforms merged into the coefficients are orthogonal, so the truncated kernels are kept:
  // A P (P^T D) = A D. Check through the Gram matrices (independent of P): (AP)(AP)^T = A A^T.
  EXPECT_TRUE(torch::allclose(torch::matmul(pair.first, pair.first.t()), torch::matmul(a.coefficients, a.coefficients.t()),
                              1e-10, 1e-10));
  EXPECT_TRUE(torch::allclose(torch::matmul(pair.second, pair.second.t()),
                              torch::matmul(b.coefficients, b.coefficients.t()), 1e-10, 1e-10));
  // Canonical correlations of orthonormal bases are cosines of principal angles: in [0, 1].
  EXPECT_LE(pair.correlations.max().item<double>(), 1.0 + 1e-12);
  EXPECT_GE(pair.correlations.min().item<double>(), -1e-12);
}

TEST(RankAnalysis, IdenticalLayersGiveThePairTheLayersRank) {
  // [A; A] / norms has singular values sqrt(2) times A's, so the normalised spectrum and the
  // effective rank are A's own; the atom sets coincide (every canonical correlation 1).
  torch::manual_seed(3);
  const auto w = torch::randn({8, 8, 3, 3});
  const auto report = experiments::rank_analysis({{"x", w}, {"y", w.clone()}}, 6);
  ASSERT_EQ(report.pairs.size(), 1u);
  EXPECT_NEAR(report.pairs[0].pair_erank, report.layers[0].coeff_erank, 1e-6);
  EXPECT_NEAR(report.pairs[0].mean_correlation, 1.0, 1e-6);
  EXPECT_NEAR(report.mean_pair_erank, report.mean_layer_erank, 1e-6);
}

TEST(RankAnalysis, LayersOnDisjointAtomsAreUncorrelated) {
  // Layer x uses only pixel (0,0) of its 3x3 kernels, layer y only pixel (1,1): with m = 1 each is
  // rank 1 (erank 1), their atoms are orthogonal (canonical correlation 0), and the stacked
  // aligned coefficients are one column (erank 1).
  auto x = torch::zeros({2, 3, 3, 3}, torch::kDouble), y = torch::zeros({4, 2, 3, 3}, torch::kDouble);
  x.select(2, 0).select(2, 0).copy_(torch::arange(1, 7, torch::kDouble).view({2, 3}));
  y.select(2, 1).select(2, 1).copy_(torch::arange(1, 9, torch::kDouble).view({4, 2}));
  const auto report = experiments::rank_analysis({{"x", x}, {"y", y}}, 1);
  EXPECT_NEAR(report.layers[0].coeff_erank, 1.0, 1e-12);
  EXPECT_NEAR(report.layers[0].kernel_erank, 1.0, 1e-9);
  EXPECT_NEAR(report.pairs[0].mean_correlation, 0.0, 1e-12);
  EXPECT_NEAR(report.pairs[0].pair_erank, 1.0, 1e-12);
}

TEST(RankAnalysis, PairsOnlyLayersOfOneKernelSize) {
  torch::manual_seed(4);
  const auto report = experiments::rank_analysis(
      {{"stem", torch::randn({4, 3, 7, 7})}, {"a", torch::randn({4, 4, 3, 3})}, {"b", torch::randn({4, 4, 3, 3})}}, 9);
  ASSERT_EQ(report.layers.size(), 3u);
  EXPECT_EQ(report.layers[0].atoms, 9);  // 9 of 49 possible
  ASSERT_EQ(report.pairs.size(), 1u);    // (a, b) only: the 7x7 stem has no 3x3 partner
  EXPECT_EQ(report.pairs[0].first, 1);
  EXPECT_THROW(experiments::rank_analysis({}, 9), std::invalid_argument);
}

TEST(RankAnalysis, ConvKernelsOfAnyConvType) {
  // acdc-net conv4 (m = 4): four reconstructed 3x3 kernels, each of rank <= 4 as a
  // [C_out*C_in, 9] matrix (it is coefficients x 4 atoms).
  backbones::BackboneOptions o;
  o.name = "conv4";
  o.width = 8;
  o.in_channels = 1;
  o.image_size = 16;
  o.conv.type = acdc::parse_conv_type("acdc-net");
  o.conv.atoms = 4;
  auto model = backbones::make_backbone(o);
  const auto kernels = experiments::conv_kernels(*model);
  ASSERT_EQ(kernels.size(), 4u);
  EXPECT_EQ(kernels[0].first, "features.0.conv");
  EXPECT_EQ(kernels[1].second.sizes(), (torch::IntArrayRef{8, 8, 3, 3}));
  const auto report = experiments::rank_analysis(kernels, 9);
  for (const auto& l : report.layers) EXPECT_NEAR(l.energy_kept, 1.0, 1e-9) << l.name;
  for (const auto& l : report.layers) EXPECT_LE(l.kernel_erank, 4.0 + 1e-6) << l.name;
  EXPECT_EQ(report.pairs.size(), 6u);
}

// ---- cam ----

TEST(Cam, LeadingSliceOfTheClassWeights) {
  // Features [1, 3, 1, 2] with channel values (1, 2), (10, 20), (100, 200); weights (0.5, -1):
  // 2 head channels, so the third channel is left out: (0.5*1 - 10, 0.5*2 - 20) = (-9.5, -19).
  const auto f = torch::tensor({1.0, 2.0, 10.0, 20.0, 100.0, 200.0}).view({1, 3, 1, 2});
  const auto map = experiments::class_activation_map(f, torch::tensor({{0.5, -1.0}}));
  EXPECT_TRUE(torch::allclose(map, torch::tensor({-9.5, -19.0}).view({1, 1, 2})));
  // More head channels than features: the leading 3 of (1, 1, 1, 1000) -> 111, 222.
  const auto wide = experiments::class_activation_map(f, torch::tensor({{1.0, 1.0, 1.0, 1000.0}}));
  EXPECT_TRUE(torch::allclose(wide, torch::tensor({111.0, 222.0}).view({1, 1, 2})));
}

// Standard CAM (Zhou et al.): with a globally pooling head, logit_c = mean(sum_k w_ck F_k) + b_c,
// so the last layer's map must average to the logit minus the bias, for every image.
void expect_last_map_is_standard_cam(const std::string& name, int64_t size, int64_t maps, int64_t last_side) {
  backbones::BackboneOptions o;
  o.name = name;
  o.classes = 7;
  o.in_channels = 3;
  o.image_size = size;
  o.width = 8;
  o.conv.type = acdc::parse_conv_type("acdc-net");
  o.conv.atoms = 4;
  torch::manual_seed(5);
  auto model = backbones::make_backbone(o);
  const auto x = torch::randn({2, 3, size, size});
  const auto r = experiments::cam_analysis(*model, x, std::nullopt, backbones::BnMode::kTransductive);
  ASSERT_EQ(static_cast<int64_t>(r.maps.size()), maps) << name;
  const auto& last = r.maps.back();
  EXPECT_EQ(last.size(1), last_side) << name;
  const auto logit = r.logits.gather(1, r.classes.view({-1, 1})).view({-1});
  EXPECT_TRUE(torch::allclose(last.mean({1, 2}) + r.head_bias.index_select(0, r.classes), logit, 1e-4, 1e-4)) << name;
  EXPECT_TRUE(torch::equal(r.classes, r.logits.argmax(1)));  // default: the predicted class
  // The ordinary forward is unchanged by recording.
  backbones::ForwardOptions fo;
  EXPECT_TRUE(torch::allclose(model->forward(x, fo), r.logits, 1e-5, 1e-5)) << name;
}

TEST(Cam, LastLayerIsStandardCam) {
  expect_last_map_is_standard_cam("conv4", 16, 4, 1);            // 16 px: a 1x1 map, flatten = pooling
  expect_last_map_is_standard_cam("resnet18-cifar", 32, 17, 4);  // stem + 16 convs, 4x4 before the pool
  expect_last_map_is_standard_cam("wrn-10-1", 32, 7, 8);         // stem + 6 convs, 8x8 before the pool
}

TEST(Cam, ChosenClassAndRefusedBackbone) {
  backbones::BackboneOptions o;
  o.name = "conv4";
  o.classes = 5;
  o.in_channels = 1;
  o.image_size = 16;
  o.width = 8;
  auto model = backbones::make_backbone(o);
  const auto x = torch::randn({3, 1, 16, 16});
  const auto r = experiments::cam_analysis(*model, x, torch::tensor({4, 4, 4}), backbones::BnMode::kTransductive);
  EXPECT_TRUE(torch::equal(r.classes, torch::tensor({4, 4, 4}, torch::kLong)));
  EXPECT_THROW(experiments::cam_analysis(*model, x, torch::tensor({5, 0, 0}), backbones::BnMode::kTransductive),
               std::invalid_argument);
  // conv4 at 32 px flattens a [8, 2, 2] map: per-position class weights, refused by name.
  o.image_size = 32;
  auto flat = backbones::make_backbone(o);
  try {
    experiments::cam_analysis(*flat, torch::randn({1, 1, 32, 32}), std::nullopt, backbones::BnMode::kTransductive);
    FAIL() << "conv4 at 32 px was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("flattens a [8, 2, 2] map"), std::string::npos) << e.what();
  }
}

// ---- through the binary ----

using support::run_acdc_meta;
using support::TempDir;

// Fashion-MNIST layout (raw IDX), 16x16, 10 classes: a bright block at a class-specific place.
void write_idx_dataset(const std::string& dir, int64_t train, int64_t test) {
  for (const auto& [prefix, n] : {std::pair<std::string, int64_t>{"train", train}, {"t10k", test}}) {
    const auto labels = torch::arange(n, torch::kLong).remainder(10);
    support::write_idx(dir, prefix, support::class_images(labels, 16, 1, /*seed=*/std::nullopt), labels);
  }
}

// The fixture data set is written once per process; the classify runs the tests read are made
// when a test first asks for one, so a test run on its own (one CTest entry, one process) trains
// only the runs it uses.
class AnalyzeCommand : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tmp_ = new TempDir("acdc-analyze-");
    torch::manual_seed(7);
    write_idx_dataset(*tmp_ / "fmnist", 200, 40);
  }
  static void TearDownTestSuite() {
    delete tmp_;
    tmp_ = nullptr;
  }
  // The folder of a tiny classify run: "std" (standard conv4), "net" (acdc-net, 4 atoms) or
  // "big" (32 px images, which conv4 flattens), trained on first use.
  static std::string classify_run(const std::string& name) {
    static const std::map<std::string, std::string> flags = {
        {"std", ""}, {"net", " --conv acdc-net --atoms 4"}, {"big", " --image-size 32"}};
    const auto dir = *tmp_ / name;
    if (!fs::exists(dir + "/last.h5")) {
      const std::string common = "classify --dataset fashion-mnist:" + (*tmp_ / "fmnist") +
                                 " --backbone conv4 --width 8 --batch-size 20 --epochs 1 --threads 1 --test-every 0";
      const auto r = run_acdc_meta(common + flags.at(name) + " --out " + dir);
      if (r.code != 0) throw std::runtime_error("classify run '" + name + "' failed: " + r.output);
    }
    return dir;
  }
  static TempDir* tmp_;
};
TempDir* AnalyzeCommand::tmp_ = nullptr;

TEST_F(AnalyzeCommand, RankTableJsonAndHeatMap) {
  const auto& t = *tmp_;
  const auto table =
      run_acdc_meta("analyze rank --run " + classify_run("std") + " --atoms 9 --svg " + (t / "rank.svg"));
  ASSERT_EQ(table.code, 0) << table.output;
  EXPECT_NE(table.output.find("| 3 | features.3.conv | 8x8x3x3 | 9 |"), std::string::npos) << table.output;
  EXPECT_NE(table.output.find("| 2-3 |"), std::string::npos) << table.output;
  EXPECT_NE(table.output.find("Averages over the 6 pairs"), std::string::npos) << table.output;
  const std::string text = support::read_file(t / "rank.svg");
  EXPECT_EQ(text.rfind("<svg", 0), 0u);
  EXPECT_NE(text.find("</svg>"), std::string::npos);

  const auto json =
      run_acdc_meta("analyze rank --checkpoint " + classify_run("net") + "/last.h5 --atoms 9 --json");
  ASSERT_EQ(json.code, 0) << json.output;
  EXPECT_EQ(json.output.rfind("{", 0), 0u) << json.output;  // JSON only on stdout
  EXPECT_NE(json.output.find("\"mean_pair_erank\""), std::string::npos);
  EXPECT_NE(json.output.find("\"second\": 3"), std::string::npos);
}

TEST_F(AnalyzeCommand, CamPngsAndRawMaps) {
#ifndef ACDC_META_HAVE_OPENCV
  GTEST_SKIP() << "built without OpenCV: analyze cam cannot draw its PNGs";
#endif
  const auto& t = *tmp_;
  const auto r = run_acdc_meta("analyze cam --run " + classify_run("net") + " --index 0,3 --out " + (t / "cam"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(fs::exists(t / "cam/cam-test-0.png")) << r.output;
  EXPECT_TRUE(fs::exists(t / "cam/cam-test-3.png")) << r.output;
#ifdef ACDC_META_HAVE_OPENCV
  const auto png = cv::imread(t / "cam/cam-test-0.png");
  ASSERT_FALSE(png.empty());
  EXPECT_GT(png.cols, 4 * png.rows / 2);  // input + 4 layer panels side by side
#endif
  auto f = storage::H5File::open(t / "cam/maps.h5");
  EXPECT_EQ(f.list("maps").size(), 4u);
  EXPECT_EQ(f.attr_string("maps/03", "layer"), "features.3.conv");
  // The last map is standard CAM: its mean plus the class bias is the class logit.
  const auto last = f.read_tensor("maps/03"), logits = f.read_tensor("logits"), classes = f.read_tensor("classes");
  const auto bias = f.read_tensor("head_bias");
  const auto logit = logits.gather(1, classes.view({-1, 1})).view({-1});
  EXPECT_TRUE(torch::allclose(last.mean({1, 2}) + bias.index_select(0, classes), logit, 1e-4, 1e-4));
  EXPECT_EQ(f.read_tensor("images").sizes(), (torch::IntArrayRef{2, 16, 16, 1}));

#ifdef ACDC_META_HAVE_OPENCV
  // An image file, and a chosen class.
  cv::Mat img(20, 24, CV_8UC3, cv::Scalar(10, 200, 30));
  ASSERT_TRUE(cv::imwrite(t / "shirt.png", img));
  const auto file = run_acdc_meta("analyze cam --run " + classify_run("std") + " --image " + (t / "shirt.png") +
                                  " --class 2 --out " + (t / "cam2"));
  ASSERT_EQ(file.code, 0) << file.output;
  EXPECT_TRUE(fs::exists(t / "cam2/cam-shirt.png"));
  EXPECT_EQ(storage::H5File::open(t / "cam2/maps.h5").read_tensor("classes").item<int64_t>(), 2);
#endif
}

TEST_F(AnalyzeCommand, MetaTrainingCheckpointsToo) {
  // A tiny `train` run (MAML, acdc-net conv4, 2 iterations): rank reads its kernels, cam its
  // meta-learned 3-way head on the few-shot test split.
  const auto& t = *tmp_;
  const auto train =
      run_acdc_meta("train --dataset fashion-mnist:" + (t / "fmnist") +
                    " --backbone conv4 --conv acdc-net --width 8 --atoms 4 --image-size 16 --ways 3 --shots 1"
                    " --queries 2 --meta-batch 2 --inner-steps 1 --iterations 2 --val-every 0 --threads 1 --out " +
                    (t / "maml"));
  ASSERT_EQ(train.code, 0) << train.output;
  const auto rank = run_acdc_meta("analyze rank --run " + (t / "maml") + " --atoms 9");
  ASSERT_EQ(rank.code, 0) << rank.output;
  EXPECT_NE(rank.output.find("Averages over the 6 pairs"), std::string::npos) << rank.output;
#ifdef ACDC_META_HAVE_OPENCV
  const auto cam = run_acdc_meta("analyze cam --run " + (t / "maml") + " --index 0,1 --out " + (t / "maml-cam"));
  ASSERT_EQ(cam.code, 0) << cam.output;
  EXPECT_EQ(storage::H5File::open(t / "maml-cam/maps.h5").read_tensor("logits").sizes(), (torch::IntArrayRef{2, 3}));
#endif
}

TEST_F(AnalyzeCommand, BadInputExitsTwoWithOneLine) {
  const auto& t = *tmp_;
  const std::string run_std = " --run " + classify_run("std");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"analyze", "an analysis is required: rank or cam"},
      {"analyze ranks", "unknown analysis 'ranks'"},
      {"analyze rank --checkpoint " + (t / "missing.h5"), "no checkpoint"},
      {"analyze rank --run " + (t / "nowhere"), "no run directory"},
      {"analyze rank --checkpoint " + (t / "fmnist/t10k-labels-idx1-ubyte"), "not an acdc-meta checkpoint"},
      {"analyze rank" + run_std + " --atoms 0", "--atoms"},
      {"analyze cam" + run_std + " --index 0", "--out"},
      {"analyze cam" + run_std + " --out " + (t / "c") + " --index 40", "--index 40 is out of range"},
      {"analyze cam" + run_std + " --out " + (t / "c") + " --index -1", "--index -1 is out of range"},
      {"analyze cam" + run_std + " --out " + (t / "c") + " --index x", "--index"},
      {"analyze cam" + run_std + " --out " + (t / "c"), "--image FILE"},
      {"analyze cam" + run_std + " --out " + (t / "c") + " --image " + (t / "none.png"), "no file"},
      {"analyze cam" + run_std + " --out " + (t / "c") + " --index 0 --class 10", "class out of range"},
      {"analyze cam" + run_std + " --out " + (t / "c") + " --index 0 --split dev", "--split"},
      {"analyze cam --run " + classify_run("big") + " --out " + (t / "c") + " --index 0", "flattens a [8, 2, 2] map"},
  };
  for (const auto& [args, needle] : cases) {
    const auto r = run_acdc_meta(args);
    EXPECT_EQ(r.code, 2) << args << "\n" << r.output;
    EXPECT_NE(r.output.find(needle), std::string::npos) << args << "\n" << r.output;
  }
  EXPECT_FALSE(fs::exists(t / "c/maps.h5"));  // nothing written for refused input
}

}  // namespace
