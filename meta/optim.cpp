#include "meta/optim.h"

#include <torch/torch.h>

#include <cmath>
#include <stdexcept>

namespace meta {

Optimizer::Optimizer(std::vector<torch::Tensor> params, double lr, const std::vector<std::string>& state_names)
    : params_(std::move(params)), lr_(lr) {
  for (const auto& name : state_names) {
    std::vector<torch::Tensor> tensors;
    for (const auto& p : params_) tensors.push_back(torch::zeros_like(p, torch::MemoryFormat::Preserve).detach());
    state_.emplace_back(name, std::move(tensors));
  }
}

std::vector<torch::Tensor>& Optimizer::state(const std::string& name) {
  for (auto& [n, tensors] : state_) {
    if (n == name) return tensors;
  }
  throw std::invalid_argument("optimizer has no state '" + name + "'");
}

void Optimizer::step(const std::vector<torch::Tensor>& grads) {
  torch::NoGradGuard no_grad;
  ++steps_;
  begin_step();
  for (size_t i = 0; i < params_.size() && i < grads.size(); ++i) {
    if (grads[i].defined()) update(i, grads[i]);
  }
}

void Optimizer::step_from_grad() {
  std::vector<torch::Tensor> grads;
  grads.reserve(params_.size());
  for (const auto& p : params_) grads.push_back(p.grad());
  step(grads);
  torch::NoGradGuard no_grad;
  for (auto& g : grads) {
    if (g.defined()) g.zero_();
  }
}

void Optimizer::to(const torch::Device& device) {
  for (auto& [name, tensors] : state_) {
    for (auto& t : tensors) t = t.to(device);
  }
}

void Optimizer::rebind(std::vector<torch::Tensor> params) { params_ = std::move(params); }

// ---- Adam ----

Adam::Adam(std::vector<torch::Tensor> params, double lr, double beta1, double beta2, double eps)
    : Optimizer(std::move(params), lr, {"exp_avg", "exp_avg_sq"}), beta1_(beta1), beta2_(beta2), eps_(eps) {}

void Adam::begin_step() {
  const double bias1 = 1.0 - std::pow(beta1_, static_cast<double>(steps_));
  const double bias2 = 1.0 - std::pow(beta2_, static_cast<double>(steps_));
  step_size_ = lr_ / bias1;
  sqrt_bias2_ = std::sqrt(bias2);
}

void Adam::update(size_t i, const torch::Tensor& g) {
  auto& m = exp_avg()[i];
  auto& v = exp_avg_sq()[i];
  m.mul_(beta1_).add_(g, 1.0 - beta1_);
  v.mul_(beta2_).addcmul_(g, g, 1.0 - beta2_);
  auto denom = (v.sqrt() / sqrt_bias2_).add_(eps_);
  params_[i].addcdiv_(m, denom, -step_size_);
}

// ---- SGD ----

Sgd::Sgd(std::vector<torch::Tensor> params, double lr, double momentum, bool nesterov, double weight_decay)
    : Optimizer(std::move(params), lr, {"momentum"}), mu_(momentum), wd_(weight_decay), nesterov_(nesterov) {}

void Sgd::update(size_t i, const torch::Tensor& g) {
  auto& p = params_[i];
  auto d = wd_ != 0.0 ? g.add(p, wd_) : g;
  if (mu_ != 0.0) {
    auto& b = momentum()[i];
    b.mul_(mu_).add_(d);
    d = nesterov_ ? d.add(b, mu_) : b;
  }
  p.add_(d, -lr_);
}

double clip_grad_norm(std::vector<torch::Tensor>& grads, double max_norm) {
  if (max_norm <= 0) return 0.0;
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> norms;
  for (const auto& g : grads) {
    if (g.defined()) norms.push_back(g.pow(2).sum());
  }
  if (norms.empty()) return 0.0;
  const double total = std::sqrt(torch::stack(norms).sum().item<double>());
  if (total > max_norm) {
    const double scale = max_norm / (total + 1e-6);
    for (auto& g : grads) {
      if (g.defined()) g.mul_(scale);
    }
  }
  return total;
}

}  // namespace meta
