#pragma once
// What a network costs: its trainable parameters (by kind, per tensor) and its MACs (per
// layer, plus the once-per-forward reconstruction of decomposed kernels), each beside the same
// network with standard convs; and the paper's Table 1 (parameters) and Table 3 (FLOPs, batch
// 100) beside this project's figures, cell by cell, with the paper's anomalies marked
// (reference/ACDC.md §5). `acdc-meta params|flops` print these; test_paper_tables checks them.

#include "acdc/acdc_conv.h"
#include "backbones/backbone.h"
#include "backbones/paper_tables.h"
#include "datasets/storage/json.h"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace experiments {

// ---- parameters ----

struct ParamCountRequest {
  backbones::BackboneOptions model;
  bool tensors = false;  // also list every parameter tensor
};

struct TensorCount {
  std::string name;
  std::vector<int64_t> shape;
  int64_t numel = 0;
};

struct ParamCount {
  backbones::BackboneOptions model;
  int64_t params = 0;
  int64_t standard_params = 0;  // the same network with standard convs
  double ratio = 0;             // params / standard_params
  // coefficients, atoms, standard_conv, batchnorm, head (in this order).
  std::vector<std::pair<std::string, int64_t>> by_kind;
  std::vector<TensorCount> tensors;  // when the request asked for them
};

ParamCount count_params(const ParamCountRequest& request);
storage::json to_json(const ParamCount& count);
std::string to_text(const ParamCount& count);

// ---- MACs ----

struct MacSummary {
  int64_t conv = 0, linear = 0, reconstruction = 0;
  int64_t per_image() const { return conv + linear; }
};

// The layer named "head" counts as linear, every other as conv.
MacSummary summarize_macs(const acdc::CostRecorder& costs);

struct MacCountRequest {
  backbones::BackboneOptions model;
  int64_t batch = 100;  // images per forward, at least 1
  bool layers = false;  // also list every layer's MACs
};

struct MacCount {
  backbones::BackboneOptions model;
  int64_t batch = 0;
  MacSummary macs;
  int64_t total = 0;               // macs.per_image() x batch + macs.reconstruction
  int64_t standard_per_image = 0;  // the same network with standard convs
  double ratio = 0;                // per image, to standard
  std::vector<acdc::LayerCost> layers;  // when the request asked for them
};

// Throws std::invalid_argument for a batch below 1 and std::overflow_error (naming the batch and
// the terms) when the total does not fit in 64 bits.
MacCount count_macs(const MacCountRequest& request);
storage::json to_json(const MacCount& count);
std::string to_text(const MacCount& count);

// ---- the paper's tables ----

// The setting of the paper's tables: CIFAR-10 (10 classes, 3 channels, 32 px); `atoms` and
// `group_size` only when above 0.
backbones::BackboneOptions paper_table_options(const std::string& backbone, const std::string& conv, int64_t atoms,
                                               int64_t group_size);

struct Table1Cell {
  backbones::PaperParamCell paper;
  int64_t params = 0;
  double millions = 0, diff_millions = 0;
  bool within_tolerance = false;
};

struct Table1Comparison {
  std::vector<Table1Cell> cells;
  int checked = 0, agreed = 0;  // cells outside the anomalies, and those of them within tolerance
};

Table1Comparison compare_table1();
storage::json to_json(const Table1Comparison& table);
std::string to_text(const Table1Comparison& table);

struct Table3Cell {
  backbones::PaperFlopsCell paper;
  std::string setting;  // "baseline" or "m12 s64"
  double paper_ratio = 0;
  MacSummary macs;
  double total_macs = 0;  // per image x batch + reconstruction
  double ratio = 0;       // to the baseline of the same backbone
  bool within_tolerance = false;
};

struct Table3Comparison {
  int64_t batch = 100;
  std::vector<Table3Cell> cells;
  int checked = 0, agreed = 0;  // grouped cells outside the anomalies, and those within tolerance
};

Table3Comparison compare_table3();
storage::json to_json(const Table3Comparison& table);
std::string to_text(const Table3Comparison& table);

}  // namespace experiments
