#pragma once
// Optimizers over explicit tensors, for a functional parameter store: the gradients are handed
// in (from autograd::grad or from .grad()), and the state is plain per-parameter tensors under
// fixed names, so that a checkpoint can save and restore it bit for bit on any device. One
// implementation serves meta-training (Adam over the meta parameters, meta/maml.h) and plain
// supervised training (SGD, `acdc-meta classify`); gradient clipping lives here too.

#include <torch/types.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace meta {

class Optimizer {
 public:
  virtual ~Optimizer() = default;

  // One update of every parameter whose gradient (aligned with params(); undefined = skipped)
  // is defined, at the current learning rate.
  void step(const std::vector<torch::Tensor>& grads);
  // One update from the parameters' own .grad() (undefined ones skipped), which are then zeroed.
  void step_from_grad();

  void set_lr(double lr) { lr_ = lr; }
  double lr() const { return lr_; }
  // Updates applied so far (restored from checkpoints; Adam's bias correction depends on it).
  int64_t steps() const { return steps_; }
  void set_steps(int64_t steps) { steps_ = steps; }
  // Whether steps() changes the update (checkpoints record it then).
  virtual bool counts_steps() const { return false; }

  const std::vector<torch::Tensor>& params() const { return params_; }
  // The state by name ("exp_avg", "exp_avg_sq" for Adam; "momentum" for SGD), each a tensor per
  // parameter in params() order, created as zeros with the parameter's shape and layout.
  std::vector<std::pair<std::string, std::vector<torch::Tensor>>>& state() { return state_; }
  std::vector<torch::Tensor>& state(const std::string& name);

  // Moves the state to a device; rebind() points the optimizer at the moved parameters.
  void to(const torch::Device& device);
  void rebind(std::vector<torch::Tensor> params);

 protected:
  Optimizer(std::vector<torch::Tensor> params, double lr, const std::vector<std::string>& state_names);
  // The update of parameter i with gradient g (called under NoGradGuard, after steps_ was counted).
  virtual void update(size_t i, const torch::Tensor& g) = 0;
  virtual void begin_step() {}

  std::vector<torch::Tensor> params_;
  std::vector<std::pair<std::string, std::vector<torch::Tensor>>> state_;
  double lr_;
  int64_t steps_ = 0;
};

// Adam as torch.optim.Adam (no weight decay, no amsgrad): m = b1 m + (1-b1) g;
// v = b2 v + (1-b2) g^2; p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps).
class Adam : public Optimizer {
 public:
  Adam(std::vector<torch::Tensor> params, double lr, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8);
  bool counts_steps() const override { return true; }
  std::vector<torch::Tensor>& exp_avg() { return state_[0].second; }
  std::vector<torch::Tensor>& exp_avg_sq() { return state_[1].second; }

 private:
  void begin_step() override;
  void update(size_t i, const torch::Tensor& g) override;
  double beta1_, beta2_, eps_, step_size_ = 0.0, sqrt_bias2_ = 1.0;
};

// SGD as torch.optim.SGD with dampening 0: d = g + wd*p; b = mu*b + d; d = nesterov ? d + mu*b : b;
// p -= lr*d. The momentum buffers start at zero (equal to PyTorch's first-step copy when dampening
// is 0), so they can be checkpointed from the first step.
class Sgd : public Optimizer {
 public:
  Sgd(std::vector<torch::Tensor> params, double lr, double momentum, bool nesterov, double weight_decay);
  std::vector<torch::Tensor>& momentum() { return state_[0].second; }

 private:
  void update(size_t i, const torch::Tensor& g) override;
  double mu_, wd_;
  bool nesterov_;
};

// Scales the defined gradients in place so that their global L2 norm is at most `max_norm`
// (factor max_norm / (norm + 1e-6), as torch.nn.utils.clip_grad_norm_); max_norm <= 0 does
// nothing. Returns the norm before clipping (0 when off).
double clip_grad_norm(std::vector<torch::Tensor>& grads, double max_norm);

}  // namespace meta
