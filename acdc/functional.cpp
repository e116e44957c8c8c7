#include "acdc/functional.h"

#include "acdc/conv_autograd.h"

#include <torch/torch.h>

#include <cmath>

namespace acdc {

namespace F = torch::nn::functional;

torch::Tensor reconstruct_kernel(const torch::Tensor& atoms, const torch::Tensor& coeff) {
  TORCH_CHECK(atoms.dim() == 3, "reconstruct_kernel: atoms must be [m, k, k], got ", atoms.sizes());
  TORCH_CHECK(coeff.dim() == 3, "reconstruct_kernel: coeff must be [C_out, C_in, m], got ", coeff.sizes());
  TORCH_CHECK(coeff.size(2) == atoms.size(0), "reconstruct_kernel: coeff has ", coeff.size(2),
              " atoms per kernel but there are ", atoms.size(0), " atoms");
  const int64_t m = atoms.size(0), kh = atoms.size(1), kw = atoms.size(2);
  // One GEMM: [C_out*C_in, m] x [m, kh*kw].
  return coeff.reshape({-1, m}).mm(atoms.reshape({m, kh * kw})).view({coeff.size(0), coeff.size(1), kh, kw});
}

torch::Tensor reconstruct_grouped_kernel(const torch::Tensor& atoms, const torch::Tensor& coeff) {
  TORCH_CHECK(atoms.dim() == 4, "reconstruct_grouped_kernel: atoms must be [A, m, k, k], got ", atoms.sizes());
  TORCH_CHECK(coeff.dim() == 3, "reconstruct_grouped_kernel: coeff must be [so, si, m], got ", coeff.sizes());
  TORCH_CHECK(coeff.size(2) == atoms.size(1), "reconstruct_grouped_kernel: coeff has ", coeff.size(2),
              " atoms per kernel but each group has ", atoms.size(1));
  const int64_t a = atoms.size(0), m = atoms.size(1), kh = atoms.size(2), kw = atoms.size(3);
  const int64_t so = coeff.size(0), si = coeff.size(1);
  // [so*si, m] x [m, A*kh*kw] -> [so, si, A, kh, kw] -> [A, so, si, kh, kw]
  auto w = coeff.reshape({so * si, m}).mm(atoms.permute({1, 0, 2, 3}).reshape({m, a * kh * kw}));
  return w.view({so, si, a, kh, kw}).permute({2, 0, 1, 3, 4}).reshape({a * so, si, kh, kw});
}

torch::Tensor acdc_kernel(const torch::Tensor& atoms, const torch::Tensor& coeff, const ConvLayerOptions& o) {
  TORCH_CHECK(coeff.dim() == 3, "acdc_kernel: coeff must be [C_out, C_in, m], got ", coeff.sizes());
  const int64_t rows = o.coeff_rows > 0 ? o.coeff_rows : coeff.size(0);
  const int64_t cols = o.coeff_cols > 0 ? o.coeff_cols : coeff.size(1);
  TORCH_CHECK(rows <= coeff.size(0) && cols <= coeff.size(1), "acdc_kernel: coefficient slice [", rows, ", ", cols,
              "] exceeds the coefficient tensor ", coeff.sizes());
  // A shared tensor sized to the largest layer: this layer reads its leading slice.
  const auto slice = rows != coeff.size(0) || cols != coeff.size(1) ? coeff.narrow(0, 0, rows).narrow(1, 0, cols) : coeff;
  const auto dropped = drop_atoms(atoms, o.atom_drop, o.training);
  return dropped.dim() == 4 ? reconstruct_grouped_kernel(dropped, slice) : reconstruct_kernel(dropped, slice);
}

torch::Tensor standard_conv2d(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                              const ConvLayerOptions& o) {
  auto y = acdc::conv2d(x, weight, bias, o.geometry, o.groups);
  return o.groups > 1 ? acdc::channel_shuffle(y, o.groups) : y;
}

torch::Tensor acdc_conv2d(const torch::Tensor& x, const torch::Tensor& atoms, const torch::Tensor& coeff,
                          const torch::Tensor& bias, const ConvLayerOptions& o) {
  return standard_conv2d(x, acdc_kernel(atoms, coeff, o), bias, o);
}

torch::Tensor acdc_conv2d(const torch::Tensor& x, const torch::Tensor& atoms, const torch::Tensor& coeff,
                          const ConvGeometry& g, int64_t groups) {
  ConvLayerOptions o;
  o.geometry = g;
  o.groups = groups;
  return acdc_conv2d(x, atoms, coeff, /*bias=*/{}, o);
}

torch::Tensor atom_sublayer(const torch::Tensor& x, const torch::Tensor& atoms, const ConvGeometry& g) {
  TORCH_CHECK(x.dim() == 4, "atom_sublayer: input must be [N, C, H, W], got ", x.sizes());
  TORCH_CHECK(atoms.dim() == 3, "atom_sublayer: atoms must be [m, k, k], got ", atoms.sizes());
  const int64_t n = x.size(0), c = x.size(1), m = atoms.size(0);
  auto y = torch::conv2d(x.reshape({n * c, 1, x.size(2), x.size(3)}), atoms.unsqueeze(1), /*bias=*/{}, g.stride,
                         g.padding, g.dilation);
  return y.view({n, c * m, y.size(2), y.size(3)});
}

torch::Tensor acdc_conv2d_two_stage(const torch::Tensor& x, const torch::Tensor& atoms, const torch::Tensor& coeff,
                                    const ConvGeometry& g) {
  TORCH_CHECK(coeff.dim() == 3 && coeff.size(1) == x.size(1) && coeff.size(2) == atoms.size(0),
              "acdc_conv2d_two_stage: coeff ", coeff.sizes(), " does not match input channels ", x.size(1),
              " and ", atoms.size(0), " atoms");
  auto atom_out = atom_sublayer(x, atoms, g);
  return torch::conv2d(atom_out, coeff.reshape({coeff.size(0), coeff.size(1) * coeff.size(2), 1, 1}));
}

torch::Tensor channel_shuffle(const torch::Tensor& x, int64_t groups) {
  if (groups <= 1) return x;
  const int64_t c = x.size(1);
  TORCH_CHECK(c % groups == 0, "channel_shuffle: ", c, " channels do not split into ", groups, " groups");
  auto sizes = x.sizes().vec();
  std::vector<int64_t> view = {sizes[0], groups, c / groups};
  view.insert(view.end(), sizes.begin() + 2, sizes.end());
  return x.view(view).transpose(1, 2).reshape(sizes);
}

torch::Tensor channel_unshuffle(const torch::Tensor& x, int64_t groups) {
  if (groups <= 1) return x;
  // Shuffling with g groups is a transpose of a [g, C/g] grid; its inverse transposes [C/g, g].
  return acdc::channel_shuffle(x, x.size(1) / groups);
}

torch::Tensor atom_drop_mask(int64_t rows, int64_t m, double p, const torch::TensorOptions& options) {
  TORCH_CHECK(p >= 0.0 && p < 1.0, "atom_drop_mask: p must be in [0, 1), got ", p);
  auto keep = torch::empty({rows, m, 1, 1}, options).bernoulli_(1.0 - p);
  return keep.mul_(1.0 / (1.0 - p));
}

torch::Tensor drop_atoms(const torch::Tensor& atoms, double p, bool training) {
  if (!training || p <= 0.0) return atoms;
  if (atoms.dim() == 3) {
    return atoms * atom_drop_mask(1, atoms.size(0), p, atoms.options()).squeeze(0);
  }
  return atoms * atom_drop_mask(atoms.size(0), atoms.size(1), p, atoms.options());
}

torch::Tensor dct_atoms(int64_t m, int64_t k, const torch::TensorOptions& options) {
  std::vector<std::pair<int64_t, int64_t>> freqs;
  for (int64_t s = 0; s <= 2 * (k - 1); ++s)
    for (int64_t u = 0; u < k; ++u)
      if (s - u >= 0 && s - u < k) freqs.emplace_back(u, s - u);
  auto basis = [k](int64_t u, int64_t x) {
    const double scale = u == 0 ? std::sqrt(1.0 / k) : std::sqrt(2.0 / k);
    return scale * std::cos(M_PI * (2 * x + 1) * u / (2.0 * k));
  };
  auto out = torch::randn({m, k, k}, options.dtype(torch::kDouble).device(torch::kCPU));
  auto acc = out.accessor<double, 3>();
  for (int64_t j = 0; j < std::min<int64_t>(m, k * k); ++j)
    for (int64_t y = 0; y < k; ++y)
      for (int64_t x = 0; x < k; ++x) acc[j][y][x] = basis(freqs[j].first, y) * basis(freqs[j].second, x);
  return out.to(options);
}

}  // namespace acdc
