#pragma once
// An ordered dictionary of named tensors: the parameters (or buffers) of a network.
// Names are stable and hierarchical ("layer1.0.conv1.atoms", "acdc.coeff.net", "head.weight");
// they are the keys of parameter dictionaries, checkpoints and exports. Layers refer to their
// tensors by slot index, so a forward over a dictionary is a vector lookup, not a string hash.

#include <torch/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

namespace acdc {

using TensorDict = std::map<std::string, torch::Tensor>;

// What a tensor is, set by the layer that creates it: parameter filters (the MAML inner loop's
// selection) and per-kind counts read this, never the name.
enum class Role {
  kOther,                 // anything no layer claims (e.g. learned inner-loop rates)
  kAtoms,                 // ACDC dictionary atoms [m, k, k] or [A, m, k, k]
  kCoefficients,          // ACDC coefficients, shared or a layer's own
  kConvWeight,            // kernel of a conv kept standard
  kConvBias,
  kBatchNormWeight,
  kBatchNormBias,
  kBatchNormRunningMean,  // buffers
  kBatchNormRunningVar,
  kHeadWeight,            // the classifier
  kHeadBias,
};
std::string to_string(Role role);  // "atoms", "coefficients", "conv_weight", ...
bool is_head(Role role);           // kHeadWeight or kHeadBias

class ParamStore {
 public:
  // Adds a tensor under a new name with its role and returns its slot; throws if the name is
  // taken. Trainable entries are leaves with requires_grad.
  int64_t add(const std::string& name, torch::Tensor value, Role role = Role::kOther, bool trainable = true);

  bool contains(const std::string& name) const { return index_.count(name) != 0; }
  // Slot of a name; throws std::out_of_range naming the key.
  int64_t slot(const std::string& name) const;
  int64_t size() const { return static_cast<int64_t>(names_.size()); }

  const std::vector<std::string>& names() const { return names_; }
  const std::vector<Role>& roles() const { return roles_; }
  Role role(int64_t slot) const { return roles_.at(static_cast<size_t>(slot)); }
  const std::vector<torch::Tensor>& tensors() const { return tensors_; }
  std::vector<torch::Tensor>& tensors() { return tensors_; }
  const torch::Tensor& operator[](int64_t slot) const { return tensors_.at(static_cast<size_t>(slot)); }
  const torch::Tensor& at(const std::string& name) const { return tensors_[static_cast<size_t>(slot(name))]; }

  // Total number of elements (the trainable-parameter count for a parameter store).
  int64_t numel() const;

  // name -> tensor (the tensors themselves, not copies).
  TensorDict dict() const;

  // Tensors of `dict` in slot order. Throws std::invalid_argument naming the first missing key
  // or the first entry whose shape differs from this store's; extra keys are rejected too.
  std::vector<torch::Tensor> resolve(const TensorDict& dict) const;

  // Replaces every tensor's values in place by those of `dict` (same checks as resolve).
  void load(const TensorDict& dict);

  // Moves/casts every tensor, keeping them leaves (with requires_grad as before). Layers keep
  // referring to slots, so a shared coefficient stays one tensor after a move.
  void to(const torch::Device& device, torch::optional<torch::ScalarType> dtype = torch::nullopt);

 private:
  std::vector<std::string> names_;
  std::vector<Role> roles_;
  std::vector<torch::Tensor> tensors_;
  std::unordered_map<std::string, int64_t> index_;
};

}  // namespace acdc
