#pragma once
// conv2d for the MAML engine: the same result and gradients as torch::conv2d, with a
// double backward written out here so that second-order MAML runs on fast kernels.
//
// LibTorch's own double backward of a convolution computes one of its terms with a
// transposed convolution, which on the CPU falls back to `slow_conv_transpose2d` (im2col,
// single-threaded loops): 7-9 % of a second-order Conv4 meta-iteration. Every term here is a
// forward convolution or a `convolution_backward` (oneDNN on the CPU, cuDNN on CUDA):
//
//   y = conv(x, w)                       gx, gw = convolution_backward(gy, x, w)
//   given ggx, ggw (the gradients flowing into gx and gw):
//     d gy = conv(ggx, w) + conv(x, ggw)
//     d w  = weight gradient of conv with input ggx and output gradient gy
//     d x  = input gradient of conv with weight ggw and output gradient gy
//
// On the CPU every call passes the weight in the input's layout (channels-last where the
// activations are): see weight_for in conv_autograd.cpp.

#include <torch/types.h>

#include <cstdint>

namespace acdc {

struct ConvGeometry;

// conv2d(x, weight) with bias added when defined; geometry as torch::conv2d.
torch::Tensor conv2d(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                     const ConvGeometry& geometry, int64_t groups = 1);

}  // namespace acdc
