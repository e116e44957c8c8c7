#pragma once
// A source as it is on disk: its official parts (e.g. Fashion-MNIST "train" and "test",
// miniImageNet "train"/"val"/"test", TinyImageNet "train" and "val"), each with GLOBAL labels
// and the class names of that part. The project's HDF5 cache stores exactly this, so one cache
// serves both uses. The split logic lives in one place (splits.cpp):
//
// few_shot_splits (meta-train / meta-val / meta-test):
//   fashion-mnist, mnist, cifar10: train = classes 0-4 of the official training part,
//       val = classes 5-9 of the training part, test = classes 5-9 of the official test part
//       (val and test share classes but no images).
//   cifar100: official train+test merged per class (600 images each); fine classes 0-63 /
//       64-79 / 80-99.
//   miniimagenet: its own train / val / test parts (64 / 16 / 20 classes).
//   tinyimagenet: the 200 training classes in wnids.txt order: 0-119 / 120-159 / 160-199.
//   folder: train/ val/ test/ subfolders when present (a missing val/ gives an empty val);
//       otherwise the sorted class folders split 60% / 20% / 20%.
// classification_splits (all classes, the source's own split):
//   fashion-mnist, mnist, cifar10, cifar100: official train / test.
//   tinyimagenet: train / val (the official val set serves as test).
//   miniimagenet: the 64 training classes only; in each class the first 5/6 of the images in
//       file order (500 of 600) are train and the rest (100) test.
//   folder: train/ and test/ (and val/) subfolders when present; otherwise each class's sorted
//       images split 5/6 train, 1/6 test like miniimagenet.

#include "datasets/dataset.h"

#include <string>
#include <vector>

namespace datasets {

struct Part {
  std::string name;  // "train", "val", "test", "all"
  Split data;        // labels index data.class_names
};

struct Source {
  std::string kind;      // fashion-mnist, mnist, cifar10, cifar100, miniimagenet, tinyimagenet, folder
  std::string location;  // directory (or original location recorded in a cache)
  std::string spec;      // what the user wrote
  std::vector<Part> parts;
  const Part* find(const std::string& name) const;
  const Part& get(const std::string& name) const;  // throws DataError naming the part
};

// Parses a dataset spec ("kind:PATH", dataset.h) and reads the source (h5: reads a cache back).
Source read_source(const std::string& spec, const LoadOptions& options = {});

Dataset few_shot_splits(const Source& s);
Dataset classification_splits(const Source& s);

// The images of `part` whose label is in `classes` (global labels), relabelled 0..k-1 in the
// order of `classes`; file order is kept.
Split select_classes(const Split& part, const std::vector<int64_t>& classes);

// Resizes every image of a uint8 NHWC tensor to size x size (area when shrinking, bilinear
// when enlarging). Vectorised, in chunks.
torch::Tensor resize_images(const torch::Tensor& nhwc, int64_t size);

// The project's HDF5 cache (format "acdc-meta-dataset", version 1):
//   root attributes: format, version, kind, location, parts ("train,val,test"), image_height,
//                    image_width, channels, image_size (height if square, else 0)
//   /<part>/images   uint8 [N, H, W, C], chunked, deflate-compressed
//   /<part>/labels   int64 [N] (global labels of that part)
//   /<part> attributes: classes (int), class_names (newline-separated)
// Written under a temporary name and renamed when complete (AtomicFile). `progress(done,
// total)` counts images written; it may throw to abort (nothing is then left at `path`).
void write_cache(const Source& s, const std::string& path,
                 const std::function<void(int64_t done, int64_t total)>& progress = {});
// Reads and checks a cache (attributes, shapes, label range); throws DataError naming the
// file and what is wrong.
Source read_cache(const std::string& path, const LoadOptions& options = {});

}  // namespace datasets
