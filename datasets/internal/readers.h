#pragma once
// Private to the datasets library: one reader per on-disk layout, and the shared helpers
// they use. Each reader returns the source's official parts with global labels.

#include "datasets/source.h"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace datasets::internal {

// IDX (MNIST / Fashion-MNIST), gzip or raw. kind: "fashion-mnist" or "mnist".
Source read_idx_source(const std::string& kind, const std::string& dir);
// One IDX file (gzip or raw, detected by content): images [N, rows, cols, 1] or labels [N].
torch::Tensor read_idx_images(const std::string& file);
torch::Tensor read_idx_labels(const std::string& file);

Source read_cifar10(const std::string& dir);
Source read_cifar100(const std::string& dir);
// Records of `label_bytes` + 3072 bytes; label taken from byte `label_index`.
Split read_cifar_file(const std::string& file, int64_t label_bytes, int64_t label_index, int64_t classes);

Source read_miniimagenet(const std::string& dir, const LoadOptions& options);
Source read_tinyimagenet(const std::string& dir, const LoadOptions& options);
Source read_folder(const std::string& dir, const LoadOptions& options);

// Decodes image files (OpenCV; BGR->RGB, grayscale kept as one channel unless the set mixes
// grayscale and colour, then all become RGB) into uint8 [N, H, W, C]. image_size > 0 resizes
// every image to image_size^2 (area when shrinking); 0 requires all images to share one size.
// `where[i]` names image i in errors (e.g. "train.csv row 12"); may be empty.
// Without OpenCV: throws DataError "built without OpenCV: cannot decode <file>; ...".
torch::Tensor decode_images(const std::vector<std::string>& files, const std::vector<std::string>& where,
                            int64_t image_size, const LoadOptions& options, const std::string& stage);

// File helpers.
bool is_dir(const std::string& path);
bool is_file(const std::string& path);
std::vector<std::string> list_dirs(const std::string& dir);         // sorted names
std::vector<std::string> list_images(const std::string& dir);       // sorted names of image files
std::string join(const std::string& a, const std::string& b);
std::string read_text(const std::string& file);


// A JSON list of strings (torchmeta's {split}_labels.json); throws naming the file.
std::vector<std::string> parse_json_string_list(const std::string& text, const std::string& file);

// Builds a Split from per-class file lists (class order = order of `classes`).
Split decode_class_lists(const std::vector<std::string>& class_names,
                         const std::vector<std::vector<std::string>>& files,
                         const std::vector<std::vector<std::string>>& where, const LoadOptions& options,
                         const std::string& stage);

}  // namespace datasets::internal
