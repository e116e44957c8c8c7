#include "acdc/acdc_conv.h"
#include "acdc/group_size.h"

#include "acdc/conv_autograd.h"

#include <torch/torch.h>

#include <cmath>
#include <map>
#include <stdexcept>

namespace acdc {
namespace {

std::string layer_error(const ConvSpec& spec, const std::string& what) {
  return "conv layer '" + spec.name + "': " + what;
}

// PyTorch's default conv initialisation (kaiming-uniform with a = sqrt(5)): U(-1/sqrt(fan_in), +).
torch::Tensor standard_kernel_init(const ConvSpec& spec) {
  const double fan_in = static_cast<double>(spec.in_channels * spec.kernel_size * spec.kernel_size);
  const double bound = 1.0 / std::sqrt(fan_in);
  return torch::empty({spec.out_channels, spec.in_channels, spec.kernel_size, spec.kernel_size}).uniform_(-bound, bound);
}

torch::Tensor atoms_init(const ConvOptions& o, int64_t groups, int64_t k) {
  if (o.atom_init == AtomInit::kDct) {
    return dct_atoms(o.atoms, k, torch::kFloat).unsqueeze(0).repeat({groups, 1, 1, 1});
  }
  return torch::randn({groups, o.atoms, k, k});
}

}  // namespace

int64_t CostRecorder::macs_per_image() const {
  int64_t total = 0;
  for (const auto& l : layers) total += l.macs_per_image;
  return total;
}

int64_t CostRecorder::reconstruction_macs() const {
  int64_t total = 0;
  for (const auto& l : layers) total += l.reconstruction_macs;
  return total;
}

ConvLayerOptions Conv::layer_options(bool training) const {
  ConvLayerOptions o;
  o.geometry = {spec_.stride, spec_.padding, spec_.dilation};
  o.groups = groups_;
  o.coeff_rows = slice_out_;
  o.coeff_cols = slice_in_;
  o.atom_drop = atom_drop_;
  o.training = training;
  return o;
}

torch::Tensor Conv::kernel(const std::vector<torch::Tensor>& params, bool training) const {
  if (type_ == ConvType::kStandard) return params[static_cast<size_t>(weight_slot_)];
  return acdc_kernel(params[static_cast<size_t>(atoms_slot_)], params[static_cast<size_t>(coeff_slot_)],
                     layer_options(training));
}

torch::Tensor Conv::forward(const torch::Tensor& x, const std::vector<torch::Tensor>& params,
                            const RunOptions& options) const {
  TORCH_CHECK(x.dim() == 4 && x.size(1) == spec_.in_channels, "conv layer '", spec_.name, "' expects [N, ",
              spec_.in_channels, ", H, W] input, got ", x.sizes());
  const auto o = layer_options(options.training);
  const torch::Tensor bias = bias_slot_ >= 0 ? params[static_cast<size_t>(bias_slot_)] : torch::Tensor();
  auto y = type_ == ConvType::kStandard
               ? standard_conv2d(x, params[static_cast<size_t>(weight_slot_)], bias, o)
               : acdc_conv2d(x, params[static_cast<size_t>(atoms_slot_)], params[static_cast<size_t>(coeff_slot_)], bias, o);
  if (options.costs != nullptr) record_cost(y, options.costs);
  return y;
}

void Conv::record_cost(const torch::Tensor& y, CostRecorder* costs) const {
  LayerCost cost;
  cost.name = spec_.name;
  cost.out_height = y.size(2);
  cost.out_width = y.size(3);
  // The kernel is [C_out, C_in / G, k, k] for every conv type (grouped: A * so rows, si columns).
  const int64_t kernel_numel = spec_.out_channels * (spec_.in_channels / groups_) * spec_.kernel_size * spec_.kernel_size;
  cost.macs_per_image = kernel_numel * y.size(2) * y.size(3);
  if (type_ != ConvType::kStandard) cost.reconstruction_macs = kernel_numel * atoms_;
  costs->layers.push_back(cost);
}

SharingPlan::SharingPlan(const ConvOptions& options, ParamStore* store) : options_(options), store_(store) {
  options_.validate();
  if (store_ == nullptr) throw std::invalid_argument("SharingPlan needs a parameter store");
}

std::string SharingPlan::coeff_name(const ConvOptions& options, const ConvSpec& spec) {
  if (!spec.decompose || !is_decomposed(options.type)) return "";
  switch (sharing_scope(options.type)) {
    case Scope::kNet: return "acdc.coeff.net";
    case Scope::kBlock: return "acdc.coeff." + spec.block;
    case Scope::kLayer: return spec.name + ".coeff";
    case Scope::kNone: break;
  }
  return "";
}

int64_t SharingPlan::add(const ConvSpec& spec) {
  if (finalized_) throw std::logic_error(layer_error(spec, "declared after the sharing plan was finalized"));
  if (spec.in_channels < 1 || spec.out_channels < 1 || spec.kernel_size < 1 || spec.stride < 1 ||
      spec.dilation < 1 || spec.padding < 0) {
    throw std::invalid_argument(layer_error(spec, "invalid geometry (channels " + std::to_string(spec.in_channels) +
                                                      " -> " + std::to_string(spec.out_channels) + ", kernel " +
                                                      std::to_string(spec.kernel_size) + ")"));
  }
  Conv conv;
  conv.spec_ = spec;
  conv.type_ = spec.decompose ? options_.type : ConvType::kStandard;
  conv.atoms_ = options_.atoms;
  conv.atom_drop_ = options_.atom_drop;
  const int64_t k = spec.kernel_size;

  if (conv.type_ == ConvType::kStandard) {
    conv.weight_slot_ = store_->add(spec.name + ".weight", standard_kernel_init(spec), Role::kConvWeight);
    conv.own_params_ = store_->at(spec.name + ".weight").numel();
  } else if (is_grouped(conv.type_)) {
    const int64_t s = options_.group_size;
    const auto problem = group_size_problem(s, spec.in_channels, spec.out_channels);
    if (!problem.empty()) {
      const auto sizes = valid_group_sizes(spec.in_channels, spec.out_channels);
      throw GroupSizeError(layer_error(spec, problem), sizes);
    }
    conv.groups_ = std::max<int64_t>(1, spec.in_channels / s);
    conv.atom_groups_ = std::max<int64_t>(1, spec.out_channels / s);
    conv.slice_in_ = std::min(spec.in_channels, s);
    conv.slice_out_ = std::min(spec.out_channels, s);
    conv.atoms_slot_ = store_->add(spec.name + ".atoms", atoms_init(options_, conv.atom_groups_, k), Role::kAtoms);
    conv.own_params_ = conv.atom_groups_ * options_.atoms * k * k;
  } else {
    conv.slice_in_ = spec.in_channels;
    conv.slice_out_ = spec.out_channels;
    conv.atoms_slot_ = store_->add(spec.name + ".atoms", atoms_init(options_, 1, k).squeeze(0), Role::kAtoms);
    conv.own_params_ = options_.atoms * k * k;
  }
  if (conv.type_ != ConvType::kStandard) {
    conv.coeff_name_ = coeff_name(options_, spec);
    if (sharing_scope(options_.type) == Scope::kBlock && spec.block.empty()) {
      throw std::invalid_argument(layer_error(spec, "has no block id, which " + to_string(options_.type) + " needs"));
    }
  }
  if (spec.bias) {
    conv.bias_slot_ = store_->add(spec.name + ".bias", torch::zeros({spec.out_channels}), Role::kConvBias);
    conv.own_params_ += spec.out_channels;
  }
  convs_.push_back(std::move(conv));
  return static_cast<int64_t>(convs_.size()) - 1;
}

void SharingPlan::finalize() {
  if (finalized_) throw std::logic_error("SharingPlan::finalize called twice");
  finalized_ = true;
  // Largest slice each coefficient tensor must hold, in first-use order for stable names.
  std::vector<std::string> order;
  std::map<std::string, std::pair<int64_t, int64_t>> extent;
  for (const auto& c : convs_) {
    if (c.coeff_name_.empty()) continue;
    auto it = extent.find(c.coeff_name_);
    if (it == extent.end()) {
      order.push_back(c.coeff_name_);
      extent[c.coeff_name_] = {c.slice_out_, c.slice_in_};
    } else {
      it->second.first = std::max(it->second.first, c.slice_out_);
      it->second.second = std::max(it->second.second, c.slice_in_);
    }
  }
  for (const auto& name : order) {
    const auto [rows, cols] = extent[name];
    // ACDC.md §1: coefficients N(0, 1/sqrt(C_in_max * m)), atoms N(0, 1).
    const double stddev = 1.0 / std::sqrt(static_cast<double>(cols * options_.atoms));
    store_->add(name, torch::randn({rows, cols, options_.atoms}) * stddev, Role::kCoefficients);
  }
  for (auto& c : convs_) {
    if (c.coeff_name_.empty()) continue;
    c.coeff_slot_ = store_->slot(c.coeff_name_);
    if (sharing_scope(options_.type) == Scope::kLayer) c.own_params_ += store_->at(c.coeff_name_).numel();
  }
}

std::string group_size_problem(int64_t s, int64_t in_channels, int64_t out_channels) {
  if (in_channels > s && in_channels % s != 0) {
    return "group size " + std::to_string(s) + " does not divide its " + std::to_string(in_channels) + " input channels";
  }
  if (out_channels > s && out_channels % s != 0) {
    return "group size " + std::to_string(s) + " does not divide its " + std::to_string(out_channels) +
           " output channels";
  }
  const int64_t groups = std::max<int64_t>(1, in_channels / s);
  if (out_channels % groups != 0) {
    return std::to_string(out_channels) + " output channels do not split into " + std::to_string(groups) +
           " groups of group size " + std::to_string(s);
  }
  return "";
}

std::vector<int64_t> valid_group_sizes(int64_t in_channels, int64_t out_channels) {
  std::vector<int64_t> out;
  for (int64_t s = 1; s <= std::max(in_channels, out_channels); ++s) {
    if (group_size_problem(s, in_channels, out_channels).empty()) out.push_back(s);
  }
  return out;
}

GroupSizeError::GroupSizeError(std::string problem_, std::vector<int64_t> sizes)
    : std::invalid_argument(problem_ + "; valid sizes for this layer: " + join_sizes(sizes)),
      problem(std::move(problem_)),
      layer_sizes(std::move(sizes)) {}

std::string join_sizes(const std::vector<int64_t>& sizes) {
  std::string out;
  for (const auto s : sizes) out += (out.empty() ? "" : ", ") + std::to_string(s);
  return out;
}

}  // namespace acdc
