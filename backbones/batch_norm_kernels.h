#pragma once
// The per-channel maths of batch_norm.cpp, with CPU kernels of its own.
//
// LibTorch 1.13's CPU batch-norm kernels are slow on the channels-last activations the
// backbones run on: at Conv4's largest map (75 x 64 x 28 x 28, float, one thread) the
// backward takes 7x the time of a copy of its input, the forward 2.6x; 21 % of a second-order
// Conv4 meta-iteration. Every quantity here is a per-channel reduction or a per-channel
// affine combination, and the kernels do each in the fewest passes over memory: a reduction
// pass and an elementwise pass for the backward, the shifted-data one-pass moments and an
// elementwise pass for the forward, one pass for any sum of per-channel-scaled tensors.
//
// The kernels take float and double CPU tensors contiguous in channels-last or in NCHW order
// (or [N, C]), when autograd is not recording (they run inside autograd Functions, whose
// formulas are in batch_norm.h); anything else (CUDA, other layouts, a recorded third order)
// goes to the equivalent LibTorch ops. Reductions sum chunks of a fixed size and then the
// chunks in double in a fixed order: results do not depend on the number of threads.

#include <torch/types.h>

#include <tuple>
#include <utility>
#include <vector>

namespace backbones::bn_kernels {

// Training-mode forward of x [N, C, ...]: (y, mean, invstd) as at::native_batch_norm, with
// running_mean and running_var (when defined) updated in place, the variance unbiased.
std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> forward(const torch::Tensor& x, const torch::Tensor& weight,
                                                                const torch::Tensor& bias,
                                                                const torch::Tensor& running_mean,
                                                                const torch::Tensor& running_var, double momentum,
                                                                double eps);

// With x̂ = (x - mean) invstd and r = invstd, per channel over the M = N*H*W values:
// (scale r P(v), Σ v x̂, Σ v), P(v) = v - mean(v) - x̂ mean(v x̂): the native backward's
// (gx, gw, gb) for weight `scale` (undefined: 1). The first is not computed (undefined) unless
// `projection` is true.
std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> project(const torch::Tensor& v, const torch::Tensor& x,
                                                                const torch::Tensor& mean, const torch::Tensor& invstd,
                                                                const torch::Tensor& scale, bool projection = true);

// Σ a b per channel, a and b [N, C, ...] of one shape.
torch::Tensor channel_dot(const torch::Tensor& a, const torch::Tensor& b);

// A [C] vector viewed [1, C, 1, ...] to broadcast against x [N, C, ...].
torch::Tensor per_channel(const torch::Tensor& v, const torch::Tensor& x);

// Σ_i t_i coefficient_i + bias, each coefficient and the bias a [C] vector broadcast over the
// channels of the t_i (tensors of one shape; at least one term). An undefined bias is zero.
torch::Tensor combine(const std::vector<std::pair<torch::Tensor, torch::Tensor>>& terms, const torch::Tensor& bias);

// BatchNorm followed by a 2x2 max-pool and a ReLU (Conv4's layers), fused: the pool reads x
// and the per-channel affine map, so that the normalised map is never written, and the
// backward forms its sums from the pooled outputs alone (the gradient is zero at 3 of 4
// positions, and where the ReLU clipped). Channels-last float and double CPU tensors with
// h, w >= 2 only (fused_max_pool_runs); the choices are max_pool2x2's (pool_choice.h: one byte
// per output, channels-last), kNoGradient where the ReLU clipped the output.
bool fused_max_pool_runs(const torch::Tensor& x);

// (relu(max_pool2x2(y)), choices, chosen, mean, invstd) for y = forward(x, ...)[0], chosen the
// x each window took (for project_pooled). One pass over x gives the statistics and the
// choices: the windows are ordered by x times the sign of the weight, which orders them as y
// does; where float rounding makes two elements of a window equal in y (but not in x), the
// gradient goes to the one that is larger before rounding, not to the first as in
// max_pool2x2 (the output is the same).
std::tuple<torch::Tensor, torch::Tensor, torch::Tensor, torch::Tensor, torch::Tensor> forward_max_pool_relu(
    const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias, const torch::Tensor& running_mean,
    const torch::Tensor& running_var, double momentum, double eps);

// project(v, x, mean, invstd, scale) for v the backward of the pool and the ReLU of gp
// [N, C, h/2, w/2] by the choices, without forming v; when autograd is not recording.
std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> project_pooled(const torch::Tensor& gp,
                                                                       const torch::Tensor& choices,
                                                                       const torch::Tensor& chosen,
                                                                       const torch::Tensor& x, const torch::Tensor& mean,
                                                                       const torch::Tensor& invstd,
                                                                       const torch::Tensor& scale);

}  // namespace backbones::bn_kernels
