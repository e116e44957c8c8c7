// `acdc-meta report RUN_OR_SWEEP_DIR...`: flags -> the runs read back (report/run_report.h) ->
// one comparison table per kind of run on stdout (--json: as JSON); --out DIR also writes
// report.md, report.csv and the training curves as SVG. --sweep-csv FILE redraws a classify
// sweep's figure from its results.csv. A train run's parameter count is the only figure that
// needs a network: it is counted here from the run's config.ini.

#include "experiments/commands/cli.h"
#include "experiments/commands/commands.h"
#include "experiments/report/run_report.h"
#include "experiments/report/sweep_report.h"
#include "experiments/runs/output_paths.h"
#include "experiments/runs/run_config.h"
#include "experiments/runs/settings.h"

#include "backbones/registry.h"

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

namespace experiments {

namespace {

namespace fs = std::filesystem;

const char* const kUsage =
    "RUN_OR_SWEEP_DIR... [--out DIR] [--json]\n"
    "       acdc-meta report --sweep-csv RESULTS.csv --out DIR [--title TEXT]";

// The flags that take a value (the words after them are not directories).
bool takes_value(const std::string& flag) { return flag == "--out" || flag == "--sweep-csv" || flag == "--title"; }

// A train run's trainable parameters, from its config.ini (classify runs have them in results.json).
int64_t train_params(const std::string& run_dir) {
  const auto path = run_dir + "/config.ini";
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  try {
    const auto config = RunConfig::parse_ini(text.str(), path);
    return backbones::make_backbone(meta_train_settings().from_config(config).network())->num_params();
  } catch (const std::exception& e) {
    const std::string what = e.what();
    throw std::invalid_argument(what.rfind(path, 0) == 0 ? what : path + ": " + what);
  }
}

void write_file(const std::string& dir, const std::string& name, const std::string& text) {
  write_text_file(dir + "/" + name, text);
}

}  // namespace

int cmd_report(const Args& args) {
  po::options_description desc("report options");
  desc.add_options()
      ("out", po::value<std::string>(), "write report.md, report.csv and the curves (*.svg) into DIR (created)")
      ("json", po::bool_switch(), "print the comparison as JSON (one object per run) instead of the table")
      ("sweep-csv", po::value<std::string>(), "redraw a classify sweep's figure from its results.csv into DIR/results.svg")
      ("title", po::value<std::string>(), "--sweep-csv: the figure's title (default: BACKBONE: test error vs parameters)");
  Args flags, dirs;
  for (size_t i = 0; i < args.size(); ++i) {
    const auto& a = args[i];
    if (a.rfind("-", 0) == 0) {
      flags.push_back(a);
      if (takes_value(a) && i + 1 < args.size()) flags.push_back(args[++i]);
    } else {
      dirs.push_back(a);
    }
  }
  po::variables_map vm;
  if (!parse_args("report", kUsage, flags, desc, vm)) return 0;
  const std::string out = vm.count("out") ? vm["out"].as<std::string>() : "";
  if (!out.empty()) {
    if (fs::exists(out) && !fs::is_directory(out)) throw UsageError("--out " + out + ": is a file, expected a directory");
    const auto parent = fs::path(out).lexically_normal().parent_path();
    if (!parent.empty() && !fs::is_directory(parent)) {
      throw UsageError("--out " + out + ": its folder " + parent.string() + " does not exist");
    }
  }

  if (vm.count("sweep-csv")) {
    if (!dirs.empty()) throw UsageError("--sweep-csv takes no run directories (got '" + dirs.front() + "')");
    if (out.empty()) throw UsageError("--sweep-csv needs --out DIR (the figure is written to DIR/results.svg)");
    const auto rows = report::read_sweep_csv(vm["sweep-csv"].as<std::string>());
    if (rows.empty()) throw UsageError("--sweep-csv " + vm["sweep-csv"].as<std::string>() + ": no variants");
    const std::string title =
        vm.count("title") ? vm["title"].as<std::string>() : rows.front().backbone + ": test error vs parameters";
    fs::create_directories(out);
    write_file(out, "results.svg", report::sweep_svg(rows, title));
    std::cout << out << "/results.svg\n";
    return 0;
  }
  if (vm.count("title")) throw UsageError("--title is for --sweep-csv");
  if (dirs.empty()) throw UsageError("no run directories given (usage: acdc-meta report RUN_OR_SWEEP_DIR...)");

  // ---- read every run before writing anything ----
  std::vector<report::RunRecord> runs;
  for (const auto& dir : report::expand_run_dirs(dirs)) {
    runs.push_back(report::read_run(dir));
    auto& r = runs.back();
    if (r.params < 0 && r.kind == report::RunKind::kTrain) r.params = train_params(r.dir);
  }

  if (vm["json"].as<bool>()) {
    std::cout << report::report_json(runs) << "\n";
  } else {
    std::cout << report::report_markdown(runs);
  }
  if (out.empty()) return 0;
  fs::create_directories(out);
  write_file(out, "report.md", report::report_markdown(runs));
  write_file(out, "report.csv", report::report_csv(runs));
  std::string written = out + "/report.md, report.csv";
  for (const auto& [name, svg] : report::curve_svgs(runs)) {
    write_file(out, name, svg);
    written += ", " + name;
  }
  std::cerr << "report: " << written << "\n";
  return 0;
}

}  // namespace experiments
