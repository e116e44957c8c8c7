#pragma once
// BatchNorm on batch statistics with a hand-written double backward.
//
// Second-order MAML differentiates the BatchNorm backward of every inner step. LibTorch's
// generic double backward of batch_norm is a chain of ~40 small elementwise ops and
// reductions: 20-25 % of a second-order Conv4 meta-iteration on the CPU. Here the derivative
// is written out from the quantities below, each a per-channel reduction or a per-channel
// combination of tensors: batch_norm_kernels.h computes them (CPU kernels of its own,
// LibTorch's native batch-norm kernels elsewhere).
//
// Per channel, over the M = N*H*W values: x̂ = (x - mean) r with r = 1/sqrt(var + eps),
// y = w x̂ + b. With P(v) = v - mean(v) - x̂ mean(v x̂) (symmetric):
//   backward:        gx = w r P(gy),  gw = Σ gy x̂,  gb = Σ gy
//   double backward, given ggx, ggw, ggb flowing into gx, gw, gb, with A = mean(gy x̂),
//   B = mean(ggx x̂), S = Σ ggx gx:
//     d gy = w r P(ggx) + ggw x̂ + ggb
//     d w  = r Σ ggx P(gy)
//     d x  = r [ (ggw - w r B) P(gy) - w r A P(ggx) - (S / M) x̂ ]
// r P(v), Σ v x̂ and Σ v are what the native backward returns for weight 1
// (bn_kernels::project).

#include <torch/types.h>

namespace backbones {

// Training-mode batch norm of x [N, C, ...] with weight and bias [C]. When running_mean and
// running_var are defined they are updated in place (momentum as torch::batch_norm).
torch::Tensor batch_norm_train(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                               const torch::Tensor& running_mean, const torch::Tensor& running_var, double momentum,
                               double eps);

// relu(max_pool2x2(batch_norm_train(...))) (the same values and derivatives), fused on the CPU
// where batch_norm_kernels.h can (channels-last float or double): the normalised map is never
// written, and the first-order backward takes its sums from the pooled outputs alone.
torch::Tensor batch_norm_max_pool_relu_train(const torch::Tensor& x, const torch::Tensor& weight,
                                             const torch::Tensor& bias, const torch::Tensor& running_mean,
                                             const torch::Tensor& running_var, double momentum, double eps);

}  // namespace backbones
