#include "backbones/paper_tables.h"

namespace backbones {
namespace {

// ACDC.md §5: the block cell at m=16 repeats the acdc-net cell above it.
const char* kBlockCopy = "paper prints 4.38 (a copy of the acdc-net m=16 cell); the true count is 5.76M (ACDC.md §5)";
// ACDC.md §5: the g-layer rows are internally inconsistent (ResNet18's m=16 s=64 cell is smaller
// than its m=8 s=32 cell although both atoms and coefficients grow).
const char* kGroupedLayer = "g-layer row is internally inconsistent in the paper (ACDC.md §5)";
// Not listed in ACDC.md §5 but outside the tolerance: 8.90M is the rounded "8.9M" of the WRN
// paper; the same architecture counted exactly has 8,949,210 parameters (an exact value of
// ACDC.md §5 that this project reproduces), i.e. 8.95M.
const char* kWrnBaseline = "paper prints the WRN paper's rounded 8.9M; the exact count is 8,949,210 (ACDC.md §5)";

std::vector<PaperParamCell> make_table1() {
  struct Row {
    const char* label;
    const char* conv;
    int64_t m, s;
    double vgg, resnet, wrn;
  };
  // Transcribed from Table 1 of paper/acdc-paper.txt ("Size" columns).
  const Row rows[] = {
      {"Baseline", "standard", 0, 0, 14.72, 11.17, 8.90},
      {"ACDC-net m=8", "acdc-net", 8, 0, 2.11, 2.28, 0.58},
      {"ACDC-net m=16", "acdc-net", 16, 0, 4.21, 4.38, 1.11},
      {"ACDC-block m=8", "acdc-block", 8, 0, 4.89, 2.96, 0.74},
      {"ACDC-block m=16", "acdc-block", 16, 0, 9.78, 4.38, 1.43},
      {"ACDC-g-net m=8 s=32", "acdc-g-net", 8, 32, 0.03, 0.20, 0.07},
      {"ACDC-g-net m=16 s=64", "acdc-g-net", 16, 64, 0.08, 0.26, 0.13},
      {"ACDC-g-block m=8 s=32", "acdc-g-block", 8, 32, 0.06, 0.22, 0.09},
      {"ACDC-g-block m=16 s=64", "acdc-g-block", 16, 64, 0.35, 0.45, 0.26},
      {"ACDC-g-layer m=8 s=32", "acdc-g-layer", 8, 32, 0.13, 0.89, 0.36},
      {"ACDC-g-layer m=16 s=64", "acdc-g-layer", 16, 64, 0.80, 0.60, 1.98},
  };
  std::vector<PaperParamCell> out;
  for (const auto& r : rows) {
    const std::string conv = r.conv;
    const bool g_layer = conv == "acdc-g-layer";
    out.push_back({r.label, "vgg16", conv, r.m, r.s, r.vgg, g_layer ? kGroupedLayer : ""});
    const bool copied = conv == "acdc-block" && r.m == 16;
    out.push_back({r.label, "resnet18-cifar", conv, r.m, r.s, r.resnet,
                   g_layer ? kGroupedLayer : (copied ? kBlockCopy : "")});
    out.push_back({r.label, "wrn-40-4", conv, r.m, r.s, r.wrn,
                   g_layer ? kGroupedLayer : (conv == "standard" ? kWrnBaseline : "")});
  }
  return out;
}

// The grouped VGG16 cells: ~1.3x the MACs of the ACDC.md §3 grouping scheme, which matches the
// ResNet18 row and both baselines; no consistent convention reproduces both networks.
const char* kVggGrouped =
    "paper's grouped VGG16 figures are ~1.3x the grouped MACs of the ACDC.md §3 scheme that fits ResNet18";

}  // namespace

const std::vector<PaperParamCell>& paper_table1() {
  static const std::vector<PaperParamCell> table = make_table1();
  return table;
}

const std::vector<PaperFlopsCell>& paper_table3() {
  // Transcribed from Table 3 of paper/acdc-paper.txt.
  static const std::vector<PaperFlopsCell> table = {
      {"vgg16", 0, 0, 125.66, ""},
      {"vgg16", 12, 64, 64.16, kVggGrouped},
      {"vgg16", 24, 64, 64.19, kVggGrouped},
      {"vgg16", 12, 32, 32.29, kVggGrouped},
      {"vgg16", 24, 32, 32.31, kVggGrouped},
      {"resnet18-cifar", 0, 0, 222.4, ""},
      {"resnet18-cifar", 12, 64, 116.76, ""},
      {"resnet18-cifar", 24, 64, 116.80, ""},
      {"resnet18-cifar", 12, 32, 60.13, ""},
      {"resnet18-cifar", 24, 32, 60.15, ""},
  };
  return table;
}

}  // namespace backbones
