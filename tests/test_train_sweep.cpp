// acdc-meta train --sweep: the sweep-file reader's [sweep] lists (in-process), and the command
// through the real binary (ACDC_META_BIN) on a tiny fixture data set written here (raw IDX,
// MNIST layout, 16x16, 10 classes): a two-variant sweep writes its run directories, evaluations
// and report, whose numbers are those of each variant's eval-Kshot.json; --resume after
// --stop-after ends with the figures of an uninterrupted sweep; bad keys and values exit 2
// naming them.

#include "experiments/commands/cli.h"
#include "experiments/report/numbers.h"
#include "experiments/runs/sweep.h"
#include "tests/support/acdc_meta.h"
#include "tests/support/files.h"
#include "tests/support/images.h"
#include "tests/support/temp_dir.h"

#include <nlohmann/json.hpp>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

using support::lines_of;
using support::read_file;
using support::run_acdc_meta;
using support::write_file;

std::vector<std::string> labels_of(const experiments::SweepFile& f) {
  std::vector<std::string> out;
  for (const auto& v : f.variants) out.push_back(v.label);
  return out;
}

experiments::SweepSyntax train_syntax() {
  experiments::SweepSyntax s;
  s.command = "train";
  s.not_settings = {"out", "resume", "sweep"};
  s.list_keys = {};
  s.settings = {"backbone", "conv", "atoms", "group-size", "first-order", "shots", "ways", "inner-params", "atom-drop",
                "iterations"};
  s.sweep_keys = {"eval-episodes"};
  s.needs_conv = false;
  return s;
}

// ---- the reader ----

TEST(SweepReader, ListsOfAnySettingExpandInFileOrder) {
  support::TempDir tmp;
  write_file(tmp / "s.ini",
             "iterations = 3\neval-episodes = 10\n"
             "[sweep]\nfirst-order = false, true\nconv = standard, acdc-g-net\nbackbone = conv4\n"
             "atoms = 4, 8\ngroup-size = 2\nshots = 1, 5\n");
  const auto f = experiments::read_sweep(tmp / "s.ini", train_syntax());
  // first-order outermost, then conv with its atoms and group-size (standard once, no m or s),
  // then backbone, then shots.
  const std::vector<std::string> expected = {
      "second-order standard conv4 1-shot",           "second-order standard conv4 5-shot",
      "second-order acdc-g-net m=4 s=2 conv4 1-shot", "second-order acdc-g-net m=4 s=2 conv4 5-shot",
      "second-order acdc-g-net m=8 s=2 conv4 1-shot", "second-order acdc-g-net m=8 s=2 conv4 5-shot",
      "first-order standard conv4 1-shot",            "first-order standard conv4 5-shot",
      "first-order acdc-g-net m=4 s=2 conv4 1-shot",  "first-order acdc-g-net m=4 s=2 conv4 5-shot",
      "first-order acdc-g-net m=8 s=2 conv4 1-shot",  "first-order acdc-g-net m=8 s=2 conv4 5-shot"};
  EXPECT_EQ(labels_of(f), expected);
  const experiments::IniEntries settings = {{"first-order", "true"}, {"conv", "acdc-g-net"}, {"atoms", "8"},
                                            {"group-size", "2"},     {"backbone", "conv4"},   {"shots", "5"}};
  EXPECT_EQ(f.variants.back().settings, settings);
  EXPECT_EQ(experiments::variant_slug(f.variants.back().label), "first-order-acdc-g-net-m8-s2-conv4-5-shot");
  // Settings of the whole sweep are kept apart from the variants' shared settings.
  EXPECT_EQ(f.shared, (experiments::IniEntries{{"iterations", "3"}}));
  EXPECT_EQ(f.sweep_settings, (experiments::IniEntries{{"eval-episodes", "10"}}));

  // Without a conv list every list applies to every variant; other values read KEY=VALUE.
  write_file(tmp / "t.ini", "conv = acdc-net\n[sweep]\natoms = 2, 4\ninner-params = all, head\natom-drop = 0.1\n");
  EXPECT_EQ(labels_of(experiments::read_sweep(tmp / "t.ini", train_syntax())),
            (std::vector<std::string>{"m=2 inner-params=all atom-drop=0.1", "m=2 inner-params=head atom-drop=0.1",
                                      "m=4 inner-params=all atom-drop=0.1", "m=4 inner-params=head atom-drop=0.1"}));
}

TEST(SweepReader, ClassifySyntaxIsUnchanged) {
  support::TempDir tmp;
  // classify lists conv, atoms and group-size only (conv first whatever the file order); its other
  // [sweep] keys are shared settings.
  write_file(tmp / "c.ini", "[sweep]\natoms = 4, 8\nconv = standard, acdc-net, acdc-g-net\ngroup-size = 16\nepochs = 2\n");
  const auto f = experiments::read_sweep(tmp / "c.ini", std::vector<std::string>{"out"});
  EXPECT_EQ(labels_of(f), (std::vector<std::string>{"standard", "acdc-net m=4", "acdc-net m=8", "acdc-g-net m=4 s=16",
                                                    "acdc-g-net m=8 s=16"}));
  EXPECT_EQ(f.shared, (experiments::IniEntries{{"epochs", "2"}}));
  write_file(tmp / "d.ini", "[sweep]\natoms = 4\n");
  EXPECT_THROW(experiments::read_sweep(tmp / "d.ini", std::vector<std::string>{}), experiments::UsageError);
}

TEST(SweepReader, BadKeysAreNamed) {
  support::TempDir tmp;
  auto error = [&](const std::string& text) {
    write_file(tmp / "bad.ini", text);
    try {
      experiments::read_sweep(tmp / "bad.ini", train_syntax());
    } catch (const experiments::UsageError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  auto e = error("[sweep]\nconv = standard\nlearning-rate = 1, 2\n");
  EXPECT_NE(e.find("bad.ini [sweep]"), std::string::npos) << e;
  EXPECT_NE(e.find("learning-rate"), std::string::npos) << e;
  e = error("[sweep]\nout = a, b\n");
  EXPECT_NE(e.find("'out' cannot be set"), std::string::npos) << e;
  e = error("[sweep]\natoms = 4,, 8\n");
  EXPECT_NE(e.find("bad.ini [sweep] atoms"), std::string::npos) << e;
  e = error("[v]\nconv = standard\neval-episodes = 5\n");
  EXPECT_NE(e.find("bad.ini [v]: 'eval-episodes'"), std::string::npos) << e;
  e = error("iterations = 2\n");
  EXPECT_NE(e.find("no variants"), std::string::npos) << e;
}

// ---- the command ----

// Raw IDX files: `per_class` 16x16 images of each of 10 classes (a bright block per class).
void write_idx(const std::string& dir, const std::string& prefix, int64_t per_class, uint64_t seed) {
  const auto labels = torch::arange(10 * per_class, torch::kLong).remainder(10);
  support::write_idx(dir, prefix, support::class_images(labels, 16, 1, seed, 5, 4), labels);
}

class TrainSweep : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tmp_ = std::make_unique<support::TempDir>("acdc_meta_train_sweep_");
    write_idx(dir("data"), "train", 8, 1);
    write_idx(dir("data"), "t10k", 20, 2);  // 5-shot evaluation: 5 + 15 queries per class
    // A tiny conv4 (width 8, 16 px, 1 channel), 3-way 1-shot, 4 iterations; 10 test episodes.
    write_file(dir("sweep.ini"),
               "dataset = mnist:" + dir("data") + "\n"
               "backbone = conv4\nwidth = 8\nways = 3\nshots = 1\nqueries = 2\nmeta-batch = 2\ninner-steps = 1\n"
               "inner-steps-test = 2\ninner-lr = 0.1\niterations = 4\nval-every = 2\nval-episodes = 3\nseed = 3\n"
               "eval-episodes = 10\n"
               "[sweep]\nconv = standard, acdc-net\natoms = 4\n");
  }
  static void TearDownTestSuite() { tmp_.reset(); }
  static std::string dir(const std::string& name) { return *tmp_ / name; }
  static std::string sweep(const std::string& out) {
    return "train --sweep " + dir("sweep.ini") + " --out " + dir(out) + " --threads 1";
  }
  static std::unique_ptr<support::TempDir> tmp_;
};

std::unique_ptr<support::TempDir> TrainSweep::tmp_;

// The CSV's rows as cells (no quoted commas in this sweep's cells).
std::vector<std::vector<std::string>> csv_rows(const std::string& text) {
  std::vector<std::vector<std::string>> out;
  for (const auto& line : lines_of(text)) {
    std::vector<std::string> cells;
    std::stringstream in(line);
    std::string cell;
    while (std::getline(in, cell, ',')) cells.push_back(cell);
    if (!line.empty() && line.back() == ',') cells.push_back("");
    out.push_back(cells);
  }
  return out;
}

// The rows without the columns that differ between two sweeps of the same file (where they ran,
// how long they took).
std::vector<std::vector<std::string>> figures(const std::string& csv) {
  auto rows = csv_rows(csv);
  const auto header = rows.front();
  for (auto& row : rows) {
    std::vector<std::string> kept;
    for (size_t c = 0; c < row.size() && c < header.size(); ++c) {
      if (header[c] != "run_dir" && header[c] != "train_seconds") kept.push_back(row[c]);
    }
    row = kept;
  }
  return rows;
}

TEST_F(TrainSweep, TrainsEvaluatesAndReportsEveryVariant) {
  const auto r = run_acdc_meta(sweep("full"));
  ASSERT_EQ(r.code, 0) << r.output;
  for (const char* variant : {"standard", "acdc-net-m4"}) {
    for (const char* file : {"config.ini", "metrics.csv", "last.h5", "best.h5", "eval-1shot.json", "eval-5shot.json",
                             "train-time.json"}) {
      EXPECT_TRUE(fs::exists(dir("full") + "/" + variant + "/" + file)) << variant << "/" << file;
    }
  }
  const auto csv = csv_rows(read_file(dir("full/results.csv")));
  ASSERT_EQ(csv.size(), 3u) << read_file(dir("full/results.csv"));
  const std::vector<std::string> header = {"variant",       "backbone",     "conv",           "m",
                                           "s",             "params",       "macs_per_image", "ways",
                                           "accuracy_1shot", "ci95_1shot",  "episodes_1shot", "accuracy_5shot",
                                           "ci95_5shot",    "episodes_5shot", "iterations",   "train_seconds",
                                           "run_dir"};
  EXPECT_EQ(csv[0], header);
  EXPECT_EQ(csv[1][0], "standard");
  EXPECT_EQ(csv[1][3], "");  // no atoms
  EXPECT_EQ(csv[2][0], "acdc-net m=4");
  EXPECT_EQ(csv[2][2], "acdc-net");
  EXPECT_EQ(csv[2][3], "4");
  EXPECT_LT(std::stoll(csv[2][5]), std::stoll(csv[1][5]));  // fewer parameters
  const auto md = read_file(dir("full/results.md"));
  // The table's figures are those of each variant's own evaluation files.
  for (size_t i = 1; i < csv.size(); ++i) {
    const auto slug = i == 1 ? "standard" : "acdc-net-m4";
    EXPECT_EQ(csv[i][7], "3");
    EXPECT_EQ(csv[i][14], "4");
    for (const auto& [shots, column] : {std::pair<int, size_t>{1, 8}, {5, 11}}) {
      const auto j = nlohmann::json::parse(
          read_file(dir("full") + "/" + slug + "/eval-" + std::to_string(shots) + "shot.json"));
      const auto& result = j.at("results").at(0);
      EXPECT_EQ(result.at("shots").get<int>(), shots);
      EXPECT_EQ(result.at("ways").get<int>(), 3);
      EXPECT_EQ(result.at("episodes").get<int>(), 10);
      const double acc = result.at("accuracy").get<double>(), ci = result.at("ci95").get<double>();
      EXPECT_EQ(std::stod(csv[i][column]), acc) << slug << " " << shots;
      EXPECT_EQ(std::stod(csv[i][column + 1]), ci) << slug << " " << shots;
      EXPECT_EQ(csv[i][column + 2], "10");
      EXPECT_NE(md.find(experiments::fixed(acc, 2) + " ± " + experiments::fixed(ci, 2)), std::string::npos)
          << slug << " " << shots << "\n" << md;
      EXPECT_EQ(j.at("settings").at("checkpoint").get<std::string>(), dir("full") + "/" + slug + "/best.h5");
    }
  }
  EXPECT_NE(md.find("| acdc-net m=4 | conv4 | acdc-net | 4 | – | "), std::string::npos) << md;
  EXPECT_NE(md.find("Command: `acdc-meta train --sweep"), std::string::npos) << md;
  EXPECT_NE(md.find("Shared settings: dataset = mnist:"), std::string::npos) << md;
  const auto svg = read_file(dir("full/results.svg"));
  EXPECT_EQ(svg.rfind("<?xml", 0), 0u);
  EXPECT_NE(svg.find("accuracy (%)"), std::string::npos);
  size_t bars = 0, intervals = 0;
  for (auto at = svg.find("<path d=\"M"); at != std::string::npos; at = svg.find("<path d=\"M", at + 1)) ++bars;
  for (size_t i = 1; i < csv.size(); ++i) intervals += (std::stod(csv[i][9]) > 0) + (std::stod(csv[i][12]) > 0);
  EXPECT_GT(intervals, 0u);
  EXPECT_EQ(bars, intervals);  // an error bar per point with a non-zero CI
  EXPECT_NE(svg.find(">acdc-net m=4 " + experiments::fixed(std::stod(csv[2][11]), 1) + " %</text>"), std::string::npos);
  EXPECT_NE(svg.find(">1-shot</text>"), std::string::npos);  // the legend
  EXPECT_NE(svg.find(">5-shot</text>"), std::string::npos);
  const auto json = nlohmann::json::parse(read_file(dir("full/results.json")));
  ASSERT_EQ(json.size(), 2u);
  EXPECT_EQ(json[1].at("label").get<std::string>(), "acdc-net m=4");

  // --json prints the rows alone on stdout; a finished sweep is reused as it is.
  const auto before = read_file(dir("full/results.csv"));
  const auto again = support::run_command(support::acdc_meta_path() + " " + sweep("full") + " --resume --json",
                                          /*merge_stderr=*/false);
  ASSERT_EQ(again.code, 0) << again.output;
  EXPECT_EQ(nlohmann::json::parse(again.output), json);
  EXPECT_EQ(read_file(dir("full/results.csv")), before);

  // Without --resume, a sweep already in --out is refused, naming it.
  const auto refused = run_acdc_meta(sweep("full"));
  EXPECT_EQ(refused.code, 2) << refused.output;
  EXPECT_NE(refused.output.find("already holds a sweep"), std::string::npos) << refused.output;
  EXPECT_NE(refused.output.find("--resume"), std::string::npos) << refused.output;
}

TEST_F(TrainSweep, ResumeAfterStopAfterEqualsAnUninterruptedSweep) {
  // Uninterrupted.
  auto r = run_acdc_meta(sweep("whole"));
  ASSERT_EQ(r.code, 0) << r.output;
  // Stopped in the first variant, then in the second, then finished.
  r = run_acdc_meta(sweep("parts") + " --stop-after 2");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_FALSE(fs::exists(dir("parts/results.csv")));
  EXPECT_TRUE(fs::exists(dir("parts/standard/last.h5")));
  EXPECT_FALSE(fs::exists(dir("parts/standard/eval-1shot.json")));
  r = run_acdc_meta(sweep("parts") + " --resume --stop-after 2");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("resuming"), std::string::npos) << r.output;
  EXPECT_EQ(csv_rows(read_file(dir("parts/results.csv"))).size(), 2u);  // the first variant's row
  EXPECT_FALSE(fs::exists(dir("parts/acdc-net-m4/eval-1shot.json")));
  r = run_acdc_meta(sweep("parts") + " --resume");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("is evaluated; reusing its results"), std::string::npos) << r.output;
  EXPECT_EQ(figures(read_file(dir("parts/results.csv"))), figures(read_file(dir("whole/results.csv"))));
  // A resume of the finished sweep rewrites the same report.
  const auto csv = read_file(dir("parts/results.csv")), json = read_file(dir("parts/results.json"));
  r = run_acdc_meta(sweep("parts") + " --resume");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(read_file(dir("parts/results.csv")), csv);
  EXPECT_EQ(read_file(dir("parts/results.json")), json);
}

TEST_F(TrainSweep, BadKeysAndValuesExit2NamingThem) {
  const std::string data =
      "dataset = mnist:" + dir("data") + "\nwidth = 8\nways = 3\nqueries = 2\nmeta-batch = 2\niterations = 2\n";
  struct Case {
    std::string file, names, more;
  };
  const std::vector<Case> cases = {
      {"[sweep]\nconv = standard\nlearning-rate = 1, 2\n", "[sweep]", "learning-rate"},
      {"[sweep]\nconv = acdc-net\natoms = 4, x\n", "[acdc-net m=x]", "--atoms"},
      {"[sweep]\nfirst-order = false, maybe\n", "[first-order=maybe]", "maybe"},
      {"[sweep]\nbackbone = conv4, resnet99\n", "[resnet99]", "resnet99"},
      {"[sweep]\nways = 3, 7\n", "[7-way]", "--ways 7"},
      {"eval-episodes = 0\n[sweep]\nconv = standard\n", "eval-episodes", "at least 1"},
      {"[v]\nconv = standard\nrank = 1\n", "'rank' cannot be set", "bad"},
  };
  int n = 0;
  for (const auto& c : cases) {
    const auto name = "bad" + std::to_string(n++);
    write_file(dir(name + ".ini"), data + c.file);
    const auto r = run_acdc_meta("train --sweep " + dir(name + ".ini") + " --out " + dir(name) + " --threads 1");
    EXPECT_EQ(r.code, 2) << c.file << "\n" << r.output;
    EXPECT_NE(r.output.find(c.names), std::string::npos) << c.file << "\n" << r.output;
    EXPECT_NE(r.output.find(c.more), std::string::npos) << c.file << "\n" << r.output;
    EXPECT_NE(r.output.find(name + ".ini"), std::string::npos) << c.file << "\n" << r.output;
    EXPECT_FALSE(fs::exists(dir(name) + "/standard/last.h5")) << c.file;  // nothing trained
  }
  auto r = run_acdc_meta("train --sweep " + dir("sweep.ini") + " --out " + dir("b") + " --eval-episodes 0");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("--eval-episodes"), std::string::npos) << r.output;
  r = run_acdc_meta("train --dataset mnist:" + dir("data") + " --out " + dir("c") + " --json");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("--json needs --sweep"), std::string::npos) << r.output;
  r = run_acdc_meta("train --sweep " + dir("sweep.ini") + " --out " + dir("d") + " --conv acdc-net");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("conflicts with"), std::string::npos) << r.output;
}

}  // namespace
