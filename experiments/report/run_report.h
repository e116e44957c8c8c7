#pragma once
// `acdc-meta report`: runs of `train` and `classify` read back from their directories and
// compared: one table per kind of run (the settings that differ between the runs become
// columns), the same figures as CSV and JSON, and their training curves as SVG. Plain files in,
// plain text out: no LibTorch (the command fills in what needs a network, e.g. a train run's
// parameter count).
//
// A run directory holds config.ini and metrics.csv; a train run may hold eval results
// (eval*.json: {"results": [{ways, shots, episodes, accuracy, ci95}], ...}), a classify run
// results.json. A sweep directory holds no config.ini and runs in its subdirectories.

#include "experiments/report/sweep_report.h"
#include "experiments/report/table.h"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace experiments::report {

// metrics.csv as numbers: a cell that is empty reads as NaN.
struct MetricsCsv {
  std::string path;
  std::vector<std::string> columns;
  std::vector<std::vector<double>> rows;
  // The column's index, -1 when there is none.
  int column(const std::string& name) const;
};

// Reads metrics.csv. Throws std::invalid_argument "PATH: ..." when it cannot be read, and
// "PATH: line N: ..." for a row with the wrong number of cells or a cell that is not a number.
// Files written before the accuracies were percent and the seconds column was renamed (train:
// "seconds" was the elapsed time and "accuracy" a fraction; classify: "seconds" was the epoch's)
// read as the current layout: columns renamed, accuracy scaled to percent.
MetricsCsv read_metrics_csv(const std::string& path);

// One meta-test result of a train run (a line of an eval JSON's "results").
struct EvalFigure {
  int64_t ways = 0, shots = 0, episodes = 0;
  double accuracy = 0.0, ci95 = 0.0;  // percent
  std::string file;                   // the JSON it came from
};

// An eval JSON (`acdc-meta eval --json`; train --sweep's eval-Kshot.json): its "results" lines and
// the parameter count in its settings (-1 when it has none). Throws std::invalid_argument
// "PATH: ..." when "results" is missing or a line lacks a field.
struct EvalFile {
  std::vector<EvalFigure> figures;
  int64_t parameters = -1;
};
EvalFile read_eval_json(const std::string& path);

enum class RunKind { kTrain, kClassify };
std::string to_string(RunKind kind);  // "train", "classify"

struct RunRecord {
  std::string dir;   // as given (sweep members: SWEEP/SUBDIR)
  RunKind kind = RunKind::kTrain;
  std::vector<std::pair<std::string, std::string>> settings;  // config.ini, in file order
  MetricsCsv metrics;
  std::vector<EvalFigure> evals;      // train: every eval*.json of the run directory
  bool has_results = false;           // classify: results.json was read
  double test_accuracy = 0.0, test_loss = 0.0;  // from results.json (percent)
  int64_t params = -1;                // results.json (classify), or filled in by the caller

  // The setting's value, "" when config.ini does not have it.
  std::string setting(const std::string& key) const;
};

// The run directories named by `inputs`: a directory with config.ini is a run; one without it
// whose subdirectories hold config.ini is a sweep and stands for them (in name order). Throws
// std::invalid_argument naming the path that is not a directory or holds no run.
std::vector<std::string> expand_run_dirs(const std::vector<std::string>& inputs);

// Reads a run directory. Throws std::invalid_argument naming the file that is missing or bad
// (config.ini, metrics.csv, results.json, eval*.json).
RunRecord read_run(const std::string& dir);

// The comparison: one table per kind of run present (train first), rows in input order.
// Columns: run, kind, backbone, conv, m, s, params, one per setting that differs between the
// runs of that kind, then train: final loss, final query accuracy, best validation accuracy and
// its iteration, and one column per ways/shots evaluated ("acc ± ci"); classify: final train
// loss and accuracy, test loss and accuracy.
std::vector<Table> comparison_tables(const std::vector<RunRecord>& runs);
// The tables as Markdown (separated by a blank line), as one CSV (the train table's columns,
// then the classify table's after a blank line), and as JSON text (one object per run with its
// figures as numbers).
std::string report_markdown(const std::vector<RunRecord>& runs);
std::string report_csv(const std::vector<RunRecord>& runs);
std::string report_json(const std::vector<RunRecord>& runs);

// The training curves, file name -> SVG text. Train runs: loss.svg, query-accuracy.svg,
// validation-accuracy.svg against iteration; classify runs: classify-loss.svg and
// classify-accuracy.svg against epoch (train solid, test dashed). One series per run.
std::vector<std::pair<std::string, std::string>> curve_svgs(const std::vector<RunRecord>& runs);

// A classify sweep's results.csv (sweep_report.h: sweep_csv) read back into its rows, for
// redrawing its figure; throws std::invalid_argument "PATH: line N: ..." for a bad line.
std::vector<VariantRow> read_sweep_csv(const std::string& path);

}  // namespace experiments::report
