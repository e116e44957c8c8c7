#pragma once
// The report of a classify sweep over conv variants, from plain rows: a Markdown table shaped
// like the ACDC paper's Table 1 (results.md), the same figures as CSV (results.csv) and a plot
// of test error against parameters (results.svg). No LibTorch, no training code, no CLI.

#include <cstdint>
#include <string>
#include <vector>

namespace experiments::report {

// One variant's finished run (what its results.json holds).
struct VariantRow {
  std::string label;     // variant name, e.g. "acdc-net m=4"
  std::string backbone;  // e.g. "conv4"
  std::string conv;      // conv type name: "standard", "acdc-net", "acdc-g-net", ...
  int64_t atoms = 0, group_size = 0;
  int64_t params = 0, macs_per_image = 0;
  double test_accuracy = 0.0, test_error = 0.0;  // percent
  double test_loss = 0.0, train_loss = 0.0, train_accuracy = 0.0;
  int64_t epochs = 0;
  std::string run_dir;
};

struct SweepInfo {
  std::string title;    // e.g. "conv4 on fashion-mnist:/usr/share/datasets/fashion-mnist"
  std::string command;  // the command line that produced it
  std::string notes;    // extra Markdown under the table (settings)
};

// Rows in sweep order; the first `standard` row is the reference for the ratio columns (they
// show "–" in Markdown and stay empty in CSV when there is none). The columns m and s show "–"
// (Markdown) or stay empty (CSV) where the conv has no atoms or no groups.
std::string sweep_markdown(const std::vector<VariantRow>& rows, const SweepInfo& info);
std::string sweep_csv(const std::vector<VariantRow>& rows);
// Test error (%) against parameters on a log axis, one labelled point per row, the reference
// highlighted. Plain SVG 1.1 text.
std::string sweep_svg(const std::vector<VariantRow>& rows, const std::string& title);

}  // namespace experiments::report

namespace experiments::report {

// ---- few-shot sweeps (`acdc-meta train --sweep`) ----

// One shot count of a variant's evaluation (what its eval-Kshot.json holds).
struct ShotAccuracy {
  int64_t shots = 0;
  int64_t episodes = 0;
  double accuracy = 0.0, ci95 = 0.0;  // percent; ci95 = 1.96 std / sqrt(episodes)
};

// One meta-trained and evaluated variant.
struct FewShotRow {
  std::string label, backbone, conv;
  int64_t atoms = 0, group_size = 0;
  int64_t params = 0, macs_per_image = 0;
  int64_t ways = 0, iterations = 0;
  std::vector<ShotAccuracy> shots;  // in the order of the report's columns (1, 5)
  double train_seconds = 0.0;       // meta-training wall time
  std::string run_dir;
};

// Markdown: variant, backbone, conv, m, s, parameters, MACs/image, one "A ± C" column per shot
// count (of the first row), meta-train seconds; then the command and the notes. m and s show "–"
// where the conv has no atoms or no groups.
std::string fewshot_markdown(const std::vector<FewShotRow>& rows, const SweepInfo& info);
// The same figures, numbers as round-trip text, empty m / s cells where they do not apply.
std::string fewshot_csv(const std::vector<FewShotRow>& rows);
// Accuracy (%) against parameters on a log axis: the first shot count as the red series, the
// second as the blue one, each point with its CI as an error bar and a label.
std::string fewshot_svg(const std::vector<FewShotRow>& rows, const std::string& title);

}  // namespace experiments::report
