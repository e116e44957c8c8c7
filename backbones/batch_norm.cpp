#include "backbones/batch_norm.h"

#include "backbones/batch_norm_kernels.h"
#include "backbones/max_pool.h"

#include <torch/torch.h>

#include <vector>

namespace backbones {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

torch::Tensor undefined() { return {}; }

// (gy, x, w) -> (gx, gw, gb), differentiable once more by the header's formulas. Built only
// when the backward itself is recorded (second order); otherwise BatchNorm::backward projects
// directly.
struct BatchNormBackward : public torch::autograd::Function<BatchNormBackward> {
  static variable_list forward(AutogradContext* ctx, torch::Tensor gy, torch::Tensor x, torch::Tensor w,
                               torch::Tensor mean, torch::Tensor invstd) {
    ctx->set_materialize_grads(false);  // an undefined incoming gradient is a zero: skip its terms
    // r P(gy) is kept for the double backward; gx = w r P(gy).
    auto [rp_gy, gw, gb] = bn_kernels::project(gy, x, mean, invstd, /*scale=*/{});
    auto gx = bn_kernels::combine({{rp_gy, w}}, /*bias=*/{});
    ctx->save_for_backward({x, w, mean, invstd, rp_gy, gw});
    return {gx, gw, gb};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &x = saved[0], &w = saved[1], &mean = saved[2], &invstd = saved[3], &rp_gy = saved[4];
    const auto& gy_xhat = saved[5];  // Σ gy x̂ = M A
    const auto &ggx = grads[0], &ggw = grads[1], &ggb = grads[2];
    const double m = static_cast<double>(x.numel() / x.size(1));

    // d x and d gy as sums of per-channel-scaled tensors, each made in one pass; x̂ v is
    // x (r v) - mean r v, so x̂ itself is never materialised.
    std::vector<std::pair<torch::Tensor, torch::Tensor>> dx_terms, dgy_terms;
    torch::Tensor dx_bias, dgy_bias, d_w;
    torch::Tensor coef_gy = ggw;  // (ggw - w r B): the factor of r P(gy) in d x
    if (ggx.defined()) {
      auto [rp_ggx, ggx_xhat, ggx_sum] = bn_kernels::project(ggx, x, mean, invstd, /*scale=*/{});
      const auto s_prime = bn_kernels::channel_dot(ggx, rp_gy);  // S' = Σ ggx r P(gy); S = w S'
      d_w = s_prime;
      const auto wr = w * invstd;
      const auto b_term = wr * (ggx_xhat / m);
      coef_gy = coef_gy.defined() ? coef_gy - b_term : -b_term;
      const auto x_coef = -(wr * s_prime / m) * invstd;  // -(r S / M) x̂
      dx_terms.push_back({x, x_coef});
      dx_bias = -mean * x_coef;
      dx_terms.push_back({rp_ggx, -wr * (gy_xhat / m)});
      dgy_terms.push_back({rp_ggx, w});
    }
    if (coef_gy.defined()) dx_terms.push_back({rp_gy, coef_gy});
    if (ggw.defined()) {
      const auto r_ggw = invstd * ggw;
      dgy_terms.push_back({x, r_ggw});
      dgy_bias = -mean * r_ggw;
    }
    if (ggb.defined()) dgy_bias = dgy_bias.defined() ? dgy_bias + ggb : ggb;
    torch::Tensor d_x = dx_terms.empty() ? undefined() : bn_kernels::combine(dx_terms, dx_bias);
    torch::Tensor d_gy;
    if (!dgy_terms.empty()) {
      d_gy = bn_kernels::combine(dgy_terms, dgy_bias);
    } else if (dgy_bias.defined()) {
      d_gy = bn_kernels::per_channel(dgy_bias, x).expand_as(x).contiguous(x.suggest_memory_format());
    }
    return {d_gy, d_x, d_w, undefined(), undefined()};
  }
};

// Running statistics to update, passed as a plain value: they are buffers, not inputs that
// gradients flow to, and may be undefined.
struct RunningStats {
  torch::Tensor mean, var;
};

struct BatchNorm : public torch::autograd::Function<BatchNorm> {
  static torch::Tensor forward(AutogradContext* ctx, torch::Tensor x, torch::Tensor w, torch::Tensor b,
                               const RunningStats& running, double momentum, double eps) {
    ctx->set_materialize_grads(false);
    auto [y, mean, invstd] = bn_kernels::forward(x, w, b, running.mean, running.var, momentum, eps);
    ctx->save_for_backward({x, w, mean, invstd});
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    if (!grads[0].defined()) return {undefined(), undefined(), undefined(), undefined(), undefined(), undefined()};
    const auto saved = ctx->get_saved_variables();
    if (!torch::GradMode::is_enabled()) {  // first order: nothing differentiates this backward
      auto [gx, gw, gb] = bn_kernels::project(grads[0], saved[0], saved[2], saved[3], /*scale=*/saved[1]);
      return {gx, gw, gb, undefined(), undefined(), undefined()};
    }
    auto out = BatchNormBackward::apply(grads[0], saved[0], saved[1], saved[2], saved[3]);
    return {out[0], out[1], out[2], undefined(), undefined(), undefined()};
  }
};

// relu(max_pool2x2(BatchNorm(x))): the pool's choices (kNoGradient where the ReLU clipped) are
// saved; the backward scatters (recorded, where a second order differentiates it: the ReLU's
// mask is constant, its second derivative zero) or projects straight from the pooled gradient.
struct BatchNormMaxPoolRelu : public torch::autograd::Function<BatchNormMaxPoolRelu> {
  static torch::Tensor forward(AutogradContext* ctx, torch::Tensor x, torch::Tensor w, torch::Tensor b,
                               const RunningStats& running, double momentum, double eps) {
    ctx->set_materialize_grads(false);
    auto [pooled, choices, chosen, mean, invstd] =
        bn_kernels::forward_max_pool_relu(x, w, b, running.mean, running.var, momentum, eps);
    ctx->save_for_backward({x, w, mean, invstd, choices, chosen});
    return pooled;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    if (!grads[0].defined()) return {undefined(), undefined(), undefined(), undefined(), undefined(), undefined()};
    const auto saved = ctx->get_saved_variables();
    const auto &x = saved[0], &w = saved[1], &mean = saved[2], &invstd = saved[3], &choices = saved[4];
    if (!torch::GradMode::is_enabled()) {
      auto [gx, gw, gb] = bn_kernels::project_pooled(grads[0], choices, /*chosen=*/saved[5], x, mean, invstd,
                                                     /*scale=*/w);
      return {gx, gw, gb, undefined(), undefined(), undefined()};
    }
    const auto gy = max_pool2x2_scatter(grads[0], choices, x.size(2), x.size(3));
    auto out = BatchNormBackward::apply(gy, x, w, mean, invstd);
    return {out[0], out[1], out[2], undefined(), undefined(), undefined()};
  }
};

}  // namespace

torch::Tensor batch_norm_max_pool_relu_train(const torch::Tensor& x, const torch::Tensor& weight,
                                             const torch::Tensor& bias, const torch::Tensor& running_mean,
                                             const torch::Tensor& running_var, double momentum, double eps) {
  // The kernels' conditions, checked without autograd recording (as inside the Function).
  const bool fused = [&] {
    torch::NoGradGuard no_grad;
    return bn_kernels::fused_max_pool_runs(x);
  }();
  if (!fused) {
    return torch::relu(max_pool2x2(batch_norm_train(x, weight, bias, running_mean, running_var, momentum, eps)));
  }
  return BatchNormMaxPoolRelu::apply(x, weight, bias, RunningStats{running_mean, running_var}, momentum, eps);
}

torch::Tensor batch_norm_train(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                               const torch::Tensor& running_mean, const torch::Tensor& running_var, double momentum,
                               double eps) {
  return BatchNorm::apply(x, weight, bias, RunningStats{running_mean, running_var}, momentum, eps);
}

}  // namespace backbones
