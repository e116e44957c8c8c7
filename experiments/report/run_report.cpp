#include "experiments/report/run_report.h"

#include "experiments/report/plot.h"
#include "experiments/report/sweep_report.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <tuple>

namespace experiments::report {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

namespace {

const double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string join(const std::string& dir, const std::string& name) {
  return !dir.empty() && dir.back() == '/' ? dir + name : dir + "/" + name;
}

std::string trim(const std::string& s) {
  const auto a = s.find_first_not_of(" \t\r"), b = s.find_last_not_of(" \t\r");
  return a == std::string::npos ? std::string() : s.substr(a, b - a + 1);
}

// Splits one CSV line (RFC 4180 quotes, as table.cpp writes them).
std::vector<std::string> csv_fields(const std::string& line) {
  std::vector<std::string> out(1);
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        out.back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        out.back() += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      out.emplace_back();
    } else if (c != '\r') {
      out.back() += c;
    }
  }
  return out;
}

bool parse_number(const std::string& text, double& value) {
  if (text.empty()) return false;
  char* end = nullptr;
  value = std::strtod(text.c_str(), &end);
  return end == text.c_str() + text.size();
}

std::string read_text(const std::string& path) {
  if (fs::is_directory(path)) throw std::invalid_argument(path + ": is a directory, expected a file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::invalid_argument(path + ": cannot be read (missing or no permission)");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

json read_json_file(const std::string& path) {
  try {
    return json::parse(read_text(path));
  } catch (const json::exception& e) {
    throw std::invalid_argument(path + ": not valid JSON: " + e.what());
  }
}

double json_number(const json& j, const std::string& key, const std::string& path) {
  if (!j.is_object() || !j.contains(key)) throw std::invalid_argument(path + ": field '" + key + "' is missing");
  if (!j.at(key).is_number()) throw std::invalid_argument(path + ": field '" + key + "' is not a number");
  return j.at(key).get<double>();
}

const std::string kNone = "–";

std::string cell(double v, int decimals) { return std::isfinite(v) ? fixed(v, decimals) : kNone; }
json number_or_null(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

// The figures a row shows, as numbers (NaN: none), shared by the tables and the JSON.
struct Figures {
  double final_loss = kNaN, final_accuracy = kNaN;
  double best_val = kNaN, best_val_iteration = kNaN;  // train
  double test_loss = kNaN, test_accuracy = kNaN;      // classify
};

Figures figures(const RunRecord& r) {
  Figures f;
  const auto& m = r.metrics;
  if (m.rows.empty()) return f;
  const auto& last = m.rows.back();
  auto at = [&](const std::vector<double>& row, const std::string& name) {
    const int c = m.column(name);
    return c < 0 ? kNaN : row[static_cast<size_t>(c)];
  };
  if (r.kind == RunKind::kTrain) {
    f.final_loss = at(last, "loss");
    f.final_accuracy = at(last, "accuracy");
    for (const auto& row : m.rows) {
      const double v = at(row, "val_accuracy");
      if (std::isfinite(v) && !(v <= f.best_val)) {
        f.best_val = v;
        f.best_val_iteration = at(row, "iteration");
      }
    }
  } else {
    f.final_loss = at(last, "train_loss");
    f.final_accuracy = at(last, "train_accuracy");
    if (r.has_results) {
      f.test_loss = r.test_loss;
      f.test_accuracy = r.test_accuracy;
    } else {
      for (const auto& row : m.rows) {
        if (std::isfinite(at(row, "test_accuracy"))) f.test_accuracy = at(row, "test_accuracy"), f.test_loss = at(row, "test_loss");
      }
    }
  }
  return f;
}

bool decomposed(const RunRecord& r) { return !r.setting("conv").empty() && r.setting("conv") != "standard"; }
bool grouped_conv(const RunRecord& r) { return r.setting("conv").rfind("acdc-g-", 0) == 0; }

// Shown in their own columns, never among the differing settings.
const std::set<std::string> kOwnColumns = {"backbone", "conv", "atoms", "group-size"};

// Settings whose values are not the same in every run (a missing key counts as a value), in
// the order they first appear.
std::vector<std::string> differing_settings(const std::vector<const RunRecord*>& runs) {
  std::vector<std::string> keys;
  std::set<std::string> seen;
  for (const auto* r : runs) {
    for (const auto& [key, value] : r->settings) {
      if (seen.insert(key).second && !kOwnColumns.count(key)) keys.push_back(key);
    }
  }
  std::vector<std::string> out;
  for (const auto& key : keys) {
    const std::string first = runs.front()->setting(key);
    bool differs = false;
    for (const auto* r : runs) differs = differs || r->setting(key) != first;
    if (differs) out.push_back(key);
  }
  return out;
}

// The ways/shots pairs evaluated by any of the runs, in ascending order.
std::vector<std::pair<int64_t, int64_t>> eval_settings(const std::vector<const RunRecord*>& runs) {
  std::set<std::pair<int64_t, int64_t>> all;
  for (const auto* r : runs) {
    for (const auto& e : r->evals) all.insert({e.ways, e.shots});
  }
  return {all.begin(), all.end()};
}

// The run's latest figure for ways/shots (the eval file read last wins), or nullptr.
const EvalFigure* find_eval(const RunRecord& r, int64_t ways, int64_t shots) {
  const EvalFigure* found = nullptr;
  for (const auto& e : r.evals) {
    if (e.ways == ways && e.shots == shots) found = &e;
  }
  return found;
}

std::vector<const RunRecord*> of_kind(const std::vector<RunRecord>& runs, RunKind kind) {
  std::vector<const RunRecord*> out;
  for (const auto& r : runs) {
    if (r.kind == kind) out.push_back(&r);
  }
  return out;
}

Table kind_table(const std::vector<const RunRecord*>& runs, RunKind kind) {
  const auto R = Align::kRight;
  std::vector<Column> columns = {{"run"}, {"kind"}, {"backbone"}, {"conv"}, {"m", R}, {"s", R}, {"params", R}};
  const auto differing = differing_settings(runs);
  for (const auto& key : differing) columns.push_back({key});
  const auto evals = eval_settings(runs);
  if (kind == RunKind::kTrain) {
    for (const char* c : {"final loss", "final query acc (%)", "best val acc (%)", "at iteration"}) columns.push_back({c, R});
    for (const auto& [ways, shots] : evals) {
      columns.push_back({"eval " + std::to_string(ways) + "-way " + std::to_string(shots) + "-shot (%)", R});
    }
  } else {
    for (const char* c : {"final train loss", "final train acc (%)", "test loss", "test acc (%)"}) columns.push_back({c, R});
  }
  Table table(columns, kind == RunKind::kTrain ? "train runs" : "classify runs");
  for (const auto* r : runs) {
    std::vector<std::string> cells = {r->dir, to_string(r->kind), r->setting("backbone"), r->setting("conv"),
                                      decomposed(*r) ? r->setting("atoms") : kNone,
                                      grouped_conv(*r) ? r->setting("group-size") : kNone,
                                      r->params >= 0 ? grouped(r->params) : kNone};
    for (const auto& key : differing) {
      const auto v = r->setting(key);
      cells.push_back(v.empty() ? kNone : v);
    }
    const auto f = figures(*r);
    if (kind == RunKind::kTrain) {
      cells.push_back(cell(f.final_loss, 4));
      cells.push_back(cell(f.final_accuracy, 2));
      cells.push_back(cell(f.best_val, 2));
      cells.push_back(std::isfinite(f.best_val_iteration) ? std::to_string(static_cast<int64_t>(f.best_val_iteration)) : kNone);
      for (const auto& [ways, shots] : evals) {
        const auto* e = find_eval(*r, ways, shots);
        cells.push_back(e ? fixed(e->accuracy, 2) + " ± " + fixed(e->ci95, 2) : kNone);
      }
    } else {
      cells.push_back(cell(f.final_loss, 4));
      cells.push_back(cell(f.final_accuracy, 2));
      cells.push_back(cell(f.test_loss, 4));
      cells.push_back(cell(f.test_accuracy, 2));
    }
    table.add_row(std::move(cells));
  }
  return table;
}

}  // namespace

int MetricsCsv::column(const std::string& name) const {
  const auto it = std::find(columns.begin(), columns.end(), name);
  return it == columns.end() ? -1 : static_cast<int>(it - columns.begin());
}

MetricsCsv read_metrics_csv(const std::string& path) {
  MetricsCsv m;
  m.path = path;
  std::istringstream in(read_text(path));
  std::string line;
  if (!std::getline(in, line) || trim(line).empty()) throw std::invalid_argument(path + ": line 1: no header");
  m.columns = csv_fields(trim(line));
  for (auto& c : m.columns) c = trim(c);
  int64_t number = 1;
  while (std::getline(in, line)) {
    ++number;
    if (trim(line).empty()) continue;
    const auto fields = csv_fields(trim(line));
    if (fields.size() != m.columns.size()) {
      throw std::invalid_argument(path + ": line " + std::to_string(number) + ": " + std::to_string(fields.size()) +
                                  " cells, the header has " + std::to_string(m.columns.size()));
    }
    std::vector<double> row;
    for (size_t i = 0; i < fields.size(); ++i) {
      const auto text = trim(fields[i]);
      double v = kNaN;
      if (!text.empty() && !parse_number(text, v)) {
        throw std::invalid_argument(path + ": line " + std::to_string(number) + ": column '" + m.columns[i] + "' is '" +
                                    text + "', not a number");
      }
      row.push_back(v);
    }
    m.rows.push_back(std::move(row));
  }
  // The earlier layout: "seconds" meant the elapsed time (train) or the epoch's (classify),
  // and train's query accuracy was a fraction.
  const int seconds = m.column("seconds");
  if (seconds >= 0 && !m.columns.empty()) {
    const bool train = m.columns.front() == "iteration";
    m.columns[static_cast<size_t>(seconds)] = train ? "elapsed_seconds" : "epoch_seconds";
    const int accuracy = m.column("accuracy");
    if (train && accuracy >= 0) {
      for (auto& row : m.rows) row[static_cast<size_t>(accuracy)] *= 100.0;
    }
  }
  return m;
}

std::string to_string(RunKind kind) { return kind == RunKind::kTrain ? "train" : "classify"; }

std::string RunRecord::setting(const std::string& key) const {
  for (const auto& [k, v] : settings) {
    if (k == key) return v;
  }
  return "";
}

namespace {

// Names compared with their digit runs as numbers, so that a sweep's variants come out in the
// order of their settings: acdc-net-m4, m6, m8, m12, m16 (not m12, m16, m4...).
bool natural_less(const std::string& a, const std::string& b) {
  const auto digit = [](char c) { return c >= '0' && c <= '9'; };
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (digit(a[i]) && digit(b[j])) {
      size_t ei = i, ej = j;
      while (ei < a.size() && digit(a[ei])) ++ei;
      while (ej < b.size() && digit(b[ej])) ++ej;
      size_t si = i, sj = j;  // leading zeros do not change the value
      while (si + 1 < ei && a[si] == '0') ++si;
      while (sj + 1 < ej && b[sj] == '0') ++sj;
      const auto na = a.substr(si, ei - si), nb = b.substr(sj, ej - sj);
      if (na.size() != nb.size()) return na.size() < nb.size();
      if (na != nb) return na < nb;
      i = ei;
      j = ej;
    } else {
      if (a[i] != b[j]) return a[i] < b[j];
      ++i;
      ++j;
    }
  }
  if ((a.size() - i) != (b.size() - j)) return a.size() - i < b.size() - j;
  return a < b;
}

}  // namespace

std::vector<std::string> expand_run_dirs(const std::vector<std::string>& inputs) {
  std::vector<std::string> out;
  for (const auto& input : inputs) {
    if (!fs::is_directory(input)) {
      throw std::invalid_argument(input + ": " + (fs::exists(input) ? "not a directory" : "no such directory") +
                                  " (expected a run directory of train or classify, or a sweep directory)");
    }
    if (fs::exists(join(input, "config.ini"))) {
      out.push_back(input);
      continue;
    }
    std::vector<std::string> members;
    for (const auto& entry : fs::directory_iterator(input)) {
      if (entry.is_directory() && fs::exists(entry.path() / "config.ini")) members.push_back(entry.path().filename().string());
    }
    if (members.empty()) {
      throw std::invalid_argument(join(input, "config.ini") +
                                  ": missing, and no subdirectory holds a run (not a run or sweep directory)");
    }
    std::sort(members.begin(), members.end(), natural_less);
    for (const auto& m : members) out.push_back(join(input, m));
  }
  return out;
}

RunRecord read_run(const std::string& dir) {
  RunRecord r;
  r.dir = dir;
  while (r.dir.size() > 1 && r.dir.back() == '/') r.dir.pop_back();
  const auto config = join(r.dir, "config.ini");
  if (!fs::exists(config)) throw std::invalid_argument(config + ": missing (not a run directory of train or classify)");
  std::istringstream in(read_text(config));
  std::string line;
  for (int64_t number = 1; std::getline(in, line); ++number) {
    const auto text = trim(line.substr(0, line.find('#')));
    if (text.empty()) continue;
    const auto eq = text.find('=');
    if (eq == std::string::npos || text.front() == '[') {
      throw std::invalid_argument(config + ": line " + std::to_string(number) + ": expected 'key = value', got '" + text + "'");
    }
    r.settings.emplace_back(trim(text.substr(0, eq)), trim(text.substr(eq + 1)));
  }
  const bool train = !r.setting("iterations").empty(), classify = !r.setting("epochs").empty();
  if (train == classify) {
    throw std::invalid_argument(config + ": neither a train run (key 'iterations') nor a classify run (key 'epochs')");
  }
  r.kind = train ? RunKind::kTrain : RunKind::kClassify;
  r.metrics = read_metrics_csv(join(r.dir, "metrics.csv"));
  const char* first = train ? "iteration" : "epoch";
  if (r.metrics.columns.empty() || r.metrics.columns.front() != first) {
    throw std::invalid_argument(r.metrics.path + ": line 1: expected the first column '" + first + "' of a " +
                                to_string(r.kind) + " run");
  }
  if (classify) {
    const auto results = join(r.dir, "results.json");
    if (fs::exists(results)) {
      const auto j = read_json_file(results);
      r.has_results = true;
      r.test_accuracy = json_number(j, "test_accuracy", results);
      r.test_loss = json_number(j, "test_loss", results);
      r.params = static_cast<int64_t>(json_number(j, "params", results));
    }
    return r;
  }
  // eval results: eval*.json, in name order (eval-1shot.json, eval-5shot.json, ...).
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator(r.dir)) {
    const auto name = entry.path().filename().string();
    if (entry.is_regular_file() && name.rfind("eval", 0) == 0 && entry.path().extension() == ".json") files.push_back(name);
  }
  std::sort(files.begin(), files.end());
  for (const auto& name : files) {
    const auto eval = read_eval_json(join(r.dir, name));
    r.evals.insert(r.evals.end(), eval.figures.begin(), eval.figures.end());
    if (r.params < 0) r.params = eval.parameters;
  }
  return r;
}

EvalFile read_eval_json(const std::string& path) {
  const auto j = read_json_file(path);
  if (!j.is_object() || !j.contains("results") || !j.at("results").is_array()) {
    throw std::invalid_argument(path + ": field 'results' is missing or not an array (expected `acdc-meta eval --json`)");
  }
  EvalFile out;
  for (const auto& e : j.at("results")) {
    EvalFigure f;
    f.ways = static_cast<int64_t>(json_number(e, "ways", path));
    f.shots = static_cast<int64_t>(json_number(e, "shots", path));
    f.episodes = static_cast<int64_t>(json_number(e, "episodes", path));
    f.accuracy = json_number(e, "accuracy", path);
    f.ci95 = json_number(e, "ci95", path);
    f.file = path;
    out.figures.push_back(f);
  }
  if (j.contains("settings") && j.at("settings").is_object() && j.at("settings").contains("parameters") &&
      j.at("settings").at("parameters").is_number_integer()) {
    out.parameters = j.at("settings").at("parameters").get<int64_t>();
  }
  return out;
}

std::vector<Table> comparison_tables(const std::vector<RunRecord>& runs) {
  std::vector<Table> out;
  for (const auto kind : {RunKind::kTrain, RunKind::kClassify}) {
    const auto these = of_kind(runs, kind);
    if (!these.empty()) out.push_back(kind_table(these, kind));
  }
  return out;
}

std::string report_markdown(const std::vector<RunRecord>& runs) {
  std::string out;
  for (const auto& t : comparison_tables(runs)) out += (out.empty() ? "" : "\n") + t.markdown();
  return out;
}

std::string report_csv(const std::vector<RunRecord>& runs) {
  std::string out;
  for (const auto& t : comparison_tables(runs)) out += (out.empty() ? "" : "\n") + t.csv();
  return out;
}

std::string report_json(const std::vector<RunRecord>& runs) {
  json all = json::array();
  for (const auto kind : {RunKind::kTrain, RunKind::kClassify}) {
    const auto these = of_kind(runs, kind);
    if (these.empty()) continue;
    const auto differing = differing_settings(these);
    for (const auto* r : these) {
      json row = {{"run", r->dir}, {"kind", to_string(kind)}, {"backbone", r->setting("backbone")}, {"conv", r->setting("conv")}};
      row["m"] = decomposed(*r) ? json(std::atoll(r->setting("atoms").c_str())) : json(nullptr);
      row["s"] = grouped_conv(*r) ? json(std::atoll(r->setting("group-size").c_str())) : json(nullptr);
      row["params"] = r->params >= 0 ? json(r->params) : json(nullptr);
      json settings = json::object();
      for (const auto& key : differing) settings[key] = r->setting(key);
      row["differing_settings"] = settings;
      const auto f = figures(*r);
      if (kind == RunKind::kTrain) {
        row["final_loss"] = number_or_null(f.final_loss);
        row["final_query_accuracy"] = number_or_null(f.final_accuracy);
        row["best_val_accuracy"] = number_or_null(f.best_val);
        row["best_val_iteration"] =
            std::isfinite(f.best_val_iteration) ? json(static_cast<int64_t>(f.best_val_iteration)) : json(nullptr);
        json evals = json::array();
        for (const auto& e : r->evals) {
          evals.push_back({{"ways", e.ways}, {"shots", e.shots}, {"episodes", e.episodes}, {"accuracy", e.accuracy},
                           {"ci95", e.ci95}, {"file", e.file}});
        }
        row["eval"] = evals;
      } else {
        row["final_train_loss"] = number_or_null(f.final_loss);
        row["final_train_accuracy"] = number_or_null(f.final_accuracy);
        row["test_loss"] = number_or_null(f.test_loss);
        row["test_accuracy"] = number_or_null(f.test_accuracy);
      }
      all.push_back(row);
    }
  }
  return all.dump(2);
}

namespace {

// A run's name in a legend: its folder's own name where that tells the runs apart (a sweep's
// variants), else its path as given.
std::string legend_name(const RunRecord& run, const std::vector<const RunRecord*>& all) {
  const auto base = [](const std::string& dir) { return fs::path(dir).filename().string(); };
  for (const auto* other : all) {
    if (other != &run && base(other->dir) == base(run.dir)) return run.dir;
  }
  return base(run.dir);
}

}  // namespace

std::vector<std::pair<std::string, std::string>> curve_svgs(const std::vector<RunRecord>& runs) {
  std::vector<std::pair<std::string, std::string>> out;
  auto series = [](const RunRecord& r, const std::string& y, const std::string& name, bool dashed) {
    LineSeries s;
    s.name = name;
    s.dashed = dashed;
    const int xc = 0, yc = r.metrics.column(y);
    if (yc < 0) return s;
    for (const auto& row : r.metrics.rows) s.points.emplace_back(row[xc], row[static_cast<size_t>(yc)]);
    return s;
  };
  const auto train = of_kind(runs, RunKind::kTrain);
  if (!train.empty()) {
    const std::vector<std::tuple<std::string, std::string, std::string, std::string>> plots = {
        {"loss.svg", "loss", "query loss", "training: query loss (after adaptation)"},
        {"query-accuracy.svg", "accuracy", "query accuracy (%)", "training: query accuracy"},
        {"validation-accuracy.svg", "val_accuracy", "validation accuracy (%)", "validation accuracy"}};
    for (const auto& [file, column, y_label, title] : plots) {
      LinePlot plot;
      plot.title = title;
      plot.x_label = "iteration";
      plot.y_label = y_label;
      for (const auto* r : train) plot.series.push_back(series(*r, column, legend_name(*r, train), false));
      out.emplace_back(file, line_plot_svg(plot));
    }
  }
  const auto classify = of_kind(runs, RunKind::kClassify);
  if (!classify.empty()) {
    for (const auto& [file, what, unit] : std::vector<std::tuple<std::string, std::string, std::string>>{
             {"classify-loss.svg", "loss", ""}, {"classify-accuracy.svg", "accuracy", " (%)"}}) {
      LinePlot plot;
      plot.title = "classify: " + what + " (train solid, test dashed)";
      plot.x_label = "epoch";
      plot.y_label = what + unit;
      for (size_t k = 0; k < classify.size(); ++k) {
        const auto* r = classify[k];
        plot.series.push_back(series(*r, "train_" + what, legend_name(*r, classify) + " train", false));
        plot.series.push_back(series(*r, "test_" + what, legend_name(*r, classify) + " test", true));
        plot.series[plot.series.size() - 2].colour = plot.series.back().colour = static_cast<int>(k);
      }
      out.emplace_back(file, line_plot_svg(plot));
    }
  }
  return out;
}

std::vector<VariantRow> read_sweep_csv(const std::string& path) {
  std::istringstream in(read_text(path));
  std::string line;
  const std::vector<std::string> expected = {"variant",     "backbone",   "conv",          "m",         "s",
                                             "params",      "params_ratio", "macs_per_image", "macs_ratio", "test_accuracy",
                                             "test_error",  "test_loss",  "train_loss",    "train_accuracy", "epochs",
                                             "run_dir"};
  if (!std::getline(in, line) || csv_fields(trim(line)) != expected) {
    throw std::invalid_argument(path + ": line 1: expected the header of a classify sweep's results.csv");
  }
  std::vector<VariantRow> rows;
  for (int64_t number = 2; std::getline(in, line); ++number) {
    if (trim(line).empty()) continue;
    const auto f = csv_fields(trim(line));
    const std::string where = path + ": line " + std::to_string(number) + ": ";
    if (f.size() != expected.size()) {
      throw std::invalid_argument(where + std::to_string(f.size()) + " cells, expected " + std::to_string(expected.size()));
    }
    auto num = [&](size_t i, bool may_be_empty) {
      double v = 0.0;
      if (f[i].empty() && may_be_empty) return 0.0;
      if (!parse_number(f[i], v)) throw std::invalid_argument(where + "column '" + expected[i] + "' is '" + f[i] + "', not a number");
      return v;
    };
    VariantRow r;
    r.label = f[0];
    r.backbone = f[1];
    r.conv = f[2];
    r.atoms = static_cast<int64_t>(num(3, true));
    r.group_size = static_cast<int64_t>(num(4, true));
    r.params = static_cast<int64_t>(num(5, false));
    r.macs_per_image = static_cast<int64_t>(num(7, false));
    r.test_accuracy = num(9, false);
    r.test_error = num(10, false);
    r.test_loss = num(11, false);
    r.train_loss = num(12, false);
    r.train_accuracy = num(13, false);
    r.epochs = static_cast<int64_t>(num(14, false));
    r.run_dir = f[15];
    rows.push_back(std::move(r));
  }
  return rows;
}

}  // namespace experiments::report
