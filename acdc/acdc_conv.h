#pragma once
// A convolution of any conv type (standard or one of the six ACDC variants) and the sharing
// plan that owns every shared coefficient tensor exactly once (reference/ACDC.md §2, §3).
//
// A network declares its convs to a SharingPlan (name, channels, kernel, geometry and the
// block it belongs to), then calls finalize(). The plan creates each layer's own tensors
// (atoms, or a standard kernel) and one coefficient tensor per sharing scope, sized to the
// largest layer that uses it, in a ParamStore. Layers use the leading slice of a shared tensor.

#include "acdc/conv_options.h"
#include "acdc/functional.h"
#include "acdc/param_store.h"

#include <torch/types.h>

#include <deque>
#include <string>
#include <vector>

namespace acdc {

struct ConvSpec {
  std::string name;           // parameter-name prefix, e.g. "layer1.0.conv1"
  int64_t in_channels = 0;
  int64_t out_channels = 0;
  int64_t kernel_size = 3;
  int64_t stride = 1;
  int64_t padding = 0;
  int64_t dilation = 1;
  std::string block{};        // sharing block for acdc-block / acdc-g-block, e.g. "block2"
  bool decompose = true;      // false keeps a standard conv whatever the conv type (1x1 shortcuts)
  bool bias = false;
};

// Per-layer cost of one forward, recorded when RunOptions::costs is set.
struct LayerCost {
  std::string name;
  int64_t macs_per_image = 0;       // multiply-accumulates of the convolution, per image
  int64_t reconstruction_macs = 0;  // kernel reconstruction, once per forward (not per image)
  int64_t out_height = 0;
  int64_t out_width = 0;
};

struct CostRecorder {
  std::vector<LayerCost> layers;
  int64_t macs_per_image() const;
  int64_t reconstruction_macs() const;
};

struct RunOptions {
  bool training = false;           // atom-drop is active only when training
  CostRecorder* costs = nullptr;   // when set, every layer appends its cost
};

class Conv {
 public:
  const ConvSpec& spec() const { return spec_; }
  ConvType type() const { return type_; }     // kStandard for a layer kept standard
  int64_t conv_groups() const { return groups_; }
  int64_t atom_groups() const { return atom_groups_; }
  // Parameters this layer owns (atoms or kernel, bias; a layer-scope coefficient) — shared
  // coefficients are counted once by the plan, not here.
  int64_t own_params() const { return own_params_; }
  // Slot of the atoms ([m,k,k], or [A,m,k,k] when grouped), -1 for a standard conv.
  int64_t atoms_slot() const { return atoms_slot_; }
  int64_t coeff_slot() const { return coeff_slot_; }
  int64_t weight_slot() const { return weight_slot_; }

  // How this layer applies its tensors (geometry, groups, coefficient slice, atom-drop).
  ConvLayerOptions layer_options(bool training) const;
  // The effective [C_out, C_in/groups, k, k] kernel from the given parameters (atom-drop when
  // training): acdc_kernel, or the weight of a standard layer.
  torch::Tensor kernel(const std::vector<torch::Tensor>& params, bool training) const;
  // A thin call into the functional core (functional.h): acdc_conv2d, or standard_conv2d for a
  // layer kept standard, on this layer's tensors of `params`.
  torch::Tensor forward(const torch::Tensor& x, const std::vector<torch::Tensor>& params,
                        const RunOptions& options = {}) const;

 private:
  friend class SharingPlan;
  void record_cost(const torch::Tensor& y, CostRecorder* costs) const;
  ConvSpec spec_;
  ConvType type_ = ConvType::kStandard;
  int64_t atoms_ = 0;
  double atom_drop_ = 0.0;
  int64_t groups_ = 1;        // conv2d groups G = max(1, C_in / s)
  int64_t atom_groups_ = 1;   // A = max(1, C_out / s)
  int64_t slice_out_ = 0;     // rows of the coefficient slice
  int64_t slice_in_ = 0;      // columns of the coefficient slice
  int64_t own_params_ = 0;
  int64_t atoms_slot_ = -1;
  int64_t coeff_slot_ = -1;
  int64_t weight_slot_ = -1;
  int64_t bias_slot_ = -1;
  std::string coeff_name_;
};

class SharingPlan {
 public:
  // Validates the options; parameters are created in `store`, which must outlive the plan.
  SharingPlan(const ConvOptions& options, ParamStore* store);

  // Declares a conv and creates its own tensors; returns its id. Throws std::invalid_argument
  // naming the layer for impossible geometry (e.g. a group size that does not divide the channels).
  int64_t add(const ConvSpec& spec);
  // Creates the shared coefficient tensors; call once after the last add().
  void finalize();

  const Conv& conv(int64_t id) const { return convs_.at(static_cast<size_t>(id)); }
  int64_t size() const { return static_cast<int64_t>(convs_.size()); }
  const ConvOptions& options() const { return options_; }
  bool finalized() const { return finalized_; }

  // Name of the coefficient tensor a layer uses: "acdc.coeff.net", "acdc.coeff.<block>",
  // "<layer>.coeff"; empty for standard convs.
  static std::string coeff_name(const ConvOptions& options, const ConvSpec& spec);

 private:
  ConvOptions options_;
  ParamStore* store_;
  std::deque<Conv> convs_;
  bool finalized_ = false;
};

}  // namespace acdc
