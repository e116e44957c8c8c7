// `acdc-meta report` through the real binary (ACDC_META_BIN) over runs made here: two tiny train
// runs (a few meta-iterations) and one classify run (one epoch) on fixture IDX files: the table's
// rows and the settings that differ, the files of --out, --json, an old-layout metrics.csv that
// --resume rewrites, --sweep-csv, and bad inputs exit 2 naming the file. The report's own maths
// (layout, tables, readers) is in test_report.cpp.

#include "tests/support/acdc_meta.h"
#include "tests/support/files.h"
#include "tests/support/temp_dir.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
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

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// Raw IDX files of 16x16 images, `per_class` of each of 10 classes: noise in [0, 60) with a bright
// (220) 5x4 block at a class-specific place, so that a few steps learn something (the images of
// tests/support/images.h, written here without LibTorch).
void write_idx(const std::string& dir, const std::string& prefix, int64_t per_class, uint32_t seed) {
  const int64_t n = 10 * per_class, side = 16;
  std::string images = support::be32(0x803) + support::be32(static_cast<uint32_t>(n)) + support::be32(side) + support::be32(side);
  std::string labels = support::be32(0x801) + support::be32(static_cast<uint32_t>(n));
  uint32_t state = seed;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t c = i % 10, top = (c / 4) * 5, left = (c % 4) * 4;
    labels += static_cast<char>(c);
    for (int64_t y = 0; y < side; ++y) {
      for (int64_t x = 0; x < side; ++x) {
        state = state * 1664525u + 1013904223u;
        const bool block = y >= top && y < top + 5 && x >= left && x < left + 4;
        images += static_cast<char>(block ? 220 : static_cast<int>((state >> 24) % 60));
      }
    }
  }
  support::write_file(dir + "/" + prefix + "-images-idx3-ubyte", images);
  support::write_file(dir + "/" + prefix + "-labels-idx1-ubyte", labels);
}

// The cells of a CSV line (no quoting needed here).
std::vector<std::string> cells(const std::string& line) {
  std::vector<std::string> out;
  std::stringstream in(line);
  std::string c;
  while (std::getline(in, c, ',')) out.push_back(c);
  if (!line.empty() && line.back() == ',') out.emplace_back();
  return out;
}

class ReportCommand : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tmp_ = std::make_unique<support::TempDir>("acdc_meta_report_");
    write_idx(dir("data"), "train", 12, 1);
    write_idx(dir("data"), "t10k", 6, 2);
    // Two train runs that differ in --meta-lr, one classify run.
    for (const auto& [name, meta_lr] : {std::pair<std::string, std::string>{"a", "0.001"}, {"b", "0.002"}}) {
      const auto r = run_acdc_meta(train_args(dir(name)) + " --meta-lr " + meta_lr);
      ASSERT_EQ(r.code, 0) << r.output;
    }
    const auto r = run_acdc_meta("classify --dataset fashion-mnist:" + dir("data") + " --out " + dir("c") +
                                 " --backbone conv4 --width 8 --batch-size 20 --lr 0.05 --threads 1 --epochs 1");
    ASSERT_EQ(r.code, 0) << r.output;
  }
  static void TearDownTestSuite() { tmp_.reset(); }

  static std::string dir(const std::string& name) { return *tmp_ / name; }
  // A tiny ACDC-net conv4 (width 8, 16 px), 3-way 1-shot, 4 iterations validated at 2 and 4.
  static std::string train_args(const std::string& out) {
    return "train --dataset mnist:" + dir("data") +
           " --backbone conv4 --conv acdc-net --width 8 --atoms 4 --ways 3 --shots 1 --queries 2 --meta-batch 2"
           " --inner-steps 1 --iterations 4 --val-every 2 --val-episodes 2 --threads 1 --seed 3 --out " + out;
  }

  static std::unique_ptr<support::TempDir> tmp_;
};

std::unique_ptr<support::TempDir> ReportCommand::tmp_;

TEST_F(ReportCommand, MetricsAccuraciesArePercentAndSecondsNamed) {
  const auto train = lines_of(read_file(dir("a") + "/metrics.csv"));
  ASSERT_EQ(train.size(), 5u);
  EXPECT_EQ(train[0], "iteration,loss,accuracy,meta_lr,second_order,elapsed_seconds,val_accuracy,val_ci95");
  double previous = -1;
  for (size_t i = 1; i < train.size(); ++i) {
    const auto c = cells(train[i]);
    ASSERT_EQ(c.size(), 8u) << train[i];
    const double acc = std::stod(c[2]), elapsed = std::stod(c[5]);
    EXPECT_GE(acc, 0.0);
    EXPECT_LE(acc, 100.0);
    // 3 ways x 2 queries x 2 tasks: a multiple of 100/12, written without float noise.
    EXPECT_NEAR(acc * 12 / 100, std::round(acc * 12 / 100), 1e-9) << c[2];
    EXPECT_LE(c[2].size(), 17u) << c[2];
    EXPECT_GE(elapsed, previous) << "elapsed_seconds is cumulative";
    previous = elapsed;
  }
  const auto classify = lines_of(read_file(dir("c") + "/metrics.csv"));
  EXPECT_EQ(classify[0], "epoch,lr,train_loss,train_accuracy,test_loss,test_accuracy,epoch_seconds,images_per_second");
}

TEST_F(ReportCommand, TableCurvesAndJson) {
  // An eval result in the run directory (as `train --sweep` writes them) joins the table.
  auto r = run_acdc_meta("eval --run " + dir("a") + " --episodes 2 --shots 1 --queries 2 --threads 1 --json > " +
                             dir("a") + "/eval-1shot.json",
                         /*merge_stderr=*/false);
  ASSERT_EQ(r.code, 0) << r.output;
  const auto out = dir("report");
  r = run_acdc_meta("report " + dir("a") + " " + dir("b") + " " + dir("c") + " --out " + out, /*merge_stderr=*/false);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(r.output, read_file(out + "/report.md"));
  EXPECT_NE(r.output.find("### train runs"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("### classify runs"), std::string::npos) << r.output;
  // The differing setting is a column; the ones alike are not.
  const auto md = lines_of(r.output);
  std::string train_header, classify_header;
  for (const auto& line : md) {
    if (line.rfind("| run |", 0) == 0) (train_header.empty() ? train_header : classify_header) = line;
  }
  EXPECT_NE(train_header.find("| meta-lr |"), std::string::npos) << train_header;
  EXPECT_EQ(train_header.find("| iterations |"), std::string::npos) << train_header;
  EXPECT_NE(train_header.find("| eval 3-way 1-shot (%) |"), std::string::npos) << train_header;
  EXPECT_NE(classify_header.find("| test acc (%) |"), std::string::npos) << classify_header;
  EXPECT_NE(r.output.find("| " + dir("a") + " | train | conv4 | acdc-net | 4 | – |"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("| " + dir("b") + " | train |"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("| " + dir("c") + " | classify | conv4 | standard | – | – |"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(" ± "), std::string::npos) << "the eval accuracy with its interval";
  const auto csv = lines_of(read_file(out + "/report.csv"));
  ASSERT_EQ(csv.size(), 5u);  // header + 2 train rows, header + 1 classify row
  for (const char* svg : {"loss.svg", "query-accuracy.svg", "validation-accuracy.svg", "classify-loss.svg",
                          "classify-accuracy.svg"}) {
    const auto text = read_file(out + "/" + svg);
    ASSERT_FALSE(text.empty()) << svg;
    EXPECT_EQ(text.rfind("<?xml", 0), 0u) << svg;
    EXPECT_EQ(text.substr(text.size() - 7), "</svg>\n") << svg;
    EXPECT_EQ(count(text, "<text"), count(text, "</text>")) << svg;
    EXPECT_EQ(count(text, "<svg"), 1u) << svg;
  }
  EXPECT_EQ(count(read_file(out + "/loss.svg"), "<polyline"), 2u);           // one per train run
  EXPECT_EQ(count(read_file(out + "/classify-loss.svg"), "<circle"), 2u);  // one epoch: train and test dots

  r = run_acdc_meta("report " + dir("a") + " " + dir("c") + " --json", /*merge_stderr=*/false);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(r.output.rfind("[", 0), 0u) << r.output;
  EXPECT_NE(r.output.find("\"kind\": \"classify\""), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("\"best_val_accuracy\": "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("\"shots\": 1"), std::string::npos) << r.output;
}

TEST_F(ReportCommand, OldMetricsLayoutResumesAndReports) {
  const auto run = dir("old");
  auto r = run_acdc_meta(train_args(run) + " --stop-after 3");
  ASSERT_EQ(r.code, 0) << r.output;
  // Rewrite it as the earlier layout wrote it: "seconds", query accuracy a fraction.
  const auto rows = lines_of(read_file(run + "/metrics.csv"));
  ASSERT_EQ(rows.size(), 4u);
  std::string old = "iteration,loss,accuracy,meta_lr,second_order,seconds,val_accuracy,val_ci95\n";
  std::vector<double> percent;
  for (size_t i = 1; i < rows.size(); ++i) {
    auto c = cells(rows[i]);
    percent.push_back(std::stod(c[2]));
    std::ostringstream fraction;
    fraction.precision(17);
    fraction << percent.back() / 100.0;
    c[2] = fraction.str();
    for (size_t k = 0; k < c.size(); ++k) old += (k ? "," : "") + c[k];
    old += "\n";
  }
  support::write_file(run + "/metrics.csv", old);
  // The report reads it as the current layout...
  r = run_acdc_meta("report " + run + " --json", /*merge_stderr=*/false);
  ASSERT_EQ(r.code, 0) << r.output;
  // ... and --resume rewrites it in the current one before it appends.
  r = run_acdc_meta("train --resume --out " + run + " --threads 1");
  ASSERT_EQ(r.code, 0) << r.output;
  const auto now = lines_of(read_file(run + "/metrics.csv"));
  ASSERT_EQ(now.size(), 5u);
  EXPECT_EQ(now[0], "iteration,loss,accuracy,meta_lr,second_order,elapsed_seconds,val_accuracy,val_ci95");
  for (size_t i = 1; i <= 2; ++i) EXPECT_NEAR(std::stod(cells(now[i])[2]), percent[i - 1], 1e-9) << now[i];
  for (size_t i = 1; i < now.size(); ++i) EXPECT_GT(std::stod(cells(now[i])[2]) + 1e-12, 0.0);
}

TEST_F(ReportCommand, SweepDirectoryExpandsAndSweepCsvRedraws) {
  // A directory without config.ini whose subdirectories are runs.
  const auto sweep = dir("sweep");
  fs::create_directories(sweep);
  for (const char* f : {"config.ini", "metrics.csv"}) {
    fs::create_directories(sweep + "/one");
    fs::copy_file(dir("a") + "/" + f, sweep + "/one/" + f);
  }
  auto r = run_acdc_meta("report " + sweep, /*merge_stderr=*/false);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("| " + sweep + "/one | train |"), std::string::npos) << r.output;

  support::write_file(dir("sweep.csv"),
                      "variant,backbone,conv,m,s,params,params_ratio,macs_per_image,macs_ratio,test_accuracy,test_error,"
                      "test_loss,train_loss,train_accuracy,epochs,run_dir\n"
                      "standard,conv4,standard,,,112330,1,9815680,1,90.93,9.07,0.25,0.24,91.16,4,runs/s\n"
                      "acdc-net m=8,conv4,acdc-net,8,,34218,0.3,9815680,1,89.57,10.43,0.29,0.29,89.41,4,runs/a\n");
  r = run_acdc_meta("report --sweep-csv " + dir("sweep.csv") + " --title 'conv4 & co' --out " + dir("redrawn"));
  ASSERT_EQ(r.code, 0) << r.output;
  const auto svg = read_file(dir("redrawn") + "/results.svg");
  EXPECT_NE(svg.find(">conv4 &amp; co</text>"), std::string::npos);
  EXPECT_NE(svg.find(">acdc-net m=8 (10.43 %)</text>"), std::string::npos);
}

TEST_F(ReportCommand, BadInputsExit2NamingTheFile) {
  auto r = run_acdc_meta("report " + dir("nothing"));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find(dir("nothing") + ": no such directory"), std::string::npos) << r.output;
  r = run_acdc_meta("report " + dir("data"));  // a directory, but no run
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find(dir("data") + "/config.ini: missing"), std::string::npos) << r.output;
  support::write_file(dir("file"), "x");
  r = run_acdc_meta("report " + dir("file"));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find(dir("file") + ": not a directory"), std::string::npos) << r.output;
  // An unreadable metrics.csv line.
  const auto broken = dir("broken");
  fs::create_directories(broken);
  fs::copy_file(dir("a") + "/config.ini", broken + "/config.ini");
  support::write_file(broken + "/metrics.csv", read_file(dir("a") + "/metrics.csv") + "5,oops\n");
  r = run_acdc_meta("report " + broken);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find(broken + "/metrics.csv: line 6: "), std::string::npos) << r.output;
  r = run_acdc_meta("report");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("no run directories given"), std::string::npos) << r.output;
  r = run_acdc_meta("report " + dir("a") + " --bogus");
  EXPECT_EQ(r.code, 2);
}

}  // namespace
