#pragma once
// One in-memory form for every image source: per split, uint8 images N x H x W x C, int64
// labels (split-local, 0..classes-1) and the class names. Readers for every supported on-disk
// layout sit behind load_dataset (few-shot splits) and load_classification_dataset (the
// source's own train/test split); see datasets/source.h for how the two are derived.
//
// Dataset spec syntax: fashion-mnist[:DIR]  mnist:DIR  miniimagenet:DIR  cifar10:DIR
//                       cifar100:DIR  tinyimagenet:DIR  folder:DIR  h5:FILE

#include "datasets/storage/error.h"

#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace datasets {

// Bad input data (missing file, corrupt record, wrong layout): the message names the file,
// row or class and what is wrong. An invalid_argument, so the CLI exits 2. The same type as the
// storage library's errors, so a damaged HDF5 file under a cache is a DataError too.
using DataError = storage::FileError;

struct Split {
  torch::Tensor images;                  // uint8 [N, H, W, C], CPU, contiguous
  torch::Tensor labels;                  // int64 [N], values 0..classes-1 (split-local)
  std::vector<std::string> class_names;  // index = label
  int64_t num_classes() const { return static_cast<int64_t>(class_names.size()); }
  int64_t size() const { return images.defined() ? images.size(0) : 0; }
};

struct Dataset {
  std::string source;  // e.g. "fashion-mnist:/usr/share/datasets/fashion-mnist"
  std::string kind;    // the source family ("fashion-mnist", "cifar10", ...), also for h5 caches
  Split train, val, test;  // val may be empty (0 images) for sources without one
  const Split& split(const std::string& name) const;  // "train" | "val" | "test"; throws naming it
  int64_t channels() const;
  int64_t height() const;
  int64_t width() const;
};

// The largest side a resize may ask for (LoadOptions::image_size, the CLI's --image-size): one
// 64-channel float activation of a 1024 x 1024 image is already 256 MiB.
constexpr int64_t kMaxImageSize = 1024;
// The largest image side a stored source (a cache) may declare, checked before reading it.
constexpr int64_t kMaxStoredImageSide = 8192;

struct LoadOptions {
  int64_t image_size = 0;  // 0 = native size; else every image is resized to image_size^2
  // Called while decoding/resizing/reading: (stage, done, total). May throw to abort.
  std::function<void(const std::string& stage, int64_t done, int64_t total)> progress;
};

// Few-shot splits (meta-train / meta-val / meta-test, disjoint classes; see source.h).
// Throws DataError (std::invalid_argument) naming the file/row/class and what is wrong.
Dataset load_dataset(const std::string& spec, const LoadOptions& options = {});

// The source's own classification split, all classes: train / test (val usually empty).
Dataset load_classification_dataset(const std::string& spec, const LoadOptions& options = {});

// The first n images of every class, in file order (n <= 0: the split as it is). For quick
// looks and CPU-sized runs on a balanced subset.
Split first_per_class(const Split& split, int64_t n);

// Every class of the split also as new classes of its images rotated by multiples of 360° /
// rotations (rotations 1: the split itself; 2: 180°; 4: 90°, 180°, 270°, square images only),
// as MAML's Omniglot setup multiplies its training classes. Image r·N + i is image i turned by
// r·360°/rotations counter-clockwise, with label r·classes + its label and name
// "<name>@<degrees>". Throws std::invalid_argument for another count or a non-square image
// under 4.
Split with_rotated_classes(const Split& split, int64_t rotations);

// Per-dataset normalisation (mean/std per channel, in [0,1] pixel units), picked by kind.
struct Normalization {
  std::vector<float> mean, std;
};
Normalization normalization_for(const Dataset& d);
Normalization normalization_for_kind(const std::string& kind, int64_t channels);

// An empty split with the given image shape (0 images).
Split empty_split(int64_t h, int64_t w, int64_t c);

}  // namespace datasets
