#pragma once
// The functional core of ACDC: pure functions on explicit tensors (reference/ACDC.md §1, §3, §4).
// Modules and the MAML engine call these with tensors taken from a parameter dictionary.

#include <torch/types.h>

#include <cstdint>

namespace acdc {

struct ConvGeometry {
  int64_t stride = 1;
  int64_t padding = 0;
  int64_t dilation = 1;
};

// W[o, i] = sum_j coeff[o, i, j] * atoms[j]:  atoms [m, k, k], coeff [C_out, C_in, m] -> [C_out, C_in, k, k].
torch::Tensor reconstruct_kernel(const torch::Tensor& atoms, const torch::Tensor& coeff);

// Grouped reconstruction (§3): atoms [A, m, k, k] (one dictionary per atom group of output
// channels), coeff [so, si, m] (the shared slice) -> [A * so, si, k, k]; every atom group uses
// the same coefficients with its own atoms.
torch::Tensor reconstruct_grouped_kernel(const torch::Tensor& atoms, const torch::Tensor& coeff);

// Everything one conv layer applies besides its tensors. Conv::forward (acdc_conv.h) fills it
// from its spec and the sharing plan; tests fill it by hand.
struct ConvLayerOptions {
  ConvGeometry geometry;
  int64_t groups = 1;       // conv2d groups G; G > 1 also channel-shuffles the output (acdc-g-*)
  int64_t coeff_rows = 0;   // the leading [rows, cols] slice of a shared coefficient tensor the
  int64_t coeff_cols = 0;   // layer reads; 0: all of it
  double atom_drop = 0.0;   // p: atom-drop rate (§4), applied only when training
  bool training = false;
};

// The effective [C_out, C_in / G, k, k] kernel of a decomposed layer: the coefficient slice,
// atom-drop when training, then reconstruct_kernel (atoms [m, k, k]) or
// reconstruct_grouped_kernel (atoms [A, m, k, k]).
torch::Tensor acdc_kernel(const torch::Tensor& atoms, const torch::Tensor& coeff, const ConvLayerOptions& options);

// A decomposed conv layer, exactly as production runs it (reconstruct mode): acdc_kernel, then
// acdc::conv2d (conv_autograd.h: the hand-written double backward) with the bias when defined,
// then channel_shuffle when groups > 1.
torch::Tensor acdc_conv2d(const torch::Tensor& x, const torch::Tensor& atoms, const torch::Tensor& coeff,
                          const torch::Tensor& bias, const ConvLayerOptions& options);
// The same for a standard layer with an explicit kernel [C_out, C_in / G, k, k].
torch::Tensor standard_conv2d(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                              const ConvLayerOptions& options);
// Shorthand of acdc_conv2d without bias, slice or atom-drop (same code path).
torch::Tensor acdc_conv2d(const torch::Tensor& x, const torch::Tensor& atoms, const torch::Tensor& coeff,
                          const ConvGeometry& geometry, int64_t groups = 1);

// Two-sub-layer mode (ungrouped): the atom sub-layer convolves every input channel with every
// atom ([N*C_in, 1, H, W] against [m, 1, k, k], geometry applied here), then the coefficient
// sub-layer is a 1x1 conv with coeff viewed as [C_out, C_in*m, 1, 1]. Same result as acdc_conv2d.
torch::Tensor acdc_conv2d_two_stage(const torch::Tensor& x, const torch::Tensor& atoms,
                                    const torch::Tensor& coeff, const ConvGeometry& geometry);

// The atom sub-layer output alone: [N, C_in * m, H_out, W_out] (channel c*m + j = input c, atom j).
torch::Tensor atom_sublayer(const torch::Tensor& x, const torch::Tensor& atoms, const ConvGeometry& geometry);

// ShuffleNet channel shuffle: view [N, g, C/g, H, W], swap dims 1 and 2, flatten.
torch::Tensor channel_shuffle(const torch::Tensor& x, int64_t groups);
// The inverse permutation: channel_unshuffle(channel_shuffle(x, g), g) == x.
torch::Tensor channel_unshuffle(const torch::Tensor& x, int64_t groups);

// Atom-drop mask (§4): shape [rows, m, 1, 1]; each entry is 0 with probability p, else 1/(1-p).
// One mask per layer per forward, shared across the batch. Uses the global torch generator.
torch::Tensor atom_drop_mask(int64_t rows, int64_t m, double p, const torch::TensorOptions& options);

// Atoms with atom-drop applied when training and p > 0; otherwise the atoms themselves.
// atoms [m, k, k] or [A, m, k, k].
torch::Tensor drop_atoms(const torch::Tensor& atoms, double p, bool training);

// DCT-II basis of a k x k kernel ordered by frequency (u + v, then u), orthonormal; rows beyond
// k*k are filled with N(0, 1) noise. Returns [m, k, k].
torch::Tensor dct_atoms(int64_t m, int64_t k, const torch::TensorOptions& options);

}  // namespace acdc
