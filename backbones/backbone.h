#pragma once
// The base of every network: parameters in a named ParamStore (the parameter dictionary),
// BatchNorm running statistics in a second store, convs declared to an acdc::SharingPlan,
// and one forward that reads every tensor from a parameter vector/dictionary, so that the
// MAML engine can adapt parameters without touching the model.

#include "acdc/acdc_conv.h"
#include "acdc/param_store.h"

#include <torch/types.h>

#include <memory>
#include <string>
#include <vector>

namespace backbones {

// How BatchNorm normalises (reference/FEWSHOT.md "BatchNorm"):
//  transductive: statistics of the current batch, always (every MAML reference does this);
//  running:      batch statistics in training (running statistics updated when asked),
//                running statistics at evaluation;
//  per-step:     like running, with one set of running statistics per inner-loop step (MAML++).
enum class BnMode { kTransductive, kRunning, kPerStep };
// The BatchNorm constants of every network (torch.nn.BatchNorm2d's defaults), also what an
// export records for a user who rebuilds the network elsewhere.
constexpr double kBatchNormEps = 1e-5;
constexpr double kBatchNormMomentum = 0.1;
BnMode parse_bn_mode(const std::string& name);  // throws naming the value
std::string to_string(BnMode mode);

struct BackboneOptions {
  std::string name = "conv4";
  acdc::ConvOptions conv;
  int64_t classes = 5;
  int64_t in_channels = 3;
  int64_t image_size = 84;   // backbones with a flattening head (conv4) size it from this
  int64_t width = 64;        // conv4 filters
  int64_t bn_steps = 1;      // running-statistics sets for BnMode::kPerStep
  bool channels_last = true; // activations in channels-last memory (same values, faster kernels)
};

// Feature maps of one forward, for analyses such as `acdc-meta analyze cam`: the input of every
// k x k conv (k > 1, so 1x1 shortcuts are left out) in forward order, and the map the head
// reads before pooling. Detached tensors; recording never changes the forward's result.
struct FeatureRecorder {
  std::vector<std::string> conv_names;     // the conv each entry of conv_inputs feeds
  std::vector<torch::Tensor> conv_inputs;  // [N, C, H, W]
  torch::Tensor head_input;                // [N, C, H, W], what the head pools or flattens
  bool head_pools_globally = false;        // logits = Linear(mean over H, W of head_input)
};

struct ForwardOptions {
  bool training = false;               // atom-drop on; batch statistics for running/per-step
  BnMode bn = BnMode::kTransductive;
  int64_t step = 0;                    // per-step statistics index (clamped to bn_steps - 1)
  bool update_running_stats = false;   // running statistics change only when asked
  acdc::CostRecorder* costs = nullptr; // records per-layer MACs when set
  FeatureRecorder* features = nullptr; // records conv inputs and the head's input map when set
};

// Which parameters a caller wants (e.g. those the MAML inner loop adapts), chosen by role.
enum class ParamFilter { kAll, kHead, kAtoms, kAtomsAndHead };
ParamFilter parse_param_filter(const std::string& name);  // "all", "head", "atoms", "atoms+head"
std::string to_string(ParamFilter filter);

class Backbone {
 public:
  explicit Backbone(const BackboneOptions& options);
  virtual ~Backbone() = default;
  Backbone(const Backbone&) = delete;
  Backbone& operator=(const Backbone&) = delete;

  const BackboneOptions& options() const { return options_; }
  acdc::ParamStore& params() { return params_; }
  const acdc::ParamStore& params() const { return params_; }
  acdc::ParamStore& buffers() { return buffers_; }
  const acdc::ParamStore& buffers() const { return buffers_; }
  const acdc::SharingPlan& plan() const { return plan_; }
  int64_t num_params() const { return params_.numel(); }

  // The plain forward: forward_with over the model's own parameters (same code path).
  torch::Tensor forward(const torch::Tensor& x, const ForwardOptions& options = {});
  // Every tensor comes from `params`, in the slot order of params().
  torch::Tensor forward_with(const torch::Tensor& x, const std::vector<torch::Tensor>& params,
                             const ForwardOptions& options = {});
  // name -> tensor; throws std::invalid_argument naming a missing or wrongly shaped key.
  torch::Tensor forward_with(const torch::Tensor& x, const acdc::TensorDict& params,
                             const ForwardOptions& options = {});

  // Moves parameters and buffers (shared coefficients stay one tensor).
  void to(const torch::Device& device, torch::optional<torch::ScalarType> dtype = torch::nullopt);
  torch::Device device() const;

  // Per-layer MACs of one image of the given size (a no-grad forward at batch 1, on the CPU
  // copy's device, recording costs); the head's Linear is included.
  acdc::CostRecorder costs(int64_t image_size);

  // Slots of the parameters selected by a filter (by their roles), in slot order.
  std::vector<int64_t> slots(ParamFilter filter) const;

  // Smallest square input the network's pooling allows.
  int64_t min_image_size() const { return min_image_size_; }

 protected:
  // Builders: declare layers in forward order, then call finalize() once.
  // Each add_* first checks the parameter budget (see max_params()) with an upper bound of the
  // layer's parameters, so a network too large for the machine is named before it is allocated.
  int64_t add_conv(const acdc::ConvSpec& spec);
  // The layers every backbone repeats: a 3x3 convolution with padding 1 in sharing block `block`,
  // and a 1x1 projection shortcut, a standard convolution whatever the conv type (ACDC.md §2).
  int64_t add_conv3x3(const std::string& name, int64_t in, int64_t out, int64_t stride, const std::string& block);
  int64_t add_shortcut(const std::string& name, int64_t in, int64_t out, int64_t stride);
  int64_t add_batch_norm(const std::string& name, int64_t channels);
  // The classifier, named "head" (its tensors get the head roles).
  int64_t add_head(int64_t in_features, int64_t out_features);
  void finalize();
  void set_min_image_size(int64_t size) { min_image_size_ = size; }

  // Layer applications inside run().
  torch::Tensor conv(int64_t id, const torch::Tensor& x, const std::vector<torch::Tensor>& p,
                     const ForwardOptions& o) const;
  torch::Tensor batch_norm(int64_t id, const torch::Tensor& x, const std::vector<torch::Tensor>& p,
                           const ForwardOptions& o);
  // relu(max_pool2x2(batch_norm(id, x, p, o))), fused where the statistics are the batch's.
  torch::Tensor batch_norm_max_pool_relu(int64_t id, const torch::Tensor& x, const std::vector<torch::Tensor>& p,
                                         const ForwardOptions& o);
  torch::Tensor linear(int64_t id, const torch::Tensor& x, const std::vector<torch::Tensor>& p,
                       const ForwardOptions& o) const;
  // The head of the globally pooling networks: linear(id, mean of h over H, W).
  torch::Tensor pooled_linear(int64_t id, const torch::Tensor& h, const std::vector<torch::Tensor>& p,
                              const ForwardOptions& o) const;
  // Hands the head's input map to ForwardOptions::features (no-op when unset).
  void record_head_input(const torch::Tensor& h, bool pools_globally, const ForwardOptions& o) const;

  virtual torch::Tensor run(const torch::Tensor& x, const std::vector<torch::Tensor>& p,
                            const ForwardOptions& o) = 0;

 private:
  torch::Tensor normalize(int64_t id, const torch::Tensor& x, const std::vector<torch::Tensor>& p,
                          const ForwardOptions& o, bool max_pool_relu);

  struct BatchNormLayer {
    std::string name;
    int64_t channels;
    int64_t weight_slot, bias_slot;
    std::vector<int64_t> mean_slots, var_slots;  // one per statistics set
  };
  struct LinearLayer {
    std::string name;
    int64_t in_features, out_features;
    int64_t weight_slot, bias_slot;
  };

  BackboneOptions options_;
  acdc::ParamStore params_;
  acdc::ParamStore buffers_;
  acdc::SharingPlan plan_;
  std::vector<BatchNormLayer> bns_;
  std::vector<LinearLayer> linears_;
  int64_t min_image_size_ = 1;
  double planned_params_ = 0;  // upper bound of the parameters declared so far

  // Adds `count` to planned_params_; throws std::invalid_argument naming the network, the layer and
  // the budget when the total passes max_params().
  void reserve_params(double count, const std::string& layer);
};

// The most parameters a network may have on this machine: the memory this process may use
// (physical memory, or an address-space limit: ulimit -v) / 16 bytes (each float parameter has
// its value, its gradient and two optimizer moments).
int64_t max_params();

}  // namespace backbones
