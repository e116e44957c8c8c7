#pragma once
// SVG plots for reports, over plain data (no LibTorch, no command-line code): a scatter plot
// with a logarithmic x axis, a heat map of a symmetric matrix, and the XML escaping and colour
// map they need.

#include <cstdint>
#include <string>
#include <vector>

namespace experiments::report {

// Text with &, <, > and " escaped for SVG/XML elements and attributes.
std::string xml_escape(const std::string& text);

struct ScatterPoint {
  double x = 1.0;         // > 0: the axis is log10
  double y = 0.0;
  std::string label;      // drawn to the right of the point
  std::string tooltip;    // the point's <title>
  bool highlight = false; // bigger, red, bold label (the reference)
  double y_error = 0.0;   // > 0: an error bar from y - y_error to y + y_error
};

struct ScatterPlot {
  std::string title;
  std::string x_label = "x (log scale)";
  std::string y_label = "y";
  std::string highlight_legend = "highlighted";  // legend entry of the red marker
  std::string point_legend = "points";           // legend entry of the blue marker
  bool y_from_zero = true;  // the y axis does not go below 0 (errors, counts)
  std::vector<ScatterPoint> points;
};

// A 720 x 440 plot: x padded to whole 1-2-5 ticks on a log axis (labels 200, 5k, 1M); y padded
// by a tenth of the span to a 1-2-2.5-5 tick step (at most about six ticks); labels that would
// overlap an earlier one move down a line; a two-entry legend on the right. SVG 1.1 text.
std::string log_x_scatter_svg(const ScatterPlot& plot);

// Matplotlib's viridis at five stops, linearly interpolated: "rgb(r,g,b)" for t in [0, 1]
// (clamped).
std::string viridis(double t);

// A square matrix over `names` whose diagonal holds one value per name and whose off-diagonal
// cells hold the values of pairs, drawn at (first, second) and at (second, first).
struct SymmetricHeatmap {
  std::string title;
  std::string subtitle;            // grey line under the title
  std::string footer;              // grey line at the bottom
  std::vector<std::string> names;  // rows read "i: name", columns "i"
  std::vector<double> diagonal;    // one per name
  struct Pair {
    int64_t first = 0, second = 0;  // indices into names
    double value = 0.0;
  };
  std::vector<Pair> pairs;
};

// 56 px cells with their values (2 decimals), at least 640 px wide; the viridis colour spans the
// smallest to the largest value shown (they are often close), with a colour bar beside. Throws
// std::invalid_argument when diagonal and names differ in size or a pair's index is out of range.
std::string symmetric_heatmap_svg(const SymmetricHeatmap& map);

}  // namespace experiments::report
