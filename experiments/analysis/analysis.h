#pragma once
// The maths of the ACDC paper's two analyses (acdc-meta analyze), as pure functions on tensors:
//
// rank (paper §2.2): every k x k kernel W [C_out, C_in, k, k] of a trained network, viewed as the
// matrix [C_out*C_in, k*k], is decomposed by a truncated SVD W = U S V^T into m orthonormal 2D
// atoms D = V^T[:m] ([m, k*k]) and coefficients A = U[:, :m] S[:m] ([C_out*C_in, m]). For a pair
// of layers (i, j) the two atom sets are aligned canonically (CCA of two orthonormal bases: the
// SVD D_i D_j^T = P diag(rho) Q^T gives the transforms P^T and Q^T) and the transforms are merged
// into the coefficients ("aligned coefficients" A_i P and A_j Q, which reconstruct the same
// kernels). The effective rank of one layer's coefficients is compared with that of the pair's
// aligned coefficients stacked row-wise, each block scaled to unit Frobenius norm so that a
// 64x64 layer does not drown a 1x64 stem. Similar figures mean that the two layers'
// coefficients live in one low-rank structure, the paper's argument for sharing them.
// The paper aligns atom- and coefficient-layer *outputs* with SVCCA on MNIST test data; this
// weight-only version needs no data and is exact for m = k*k, where alignment is a rotation.
//
// cam (paper §5, Figure 8): class activation maps at every layer from the final classifier's
// class weights, which is meaningful when the layers share coefficients (acdc-net); a layer
// with fewer channels than the head uses the leading slice of the weights, as the shared
// coefficients do. The last layer's map is standard CAM (Zhou et al. 2016).

#include "backbones/backbone.h"

#include <torch/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace experiments {

// ---- effective rank (Roy & Vetterli 2007) ----

// erank = exp(-sum_i p_i log p_i), p_i = s_i / sum_j s_j over the (non-negative) singular values
// `s`; zero values contribute nothing (0 log 0 = 0). Throws std::invalid_argument for an empty,
// negative, non-finite or all-zero vector.
double effective_rank_of_values(const torch::Tensor& singular_values);
// The effective rank of a 2-D matrix (its singular values, in double precision).
double effective_rank(const torch::Tensor& matrix);

// ---- rank: decomposition and alignment ----

struct KernelDecomposition {
  std::string name;
  int64_t out_channels = 0, in_channels = 0, kernel_size = 0;
  int64_t atoms = 0;              // m used: min(requested, k*k)
  torch::Tensor atom_basis;       // [m, k*k], orthonormal rows (double)
  torch::Tensor coefficients;     // [C_out*C_in, m] (double)
  torch::Tensor singular_values;  // the min(C_out*C_in, k*k) singular values of [C_out*C_in, k*k]
  double energy_kept = 1.0;       // sum of the m largest s^2 over the sum of all s^2
};

// `kernel` [C_out, C_in, k, k] (any floating type); throws std::invalid_argument naming `name`
// for another shape, a non-square or 1x1 kernel, m < 1 or an all-zero kernel.
KernelDecomposition decompose_kernel(const torch::Tensor& kernel, int64_t atoms, const std::string& name);

struct PairAlignment {
  torch::Tensor first, second;  // aligned coefficients A_i P [rows_i, m], A_j Q [rows_j, m]
  torch::Tensor correlations;   // canonical correlations of the two atom sets, [m], descending
};
// Throws std::invalid_argument when the layers' kernel sizes or atom counts differ.
PairAlignment align_pair(const KernelDecomposition& a, const KernelDecomposition& b);
// erank of [A_i P / |A_i|_F ; A_j Q / |A_j|_F].
double pair_effective_rank(const PairAlignment& pair);

struct LayerRank {
  std::string name;
  int64_t out_channels = 0, in_channels = 0, kernel_size = 0, atoms = 0;
  double coeff_erank = 0.0;   // erank of the layer's coefficients A (its m largest singular values)
  double kernel_erank = 0.0;  // erank of the whole [C_out*C_in, k*k] matrix (no truncation)
  double energy_kept = 1.0;
};
struct PairRank {
  int64_t first = 0, second = 0;  // indices into RankReport::layers
  double first_erank = 0.0, second_erank = 0.0, pair_erank = 0.0;
  double mean_correlation = 0.0;  // of the canonical correlations of the atom sets
};
struct RankReport {
  int64_t atoms_requested = 0;
  std::vector<LayerRank> layers;
  std::vector<PairRank> pairs;     // every pair of layers with the same kernel size
  double mean_layer_erank = 0.0;   // over the pairs: mean of (erank_i + erank_j) / 2
  double mean_pair_erank = 0.0;    // over the pairs: mean of the pair's erank
};

// Every (name, kernel) in order; layers whose kernel size differs from every other are kept in
// the per-layer table but form no pair. Throws std::invalid_argument for an empty list.
RankReport rank_analysis(const std::vector<std::pair<std::string, torch::Tensor>>& kernels, int64_t atoms);

// The effective kernels of a network's k x k convs (k > 1; 1x1 shortcuts are skipped), in
// forward order, whatever the conv type (ACDC layers are reconstructed from atoms x coefficients).
std::vector<std::pair<std::string, torch::Tensor>> conv_kernels(const backbones::Backbone& model);

// ---- cam ----

// Maps [N, H, W] = sum_{c < C'} weights[n, c] * features[n, c, :, :] with C' = min(C, C_head):
// `features` [N, C, H, W], `weights` [N, C_head] (each image's class row of the head).
torch::Tensor class_activation_map(const torch::Tensor& features, const torch::Tensor& weights);

struct CamResult {
  std::vector<std::string> layers;  // the conv after which each map is taken
  std::vector<torch::Tensor> maps;  // per layer [N, H_l, W_l], float, raw (not normalised)
  torch::Tensor logits;             // [N, classes] of the ordinary forward
  torch::Tensor classes;            // int64 [N]: the class each image's maps explain
  torch::Tensor head_bias;          // [classes]
};

// One no-grad forward of `images` ([N, C, H, W], normalised) recording every k x k conv's
// input: layer l's map is the input of conv l+1 (after its BatchNorm, ReLU, pooling and
// residual sum), the last layer's is the map the head pools, so it is standard CAM and its mean
// plus the class bias is the class logit. `classes` (optional, [N]) picks the class of each
// image; by default the predicted one. Throws std::invalid_argument, naming the backbone, when
// its head does not pool globally (conv4 above 31 px flattens a [width, s, s] map: its class
// weights are per position, not per channel) or has no "head.weight".
CamResult cam_analysis(backbones::Backbone& model, const torch::Tensor& images,
                       const std::optional<torch::Tensor>& classes, backbones::BnMode bn);

}  // namespace experiments
