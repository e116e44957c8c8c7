// train / eval / export: the checkpoint round trip in-process, and the real binary
// (ACDC_META_BIN) on a tiny fixture data set written here as raw IDX files (MNIST layout,
// 16x16, 10 classes): resume equals an uninterrupted run, eval is deterministic, train ->
// eval -> export end to end, and bad flags / impossible combinations exit 2 naming them.

#include "acdc/winograd.h"
#include "backbones/registry.h"
#include "datasets/storage/h5.h"
#include "experiments/runs/checkpoint.h"
#include "experiments/runs/export.h"
#include "experiments/training/meta_test.h"
#include "experiments/runs/run_config.h"
#include "meta/maml.h"
#include "tests/support/acdc_meta.h"
#include "tests/support/files.h"
#include "tests/support/images.h"
#include "tests/support/temp_dir.h"

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <hdf5.h>
#include <torch/torch.h>

#include <signal.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <thread>

namespace {

namespace fs = std::filesystem;

using support::read_file;
using support::run_acdc_meta;
using support::spawn_acdc_meta;

// Edits an HDF5 file in place through the C API, as a damaged or hand-edited checkpoint would be.
class H5Edit {
 public:
  explicit H5Edit(const std::string& path) : file_(H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT)) {
    EXPECT_GE(file_, 0) << path;
  }
  ~H5Edit() {
    if (file_ >= 0) H5Fclose(file_);
  }
  void remove(const std::string& object) { EXPECT_GE(H5Ldelete(file_, object.c_str(), H5P_DEFAULT), 0) << object; }
  void set_int_attr(const std::string& name, int64_t value) {
    const hid_t a = H5Aopen(file_, name.c_str(), H5P_DEFAULT);
    ASSERT_GE(a, 0) << name;
    EXPECT_GE(H5Awrite(a, H5T_NATIVE_INT64, &value), 0);
    H5Aclose(a);
  }
  // Replaces a root attribute by a fixed-length string (how checkpoints store settings); adds it
  // where `must_exist` is false.
  void set_string_attr(const std::string& name, const std::string& value, bool must_exist = true) {
    if (must_exist || H5Aexists(file_, name.c_str()) > 0) {
      EXPECT_GE(H5Adelete(file_, name.c_str()), 0) << name;
    }
    const hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, value.size());
    const hid_t space = H5Screate(H5S_SCALAR);
    const hid_t a = H5Acreate2(file_, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT);
    ASSERT_GE(a, 0) << name;
    EXPECT_GE(H5Awrite(a, type, value.data()), 0);
    H5Aclose(a);
    H5Sclose(space);
    H5Tclose(type);
  }
  // Replaces a dataset by `values` (float, double, uint8 or int64), contiguous and unfiltered:
  // also how a checkpoint written before checksums stored its tensors.
  void replace(const std::string& name, const torch::Tensor& values) {
    remove(name);
    const auto t = values.contiguous();
    const hid_t type = t.scalar_type() == torch::kFloat    ? H5T_NATIVE_FLOAT
                       : t.scalar_type() == torch::kDouble ? H5T_NATIVE_DOUBLE
                       : t.scalar_type() == torch::kByte   ? H5T_NATIVE_UINT8
                                                           : H5T_NATIVE_INT64;
    std::vector<hsize_t> dims(t.sizes().begin(), t.sizes().end());
    const hid_t space = H5Screate_simple(static_cast<int>(t.dim()), dims.data(), nullptr);
    const hid_t ds = H5Dcreate2(file_, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    ASSERT_GE(ds, 0) << name;
    EXPECT_GE(H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, t.data_ptr()), 0);
    H5Dclose(ds);
    H5Sclose(space);
  }
  // File offset of the first chunk of a chunked dataset.
  haddr_t first_chunk_address(const std::string& name) {
    const hid_t ds = H5Dopen2(file_, name.c_str(), H5P_DEFAULT);
    const hid_t space = H5Dget_space(ds);
    std::array<hsize_t, 8> offset{};
    unsigned mask = 0;
    haddr_t addr = HADDR_UNDEF;
    hsize_t size = 0;
    EXPECT_GE(H5Dget_chunk_info(ds, space, 0, offset.data(), &mask, &addr, &size), 0) << name;
    H5Sclose(space);
    H5Dclose(ds);
    return addr;
  }

 private:
  hid_t file_;
};

bool has_fletcher32(const std::string& file, const std::string& dataset) {
  const hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  const hid_t ds = H5Dopen2(f, dataset.c_str(), H5P_DEFAULT);
  const hid_t dcpl = H5Dget_create_plist(ds);
  unsigned flags = 0;
  size_t n = 0;
  const bool found = H5Pget_filter_by_id2(dcpl, H5Z_FILTER_FLETCHER32, &flags, &n, nullptr, 0, nullptr, nullptr) >= 0;
  H5Pclose(dcpl);
  H5Dclose(ds);
  H5Fclose(f);
  return found;
}

// Raw IDX files: `per_class` 16x16 images of each of 10 classes. A class is a bright 5x4 block at
// a class-specific position plus noise, so a few meta-iterations learn something.
void write_idx(const std::string& dir, const std::string& prefix, int64_t per_class, uint64_t seed) {
  const auto labels = torch::arange(10 * per_class, torch::kLong).remainder(10);
  const auto images = support::class_images(labels, 16, 1, seed, /*block_rows=*/5, /*block_cols=*/4);
  support::write_idx(dir, prefix, images, labels);
}

class Experiments : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tmp_ = std::make_unique<support::TempDir>("acdc_meta_experiments_");
    root_ = tmp_->str();
    write_idx(root_ + "/data", "train", 12, 1);
    write_idx(root_ + "/data", "t10k", 12, 2);
  }
  static void TearDownTestSuite() { tmp_.reset(); }

  static std::string dataset() { return "mnist:" + root_ + "/data"; }
  static std::string dir(const std::string& name) { return root_ + "/" + name; }
  // A tiny ACDC-net conv4 (width 8, 16 px, 1 channel), 3-way 1-shot: a second per run.
  static std::string train_args(const std::string& out, const std::string& inner_lr = "0.1") {
    return "train --dataset " + dataset() +
           " --backbone conv4 --conv acdc-net --width 8 --atoms 4 --atom-drop 0.2 --ways 3 --shots 1"
           " --queries 2 --meta-batch 2 --inner-steps 1 --inner-steps-test 2 --inner-lr " + inner_lr + " --learn-inner-lr"
           " --iterations 6 --val-every 3 --val-episodes 4 --threads 1 --seed 5 --out " + out;
  }

  static std::unique_ptr<support::TempDir> tmp_;
  static std::string root_;
};

std::unique_ptr<support::TempDir> Experiments::tmp_;
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

// Checkpoints carry Fletcher-32 checksums; one written without them (as before issue 13) loads
// just the same, bit for bit.
TEST(Checkpoint, ChecksummedAndOldCheckpointsLoad) {
  const auto config = tiny_config();
  const std::string path = (fs::temp_directory_path() / ("acdc_meta_sum_" + std::to_string(getpid()) + ".h5")).string();
  torch::manual_seed(3);
  auto model = backbones::make_backbone(experiments::backbone_options(config));
  meta::Maml maml(*model, experiments::maml_config(config));
  experiments::CheckpointInfo info;
  info.config = config;
  experiments::save_checkpoint(path, maml, info);
  for (const char* ds : {"/params/head.weight", "/inner_lrs/inner_lr.head.weight", "/optimizer/exp_avg/head.weight", "/rng/cpu"}) {
    EXPECT_TRUE(has_fletcher32(path, ds)) << ds;
  }
  {
    // Rewrite every dataset without filters: a checkpoint of the earlier format.
    std::vector<std::pair<std::string, torch::Tensor>> all;
    {
      const auto f = storage::H5File::open(path);
      for (const char* group : {"params", "buffers", "inner_lrs", "optimizer/exp_avg", "optimizer/exp_avg_sq", "rng"}) {
        if (!f.exists(group)) continue;
        for (const auto& name : f.list(group)) {
          const std::string key = std::string("/") + group + "/" + name;
          all.emplace_back(key, f.read_tensor(key));
        }
      }
    }
    H5Edit edit(path);
    for (const auto& [key, t] : all) edit.replace(key, t);
  }
  EXPECT_FALSE(has_fletcher32(path, "/params/head.weight"));
  torch::manual_seed(4);
  auto other = backbones::make_backbone(experiments::backbone_options(config));
  meta::Maml restored(*other, experiments::maml_config(config));
  experiments::load_checkpoint(path, restored, /*restore_rng=*/false);
  expect_same(model->params(), other->params());
  expect_same(model->buffers(), other->buffers());
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
  auto r = run_acdc_meta(train_args(a));
  ASSERT_EQ(r.code, 0) << r.output;
  // Stop after 5 iterations as if killed: last.h5 is at iteration 3, metrics.csv has rows 4-5.
  r = run_acdc_meta(train_args(b) + " --stop-after 5");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(experiments::read_checkpoint_info(b + "/last.h5").iteration, 3);
  r = run_acdc_meta("train --resume --out " + b + " --threads 1");
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
  r = run_acdc_meta("train --resume --out " + b + " --inner-lr 0.5");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("--inner-lr"), std::string::npos) << r.output;
  // An existing run is not overwritten without --resume.
  r = run_acdc_meta(train_args(b));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("--resume"), std::string::npos) << r.output;
}

// Crash consistency: a run SIGKILLed again and again, at random moments and the moment a
// checkpoint's temporary appears (inside its write), and continued each time with --resume,
// ends bit-identical to an uninterrupted run. A checkpoint every iteration gives many writes to
// land in; a kill before the first checkpoint leaves nothing to resume, so the run starts over,
// as its error message tells a user to.
TEST_F(Experiments, KilledAnywhereAndResumedEqualsUninterrupted) {
  const auto a = dir("crash_reference"), b = dir("crash_killed");
  auto args = [&](const std::string& out) {
    return "train --dataset " + dataset() +
           " --backbone conv4 --conv acdc-net --width 8 --atoms 4 --atom-drop 0.2 --ways 3 --shots 1"
           " --queries 2 --meta-batch 2 --inner-steps 1 --inner-steps-test 2 --inner-lr 0.1 --learn-inner-lr"
           " --iterations 8 --val-every 1 --val-episodes 2 --threads 1 --seed 7 --out " + out;
  };
  const auto t0 = std::chrono::steady_clock::now();
  auto r = run_acdc_meta(args(a));
  ASSERT_EQ(r.code, 0) << r.output;
  const double full = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  auto temporaries = [&] {
    std::set<std::string> names;
    if (fs::exists(b)) {
      for (const auto& e : fs::directory_iterator(b)) {
        if (e.path().filename().string().find(".tmp-") != std::string::npos) names.insert(e.path().filename().string());
      }
    }
    return names;
  };
  // Checkpoint temporaries (NAME.h5.tmp-PID-N) this process started, not left by an earlier kill.
  auto new_checkpoint_temporaries = [&](const std::set<std::string>& before) {
    std::set<std::string> out;
    for (const auto& n : temporaries()) {
      if (!before.count(n) && n.find(".h5.tmp-") != std::string::npos) out.insert(n);
    }
    return out;
  };
  std::mt19937_64 rng(13);
  int kills = 0, mid_write = 0;
  bool finished = false;  // the last process ran to the end before its kill: start over
  std::string progress;
  // At least 8 attempts, and on until 4 kills have landed, one inside a write (a loaded machine
  // can let a run finish before its kill).
  for (int attempt = 0; attempt < 8 || ((kills < 4 || mid_write < 1) && attempt < 24); ++attempt) {
    const bool resume = fs::exists(b + "/last.h5") && !finished;
    if (!resume) support::remove_tree(b);
    const auto before = temporaries();
    const pid_t pid = spawn_acdc_meta(resume ? "train --resume --out " + b : args(b));
    int status = 0;
    if (attempt % 2 == 0) {
      // Kill inside the k-th checkpoint write (best.h5 comes before last.h5 at each validation).
      const size_t k = 1 + rng() % 5;
      std::set<std::string> seen;
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(3 * full + 5);
      while (std::chrono::steady_clock::now() < deadline && waitpid(pid, &status, WNOHANG) == 0) {
        for (const auto& n : new_checkpoint_temporaries(before)) seen.insert(n);
        if (seen.size() >= k) break;
        std::this_thread::sleep_for(std::chrono::microseconds(100));
      }
    } else {
      std::this_thread::sleep_for(std::chrono::duration<double>(full * std::uniform_real_distribution<>(0.3, 1.0)(rng)));
    }
    const bool running = waitpid(pid, &status, WNOHANG) == 0;
    if (running && kill(pid, SIGKILL) == 0) {
      ++kills;
      mid_write += !new_checkpoint_temporaries(before).empty();
    }
    if (running) waitpid(pid, &status, 0);
    finished = !running && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    // Whatever the kill interrupted, a checkpoint at the final name is complete and valid.
    std::string at = "none";
    if (fs::exists(b + "/last.h5")) {
      EXPECT_NO_THROW(experiments::read_checkpoint_weights(b + "/last.h5")) << "after kill " << attempt;
      at = std::to_string(experiments::read_checkpoint_info(b + "/last.h5").iteration);
    }
    progress += " " + at;
  }
  std::cout << kills << " kills (" << mid_write << " inside a checkpoint write); last.h5 iteration after each: " << progress << "\n";
  EXPECT_GE(kills, 4);
  EXPECT_GE(mid_write, 1) << "no kill landed inside a checkpoint write";
  r = run_acdc_meta(fs::exists(b + "/last.h5") ? "train --resume --out " + b : (support::remove_tree(b), args(b)));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(temporaries().empty()) << "the finished run left temporaries of the killed ones";

  const auto wa = experiments::read_checkpoint_weights(a + "/last.h5");
  const auto wb = experiments::read_checkpoint_weights(b + "/last.h5");
  ASSERT_EQ(wa.size(), wb.size());
  for (const auto& [name, t] : wa) {
    ASSERT_TRUE(wb.count(name)) << name;
    EXPECT_TRUE(torch::equal(t, wb.at(name))) << name << " differs after " << kills << " kills and resumes";
  }
  EXPECT_EQ(experiments::read_checkpoint_info(b + "/last.h5").iteration, 8);
}

TEST_F(Experiments, TrainEvalExportEndToEnd) {
  const auto out = dir("e2e");
  auto r = run_acdc_meta(train_args(out));
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
  EXPECT_EQ(line, "iteration,loss,accuracy,meta_lr,second_order,elapsed_seconds,val_accuracy,val_ci95");
  while (std::getline(csv, line)) {
    ++rows;
    const bool val_row = rows % 3 == 0;
    EXPECT_EQ(line.back() != ',', val_row) << line;
  }
  EXPECT_EQ(rows, 6);

  // eval --json: two shot counts, every setting recorded.
  r = run_acdc_meta("eval --run " + out + " --episodes 5 --shots 1,2 --queries 3 --threads 1 --json", /*merge_stderr=*/false);
  ASSERT_EQ(r.code, 0) << r.output;
  for (const char* key : {"\"results\"", "\"settings\"", "\"shots\": 1", "\"shots\": 2", "\"episodes\": 5",
                          "\"accuracy\"", "\"ci95\"", "\"backbone\": \"conv4\"", "\"conv\": \"acdc-net\"", "\"atoms\": 4",
                          "\"group_size\"", "\"image_size\": 16", "\"bn\": \"transductive\"", "\"inner_steps_train\": 1",
                          "\"inner_steps_test\": 2", "\"order\": \"second\"", "\"checkpoint\"", "\"seeds\"",
                          "\"parameters_standard_conv\""}) {
    EXPECT_NE(r.output.find(key), std::string::npos) << key << " missing in\n" << r.output;
  }
  // Deterministic: the same seed gives the same figures, to the last digit.
  const auto again = run_acdc_meta("eval --run " + out + " --episodes 5 --shots 1,2 --queries 3 --threads 1 --json", false);
  EXPECT_EQ(again.output, r.output);

  // export pt: a pickled dict that reads back (torch.load reads the same bytes) equal to the checkpoint.
  const auto weights = experiments::read_checkpoint_weights(out + "/best.h5");
  r = run_acdc_meta("export --run " + out + " --format pt --out " + out + "/weights.pt");
  ASSERT_EQ(r.code, 0) << r.output;
  const auto bytes = read_file(out + "/weights.pt");
  ASSERT_GT(bytes.size(), 4u);
  EXPECT_EQ(bytes.substr(0, 2), "PK");  // torch.save's zip container
  const auto dict = torch::pickle_load(std::vector<char>(bytes.begin(), bytes.end())).toGenericDict();
  // Its tensors are the checkpoint's; the one other entry is the metadata JSON (test_export.cpp).
  size_t tensors = 0;
  for (const auto& entry : dict) tensors += entry.value().isTensor() ? 1 : 0;
  EXPECT_EQ(tensors, weights.size());
  EXPECT_EQ(dict.size(), weights.size() + 1);
  EXPECT_TRUE(dict.contains(experiments::kExportMetadataKey));
  for (const auto& [name, t] : weights) {
    ASSERT_TRUE(dict.contains(name)) << name;
    EXPECT_TRUE(torch::equal(dict.at(name).toTensor(), t)) << name;
  }
  EXPECT_TRUE(weights.count("head.weight"));
  EXPECT_TRUE(weights.count("inner_lr.head.weight"));

  // export h5: one dataset per tensor under its name, the configuration as attributes.
  r = run_acdc_meta("export --run " + out + " --checkpoint last --format h5 --out " + out + "/weights.h5");
  ASSERT_EQ(r.code, 0) << r.output;
  const auto h5 = storage::H5File::open(out + "/weights.h5");
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
      {base + " --class-rotations 3", "--class-rotations: '3' is not one of 1, 2, 4"},
      {base + " --class-rotations 8", "--class-rotations: '8' is not one of 1, 2, 4"},
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
    const auto r = run_acdc_meta(c.args);
    EXPECT_EQ(r.code, 2) << c.args << "\n" << r.output;
    EXPECT_NE(r.output.find(c.expect), std::string::npos) << c.args << "\n" << r.output;
  }
  EXPECT_FALSE(fs::exists(dir("bad") + "/last.h5"));
}

// --class-rotations 4 trains on the split's classes and their three turns (20 classes from 5), and
// the run records it, so that --resume trains on the same classes.
TEST_F(Experiments, ClassRotationsTrainAndAreRecorded) {
  const auto out = dir("rotations");
  const auto r = run_acdc_meta(train_args(out) + " --class-rotations 4");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(read_file(out + "/config.ini").find("class-rotations = 4"), std::string::npos);
}

TEST_F(Experiments, EvalRejectsImpossibleSettings) {
  const auto out = dir("evalbad");
  ASSERT_EQ(run_acdc_meta(train_args(out)).code, 0);
  for (const auto& [args, expect] : std::vector<std::pair<std::string, std::string>>{
           {"--shots 0", "--shots"},
           {"--shots 1,x", "--shots"},
           {"--ways 4", "--ways 4"},
           {"--split holdout", "--split"},
           {"--episodes 0", "--episodes"},
           {"--checkpoint nowhere.h5", "nowhere.h5"}}) {
    const auto r = run_acdc_meta("eval --run " + out + " --threads 1 " + args);
    EXPECT_EQ(r.code, 2) << args << "\n" << r.output;
    EXPECT_NE(r.output.find(expect), std::string::npos) << args << "\n" << r.output;
  }
}

TEST_F(Experiments, NonFiniteLossStopsKeepingLastGoodCheckpoint) {
  const auto out = dir("nan");
  // An absurd inner lr makes the adapted weights overflow: the loss goes non-finite.
  const auto r = run_acdc_meta(train_args(out, "1e30"));
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("non-finite"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("at iteration 1"), std::string::npos) << r.output;
  const auto info = experiments::read_checkpoint_info(out + "/last.h5");
  EXPECT_EQ(info.iteration, 0);
}

// Issue 13, item 1 (and 11): a second process on a run directory in use exits 2 naming it;
// the lock dies with its holder, and the next run removes the temporaries the dead one left.
TEST_F(Experiments, RunDirectoryIsLockedAgainstASecondProcess) {
  const auto out = dir("locked");
  // Long enough to be still running while the other commands try the directory; killed below.
  auto args = train_args(out);
  const std::string six = " --iterations 6 --val-every 3";
  ASSERT_NE(args.find(six), std::string::npos);
  args.replace(args.find(six), six.size(), " --iterations 100000 --val-every 0");
  const pid_t holder = spawn_acdc_meta(args);
  ASSERT_GT(holder, 0);
  // last.h5 is written under the lock, right after it is taken.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  int status = 0;
  while (!fs::exists(out + "/last.h5") && std::chrono::steady_clock::now() < deadline) {
    ASSERT_EQ(waitpid(holder, &status, WNOHANG), 0) << "the first train process ended early";
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(fs::exists(out + "/last.h5"));
  for (const auto& second : {args, "train --resume --out " + out + " --threads 1",
                             "classify --dataset " + dataset() + " --width 8 --epochs 1 --threads 1 --out " + out}) {
    const auto r = run_acdc_meta(second);
    EXPECT_EQ(r.code, 2) << second << "\n" << r.output;
    EXPECT_NE(r.output.find("in use by another acdc-meta process (pid " + std::to_string(holder) + ")"), std::string::npos)
        << second << "\n" << r.output;
  }
  ASSERT_EQ(kill(holder, SIGKILL), 0);
  ASSERT_EQ(waitpid(holder, &status, 0), holder);
  // What a kill in the middle of a save leaves, and a temporary of a live process (this one).
  const auto stale = out + "/last.h5.tmp-" + std::to_string(holder) + "-3";
  const auto live = out + "/best.h5.tmp-" + std::to_string(getpid()) + "-0";
  std::ofstream(stale) << "partial";
  std::ofstream(live) << "being written";
  const auto r = run_acdc_meta("train --resume --out " + out + " --threads 1 --stop-after 1");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("resuming"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(stale)) << r.output;
  EXPECT_TRUE(fs::exists(live));
  fs::remove(live);
}

// Issue 13, items 3, 4 and 10: one loader validates a checkpoint for eval, export and --resume
// alike; each damage is refused with exit 2 naming the file and what is wrong.
TEST_F(Experiments, DamagedCheckpointsAreRefusedByEvalExportAndResume) {
  const auto out = dir("damage");
  ASSERT_EQ(run_acdc_meta(train_args(out)).code, 0);
  const auto good = out + "/last.h5";
  const auto weight = storage::H5File::open(good).read_tensor("params/head.weight");
  struct Damage {
    std::string name, expect;
    std::function<void(H5Edit&, const std::string& file)> apply;
  };
  const std::vector<Damage> damages = {
      {"no-params", "missing group /params", [](H5Edit& e, const std::string&) { e.remove("/params"); }},
      {"no-head-bias", "missing tensor /params/head.bias", [](H5Edit& e, const std::string&) { e.remove("/params/head.bias"); }},
      {"bias-shape", "/params/head.bias has shape [5]",
       [](H5Edit& e, const std::string&) { e.replace("/params/head.bias", torch::zeros({5})); }},
      {"nan-weight", "/params/head.weight holds 1 non-finite",
       [&](H5Edit& e, const std::string&) {
         auto t = weight.clone();
         t.view(-1)[0] = NAN;
         e.replace("/params/head.weight", t);
       }},
      {"inf-moment", "/optimizer/exp_avg_sq/head.weight holds",
       [&](H5Edit& e, const std::string&) { e.replace("/optimizer/exp_avg_sq/head.weight", torch::full_like(weight, INFINITY)); }},
      {"iteration-100", "acdc_meta.iteration is 100", [](H5Edit& e, const std::string&) { e.set_int_attr("acdc_meta.iteration", 100); }},
      {"iteration-neg", "acdc_meta.iteration is -5", [](H5Edit& e, const std::string&) { e.set_int_attr("acdc_meta.iteration", -5); }},
      {"episode-neg", "acdc_meta.next_episode is -1", [](H5Edit& e, const std::string&) { e.set_int_attr("acdc_meta.next_episode", -1); }},
      {"checksum", "fails its Fletcher-32 checksum",
       [](H5Edit& e, const std::string& file) {
         const auto addr = e.first_chunk_address("/params/head.weight");
         ASSERT_NE(addr, HADDR_UNDEF);
         std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
         f.seekg(static_cast<std::streamoff>(addr));
         char byte = 0;
         f.read(&byte, 1);
         byte = static_cast<char>(byte ^ 0x5a);
         f.seekp(static_cast<std::streamoff>(addr));
         f.write(&byte, 1);
       }},
  };
  for (const auto& d : damages) {
    const auto file = dir("damage-" + d.name + ".h5");
    fs::copy_file(good, file, fs::copy_options::overwrite_existing);
    {
      H5Edit edit(file);
      d.apply(edit, file);
    }
    // The same file as a run's last.h5, for --resume.
    const auto run_dir = dir("damage-run-" + d.name);
    fs::create_directories(run_dir);
    for (const char* f : {"config.ini", "metrics.csv"}) fs::copy_file(out + "/" + f, run_dir + "/" + f);
    fs::copy_file(file, run_dir + "/last.h5");
    const auto pt = dir("damage-" + d.name + ".pt");
    for (const auto& [args, named] : std::vector<std::pair<std::string, std::string>>{
             {"eval --checkpoint " + file + " --episodes 2 --threads 1", file},
             {"export --checkpoint " + file + " --format pt --out " + pt, file},
             // A larger --iterations, so that resume reads the parameters (resuming a finished run
             // without it has nothing to do and reads none).
             {"train --resume --iterations 8 --out " + run_dir + " --threads 1", run_dir + "/last.h5"}}) {
      const auto r = run_acdc_meta(args);
      EXPECT_EQ(r.code, 2) << d.name << ": " << args << "\n" << r.output;
      EXPECT_NE(r.output.find(d.expect), std::string::npos) << d.name << ": " << args << "\n" << r.output;
      EXPECT_NE(r.output.find(named), std::string::npos) << d.name << ": the message names the file\n" << r.output;
    }
    EXPECT_FALSE(fs::exists(pt)) << d.name;
  }
}

// Issue 13, item 2: export never writes over its own input (also through a link) nor over any
// checkpoint; the source stays byte for byte as it was.
TEST_F(Experiments, ExportRefusesItsInputAndCheckpoints) {
  const auto out = dir("exportself");
  ASSERT_EQ(run_acdc_meta(train_args(out)).code, 0);
  const auto last = out + "/last.h5", before = read_file(last);
  fs::create_symlink(last, out + "/link.h5");
  for (const auto& [args, expect] : std::vector<std::pair<std::string, std::string>>{
           {"export --checkpoint " + last + " --format h5 --out " + last, "is the checkpoint being exported"},
           {"export --checkpoint " + last + " --format h5 --out " + out + "/link.h5", "is the checkpoint being exported"},
           {"export --run " + out + " --checkpoint best --format h5 --out " + last, "is an acdc-meta checkpoint"},
           {"export --run " + out + " --format pt --out " + last, "is an acdc-meta checkpoint"}}) {
    const auto r = run_acdc_meta(args);
    EXPECT_EQ(r.code, 2) << args << "\n" << r.output;
    EXPECT_NE(r.output.find(expect), std::string::npos) << args << "\n" << r.output;
  }
  EXPECT_EQ(read_file(last), before);
  // An earlier export (not a checkpoint) may be replaced.
  ASSERT_EQ(run_acdc_meta("export --run " + out + " --format h5 --out " + out + "/w.h5").code, 0);
  EXPECT_EQ(run_acdc_meta("export --run " + out + " --format h5 --out " + out + "/w.h5").code, 0);
}

// Issue 14, item 1: --resume --iterations N changes the run's length. A finished run with no
// larger N has nothing to do (exit 0, no bar); N below the iterations done names both numbers;
// a larger N extends it, config.ini and the checkpoint recording the new total (the cosine
// schedule is a function of it).
TEST_F(Experiments, ResumeWithMoreIterationsExtendsTheRun) {
  const auto out = dir("extend");
  ASSERT_EQ(run_acdc_meta(train_args(out) + " --cosine").code, 0);  // 6 iterations
  auto r = run_acdc_meta("train --resume --out " + out);
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("nothing to do: the run finished its 6 iterations"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("train ["), std::string::npos) << "a progress bar: " << r.output;
  r = run_acdc_meta("train --resume --out " + out + " --iterations 6");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("nothing to do"), std::string::npos) << r.output;
  r = run_acdc_meta("train --resume --out " + out + " --iterations 2");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("--iterations 2 is fewer than the 6 iterations"), std::string::npos) << r.output;
  r = run_acdc_meta("train --resume --out " + out + " --iterations 9");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("resuming " + out + " at iteration 6, now of 9 iterations"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("trained " + out + ": 9 iterations"), std::string::npos) << r.output;
  const auto config = read_file(out + "/config.ini");
  EXPECT_NE(config.find("iterations = 9\n"), std::string::npos) << config;
  EXPECT_NE(config.find("cosine = true\n"), std::string::npos) << config;
  const auto info = experiments::read_checkpoint_info(out + "/last.h5");
  EXPECT_EQ(info.iteration, 9);
  EXPECT_EQ(info.config.get("iterations"), "9");
  // Another setting is still refused.
  r = run_acdc_meta("train --resume --out " + out + " --iterations 12 --inner-lr 0.5");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("--inner-lr 0.5 differs from the saved"), std::string::npos) << r.output;
}

// Issue 14, item 9: data whose channel count is not the checkpoint's (eval, train --resume) is
// refused naming both counts, before a conv meets it.
TEST(MetaTest, ChannelMismatchNamesBothCounts) {
  EXPECT_NO_THROW(experiments::check_data_channels(3, "run/best.h5", 3, "cifar100:/data"));
  try {
    experiments::check_data_channels(3, "run/best.h5", 1, "mnist:/data");
    FAIL() << "1-channel data accepted for a 3-channel model";
  } catch (const experiments::UsageError& e) {
    EXPECT_EQ(std::string(e.what()),
              "mnist:/data has 1 channel per image; run/best.h5 was trained on 3 channels (use data with 3 channels)");
  }
  try {
    experiments::check_data_channels(1, "runs/fm", 3, "cifar100:/data");
    FAIL() << "3-channel data accepted for a 1-channel model";
  } catch (const experiments::UsageError& e) {
    EXPECT_EQ(std::string(e.what()),
              "cifar100:/data has 3 channels per image; runs/fm was trained on 1 channel (use data with 1 channel)");
  }
}

// Issue 14, item 8: a write that fails after the up-front checks (here a file name longer than
// the file system allows) exits 2 naming the path.
TEST_F(Experiments, ExportWriteFailureExits2NamingThePath) {
  const auto out = dir("export-fail");
  ASSERT_EQ(run_acdc_meta(train_args(out)).code, 0);
  const auto target = out + "/" + std::string(300, 'w') + ".pt";
  for (const char* format : {"pt", "h5"}) {
    const auto r = run_acdc_meta("export --run " + out + " --format " + format + " --out " + target);
    EXPECT_EQ(r.code, 2) << r.output;
    EXPECT_NE(r.output.find("cannot write the export to '" + target + "'"), std::string::npos) << r.output;
  }
}

// Issue 13, item 5: --resume uses the thread count the run was trained with (bit-exact on the
// CPU); --threads still overrides it, with a note.
TEST_F(Experiments, ResumeKeepsTheSavedThreadCount) {
  const auto out = dir("threads");
  ASSERT_EQ(run_acdc_meta(train_args(out) + " --stop-after 4").code, 0);  // trained with --threads 1
  EXPECT_NE(read_file(out + "/config.ini").find("threads = 1\n"), std::string::npos);
  auto r = run_acdc_meta("train --resume --out " + out + " --stop-after 1");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find(", 1 thread,"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("note:"), std::string::npos) << r.output;
  r = run_acdc_meta("train --resume --out " + out + " --threads 2 --stop-after 1");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("note: --threads 2 overrides the 1 thread "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(", 2 threads,"), std::string::npos) << r.output;
}

// What `--winograd auto` chose on an AVX-512 CPU (a timing each process takes, which a near tie
// could turn the other way in another process) is recorded in every checkpoint, and --resume runs
// it again instead of timing anew, so that the resumed run computes as an uninterrupted one. A
// recorded choice that is none of the possible ones exits 2 naming the file, the attribute and the
// text. On CPUs without AVX-512, `auto` decides by rule and nothing is recorded.
TEST_F(Experiments, ResumeRunsTheRecordedWinogradChoice) {
  const auto out = dir("winograd-choice");
  ASSERT_EQ(run_acdc_meta(train_args(out) + " --stop-after 3").code, 0);  // checkpointed at 3 (--val-every)
  const std::string key = "acdc_meta.winograd_auto";
  const bool measures = acdc::winograd_build_runs_here(acdc::WinogradBuild::kAvx512);
  auto recorded = [&]() -> std::optional<std::string> {
    const auto f = storage::H5File::open(out + "/last.h5");
    if (!f.has_attr("/", key)) return std::nullopt;
    return f.attr_string("/", key);
  };
  const auto chosen = recorded();
  EXPECT_EQ(chosen.has_value(), measures) << chosen.value_or("(none)");
  if (chosen) {
    EXPECT_NO_THROW(acdc::parse_winograd_auto_choice(*chosen)) << *chosen;
  }

  H5Edit(out + "/last.h5").set_string_attr(key, "AVX2,AVX-512", /*must_exist=*/false);
  auto r = run_acdc_meta("train --resume --out " + out + " --stop-after 1");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find(out + "/last.h5: attribute " + key + ": Winograd choice 'AVX2,AVX-512' is not one of none, "
                          "AVX-512, AVX2, AVX-512,AVX2"),
            std::string::npos)
      << r.output;

  // A choice the measurement may not make here: the resumed process runs it (and records it again).
  H5Edit(out + "/last.h5").set_string_attr(key, "none");
  r = run_acdc_meta("train --resume --out " + out);  // to the end: checkpointed at 6
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(r.output.find("note:"), std::string::npos) << r.output;
  EXPECT_EQ(recorded(), measures ? std::optional<std::string>("none") : std::nullopt);
}

// Issue 13, item 6: sizes beyond the machine exit 2 naming the flag (or the checkpoint and its
// setting) and the value, before any model or data is allocated: a flipped bit in a checkpoint's
// atoms (8 -> 2097160) would have made a [64, 64, 2097160] coefficient tensor.
TEST_F(Experiments, OversizedSettingsAndCheckpointSizesExit2NamingThem) {
  const auto out = dir("bounds");
  ASSERT_EQ(run_acdc_meta(train_args(out)).code, 0);
  const auto flipped = dir("bounds-flipped.h5");
  fs::copy_file(out + "/last.h5", flipped);
  H5Edit(flipped).set_string_attr("atoms", "2097160");
  const auto pt = dir("bounds-flipped.pt");
  const std::string base = "train --dataset " + dataset() + " --width 8 --iterations 2 --out " + dir("b1");
  struct Case {
    std::string args, expect, value;
  };
  const std::vector<Case> cases = {
      {"eval --checkpoint " + flipped + " --episodes 2 --threads 1",
       flipped + ": setting atoms must be at most 1024 (a k x k kernel spans k^2 independent atoms; the paper uses at "
                 "most 16)",
       "got 2097160"},
      {"export --checkpoint " + flipped + " --format pt --out " + pt, flipped + ": setting atoms must be at most 1024",
       "got 2097160"},
      {base + " --threads 100000", "--threads must be at most 1024", "got 100000"},
      {base + " --image-size 1000000", "--image-size must be at most 1024", "got 1000000"},
      {base + " --meta-batch 100000", "--meta-batch must be at most 1024", "got 100000"},
      {base + " --atoms 100000000", "--atoms must be at most 1024", "got 100000000"},
      {base + " --backbone wrn-16-100000", "'wrn-16-100000': width K = 100000 is more than 64", "--backbone"},
  };
  for (const auto& c : cases) {
    const auto r = run_acdc_meta(c.args);
    EXPECT_EQ(r.code, 2) << c.args << "\n" << r.output;
    EXPECT_NE(r.output.find(c.expect), std::string::npos) << c.args << "\n" << r.output;
    EXPECT_NE(r.output.find(c.value), std::string::npos) << c.args << "\n" << r.output;
  }
  EXPECT_FALSE(fs::exists(pt));
  EXPECT_FALSE(fs::exists(dir("b1") + "/last.h5"));
}

// Issue 13, items 8 and 9: output paths and values checked before any work, exit 2 naming them.
TEST_F(Experiments, BadOutputsAndValuesExit2NamingThem) {
  const auto out = dir("outputs");
  ASSERT_EQ(run_acdc_meta(train_args(out)).code, 0);
  fs::create_directories(dir("a-dir"));
  std::ofstream(dir("a-file")) << "x";
  const std::string base = "train --dataset " + dataset() + " --width 8 --iterations 2 --threads 1";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"export --run " + out + " --format pt --out " + dir("nowhere/dir/w.pt"), "nowhere/dir' does not exist"},
      {"export --run " + out + " --format pt --out " + dir("a-dir"), "is a directory"},
      {"data convert --dataset " + dataset() + " --out " + dir("a-dir"), "is a directory"},
      {"data convert --dataset " + dataset() + " --out " + dir("nowhere/c.h5"), "does not exist"},
      {base + " --out " + dir("a-file"), "exists and is not a directory"},
      {base + " --out " + dir("a-file") + "/run", "is not a directory"},
      {base + " --out " + dir("m1") + " --cosine --min-meta-lr nan", "--min-meta-lr"},
      {base + " --out " + dir("m2") + " --cosine --min-meta-lr inf", "--min-meta-lr"},
      {base + " --out " + dir("m3") + " --cosine --min-meta-lr -1", "--min-meta-lr"},
      {base + " --out " + dir("m4") + " --meta-lr 1e300", "--meta-lr must be a finite value"},
      {base + " --out " + dir("m5") + " --config " + dir("a-dir"), "--config " + dir("a-dir") + " is a directory"},
      {base + " --out " + dir("m6") + " stray words", "unexpected argument(s) 'stray' 'words'"},
      {"eval --run " + out + " --inner-steps-test -5", "--inner-steps-test must be >= 0, got -5"},
      {"eval --run " + out + " extra", "unexpected argument(s) 'extra'"},
  };
  for (const auto& [args, expect] : cases) {
    const auto r = run_acdc_meta(args);
    EXPECT_EQ(r.code, 2) << args << "\n" << r.output;
    EXPECT_NE(r.output.find(expect), std::string::npos) << args << "\n" << r.output;
  }
  for (const char* d : {"m1", "m2", "m3", "m4", "m5", "m6"}) EXPECT_FALSE(fs::exists(dir(d))) << d;
  EXPECT_TRUE(fs::is_empty(dir("a-dir")));  // convert wrote nothing, not even a temporary
}

}  // namespace
