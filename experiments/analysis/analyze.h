#pragma once
// acdc-meta analyze: the two analyses run on a checkpoint and their outputs. The maths is in
// analysis.h; this unit loads the model, gathers the inputs and writes the reports:
//   rank  a Markdown table per layer and per pair, JSON, an SVG heat map of the pairwise eranks;
//   cam   one PNG per image (the input, then every layer's map over it, OpenCV's JET colour
//         map) and the raw maps in one HDF5 file.

#include "datasets/storage/json.h"
#include "experiments/analysis/analysis.h"

#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace experiments {

// ---- rank ----

std::string rank_markdown(const RankReport& report, const std::string& title);
storage::json rank_json(const RankReport& report, const std::string& checkpoint);
// Layers x layers: the diagonal holds each layer's coefficient erank, cell (i, j) the pair's;
// the colour runs from the smallest figure to the largest. Plain SVG 1.1 text.
std::string rank_heatmap_svg(const RankReport& report, const std::string& title);

struct RankRequest {
  std::string checkpoint;  // a validated checkpoint file (classify or train)
  int64_t atoms = 9;
  std::string svg;         // heat map path ("" = none)
};
struct RankRunResult {
  RankReport report;
  std::string title;       // the checkpoint's run and m, for the table and the heat map
};
// Writes the heat map when `svg` is set.
RankRunResult run_rank(const RankRequest& request);

// ---- cam ----

struct CamInputs {
  torch::Tensor images;             // uint8 [N, H, W, C] at the network's size and channels
  torch::Tensor labels;             // int64 [N]; -1 for image files
  std::vector<std::string> names;   // "test[17]" or the file's name, for captions and file names
};

struct CamRequest {
  std::string checkpoint;
  std::vector<std::string> image_files;  // decoded with OpenCV, resized to the network's size
  std::string dataset;                   // "" = the checkpoint's own --dataset
  std::string split = "test";
  std::vector<int64_t> indices;          // into the split
  int64_t class_index = -1;              // -1 = each image's predicted class
  std::string out;                       // directory: one PNG per image and maps.h5
};

struct CamRunResult {
  CamResult cam;
  CamInputs inputs;
  std::vector<std::string> pngs;
  std::string h5;
};
// Validates everything (files, split, indices, class, backbone) before writing; bad input is
// std::invalid_argument naming the flag or file (exit 2).
CamRunResult run_cam(const CamRequest& request);

// The PNG of one image: the input and one overlay per layer, side by side (OpenCV builds only;
// elsewhere throws std::runtime_error).
std::vector<unsigned char> cam_png(const torch::Tensor& image, const std::vector<torch::Tensor>& maps,
                                   const std::string& caption);

}  // namespace experiments
