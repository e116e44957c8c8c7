#pragma once
// Vectorised training augmentation of a float image batch [n, C, H, W] in [0, 1], with
// per-image random parameters drawn beforehand (so the result depends only on the parameters,
// not on how images are batched).

#include <torch/types.h>

#include <cstdint>
#include <vector>

namespace episodes {

// Deterministic 64-bit generator (splitmix64, seeding.h): the same stream on every platform.
class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed) {}
  uint64_t next();
  uint64_t below(uint64_t n);  // uniform in [0, n)
  double uniform();            // uniform in [0, 1)
  static uint64_t mix(uint64_t x);  // splitmix64(x)

 private:
  uint64_t s_;
};

struct AugmentParams {  // one entry per image
  std::vector<uint8_t> flip;
  std::vector<float> u_crop_y, u_crop_x;         // uniform [0,1): offsets of the crop
  std::vector<float> u_scale, u_ratio;           // uniform [0,1): resized-crop area and aspect
  std::vector<float> brightness, contrast, saturation;  // factors in [1-j, 1+j]
  void reserve(size_t n);
  // Draws one image's parameters; always the same number of draws, whatever the options.
  void draw(Rng& rng, float jitter);
};

struct AugmentOptions {
  bool resized_crop = false;
  int64_t crop_padding = 0;
  bool jitter = true;
  bool flip = true;
};

torch::Tensor augment_batch(const torch::Tensor& x, const AugmentParams& p, const AugmentOptions& o);

}  // namespace episodes
