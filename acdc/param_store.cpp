#include "acdc/param_store.h"

#include <torch/torch.h>

#include <sstream>
#include <stdexcept>

namespace acdc {
namespace {

std::string shape_string(c10::IntArrayRef sizes) {
  std::ostringstream out;
  out << sizes;
  return out.str();
}

}  // namespace

std::string to_string(Role role) {
  switch (role) {
    case Role::kOther: return "other";
    case Role::kAtoms: return "atoms";
    case Role::kCoefficients: return "coefficients";
    case Role::kConvWeight: return "conv_weight";
    case Role::kConvBias: return "conv_bias";
    case Role::kBatchNormWeight: return "batchnorm_weight";
    case Role::kBatchNormBias: return "batchnorm_bias";
    case Role::kBatchNormRunningMean: return "batchnorm_running_mean";
    case Role::kBatchNormRunningVar: return "batchnorm_running_var";
    case Role::kHeadWeight: return "head_weight";
    case Role::kHeadBias: return "head_bias";
  }
  return "?";
}

bool is_head(Role role) { return role == Role::kHeadWeight || role == Role::kHeadBias; }

int64_t ParamStore::add(const std::string& name, torch::Tensor value, Role role, bool trainable) {
  if (name.empty()) throw std::invalid_argument("parameter name must not be empty");
  if (contains(name)) throw std::invalid_argument("duplicate parameter name '" + name + "'");
  value = value.detach();
  if (trainable) value.set_requires_grad(true);
  const auto slot = static_cast<int64_t>(names_.size());
  names_.push_back(name);
  roles_.push_back(role);
  tensors_.push_back(std::move(value));
  index_.emplace(name, slot);
  return slot;
}

int64_t ParamStore::slot(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end()) throw std::out_of_range("no parameter named '" + name + "'");
  return it->second;
}

int64_t ParamStore::numel() const {
  int64_t total = 0;
  for (const auto& t : tensors_) total += t.numel();
  return total;
}

TensorDict ParamStore::dict() const {
  TensorDict out;
  for (size_t i = 0; i < names_.size(); ++i) out.emplace(names_[i], tensors_[i]);
  return out;
}

std::vector<torch::Tensor> ParamStore::resolve(const TensorDict& dict) const {
  std::vector<torch::Tensor> out;
  out.reserve(names_.size());
  for (size_t i = 0; i < names_.size(); ++i) {
    auto it = dict.find(names_[i]);
    if (it == dict.end()) throw std::invalid_argument("parameter dictionary has no entry '" + names_[i] + "'");
    if (!it->second.defined() || it->second.sizes() != tensors_[i].sizes()) {
      throw std::invalid_argument("parameter '" + names_[i] + "' has shape " +
                                  (it->second.defined() ? shape_string(it->second.sizes()) : "undefined") +
                                  ", expected " + shape_string(tensors_[i].sizes()));
    }
    out.push_back(it->second);
  }
  if (dict.size() != names_.size()) {
    for (const auto& kv : dict) {
      if (!contains(kv.first)) throw std::invalid_argument("unknown parameter '" + kv.first + "' in dictionary");
    }
  }
  return out;
}

void ParamStore::load(const TensorDict& dict) {
  auto values = resolve(dict);
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < values.size(); ++i) {
    tensors_[i].copy_(values[i]);
  }
}

void ParamStore::to(const torch::Device& device, torch::optional<torch::ScalarType> dtype) {
  for (auto& t : tensors_) {
    const bool grad = t.requires_grad();
    auto moved = dtype ? t.detach().to(device, *dtype) : t.detach().to(device);
    if (moved.data_ptr() == t.data_ptr()) continue;
    t = moved.set_requires_grad(grad);
  }
}

}  // namespace acdc
