#include "backbones/batch_norm.h"

#include <torch/torch.h>

#include <vector>

namespace backbones {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// A per-channel vector [C] shaped to broadcast against x [N, C, ...].
torch::Tensor per_channel(const torch::Tensor& v, const torch::Tensor& x) {
  std::vector<int64_t> shape(static_cast<size_t>(x.dim()), 1);
  shape[1] = v.size(0);
  return v.view(shape);
}

// The native backward with weight 1: (r P(v), Σ v x̂, Σ v).
std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> projected(const torch::Tensor& v, const torch::Tensor& x,
                                                                  const torch::Tensor& mean, const torch::Tensor& invstd,
                                                                  double eps) {
  // An explicit weight of ones: the CPU kernel accepts an undefined weight, the CUDA one does not
  // (it sizes the weight gradient from the weight).
  return at::native_batch_norm_backward(v, x, /*weight=*/torch::ones_like(mean), /*running_mean=*/{},
                                        /*running_var=*/{}, mean, invstd, /*train=*/true, eps, {true, true, true});
}

torch::Tensor undefined() { return {}; }

// (gy, x, w) -> (gx, gw, gb), differentiable once more by the header's formulas. Built only
// when the backward itself is recorded (second order); otherwise BatchNorm::backward calls
// the native kernel directly.
struct BatchNormBackward : public torch::autograd::Function<BatchNormBackward> {
  static variable_list forward(AutogradContext* ctx, torch::Tensor gy, torch::Tensor x, torch::Tensor w,
                               torch::Tensor mean, torch::Tensor invstd, double eps) {
    ctx->set_materialize_grads(false);  // an undefined incoming gradient is a zero: skip its terms
    // r P(gy) is kept for the double backward; gx = w r P(gy).
    auto [rp_gy, gw, gb] = projected(gy, x, mean, invstd, eps);
    auto gx = rp_gy * per_channel(w, x);
    ctx->save_for_backward({x, w, mean, invstd, rp_gy, gw});
    ctx->saved_data["eps"] = eps;
    return {gx, gw, gb};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &x = saved[0], &w = saved[1], &mean = saved[2], &invstd = saved[3], &rp_gy = saved[4];
    const auto& gy_xhat = saved[5];  // Σ gy x̂ = M A
    const double eps = ctx->saved_data["eps"].toDouble();
    const auto &ggx = grads[0], &ggw = grads[1], &ggb = grads[2];
    const double m = static_cast<double>(x.numel() / x.size(1));
    auto c = [&x](const torch::Tensor& v) { return per_channel(v, x); };

    // x̂ v = x (r v) - mean r v: x̂ itself is never materialised.
    torch::Tensor d_gy, d_x, d_w;
    torch::Tensor coef_gy = ggw;  // (ggw - w r B): the factor of r P(gy) in d x
    if (ggx.defined()) {
      auto [rp_ggx, ggx_xhat, ggx_sum] = projected(ggx, x, mean, invstd, eps);
      // S' = Σ ggx r P(gy) in one pass: the native backward's weight gradient Σ g (input - mean) invstd
      // with input r P(gy), mean 0 and invstd 1.
      const auto s_prime = std::get<1>(at::native_batch_norm_backward(
          ggx, rp_gy, /*weight=*/torch::ones_like(mean), /*running_mean=*/{}, /*running_var=*/{}, torch::zeros_like(mean),
          torch::ones_like(invstd), /*train=*/true, eps, {false, true, false}));
      d_w = s_prime;
      const auto wr = w * invstd;
      const auto b_term = wr * (ggx_xhat / m);
      coef_gy = coef_gy.defined() ? coef_gy - b_term : -b_term;
      const auto x_coef = -(wr * s_prime / m) * invstd;  // -(r S / M) x̂ with S = w S'
      d_x = torch::addcmul(c(-mean * x_coef), x, c(x_coef));
      d_x.addcmul_(rp_ggx, c(-wr * (gy_xhat / m)));
      d_gy = rp_ggx * c(w);
    }
    if (coef_gy.defined()) d_x = d_x.defined() ? d_x.addcmul_(rp_gy, c(coef_gy)) : rp_gy * c(coef_gy);
    if (ggw.defined()) {
      const auto r_ggw = invstd * ggw;
      d_gy = d_gy.defined() ? d_gy.addcmul_(x, c(r_ggw)) : x * c(r_ggw);
      d_gy.sub_(c(mean * r_ggw));
    }
    if (ggb.defined()) d_gy = d_gy.defined() ? d_gy.add_(c(ggb)) : c(ggb).expand_as(x).contiguous(x.suggest_memory_format());
    return {d_gy, d_x, d_w, undefined(), undefined(), undefined()};
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
    auto [y, mean, invstd] = at::native_batch_norm(x, w, b, running.mean, running.var, /*training=*/true, momentum, eps);
    ctx->save_for_backward({x, w, mean, invstd});
    ctx->saved_data["eps"] = eps;
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    if (!grads[0].defined()) return {undefined(), undefined(), undefined(), undefined(), undefined(), undefined()};
    const auto saved = ctx->get_saved_variables();
    const double eps = ctx->saved_data["eps"].toDouble();
    if (!torch::GradMode::is_enabled()) {  // first order: nothing differentiates this backward
      auto [gx, gw, gb] = at::native_batch_norm_backward(grads[0], saved[0], saved[1], /*running_mean=*/{},
                                                         /*running_var=*/{}, saved[2], saved[3], /*train=*/true, eps,
                                                         {true, true, true});
      return {gx, gw, gb, undefined(), undefined(), undefined()};
    }
    auto out = BatchNormBackward::apply(grads[0], saved[0], saved[1], saved[2], saved[3], eps);
    return {out[0], out[1], out[2], undefined(), undefined(), undefined()};
  }
};

}  // namespace

torch::Tensor batch_norm_train(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                               const torch::Tensor& running_mean, const torch::Tensor& running_var, double momentum,
                               double eps) {
  return BatchNorm::apply(x, weight, bias, RunningStats{running_mean, running_var}, momentum, eps);
}

}  // namespace backbones
