#include "experiments/report/plot.h"

#include "experiments/report/table.h"

#include <algorithm>
#include <cmath>
#include <limits>
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

// The tick step for `span`: 1, 2, 2.5 or 5 times a power of ten, the smallest that cuts it into
// at most `most` intervals; `whole`: a whole number, without 2.5 (iterations, epochs).
double tick_step(double span, int most, bool whole = false) {
  if (!(span > 0) || !std::isfinite(span)) return 1.0;
  const double power = std::pow(10.0, std::floor(std::log10(span / most)));
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0}) {
    if (whole && (m == 2.5 || m * power < 1)) continue;
    if (span / (m * power) <= most) return m * power;
  }
  return 10.0 * power;
}

// A tick value as text: as many decimals as the step needs ("0.25", "1.5", "2000").
std::string tick_text(double v, double step) {
  int decimals = 0;
  while (decimals < 6 && std::abs(step * std::pow(10.0, decimals) - std::round(step * std::pow(10.0, decimals))) > 1e-9) {
    ++decimals;
  }
  return fixed_unsigned_zero(v, decimals);
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
  // Points first (every label is laid out around all of them), then leader lines and labels.
  std::vector<LabelRequest> requests;
  for (const auto& p : points) {
    const double x = X(p.x), y = Y(p.y), r = p.highlight ? 7 : 5;
    if (p.y_error > 0) {  // the error bar (with 8 px caps), under the marker
      const double lo = Y(p.y - p.y_error), hi = Y(p.y + p.y_error);
      s << "<path d=\"M" << num(x) << " " << num(lo) << "V" << num(hi) << "M" << num(x - 4) << " " << num(lo) << "H"
        << num(x + 4) << "M" << num(x - 4) << " " << num(hi) << "H" << num(x + 4) << "\" stroke=\"#555555\"/>\n";
    }
    s << "<circle cx=\"" << num(x) << "\" cy=\"" << num(y) << "\" r=\"" << r << "\" fill=\""
      << (p.highlight ? "#d62728" : "#1f77b4") << "\" stroke=\"black\" stroke-width=\"" << (p.highlight ? 1.5 : 0.5)
      << "\"><title>" << xml_escape(p.tooltip) << "</title></circle>\n";
    requests.push_back({x, y, r, p.label, p.highlight});
  }
  const auto placed = layout_labels(requests, {kLeft, kTop, kLeft + pw, kTop + ph}, 12);
  for (size_t i = 0; i < placed.size(); ++i) {
    const auto& l = placed[i];
    if (!l.leader) continue;
    // From the marker's edge to the nearest point of the label's box.
    const auto& q = requests[i];
    const double bx = std::clamp(q.x, l.box.x0, l.box.x1), by = std::clamp(q.y, l.box.y0, l.box.y1);
    const double len = std::hypot(bx - q.x, by - q.y);
    if (len <= q.radius + 1) continue;
    const double ax = q.x + (bx - q.x) * q.radius / len, ay = q.y + (by - q.y) * q.radius / len;
    s << "<line x1=\"" << num(ax) << "\" y1=\"" << num(ay) << "\" x2=\"" << num(bx) << "\" y2=\"" << num(by)
      << "\" stroke=\"#888888\" stroke-width=\"0.8\"/>\n";
  }
  for (size_t i = 0; i < placed.size(); ++i) {
    const auto& p = points[i];
    s << "<text class=\"point-label\" x=\"" << num(placed[i].x) << "\" y=\"" << num(placed[i].baseline) << "\""
      << (p.highlight ? " font-weight=\"bold\" fill=\"#d62728\"" : "") << ">" << xml_escape(p.label) << "</text>\n";
  }
  // Legend: an entry for each kind of marker the plot has (a sweep without standard conv has
  // no red marker to explain).
  const double lx = kLeft + pw + 16;
  const bool any_highlight = std::any_of(points.begin(), points.end(), [](const ScatterPoint& p) { return p.highlight; });
  const bool any_plain = std::any_of(points.begin(), points.end(), [](const ScatterPoint& p) { return !p.highlight; });
  double ly = kTop;
  if (any_highlight) {
    s << "<circle cx=\"" << num(lx) << "\" cy=\"" << num(ly + 10) << "\" r=\"7\" fill=\"#d62728\" stroke=\"black\" stroke-width=\"1.5\"/>\n"
      << "<text x=\"" << num(lx + 12) << "\" y=\"" << num(ly + 14) << "\">" << xml_escape(plot.highlight_legend) << "</text>\n";
    ly += 22;
  }
  if (any_plain) {
    s << "<circle cx=\"" << num(lx) << "\" cy=\"" << num(ly + 10) << "\" r=\"5\" fill=\"#1f77b4\" stroke=\"black\" stroke-width=\"0.5\"/>\n"
      << "<text x=\"" << num(lx + 12) << "\" y=\"" << num(ly + 14) << "\">" << xml_escape(plot.point_legend) << "</text>\n";
  }
  s << "</svg>\n";
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

// ---- label layout ----

double estimated_text_width(const std::string& text, double font_size, bool bold) {
  size_t chars = 0;
  for (unsigned char c : text) chars += (c & 0xC0) != 0x80;  // UTF-8: count lead bytes only
  return 0.6 * font_size * static_cast<double>(chars) * (bold ? 1.1 : 1.0);
}

Box text_box(const std::string& text, double x, double baseline, double font_size, bool bold) {
  return {x, baseline - 0.8 * font_size, x + estimated_text_width(text, font_size, bold), baseline + 0.25 * font_size};
}

namespace {

double overlap_area(const Box& a, const Box& b) {
  const double w = std::min(a.x1, b.x1) - std::max(a.x0, b.x0), h = std::min(a.y1, b.y1) - std::max(a.y0, b.y0);
  return w > 0 && h > 0 ? w * h : 0.0;
}

bool inside(const Box& b, const Box& area) { return b.x0 >= area.x0 && b.x1 <= area.x1 && b.y0 >= area.y0 && b.y1 <= area.y1; }

}  // namespace

std::vector<PlacedLabel> layout_labels(const std::vector<LabelRequest>& labels, const Box& area, double font_size) {
  std::vector<Box> markers;
  for (const auto& l : labels) {
    const double r = l.radius + 1;
    markers.push_back({l.x - r, l.y - r, l.x + r, l.y + r});
  }
  // Directions in order of preference: right, left, above, below, then the diagonals.
  static const double kDirections[8][2] = {{1, 0}, {-1, 0}, {0, -1}, {0, 1}, {1, -1}, {1, 1}, {-1, -1}, {-1, 1}};
  constexpr double kGap = 3, kRing = 14;
  const double rings = std::ceil(std::max(area.x1 - area.x0, area.y1 - area.y0) / kRing);
  std::vector<PlacedLabel> out;
  std::vector<Box> taken;
  for (const auto& l : labels) {
    const double w = estimated_text_width(l.text, font_size, l.bold), h = 1.05 * font_size;
    PlacedLabel best;
    double best_cost = std::numeric_limits<double>::infinity();
    bool found = false;
    for (int ring = 0; ring <= rings && !found; ++ring) {
      for (const auto& d : kDirections) {
        const double reach = l.radius + kGap + ring * kRing;
        // The box's near edge (or centre, along an axis the direction does not move on) at `reach`.
        const double ax = l.x + d[0] * reach, ay = l.y + d[1] * reach;
        const double x0 = d[0] > 0 ? ax : d[0] < 0 ? ax - w : ax - w / 2;
        const double y0 = d[1] > 0 ? ay : d[1] < 0 ? ay - h : ay - h / 2;
        PlacedLabel c;
        c.x = x0;
        c.baseline = y0 + 0.8 * font_size;
        c.box = text_box(l.text, c.x, c.baseline, font_size, l.bold);
        c.leader = ring > 0 || (d[0] != 0 && d[1] != 0);  // away, or at a corner: a line says whose it is
        if (!inside(c.box, area)) continue;
        // 1 px apart at least, so that the coordinates as written (to 0.1 px) keep them apart.
        const Box padded{c.box.x0 - 1, c.box.y0 - 1, c.box.x1 + 1, c.box.y1 + 1};
        double cost = 0;
        for (const auto& b : taken) cost += overlap_area(padded, b);
        for (const auto& m : markers) cost += overlap_area(padded, m);
        if (cost == 0) {
          best = c;
          found = true;
          break;
        }
        if (cost < best_cost) {
          best_cost = cost;
          best = c;
        }
      }
    }
    if (!found && !std::isfinite(best_cost)) {
      // Wider than the area: right of the point, as before.
      best.x = l.x + l.radius + kGap;
      best.baseline = l.y + 0.3 * font_size;
      best.box = text_box(l.text, best.x, best.baseline, font_size, l.bold);
    }
    best.clear = found;
    taken.push_back(best.box);
    out.push_back(best);
  }
  return out;
}

// ---- line series ----

std::string tab10(size_t i) {
  static const char* const colours[10] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                          "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
  return colours[i % 10];
}

std::string line_plot_svg(const LinePlot& plot) {
  constexpr double kLeft = 70, kTop = 44, kBottom = 56, kFont = 12, kPlotW = 460;
  double legend_w = 0;
  for (const auto& series : plot.series) legend_w = std::max(legend_w, estimated_text_width(series.name, kFont));
  const double kRight = std::max(150.0, 16 + 28 + legend_w + 12);
  const double w = kLeft + kPlotW + kRight, h = std::max(440.0, kTop + 20.0 * static_cast<double>(plot.series.size()) + 20);
  const double pw = kPlotW, ph = h - kTop - kBottom;
  double xmin = std::numeric_limits<double>::infinity(), xmax = -xmin, ymin = xmin, ymax = -xmin;
  for (const auto& series : plot.series) {
    for (const auto& [x, y] : series.points) {
      if (!std::isfinite(x) || !std::isfinite(y)) continue;
      xmin = std::min(xmin, x), xmax = std::max(xmax, x), ymin = std::min(ymin, y), ymax = std::max(ymax, y);
    }
  }
  if (!std::isfinite(xmin)) xmin = 0, xmax = 1, ymin = 0, ymax = 1;
  if (xmax <= xmin) xmin -= 0.5, xmax += 0.5;
  if (ymax <= ymin) ymin -= 0.5, ymax += 0.5;
  // Whole-number x values (iterations, epochs) get whole-number ticks.
  bool whole_x = true;
  for (const auto& series : plot.series) {
    for (const auto& [x, y] : series.points) whole_x = whole_x && (!std::isfinite(x) || x == std::round(x));
  }
  const double xstep = tick_step(xmax - xmin, 8, whole_x);
  const double ystep = tick_step((ymax - ymin) * 1.1, 8);
  const double x0 = std::floor(xmin / xstep) * xstep, x1 = std::ceil(xmax / xstep) * xstep;
  const double y0 = std::floor((ymin - 0.05 * (ymax - ymin)) / ystep) * ystep;
  const double y1 = std::ceil((ymax + 0.05 * (ymax - ymin)) / ystep) * ystep;
  auto X = [&](double x) { return kLeft + pw * (x - x0) / (x1 - x0); };
  auto Y = [&](double y) { return kTop + ph * (1.0 - (y - y0) / (y1 - y0)); };
  auto num = [](double v) { return fixed(v, 1); };

  std::ostringstream s;
  s << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << num(w) << "\" height=\"" << num(h) << "\" viewBox=\"0 0 "
    << num(w) << " " << num(h) << "\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">\n"
    << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    << "<text x=\"" << num(kLeft + pw / 2) << "\" y=\"24\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\">"
    << xml_escape(plot.title) << "</text>\n";
  s << "<g stroke=\"#dddddd\" stroke-width=\"1\">\n";
  std::ostringstream labels;
  const int xticks = static_cast<int>(std::round((x1 - x0) / xstep)), yticks = static_cast<int>(std::round((y1 - y0) / ystep));
  for (int i = 0; i <= xticks; ++i) {
    const double v = x0 + i * xstep, x = X(v);
    s << "<line x1=\"" << num(x) << "\" y1=\"" << num(kTop) << "\" x2=\"" << num(x) << "\" y2=\"" << num(kTop + ph) << "\"/>\n";
    labels << "<text x=\"" << num(x) << "\" y=\"" << num(kTop + ph + 18) << "\" text-anchor=\"middle\">" << tick_text(v, xstep)
           << "</text>\n";
  }
  for (int i = 0; i <= yticks; ++i) {
    const double v = y0 + i * ystep, y = Y(v);
    s << "<line x1=\"" << num(kLeft) << "\" y1=\"" << num(y) << "\" x2=\"" << num(kLeft + pw) << "\" y2=\"" << num(y) << "\"/>\n";
    labels << "<text x=\"" << num(kLeft - 8) << "\" y=\"" << num(y + 4) << "\" text-anchor=\"end\">" << tick_text(v, ystep)
           << "</text>\n";
  }
  s << "</g>\n" << labels.str();
  s << "<rect x=\"" << num(kLeft) << "\" y=\"" << num(kTop) << "\" width=\"" << num(pw) << "\" height=\"" << num(ph)
    << "\" fill=\"none\" stroke=\"#333333\"/>\n"
    << "<text x=\"" << num(kLeft + pw / 2) << "\" y=\"" << num(h - 14) << "\" text-anchor=\"middle\">"
    << xml_escape(plot.x_label) << "</text>\n"
    << "<text transform=\"translate(18," << num(kTop + ph / 2) << ") rotate(-90)\" text-anchor=\"middle\">"
    << xml_escape(plot.y_label) << "</text>\n";
  for (size_t i = 0; i < plot.series.size(); ++i) {
    const auto& series = plot.series[i];
    std::vector<std::pair<double, double>> valid;
    for (const auto& [x, y] : series.points) {
      if (std::isfinite(x) && std::isfinite(y)) valid.emplace_back(X(x), Y(y));
    }
    const std::string colour = tab10(series.colour >= 0 ? static_cast<size_t>(series.colour) : i);
    if (valid.size() == 1) {
      s << "<circle cx=\"" << num(valid[0].first) << "\" cy=\"" << num(valid[0].second) << "\" r=\"3\" fill=\"" << colour
        << "\"><title>" << xml_escape(series.name) << "</title></circle>\n";
    } else if (valid.size() > 1) {
      s << "<polyline fill=\"none\" stroke=\"" << colour << "\" stroke-width=\"1.8\""
        << (series.dashed ? " stroke-dasharray=\"6 4\"" : "") << " points=\"";
      for (size_t k = 0; k < valid.size(); ++k) s << (k ? " " : "") << num(valid[k].first) << "," << num(valid[k].second);
      s << "\"><title>" << xml_escape(series.name) << "</title></polyline>\n";
    }
    // Legend entry, right of the data area.
    const double lx = kLeft + pw + 16, ly = kTop + 10 + 20.0 * static_cast<double>(i);
    s << "<line x1=\"" << num(lx) << "\" y1=\"" << num(ly) << "\" x2=\"" << num(lx + 22) << "\" y2=\"" << num(ly)
      << "\" stroke=\"" << colour << "\" stroke-width=\"2.5\"" << (series.dashed ? " stroke-dasharray=\"6 4\"" : "")
      << "/>\n<text x=\"" << num(lx + 28) << "\" y=\"" << num(ly + 4) << "\">" << xml_escape(series.name) << "</text>\n";
  }
  s << "</svg>\n";
  return s.str();
}

}  // namespace experiments::report
