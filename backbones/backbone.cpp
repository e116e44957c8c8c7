#include "backbones/backbone.h"

#include "backbones/batch_norm.h"
#include "backbones/max_pool.h"
#include "host/memory.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <sstream>
#include <stdexcept>

namespace backbones {
namespace {

// 1234567 -> "1.23 M"; below a thousand as an integer.
std::string format_count(double n) {
  const char* units[] = {"", " k", " M", " G", " T", " P", " E"};
  int u = 0;
  while (n >= 1000 && u < 6) {
    n /= 1000;
    ++u;
  }
  std::ostringstream out;
  out.setf(std::ios::fixed);
  out.precision(u == 0 ? 0 : 2);
  out << n << units[u];
  return out.str();
}

}  // namespace

BnMode parse_bn_mode(const std::string& name) {
  if (name == "transductive") return BnMode::kTransductive;
  if (name == "running") return BnMode::kRunning;
  if (name == "per-step") return BnMode::kPerStep;
  throw std::invalid_argument("unknown BatchNorm mode '" + name + "' (expected one of: transductive, running, per-step)");
}

std::string to_string(BnMode mode) {
  switch (mode) {
    case BnMode::kTransductive: return "transductive";
    case BnMode::kRunning: return "running";
    case BnMode::kPerStep: return "per-step";
  }
  return "?";
}

ParamFilter parse_param_filter(const std::string& name) {
  if (name == "all") return ParamFilter::kAll;
  if (name == "head") return ParamFilter::kHead;
  if (name == "atoms") return ParamFilter::kAtoms;
  if (name == "atoms+head") return ParamFilter::kAtomsAndHead;
  throw std::invalid_argument("unknown parameter selection '" + name + "' (expected one of: all, head, atoms, atoms+head)");
}

std::string to_string(ParamFilter filter) {
  switch (filter) {
    case ParamFilter::kAll: return "all";
    case ParamFilter::kHead: return "head";
    case ParamFilter::kAtoms: return "atoms";
    case ParamFilter::kAtomsAndHead: return "atoms+head";
  }
  return "?";
}

Backbone::Backbone(const BackboneOptions& options)
    : options_(options), plan_(options.conv, &params_) {
  if (options.classes < 1) throw std::invalid_argument("classes must be at least 1, got " + std::to_string(options.classes));
  if (options.in_channels < 1) {
    throw std::invalid_argument("input channels must be at least 1, got " + std::to_string(options.in_channels));
  }
  if (options.bn_steps < 1) throw std::invalid_argument("bn_steps must be at least 1");
}

int64_t max_params() { return static_cast<int64_t>(std::min(host::memory_limit_bytes() / 16, 9e18)); }

void Backbone::reserve_params(double count, const std::string& layer) {
  planned_params_ += count;
  const auto budget = static_cast<double>(max_params());
  if (planned_params_ <= budget) return;
  const auto& c = options_.conv;
  throw std::invalid_argument(
      "backbone " + options_.name + " (conv " + acdc::to_string(c.type) + ", atoms " + std::to_string(c.atoms) +
      ", width " + std::to_string(options_.width) + ", classes " + std::to_string(options_.classes) +
      ") is too large for this machine: by layer '" + layer + "' it would have up to " +
      format_count(planned_params_) + " parameters, more than the budget of " + format_count(budget) +
      " (memory " + host::format_gib(budget * 16) +
      " / 16 bytes per parameter for its value, gradient and two optimizer moments)");
}

int64_t Backbone::add_conv(const acdc::ConvSpec& spec) {
  // An upper bound over every conv type: a standard kernel, or per-layer atoms (at most one set
  // per output channel) and a full coefficient tensor (shared ones are counted at every use).
  const auto out = static_cast<double>(spec.out_channels), in = static_cast<double>(spec.in_channels),
             k2 = static_cast<double>(spec.kernel_size) * static_cast<double>(spec.kernel_size),
             m = static_cast<double>(options_.conv.atoms);
  const bool standard = !spec.decompose || options_.conv.type == acdc::ConvType::kStandard;
  reserve_params(standard ? out * in * k2 + out : out * m * k2 + out * in * m + out, spec.name);
  return plan_.add(spec);
}

int64_t Backbone::add_conv3x3(const std::string& name, int64_t in, int64_t out, int64_t stride,
                              const std::string& block) {
  acdc::ConvSpec spec;
  spec.name = name;
  spec.in_channels = in;
  spec.out_channels = out;
  spec.kernel_size = 3;
  spec.stride = stride;
  spec.padding = 1;
  spec.block = block;
  return add_conv(spec);
}

int64_t Backbone::add_shortcut(const std::string& name, int64_t in, int64_t out, int64_t stride) {
  acdc::ConvSpec spec;
  spec.name = name;
  spec.in_channels = in;
  spec.out_channels = out;
  spec.kernel_size = 1;
  spec.stride = stride;
  spec.decompose = false;  // ACDC.md §2: 1x1 shortcuts stay standard convs
  return add_conv(spec);
}

int64_t Backbone::add_batch_norm(const std::string& name, int64_t channels) {
  reserve_params(2.0 * static_cast<double>(channels) * static_cast<double>(1 + options_.bn_steps), name);
  BatchNormLayer bn;
  bn.name = name;
  bn.channels = channels;
  bn.weight_slot = params_.add(name + ".weight", torch::ones({channels}), acdc::Role::kBatchNormWeight);
  bn.bias_slot = params_.add(name + ".bias", torch::zeros({channels}), acdc::Role::kBatchNormBias);
  for (int64_t s = 0; s < options_.bn_steps; ++s) {
    const std::string suffix = options_.bn_steps > 1 ? ".step" + std::to_string(s) : "";
    bn.mean_slots.push_back(buffers_.add(name + ".running_mean" + suffix, torch::zeros({channels}),
                                         acdc::Role::kBatchNormRunningMean, /*trainable=*/false));
    bn.var_slots.push_back(buffers_.add(name + ".running_var" + suffix, torch::ones({channels}),
                                        acdc::Role::kBatchNormRunningVar, /*trainable=*/false));
  }
  bns_.push_back(std::move(bn));
  return static_cast<int64_t>(bns_.size()) - 1;
}

int64_t Backbone::add_head(int64_t in_features, int64_t out_features) {
  // PyTorch's nn.Linear default: U(-1/sqrt(in), 1/sqrt(in)) for weight and bias.
  const double bound = 1.0 / std::sqrt(static_cast<double>(in_features));
  const std::string name = "head";
  reserve_params(static_cast<double>(out_features) * (static_cast<double>(in_features) + 1), name);
  LinearLayer l{name, in_features, out_features, -1, -1};
  l.weight_slot = params_.add(name + ".weight", torch::empty({out_features, in_features}).uniform_(-bound, bound),
                              acdc::Role::kHeadWeight);
  l.bias_slot = params_.add(name + ".bias", torch::empty({out_features}).uniform_(-bound, bound), acdc::Role::kHeadBias);
  linears_.push_back(l);
  return static_cast<int64_t>(linears_.size()) - 1;
}

void Backbone::finalize() {
  plan_.finalize();
  if (!options_.channels_last) return;
  // Standard kernels live in channels-last memory, the activations' layout: the convolutions
  // then take them as they are, their gradients come back channels-last, and the MAML inner
  // loop's updates keep that layout (no copy per convolution call).
  auto& tensors = params_.tensors();
  for (size_t i = 0; i < tensors.size(); ++i) {
    auto& t = tensors[i];
    if (params_.roles()[i] != acdc::Role::kConvWeight || t.dim() != 4) continue;
    torch::NoGradGuard no_grad;
    t = t.detach().contiguous(at::MemoryFormat::ChannelsLast).requires_grad_(t.requires_grad());
  }
}

torch::Tensor Backbone::conv(int64_t id, const torch::Tensor& x, const std::vector<torch::Tensor>& p,
                             const ForwardOptions& o) const {
  acdc::RunOptions run;
  run.training = o.training;
  run.costs = o.costs;
  const auto& c = plan_.conv(id);
  if (o.features != nullptr && c.spec().kernel_size > 1) {
    o.features->conv_names.push_back(c.spec().name);
    o.features->conv_inputs.push_back(x.detach());
  }
  return c.forward(x, p, run);
}

torch::Tensor Backbone::pooled_linear(int64_t id, const torch::Tensor& h, const std::vector<torch::Tensor>& p,
                                      const ForwardOptions& o) const {
  record_head_input(h, /*pools_globally=*/true, o);
  return linear(id, h.mean({2, 3}), p, o);
}

void Backbone::record_head_input(const torch::Tensor& h, bool pools_globally, const ForwardOptions& o) const {
  if (o.features == nullptr) return;
  o.features->head_input = h.detach();
  o.features->head_pools_globally = pools_globally;
}

torch::Tensor Backbone::batch_norm(int64_t id, const torch::Tensor& x, const std::vector<torch::Tensor>& p,
                                   const ForwardOptions& o) {
  return normalize(id, x, p, o, /*max_pool_relu=*/false);
}

torch::Tensor Backbone::batch_norm_max_pool_relu(int64_t id, const torch::Tensor& x,
                                                 const std::vector<torch::Tensor>& p, const ForwardOptions& o) {
  return normalize(id, x, p, o, /*max_pool_relu=*/true);
}

torch::Tensor Backbone::normalize(int64_t id, const torch::Tensor& x, const std::vector<torch::Tensor>& p,
                                  const ForwardOptions& o, bool max_pool_relu) {
  const auto& bn = bns_[static_cast<size_t>(id)];
  const auto& w = p[static_cast<size_t>(bn.weight_slot)];
  const auto& b = p[static_cast<size_t>(bn.bias_slot)];
  constexpr double kMomentum = kBatchNormMomentum, kEps = kBatchNormEps;
  // Batch statistics, with the running ones updated when defined.
  auto train = [&](const torch::Tensor& mean, const torch::Tensor& var) {
    return max_pool_relu ? batch_norm_max_pool_relu_train(x, w, b, mean, var, kMomentum, kEps)
                         : batch_norm_train(x, w, b, mean, var, kMomentum, kEps);
  };
  if (o.bn == BnMode::kTransductive) return train({}, {});
  const size_t set = o.bn == BnMode::kPerStep
                         ? static_cast<size_t>(std::min<int64_t>(std::max<int64_t>(o.step, 0), options_.bn_steps - 1))
                         : 0;
  auto& mean = buffers_.tensors()[static_cast<size_t>(bn.mean_slots[set])];
  auto& var = buffers_.tensors()[static_cast<size_t>(bn.var_slots[set])];
  if (o.training) return o.update_running_stats ? train(mean, var) : train({}, {});
  auto y = torch::batch_norm(x, w, b, mean, var, /*training=*/false, kMomentum, kEps, /*cudnn_enabled=*/true);
  return max_pool_relu ? torch::relu(max_pool2x2(y)) : y;
}

torch::Tensor Backbone::linear(int64_t id, const torch::Tensor& x, const std::vector<torch::Tensor>& p,
                               const ForwardOptions& o) const {
  const auto& l = linears_[static_cast<size_t>(id)];
  TORCH_CHECK(x.dim() == 2 && x.size(1) == l.in_features, "layer '", l.name, "' expects ", l.in_features,
              " input features, got ", x.sizes(), " (was the network built for another image size?)");
  if (o.costs != nullptr) {
    acdc::LayerCost cost;
    cost.name = l.name;
    cost.macs_per_image = l.in_features * l.out_features;
    o.costs->layers.push_back(cost);
  }
  return torch::addmm(p[static_cast<size_t>(l.bias_slot)], x, p[static_cast<size_t>(l.weight_slot)].t());
}

torch::Tensor Backbone::forward(const torch::Tensor& x, const ForwardOptions& options) {
  return forward_with(x, params_.tensors(), options);
}

torch::Tensor Backbone::forward_with(const torch::Tensor& x, const std::vector<torch::Tensor>& params,
                                     const ForwardOptions& options) {
  if (static_cast<int64_t>(params.size()) != params_.size()) {
    throw std::invalid_argument("parameter vector has " + std::to_string(params.size()) + " tensors, " +
                                options_.name + " has " + std::to_string(params_.size()));
  }
  if (x.dim() != 4 || x.size(1) != options_.in_channels) {
    std::ostringstream shape;
    shape << x.sizes();
    throw std::invalid_argument(options_.name + " expects input [N, " + std::to_string(options_.in_channels) +
                                ", H, W], got " + shape.str());
  }
  if (std::min(x.size(2), x.size(3)) < min_image_size_) {
    throw std::invalid_argument(options_.name + " needs images of at least " + std::to_string(min_image_size_) +
                                " px, got " + std::to_string(x.size(2)) + "x" + std::to_string(x.size(3)));
  }
  // Channels-last activations: oneDNN convolves them without reordering, and the CPU kernels
  // of max-pool and BatchNorm are vectorised over channels only in this layout.
  if (options_.channels_last) {
    auto cl = x.contiguous(torch::MemoryFormat::ChannelsLast);
    // One channel is contiguous in both layouts; a view with stride 1 on C tells the convolution
    // which one is meant (acdc/conv_autograd.cpp).
    if (cl.size(1) == 1) cl = cl.as_strided(cl.sizes(), {cl.size(2) * cl.size(3), 1, cl.size(3), 1});
    return run(cl, params, options);
  }
  return run(x, params, options);
}

torch::Tensor Backbone::forward_with(const torch::Tensor& x, const acdc::TensorDict& params,
                                     const ForwardOptions& options) {
  return forward_with(x, params_.resolve(params), options);
}

void Backbone::to(const torch::Device& device, torch::optional<torch::ScalarType> dtype) {
  params_.to(device, dtype);
  buffers_.to(device, dtype);
}

torch::Device Backbone::device() const {
  return params_.size() > 0 ? params_[0].device() : torch::Device(torch::kCPU);
}

acdc::CostRecorder Backbone::costs(int64_t image_size) {
  torch::NoGradGuard no_grad;
  acdc::CostRecorder recorder;
  ForwardOptions o;
  o.costs = &recorder;
  auto options = params_.size() > 0 ? params_[0].options() : torch::TensorOptions();
  // Batch 2: transductive BatchNorm needs more than one value per channel at 1x1 features.
  forward(torch::zeros({2, options_.in_channels, image_size, image_size}, options.requires_grad(false)), o);
  return recorder;
}

std::vector<int64_t> Backbone::slots(ParamFilter filter) const {
  std::vector<int64_t> out;
  for (int64_t i = 0; i < params_.size(); ++i) {
    const auto role = params_.role(i);
    const bool head = acdc::is_head(role);
    const bool atoms = role == acdc::Role::kAtoms;
    const bool take = filter == ParamFilter::kAll || (filter == ParamFilter::kHead && head) ||
                      (filter == ParamFilter::kAtoms && atoms) ||
                      (filter == ParamFilter::kAtomsAndHead && (atoms || head));
    if (take) out.push_back(i);
  }
  return out;
}

}  // namespace backbones
