// experiments/report: number formatting, tables (Markdown/CSV), the SVG scatter plot and the
// sweep report. No LibTorch: plain strings in, plain text out.

#include "experiments/report/plot.h"
#include "experiments/report/sweep_report.h"
#include "experiments/report/numbers.h"
#include "experiments/report/table.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

namespace report = experiments::report;

namespace {

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// Three variants of a sweep; the figures are made up, the params/MACs are of conv4's size.
std::vector<report::VariantRow> sweep_rows() {
  std::vector<report::VariantRow> rows(3);
  rows[0] = {"standard", "conv4", "standard", 0, 0, 113221, 9281920, 88.5, 11.5, 0.33, 0.3, 89.25, 2, "/runs/s"};
  rows[1] = {"acdc-net m=4", "conv4", "acdc-net", 4, 0, 14789, 9366784, 86.75, 13.25, 0.4, 0.38, 86.5, 2, "/runs/a"};
  rows[2] = {"g, s=8", "conv4", "acdc-g-net", 4, 8, 9157, 9400000, 90.0, 10.0, 0.29, 0.31, 88.0, 2, "/runs/g"};
  return rows;
}

// Golden texts: what printf("%.*f" / "%.*g") and the former ostream helpers printed for the same
// values (checked against both over 300,000 random doubles when the helpers moved to fmt).
TEST(Numbers, SameTextAsPrintf) {
  EXPECT_EQ(experiments::fixed(3.14159, 2), "3.14");
  EXPECT_EQ(experiments::fixed(2.5, 0), "2");  // round half to even, as printf
  EXPECT_EQ(experiments::fixed(-0.0001, 3), "-0.000");
  EXPECT_EQ(experiments::fixed_unsigned_zero(-0.0001, 3), "0.000");
  EXPECT_EQ(experiments::fixed_unsigned_zero(-0.0006, 3), "-0.001");
  EXPECT_EQ(experiments::significant(0.012345, 3), "0.0123");
  EXPECT_EQ(experiments::significant(1e-5, 3), "1e-05");
  EXPECT_EQ(experiments::significant(1234567.0, 6), "1.23457e+06");
  EXPECT_EQ(experiments::round_trip(0.1), "0.1");
  EXPECT_EQ(experiments::round_trip(1.0), "1");
  EXPECT_EQ(experiments::round_trip(1e6), "1e+06");
  EXPECT_EQ(experiments::round_trip(1.0 / 3.0), "0.3333333333333333");
  EXPECT_EQ(experiments::round_trip(std::numeric_limits<double>::infinity()), "inf");
  EXPECT_EQ(experiments::grouped(0), "0");
  EXPECT_EQ(experiments::grouped(999), "999");
  EXPECT_EQ(experiments::grouped(1234567), "1,234,567");
  EXPECT_EQ(experiments::grouped(-1000), "-1,000");
  EXPECT_EQ(experiments::grouped(std::numeric_limits<int64_t>::min()), "-9,223,372,036,854,775,808");
}

}  // namespace

TEST(ReportNumbers, Grouped) {
  EXPECT_EQ(experiments::grouped(0), "0");
  EXPECT_EQ(experiments::grouped(999), "999");
  EXPECT_EQ(experiments::grouped(1000), "1,000");
  EXPECT_EQ(experiments::grouped(1234567), "1,234,567");
  EXPECT_EQ(experiments::grouped(-1234), "-1,234");
  EXPECT_EQ(experiments::grouped(std::numeric_limits<int64_t>::min()), "-9,223,372,036,854,775,808");
}

TEST(ReportNumbers, FixedPercentShortest) {
  EXPECT_EQ(experiments::fixed(1.0 / 3.0, 3), "0.333");
  EXPECT_EQ(experiments::fixed(2.0, 2), "2.00");
  EXPECT_EQ(experiments::fixed(-0.001, 2), "-0.00");  // printf's %.2f keeps the sign
  EXPECT_EQ(experiments::fixed(1234.5678, 0), "1235");
  EXPECT_EQ(report::percent(1, 8, 1), "12.5 %");
  EXPECT_EQ(report::percent(113221, 113221, 1), "100.0 %");
  EXPECT_EQ(experiments::round_trip(0.1), "0.1");
  EXPECT_EQ(experiments::round_trip(0.1 + 0.2), "0.30000000000000004");  // 17 digits are needed
  EXPECT_EQ(experiments::round_trip(90.0), "90");
  EXPECT_EQ(experiments::round_trip(1e6), "1e+06");  // %g, as run files have always been written
  EXPECT_EQ(experiments::round_trip(1.0 / 3.0), "0.3333333333333333");  // printf %.16g, the first that reads back
}

TEST(ReportTable, CellQuoting) {
  EXPECT_EQ(report::csv_cell("plain text"), "plain text");
  EXPECT_EQ(report::csv_cell("a,b"), "\"a,b\"");
  EXPECT_EQ(report::csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(report::csv_cell("two\nlines"), "\"two\nlines\"");
  EXPECT_EQ(report::csv_cell("cr\r"), "\"cr\r\"");
  EXPECT_EQ(report::csv_cell(""), "");
  EXPECT_EQ(report::markdown_cell("a|b"), "a\\|b");
  EXPECT_EQ(report::markdown_cell("a-b"), "a-b");
}

TEST(ReportTable, MarkdownAndCsv) {
  report::Table t({{"name"}, {"count", report::Align::kRight}}, "Totals");
  t.add_row({"apples, red", "1,234"}).add_row({"a|b", "5"});
  EXPECT_EQ(t.markdown(),
            "### Totals\n\n"
            "| name | count |\n"
            "|---|---:|\n"
            "| apples, red | 1,234 |\n"
            "| a\\|b | 5 |\n");
  EXPECT_EQ(t.csv(), "name,count\n\"apples, red\",\"1,234\"\na|b,5\n");
  report::Table untitled({{"x", report::Align::kRight}});
  EXPECT_EQ(untitled.markdown(), "| x |\n|---:|\n");
  EXPECT_EQ(untitled.csv(), "x\n");
}

TEST(ReportTable, RowOfTheWrongWidthNamesTheTable) {
  report::Table t({{"a"}, {"b"}}, "Totals");
  try {
    t.add_row({"only one"});
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "table 'Totals': row 1 has 1 cells, expected 2");
  }
  EXPECT_THROW(report::Table({}, "empty"), std::invalid_argument);
}

TEST(ReportPlot, XmlEscape) {
  EXPECT_EQ(report::xml_escape("a < b & \"c\" > d"), "a &lt; b &amp; &quot;c&quot; &gt; d");
  EXPECT_EQ(report::xml_escape("plain"), "plain");
}

TEST(ReportPlot, LogScatter) {
  report::ScatterPlot plot;
  plot.title = "A & B";
  plot.x_label = "size (log scale)";
  plot.y_label = "error";
  plot.highlight_legend = "reference";
  plot.point_legend = "others";
  plot.points = {{1000, 5.0, "ref", "ref: 1k", true}, {100000, 3.0, "<big>", "big", false}};
  const auto svg = report::log_x_scatter_svg(plot);
  EXPECT_EQ(svg.rfind("<?xml", 0), 0u);
  EXPECT_NE(svg.find(">A &amp; B</text>"), std::string::npos);
  EXPECT_NE(svg.find(">size (log scale)</text>"), std::string::npos);
  EXPECT_NE(svg.find(">reference</text>"), std::string::npos);
  EXPECT_NE(svg.find(">others</text>"), std::string::npos);
  EXPECT_NE(svg.find(" font-weight=\"bold\" fill=\"#d62728\">ref</text>"), std::string::npos);
  EXPECT_NE(svg.find(">&lt;big&gt;</text>"), std::string::npos);
  // x from 10^2.85 to 10^5.15: the 1-2-5 ticks 1k ... 100k.
  for (const char* tick : {">1k<", ">2k<", ">5k<", ">10k<", ">20k<", ">50k<", ">100k<"}) {
    EXPECT_NE(svg.find(tick), std::string::npos) << tick;
  }
  EXPECT_EQ(svg.find(">500<"), std::string::npos);
  EXPECT_EQ(svg.find(">200k<"), std::string::npos);
  EXPECT_EQ(count(svg, "<circle"), 4u);  // two points, two legend markers
  EXPECT_EQ(svg.substr(svg.size() - 7), "</svg>\n");
}

TEST(ReportPlot, Viridis) {
  // The five stops of matplotlib's viridis (analyze.cpp's table, moved here).
  EXPECT_EQ(report::viridis(0.0), "rgb(68,1,84)");
  EXPECT_EQ(report::viridis(1.0), "rgb(253,231,37)");
  EXPECT_EQ(report::viridis(0.5), "rgb(33,145,140)");
  EXPECT_EQ(report::viridis(-3.0), report::viridis(0.0));  // clamped
  EXPECT_EQ(report::viridis(0.125), "rgb(64,42,112)");     // halfway between the first two stops
}

TEST(ReportPlot, SymmetricHeatmap) {
  report::SymmetricHeatmap map;
  map.title = "a < b";
  map.subtitle = "sub";
  map.footer = "foot";
  map.names = {"conv1", "conv&2", "conv3"};
  map.diagonal = {1.0, 2.0, 3.0};
  map.pairs = {{0, 2, 2.5}};
  const auto svg = report::symmetric_heatmap_svg(map);
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("width=\"640\""), std::string::npos);  // 210 + 3 * 56 + 110 = 488, raised to 640
  EXPECT_NE(svg.find(">a &lt; b</text>"), std::string::npos);
  EXPECT_NE(svg.find(">1: conv&amp;2</text>"), std::string::npos);
  EXPECT_EQ(count(svg, ">2.50</text>"), 2u);  // the pair, mirrored
  EXPECT_NE(svg.find(">3.000</text>"), std::string::npos);  // colour bar top: the largest value
  EXPECT_NE(svg.find(">1.000</text>"), std::string::npos);  // and its bottom: the smallest
  EXPECT_NE(svg.find(">foot</text>\n</svg>\n"), std::string::npos);
  map.pairs = {{0, 3, 1.0}};
  EXPECT_THROW(report::symmetric_heatmap_svg(map), std::invalid_argument);
  map.pairs.clear();
  map.diagonal.pop_back();
  EXPECT_THROW(report::symmetric_heatmap_svg(map), std::invalid_argument);
}

TEST(ReportSweep, MarkdownMatchesTheOldReport) {
  // Golden text: what results_markdown (experiments/classify.cpp at 5174d44) wrote for these rows.
  const std::string expected =
      "### conv4 on fmnist\n\n"
      "| variant | m | s | parameters | vs standard | MACs/image | vs standard | test error (%) | vs standard (points) |\n"
      "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n"
      "| standard | – | – | 113,221 | 100.0 % | 9,281,920 | 100.0 % | 11.50 | – |\n"
      "| acdc-net m=4 | 4 | – | 14,789 | 13.1 % | 9,366,784 | 100.9 % | 13.25 | +1.75 |\n"
      "| g, s=8 | 4 | 8 | 9,157 | 8.1 % | 9,400,000 | 101.3 % | 10.00 | -1.50 |\n"
      "\nCommand: `acdc-meta classify --sweep s.ini`\n"
      "\nSettings.\n";
  EXPECT_EQ(report::sweep_markdown(sweep_rows(), {"conv4 on fmnist", "acdc-meta classify --sweep s.ini", "Settings."}),
            expected);
  // Without a standard row the ratio columns show "–" (same origin).
  const auto rows = sweep_rows();
  EXPECT_EQ(report::sweep_markdown({rows[1], rows[2]}, {}),
            "| variant | m | s | parameters | vs standard | MACs/image | vs standard | test error (%) | vs standard (points) |\n"
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n"
            "| acdc-net m=4 | 4 | – | 14,789 | – | 9,366,784 | – | 13.25 | – |\n"
            "| g, s=8 | 4 | 8 | 9,157 | – | 9,400,000 | – | 10.00 | – |\n");
}

TEST(ReportSweep, CsvMatchesTheOldReport) {
  // Golden text: what results_csv (experiments/classify.cpp at 5174d44) wrote for these rows.
  EXPECT_EQ(report::sweep_csv(sweep_rows()),
            "variant,backbone,conv,m,s,params,params_ratio,macs_per_image,macs_ratio,test_accuracy,test_error,"
            "test_loss,train_loss,train_accuracy,epochs,run_dir\n"
            "standard,conv4,standard,,,113221,1,9281920,1,88.5,11.5,0.33,0.3,89.25,2,/runs/s\n"
            "acdc-net m=4,conv4,acdc-net,4,,14789,0.13062064458006906,9366784,1.0091429359442874,86.75,13.25,0.4,0.38,"
            "86.5,2,/runs/a\n"
            "\"g, s=8\",conv4,acdc-g-net,4,8,9157,0.08087722242340202,9400000,1.012721505895332,90,10,0.29,0.31,88,2,"
            "/runs/g\n");
  const auto rows = sweep_rows();
  EXPECT_EQ(report::sweep_csv({rows[1]}),
            "variant,backbone,conv,m,s,params,params_ratio,macs_per_image,macs_ratio,test_accuracy,test_error,"
            "test_loss,train_loss,train_accuracy,epochs,run_dir\n"
            "acdc-net m=4,conv4,acdc-net,4,,14789,,9366784,,86.75,13.25,0.4,0.38,86.5,2,/runs/a\n");
}

TEST(ReportSweep, SvgHighlightsTheStandardRow) {
  const auto svg = report::sweep_svg(sweep_rows(), "conv4 on fmnist: test error vs parameters");
  EXPECT_NE(svg.find(">parameters (log scale)</text>"), std::string::npos);
  EXPECT_NE(svg.find(">test error (%)</text>"), std::string::npos);
  EXPECT_NE(svg.find(" font-weight=\"bold\" fill=\"#d62728\">standard (11.50 %)</text>"), std::string::npos);
  EXPECT_NE(svg.find(">acdc-net m=4 (13.25 %)</text>"), std::string::npos);
  EXPECT_NE(svg.find("<title>g, s=8: 9,157 parameters, 10.00 % error</title>"), std::string::npos);
  EXPECT_EQ(count(svg, "<circle"), 5u);  // three points, two legend markers
  EXPECT_EQ(count(svg, "r=\"7\""), 2u);  // the standard point and its legend marker
}

TEST(ReportSweep, SvgLabelPlacementEnds) {
  // These five rows (from a randomised comparison with the old plotter) made its label placement
  // loop for ever: py + 13 rounded to a value less than 13 from py, so a label "moved" onto itself.
  std::vector<report::VariantRow> rows(5);
  const std::vector<std::pair<int64_t, double>> points = {
      {13107, 73.575229239079135}, {1123652, 39}, {0, 40.67093762775675}, {67697, 41.000794739620098}, {579, 0}};
  for (size_t i = 0; i < rows.size(); ++i) {
    rows[i].label = "v";
    rows[i].conv = "acdc-g-net";
    rows[i].params = points[i].first;
    rows[i].test_error = points[i].second;
  }
  rows[1].conv = "acdc-net";
  const auto svg = report::sweep_svg(rows, "t");
  EXPECT_EQ(count(svg, ">v ("), 5u);
}
