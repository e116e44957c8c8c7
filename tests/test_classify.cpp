// acdc-meta classify: the training pieces (SGD, schedules, batches) against hand-derived values,
// a few steps reduce the loss, and the subcommand end to end on tiny fixture data sets written
// here (IDX, CIFAR-10/100 binary, TinyImageNet JPEGs via OpenCV): a sweep writes the table, CSV
// and SVG with the right rows, --resume ends equal to an uninterrupted run, and bad flags exit 2
// through the real binary (ACDC_META_BIN).

#include "backbones/registry.h"
#include "experiments/runs/checkpoint.h"
#include "experiments/training/classification.h"
#include "experiments/commands/cli.h"
#include "experiments/commands/commands.h"
#include "meta/optim.h"
#include "tests/support/acdc_meta.h"
#include "tests/support/files.h"
#include "tests/support/images.h"
#include "tests/support/temp_dir.h"

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#ifdef ACDC_META_HAVE_OPENCV
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#endif

#include <cmath>
#include <filesystem>
#include <sstream>
#include <string>
#include <tuple>

namespace {

namespace fs = std::filesystem;
using experiments::Args;

using support::class_images;
using support::lines_of;
using support::read_file;
using support::run_acdc_meta;
using support::TempDir;
using support::write_file;

// Fashion-MNIST layout (raw IDX): `train` / `test` images per split, 16x16, 10 classes.
void write_idx_dataset(const std::string& dir, int64_t train, int64_t test) {
  for (const auto& [prefix, n, seed] : {std::tuple<std::string, int64_t, uint64_t>{"train", train, 1}, {"t10k", test, 2}}) {
    const auto labels = torch::arange(n, torch::kLong).remainder(10);
    support::write_idx(dir, prefix, class_images(labels, 16, 1, seed), labels);
  }
}

// CIFAR binary records: [label bytes][1024 R][1024 G][1024 B].
std::string cifar_records(int64_t n, int64_t classes, bool coarse_and_fine, uint64_t seed) {
  auto labels = torch::arange(n, torch::kLong).remainder(classes);
  auto images = class_images(labels, 32, 3, seed).permute({0, 3, 1, 2}).contiguous();  // planar
  std::string out;
  for (int64_t i = 0; i < n; ++i) {
    const auto label = static_cast<char>(labels[i].item<int64_t>());
    if (coarse_and_fine) out.push_back(static_cast<char>(labels[i].item<int64_t>() / 5));
    out.push_back(label);
    out.append(reinterpret_cast<const char*>(images[i].data_ptr<uint8_t>()), 3072);
  }
  return out;
}

// The flags of a tiny, fast run (conv4 of width 8).
std::string tiny(const std::string& dataset, const std::string& out, int batch = 20) {
  return "--dataset " + dataset + " --out " + out + " --backbone conv4 --width 8 --batch-size " + std::to_string(batch) +
         " --lr 0.05 --threads 1 --test-every 1";
}

Args split_args(const std::string& s) {
  Args out;
  std::stringstream in(s);
  std::string a;
  while (in >> a) out.push_back(a);
  return out;
}

// A field of results.json (flat, as classify writes it).
double json_number(const std::string& text, const std::string& key) {
  const auto at = text.find("\"" + key + "\": ");
  if (at == std::string::npos) return NAN;
  return std::stod(text.substr(at + key.size() + 4));
}

// ---- pieces ----

TEST(ClassifyPieces, SgdMatchesTorchOptimSgd) {
  // Golden values derived by hand from torch.optim.SGD's documented update (dampening 0):
  // d = g + wd*p; b = mu*b + d (b = d at the first step); d = nesterov ? d + mu*b : b; p -= lr*d.
  // Nesterov, lr 0.1, mu 0.9, wd 0.1, p = [1, -2], grads [0.5, 0.25] then [0.5, -1]:
  //   step 1: d = [0.6, 0.05], b = d, d' = [1.14, 0.095], p = [0.886, -2.0095]
  //   step 2: d = [0.5886, -1.20095], b = [1.1286, -1.15595], d' = [1.60434, -2.241305],
  //           p = [0.725566, -1.7853695]
  auto p = torch::tensor({1.0, -2.0}, torch::kDouble).requires_grad_(true);
  meta::Sgd nesterov({p}, 0.1, 0.9, true, 0.1);
  p.mutable_grad() = torch::tensor({0.5, 0.25}, torch::kDouble);
  nesterov.step_from_grad();
  EXPECT_NEAR(p[0].item<double>(), 0.886, 1e-12);
  EXPECT_NEAR(p[1].item<double>(), -2.0095, 1e-12);
  EXPECT_EQ(p.grad().abs().sum().item<double>(), 0.0);  // step() zeroes the gradient
  p.mutable_grad() = torch::tensor({0.5, -1.0}, torch::kDouble);
  nesterov.step_from_grad();
  EXPECT_NEAR(p[0].item<double>(), 0.725566, 1e-12);
  EXPECT_NEAR(p[1].item<double>(), -1.7853695, 1e-12);

  // Plain momentum, no decay: b = [0.5, 0.25] -> p = [0.95, -2.025]; b = [0.95, -0.775] ->
  // p = [0.855, -1.9475].
  auto q = torch::tensor({1.0, -2.0}, torch::kDouble).requires_grad_(true);
  meta::Sgd heavy({q}, 0.1, 0.9, false, 0.0);
  q.mutable_grad() = torch::tensor({0.5, 0.25}, torch::kDouble);
  heavy.step_from_grad();
  q.mutable_grad() = torch::tensor({0.5, -1.0}, torch::kDouble);
  heavy.step_from_grad();
  EXPECT_NEAR(q[0].item<double>(), 0.855, 1e-12);
  EXPECT_NEAR(q[1].item<double>(), -1.9475, 1e-12);
  EXPECT_NEAR(heavy.momentum()[0][1].item<double>(), -0.775, 1e-12);
}

TEST(ClassifyPieces, Schedules) {
  // cosine: lr/2 * (1 + cos(pi t/T)); T = 10 steps x 4 epochs.
  EXPECT_DOUBLE_EQ(experiments::scheduled_lr("cosine", 0.1, 0, 10, 4, {}), 0.1);
  EXPECT_NEAR(experiments::scheduled_lr("cosine", 0.1, 20, 10, 4, {}), 0.05, 1e-15);
  EXPECT_NEAR(experiments::scheduled_lr("cosine", 0.1, 40, 10, 4, {}), 0.0, 1e-15);
  // step: x0.1 from each milestone epoch on.
  EXPECT_DOUBLE_EQ(experiments::scheduled_lr("step", 0.1, 19, 10, 4, {2, 3}), 0.1);
  EXPECT_NEAR(experiments::scheduled_lr("step", 0.1, 20, 10, 4, {2, 3}), 0.01, 1e-15);
  EXPECT_NEAR(experiments::scheduled_lr("step", 0.1, 35, 10, 4, {2, 3}), 0.001, 1e-15);
  EXPECT_THROW(experiments::scheduled_lr("linear", 0.1, 0, 10, 4, {}), experiments::UsageError);
}

TEST(ClassifyPieces, BatchIsNormalisedCroppedAndFlipped) {
  // 2 images of 4x4x1: values 0..15 and 16..31.
  auto images = torch::arange(32, torch::kLong).view({2, 4, 4, 1}).to(torch::kUInt8);
  auto mean = torch::tensor({0.5f}), stdev = torch::tensor({0.25f});
  auto gen = at::make_generator<at::CPUGeneratorImpl>(7);
  auto index = torch::tensor({1, 0}, torch::kLong);
  auto plain = experiments::make_batch(images, index, mean, stdev, 0, false, gen);
  ASSERT_EQ(plain.sizes(), (std::vector<int64_t>{2, 1, 4, 4}));
  auto expected = (images.index_select(0, index).permute({0, 3, 1, 2}).to(torch::kFloat) / 255 - 0.5) / 0.25;
  EXPECT_TRUE(torch::allclose(plain, expected, 1e-6, 1e-6));

  // Crop with padding 1 + flip: every output image is a (possibly mirrored) 4x4 window of the
  // zero-padded input.
  for (int trial = 0; trial < 20; ++trial) {
    auto out = experiments::make_batch(images, index, mean, stdev, 1, true, gen);
    for (int64_t i = 0; i < 2; ++i) {
      auto padded = torch::constant_pad_nd(expected[i], {1, 1, 1, 1}, (0.0 - 0.5) / 0.25);
      bool found = false;
      for (int64_t dy = 0; dy <= 2 && !found; ++dy) {
        for (int64_t dx = 0; dx <= 2 && !found; ++dx) {
          auto window = padded.narrow(1, dy, 4).narrow(2, dx, 4);
          found = torch::allclose(out[i], window, 1e-6, 1e-6) || torch::allclose(out[i], window.flip({2}), 1e-6, 1e-6);
        }
      }
      EXPECT_TRUE(found) << "trial " << trial << " image " << i;
    }
  }
  // The same generator state gives the same batch.
  auto g1 = at::make_generator<at::CPUGeneratorImpl>(3), g2 = at::make_generator<at::CPUGeneratorImpl>(3);
  EXPECT_TRUE(torch::equal(experiments::make_batch(images, index, mean, stdev, 1, true, g1),
                           experiments::make_batch(images, index, mean, stdev, 1, true, g2)));
}

TEST(ClassifyPieces, AFewStepsReduceTheTrainingLoss) {
  // Real conv4 (acdc-net, so the shared coefficients get their summed gradient) on learnable
  // fixture images, running BatchNorm, SGD: the loss on a fixed batch falls.
  backbones::BackboneOptions bo;
  bo.name = "conv4";
  bo.conv.type = acdc::ConvType::kNet;
  bo.conv.atoms = 4;
  bo.classes = 10;
  bo.in_channels = 1;
  bo.image_size = 16;
  bo.width = 8;
  torch::manual_seed(0);
  auto model = backbones::make_backbone(bo);
  auto labels = torch::arange(60, torch::kLong).remainder(10);
  auto images = class_images(labels, 16, 1, 5);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(1);
  auto x = experiments::make_batch(images, torch::arange(60, torch::kLong), torch::tensor({0.2f}), torch::tensor({0.3f}),
                                   0, false, gen);
  backbones::ForwardOptions train;
  train.training = true;
  train.bn = backbones::BnMode::kRunning;
  train.update_running_stats = true;
  meta::Sgd sgd(model->params().tensors(), 0.05, 0.9, false, 5e-4);
  auto loss_now = [&] {
    torch::NoGradGuard g;
    return torch::nn::functional::cross_entropy(model->forward(x, train), labels).item<double>();
  };
  const double before = loss_now();
  for (int step = 0; step < 15; ++step) {
    auto loss = torch::nn::functional::cross_entropy(model->forward(x, train), labels);
    loss.backward();
    sgd.step_from_grad();
  }
  const double after = loss_now();
  EXPECT_LT(after, 0.7 * before) << "before " << before << " after " << after;
  // BatchNorm running statistics moved away from their initial (0, 1).
  bool moved = false;
  for (int64_t i = 0; i < model->buffers().size(); ++i) {
    if (model->buffers().names()[static_cast<size_t>(i)].find("mean") != std::string::npos) {
      moved = moved || model->buffers()[i].abs().sum().item<double>() > 0;
    }
  }
  EXPECT_TRUE(moved);
}

// ---- the subcommand ----

TEST(Classify, TrainsOnIdxAndWritesRunDirectory) {
  TempDir tmp;
  write_idx_dataset(tmp / "fmnist", 200, 100);
  const auto out = tmp / "run";
  ASSERT_EQ(experiments::cmd_classify(split_args(tiny("fashion-mnist:" + (tmp / "fmnist"), out) +
                                                 " --epochs 4 --augment --atom-drop 0.1 --conv acdc-net --atoms 4")),
            0);
  for (const char* f : {"config.ini", "metrics.csv", "last.h5", "results.json"}) {
    EXPECT_TRUE(fs::exists(out + "/" + f)) << f;
  }
  const auto metrics = lines_of(read_file(out + "/metrics.csv"));
  ASSERT_EQ(metrics.size(), 5u);
  EXPECT_EQ(metrics[0], "epoch,lr,train_loss,train_accuracy,test_loss,test_accuracy,epoch_seconds,images_per_second");
  auto field = [](const std::string& row, int i) {
    std::stringstream in(row);
    std::string cell;
    for (int k = 0; k <= i; ++k) std::getline(in, cell, ',');
    return std::stod(cell);
  };
  EXPECT_LT(field(metrics[4], 2), field(metrics[1], 2)) << "train loss of epoch 4 vs epoch 1";
  const auto results = read_file(out + "/results.json");
  const double acc = json_number(results, "test_accuracy");
  EXPECT_GT(acc, 20.0);  // 10 classes: chance is 10 %
  EXPECT_NEAR(json_number(results, "test_error"), 100.0 - acc, 1e-9);
  EXPECT_EQ(json_number(results, "test_images"), 100);
  EXPECT_EQ(json_number(results, "classes"), 10);
  EXPECT_GT(json_number(results, "params"), 0);
  EXPECT_GT(json_number(results, "macs_per_image"), 0);
  EXPECT_NE(results.find("\"settings\""), std::string::npos);
  EXPECT_NE(results.find("\"schedule\": \"cosine\""), std::string::npos);
}

TEST(Classify, PerClassLimitsTrainAndTestOnBalancedSubsets) {
  TempDir tmp;
  write_idx_dataset(tmp / "fmnist", 200, 100);
  const auto out = tmp / "run";
  ASSERT_EQ(experiments::cmd_classify(split_args(tiny("fashion-mnist:" + (tmp / "fmnist"), out) +
                                                 " --epochs 1 --train-per-class 5 --test-per-class 3")),
            0);
  const auto results = read_file(out + "/results.json");
  EXPECT_EQ(json_number(results, "train_images"), 50);  // 10 classes x 5
  EXPECT_EQ(json_number(results, "test_images"), 30);   // 10 classes x 3
  EXPECT_NE(read_file(out + "/config.ini").find("train-per-class = 5"), std::string::npos);
}

TEST(Classify, ResumeEndsEqualToAnUninterruptedRun) {
  TempDir tmp;
  write_idx_dataset(tmp / "fmnist", 100, 50);
  const auto flags = " --epochs 3 --augment --atom-drop 0.1 --conv acdc-net --atoms 4 --schedule step";
  ASSERT_EQ(experiments::cmd_classify(split_args(tiny("fashion-mnist:" + (tmp / "fmnist"), tmp / "a") + flags)), 0);
  ASSERT_EQ(experiments::cmd_classify(
                split_args(tiny("fashion-mnist:" + (tmp / "fmnist"), tmp / "b") + flags + " --stop-after 1")),
            0);
  EXPECT_FALSE(fs::exists(tmp / "b/results.json"));
  EXPECT_EQ(lines_of(read_file(tmp / "b/metrics.csv")).size(), 2u);
  // A fresh start over a run is refused; --resume with only --out continues it.
  EXPECT_THROW(experiments::cmd_classify(split_args(tiny("fashion-mnist:" + (tmp / "fmnist"), tmp / "b") + flags)),
               experiments::UsageError);
  EXPECT_THROW(experiments::cmd_classify({"--out", tmp / "b", "--resume", "--epochs", "5"}), experiments::UsageError);
  ASSERT_EQ(experiments::cmd_classify({"--out", tmp / "b", "--resume", "--threads", "1"}), 0);
  const auto a = read_file(tmp / "a/results.json"), b = read_file(tmp / "b/results.json");
  EXPECT_EQ(json_number(a, "test_accuracy"), json_number(b, "test_accuracy"));
  EXPECT_EQ(json_number(a, "test_loss"), json_number(b, "test_loss"));
  EXPECT_EQ(json_number(a, "train_loss"), json_number(b, "train_loss"));
  // metrics.csv holds the same epochs (timings aside).
  const auto ma = lines_of(read_file(tmp / "a/metrics.csv")), mb = lines_of(read_file(tmp / "b/metrics.csv"));
  ASSERT_EQ(ma.size(), mb.size());
  for (size_t i = 1; i < ma.size(); ++i) {
    auto strip = [](const std::string& row) {  // drop the two timing columns
      auto cut = row.rfind(',');
      cut = row.rfind(',', cut - 1);
      return row.substr(0, cut);
    };
    EXPECT_EQ(strip(ma[i]), strip(mb[i])) << "epoch " << i;
  }
}

// Issue 13: --resume uses the run's saved thread count unless --threads is given, and a
// classify checkpoint goes through the same validating loader as export uses.
TEST(Classify, ResumeKeepsSavedThreadsAndCheckpointLoadsForExport) {
  TempDir tmp;
  write_idx_dataset(tmp / "fmnist", 60, 20);
  const auto out = tmp / "t";
  ASSERT_EQ(experiments::cmd_classify(split_args(tiny("fashion-mnist:" + (tmp / "fmnist"), out) +
                                                 " --epochs 3 --conv acdc-net --atoms 4 --stop-after 1")),
            0);
  EXPECT_NE(read_file(out + "/config.ini").find("threads = 1\n"), std::string::npos);
  EXPECT_NE(read_file(out + "/config.ini").find("image-size = 16\n"), std::string::npos);  // resolved
  torch::set_num_threads(2);
  ASSERT_EQ(experiments::cmd_classify({"--out", out, "--resume", "--stop-after", "1"}), 0);
  EXPECT_EQ(torch::get_num_threads(), 1);
  const auto weights = experiments::read_checkpoint_weights(out + "/last.h5");
  EXPECT_TRUE(weights.count("head.weight"));
  EXPECT_TRUE(weights.count("acdc.coeff.net"));
  EXPECT_EQ(weights.count("inner_lr.head.weight"), 0u);
  torch::set_num_threads(1);
}

TEST(Classify, SweepWritesTableCsvAndSvg) {
  TempDir tmp;
  write_idx_dataset(tmp / "fmnist", 100, 50);
  write_file(tmp / "sweep.ini",
             "# shared settings\n"
             "dataset = fashion-mnist:" + (tmp / "fmnist") + "\n"
             "backbone = conv4\nwidth = 8\nepochs = 1\nbatch-size = 25\n"
             "[sweep]\nconv = standard, acdc-net\natoms = 4\n"
             "[grouped]\nconv = acdc-g-net\natoms = 2\ngroup-size = 4\natom-drop = 0.25\n");
  const auto out = tmp / "sweep";
  ASSERT_EQ(experiments::cmd_classify({"--sweep", tmp / "sweep.ini", "--out", out, "--threads", "1"}), 0);
  // Variants: the [grouped] section first (file order), then the [sweep] combinations.
  const auto md = lines_of(read_file(out + "/results.md"));
  std::vector<std::string> rows;
  for (const auto& l : md) {
    if (l.rfind("| ", 0) == 0 && l.find("| variant") != 0) rows.push_back(l);
  }
  ASSERT_EQ(rows.size(), 3u) << read_file(out + "/results.md");
  EXPECT_EQ(rows[0].rfind("| grouped | 2 | 4 | ", 0), 0u) << rows[0];
  EXPECT_EQ(rows[1].rfind("| standard | – | – | ", 0), 0u) << rows[1];
  EXPECT_EQ(rows[2].rfind("| acdc-net m=4 | 4 | – | ", 0), 0u) << rows[2];
  EXPECT_NE(rows[1].find("100.0 %"), std::string::npos);  // the reference of the ratio columns
  // The settings line states what the variants share; the atom-drop one variant sets is not
  // claimed for all.
  const auto md_text = read_file(out + "/results.md");
  EXPECT_NE(md_text.find("Settings: 1 epoch, batch 25, "), std::string::npos) << md_text;
  EXPECT_NE(md_text.find(", atom-drop per variant, "), std::string::npos) << md_text;
  const auto csv = lines_of(read_file(out + "/results.csv"));
  ASSERT_EQ(csv.size(), 4u);
  EXPECT_EQ(csv[1].rfind("grouped,conv4,acdc-g-net,2,4,", 0), 0u) << csv[1];
  EXPECT_EQ(csv[2].rfind("standard,conv4,standard,,,", 0), 0u) << csv[2];
  EXPECT_EQ(csv[3].rfind("acdc-net m=4,conv4,acdc-net,4,,", 0), 0u) << csv[3];
  const auto svg = read_file(out + "/results.svg");
  EXPECT_EQ(svg.rfind("<?xml", 0), 0u);
  EXPECT_NE(svg.find("<svg"), std::string::npos);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  EXPECT_NE(svg.find("parameters (log scale)"), std::string::npos);
  size_t circles = 0;
  for (auto at = svg.find("<circle"); at != std::string::npos; at = svg.find("<circle", at + 1)) ++circles;
  EXPECT_EQ(circles, 3u + 2u);  // one per variant + the two legend markers
  EXPECT_NE(svg.find("font-weight=\"bold\" fill=\"#d62728\">standard ("), std::string::npos);  // highlighted
  EXPECT_NE(svg.find(">acdc-net m=4 ("), std::string::npos);
  for (const char* dir : {"grouped", "standard", "acdc-net-m4"}) {
    EXPECT_TRUE(fs::exists(out + "/" + dir + "/results.json")) << dir;
  }
  // The smaller network has fewer parameters (read from the CSV's params column).
  auto params = [](const std::string& row) {
    std::stringstream in(row);
    std::string cell;
    for (int k = 0; k <= 5; ++k) std::getline(in, cell, ',');
    return std::stoll(cell);
  };
  EXPECT_LT(params(csv[3]), params(csv[2]));

  // --resume over a finished sweep reuses every result and rewrites the same table.
  const auto before = read_file(out + "/results.csv");
  ASSERT_EQ(experiments::cmd_classify({"--sweep", tmp / "sweep.ini", "--out", out, "--threads", "1", "--resume"}), 0);
  EXPECT_EQ(read_file(out + "/results.csv"), before);
}

TEST(Classify, CifarReadersFeedClassify) {
  TempDir tmp;
  fs::create_directories(tmp / "c10");
  for (int i = 1; i <= 5; ++i) write_file(tmp / ("c10/data_batch_" + std::to_string(i) + ".bin"), cifar_records(10, 10, false, i));
  write_file(tmp / "c10/test_batch.bin", cifar_records(20, 10, false, 9));
  ASSERT_EQ(experiments::cmd_classify(split_args(tiny("cifar10:" + (tmp / "c10"), tmp / "r10") + " --epochs 1 --augment")), 0);
  auto r10 = read_file(tmp / "r10/results.json");
  EXPECT_EQ(json_number(r10, "test_images"), 20);
  EXPECT_EQ(json_number(r10, "train_images"), 50);
  EXPECT_EQ(json_number(r10, "image_size"), 32);
  EXPECT_EQ(json_number(r10, "classes"), 10);

  fs::create_directories(tmp / "c100");
  write_file(tmp / "c100/train.bin", cifar_records(200, 100, true, 3));
  write_file(tmp / "c100/test.bin", cifar_records(100, 100, true, 4));
  ASSERT_EQ(experiments::cmd_classify(split_args(tiny("cifar100:" + (tmp / "c100"), tmp / "r100") + " --epochs 1")), 0);
  auto r100 = read_file(tmp / "r100/results.json");
  EXPECT_EQ(json_number(r100, "classes"), 100);
  EXPECT_EQ(json_number(r100, "test_images"), 100);
}

#ifdef ACDC_META_HAVE_OPENCV
TEST(Classify, TinyImageNetReaderFeedsClassify) {
  TempDir tmp;
  const std::string root = tmp / "tin";
  const std::vector<std::string> wnids = {"n01443537", "n01629819", "n01641577"};
  std::string wn, ann;
  int64_t counter = 0;
  for (size_t c = 0; c < wnids.size(); ++c) {
    wn += wnids[c] + "\n";
    fs::create_directories(root + "/train/" + wnids[c] + "/images");
    auto label = torch::full({8}, static_cast<int64_t>(c), torch::kLong);
    auto imgs = class_images(label, 16, 3, 10 + c).contiguous();
    for (int64_t i = 0; i < 8; ++i) {
      cv::Mat m(16, 16, CV_8UC3, imgs[i].data_ptr<uint8_t>());
      const auto name = wnids[c] + "_" + std::to_string(i) + ".JPEG";
      ASSERT_TRUE(cv::imwrite(root + "/train/" + wnids[c] + "/images/" + name, m));
    }
    for (int64_t i = 0; i < 3; ++i) {
      cv::Mat m(16, 16, CV_8UC3, imgs[i].data_ptr<uint8_t>());
      const auto name = "val_" + std::to_string(counter++) + ".JPEG";
      fs::create_directories(root + "/val/images");
      ASSERT_TRUE(cv::imwrite(root + "/val/images/" + name, m));
      ann += name + "\t" + wnids[c] + "\t0\t0\t15\t15\n";
    }
  }
  write_file(root + "/wnids.txt", wn);
  write_file(root + "/val/val_annotations.txt", ann);
  ASSERT_EQ(experiments::cmd_classify(split_args(tiny("tinyimagenet:" + root, tmp / "rt", 8) + " --epochs 1")), 0);
  auto r = read_file(tmp / "rt/results.json");
  EXPECT_EQ(json_number(r, "classes"), 3);
  EXPECT_EQ(json_number(r, "train_images"), 24);
  EXPECT_EQ(json_number(r, "test_images"), 9);  // the official val set serves as test
  EXPECT_EQ(json_number(r, "image_size"), 16);
}
#endif

// ---- bad usage through the real binary ----

TEST(ClassifyCli, BadFlagsExit2NamingThem) {
  TempDir tmp;
  write_idx_dataset(tmp / "fmnist", 20, 10);
  const std::string data = "--dataset fashion-mnist:" + (tmp / "fmnist") + " --out " + (tmp / "x");
  struct Case {
    std::string args, names;
  };
  const std::vector<Case> cases = {
      {"classify --no-such-flag", "--no-such-flag"},
      {"classify " + data + " --lr -1", "--lr"},
      {"classify " + data + " --schedule linear", "--schedule"},
      {"classify " + data + " --momentum 1.5", "--momentum"},
      {"classify " + data + " --epochs 0", "--epochs"},
      {"classify " + data + " --conv acdc-nett", "acdc-nett"},
      {"classify " + data + " --backbone resnet99", "resnet99"},
      {"classify " + data + " --milestones 3,x", "--milestones"},
      {"classify " + data + " --channels 3", "--channels"},
      {"classify --dataset fashion-mnist:" + (tmp / "nowhere") + " --out " + (tmp / "y"), "nowhere"},
      {"classify --out " + (tmp / "z") + " --resume", "--resume"},
      {"classify --epochs 2", "--out"},
      {"classify --sweep " + (tmp / "missing.ini") + " --out " + (tmp / "s"), "missing.ini"},
  };
  for (const auto& c : cases) {
    const auto r = run_acdc_meta(c.args);
    EXPECT_EQ(r.code, 2) << c.args << "\n" << r.output;
    EXPECT_NE(r.output.find(c.names), std::string::npos) << c.args << "\n" << r.output;
  }
  // Sweep files: an unknown key names the file, the section and the key; an impossible
  // combination stops the sweep before any training.
  write_file(tmp / "bad.ini", "dataset = fashion-mnist:" + (tmp / "fmnist") + "\n[v1]\nconv = acdc-net\nlearning-rate = 3\n");
  auto r = run_acdc_meta("classify --sweep " + (tmp / "bad.ini") + " --out " + (tmp / "s1"));
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("bad.ini [v1]"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("learning-rate"), std::string::npos) << r.output;
  write_file(tmp / "bad2.ini", "dataset = fashion-mnist:" + (tmp / "fmnist") +
                                   "\nwidth = 8\nepochs = 1\n[ok]\nconv = standard\n[broken]\nbackbone = wrn-15-1\n");
  r = run_acdc_meta("classify --sweep " + (tmp / "bad2.ini") + " --out " + (tmp / "s2") + " --threads 1");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("[broken]"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(tmp / "s2/ok/last.h5"));  // nothing trained
  write_file(tmp / "bad3.ini", "[sweep]\natoms = 4\n");
  r = run_acdc_meta("classify --sweep " + (tmp / "bad3.ini") + " --out " + (tmp / "s3"));
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("conv"), std::string::npos) << r.output;
  // --help lists the options.
  r = run_acdc_meta("classify --help");
  EXPECT_EQ(r.code, 0);
  for (const char* flag : {"--sweep", "--nesterov", "--weight-decay", "--schedule", "--augment", "--resume", "--json"}) {
    EXPECT_NE(r.output.find(flag), std::string::npos) << flag;
  }
}

// Issue 13, item 6: batch, image and thread counts beyond what a machine can hold are refused
// before the data set is read, naming the flag and the value.
TEST(ClassifyCli, OversizedSizesExit2NamingTheValue) {
  TempDir tmp;
  write_idx_dataset(tmp / "fmnist", 20, 10);
  const std::string data = "classify --dataset fashion-mnist:" + (tmp / "fmnist") + " --out " + (tmp / "x");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {" --batch-size 100000000", "--batch-size must be at most 131072"},
      {" --eval-batch-size 100000000", "--eval-batch-size must be at most 131072"},
      {" --image-size 1000000", "--image-size must be at most 1024"},
      {" --threads 100000", "--threads must be at most 1024"},
      {" --augment --crop-padding 100000000", "--crop-padding must be at most 1024"},
      {" --backbone wrn-16-100000", "width K = 100000 is more than 64"},
  };
  for (const auto& [flags, expect] : cases) {
    const auto r = run_acdc_meta(data + flags);
    EXPECT_EQ(r.code, 2) << flags << "\n" << r.output;
    EXPECT_NE(r.output.find(expect), std::string::npos) << flags << "\n" << r.output;
    EXPECT_NE(r.output.find(flags.substr(flags.rfind(' ') + 1)), std::string::npos) << flags << "\n" << r.output;
  }
  EXPECT_FALSE(fs::exists(tmp / "x/last.h5"));
}

TEST(ClassifyCli, JsonAndConfigFile) {
  TempDir tmp;
  write_idx_dataset(tmp / "fmnist", 40, 20);
  write_file(tmp / "c.ini", "dataset = fashion-mnist:" + (tmp / "fmnist") +
                                "\nbackbone = conv4\nwidth = 8\nepochs = 1\nbatch-size = 20\nconv = acdc-block\natoms = 3\n");
  const auto r = run_acdc_meta("classify --config " + (tmp / "c.ini") + " --out " + (tmp / "j") + " --json --threads 1", /*merge_stderr=*/false);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(r.output.rfind("{", 0), 0u) << r.output;  // stdout is one JSON object
  EXPECT_NE(r.output.find("\"conv\": \"acdc-block\""), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("\"atoms\": 3"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("\"test_accuracy\": "), std::string::npos) << r.output;
}

}  // namespace
