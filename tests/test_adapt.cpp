// acdc-meta adapt: a tiny run meta-trained here on PNG and JPEG files written by OpenCV (a
// `folder:` data set) adapts to a support folder of new classes and classifies query images,
// through the real binary (ACDC_META_BIN): the text with accuracy and confusion matrix, the CSV
// (--out), the JSON, the adapted weights (--save-adapted); the predictions equal meta::Maml's adapt
// and forward run in this test on tensors it decodes itself; bad input exits 2 naming the
// folder, file or flag.

#include "acdc/winograd.h"
#include "backbones/registry.h"
#include "datasets/storage/h5.h"
#include "datasets/storage/json.h"
#include "experiments/runs/checkpoint.h"
#include "experiments/runs/settings.h"
#include "meta/maml.h"
#include "tests/support/acdc_meta.h"
#include "tests/support/files.h"
#include "tests/support/images.h"
#include "tests/support/temp_dir.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#ifdef ACDC_META_HAVE_OPENCV
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#endif

#include <algorithm>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <vector>

#ifdef ACDC_META_HAVE_OPENCV

namespace {

namespace fs = std::filesystem;
using support::run_acdc_meta;

// Writes uint8 RGB images [n, H, W, 3] (or grayscale [n, H, W, 1]) as DIR/<i>.<ext>.
void write_images(const std::string& dir, const torch::Tensor& images, const std::string& ext) {
  fs::create_directories(dir);
  const auto im = images.contiguous();
  for (int64_t i = 0; i < im.size(0); ++i) {
    const int channels = static_cast<int>(im.size(3));
    cv::Mat m(static_cast<int>(im.size(1)), static_cast<int>(im.size(2)), channels == 1 ? CV_8UC1 : CV_8UC3,
              im[i].data_ptr<uint8_t>());
    cv::Mat out = m;
    if (channels == 3) cv::cvtColor(m, out, cv::COLOR_RGB2BGR);  // imwrite takes BGR
    ASSERT_TRUE(cv::imwrite(dir + "/" + std::to_string(i) + "." + ext, out)) << dir;
  }
}

// `count` images of fixture class `label` (a bright block at a class-specific place), 16 px RGB.
torch::Tensor images_of_class(int64_t label, int64_t count, uint64_t seed) {
  return support::class_images(torch::full({count}, label, torch::kLong), 16, 3, seed);
}

class Adapt : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tmp_ = std::make_unique<support::TempDir>("acdc_meta_adapt_");
    root_ = tmp_->str();
    // The data set: train/ with 5 classes, val/ with 3 (folder: layout), PNG and JPEG files.
    for (int64_t c = 0; c < 8; ++c) {
      const std::string split = c < 5 ? "train" : "val";
      write_images(root_ + "/data/" + split + "/class" + std::to_string(c), images_of_class(c, 5, 100 + c),
                   c % 2 == 0 ? "png" : "jpg");
    }
    // Support and query: three classes the run never saw (fixture classes 9, 10, 11).
    const std::vector<std::string> names = {"ant", "bee", "cat"};
    for (size_t c = 0; c < names.size(); ++c) {
      const auto label = static_cast<int64_t>(9 + c);
      write_images(root_ + "/support/" + names[c], images_of_class(label, 2, 200 + c), "png");
      write_images(root_ + "/query/" + names[c], images_of_class(label, 2, 300 + c), c == 1 ? "jpg" : "png");
    }
    write_images(root_ + "/flat", images_of_class(10, 3, 400), "png");
    // A tiny ACDC-net Conv4 (width 8, 16 px RGB), 3-way 1-shot, learned inner lrs.
    const auto r = run_acdc_meta(
        "train --dataset folder:" + root_ + "/data --backbone conv4 --conv acdc-net --width 8 --atoms 4 --ways 3"
        " --shots 1 --queries 2 --meta-batch 2 --inner-steps 1 --inner-steps-test 2 --inner-lr 0.1 --learn-inner-lr"
        " --iterations 4 --val-every 2 --val-episodes 2 --threads 1 --seed 3 --out " + run_dir());
    train_code_ = r.code;
    train_output_ = r.output;
  }
  static void TearDownTestSuite() { tmp_.reset(); }

  void SetUp() override { ASSERT_EQ(train_code_, 0) << train_output_; }

  static std::string dir(const std::string& name) { return root_ + "/" + name; }
  static std::string run_dir() { return dir("run"); }
  static std::string base() {
    return "adapt --run " + run_dir() + " --support " + dir("support") + " --threads 1 ";
  }

  static std::unique_ptr<support::TempDir> tmp_;
  static std::string root_, train_output_;
  static int train_code_;
};

std::unique_ptr<support::TempDir> Adapt::tmp_;
std::string Adapt::root_, Adapt::train_output_;
int Adapt::train_code_ = -1;

// What the test computes itself: the run's engine adapted on the support files and its query
// probabilities, from pixels decoded here (cv::imread, BGR -> RGB) and normalised with the
// ImageNet constants that `folder:` runs use (datasets/dataset.cpp: normalization_for_kind).
struct Reference {
  std::vector<torch::Tensor> fast;
  torch::Tensor probs;  // [queries, classes]
};

torch::Tensor load_rgb(const std::vector<std::string>& files) {
  std::vector<torch::Tensor> out;
  for (const auto& f : files) {
    cv::Mat bgr = cv::imread(f, cv::IMREAD_COLOR), rgb;
    EXPECT_FALSE(bgr.empty()) << f;
    cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
    out.push_back(torch::from_blob(rgb.data, {rgb.rows, rgb.cols, 3}, torch::kUInt8).clone());
  }
  auto x = torch::stack(out).permute({0, 3, 1, 2}).to(torch::kFloat).div_(255.0f);
  const auto mean = torch::tensor({0.485f, 0.456f, 0.406f}).view({1, 3, 1, 1});
  const auto std = torch::tensor({0.229f, 0.224f, 0.225f}).view({1, 3, 1, 1});
  return x.sub_(mean).div_(std).contiguous();
}

Reference reference(const std::string& checkpoint, const std::vector<std::string>& support_files,
                    const std::vector<int64_t>& support_labels, const std::vector<std::string>& query_files,
                    int64_t classes, int64_t steps) {
  at::set_num_threads(1);
  const auto info = experiments::read_checkpoint_info(checkpoint);
  const auto s = experiments::meta_train_settings().from_config(info.config);
  auto model = backbones::make_backbone(s.network());
  meta::Maml maml(*model, s.maml());
  experiments::load_checkpoint(checkpoint, maml, /*restore_rng=*/false);
  Reference r;
  r.fast = maml.adapt(load_rgb(support_files), torch::tensor(support_labels, torch::kLong), steps,
                      /*create_graph=*/false, /*training=*/false);
  torch::NoGradGuard no_grad;
  backbones::ForwardOptions fo;
  fo.training = false;
  fo.bn = s.bn;
  fo.step = steps;
  r.probs = torch::softmax(model->forward_with(load_rgb(query_files), r.fast, fo).narrow(1, 0, classes), 1)
                .to(torch::kDouble);
  return r;
}

std::vector<std::string> files_in(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

TEST_F(Adapt, ClassifiesALabelledQueryFolderWithAccuracyCsvAndConfusionMatrix) {
  const auto csv = dir("predictions.csv");
  const auto r = run_acdc_meta(base() + "--query " + dir("query") + " --out " + csv);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("3 classes (ant, bee, cat) from 6 support images, 2 adaptation steps"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("accuracy: "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("confusion matrix (rows: true class, columns: predicted)"), std::string::npos) << r.output;
  const auto rows = support::lines_of(support::read_file(csv));
  ASSERT_EQ(rows.size(), 7u) << support::read_file(csv);  // header + one row per query image
  EXPECT_EQ(rows[0], "file,label,predicted,probability,top");
  for (const char* cls : {"ant", "bee", "cat"}) {
    for (const char* file : {"/0.", "/1."}) {
      const std::string prefix = dir("query") + "/" + cls + file;
      bool found = false;
      for (const auto& row : rows) found = found || row.rfind(prefix, 0) == 0;
      EXPECT_TRUE(found) << prefix << " missing in\n" << support::read_file(csv);
    }
  }
  for (const auto& f : files_in(root_)) EXPECT_EQ(f.find(".tmp-"), std::string::npos) << "temporary left: " << f;
}

TEST_F(Adapt, JsonPredictionsEqualMamlAdaptAndForwardRunDirectly) {
  for (const int64_t steps : {2, 1}) {
    const auto r = run_acdc_meta(base() + "--query " + dir("query") + " --json" +
                                     (steps == 1 ? " --steps 1 --checkpoint last" : ""),
                                 /*merge_stderr=*/false);
    ASSERT_EQ(r.code, 0) << r.output;
    const auto j = storage::parse_json(r.output, "adapt --json");
    EXPECT_EQ(j.at("steps").get<int64_t>(), steps);
    EXPECT_EQ(j.at("classes"), storage::json({"ant", "bee", "cat"}));
    EXPECT_EQ(j.at("support_images").get<int64_t>(), 6);

    std::vector<std::string> support_files;
    std::vector<int64_t> labels;
    const std::vector<std::string> names = {"ant", "bee", "cat"};
    std::vector<std::string> query_files;
    for (size_t c = 0; c < names.size(); ++c) {
      for (const auto& f : files_in(dir("support/" + names[c]))) {
        support_files.push_back(f);
        labels.push_back(static_cast<int64_t>(c));
      }
      for (const auto& f : files_in(dir("query/" + names[c]))) query_files.push_back(f);
    }
    const auto checkpoint = run_dir() + (steps == 1 ? "/last.h5" : "/best.h5");
    const auto ref = reference(checkpoint, support_files, labels, query_files, 3, steps);

    const auto& preds = j.at("predictions");
    ASSERT_EQ(preds.size(), query_files.size());
    int64_t correct = 0;
    for (size_t i = 0; i < preds.size(); ++i) {
      const auto& p = preds[i];
      EXPECT_EQ(p.at("file").get<std::string>(), query_files[i]);
      const int64_t want = ref.probs[static_cast<int64_t>(i)].argmax().item<int64_t>();
      EXPECT_EQ(p.at("predicted").get<std::string>(), names[static_cast<size_t>(want)]) << i;
      // Same operations on the same pixels, one thread each: float32 rounding at most.
      EXPECT_NEAR(p.at("probability").get<double>(), ref.probs[static_cast<int64_t>(i)][want].item<double>(), 1e-6);
      ASSERT_EQ(p.at("top").size(), 3u);
      for (size_t k = 0; k < 3; ++k) {
        const auto cls = p.at("top")[k].at("class").get<std::string>();
        const auto c = std::find(names.begin(), names.end(), cls) - names.begin();
        EXPECT_NEAR(p.at("top")[k].at("probability").get<double>(), ref.probs[static_cast<int64_t>(i)][c].item<double>(),
                    1e-6);
      }
      correct += p.at("label").get<std::string>() == names[static_cast<size_t>(want)] ? 1 : 0;
    }
    EXPECT_EQ(j.at("correct").get<int64_t>(), correct);
    EXPECT_NEAR(j.at("accuracy").get<double>(), 100.0 * static_cast<double>(correct) / 6.0, 1e-9);
    EXPECT_EQ(j.at("confusion").size(), 3u);
  }
}

TEST_F(Adapt, FlatQueryFolderAndImageFilesHaveNoAccuracy) {
  auto r = run_acdc_meta(base() + "--query " + dir("flat") + " --top-k 2");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(r.output.find("accuracy"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(dir("flat") + "/2.png"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("top-2"), std::string::npos) << r.output;
  r = run_acdc_meta(base() + "--query " + dir("flat") + "/0.png " + dir("query") + "/bee/1.jpg --json",
                    /*merge_stderr=*/false);
  ASSERT_EQ(r.code, 0) << r.output;
  const auto j = storage::parse_json(r.output, "adapt --json");
  ASSERT_EQ(j.at("predictions").size(), 2u);
  EXPECT_EQ(j.at("predictions")[1].at("file").get<std::string>(), dir("query") + "/bee/1.jpg");
  EXPECT_FALSE(j.contains("accuracy"));
}

TEST_F(Adapt, SaveAdaptedWritesTheAdaptedWeightsInTheExportFormat) {
  const auto out = dir("adapted.h5");
  const auto r = run_acdc_meta(base() + "--query " + dir("query") + " --save-adapted " + out);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("written to " + out), std::string::npos) << r.output;
  std::vector<std::string> support_files, query_files;
  std::vector<int64_t> labels;
  const std::vector<std::string> names = {"ant", "bee", "cat"};
  for (size_t c = 0; c < names.size(); ++c) {
    for (const auto& f : files_in(dir("support/" + names[c]))) {
      support_files.push_back(f);
      labels.push_back(static_cast<int64_t>(c));
    }
    for (const auto& f : files_in(dir("query/" + names[c]))) query_files.push_back(f);
  }
  const auto ref = reference(run_dir() + "/best.h5", support_files, labels, query_files, 3, 2);
  // The export's tensors are the adapted ones (parameter-dictionary names), not the meta parameters.
  const auto info = experiments::read_checkpoint_info(run_dir() + "/best.h5");
  auto model = backbones::make_backbone(experiments::meta_train_settings().from_config(info.config).network());
  const auto h5 = storage::H5File::open(out);
  const auto& slots = model->params();
  for (int64_t i = 0; i < slots.size(); ++i) {
    const auto& name = slots.names()[static_cast<size_t>(i)];
    const auto saved = h5.read_tensor(name);
    EXPECT_TRUE(torch::allclose(saved, ref.fast[static_cast<size_t>(i)].detach(), 1e-5, 1e-6)) << name;
  }
  // No temporary checkpoint is left beside it.
  for (const auto& f : files_in(root_)) EXPECT_EQ(f.find("adapted-checkpoint"), std::string::npos) << f;
}

TEST_F(Adapt, GrayscaleSupportForAnRgbRunIsConvertedAndSaysSo) {
  const auto gray = dir("gray-support");
  for (const char* cls : {"ant", "bee"}) {
    write_images(gray + "/" + cls, support::class_images(torch::full({2}, int64_t{9}, torch::kLong), 16, 1, 7), "png");
  }
  const auto r = run_acdc_meta("adapt --run " + run_dir() + " --support " + gray + " --query " + dir("flat"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("support class 'ant': grayscale images converted to RGB (the run has 3 channels)"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("the head has 3 outputs; only the first 2"), std::string::npos) << r.output;
}

TEST_F(Adapt, BadInputExits2NamingIt) {
  // An empty class folder.
  fs::create_directories(dir("bad-empty/ant"));
  write_images(dir("bad-empty/bee"), images_of_class(9, 1, 1), "png");
  // An image that does not decode.
  write_images(dir("bad-decode/ant"), images_of_class(9, 1, 1), "png");
  support::write_file(dir("bad-decode/bee/broken.png"), "not a png at all");
  // More classes than the head has outputs.
  for (const char* cls : {"a", "b", "c", "d"}) write_images(dir("bad-four/") + cls, images_of_class(9, 1, 1), "png");
  // A query class that is not a support class.
  write_images(dir("bad-query/dog"), images_of_class(9, 1, 1), "png");

  const std::string q = " --query " + dir("query"), flat = " --query " + dir("flat");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"adapt --run " + run_dir() + " --support " + dir("bad-empty") + flat, dir("bad-empty") + "/ant' holds no images"},
      {"adapt --run " + run_dir() + " --support " + dir("bad-decode") + flat,
       "image '" + dir("bad-decode") + "/bee/broken.png' (support class 'bee') does not decode"},
      {"adapt --run " + run_dir() + " --support " + dir("bad-four") + flat,
       "has 4 classes (a, b, c, d), more than the 3 outputs of the run's head"},
      {base() + "--query " + dir("bad-query"), dir("bad-query") + "/dog' is not a class of the support set"},
      {base() + "--query " + dir("nothing.png"), dir("nothing.png") + "' does not exist"},
      {"adapt --run " + dir("no-such-run") + " --support " + dir("support") + q,
       "--run " + dir("no-such-run") + ": no such run directory"},
      {"adapt --run " + run_dir() + " --checkpoint " + dir("none.h5") + " --support " + dir("support") + q,
       "no checkpoint '" + dir("none.h5") + "'"},
      {"adapt --run " + run_dir() + " --support " + dir("no-support") + q, dir("no-support") + "' does not exist"},
      {base() + q + " --steps -2", "--steps must be >= 0"},
      {base() + q + " --save-adapted " + dir("w.bin"), "--save-adapted " + dir("w.bin")},
      {base() + q + " --out " + dir("missing/p.csv"), "--out"},
      {base() + q + " --out " + run_dir() + "/best.h5", "--out " + run_dir() + "/best.h5"},
      {base(), "--query"},
  };
  for (const auto& [args, needle] : cases) {
    const auto r = run_acdc_meta(args);
    EXPECT_EQ(r.code, 2) << args << "\n" << r.output;
    EXPECT_NE(r.output.find(needle), std::string::npos) << args << "\n" << r.output;
  }
}

// eval --show-episode I: episode I as eval samples and adapts it; its accuracy is one term of
// eval's mean over episodes 0..N-1.
TEST_F(Adapt, EvalShowEpisodeIsOneTermOfEvalsMean) {
  const std::string eval = "eval --run " + run_dir() + " --split val --queries 2 --threads 1 --json";
  double sum = 0.0;
  for (const int64_t i : {0, 1}) {
    const auto r = run_acdc_meta(eval + " --show-episode " + std::to_string(i), /*merge_stderr=*/false);
    ASSERT_EQ(r.code, 0) << r.output;
    const auto j = storage::parse_json(r.output, "eval --show-episode");
    EXPECT_EQ(j.at("episode").get<int64_t>(), i);
    ASSERT_EQ(j.at("classes").size(), 3u);
    std::set<int64_t> rows;
    for (const auto& c : j.at("classes")) {
      ASSERT_EQ(c.at("support_rows").size(), 1u);
      rows.insert(c.at("support_rows")[0].get<int64_t>());
      EXPECT_EQ(c.at("name").get<std::string>().rfind("class", 0), 0u) << c;
    }
    ASSERT_EQ(j.at("predictions").size(), 6u);
    for (const auto& p : j.at("predictions")) rows.insert(p.at("row").get<int64_t>());
    EXPECT_EQ(rows.size(), 9u) << "support and query rows are distinct";
    sum += j.at("accuracy").get<double>();
  }
  const auto r = run_acdc_meta(eval + " --episodes 2", /*merge_stderr=*/false);
  ASSERT_EQ(r.code, 0) << r.output;
  const auto j = storage::parse_json(r.output, "eval --json");
  // eval's per-episode accuracy is a mean in double (meta/maml.cpp: accuracy): rounding only.
  EXPECT_NEAR(j.at("results")[0].at("accuracy").get<double>(), sum / 2.0, 1e-4);
  // The machine the result was computed on: its last bits depend on the CPU's kernels.
  EXPECT_FALSE(j.at("machine").at("cpu").get<std::string>().empty());
  EXPECT_EQ(j.at("machine").at("winograd").get<std::string>(), acdc::winograd_status());

  const auto text = run_acdc_meta("eval --run " + run_dir() + " --split val --queries 2 --show-episode 1");
  ASSERT_EQ(text.code, 0) << text.output;
  EXPECT_NE(text.output.find("episode 1 of the val split"), std::string::npos) << text.output;
  EXPECT_NE(text.output.find("accuracy: "), std::string::npos) << text.output;
  const auto bad = run_acdc_meta("eval --run " + run_dir() + " --split val --show-episode -1");
  EXPECT_EQ(bad.code, 2) << bad.output;
  EXPECT_NE(bad.output.find("--show-episode must be >= 0"), std::string::npos) << bad.output;
}

TEST_F(Adapt, HelpExplainsEveryOption) {
  const auto r = run_acdc_meta("adapt --help");
  ASSERT_EQ(r.code, 0) << r.output;
  for (const char* flag : {"--run", "--checkpoint", "--support", "--query", "--steps", "--top-k", "--out",
                           "--save-adapted", "--device", "--threads", "--json"}) {
    EXPECT_NE(r.output.find(flag), std::string::npos) << flag << "\n" << r.output;
  }
}

// Issue 14's commands on a miniImageNet layout (Ravi & Larochelle: {train,val,test}.csv naming
// files in images/), written here as PNGs: a train sweep over two conv types, the report over
// its directory, one shown episode, a materialized export and adapt on images of the test split.
TEST(MiniImageNetLayout, SweepReportShowEpisodeExportAndAdaptThroughTheBinary) {
  support::TempDir tmp("acdc_meta_mini_");
  const std::string root = tmp / "mini";
  int64_t label = 0;
  for (const std::string split : {"train", "val", "test"}) {
    std::string csv = "filename,label\n";
    for (int c = 0; c < 3; ++c, ++label) {
      const std::string wnid = "n0" + std::to_string(1000 + label);
      const auto images = images_of_class(label, 20, 500 + static_cast<uint64_t>(label));  // the sweep evaluates 5 shots + 15 queries
      for (int64_t k = 0; k < 20; ++k) {
        const std::string name = wnid + "_" + std::to_string(k) + ".png";
        write_images(root + "/staging", images.slice(0, k, k + 1), "png");
        fs::create_directories(root + "/images");
        fs::rename(root + "/staging/0.png", root + "/images/" + name);
        csv += name + "," + wnid + "\n";
      }
    }
    support::write_file(root + "/" + split + ".csv", csv);
  }
  const std::string sweep_file = tmp / "sweep.ini";
  support::write_file(sweep_file,
                      "dataset = miniimagenet:" + root +
                          "\nbackbone = conv4\nwidth = 8\natoms = 4\nways = 3\nshots = 1\nqueries = 2\n"
                          "meta-batch = 2\ninner-steps = 1\niterations = 2\nval-every = 2\nval-episodes = 2\n"
                          "threads = 1\n\n[sweep]\nconv = standard, acdc-net\n");
  const std::string out = tmp / "sweep";
  auto r = run_acdc_meta("train --sweep " + sweep_file + " --out " + out + " --eval-episodes 3");
  ASSERT_EQ(r.code, 0) << r.output;
  const auto csv = support::lines_of(support::read_file(out + "/results.csv"));
  ASSERT_EQ(csv.size(), 3u);  // header + standard + acdc-net
  std::vector<std::string> runs;
  for (const auto& e : fs::directory_iterator(out)) {
    if (fs::exists(e.path() / "config.ini")) runs.push_back(e.path().string());
  }
  std::sort(runs.begin(), runs.end());
  ASSERT_EQ(runs.size(), 2u);
  const std::string acdc = runs[0].find("acdc") != std::string::npos ? runs[0] : runs[1];
  EXPECT_TRUE(fs::exists(acdc + "/eval-5shot.json")) << acdc;

  r = run_acdc_meta("report " + out);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("| train |"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("acdc-net"), std::string::npos) << r.output;

  r = run_acdc_meta("eval --run " + acdc + " --queries 2 --show-episode 0 --threads 1");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("episode 0 of the test split"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("support (rows of the test split)"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("accuracy: "), std::string::npos) << r.output;

  r = run_acdc_meta("export --run " + acdc + " --format h5 --materialize --out " + (tmp / "dense.h5"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(fs::exists(tmp / "dense.h5"));

  // Adapt on three test-split classes: 1 support and 2 query images each, as files of the layout.
  const std::vector<std::string> classes = {"n01006", "n01007", "n01008"};
  for (const auto& c : classes) {
    for (int k = 0; k < 3; ++k) {
      const std::string dst = tmp / ((k == 0 ? "support/" : "query/") + c);
      fs::create_directories(dst);
      fs::copy_file(root + "/images/" + c + "_" + std::to_string(k) + ".png",
                    dst + "/" + std::to_string(k) + ".png");
    }
  }
  r = run_acdc_meta("adapt --run " + acdc + " --support " + (tmp / "support") + " --query " + (tmp / "query") +
                    " --threads 1");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("accuracy"), std::string::npos) << r.output;
}

}  // namespace

#endif  // ACDC_META_HAVE_OPENCV
