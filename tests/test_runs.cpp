// The pieces experiments/ is built from, in-process: typed settings and their table
// (runs/settings), the one INI reader (runs/ini), the run directory and its resume policy
// (runs/run_directory), the training loop and its callbacks (training/loop), and the optimizers
// with gradient clipping (meta/optim).

#include "experiments/commands/cli.h"
#include "experiments/runs/ini.h"
#include "experiments/runs/run_directory.h"
#include "experiments/runs/settings.h"
#include "experiments/training/loop.h"
#include "meta/optim.h"
#include "tests/support/files.h"
#include "tests/support/temp_dir.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

namespace {

namespace fs = std::filesystem;
namespace po = boost::program_options;
using experiments::UsageError;

using support::read_file;
using support::TempDir;

// The message of the UsageError `f` throws ("" when it throws none).
template <class F>
std::string usage_error(F&& f) {
  try {
    f();
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

po::variables_map parse(const po::options_description& desc, const std::vector<std::string>& args) {
  po::variables_map vm;
  po::store(po::command_line_parser(args).options(desc).run(), vm);
  po::notify(vm);
  return vm;
}

// ---- settings ----

TEST(Settings, FlagsFillTheTypedStructAndRoundTripThroughText) {
  po::options_description desc;
  experiments::meta_train_settings().add_options(desc);
  const auto vm = parse(desc, {"--ways", "3", "--conv", "acdc-net", "--inner-lr", "0.1", "--first-order", "--bn",
                               "per-step", "--inner-params", "atoms+head"});
  const auto s = experiments::meta_train_settings().from_options(vm);
  EXPECT_EQ(s.ways, 3);
  EXPECT_EQ(s.conv, acdc::ConvType::kNet);
  EXPECT_EQ(s.inner_lr, 0.1);
  EXPECT_TRUE(s.first_order);
  EXPECT_EQ(s.bn, backbones::BnMode::kPerStep);
  EXPECT_EQ(s.inner_params, backbones::ParamFilter::kAtomsAndHead);
  EXPECT_EQ(s.shots, 1);          // default
  EXPECT_EQ(s.image_size, 0);     // train's default: the dataset's native size
  // Text form: sorted keys, doubles that parse back exactly, and back again to the same struct.
  const auto text = experiments::meta_train_settings().to_config(s);
  EXPECT_EQ(text.get("inner-lr"), "0.1");
  EXPECT_EQ(text.get("first-order"), "true");
  EXPECT_EQ(text.get("inner-params"), "atoms+head");
  for (size_t i = 1; i < text.entries().size(); ++i) EXPECT_LT(text.entries()[i - 1].first, text.entries()[i].first);
  const auto back = experiments::meta_train_settings().from_config(text);
  EXPECT_EQ(experiments::meta_train_settings().to_config(back), text);
  // The engine and the network come from the struct: classes = ways, one BN set per step + 1.
  EXPECT_EQ(s.network().classes, 3);
  EXPECT_EQ(s.network().bn_steps, s.inner_steps + 1);
  EXPECT_TRUE(s.maml().first_order);
}

TEST(Settings, BadValuesNameTheFlagAndTheValue) {
  po::options_description desc;
  experiments::classify_settings().add_options(desc);
  const auto& table = experiments::classify_settings();
  auto message = [&](std::vector<std::string> args) {
    return usage_error([&] { table.from_options(parse(desc, args)); });
  };
  EXPECT_EQ(message({"--epochs", "0"}), "--epochs must be at least 1, got 0");
  EXPECT_EQ(message({"--epochs", "two"}), "--epochs must be an integer, got 'two'");
  EXPECT_EQ(message({"--momentum", "1.5"}), "--momentum must be in [0, 1), got 1.5");
  EXPECT_EQ(message({"--lr", "nan"}), "--lr must be positive, got nan");
  EXPECT_EQ(message({"--schedule", "linear"}), "--schedule must be cosine or step, got 'linear'");
  EXPECT_NE(message({"--conv", "acdc-nope"}).find("--conv: "), std::string::npos);
  EXPECT_NE(message({"--milestones", "3,x"}).find("--milestones"), std::string::npos);
  EXPECT_EQ(message({"--epochs", "3"}), "");
  // From a saved configuration the error names its source instead (a checkpoint, config.ini).
  experiments::RunConfig saved;
  saved.source = "run/last.h5";
  saved.set("epochs", "-3");
  try {
    table.from_config(saved);
    FAIL() << "accepted epochs = -3";
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()), "run/last.h5: setting epochs must be at least 1, got -3");
  }
  // The one network builder checks what the table cannot check alone.
  experiments::ModelSettings m;
  m.channels = 2;
  EXPECT_EQ(usage_error([&] { m.backbone_options(); }), "--channels must be 1 or 3, got 2");
  m.channels = 3;
  m.backbone = "resnet999";
  EXPECT_NE(usage_error([&] { m.backbone_options(); }).find("unknown backbone 'resnet999'"), std::string::npos);
}

// Issue 13, item 6: every size setting has an upper bound, checked before anything is allocated
// from it, in the flags and in saved configurations (a flipped bit in a checkpoint's atoms).
TEST(Settings, SizesHaveUpperBoundsWithTheirReason) {
  po::options_description desc;
  experiments::classify_settings().add_options(desc);
  const auto& table = experiments::classify_settings();
  auto message = [&](std::vector<std::string> args) {
    return usage_error([&] { table.from_options(parse(desc, args)); });
  };
  EXPECT_EQ(message({"--atoms", "100000000"}),
            "--atoms must be at most 1024 (a k x k kernel spans k^2 independent atoms; the paper uses at most 16), "
            "got 100000000");
  EXPECT_EQ(message({"--atoms", "1024"}), "");
  EXPECT_EQ(message({"--batch-size", "100000000"}),
            "--batch-size must be at most 131072 (more than the 100,000 training images of the largest supported "
            "data set), got 100000000");
  EXPECT_EQ(message({"--image-size", "1000000"}),
            "--image-size must be at most 1024 (one 64-channel activation of a 1024 px image is 256 MiB), got 1000000");
  EXPECT_EQ(message({"--image-size", "1024"}), "");
  EXPECT_NE(message({"--eval-batch-size", "131073"}).find("--eval-batch-size must be at most 131072"), std::string::npos);
  EXPECT_NE(message({"--threads", "100000"}).find("--threads must be at most 1024"), std::string::npos);
  EXPECT_NE(message({"--width", "1025"}).find("--width must be at most 1024"), std::string::npos);
  EXPECT_NE(message({"--classes", "100001"}).find("--classes must be at most 100000"), std::string::npos);
  EXPECT_NE(message({"--crop-padding", "1025"}).find("--crop-padding must be at most 1024"), std::string::npos);
  EXPECT_EQ(message({"--crop-padding", "-2"}), "--crop-padding must be >= 0 (or -1 = automatic), got -2");

  po::options_description train_desc;
  experiments::meta_train_settings().add_options(train_desc);
  const auto train = [&](std::vector<std::string> args) {
    return usage_error([&] { experiments::meta_train_settings().from_options(parse(train_desc, args)); });
  };
  EXPECT_NE(train({"--meta-batch", "1025"}).find("--meta-batch must be at most 1024"), std::string::npos);
  EXPECT_NE(train({"--threads", "1025"}).find("--threads must be at most 1024"), std::string::npos);

  experiments::RunConfig saved;
  saved.source = "run/last.h5";
  saved.set("atoms", "2097160");  // 8 with bit 21 flipped
  try {
    experiments::meta_train_settings().from_config(saved);
    FAIL() << "accepted atoms = 2097160";
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()),
              "run/last.h5: setting atoms must be at most 1024 (a k x k kernel spans k^2 independent atoms; the paper "
              "uses at most 16), got 2097160");
  }
  // wrn-D-K is checked by name, before any layer exists.
  experiments::ModelSettings m;
  m.backbone = "wrn-16-100000";
  EXPECT_EQ(usage_error([&] { m.backbone_options(); }),
            "--backbone: backbone 'wrn-16-100000': width K = 100000 is more than 64 (wrn-28-10 has 36.5 M "
            "parameters; they grow with K^2: wrn-28-64 would have 1.5 G)");
  m.backbone = "wrn-28-10";
  EXPECT_EQ(usage_error([&] { m.backbone_options(); }), "");
}

TEST(Settings, HelpShowsEveryKeyWithItsDefault) {
  po::options_description desc;
  experiments::meta_train_settings().add_options(desc);
  std::ostringstream help;
  help << desc;
  for (const auto& s : experiments::meta_train_settings().settings()) {
    EXPECT_NE(help.str().find("--" + s.key), std::string::npos) << s.key;
  }
  EXPECT_NE(help.str().find("--meta-lr arg (=0.001)"), std::string::npos) << help.str();
}

// ---- the INI reader ----

TEST(Ini, TopKeysSectionsCommentsAndErrors) {
  std::istringstream in(
      "# a comment\n"
      "dataset = fashion-mnist   # trailing comment\n"
      "epochs = 2\n"
      "[acdc-net m=4]\n"
      "conv = acdc-net\n"
      "atoms = 4\n"
      "[sweep]\n"
      "conv = standard, acdc-layer\n");
  const auto f = experiments::read_ini(in, "s.ini");
  ASSERT_EQ(f.top.size(), 2u);
  EXPECT_EQ(f.top[0], (std::pair<std::string, std::string>{"dataset", "fashion-mnist"}));
  ASSERT_EQ(f.sections.size(), 2u);
  EXPECT_EQ(f.sections[0].name, "acdc-net m=4");
  EXPECT_EQ(f.sections[0].entries[1], (std::pair<std::string, std::string>{"atoms", "4"}));
  EXPECT_EQ(f.sections[1].entries[0].second, "standard, acdc-layer");

  std::istringstream twice("epochs = 2\nepochs = 3\n");
  EXPECT_NE(usage_error([&] { experiments::read_ini(twice, "t.ini"); }).find("t.ini: 'epochs' is set twice"),
            std::string::npos);
  std::istringstream words("just words\n");
  EXPECT_NE(usage_error([&] { experiments::read_ini(words, "w.ini"); }).find("w.ini"), std::string::npos);
}

TEST(Ini, StoredEntriesComeAfterTheCommandLine) {
  po::options_description desc;
  experiments::classify_settings().add_options(desc);
  po::variables_map vm;
  po::store(po::command_line_parser(std::vector<std::string>{"--epochs", "7"}).options(desc).run(), vm);
  experiments::store_entries({{"epochs", "3"}, {"lr", "0.2"}}, desc, vm, "c.ini");
  po::notify(vm);
  const auto s = experiments::classify_settings().from_options(vm);
  EXPECT_EQ(s.epochs, 7);   // the command line wins
  EXPECT_EQ(s.lr, 0.2);     // the file fills what the command line left
  EXPECT_TRUE(experiments::explicitly_given(vm, "lr"));
  EXPECT_FALSE(experiments::explicitly_given(vm, "momentum"));
  EXPECT_EQ(usage_error([&] { experiments::store_entries({{"learning-rate", "3"}}, desc, vm, "c.ini"); }),
            "c.ini: unknown setting 'learning-rate'");
}

// ---- run directory and resume policy ----

TEST(RunDirectory, FreshRunResumeAndTheAlreadyHoldsARunRule) {
  TempDir tmp;
  const std::string dir = tmp / "run";
  experiments::RunDirectory run(dir);
  EXPECT_FALSE(run.holds_run());
  run.lock(/*fresh=*/true);
  experiments::RunConfig config;
  config.set("epochs", "3");
  run.start(config, "epoch,loss");
  EXPECT_EQ(read_file(run.file("config.ini")).find("epochs = 3\n") != std::string::npos, true);
  for (int e = 1; e <= 3; ++e) run.append_metrics(std::to_string(e) + ",0." + std::to_string(e));
  EXPECT_TRUE(run.holds_run());
  EXPECT_NE(usage_error([&] { run.refuse_existing_run(); }).find("--out " + dir + " already holds a run"),
            std::string::npos);
  run.resume_at(1);  // rows after the last checkpoint go
  EXPECT_EQ(read_file(run.metrics()), "epoch,loss\n1,0.1\n");
  EXPECT_NE(usage_error([&] { run.require_checkpoint(); }).find("no checkpoint"), std::string::npos);
  // A file where the directory should be is refused at once.
  std::ofstream(tmp / "file") << "x";
  EXPECT_NE(usage_error([&] { experiments::RunDirectory bad(tmp / "file"); }).find("--out"), std::string::npos);
}

// eval, export and analyze find their checkpoint from --run and --checkpoint with this one rule.
TEST(RunDirectory, CheckpointFromFlagsNeedsARunForBestAndLastAndAnExistingFile) {
  TempDir tmp;
  const std::string dir = tmp / "run";
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/best.h5") << "x";
  EXPECT_EQ(experiments::checkpoint_from_flags(dir, "best"), dir + "/best.h5");
  EXPECT_EQ(experiments::checkpoint_from_flags("", dir + "/best.h5"), dir + "/best.h5");
  EXPECT_EQ(usage_error([&] { experiments::checkpoint_from_flags("", "last"); }),
            "--run RUN_DIR is required (or --checkpoint FILE)");
  EXPECT_EQ(usage_error([&] { experiments::checkpoint_from_flags(dir, "last"); }),
            "--checkpoint: no checkpoint '" + dir + "/last.h5'");
}

TEST(RunDirectory, ResumeKeepsTheSavedSettingsExceptWhereAndHow) {
  experiments::RunConfig saved, given;
  for (auto* c : {&saved, &given}) {
    c->set("epochs", "5");
    c->set("device", "cpu");
    c->set("threads", "1");
  }
  given.set("device", "cuda");
  given.set("threads", "4");
  // device may change (taken as given); threads keeps the saved count unless given explicitly.
  auto merged = experiments::resume_config(saved, given, {}, {"device"}, "run", "", /*quiet=*/true);
  EXPECT_EQ(merged.get("device"), "cuda");
  EXPECT_EQ(merged.get("threads"), "1");
  merged = experiments::resume_config(saved, given, {"threads"}, {"device"}, "run", "", true);
  EXPECT_EQ(merged.get("threads"), "4");
  // Any other setting given again must match.
  given.set("epochs", "6");
  EXPECT_EQ(usage_error([&] { experiments::resume_config(saved, given, {"epochs"}, {"device"}, "run", "", true); }),
            "--resume continues run with its saved configuration; --epochs 6 differs from the saved 5");
  EXPECT_EQ(experiments::resume_config(saved, given, {}, {"device"}, "run", "", true).get("epochs"), "5");
  // Issue 14, item 1: the run's length, given explicitly, is taken as given (the caller checks it
  // against the units done); not given, the saved one stays.
  EXPECT_EQ(experiments::resume_config(saved, given, {"epochs"}, {"device"}, "run", "", true, "epochs").get("epochs"),
            "6");
  EXPECT_EQ(experiments::resume_config(saved, given, {}, {"device"}, "run", "", true, "epochs").get("epochs"), "5");
}

// ---- the training loop ----

// Records what the loop hands each callback, in order.
struct Recorder : experiments::Callback {
  std::string name;
  std::vector<std::string>* log;
  Recorder(std::string n, std::vector<std::string>* l) : name(std::move(n)), log(l) {}
  void after_unit(experiments::Unit& u) override {
    log->push_back(name + std::to_string(u.done()) + (u.evaluated ? "e" : "") + (u.best ? "b" : ""));
  }
  void on_error(experiments::Unit& u) override { log->push_back(name + "!" + std::to_string(u.done())); }
};

TEST(TrainingLoop, CallbacksInOrderEvaluationCadenceBestAndStop) {
  std::vector<std::string> log;
  experiments::CheckpointInfo info;
  // Accuracies 0.2, 0.5, 0.4, 0.6, 0.3: evaluated every 2 units and after the last (5).
  const std::vector<double> acc = {0.2, 0.5, 0.4, 0.6, 0.3};
  experiments::Evaluation eval(2, 5, [&](experiments::Unit& u) { return acc[static_cast<size_t>(u.index)]; }, info,
                               /*track_best=*/true);
  Recorder a("a", &log);
  experiments::LoopOptions o;
  o.start = 0;
  o.total = 5;
  const auto done = experiments::run_training(o, [](experiments::Unit& u) { u.loss = 1.0; }, {&eval, &a});
  EXPECT_EQ(done, 5);
  EXPECT_EQ(log, (std::vector<std::string>{"a1", "a2eb", "a3", "a4eb", "a5e"}));
  EXPECT_EQ(info.best_val_accuracy, 0.6);
  EXPECT_EQ(info.best_iteration, 4);

  // Resumed at 2 and stopped after 2 units of this invocation: units 3 and 4 run.
  log.clear();
  o.start = 2;
  experiments::StopAfter stop(2, 2, 5, [](const experiments::Unit&) { return std::string(); });
  EXPECT_EQ(experiments::run_training(o, [](experiments::Unit& u) { u.loss = 1.0; }, {&a, &stop}), 4);
  EXPECT_EQ(log, (std::vector<std::string>{"a3", "a4"}));
}

TEST(TrainingLoop, NonFiniteLossStopsNamingTheLastGoodCheckpoint) {
  std::vector<std::string> log;
  Recorder a("a", &log);
  experiments::CheckpointInfo info;
  info.iteration = 2;
  const std::string last = "run/last.h5";
  experiments::LoopOptions o;
  o.total = 5;
  o.unit_name = "iteration";
  o.loss_name = "query loss";
  o.last_checkpoint = &last;
  o.info = &info;
  o.hint = "try a lower --meta-lr";
  try {
    experiments::run_training(o, [](experiments::Unit& u) { u.loss = u.index == 3 ? NAN : 1.0; }, {&a});
    FAIL() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()),
              "non-finite query loss (nan) at iteration 4; training stopped. The last good checkpoint is run/last.h5 "
              "(iteration 2); try a lower --meta-lr");
  }
  EXPECT_EQ(log, (std::vector<std::string>{"a1", "a2", "a3", "a!4"}));
}

// ---- optimizers ----

TEST(Optim, AdamMatchesItsClosedFormAndClippingBoundsTheNorm) {
  // Adam, lr 0.1, one parameter p = 1 with gradients 2 then -1 (betas 0.9, 0.999, eps 1e-8):
  //   step 1: m = 0.2, v = 0.004; m^ = 2, v^ = 4: p = 1 - 0.1 * 2 / (2 + 1e-8) = 0.9000000005
  //   step 2: m = 0.08, v = 0.004996; m^ = 0.08/0.19 = 0.42105263, v^ = 0.004996/0.001999 = 2.49924962
  //           p -= 0.1 * 0.42105263 / (1.58090152 + 1e-8) = 0.02663371 -> 0.87336630
  //   (the same recurrence evaluated in Python double precision: 0.8733662967024315)
  auto p = torch::tensor({1.0}, torch::kDouble);
  meta::Adam adam({p}, 0.1);
  adam.step({torch::tensor({2.0}, torch::kDouble)});
  EXPECT_NEAR(p.item<double>(), 0.9000000005, 1e-12);
  adam.step({torch::tensor({-1.0}, torch::kDouble)});
  EXPECT_NEAR(p.item<double>(), 0.8733662967024315, 1e-12);
  EXPECT_EQ(adam.steps(), 2);
  EXPECT_TRUE(adam.counts_steps());
  EXPECT_EQ(adam.state().size(), 2u);
  EXPECT_EQ(adam.state()[0].first, "exp_avg");

  // Gradients of global norm 5 ([3], [4]) clipped to 1: each scaled by 1 / (5 + 1e-6).
  std::vector<torch::Tensor> grads = {torch::tensor({3.0}, torch::kDouble), torch::Tensor(),
                                      torch::tensor({4.0}, torch::kDouble)};
  EXPECT_DOUBLE_EQ(meta::clip_grad_norm(grads, 1.0), 5.0);
  EXPECT_NEAR(grads[0].item<double>(), 3.0 / (5.0 + 1e-6), 1e-15);
  EXPECT_NEAR(grads[2].item<double>(), 4.0 / (5.0 + 1e-6), 1e-15);
  EXPECT_DOUBLE_EQ(meta::clip_grad_norm(grads, 0.0), 0.0);  // off
}

}  // namespace
