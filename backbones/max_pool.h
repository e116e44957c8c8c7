#pragma once
// 2x2 max pooling with stride 2 (Conv4, ResNet12 and VGG16 pool this way), with kernels of its
// own on the CPU.
//
// LibTorch's CPU backward zero-fills the whole input gradient and then scatters into it, and a
// second-order MAML iteration runs that backward (and the backward's backward) for every layer
// of every inner step: 12 % of a second-order Conv4 meta-iteration, a third of it the fill. The
// windows here do not overlap, so the forward records which of its four inputs each output took
// (a byte per output), and the backward writes every input element exactly once: the output's
// gradient where it was taken, zero elsewhere. Backward and double backward are the two adjoint
// linear maps of that choice (scatter and gather), so derivatives of any order cost one pass.
//
// Equal to torch::max_pool2d(x, 2) in values and in every derivative, ties included (the first
// of equal values in row-major window order takes the gradient, NaN propagates, as LibTorch's
// kernel does). Other devices and dtypes, and inputs smaller than a window, go to
// torch::max_pool2d.

#include "backbones/pool_choice.h"

#include <torch/types.h>

namespace backbones {

torch::Tensor max_pool2x2(const torch::Tensor& x);

// The backward of a 2x2 max-pool of an [N, C, h, w] input with window choices k (uint8, one per
// output, in g's memory format: 0..3 or kNoGradient, pool_choice.h): g scattered to the chosen
// elements, zero elsewhere. Differentiable in every order (the derivative is the gather of the
// choices).
torch::Tensor max_pool2x2_scatter(const torch::Tensor& g, const torch::Tensor& k, int64_t h, int64_t w);

}  // namespace backbones
