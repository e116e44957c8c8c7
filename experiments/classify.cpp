// The sweep report of `acdc-meta classify --sweep` (to move to experiments/report/).
#include "experiments/classify.h"

#include "experiments/fewshot.h"
#include "experiments/report/numbers.h"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <sstream>

namespace experiments {


// ---- reports ----

namespace {

const ClassifyResult* reference_row(const std::vector<ClassifyResult>& rows) {
  for (const auto& r : rows) {
    if (r.conv == "standard") return &r;
  }
  return nullptr;
}

bool is_grouped_name(const std::string& conv) { return conv.rfind("acdc-g-", 0) == 0; }

std::string csv_cell(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

}  // namespace

std::string results_markdown(const std::vector<ClassifyResult>& rows, const ReportInfo& info) {
  const auto* ref = reference_row(rows);
  std::ostringstream md;
  if (!info.title.empty()) md << "### " << info.title << "\n\n";
  md << "| variant | m | s | parameters | vs standard | MACs/image | vs standard | test error (%) | vs standard (points) |\n"
     << "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  for (const auto& r : rows) {
    const bool decomposed = r.conv != "standard";
    md << "| " << r.label << " | " << (decomposed ? std::to_string(r.atoms) : "–") << " | "
       << (is_grouped_name(r.conv) ? std::to_string(r.group_size) : "–") << " | " << grouped(r.params) << " | "
       << (ref ? fixed(100.0 * static_cast<double>(r.params) / static_cast<double>(ref->params), 1) + " %" : "–") << " | "
       << grouped(r.macs_per_image) << " | "
       << (ref ? fixed(100.0 * static_cast<double>(r.macs_per_image) / static_cast<double>(ref->macs_per_image), 1) + " %"
               : "–")
       << " | " << fixed(r.test_error, 2) << " | ";
    if (ref && &r != ref) {
      const double d = r.test_error - ref->test_error;
      md << (d >= 0 ? "+" : "") << fixed(d, 2);
    } else {
      md << "–";
    }
    md << " |\n";
  }
  if (!info.command.empty()) md << "\nCommand: `" << info.command << "`\n";
  if (!info.notes.empty()) md << "\n" << info.notes << "\n";
  return md.str();
}

std::string results_csv(const std::vector<ClassifyResult>& rows) {
  const auto* ref = reference_row(rows);
  std::ostringstream csv;
  csv << "variant,backbone,conv,m,s,params,params_ratio,macs_per_image,macs_ratio,test_accuracy,test_error,test_loss,"
         "train_loss,train_accuracy,epochs,run_dir\n";
  for (const auto& r : rows) {
    csv << csv_cell(r.label) << "," << csv_cell(r.backbone) << "," << r.conv << ","
        << (r.conv != "standard" ? std::to_string(r.atoms) : "") << ","
        << (is_grouped_name(r.conv) ? std::to_string(r.group_size) : "") << "," << r.params << ","
        << (ref ? format_double(static_cast<double>(r.params) / static_cast<double>(ref->params)) : "") << ","
        << r.macs_per_image << ","
        << (ref ? format_double(static_cast<double>(r.macs_per_image) / static_cast<double>(ref->macs_per_image)) : "")
        << "," << format_double(r.test_accuracy) << "," << format_double(r.test_error) << ","
        << format_double(r.test_loss) << "," << format_double(r.train_loss) << "," << format_double(r.train_accuracy)
        << "," << r.epochs << "," << csv_cell(r.run_dir) << "\n";
  }
  return csv.str();
}

std::string results_svg(const std::vector<ClassifyResult>& rows, const std::string& title) {
  constexpr double kW = 720, kH = 440, kLeft = 70, kRight = 190, kTop = 44, kBottom = 56;
  const double pw = kW - kLeft - kRight, ph = kH - kTop - kBottom;
  // x: log10(parameters), padded to whole 1-2-5 ticks; y: test error, padded to nice ticks.
  double pmin = 1e300, pmax = 0, emin = 1e300, emax = -1e300;
  for (const auto& r : rows) {
    pmin = std::min(pmin, static_cast<double>(std::max<int64_t>(1, r.params)));
    pmax = std::max(pmax, static_cast<double>(std::max<int64_t>(1, r.params)));
    emin = std::min(emin, r.test_error);
    emax = std::max(emax, r.test_error);
  }
  if (rows.empty()) pmin = 1, pmax = 10, emin = 0, emax = 1;
  double lx0 = std::log10(pmin) - 0.15, lx1 = std::log10(pmax) + 0.15;
  if (lx1 - lx0 < 1.0) {
    const double mid = (lx0 + lx1) / 2;
    lx0 = mid - 0.5;
    lx1 = mid + 0.5;
  }
  double span = std::max(emax - emin, 0.5);
  double ystep = 0.1;
  for (double s : {0.1, 0.2, 0.25, 0.5, 1.0, 2.0, 2.5, 5.0, 10.0, 20.0, 25.0, 50.0}) {
    ystep = s;
    if (span / s <= 6) break;
  }
  double y0 = std::floor((emin - 0.1 * span) / ystep) * ystep, y1 = std::ceil((emax + 0.1 * span) / ystep) * ystep;
  y0 = std::max(0.0, y0);
  if (y1 <= y0) y1 = y0 + ystep;
  auto X = [&](double params) { return kLeft + pw * (std::log10(params) - lx0) / (lx1 - lx0); };
  auto Y = [&](double err) { return kTop + ph * (1.0 - (err - y0) / (y1 - y0)); };
  auto num = [](double v) { return fixed(v, 1); };

  std::ostringstream s;
  s << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << kW << "\" height=\"" << kH << "\" viewBox=\"0 0 " << kW
    << " " << kH << "\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">\n"
    << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    << "<text x=\"" << num(kW / 2) << "\" y=\"24\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\">"
    << xml_escape(title) << "</text>\n";
  // Grid and ticks.
  s << "<g stroke=\"#dddddd\" stroke-width=\"1\">\n";
  std::ostringstream labels;
  for (int e = static_cast<int>(std::floor(lx0)); e <= static_cast<int>(std::ceil(lx1)); ++e) {
    for (double mant : {1.0, 2.0, 5.0}) {
      const double v = mant * std::pow(10.0, e), lv = std::log10(v);
      if (lv < lx0 || lv > lx1) continue;
      const double x = X(v);
      s << "<line x1=\"" << num(x) << "\" y1=\"" << num(kTop) << "\" x2=\"" << num(x) << "\" y2=\"" << num(kTop + ph) << "\"/>\n";
      std::string text;
      if (v >= 1e6) text = format_double(v / 1e6) + "M";
      else if (v >= 1e3) text = format_double(v / 1e3) + "k";
      else text = format_double(v);
      labels << "<text x=\"" << num(x) << "\" y=\"" << num(kTop + ph + 18) << "\" text-anchor=\"middle\">" << text << "</text>\n";
    }
  }
  const int yticks = static_cast<int>(std::round((y1 - y0) / ystep));
  for (int i = 0; i <= yticks; ++i) {
    const double v = y0 + i * ystep, y = Y(v);
    s << "<line x1=\"" << num(kLeft) << "\" y1=\"" << num(y) << "\" x2=\"" << num(kLeft + pw) << "\" y2=\"" << num(y) << "\"/>\n";
    labels << "<text x=\"" << num(kLeft - 8) << "\" y=\"" << num(y + 4) << "\" text-anchor=\"end\">"
           << fixed(v, ystep < 1 ? (ystep < 0.25 ? 1 : 2) : 0) << "</text>\n";
  }
  s << "</g>\n" << labels.str();
  s << "<rect x=\"" << num(kLeft) << "\" y=\"" << num(kTop) << "\" width=\"" << num(pw) << "\" height=\"" << num(ph)
    << "\" fill=\"none\" stroke=\"#333333\"/>\n"
    << "<text x=\"" << num(kLeft + pw / 2) << "\" y=\"" << num(kH - 14)
    << "\" text-anchor=\"middle\">parameters (log scale)</text>\n"
    << "<text transform=\"translate(18," << num(kTop + ph / 2) << ") rotate(-90)\" text-anchor=\"middle\">test error (%)</text>\n";
  // Points with labels; a label that would overlap an earlier one moves down a line.
  std::vector<std::pair<double, double>> placed;
  const auto* ref = reference_row(rows);
  for (const auto& r : rows) {
    const bool standard = &r == ref;
    const double x = X(static_cast<double>(std::max<int64_t>(1, r.params))), y = Y(r.test_error);
    s << "<circle cx=\"" << num(x) << "\" cy=\"" << num(y) << "\" r=\"" << (standard ? 7 : 5) << "\" fill=\""
      << (standard ? "#d62728" : "#1f77b4") << "\" stroke=\"black\" stroke-width=\"" << (standard ? 1.5 : 0.5)
      << "\"><title>" << xml_escape(r.label) << ": " << grouped(r.params) << " parameters, " << fixed(r.test_error, 2)
      << " % error</title></circle>\n";
    double ly = y - 8;
    bool moved = true;
    while (moved) {
      moved = false;
      for (const auto& [px, py] : placed) {
        if (std::abs(px - x) < 120 && std::abs(py - ly) < 13) {
          ly = py + 13;
          moved = true;
        }
      }
    }
    placed.emplace_back(x, ly);
    s << "<text x=\"" << num(x + 9) << "\" y=\"" << num(ly) << "\"" << (standard ? " font-weight=\"bold\" fill=\"#d62728\"" : "")
      << ">" << xml_escape(r.label) << " (" << fixed(r.test_error, 2) << " %)</text>\n";
  }
  // Legend.
  const double lx = kLeft + pw + 16;
  s << "<circle cx=\"" << num(lx) << "\" cy=\"" << num(kTop + 10) << "\" r=\"7\" fill=\"#d62728\" stroke=\"black\" stroke-width=\"1.5\"/>\n"
    << "<text x=\"" << num(lx + 12) << "\" y=\"" << num(kTop + 14) << "\">standard conv</text>\n"
    << "<circle cx=\"" << num(lx) << "\" cy=\"" << num(kTop + 32) << "\" r=\"5\" fill=\"#1f77b4\" stroke=\"black\" stroke-width=\"0.5\"/>\n"
    << "<text x=\"" << num(lx + 12) << "\" y=\"" << num(kTop + 36) << "\">ACDC variant</text>\n"
    << "</svg>\n";
  return s.str();
}

}  // namespace experiments
