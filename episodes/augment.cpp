#include "episodes/augment.h"

#include "episodes/seeding.h"

#include <torch/torch.h>

#include <cmath>

namespace episodes {

uint64_t Rng::mix(uint64_t x) { return splitmix64(x); }

uint64_t Rng::next() {
  // The splitmix64 generator: the finaliser of a state advanced by the golden-ratio step.
  const uint64_t x = s_;
  s_ += 0x9E3779B97F4A7C15ULL;
  return splitmix64(x);
}

uint64_t Rng::below(uint64_t n) {
  return static_cast<uint64_t>((static_cast<unsigned __int128>(next()) * n) >> 64);
}

double Rng::uniform() { return static_cast<double>(next() >> 11) * (1.0 / 9007199254740992.0); }

void AugmentParams::reserve(size_t n) {
  flip.reserve(n);
  u_crop_y.reserve(n);
  u_crop_x.reserve(n);
  u_scale.reserve(n);
  u_ratio.reserve(n);
  brightness.reserve(n);
  contrast.reserve(n);
  saturation.reserve(n);
}

void AugmentParams::draw(Rng& rng, float jitter) {
  flip.push_back(static_cast<uint8_t>(rng.next() >> 63));
  u_crop_y.push_back(static_cast<float>(rng.uniform()));
  u_crop_x.push_back(static_cast<float>(rng.uniform()));
  u_scale.push_back(static_cast<float>(rng.uniform()));
  u_ratio.push_back(static_cast<float>(rng.uniform()));
  for (auto* v : {&brightness, &contrast, &saturation}) {
    v->push_back(static_cast<float>(1.0 + jitter * (2.0 * rng.uniform() - 1.0)));
  }
}

namespace {

torch::Tensor column(const std::vector<float>& v) {
  return torch::from_blob(const_cast<float*>(v.data()), {static_cast<int64_t>(v.size())}, torch::kFloat).clone();
}

// Grayscale (ITU-R 601 luma) of [n, 3, H, W] -> [n, 1, H, W].
torch::Tensor luma(const torch::Tensor& x) {
  return (x.select(1, 0) * 0.299f + x.select(1, 1) * 0.587f + x.select(1, 2) * 0.114f).unsqueeze(1);
}

}  // namespace

torch::Tensor augment_batch(const torch::Tensor& input, const AugmentParams& p, const AugmentOptions& o) {
  TORCH_CHECK(input.dim() == 4 && input.scalar_type() == torch::kFloat, "augment_batch: expected float [n,C,H,W]");
  const int64_t n = input.size(0), c = input.size(1), h = input.size(2), w = input.size(3);
  TORCH_CHECK(static_cast<int64_t>(p.flip.size()) == n, "augment_batch: ", p.flip.size(), " parameter sets for ", n,
              " images");
  if (n == 0) return input;
  torch::Tensor x = input;

  // Colour jitter: brightness, contrast, saturation (torchvision's definitions, fixed order).
  if (o.jitter) {
    x = (x * column(p.brightness).view({n, 1, 1, 1})).clamp_(0, 1);
    const auto gray_mean = (c == 3 ? luma(x) : x).mean({1, 2, 3}, /*keepdim=*/true);
    x = ((x - gray_mean) * column(p.contrast).view({n, 1, 1, 1}) + gray_mean).clamp_(0, 1);
    if (c == 3) {
      const auto g = luma(x);
      x = ((x - g) * column(p.saturation).view({n, 1, 1, 1}) + g).clamp_(0, 1);
    }
  }

  if (o.resized_crop) {
    // Area fraction in [0.35, 1], aspect ratio log-uniform in [3/4, 4/3]; sampled through an
    // affine grid (bilinear), all images at once.
    auto scale = 0.35f + 0.65f * column(p.u_scale);
    auto ratio = torch::exp(std::log(3.0f / 4.0f) + std::log(16.0f / 9.0f) * column(p.u_ratio));
    auto cw = torch::sqrt(scale * ratio).clamp_max(1.0f);
    auto ch = torch::sqrt(scale / ratio).clamp_max(1.0f);
    auto cx = (1 - cw) * (2 * column(p.u_crop_x) - 1);
    auto cy = (1 - ch) * (2 * column(p.u_crop_y) - 1);
    auto zero = torch::zeros({n});
    auto theta = torch::stack({torch::stack({cw, zero, cx}, 1), torch::stack({zero, ch, cy}, 1)}, 1);
    namespace F = torch::nn::functional;
    auto grid = F::affine_grid(theta, {n, c, h, w}, /*align_corners=*/false);
    x = F::grid_sample(x, grid,
                       F::GridSampleFuncOptions().mode(torch::kBilinear).padding_mode(torch::kBorder).align_corners(false));
  } else if (o.crop_padding > 0) {
    // Zero padding then an h x w window at a random offset: one gather over flat indices.
    const int64_t pad = o.crop_padding, pw = w + 2 * pad;
    auto padded = torch::constant_pad_nd(x, {pad, pad, pad, pad}, 0);
    auto dy = (column(p.u_crop_y) * static_cast<float>(2 * pad + 1)).floor().clamp_max(2 * pad).to(torch::kLong);
    auto dx = (column(p.u_crop_x) * static_cast<float>(2 * pad + 1)).floor().clamp_max(2 * pad).to(torch::kLong);
    auto rows = dy.view({n, 1}) + torch::arange(h, torch::kLong).view({1, h});  // [n, h]
    auto cols = dx.view({n, 1}) + torch::arange(w, torch::kLong).view({1, w});  // [n, w]
    auto flat = (rows.view({n, h, 1}) * pw + cols.view({n, 1, w})).view({n, 1, h * w}).expand({n, c, h * w});
    x = padded.reshape({n, c, -1}).gather(2, flat).view({n, c, h, w});
  }

  if (o.flip) {
    auto mask = torch::from_blob(const_cast<uint8_t*>(p.flip.data()), {n}, torch::kByte).to(torch::kBool);
    x = torch::where(mask.view({n, 1, 1, 1}), x.flip({3}), x);
  }
  return x.contiguous();
}

}  // namespace episodes
