// train / eval / export: the checkpoint round trip in-process, and the real binary
// (ACDC_META_BIN) on a tiny fixture data set written here as raw IDX files (MNIST layout,
// 16x16, 10 classes): resume equals an uninterrupted run, eval is deterministic, train ->
// eval -> export end to end, and bad flags / impossible combinations exit 2 naming them.

#include "backbones/registry.h"
#include "datasets/h5.h"
#include "experiments/checkpoint.h"
#include "experiments/fewshot.h"
#include "experiments/run_config.h"
#include "meta/maml.h"

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <unistd.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/wait.h>

namespace {

namespace fs = std::filesystem;

struct Result {
  int code;
  std::string output;  // stdout + stderr
};

Result run(const std::string& args, bool merge_stderr = true) {
  const std::string cmd = std::string(ACDC_META_BIN) + " " + args + (merge_stderr ? " 2>&1" : " 2>/dev/null");
  FILE* pipe = popen(cmd.c_str(), "r");
  std::string out;
  std::array<char, 4096> buf{};
  while (pipe && fgets(buf.data(), static_cast<int>(buf.size()), pipe)) out += buf.data();
  const int status = pipe ? pclose(pipe) : -1;
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void put_be32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xff));
}

// Raw IDX files: `per_class` 16x16 images of each of 10 classes. A class is a bright square at
// a class-specific position plus noise, so a few meta-iterations learn something.
void write_idx(const std::string& dir, const std::string& prefix, int64_t per_class, uint64_t seed) {
  const int64_t n = 10 * per_class, side = 16;
  torch::manual_seed(seed);
  auto images = (torch::rand({n, side, side}) * 60).to(torch::kUInt8);
  auto labels = torch::arange(n, torch::kLong).remainder(10);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t c = labels[i].item<int64_t>();
    const int64_t r = (c / 4) * 5, col = (c % 4) * 4;
    images[i].narrow(0, r, 5).narrow(1, col, 4).fill_(220);
  }
  std::string img, lbl;
  put_be32(img, 2051);
  put_be32(img, static_cast<uint32_t>(n));
  put_be32(img, side);
  put_be32(img, side);
  img.append(reinterpret_cast<const char*>(images.contiguous().data_ptr<uint8_t>()), static_cast<size_t>(n * side * side));
  put_be32(lbl, 2049);
  put_be32(lbl, static_cast<uint32_t>(n));
  auto lbl8 = labels.to(torch::kUInt8).contiguous();
  lbl.append(reinterpret_cast<const char*>(lbl8.data_ptr<uint8_t>()), static_cast<size_t>(n));
  std::ofstream(dir + "/" + prefix + "-images-idx3-ubyte", std::ios::binary) << img;
  std::ofstream(dir + "/" + prefix + "-labels-idx1-ubyte", std::ios::binary) << lbl;
}

class Experiments : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/acdc_meta_experiments_XXXXXX";
    root_ = mkdtemp(tmpl);
    fs::create_directories(root_ + "/data");
    write_idx(root_ + "/data", "train", 12, 1);
    write_idx(root_ + "/data", "t10k", 12, 2);
  }
  static void TearDownTestSuite() { fs::remove_all(root_); }

  static std::string dataset() { return "mnist:" + root_ + "/data"; }
  static std::string dir(const std::string& name) { return root_ + "/" + name; }
  // A tiny ACDC-net conv4 (width 8, 16 px, 1 channel), 3-way 1-shot: a second per run.
  static std::string train_args(const std::string& out, const std::string& inner_lr = "0.1") {
    return "train --dataset " + dataset() +
           " --backbone conv4 --conv acdc-net --width 8 --atoms 4 --atom-drop 0.2 --ways 3 --shots 1"
           " --queries 2 --meta-batch 2 --inner-steps 1 --inner-steps-test 2 --inner-lr " + inner_lr + " --learn-inner-lr"
           " --iterations 6 --val-every 3 --val-episodes 4 --threads 1 --seed 5 --out " + out;
  }

  static std::string root_;
};

std::string Experiments::root_;

experiments::RunConfig tiny_config() {
  auto c = experiments::RunConfig::parse_ini(
      "backbone = conv4\nconv = acdc-net\natoms = 4\ngroup-size = 64\natom-drop = 0.2\natom-init = normal\n"
      "ways = 3\nchannels = 1\nimage-size = 16\nwidth = 8\ninner-steps = 2\ninner-steps-test = 3\n"
      "inner-lr = 0.1\nlearn-inner-lr = true\nfirst-order = false\nanneal-first-order = 0\ninner-params = all\n"
      "multi-step-loss = false\nmulti-step-iterations = 0\nmeta-lr = 0.001\nclip-grad = 0\ncosine = false\n"
      "min-meta-lr = 0\niterations = 10\nbn = per-step\n",
      "tiny");
  return c;
}

void expect_same(const acdc::ParamStore& a, const acdc::ParamStore& b) {
  ASSERT_EQ(a.names(), b.names());
  for (int64_t i = 0; i < a.size(); ++i) {
    EXPECT_TRUE(torch::equal(a[i], b[i])) << a.names()[static_cast<size_t>(i)];
  }
}

TEST(RunConfig, IniRoundTripAndDoublesExact) {
  auto c = tiny_config();
  c.set("inner-lr", experiments::format_double(0.1 + 0.2));  // 0.30000000000000004
  const auto back = experiments::RunConfig::parse_ini(c.to_ini(), "again");
  EXPECT_EQ(back, c);
  EXPECT_EQ(back.get_double("inner-lr"), 0.1 + 0.2);
  EXPECT_EQ(experiments::format_double(0.001), "0.001");
  EXPECT_THROW(back.get("no-such-key"), std::invalid_argument);
  EXPECT_THROW(experiments::RunConfig::parse_ini("just words\n", "bad.ini"), std::invalid_argument);
}

TEST(Checkpoint, RoundTripIsExact) {
  const auto config = tiny_config();
  const std::string path = (fs::temp_directory_path() / ("acdc_meta_ckpt_" + std::to_string(getpid()) + ".h5")).string();

  torch::manual_seed(1);
  auto model = backbones::make_backbone(experiments::backbone_options(config));
  meta::Maml maml(*model, experiments::maml_config(config));
  // Two meta-steps: non-trivial Adam moments, learned inner lrs and running statistics.
  for (int64_t it = 0; it < 2; ++it) {
    maml.meta_step(torch::randn({2, 3, 1, 16, 16}), torch::randint(0, 3, {2, 3}), torch::randn({2, 6, 1, 16, 16}),
                   torch::randint(0, 3, {2, 6}), it);
  }
  experiments::CheckpointInfo info;
  info.iteration = 2;
  info.next_episode = 4;
  info.best_val_accuracy = 0.625;
  info.best_iteration = 2;
  info.config = config;
  experiments::save_checkpoint(path, maml, info);
  const auto rng_after_save = torch::rand({8});  // what the generator gives next

  torch::manual_seed(99);  // a different initialisation and generator state
  auto other = backbones::make_backbone(experiments::backbone_options(config));
  meta::Maml restored(*other, experiments::maml_config(config));
  const auto back = experiments::load_checkpoint(path, restored, /*restore_rng=*/true);
  EXPECT_TRUE(torch::equal(torch::rand({8}), rng_after_save));

  expect_same(model->params(), other->params());
  expect_same(model->buffers(), other->buffers());
  expect_same(maml.inner_lrs(), restored.inner_lrs());
  ASSERT_GT(maml.inner_lrs().size(), 0);
  ASSERT_EQ(maml.optimizer().exp_avg().size(), restored.optimizer().exp_avg().size());
  for (size_t i = 0; i < maml.optimizer().exp_avg().size(); ++i) {
    EXPECT_TRUE(torch::equal(maml.optimizer().exp_avg()[i], restored.optimizer().exp_avg()[i]));
    EXPECT_TRUE(torch::equal(maml.optimizer().exp_avg_sq()[i], restored.optimizer().exp_avg_sq()[i]));
  }
  EXPECT_EQ(restored.optimizer().steps(), 2);
  EXPECT_EQ(back.iteration, 2);
  EXPECT_EQ(back.next_episode, 4);
  EXPECT_EQ(back.best_val_accuracy, 0.625);
  EXPECT_EQ(back.best_iteration, 2);
  EXPECT_EQ(back.config.entries(), config.entries());
  // Parameters stay leaves that train: the restored engine takes the same next step.
  const auto sx = torch::randn({1, 3, 1, 16, 16}), qx = torch::randn({1, 6, 1, 16, 16});
  const auto sy = torch::tensor({{0, 1, 2}}), qy = torch::tensor({{0, 1, 2, 0, 1, 2}});
  const auto state = at::detail::getDefaultCPUGenerator().get_state();
  maml.meta_step(sx, sy, qx, qy, 2);
  {
    auto gen = at::detail::getDefaultCPUGenerator();
    gen.set_state(state);
  }
  restored.meta_step(sx, sy, qx, qy, 2);
  expect_same(model->params(), other->params());

  // Another architecture is refused naming the tensor.
  auto wide_cfg = config;
  wide_cfg.set("width", "16");
  auto wide = backbones::make_backbone(experiments::backbone_options(wide_cfg));
  meta::Maml wide_maml(*wide, experiments::maml_config(wide_cfg));
  try {
    experiments::load_checkpoint(path, wide_maml, false);
    ADD_FAILURE() << "a checkpoint of width 8 loaded into width 16";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("features.0"), std::string::npos) << e.what();
  }
  fs::remove(path);
}

TEST(Fewshot, SummaryIsCloserLookInterval) {
  // Accuracies 0.5 and 1.0: mean 75 %, population std 0.25 -> 1.96 * 25 / sqrt(2) = 34.648232...
  const auto s = experiments::summarize({0.5, 1.0});
  EXPECT_EQ(s.episodes, 2);
  EXPECT_DOUBLE_EQ(s.accuracy, 75.0);
  EXPECT_NEAR(s.ci95, 1.96 * 25.0 / std::sqrt(2.0), 1e-12);
}

TEST_F(Experiments, ResumeEqualsUninterrupted) {
  const auto a = dir("uninterrupted"), b = dir("interrupted");
  auto r = run(train_args(a));
  ASSERT_EQ(r.code, 0) << r.output;
  // Stop after 5 iterations as if killed: last.h5 is at iteration 3, metrics.csv has rows 4-5.
  r = run(train_args(b) + " --stop-after 5");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(experiments::read_checkpoint_info(b + "/last.h5").iteration, 3);
  r = run("train --resume --out " + b + " --threads 1");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("resuming"), std::string::npos);

  const auto wa = experiments::read_checkpoint_weights(a + "/last.h5");
  const auto wb = experiments::read_checkpoint_weights(b + "/last.h5");
  ASSERT_EQ(wa.size(), wb.size());
  for (const auto& [name, t] : wa) {
    ASSERT_TRUE(wb.count(name)) << name;
    EXPECT_TRUE(torch::equal(t, wb.at(name))) << name << " differs after resume";
  }
  EXPECT_EQ(experiments::read_checkpoint_info(b + "/last.h5").iteration, 6);
  // metrics.csv: the same rows (minus the wall-clock column), iterations 1..6 once each.
  auto strip = [](const std::string& csv) {
    std::stringstream in(csv), out;
    std::string line;
    while (std::getline(in, line)) {
      std::vector<std::string> cols;
      std::stringstream l(line);
      std::string c;
      while (std::getline(l, c, ',')) cols.push_back(c);
      if (cols.size() > 5) cols[5] = "";
      for (const auto& x : cols) out << x << ",";
      out << "\n";
    }
    return out.str();
  };
  EXPECT_EQ(strip(read_file(a + "/metrics.csv")), strip(read_file(b + "/metrics.csv")));

  // A changed setting is refused on resume, naming it.
  r = run("train --resume --out " + b + " --inner-lr 0.5");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("--inner-lr"), std::string::npos) << r.output;
  // An existing run is not overwritten without --resume.
  r = run(train_args(b));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("--resume"), std::string::npos) << r.output;
}

TEST_F(Experiments, TrainEvalExportEndToEnd) {
  const auto out = dir("e2e");
  auto r = run(train_args(out));
  ASSERT_EQ(r.code, 0) << r.output;
  for (const char* f : {"config.ini", "metrics.csv", "best.h5", "last.h5"}) EXPECT_TRUE(fs::exists(out + "/" + f)) << f;
  // The resolved configuration reads back and records the resolved size/channels/classes.
  const auto cfg = experiments::RunConfig::parse_ini(read_file(out + "/config.ini"), "config.ini");
  EXPECT_EQ(cfg.get("image-size"), "16");
  EXPECT_EQ(cfg.get("channels"), "1");
  EXPECT_EQ(cfg.get("classes"), "3");
  EXPECT_EQ(cfg.get("conv"), "acdc-net");
  // metrics.csv: header + 6 rows, validation at 3 and 6.
  std::stringstream csv(read_file(out + "/metrics.csv"));
  std::string line;
  int rows = 0;
  std::getline(csv, line);
  EXPECT_EQ(line, "iteration,loss,accuracy,meta_lr,second_order,seconds,val_accuracy,val_ci95");
  while (std::getline(csv, line)) {
    ++rows;
    const bool val_row = rows % 3 == 0;
    EXPECT_EQ(line.back() != ',', val_row) << line;
  }
  EXPECT_EQ(rows, 6);

  // eval --json: two shot counts, every setting recorded.
  r = run("eval --run " + out + " --episodes 5 --shots 1,2 --queries 3 --threads 1 --json", /*merge_stderr=*/false);
  ASSERT_EQ(r.code, 0) << r.output;
  for (const char* key : {"\"results\"", "\"settings\"", "\"shots\": 1", "\"shots\": 2", "\"episodes\": 5",
                          "\"accuracy\"", "\"ci95\"", "\"backbone\": \"conv4\"", "\"conv\": \"acdc-net\"", "\"atoms\": 4",
                          "\"group_size\"", "\"image_size\": 16", "\"bn\": \"transductive\"", "\"inner_steps_train\": 1",
                          "\"inner_steps_test\": 2", "\"order\": \"second\"", "\"checkpoint\"", "\"seeds\"",
                          "\"parameters_standard_conv\""}) {
    EXPECT_NE(r.output.find(key), std::string::npos) << key << " missing in\n" << r.output;
  }
  // Deterministic: the same seed gives the same figures, to the last digit.
  const auto again = run("eval --run " + out + " --episodes 5 --shots 1,2 --queries 3 --threads 1 --json", false);
  EXPECT_EQ(again.output, r.output);

  // export pt: a pickled dict that reads back (torch.load reads the same bytes) equal to the checkpoint.
  const auto weights = experiments::read_checkpoint_weights(out + "/best.h5");
  r = run("export --run " + out + " --format pt --out " + out + "/weights.pt");
  ASSERT_EQ(r.code, 0) << r.output;
  const auto bytes = read_file(out + "/weights.pt");
  ASSERT_GT(bytes.size(), 4u);
  EXPECT_EQ(bytes.substr(0, 2), "PK");  // torch.save's zip container
  const auto dict = torch::pickle_load(std::vector<char>(bytes.begin(), bytes.end())).toGenericDict();
  EXPECT_EQ(dict.size(), weights.size());
  for (const auto& [name, t] : weights) {
    ASSERT_TRUE(dict.contains(name)) << name;
    EXPECT_TRUE(torch::equal(dict.at(name).toTensor(), t)) << name;
  }
  EXPECT_TRUE(weights.count("head.weight"));
  EXPECT_TRUE(weights.count("inner_lr.head.weight"));

  // export h5: one dataset per tensor under its name, the configuration as attributes.
  r = run("export --run " + out + " --checkpoint last --format h5 --out " + out + "/weights.h5");
  ASSERT_EQ(r.code, 0) << r.output;
  const auto h5 = datasets::H5File::open(out + "/weights.h5");
  const auto last = experiments::read_checkpoint_weights(out + "/last.h5");
  EXPECT_EQ(h5.list("/").size(), last.size());
  for (const auto& [name, t] : last) EXPECT_TRUE(torch::equal(h5.read_tensor(name), t)) << name;
  EXPECT_EQ(h5.attr_string("/", "conv"), "acdc-net");
  EXPECT_EQ(h5.attr_string("/", "width"), "8");
  EXPECT_EQ(h5.attr_int("/", "acdc_meta.iteration"), 6);
  // No temporary left next to the outputs.
  for (const auto& e : fs::directory_iterator(out)) {
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();
  }
}

TEST_F(Experiments, BadFlagsExit2NamingThem) {
  struct Case {
    std::string args, expect;
  };
  const std::string base = "train --dataset " + dataset() + " --width 8 --threads 1 --out " + dir("bad");
  std::vector<Case> cases = {
      {base + " --ways 6", "--ways 6"},              // the train split has 5 classes
      {base + " --shots 0", "--shots"},
      {base + " --backbone resnet999", "resnet999"},
      {base + " --conv acdc-nope", "acdc-nope"},
      {base + " --inner-params atomz", "--inner-params"},
      {base + " --bn sometimes", "--bn"},
      {base + " --device tpu", "--device"},
      {base + " --device cuda:99", "--device cuda:99"},
      {base + " --no-such-flag", "--no-such-flag"},
      {base + " --config " + dir("missing.ini"), "missing.ini"},
      {"train --dataset " + dataset(), "--out"},
      {"eval --run " + dir("nowhere"), "nowhere"},
      {"export --checkpoint " + dir("nowhere.h5") + " --format pt --out x.pt", "nowhere.h5"},
      {"export --checkpoint " + dir("nowhere.h5") + " --format zip --out x.zip", "--format"},
  };
  if (!torch::cuda::is_available()) cases.push_back({base + " --device cuda", "--device cuda"});
  for (const auto& c : cases) {
    const auto r = run(c.args);
    EXPECT_EQ(r.code, 2) << c.args << "\n" << r.output;
    EXPECT_NE(r.output.find(c.expect), std::string::npos) << c.args << "\n" << r.output;
  }
  EXPECT_FALSE(fs::exists(dir("bad") + "/last.h5"));
}

TEST_F(Experiments, EvalRejectsImpossibleSettings) {
  const auto out = dir("evalbad");
  ASSERT_EQ(run(train_args(out)).code, 0);
  for (const auto& [args, expect] : std::vector<std::pair<std::string, std::string>>{
           {"--shots 0", "--shots"},
           {"--shots 1,x", "--shots"},
           {"--ways 4", "--ways 4"},
           {"--split holdout", "--split"},
           {"--episodes 0", "--episodes"},
           {"--checkpoint nowhere.h5", "nowhere.h5"}}) {
    const auto r = run("eval --run " + out + " --threads 1 " + args);
    EXPECT_EQ(r.code, 2) << args << "\n" << r.output;
    EXPECT_NE(r.output.find(expect), std::string::npos) << args << "\n" << r.output;
  }
}

TEST_F(Experiments, NonFiniteLossStopsKeepingLastGoodCheckpoint) {
  const auto out = dir("nan");
  // An absurd inner lr makes the adapted weights overflow: the loss goes non-finite.
  const auto r = run(train_args(out, "1e30"));
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("non-finite"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("at iteration 1"), std::string::npos) << r.output;
  const auto info = experiments::read_checkpoint_info(out + "/last.h5");
  EXPECT_EQ(info.iteration, 0);
}

}  // namespace
