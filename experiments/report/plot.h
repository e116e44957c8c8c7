#pragma once
// SVG plots for reports, over plain data (no LibTorch, no command-line code): a scatter plot
// with a logarithmic x axis and labelled points, line series against a linear x axis, a heat map
// of a symmetric matrix, and the XML escaping, colours and label layout they need.

#include <cstdint>
#include <string>
#include <utility>
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
// by a tenth of the span to a 1-2-2.5-5 tick step (at most about six ticks); point labels laid
// out by layout_labels inside the data area (a grey leader line to a label moved away from its
// point); a two-entry legend right of the data area. SVG 1.1 text.
std::string log_x_scatter_svg(const ScatterPlot& plot);

// ---- label layout ----

// An axis-aligned box in SVG coordinates (y grows downwards).
struct Box {
  double x0 = 0, y0 = 0, x1 = 0, y1 = 0;
  bool overlaps(const Box& other) const { return x0 < other.x1 && other.x0 < x1 && y0 < other.y1 && other.y0 < y1; }
};

// The width the plots assume for `text` at `font_size` px: 0.6 em per character (UTF-8 code
// points; Helvetica's widest digits and capitals are about 0.56-0.67 em), 10 % more in bold.
double estimated_text_width(const std::string& text, double font_size, bool bold = false);
// The box of a text drawn with text-anchor start at (x, baseline y): from 0.8 em above the
// baseline to 0.25 em below it (ascenders, descenders).
Box text_box(const std::string& text, double x, double baseline, double font_size, bool bold = false);

// A labelled point for layout_labels: its centre, marker radius and text.
struct LabelRequest {
  double x = 0, y = 0, radius = 5;
  std::string text;
  bool bold = false;
};
struct PlacedLabel {
  double x = 0, baseline = 0;  // text-anchor start
  Box box;                     // text_box of it
  bool leader = false;         // away from its point or at its corner: draw a line from the point to the box
  bool clear = true;           // false when no candidate was free (the least-overlapping one is used)
};

// Greedy placement in request order: for each label, the first candidate position around its
// point (right, left, above, below, the four diagonals; then the same directions 14, 28, ...
// px further out) whose box lies inside `area` and stays 1 px clear of every label placed before
// and every point's marker (each request's circle, as its bounding box plus 1 px). When no
// candidate is clear, the one with the least overlap. Deterministic.
std::vector<PlacedLabel> layout_labels(const std::vector<LabelRequest>& labels, const Box& area, double font_size);

// ---- line series ----

struct LineSeries {
  std::string name;                             // legend entry
  std::vector<std::pair<double, double>> points;  // (x, y); non-finite y values are left out
  bool dashed = false;
  int colour = -1;  // tab10 index; -1 = the series' own index (two series of one run share one)
};

struct LinePlot {
  std::string title;
  std::string x_label = "x";
  std::string y_label = "y";
  std::vector<LineSeries> series;
};

// A plot at least 720 x 440: linear axes with 1-2-2.5-5 ticks (at most about eight; whole
// numbers on an x axis of whole numbers), one
// polyline per series in the tab10 colours (a series of one point draws a dot), the legend right
// of the data area (as wide as its longest entry). SVG 1.1 text.
std::string line_plot_svg(const LinePlot& plot);

// Matplotlib's tab10 colour i (cycled) as "#rrggbb".
std::string tab10(size_t i);

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
