// experiments/report: number formatting, tables (Markdown/CSV), the SVG plots and their label
// layout, the sweep report, and the run comparison of `acdc-meta report` over files written
// here. No LibTorch: plain strings in, plain text out. (The command over real runs:
// test_report_runs.cpp.)

#include "experiments/report/plot.h"
#include "experiments/report/run_report.h"
#include "experiments/report/sweep_report.h"
#include "experiments/report/numbers.h"
#include "experiments/report/table.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <regex>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include <unistd.h>

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
  EXPECT_EQ(count(svg, ">standard conv</text>"), 1u);
  EXPECT_EQ(count(svg, ">ACDC variant</text>"), 1u);
}

// An ablation sweep has no standard row: its legend explains only the markers it has.
TEST(ReportSweep, LegendListsOnlyTheMarkersPresent) {
  const auto rows = sweep_rows();
  const auto svg = report::sweep_svg({rows[1], rows[2]}, "ablation");
  EXPECT_EQ(count(svg, ">standard conv</text>"), 0u);
  EXPECT_EQ(count(svg, ">ACDC variant</text>"), 1u);
  EXPECT_EQ(count(svg, "<circle"), 3u);  // two points, one legend marker
  EXPECT_EQ(count(svg, "r=\"7\""), 0u);
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

// ---- label layout ----

namespace {

// The point labels and markers of a scatter SVG, read back: each label's box as the plot
// estimates it (text_box at the text's x and baseline, bold where the text is), each marker's
// bounding box.
struct SvgBoxes {
  std::vector<report::Box> labels, markers;
  std::vector<std::string> texts;
};

std::string unescape(std::string s) {
  for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{
           {"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&amp;", "&"}}) {
    for (auto at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) s.replace(at, from.size(), to);
  }
  return s;
}

SvgBoxes parse_scatter(const std::string& svg) {
  SvgBoxes out;
  const std::regex text(R"re(<text class="point-label" x="([-0-9.]+)" y="([-0-9.]+)"( font-weight="bold")?[^>]*>([^<]*)</text>)re");
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), text); it != std::sregex_iterator(); ++it) {
    const auto& m = *it;
    const auto label = unescape(m[4].str());
    out.texts.push_back(label);
    out.labels.push_back(report::text_box(label, std::stod(m[1].str()), std::stod(m[2].str()), 12, m[3].matched));
  }
  // Data points carry a <title>; the legend's markers do not.
  const std::regex circle(R"re(<circle cx="([-0-9.]+)" cy="([-0-9.]+)" r="([0-9.]+)"[^>]*><title>)re");
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), circle); it != std::sregex_iterator(); ++it) {
    const double x = std::stod((*it)[1].str()), y = std::stod((*it)[2].str()), r = std::stod((*it)[3].str());
    out.markers.push_back({x - r, y - r, x + r, y + r});
  }
  return out;
}

// Every pair of labels apart, and no label over any marker.
void expect_no_overlap(const std::string& svg, size_t labels) {
  const auto b = parse_scatter(svg);
  ASSERT_EQ(b.labels.size(), labels) << svg;
  ASSERT_EQ(b.markers.size(), labels);
  for (size_t i = 0; i < b.labels.size(); ++i) {
    for (size_t j = i + 1; j < b.labels.size(); ++j) {
      EXPECT_FALSE(b.labels[i].overlaps(b.labels[j])) << "'" << b.texts[i] << "' overlaps '" << b.texts[j] << "'";
    }
    for (size_t j = 0; j < b.markers.size(); ++j) {
      EXPECT_FALSE(b.labels[i].overlaps(b.markers[j])) << "'" << b.texts[i] << "' covers point " << j;
    }
  }
}

}  // namespace

TEST(ReportLabels, TextWidthEstimate) {
  EXPECT_DOUBLE_EQ(report::estimated_text_width("abcd", 10), 24.0);  // 0.6 em a character
  EXPECT_DOUBLE_EQ(report::estimated_text_width("–", 10), 6.0);      // one code point, three bytes
  EXPECT_NEAR(report::estimated_text_width("abcd", 10, /*bold=*/true), 26.4, 1e-12);
  const auto b = report::text_box("ab", 100, 50, 10);
  EXPECT_DOUBLE_EQ(b.x0, 100);
  EXPECT_DOUBLE_EQ(b.x1, 112);
  EXPECT_DOUBLE_EQ(b.y0, 42);
  EXPECT_DOUBLE_EQ(b.y1, 52.5);
  EXPECT_TRUE(b.overlaps({111, 51, 120, 60}));
  EXPECT_FALSE(b.overlaps({112, 40, 120, 60}));  // touching edges do not overlap
}

TEST(ReportLabels, CrowdedPointsKeepTheirLabelsApart) {
  // Eight points within 5 % of each other in both coordinates, with long labels: the old layout
  // stacked them on one another and over the points.
  report::ScatterPlot plot;
  for (int i = 0; i < 8; ++i) {
    report::ScatterPoint p;
    p.x = 10000 * (1.0 + 0.05 * i / 7.0);
    p.y = 10.0 * (1.0 + 0.05 * ((i * 3) % 8) / 7.0);
    p.label = "acdc-g-block m=" + std::to_string(8 + i) + " s=16 (" + experiments::fixed(p.y, 2) + " %)";
    p.tooltip = p.label;
    p.highlight = i == 0;
    plot.points.push_back(p);
  }
  const auto svg = report::log_x_scatter_svg(plot);
  expect_no_overlap(svg, 8);
}

TEST(ReportLabels, RandomCrowdsKeepTheirLabelsApart) {
  // 100 seeded crowds of 8 points within 5 % of each other, labels of 10 to 30 characters.
  uint64_t state = 7;
  auto uniform = [&state] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<double>(state >> 11) / 9007199254740992.0;
  };
  for (int trial = 0; trial < 100; ++trial) {
    report::ScatterPlot plot;
    const double x0 = 1000 * (1 + 1000 * uniform()), y0 = 1 + 50 * uniform();
    for (int i = 0; i < 8; ++i) {
      report::ScatterPoint p;
      p.x = x0 * (1 + 0.05 * uniform());
      p.y = y0 * (1 + 0.05 * uniform());
      p.label = std::string(10 + static_cast<size_t>(20 * uniform()), 'w');
      p.highlight = i == 0;
      plot.points.push_back(p);
    }
    SCOPED_TRACE("trial " + std::to_string(trial));
    expect_no_overlap(report::log_x_scatter_svg(plot), 8);
  }
}

TEST(ReportLabels, CoincidentPointsAndTheDocsSweep) {
  // conv4 on Fashion-MNIST (docs/classify-fashion-mnist-conv4.csv): acdc-net m=8 and acdc-block
  // m=8 are the same point, as are the two grouped variants.
  std::vector<report::VariantRow> rows(6);
  const std::vector<std::tuple<std::string, std::string, int64_t, double>> v = {
      {"standard", "standard", 112330, 9.07},         {"acdc-net m=8", "acdc-net", 34218, 10.43},
      {"acdc-net m=16", "acdc-net", 67274, 9.96},     {"acdc-block m=8", "acdc-block", 34218, 10.43},
      {"acdc-g-net m=8 s=16", "acdc-g-net", 4362, 13.82}, {"acdc-g-block m=8 s=16", "acdc-g-block", 4362, 13.82}};
  for (size_t i = 0; i < rows.size(); ++i) {
    rows[i].label = std::get<0>(v[i]);
    rows[i].conv = std::get<1>(v[i]);
    rows[i].params = std::get<2>(v[i]);
    rows[i].test_error = std::get<3>(v[i]);
  }
  expect_no_overlap(report::sweep_svg(rows, "conv4"), 6);
}

TEST(ReportLabels, LayoutStaysInsideTheArea) {
  std::vector<report::LabelRequest> requests;
  for (int i = 0; i < 6; ++i) requests.push_back({400, 100, 5, "label " + std::to_string(i), false});
  const report::Box area{0, 0, 500, 300};
  const auto placed = report::layout_labels(requests, area, 12);
  ASSERT_EQ(placed.size(), 6u);
  for (size_t i = 0; i < placed.size(); ++i) {
    EXPECT_TRUE(placed[i].clear) << i;
    EXPECT_GE(placed[i].box.x0, area.x0);
    EXPECT_LE(placed[i].box.x1, area.x1);
    EXPECT_GE(placed[i].box.y0, area.y0);
    EXPECT_LE(placed[i].box.y1, area.y1);
    for (size_t j = 0; j < i; ++j) EXPECT_FALSE(placed[i].box.overlaps(placed[j].box)) << i << " " << j;
  }
  EXPECT_FALSE(placed[0].leader);  // the first label sits next to its point
  // Twelve labels on one point: the later ones move out a ring, with a leader line.
  requests.resize(12, requests.back());
  const auto crowded = report::layout_labels(requests, area, 12);
  for (size_t i = 0; i < crowded.size(); ++i) {
    EXPECT_TRUE(crowded[i].clear) << i;
    for (size_t j = 0; j < i; ++j) EXPECT_FALSE(crowded[i].box.overlaps(crowded[j].box)) << i << " " << j;
  }
  EXPECT_TRUE(crowded.back().leader);
}

// ---- line plots ----

TEST(ReportPlot, LineSeries) {
  report::LinePlot plot;
  plot.title = "loss & more";
  plot.x_label = "iteration";
  plot.y_label = "loss";
  plot.series = {{"run a", {{1, 2.0}, {2, 1.5}, {3, std::nan("")}, {4, 1.0}}, false},
                 {"run <b>", {{2, 1.8}}, true},
                 {"empty", {}, false}};
  const auto svg = report::line_plot_svg(plot);
  EXPECT_EQ(svg.rfind("<?xml", 0), 0u);
  EXPECT_NE(svg.find(">loss &amp; more</text>"), std::string::npos);
  EXPECT_EQ(count(svg, "<polyline"), 1u);  // run a; run <b> has one point: a dot
  EXPECT_EQ(count(svg, "<circle"), 1u);
  // run a without its NaN: three vertices.
  const auto at = svg.find("points=\"");
  ASSERT_NE(at, std::string::npos);
  const auto points = svg.substr(at + 8, svg.find('"', at + 8) - at - 8);
  EXPECT_EQ(count(points, ","), 3u) << points;
  EXPECT_NE(svg.find(">run &lt;b&gt;</text>"), std::string::npos);  // legend
  EXPECT_NE(svg.find("stroke-dasharray"), std::string::npos);
  EXPECT_EQ(svg.substr(svg.size() - 7), "</svg>\n");
  // x from 1 to 4: whole ticks, no decimals.
  EXPECT_NE(svg.find("text-anchor=\"middle\">4</text>"), std::string::npos);
}

TEST(ReportPlot, SeriesOfOneRunShareTheirColour) {
  report::LinePlot plot;
  plot.series = {{"a train", {{1, 1.0}, {2, 2.0}}, false, 0},
                 {"a test", {{1, 1.5}, {2, 2.5}}, true, 0},
                 {"b train", {{1, 3.0}, {2, 4.0}}, false, 1}};
  const auto svg = report::line_plot_svg(plot);
  // Each colour twice per series: its polyline and its legend line.
  EXPECT_EQ(count(svg, "stroke=\"" + report::tab10(0) + "\""), 4u);
  EXPECT_EQ(count(svg, "stroke=\"" + report::tab10(1) + "\""), 2u);
  EXPECT_EQ(count(svg, "stroke=\"" + report::tab10(2) + "\""), 0u);
}

// ---- the run comparison, over files written here ----

namespace {

namespace fs = std::filesystem;

class ReportRuns : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("acdc_meta_report_" + std::to_string(::getpid()) + "_" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  std::string path(const std::string& name) const { return (root_ / name).string(); }
  void write(const std::string& name, const std::string& text) const {
    fs::create_directories((root_ / name).parent_path());
    std::ofstream(path(name)) << text;
  }
  void train_run(const std::string& dir, const std::string& meta_lr, const std::string& metrics) const {
    write(dir + "/config.ini", "# acdc-meta run configuration\nbackbone = conv4\nconv = acdc-net\natoms = 4\ngroup-size = 16\n"
                               "iterations = 4\nmeta-lr = " + meta_lr + "\nseed = 0\n");
    write(dir + "/metrics.csv", metrics);
  }
  fs::path root_;
};

const char* const kNewTrain =
    "iteration,loss,accuracy,meta_lr,second_order,elapsed_seconds,val_accuracy,val_ci95\n"
    "1,1.5,40,0.001,1,0.5,,\n2,1.2,50,0.001,1,1.0,45,3\n3,1.0,60,0.001,1,1.5,,\n4,0.9,62.5,0.001,1,2.0,44,2.5\n";
// The same figures in the earlier layout: query accuracy a fraction, "seconds".
const char* const kOldTrain =
    "iteration,loss,accuracy,meta_lr,second_order,seconds,val_accuracy,val_ci95\n"
    "1,1.5,0.4,0.001,1,0.5,,\n2,1.2,0.5,0.001,1,1.0,45,3\n3,1.0,0.6,0.001,1,1.5,,\n4,0.9,0.625,0.001,1,2.0,44,2.5\n";

}  // namespace

TEST_F(ReportRuns, OldAndNewMetricsReadAlike) {
  write("new.csv", kNewTrain);
  write("old.csv", kOldTrain);
  const auto a = report::read_metrics_csv(path("new.csv")), b = report::read_metrics_csv(path("old.csv"));
  EXPECT_EQ(a.columns, b.columns);
  ASSERT_EQ(a.rows.size(), 4u);
  ASSERT_EQ(b.rows.size(), 4u);
  EXPECT_EQ(b.column("elapsed_seconds"), 5);
  EXPECT_DOUBLE_EQ(b.rows[3][2], 62.5);
  EXPECT_TRUE(std::isnan(b.rows[0][6]));
  write("old-classify.csv", "epoch,lr,train_loss,train_accuracy,test_loss,test_accuracy,seconds,images_per_second\n"
                            "1,0.05,0.5,80,0.6,78,12.5,400\n");
  const auto c = report::read_metrics_csv(path("old-classify.csv"));
  EXPECT_EQ(c.column("epoch_seconds"), 6);
  EXPECT_DOUBLE_EQ(c.rows[0][3], 80.0);  // classify's accuracies were percent already
}

TEST_F(ReportRuns, BadMetricsLineIsNamed) {
  write("short.csv", "iteration,loss\n1,0.5\n2\n");
  try {
    report::read_metrics_csv(path("short.csv"));
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()), path("short.csv") + ": line 3: 1 cells, the header has 2");
  }
  write("word.csv", "iteration,loss\n1,abc\n");
  try {
    report::read_metrics_csv(path("word.csv"));
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()), path("word.csv") + ": line 2: column 'loss' is 'abc', not a number");
  }
  EXPECT_THROW(report::read_metrics_csv(path("missing.csv")), std::invalid_argument);
}

TEST_F(ReportRuns, TableOfTwoTrainRunsAndASweep) {
  train_run("a", "0.001", kNewTrain);
  train_run("b", "0.01", kOldTrain);
  write("a/eval-1shot.json", R"({"results": [{"ways": 5, "shots": 1, "episodes": 600, "accuracy": 55.5, "ci95": 0.75}],
                                 "settings": {"parameters": 1234}})");
  // A sweep directory: no config.ini, runs below.
  train_run("sweep/x", "0.001", kNewTrain);
  write("sweep/results.md", "not a run\n");
  const auto dirs = report::expand_run_dirs({path("a"), path("b"), path("sweep")});
  ASSERT_EQ(dirs.size(), 3u);
  EXPECT_EQ(dirs[2], path("sweep") + "/x");
  std::vector<report::RunRecord> runs;
  for (const auto& d : dirs) runs.push_back(report::read_run(d));
  EXPECT_EQ(runs[0].params, 1234);  // from the eval file's settings
  const auto tables = report::comparison_tables(runs);
  ASSERT_EQ(tables.size(), 1u);
  const auto& t = tables[0];
  std::vector<std::string> headers;
  for (const auto& c : t.columns()) headers.push_back(c.header);
  EXPECT_EQ(headers, (std::vector<std::string>{"run", "kind", "backbone", "conv", "m", "s", "params", "meta-lr", "final loss",
                                               "final query acc (%)", "best val acc (%)", "at iteration",
                                               "eval 5-way 1-shot (%)"}));
  ASSERT_EQ(t.rows().size(), 3u);
  // Figures from kNewTrain; run b's old file reads the same (62.5 % from 0.625).
  EXPECT_EQ(t.rows()[0], (std::vector<std::string>{path("a"), "train", "conv4", "acdc-net", "4", "–", "1,234", "0.001",
                                                   "0.9000", "62.50", "45.00", "2", "55.50 ± 0.75"}));
  EXPECT_EQ(t.rows()[1][9], "62.50");
  EXPECT_EQ(t.rows()[1][7], "0.01");
  EXPECT_EQ(t.rows()[1][12], "–");
  const auto json = report::report_json(runs);
  EXPECT_NE(json.find("\"best_val_iteration\": 2"), std::string::npos) << json;
  EXPECT_NE(json.find("\"meta-lr\": \"0.01\""), std::string::npos) << json;
  const auto svgs = report::curve_svgs(runs);
  ASSERT_EQ(svgs.size(), 3u);
  EXPECT_EQ(svgs[0].first, "loss.svg");
  EXPECT_EQ(svgs[1].first, "query-accuracy.svg");
  EXPECT_EQ(svgs[2].first, "validation-accuracy.svg");
  EXPECT_EQ(count(svgs[2].second, "<polyline"), 3u);
}

TEST_F(ReportRuns, BadInputsNameTheFile) {
  write("file.txt", "x");
  fs::create_directories(path("empty"));
  train_run("notrain", "0.1", kNewTrain);
  write("notrain/config.ini", "backbone = conv4\n");
  auto message = [](const std::function<void()>& f) {
    try {
      f();
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(message([&] { report::expand_run_dirs({path("file.txt")}); }).rfind(path("file.txt") + ": not a directory", 0), 0u);
  EXPECT_EQ(message([&] { report::expand_run_dirs({path("nothing")}); }).rfind(path("nothing") + ": no such directory", 0), 0u);
  EXPECT_EQ(message([&] { report::expand_run_dirs({path("empty")}); }).rfind(path("empty") + "/config.ini: missing", 0), 0u);
  EXPECT_EQ(message([&] { report::read_run(path("notrain")); }).rfind(path("notrain") + "/config.ini: neither", 0), 0u);
  train_run("badeval", "0.1", kNewTrain);
  write("badeval/eval.json", "{\"results\": 3}");
  EXPECT_EQ(message([&] { report::read_run(path("badeval")); }).rfind(path("badeval") + "/eval.json: field 'results'", 0), 0u);
}

// A sweep's runs come out in the order of their numbered settings, as the sweep file lists them
// (a plain name sort put m12 and m16 before m4).
TEST_F(ReportRuns, SweepMembersInNumericOrder) {
  for (const auto* name : {"acdc-net-m12", "acdc-net-m4", "acdc-net-m16", "acdc-net-m8", "acdc-net-m6", "drop-0.1", "drop-0",
                           "drop-0.3", "run-007", "run-7b"}) {
    train_run(std::string("sweep/") + name, "0.001", kNewTrain);
  }
  std::vector<std::string> names;
  for (const auto& d : report::expand_run_dirs({path("sweep")})) names.push_back(d.substr(path("sweep").size() + 1));
  EXPECT_EQ(names, (std::vector<std::string>{"acdc-net-m4", "acdc-net-m6", "acdc-net-m8", "acdc-net-m12", "acdc-net-m16",
                                             "drop-0", "drop-0.1", "drop-0.3", "run-007", "run-7b"}));
}

TEST_F(ReportRuns, SweepCsvReadsBack) {
  write("results.csv", report::sweep_csv(sweep_rows()));
  const auto rows = report::read_sweep_csv(path("results.csv"));
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(report::sweep_csv(rows), report::sweep_csv(sweep_rows()));  // every column round-trips
  write("bad.csv", "variant,x\n");
  EXPECT_THROW(report::read_sweep_csv(path("bad.csv")), std::invalid_argument);
}

TEST(ReportNumbers, PercentOfFraction) {
  EXPECT_EQ(experiments::percent_of_fraction(0.57), "57");  // 100 * 0.57 is 56.99999999999999 in double
  EXPECT_EQ(experiments::percent_of_fraction(0.625), "62.5");
  EXPECT_EQ(experiments::percent_of_fraction(1.0 / 3.0), "33.3333333333333");
  EXPECT_EQ(experiments::percent_of_fraction(0.0), "0");
  EXPECT_EQ(experiments::percent_of_fraction(1.0), "100");
}
