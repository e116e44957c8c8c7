#pragma once
// The report of a sweep over conv variants (acdc-meta classify --sweep): a Markdown/CSV table
// shaped like the ACDC paper's Table 1, and an SVG plot of test error against parameter count.

#include "experiments/training/classification.h"

#include <string>
#include <vector>

namespace experiments {

// ---- the sweep report ----

struct ReportInfo {
  std::string title;    // e.g. "conv4 on fashion-mnist:/usr/share/datasets/fashion-mnist"
  std::string command;  // the command line that produced it
  std::string notes;    // extra Markdown under the table (settings)
};

// Rows in sweep order; the first `standard` row is the reference for the ratio columns.
std::string results_markdown(const std::vector<ClassifyResult>& rows, const ReportInfo& info);
std::string results_csv(const std::vector<ClassifyResult>& rows);
// Test error (%) against parameters on a log axis, one labelled point per row, standard conv
// highlighted. Plain SVG 1.1 text.
std::string results_svg(const std::vector<ClassifyResult>& rows, const std::string& title);


}  // namespace experiments
