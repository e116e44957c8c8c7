#include "experiments/report/plot.h"

#include "experiments/report/table.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <stdexcept>
#include <utility>

namespace experiments::report {

std::string xml_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

namespace {

// The smallest 1-2-2.5-5 step that cuts `span` into at most six intervals (50 at the most).
double nice_step(double span) {
  double step = 0.1;
  for (double s : {0.1, 0.2, 0.25, 0.5, 1.0, 2.0, 2.5, 5.0, 10.0, 20.0, 25.0, 50.0}) {
    step = s;
    if (span / s <= 6) break;
  }
  return step;
}

// 200, 5k, 1M: a log-axis tick.
std::string si_label(double v) {
  if (v >= 1e6) return round_trip(v / 1e6) + "M";
  if (v >= 1e3) return round_trip(v / 1e3) + "k";
  return round_trip(v);
}

}  // namespace

std::string log_x_scatter_svg(const ScatterPlot& plot) {
  constexpr double kW = 720, kH = 440, kLeft = 70, kRight = 190, kTop = 44, kBottom = 56;
  const double pw = kW - kLeft - kRight, ph = kH - kTop - kBottom;
  const auto& points = plot.points;
  double xmin = 1e300, xmax = 0, ymin = 1e300, ymax = -1e300;
  for (const auto& p : points) {
    xmin = std::min(xmin, p.x);
    xmax = std::max(xmax, p.x);
    ymin = std::min(ymin, p.y - p.y_error);
    ymax = std::max(ymax, p.y + p.y_error);
  }
  if (points.empty()) xmin = 1, xmax = 10, ymin = 0, ymax = 1;
  // x: at least one decade wide; y: padded by a tenth of the span, to whole steps.
  double lx0 = std::log10(xmin) - 0.15, lx1 = std::log10(xmax) + 0.15;
  if (lx1 - lx0 < 1.0) {
    const double mid = (lx0 + lx1) / 2;
    lx0 = mid - 0.5;
    lx1 = mid + 0.5;
  }
  const double span = std::max(ymax - ymin, 0.5);
  const double ystep = nice_step(span);
  double y0 = std::floor((ymin - 0.1 * span) / ystep) * ystep, y1 = std::ceil((ymax + 0.1 * span) / ystep) * ystep;
  if (plot.y_from_zero) y0 = std::max(0.0, y0);
  if (y1 <= y0) y1 = y0 + ystep;
  auto X = [&](double x) { return kLeft + pw * (std::log10(x) - lx0) / (lx1 - lx0); };
  auto Y = [&](double y) { return kTop + ph * (1.0 - (y - y0) / (y1 - y0)); };
  auto num = [](double v) { return fixed(v, 1); };

  std::ostringstream s;
  s << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << kW << "\" height=\"" << kH << "\" viewBox=\"0 0 " << kW
    << " " << kH << "\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">\n"
    << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    << "<text x=\"" << num(kW / 2) << "\" y=\"24\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\">"
    << xml_escape(plot.title) << "</text>\n";
  // Grid lines first, tick labels after them (on top).
  s << "<g stroke=\"#dddddd\" stroke-width=\"1\">\n";
  std::ostringstream labels;
  for (int e = static_cast<int>(std::floor(lx0)); e <= static_cast<int>(std::ceil(lx1)); ++e) {
    for (double mant : {1.0, 2.0, 5.0}) {
      const double v = mant * std::pow(10.0, e), lv = std::log10(v);
      if (lv < lx0 || lv > lx1) continue;
      const double x = X(v);
      s << "<line x1=\"" << num(x) << "\" y1=\"" << num(kTop) << "\" x2=\"" << num(x) << "\" y2=\"" << num(kTop + ph) << "\"/>\n";
      labels << "<text x=\"" << num(x) << "\" y=\"" << num(kTop + ph + 18) << "\" text-anchor=\"middle\">" << si_label(v)
             << "</text>\n";
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
    << "<text x=\"" << num(kLeft + pw / 2) << "\" y=\"" << num(kH - 14) << "\" text-anchor=\"middle\">"
    << xml_escape(plot.x_label) << "</text>\n"
    << "<text transform=\"translate(18," << num(kTop + ph / 2) << ") rotate(-90)\" text-anchor=\"middle\">"
    << xml_escape(plot.y_label) << "</text>\n";
  // Points with labels; a label that would overlap an earlier one moves down a line.
  std::vector<std::pair<double, double>> placed;
  for (const auto& p : points) {
    const double x = X(p.x), y = Y(p.y);
    if (p.y_error > 0) {  // the error bar (with 8 px caps), under the marker
      const double lo = Y(p.y - p.y_error), hi = Y(p.y + p.y_error);
      s << "<path d=\"M" << num(x) << " " << num(lo) << "V" << num(hi) << "M" << num(x - 4) << " " << num(lo) << "H"
        << num(x + 4) << "M" << num(x - 4) << " " << num(hi) << "H" << num(x + 4) << "\" stroke=\"#555555\"/>\n";
    }
    s << "<circle cx=\"" << num(x) << "\" cy=\"" << num(y) << "\" r=\"" << (p.highlight ? 7 : 5) << "\" fill=\""
      << (p.highlight ? "#d62728" : "#1f77b4") << "\" stroke=\"black\" stroke-width=\"" << (p.highlight ? 1.5 : 0.5)
      << "\"><title>" << xml_escape(p.tooltip) << "</title></circle>\n";
    double ly = y - 8;
    bool moved = true;
    while (moved) {
      moved = false;
      for (const auto& [px, py] : placed) {
        // `below > ly`: py + 13 may round to a number less than 13 away from py, and moving
        // the label to where it already is would loop for ever.
        const double below = py + 13;
        if (std::abs(px - x) < 120 && std::abs(py - ly) < 13 && below > ly) {
          ly = below;
          moved = true;
        }
      }
    }
    placed.emplace_back(x, ly);
    s << "<text x=\"" << num(x + 9) << "\" y=\"" << num(ly) << "\""
      << (p.highlight ? " font-weight=\"bold\" fill=\"#d62728\"" : "") << ">" << xml_escape(p.label) << "</text>\n";
  }
  // Legend.
  const double lx = kLeft + pw + 16;
  s << "<circle cx=\"" << num(lx) << "\" cy=\"" << num(kTop + 10) << "\" r=\"7\" fill=\"#d62728\" stroke=\"black\" stroke-width=\"1.5\"/>\n"
    << "<text x=\"" << num(lx + 12) << "\" y=\"" << num(kTop + 14) << "\">" << xml_escape(plot.highlight_legend) << "</text>\n"
    << "<circle cx=\"" << num(lx) << "\" cy=\"" << num(kTop + 32) << "\" r=\"5\" fill=\"#1f77b4\" stroke=\"black\" stroke-width=\"0.5\"/>\n"
    << "<text x=\"" << num(lx + 12) << "\" y=\"" << num(kTop + 36) << "\">" << xml_escape(plot.point_legend) << "</text>\n"
    << "</svg>\n";
  return s.str();
}

std::string viridis(double t) {
  static const double stops[5][3] = {{68, 1, 84}, {59, 82, 139}, {33, 145, 140}, {94, 201, 98}, {253, 231, 37}};
  t = std::clamp(t, 0.0, 1.0) * 4;
  const int i = std::min(3, static_cast<int>(t));
  const double f = t - i;
  std::ostringstream s;
  s << "rgb(";
  for (int k = 0; k < 3; ++k) s << (k ? "," : "") << static_cast<int>(std::lround(stops[i][k] * (1 - f) + stops[i + 1][k] * f));
  s << ")";
  return s.str();
}

std::string symmetric_heatmap_svg(const SymmetricHeatmap& map) {
  const int64_t n = static_cast<int64_t>(map.names.size());
  if (map.diagonal.size() != map.names.size()) {
    throw std::invalid_argument("heat map '" + map.title + "': " + std::to_string(map.diagonal.size()) +
                                " diagonal values for " + std::to_string(n) + " names");
  }
  for (const auto& p : map.pairs) {
    if (p.first < 0 || p.first >= n || p.second < 0 || p.second >= n) {
      throw std::invalid_argument("heat map '" + map.title + "': pair (" + std::to_string(p.first) + ", " +
                                  std::to_string(p.second) + ") is outside the " + std::to_string(n) + " names");
    }
  }
  constexpr double kCell = 56, kLeft = 210, kTop = 70, kRight = 110, kBottom = 40;
  // At least 640 wide so that the subtitle fits for a 4-layer network.
  const double w = std::max(640.0, kLeft + kCell * static_cast<double>(n) + kRight);
  const double h = kTop + kCell * static_cast<double>(n) + kBottom;
  // The colour spans the figures shown (they are often within a few percent of each other); the
  // numbers are printed in the cells.
  double lo = 1e300, hi = -1e300;
  for (double v : map.diagonal) lo = std::min(lo, v), hi = std::max(hi, v);
  for (const auto& p : map.pairs) lo = std::min(lo, p.value), hi = std::max(hi, p.value);
  auto level = [&](double v) { return hi - lo > 1e-9 ? (v - lo) / (hi - lo) : 0.5; };
  std::ostringstream s;
  s << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << w << "\" height=\"" << h
    << "\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  s << "<text x=\"" << w / 2 << "\" y=\"22\" text-anchor=\"middle\" font-size=\"14\">" << xml_escape(map.title) << "</text>\n";
  s << "<text x=\"" << w / 2 << "\" y=\"42\" text-anchor=\"middle\" fill=\"#555\">" << xml_escape(map.subtitle) << "</text>\n";
  auto cell = [&](int64_t i, int64_t j, double v) {
    const double x = kLeft + kCell * static_cast<double>(j), y = kTop + kCell * static_cast<double>(i);
    s << "<rect x=\"" << x << "\" y=\"" << y << "\" width=\"" << kCell << "\" height=\"" << kCell << "\" fill=\""
      << viridis(level(v)) << "\" stroke=\"white\"/>\n<text x=\"" << x + kCell / 2 << "\" y=\"" << y + kCell / 2 + 4
      << "\" text-anchor=\"middle\" fill=\"" << (level(v) > 0.6 ? "black" : "white") << "\">" << fixed(v, 2) << "</text>\n";
  };
  for (int64_t i = 0; i < n; ++i) {
    s << "<text x=\"" << kLeft - 8 << "\" y=\"" << kTop + kCell * (static_cast<double>(i) + 0.5) + 4
      << "\" text-anchor=\"end\">" << i << ": " << xml_escape(map.names[static_cast<size_t>(i)]) << "</text>\n";
    s << "<text x=\"" << kLeft + kCell * (static_cast<double>(i) + 0.5) << "\" y=\"" << kTop - 6
      << "\" text-anchor=\"middle\">" << i << "</text>\n";
    cell(i, i, map.diagonal[static_cast<size_t>(i)]);
  }
  for (const auto& p : map.pairs) {
    cell(p.first, p.second, p.value);
    cell(p.second, p.first, p.value);
  }
  // Colour bar from the smallest figure to the largest.
  const double bx = kLeft + kCell * static_cast<double>(n) + 24, bh = kCell * static_cast<double>(n);
  for (int k = 0; k < 50; ++k) {
    const double t = 1.0 - (k + 0.5) / 50.0;
    s << "<rect x=\"" << bx << "\" y=\"" << kTop + bh * k / 50.0 << "\" width=\"16\" height=\"" << bh / 50.0 + 0.5
      << "\" fill=\"" << viridis(t) << "\"/>\n";
  }
  s << "<text x=\"" << bx + 22 << "\" y=\"" << kTop + 10 << "\">" << fixed(hi, 3) << "</text>\n";
  s << "<text x=\"" << bx + 22 << "\" y=\"" << kTop + bh << "\">" << fixed(lo, 3) << "</text>\n";
  s << "<text x=\"" << w / 2 << "\" y=\"" << h - 14 << "\" text-anchor=\"middle\" fill=\"#555\">" << xml_escape(map.footer)
    << "</text>\n</svg>\n";
  return s.str();
}

}  // namespace experiments::report
