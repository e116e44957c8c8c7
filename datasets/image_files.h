#pragma once
// Image files outside a data set's layout (a user's own support and query folders, see
// experiments/training/adapt): the decoding and folder listing the image-folder readers use,
// so such images come out exactly as a data set's would.

#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace datasets {

// Decodes image files (OpenCV; BGR->RGB, grayscale kept as one channel unless the set mixes
// grayscale and colour, then all become RGB) into uint8 [N, H, W, C]. image_size > 0 resizes
// every image to image_size^2 (area when shrinking); 0 requires all images to share one size.
// `where[i]` names image i in errors; throws DataError naming the file (also without OpenCV).
torch::Tensor decode_image_files(const std::vector<std::string>& files, const std::vector<std::string>& where,
                                 int64_t image_size);

std::vector<std::string> image_files_in(const std::string& dir);  // sorted names of image files
std::vector<std::string> subfolders_of(const std::string& dir);   // sorted names

}  // namespace datasets
