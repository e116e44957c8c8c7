#include "acdc/conv_autograd.h"

#include "acdc/functional.h"
#include "acdc/winograd.h"

#include <torch/torch.h>

#include <vector>

namespace acdc {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

struct Geometry {
  std::vector<int64_t> stride, padding, dilation;
  int64_t groups = 1;
};

Geometry geometry_of(const ConvGeometry& g, int64_t groups) {
  return {{g.stride, g.stride}, {g.padding, g.padding}, {g.dilation, g.dilation}, groups};
}

void save_geometry(AutogradContext* ctx, const Geometry& g) {
  ctx->saved_data["stride"] = g.stride;
  ctx->saved_data["padding"] = g.padding;
  ctx->saved_data["dilation"] = g.dilation;
  ctx->saved_data["groups"] = g.groups;
}

Geometry load_geometry(AutogradContext* ctx) {
  return {ctx->saved_data["stride"].toIntVector(), ctx->saved_data["padding"].toIntVector(),
          ctx->saved_data["dilation"].toIntVector(), ctx->saved_data["groups"].toInt()};
}

// The weight in the input's layout. oneDNN picks its kernels from the strides of input and
// weight; LibTorch would make a channels-last copy of an NCHW weight for a channels-last input
// anyway, and a 1-channel input, contiguous in both layouts, would otherwise run the NCHW
// kernels: its weight is viewed with channels-last strides (no copy), and the stem's forward
// and weight gradient are then 5-10x faster than NCHW or im2col with a matrix product.
torch::Tensor weight_for(const torch::Tensor& x, const torch::Tensor& w) {
  if (x.dim() != 4 || !x.device().is_cpu() || x.size(2) * x.size(3) <= 1 ||
      !x.is_contiguous(at::MemoryFormat::ChannelsLast)) {
    return w;
  }
  if (w.size(1) == 1) return w.contiguous().as_strided(w.sizes(), {w.size(2) * w.size(3), 1, w.size(3), 1});
  return w.contiguous(at::MemoryFormat::ChannelsLast);
}

// 3x3 convolutions of stride 1 run on the Winograd kernels where winograd.h says they are faster.
torch::Tensor forward_conv(const torch::Tensor& x, const torch::Tensor& w, const Geometry& g) {
  if (winograd_runs(x, w, g.stride, g.padding, g.dilation, g.groups)) return winograd_conv(x, w);
  return at::convolution(x, weight_for(x, w), /*bias=*/{}, g.stride, g.padding, g.dilation, /*transposed=*/false,
                         /*output_padding=*/{0, 0}, g.groups);
}

std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> backward_conv(const torch::Tensor& gy, const torch::Tensor& x,
                                                                      const torch::Tensor& w, const Geometry& g,
                                                                      bool input_grad, bool weight_grad) {
  if (winograd_runs(x, w, g.stride, g.padding, g.dilation, g.groups, gy)) {
    return {input_grad ? winograd_input_grad(gy, w) : torch::Tensor(),
            weight_grad ? winograd_weight_grad(gy, x, w) : torch::Tensor(), torch::Tensor()};
  }
  return at::convolution_backward(gy, x, weight_for(x, w), /*bias_sizes=*/c10::nullopt, g.stride, g.padding,
                                  g.dilation, /*transposed=*/false, /*output_padding=*/{0, 0}, g.groups,
                                  {input_grad, weight_grad, false});
}

// (gy, x, w) -> (gx, gw), or (gw) alone when the input needs no gradient; differentiable once
// more by the formulas of the header.
struct ConvBackward : public torch::autograd::Function<ConvBackward> {
  static variable_list forward(AutogradContext* ctx, torch::Tensor gy, torch::Tensor x, torch::Tensor w,
                               const Geometry& g, bool input_grad) {
    ctx->set_materialize_grads(false);  // an undefined incoming gradient is a zero: skip its terms
    save_geometry(ctx, g);
    ctx->saved_data["input_grad"] = input_grad;
    ctx->save_for_backward({gy, x, w});
    // The input needs no gradient (e.g. the images).
    if (!input_grad) return {std::get<1>(backward_conv(gy, x, w, g, /*input_grad=*/false, /*weight_grad=*/true))};
    auto [gx, gw, unused] = backward_conv(gy, x, w, g, /*input_grad=*/true, /*weight_grad=*/true);
    return {gx, gw};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto g = load_geometry(ctx);
    const auto saved = ctx->get_saved_variables();
    const auto &gy = saved[0], &x = saved[1], &w = saved[2];
    const bool input_grad = ctx->saved_data["input_grad"].toBool();
    const torch::Tensor ggx = input_grad ? grads[0] : torch::Tensor();
    const torch::Tensor& ggw = grads[input_grad ? 1 : 0];
    torch::Tensor d_gy, d_x, d_w;
    if (ggx.defined()) d_gy = forward_conv(ggx, w, g);
    if (ggw.defined()) {
      auto t = forward_conv(x, ggw, g);
      d_gy = d_gy.defined() ? d_gy + t : t;
    }
    if (ggx.defined() && ctx->needs_input_grad(2)) {
      d_w = std::get<1>(backward_conv(gy, ggx, w, g, /*input_grad=*/false, /*weight_grad=*/true));
    }
    if (ggw.defined() && ctx->needs_input_grad(1)) {
      d_x = std::get<0>(backward_conv(gy, x, ggw, g, /*input_grad=*/true, /*weight_grad=*/false));
    }
    return {d_gy, d_x, d_w, torch::Tensor(), torch::Tensor()};
  }
};

struct Conv : public torch::autograd::Function<Conv> {
  static torch::Tensor forward(AutogradContext* ctx, torch::Tensor x, torch::Tensor w, const Geometry& g) {
    ctx->set_materialize_grads(false);
    save_geometry(ctx, g);
    ctx->save_for_backward({x, w});
    return forward_conv(x, w, g);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto g = load_geometry(ctx);
    const auto saved = ctx->get_saved_variables();
    const bool input_grad = ctx->needs_input_grad(0);
    if (!grads[0].defined()) return {torch::Tensor(), torch::Tensor(), torch::Tensor()};
    auto out = ConvBackward::apply(grads[0], saved[0], saved[1], g, input_grad);
    if (!input_grad) return {torch::Tensor(), out[0], torch::Tensor()};
    return {out[0], out[1], torch::Tensor()};
  }
};

}  // namespace

torch::Tensor conv2d(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                     const ConvGeometry& geometry, int64_t groups) {
  auto y = Conv::apply(x, weight, geometry_of(geometry, groups));
  return bias.defined() ? y + bias.view({1, -1, 1, 1}) : y;
}

}  // namespace acdc
