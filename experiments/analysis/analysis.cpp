#include "experiments/analysis/analysis.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <sstream>
#include <stdexcept>

namespace experiments {

namespace {

std::string shape_of(const torch::Tensor& t) {
  std::ostringstream s;
  s << t.sizes();
  return s.str();
}

}  // namespace

double effective_rank_of_values(const torch::Tensor& singular_values) {
  if (!singular_values.defined() || singular_values.numel() == 0) {
    throw std::invalid_argument("effective rank: no singular values");
  }
  const auto s = singular_values.detach().to(torch::kCPU, torch::kDouble).flatten();
  if (!torch::isfinite(s).all().item<bool>()) throw std::invalid_argument("effective rank: non-finite singular values");
  if ((s < 0).any().item<bool>()) throw std::invalid_argument("effective rank: negative singular values");
  const double total = s.sum().item<double>();
  if (!(total > 0)) throw std::invalid_argument("effective rank: all singular values are zero");
  const auto p = s / total;
  const auto terms = torch::where(p > 0, p * torch::log(p), torch::zeros_like(p));  // 0 log 0 = 0
  return std::exp(-terms.sum().item<double>());
}

double effective_rank(const torch::Tensor& matrix) {
  if (!matrix.defined() || matrix.dim() != 2) {
    throw std::invalid_argument("effective rank: expects a 2-D matrix, got " +
                                (matrix.defined() ? shape_of(matrix) : std::string("nothing")));
  }
  return effective_rank_of_values(at::linalg_svdvals(matrix.detach().to(torch::kCPU, torch::kDouble)));
}

KernelDecomposition decompose_kernel(const torch::Tensor& kernel, int64_t atoms, const std::string& name) {
  if (!kernel.defined() || kernel.dim() != 4 || kernel.size(2) != kernel.size(3) || kernel.size(2) < 2) {
    throw std::invalid_argument("layer '" + name + "': expects a square k x k kernel [C_out, C_in, k, k] with k > 1, got " +
                                (kernel.defined() ? shape_of(kernel) : std::string("nothing")));
  }
  if (atoms < 1) throw std::invalid_argument("atoms must be at least 1, got " + std::to_string(atoms));
  KernelDecomposition d;
  d.name = name;
  d.out_channels = kernel.size(0);
  d.in_channels = kernel.size(1);
  d.kernel_size = kernel.size(2);
  const int64_t kk = d.kernel_size * d.kernel_size;
  const auto w = kernel.detach().to(torch::kCPU, torch::kDouble).reshape({d.out_channels * d.in_channels, kk});
  if (!(w.abs().sum().item<double>() > 0)) throw std::invalid_argument("layer '" + name + "': the kernel is all zero");
  // A layer with fewer kernels than k*k (a 1-channel stem) still gets k*k orthonormal atoms:
  // the full SVD completes the basis with directions of singular value 0, so every layer of one
  // kernel size has the same m and all of them can be paired.
  const bool complete = w.size(0) < kk;
  const auto [u, s, vh] = at::linalg_svd(w, /*full_matrices=*/complete);
  d.atoms = std::min<int64_t>(atoms, kk);
  d.singular_values = s;
  d.atom_basis = vh.slice(0, 0, d.atoms).contiguous();
  d.coefficients = at::matmul(w, d.atom_basis.t()).contiguous();  // = U[:, :m] S[:m]
  d.energy_kept = d.coefficients.square().sum().item<double>() / w.square().sum().item<double>();
  return d;
}

PairAlignment align_pair(const KernelDecomposition& a, const KernelDecomposition& b) {
  if (a.kernel_size != b.kernel_size || a.atoms != b.atoms) {
    throw std::invalid_argument("layers '" + a.name + "' and '" + b.name + "' cannot be aligned: kernels " +
                                std::to_string(a.kernel_size) + "x" + std::to_string(a.kernel_size) + " / " +
                                std::to_string(b.kernel_size) + "x" + std::to_string(b.kernel_size) + ", atoms " +
                                std::to_string(a.atoms) + " / " + std::to_string(b.atoms));
  }
  // Both atom sets have orthonormal rows, so CCA needs no whitening: the SVD of their cross
  // product gives the canonical directions (P for a, Q for b) and correlations.
  const auto [p, rho, qh] = at::linalg_svd(at::matmul(a.atom_basis, b.atom_basis.t()), /*full_matrices=*/false);
  PairAlignment out;
  out.first = at::matmul(a.coefficients, p);        // A_a D_a = (A_a P)(P^T D_a)
  out.second = at::matmul(b.coefficients, qh.t());  // A_b D_b = (A_b Q)(Q^T D_b)
  out.correlations = rho;
  return out;
}

double pair_effective_rank(const PairAlignment& pair) {
  const auto first = pair.first / pair.first.norm();
  const auto second = pair.second / pair.second.norm();
  return effective_rank(torch::cat({first, second}, 0));
}

RankReport rank_analysis(const std::vector<std::pair<std::string, torch::Tensor>>& kernels, int64_t atoms) {
  if (kernels.empty()) throw std::invalid_argument("rank analysis: the network has no k x k convolution (k > 1)");
  RankReport report;
  report.atoms_requested = atoms;
  std::vector<KernelDecomposition> parts;
  for (const auto& [name, kernel] : kernels) {
    parts.push_back(decompose_kernel(kernel, atoms, name));
    const auto& d = parts.back();
    LayerRank l;
    l.name = d.name;
    l.out_channels = d.out_channels;
    l.in_channels = d.in_channels;
    l.kernel_size = d.kernel_size;
    l.atoms = d.atoms;
    l.coeff_erank = effective_rank(d.coefficients);
    l.kernel_erank = effective_rank_of_values(d.singular_values);
    l.energy_kept = d.energy_kept;
    report.layers.push_back(l);
  }
  for (size_t i = 0; i < parts.size(); ++i) {
    for (size_t j = i + 1; j < parts.size(); ++j) {
      if (parts[i].kernel_size != parts[j].kernel_size || parts[i].atoms != parts[j].atoms) continue;
      const auto aligned = align_pair(parts[i], parts[j]);
      PairRank r;
      r.first = static_cast<int64_t>(i);
      r.second = static_cast<int64_t>(j);
      r.first_erank = report.layers[i].coeff_erank;
      r.second_erank = report.layers[j].coeff_erank;
      r.pair_erank = pair_effective_rank(aligned);
      r.mean_correlation = aligned.correlations.mean().item<double>();
      report.pairs.push_back(r);
      report.mean_layer_erank += (r.first_erank + r.second_erank) / 2;
      report.mean_pair_erank += r.pair_erank;
    }
  }
  if (!report.pairs.empty()) {
    report.mean_layer_erank /= static_cast<double>(report.pairs.size());
    report.mean_pair_erank /= static_cast<double>(report.pairs.size());
  }
  return report;
}

std::vector<std::pair<std::string, torch::Tensor>> conv_kernels(const backbones::Backbone& model) {
  torch::NoGradGuard no_grad;
  std::vector<std::pair<std::string, torch::Tensor>> out;
  const auto& plan = model.plan();
  for (int64_t id = 0; id < plan.size(); ++id) {
    const auto& conv = plan.conv(id);
    if (conv.spec().kernel_size < 2) continue;
    out.emplace_back(conv.spec().name, conv.kernel(model.params().tensors(), /*training=*/false).detach());
  }
  return out;
}

torch::Tensor class_activation_map(const torch::Tensor& features, const torch::Tensor& weights) {
  TORCH_CHECK(features.dim() == 4, "class_activation_map: features must be [N, C, H, W], got ", features.sizes());
  TORCH_CHECK(weights.dim() == 2 && weights.size(0) == features.size(0),
              "class_activation_map: weights must be [N, C_head] with N = ", features.size(0), ", got ",
              weights.sizes());
  const int64_t c = std::min(features.size(1), weights.size(1));
  // The leading slice, as a narrower layer uses the leading slice of shared coefficients.
  return torch::einsum("nc,nchw->nhw", {weights.slice(1, 0, c).to(features.scalar_type()), features.slice(1, 0, c)});
}

CamResult cam_analysis(backbones::Backbone& model, const torch::Tensor& images,
                       const std::optional<torch::Tensor>& classes, backbones::BnMode bn) {
  const auto& name = model.options().name;
  const auto& names = model.params().names();
  if (std::find(names.begin(), names.end(), "head.weight") == names.end() ||
      std::find(names.begin(), names.end(), "head.bias") == names.end()) {
    throw std::invalid_argument("backbone " + name + " has no linear head ('head.weight'): CAM needs one");
  }
  torch::NoGradGuard no_grad;
  backbones::FeatureRecorder recorder;
  backbones::ForwardOptions fo;
  fo.bn = bn;
  fo.features = &recorder;
  const auto logits = model.forward(images, fo).to(torch::kFloat);
  if (!recorder.head_input.defined()) {
    throw std::invalid_argument("backbone " + name + " does not report the map its head reads: CAM cannot be used");
  }
  if (!recorder.head_pools_globally) {
    const auto& h = recorder.head_input;
    throw std::invalid_argument(
        "backbone " + name + " at " + std::to_string(model.options().image_size) + " px flattens a [" +
        std::to_string(h.size(1)) + ", " + std::to_string(h.size(2)) + ", " + std::to_string(h.size(3)) +
        "] map into its head, so its class weights are per position, not per channel: CAM needs a head that pools "
        "globally (conv4 at 16-31 px, where the map is 1x1, or vgg16, resnet*, wrn-D-K)");
  }
  CamResult r;
  r.logits = logits;
  r.classes = classes ? classes->to(torch::kLong).flatten() : logits.argmax(1);
  const int64_t n = images.size(0), num_classes = logits.size(1);
  if (r.classes.size(0) != n) {
    throw std::invalid_argument("cam: " + std::to_string(r.classes.size(0)) + " classes for " + std::to_string(n) +
                                " images");
  }
  if (n > 0 && (r.classes.min().item<int64_t>() < 0 || r.classes.max().item<int64_t>() >= num_classes)) {
    throw std::invalid_argument("cam: class out of range: the head of " + name + " has " +
                                std::to_string(num_classes) + " classes (0-" + std::to_string(num_classes - 1) + ")");
  }
  const auto head = model.params().at("head.weight").to(torch::kFloat);  // [classes, C_head]
  r.head_bias = model.params().at("head.bias").detach().to(torch::kFloat);
  const auto weights = head.index_select(0, r.classes);                  // [N, C_head]
  // Layer l's features are the input of conv l+1; the last layer's are the head's input.
  std::vector<torch::Tensor> features(recorder.conv_inputs.begin() + (recorder.conv_inputs.empty() ? 0 : 1),
                                      recorder.conv_inputs.end());
  features.push_back(recorder.head_input);
  for (size_t l = 0; l < features.size(); ++l) {
    r.layers.push_back(l < recorder.conv_names.size() ? recorder.conv_names[l] : "head");
    r.maps.push_back(class_activation_map(features[l].to(torch::kFloat).contiguous(), weights).contiguous());
  }
  return r;
}

}  // namespace experiments
