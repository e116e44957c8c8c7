#include "tests/support/images.h"

#include "tests/support/files.h"

#include <torch/torch.h>

#include <stdexcept>

namespace support {

torch::Tensor class_images(const torch::Tensor& labels, int64_t side, int64_t channels, std::optional<uint64_t> seed,
                           int64_t block_rows, int64_t block_cols) {
  if (seed) torch::manual_seed(*seed);
  const int64_t n = labels.size(0);
  const int64_t rows = block_rows > 0 ? block_rows : side / 4, cols = block_cols > 0 ? block_cols : side / 4;
  auto images = (torch::rand({n, side, side, channels}) * 60).to(torch::kUInt8);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t c = labels[i].item<int64_t>() % 16;
    images[i].narrow(0, (c / 4) * rows, rows).narrow(1, (c % 4) * cols, cols).fill_(220);
  }
  return images;
}

void write_idx(const std::string& dir, const std::string& prefix, const torch::Tensor& images,
               const torch::Tensor& labels) {
  const bool shape_ok = images.scalar_type() == torch::kUInt8 &&
                        (images.dim() == 3 || (images.dim() == 4 && images.size(3) == 1)) && labels.dim() == 1 &&
                        labels.size(0) == images.size(0);
  if (!shape_ok) {
    throw std::invalid_argument("write_idx " + dir + "/" + prefix + ": needs uint8 images [n, rows, cols(, 1)] and " +
                                "labels [n], got images " + c10::str(images.sizes()) + " and labels " +
                                c10::str(labels.sizes()));
  }
  const auto n = static_cast<uint32_t>(images.size(0));
  const auto pixels = images.contiguous();
  std::string img = be32(2051) + be32(n) + be32(static_cast<uint32_t>(images.size(1))) +
                    be32(static_cast<uint32_t>(images.size(2)));
  img.append(reinterpret_cast<const char*>(pixels.data_ptr<uint8_t>()), static_cast<size_t>(pixels.numel()));
  const auto l8 = labels.to(torch::kUInt8).contiguous();
  std::string lbl = be32(2049) + be32(n);
  lbl.append(reinterpret_cast<const char*>(l8.data_ptr<uint8_t>()), static_cast<size_t>(n));
  write_file(dir + "/" + prefix + "-images-idx3-ubyte", img);
  write_file(dir + "/" + prefix + "-labels-idx1-ubyte", lbl);
}

}  // namespace support
