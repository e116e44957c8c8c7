#pragma once
// Central finite differences, the reference the analytic gradients are tested against.

#include <torch/types.h>

#include <cstdint>
#include <functional>

namespace support {

// (f(x + eps e_i) - f(x - eps e_i)) / (2 eps) for the flat index i of `x`, perturbing x in place
// through a detached view and restoring it; f itself may use autograd. Error O(eps^2) for a
// smooth f; use double precision.
double central_difference(const std::function<double()>& f, const torch::Tensor& x, int64_t i, double eps = 1e-6);

// The central difference for every entry of `x`: a tensor shaped like x.
torch::Tensor finite_difference(const std::function<double()>& f, const torch::Tensor& x, double eps = 1e-6);

}  // namespace support
