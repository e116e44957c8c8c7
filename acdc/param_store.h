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

class ParamStore {
 public:
  // Adds a tensor under a new name and returns its slot; throws if the name is taken.
  // Trainable entries are leaves with requires_grad.
  int64_t add(const std::string& name, torch::Tensor value, bool trainable = true);

  bool contains(const std::string& name) const { return index_.count(name) != 0; }
  // Slot of a name; throws std::out_of_range naming the key.
  int64_t slot(const std::string& name) const;
  int64_t size() const { return static_cast<int64_t>(names_.size()); }

  const std::vector<std::string>& names() const { return names_; }
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
  std::vector<torch::Tensor> tensors_;
  std::unordered_map<std::string, int64_t> index_;
};

}  // namespace acdc
