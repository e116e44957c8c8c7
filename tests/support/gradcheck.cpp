#include "tests/support/gradcheck.h"

#include <torch/torch.h>

namespace support {

double central_difference(const std::function<double()>& f, const torch::Tensor& x, int64_t i, double eps) {
  auto flat = x.detach().view(-1);
  const double orig = flat[i].item<double>();
  flat[i] = orig + eps;
  const double plus = f();
  flat[i] = orig - eps;
  const double minus = f();
  flat[i] = orig;
  return (plus - minus) / (2 * eps);
}

torch::Tensor finite_difference(const std::function<double()>& f, const torch::Tensor& x, double eps) {
  auto grad = torch::zeros_like(x.detach());
  auto gflat = grad.view(-1);
  for (int64_t i = 0; i < gflat.numel(); ++i) gflat[i] = central_difference(f, x, i, eps);
  return grad;
}

}  // namespace support
