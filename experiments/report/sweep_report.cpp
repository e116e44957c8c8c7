#include "experiments/report/sweep_report.h"

#include "experiments/report/plot.h"
#include "experiments/report/table.h"

#include <algorithm>

namespace experiments::report {

namespace {

const VariantRow* reference_row(const std::vector<VariantRow>& rows) {
  for (const auto& r : rows) {
    if (r.conv == "standard") return &r;
  }
  return nullptr;
}

bool has_atoms(const VariantRow& r) { return r.conv != "standard"; }
bool has_groups(const VariantRow& r) { return r.conv.rfind("acdc-g-", 0) == 0; }

double ratio(int64_t value, int64_t reference) { return static_cast<double>(value) / static_cast<double>(reference); }

}  // namespace

std::string sweep_markdown(const std::vector<VariantRow>& rows, const SweepInfo& info) {
  const auto* ref = reference_row(rows);
  const auto R = Align::kRight;
  Table table({{"variant"}, {"m", R}, {"s", R}, {"parameters", R}, {"vs standard", R}, {"MACs/image", R},
               {"vs standard", R}, {"test error (%)", R}, {"vs standard (points)", R}},
              info.title);
  const std::string none = "–";
  for (const auto& r : rows) {
    std::string error_change = none;
    if (ref && &r != ref) {
      const double d = r.test_error - ref->test_error;
      error_change = (d >= 0 ? "+" : "") + fixed(d, 2);
    }
    table.add_row({r.label, has_atoms(r) ? std::to_string(r.atoms) : none,
                   has_groups(r) ? std::to_string(r.group_size) : none, grouped(r.params),
                   ref ? percent(static_cast<double>(r.params), static_cast<double>(ref->params), 1) : none,
                   grouped(r.macs_per_image),
                   ref ? percent(static_cast<double>(r.macs_per_image), static_cast<double>(ref->macs_per_image), 1)
                       : none,
                   fixed(r.test_error, 2), error_change});
  }
  std::string md = table.markdown();
  if (!info.command.empty()) md += "\nCommand: `" + info.command + "`\n";
  if (!info.notes.empty()) md += "\n" + info.notes + "\n";
  return md;
}

std::string sweep_csv(const std::vector<VariantRow>& rows) {
  const auto* ref = reference_row(rows);
  Table table({{"variant"}, {"backbone"}, {"conv"}, {"m"}, {"s"}, {"params"}, {"params_ratio"}, {"macs_per_image"},
               {"macs_ratio"}, {"test_accuracy"}, {"test_error"}, {"test_loss"}, {"train_loss"}, {"train_accuracy"},
               {"epochs"}, {"run_dir"}});
  for (const auto& r : rows) {
    table.add_row({r.label, r.backbone, r.conv, has_atoms(r) ? std::to_string(r.atoms) : "",
                   has_groups(r) ? std::to_string(r.group_size) : "", std::to_string(r.params),
                   ref ? round_trip(ratio(r.params, ref->params)) : "", std::to_string(r.macs_per_image),
                   ref ? round_trip(ratio(r.macs_per_image, ref->macs_per_image)) : "", round_trip(r.test_accuracy),
                   round_trip(r.test_error), round_trip(r.test_loss), round_trip(r.train_loss), round_trip(r.train_accuracy),
                   std::to_string(r.epochs), r.run_dir});
  }
  return table.csv();
}

std::string sweep_svg(const std::vector<VariantRow>& rows, const std::string& title) {
  const auto* ref = reference_row(rows);
  ScatterPlot plot;
  plot.title = title;
  plot.x_label = "parameters (log scale)";
  plot.y_label = "test error (%)";
  plot.highlight_legend = "standard conv";
  plot.point_legend = "ACDC variant";
  for (const auto& r : rows) {
    ScatterPoint p;
    p.x = static_cast<double>(std::max<int64_t>(1, r.params));
    p.y = r.test_error;
    p.label = r.label + " (" + fixed(r.test_error, 2) + " %)";
    p.tooltip = r.label + ": " + grouped(r.params) + " parameters, " + fixed(r.test_error, 2) + " % error";
    p.highlight = &r == ref;
    plot.points.push_back(std::move(p));
  }
  return log_x_scatter_svg(plot);
}

}  // namespace experiments::report

namespace experiments::report {

namespace {

bool fewshot_has_atoms(const FewShotRow& r) { return r.conv != "standard"; }
bool fewshot_has_groups(const FewShotRow& r) { return r.conv.rfind("acdc-g-", 0) == 0; }

// The shot counts of the columns: those of the first row.
std::vector<int64_t> shot_columns(const std::vector<FewShotRow>& rows) {
  std::vector<int64_t> out;
  if (!rows.empty()) {
    for (const auto& s : rows.front().shots) out.push_back(s.shots);
  }
  return out;
}

const ShotAccuracy* shot_of(const FewShotRow& r, int64_t shots) {
  for (const auto& s : r.shots) {
    if (s.shots == shots) return &s;
  }
  return nullptr;
}

}  // namespace

std::string fewshot_markdown(const std::vector<FewShotRow>& rows, const SweepInfo& info) {
  const auto R = Align::kRight;
  const auto shots = shot_columns(rows);
  std::vector<Column> columns = {{"variant"}, {"backbone"}, {"conv"}, {"m", R}, {"s", R}, {"parameters", R},
                                 {"MACs/image", R}};
  for (const auto k : shots) columns.push_back({std::to_string(k) + "-shot acc. (%)", R});
  columns.push_back({"meta-train (s)", R});
  Table table(columns, info.title);
  const std::string none = "–";
  for (const auto& r : rows) {
    std::vector<std::string> cells = {r.label,
                                      r.backbone,
                                      r.conv,
                                      fewshot_has_atoms(r) ? std::to_string(r.atoms) : none,
                                      fewshot_has_groups(r) ? std::to_string(r.group_size) : none,
                                      grouped(r.params),
                                      grouped(r.macs_per_image)};
    for (const auto k : shots) {
      const auto* s = shot_of(r, k);
      cells.push_back(s ? fixed(s->accuracy, 2) + " ± " + fixed(s->ci95, 2) : none);
    }
    cells.push_back(fixed(r.train_seconds, 1));
    table.add_row(cells);
  }
  std::string md = table.markdown();
  if (!info.command.empty()) md += "\nCommand: `" + info.command + "`\n";
  if (!info.notes.empty()) md += "\n" + info.notes + "\n";
  return md;
}

std::string fewshot_csv(const std::vector<FewShotRow>& rows) {
  const auto shots = shot_columns(rows);
  std::vector<Column> columns = {{"variant"}, {"backbone"}, {"conv"}, {"m"}, {"s"}, {"params"}, {"macs_per_image"},
                                 {"ways"}};
  for (const auto k : shots) {
    const auto k_text = std::to_string(k);
    columns.push_back({"accuracy_" + k_text + "shot"});
    columns.push_back({"ci95_" + k_text + "shot"});
    columns.push_back({"episodes_" + k_text + "shot"});
  }
  for (const char* c : {"iterations", "train_seconds", "run_dir"}) columns.push_back({c});
  Table table(columns);
  for (const auto& r : rows) {
    std::vector<std::string> cells = {r.label,
                                      r.backbone,
                                      r.conv,
                                      fewshot_has_atoms(r) ? std::to_string(r.atoms) : "",
                                      fewshot_has_groups(r) ? std::to_string(r.group_size) : "",
                                      std::to_string(r.params),
                                      std::to_string(r.macs_per_image),
                                      std::to_string(r.ways)};
    for (const auto k : shots) {
      const auto* s = shot_of(r, k);
      cells.push_back(s ? round_trip(s->accuracy) : "");
      cells.push_back(s ? round_trip(s->ci95) : "");
      cells.push_back(s ? std::to_string(s->episodes) : "");
    }
    cells.push_back(std::to_string(r.iterations));
    cells.push_back(round_trip(r.train_seconds));
    cells.push_back(r.run_dir);
    table.add_row(cells);
  }
  return table.csv();
}

std::string fewshot_svg(const std::vector<FewShotRow>& rows, const std::string& title) {
  const auto shots = shot_columns(rows);
  ScatterPlot plot;
  plot.title = title;
  plot.x_label = "parameters (log scale)";
  plot.y_label = "accuracy (%), 95 % CI";
  if (!shots.empty()) plot.highlight_legend = std::to_string(shots[0]) + "-shot";
  plot.point_legend = shots.size() > 1 ? std::to_string(shots[1]) + "-shot" : "";
  for (size_t i = 0; i < shots.size() && i < 2; ++i) {
    for (const auto& r : rows) {
      const auto* s = shot_of(r, shots[i]);
      if (!s) continue;
      const auto k = std::to_string(shots[i]) + "-shot";
      ScatterPoint p;
      p.x = static_cast<double>(std::max<int64_t>(1, r.params));
      p.y = s->accuracy;
      p.y_error = s->ci95;
      p.label = r.label + " " + fixed(s->accuracy, 1) + " %";  // the series is the marker's colour
      p.tooltip = r.label + ", " + k + ": " + fixed(s->accuracy, 2) + " ± " + fixed(s->ci95, 2) + " %, " +
                  grouped(r.params) + " parameters, " + grouped(r.macs_per_image) + " MACs/image";
      p.highlight = i == 0;
      plot.points.push_back(std::move(p));
    }
  }
  return log_x_scatter_svg(plot);
}

}  // namespace experiments::report
