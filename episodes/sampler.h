#pragma once
// N-way K-shot Q-query episodes over one dataset split. Episode i of (seed, split name) is a
// pure function of those three values: the same whatever the thread, batch or request order.
// Labels are remapped to 0..ways-1; support and query images are disjoint.

#include "datasets/dataset.h"

#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace episodes {

struct EpisodeConfig {
  int64_t ways = 5, shots = 1, queries = 15;
  uint64_t seed = 0;
  bool augment = false;  // training augmentation (off at evaluation)
  datasets::Normalization normalization;  // empty: pixels only scaled to [0, 1]
  // Augmentation details (used when augment is on):
  bool resized_crop = false;  // random resized crop (scale 0.35-1, ratio 3/4-4/3) instead of pad+crop
  int64_t crop_padding = -1;  // pad+crop padding in pixels; -1: max(1, height / 8)
  float jitter = 0.4f;        // colour jitter strength (brightness, contrast, saturation); 0: off
  bool flip = true;           // random horizontal flip
};

struct Episode {            // float32 CPU tensors, normalised, NCHW
  torch::Tensor support_x;  // [ways*shots, C, H, W], grouped by class: label i at i*shots..
  torch::Tensor support_y;  // int64 [ways*shots], values 0..ways-1
  torch::Tensor query_x;    // [ways*queries, C, H, W], grouped by class likewise
  torch::Tensor query_y;    // int64 [ways*queries]
  std::vector<int64_t> classes;  // split-local class of each way
};

struct TaskBatch {          // T episodes stacked
  torch::Tensor support_x;  // [T, ways*shots, C, H, W]
  torch::Tensor support_y;  // [T, ways*shots]
  torch::Tensor query_x, query_y;  // [T, ways*queries, C, H, W], [T, ways*queries]
  std::vector<std::vector<int64_t>> classes;  // per task, the split-local class of each way
};

class EpisodeSampler {
 public:
  // Validates: ways >= 1 and <= classes in the split, shots >= 1, queries >= 0, every class
  // has >= shots + queries images, normalisation matches the channels. Throws
  // std::invalid_argument naming the split, class and numbers; a datasets::FieldError
  // (field_error.h) when one field of the config is at fault ("ways", "shots", "queries").
  EpisodeSampler(const datasets::Split& split, std::string split_name, EpisodeConfig config);

  Episode episode(int64_t index) const;
  TaskBatch batch(int64_t first_index, int64_t tasks) const;  // episodes first..first+tasks-1
  const EpisodeConfig& config() const { return config_; }
  const std::string& split_name() const { return name_; }

  // Which images (rows of the split) episode `index` uses: support then query, class-grouped.
  struct Draw {
    std::vector<int64_t> classes, support, query;
  };
  Draw draw(int64_t index) const;

 private:
  torch::Tensor images_;  // uint8 [N, H, W, C]
  std::string name_;
  EpisodeConfig config_;
  std::vector<int64_t> by_class_;  // row indices grouped by class, file order within a class
  std::vector<int64_t> offset_, count_;
  uint64_t stream_;  // hash of (seed, split name)
  torch::Tensor mean_, std_;  // [1, C, 1, 1] or undefined
};

}  // namespace episodes
