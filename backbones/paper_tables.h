#pragma once
// The ACDC paper's parameter table (Table 1, millions) and FLOPs table (Table 3, batch of 100),
// transcribed from paper/acdc-paper.txt, with the paper's own anomalies (ACDC.md §5) marked.
// `acdc-meta params|flops --paper-table` prints them beside this project's figures and the
// tests check the agreement, so both read these rows.

#include <cstdint>
#include <string>
#include <vector>

namespace backbones {

struct PaperParamCell {
  std::string row;          // the paper's row label, e.g. "ACDC-net m=8"
  std::string backbone;     // this project's backbone: "vgg16", "resnet18-cifar", "wrn-40-4"
  std::string conv;         // conv type name ("standard", "acdc-net", ...)
  int64_t atoms = 0;        // m (0 for standard)
  int64_t group_size = 0;   // s (0 when not grouped)
  double paper_millions = 0;
  std::string anomaly;      // empty, or why the paper's cell cannot be matched
};

// Table 1: 11 rows x (VGG16, ResNet18, WRN-40-4), CIFAR-10 (10 classes, 32 px).
const std::vector<PaperParamCell>& paper_table1();
// Table 1's cells agree with the exact counts within this many millions (ACDC.md §5).
constexpr double kTable1ToleranceMillions = 0.015;

struct PaperFlopsCell {
  std::string backbone;     // "vgg16" or "resnet18-cifar"
  int64_t atoms = 0;        // 0: the baseline (standard convs)
  int64_t group_size = 0;
  double paper_gflops = 0;  // "FLOPs for a batch of 100 images", in 1e9
  std::string anomaly;
};

// Table 3: (VGG16, ResNet18) x (baseline, m12 s64, m24 s64, m12 s32, m24 s32). The conv type is
// not named; every grouped type (g-layer/g-block/g-net) has the same MACs, so acdc-g-net is used.
const std::vector<PaperFlopsCell>& paper_table3();
// Table 3 is compared by the ratio to the baseline (ours: total MACs of a batch of 100 over the
// standard network's); they agree within this much.
constexpr double kTable3RatioTolerance = 0.01;
// The paper's FLOPs are about this many times our MACs (ACDC.md §5: ~4 x MACs per image x 100).
constexpr double kPaperFlopsPerMac = 4.0;

}  // namespace backbones
