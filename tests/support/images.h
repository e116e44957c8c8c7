#pragma once
// Learnable fixture images and the IDX (MNIST layout) files made of them, from tensors.

#include <torch/types.h>

#include <cstdint>
#include <optional>
#include <string>

namespace support {

// uint8 images [n, side, side, channels]: noise in [0, 60) with a bright (220) block at a
// class-specific place, class c = label % 16 at block row c / 4 and column c % 4. The block is
// block_rows x block_cols pixels (0: side / 4 each). `seed` reseeds torch's global generator
// first; without one the images continue its current stream.
torch::Tensor class_images(const torch::Tensor& labels, int64_t side, int64_t channels, std::optional<uint64_t> seed,
                           int64_t block_rows = 0, int64_t block_cols = 0);

// DIR/PREFIX-images-idx3-ubyte and DIR/PREFIX-labels-idx1-ubyte (raw IDX, as Fashion-MNIST
// ships them) holding uint8 `images` [n, rows, cols] or [n, rows, cols, 1] and `labels` [n]
// (each below 256). Creates DIR; throws std::invalid_argument on other shapes.
void write_idx(const std::string& dir, const std::string& prefix, const torch::Tensor& images,
               const torch::Tensor& labels);

}  // namespace support
