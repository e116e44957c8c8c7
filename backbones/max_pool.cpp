#include "backbones/max_pool.h"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <cstdint>

namespace backbones {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Where the elements of one window sit, and how the kernels walk the tensors: a "row" is a
// run of `count` windows whose first elements are `x_step` apart in the input side (x, its
// gradient) and `y_step` apart in the output side (output, choices, output gradient). In
// channels-last memory a row is the channels of one window (steps 1: vectorised); in
// contiguous memory it is the windows along one output row. Every tensor of a side has the
// side's strides (the callers make them contiguous in one memory format).
struct Geometry {
  int64_t n, c, oh, ow;               // output sizes
  int64_t xs_n, xs_c, xs_h, xs_w;     // input-side strides
  int64_t ys_n, ys_c, ys_h, ys_w;     // output-side strides
  bool channels_last;
  int64_t right() const { return xs_w; }  // offsets of the window's other three elements
  int64_t below() const { return xs_h; }
  int64_t rows() const { return channels_last ? n * oh * ow : n * c * oh; }
  int64_t count() const { return channels_last ? c : ow; }
  int64_t x_step() const { return channels_last ? xs_c : 2 * xs_w; }
  int64_t y_step() const { return channels_last ? ys_c : ys_w; }
  // Offsets of row r's first window in the input side and the output side.
  std::pair<int64_t, int64_t> row_offsets(int64_t r) const {
    if (channels_last) {
      const int64_t b = r / (oh * ow), h = (r / ow) % oh, w = r % ow;
      return {b * xs_n + 2 * h * xs_h + 2 * w * xs_w, b * ys_n + h * ys_h + w * ys_w};
    }
    const int64_t b = r / (c * oh), ch = (r / oh) % c, h = r % oh;
    return {b * xs_n + ch * xs_c + 2 * h * xs_h, b * ys_n + ch * ys_c + h * ys_h};
  }
};

Geometry geometry(const torch::Tensor& x_side, const torch::Tensor& y_side, bool channels_last) {
  return {y_side.size(0),   y_side.size(1),   y_side.size(2),   y_side.size(3),  x_side.stride(0), x_side.stride(1),
          x_side.stride(2), x_side.stride(3), y_side.stride(0), y_side.stride(1), y_side.stride(2), y_side.stride(3),
          channels_last};
}

// Runs row(x_offset, y_offset, count, unit) over all rows on LibTorch's intra-op threads; unit
// says both steps are 1, so that the row loop can be instantiated with constant steps.
template <typename Row>
void for_each_row(const Geometry& g, const Row& row) {
  const int64_t count = g.count();
  const bool unit = g.x_step() == 1 && g.y_step() == 1;
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, count));
  at::parallel_for(0, g.rows(), grain, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const auto [xo, yo] = g.row_offsets(r);
      row(xo, yo, count, unit);
    }
  });
}

// The row kernels name the window's four elements through separate restrict pointers: with
// runtime offsets the compiler must otherwise assume that the stores may alias the loads, and
// does not vectorise (7x slower).

// The forward: each window's maximum and which element it was (0..3, row-major), the first of
// equal values and NaN winning as in LibTorch's kernel: (v > m) || isnan(v) replaces.
template <typename T, bool Unit>
void forward_row(const T* x, int64_t xs, int64_t right, int64_t below, T* __restrict y, uint8_t* __restrict k,
                 int64_t ys, int64_t count) {
  const int64_t sx = Unit ? 1 : xs, sy = Unit ? 1 : ys;
  const T* __restrict p0 = x;
  const T* __restrict p1 = x + right;
  const T* __restrict p2 = x + below;
  const T* __restrict p3 = x + below + right;
  for (int64_t i = 0; i < count; ++i) {
    T m = p0[i * sx];
    uint8_t kk = 0;
    const T b = p1[i * sx], c = p2[i * sx], d = p3[i * sx];
    const bool ub = (b > m) || (b != b);
    m = ub ? b : m;
    kk = ub ? 1 : kk;
    const bool uc = (c > m) || (c != c);
    m = uc ? c : m;
    kk = uc ? 2 : kk;
    const bool ud = (d > m) || (d != d);
    m = ud ? d : m;
    kk = ud ? 3 : kk;
    y[i * sy] = m;
    k[i * sy] = kk;
  }
}

// Input side from output side: each window's chosen element gets the value, the others zero.
template <typename T, bool Unit>
void scatter_row(const T* __restrict g, const uint8_t* __restrict k, int64_t ys, T* gx, int64_t xs, int64_t right,
                 int64_t below, int64_t count) {
  const int64_t sx = Unit ? 1 : xs, sy = Unit ? 1 : ys;
  T* __restrict p0 = gx;
  T* __restrict p1 = gx + right;
  T* __restrict p2 = gx + below;
  T* __restrict p3 = gx + below + right;
  for (int64_t i = 0; i < count; ++i) {
    const T v = g[i * sy];
    const uint8_t kk = k[i * sy];
    p0[i * sx] = kk == 0 ? v : T(0);
    p1[i * sx] = kk == 1 ? v : T(0);
    p2[i * sx] = kk == 2 ? v : T(0);
    p3[i * sx] = kk == 3 ? v : T(0);
  }
}

// Output side from input side: each window's chosen element (zero for kNoGradient).
template <typename T, bool Unit>
void gather_row(const T* v, int64_t xs, int64_t right, int64_t below, const uint8_t* __restrict k, T* __restrict out,
                int64_t ys, int64_t count) {
  const int64_t sx = Unit ? 1 : xs, sy = Unit ? 1 : ys;
  const T* __restrict p0 = v;
  const T* __restrict p1 = v + right;
  const T* __restrict p2 = v + below;
  const T* __restrict p3 = v + below + right;
  for (int64_t i = 0; i < count; ++i) {
    const uint8_t kk = k[i * sy];
    const T a = p0[i * sx], b = p1[i * sx], c = p2[i * sx], d = p3[i * sx];
    out[i * sy] = kk == 0 ? a : kk == 1 ? b : kk == 2 ? c : kk == 3 ? d : T(0);
  }
}

at::MemoryFormat format_of(bool channels_last) {
  return channels_last ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
}

std::tuple<torch::Tensor, torch::Tensor> pool_forward(const torch::Tensor& x_in, bool channels_last) {
  const auto fmt = format_of(channels_last);
  const auto x = x_in.contiguous(fmt);
  const auto y = at::empty({x.size(0), x.size(1), x.size(2) / 2, x.size(3) / 2}, x.options().memory_format(fmt));
  const auto k = at::empty(y.sizes(), y.options().dtype(torch::kUInt8).memory_format(fmt));
  const auto g = geometry(x, y, channels_last);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "max_pool2x2", [&] {
    const auto* xp = x.data_ptr<scalar_t>();
    auto* yp = y.data_ptr<scalar_t>();
    auto* kp = k.data_ptr<uint8_t>();
    for_each_row(g, [&](int64_t xo, int64_t yo, int64_t count, bool unit) {
      if (unit) {
        forward_row<scalar_t, true>(xp + xo, 1, g.right(), g.below(), yp + yo, kp + yo, 1, count);
      } else {
        forward_row<scalar_t, false>(xp + xo, g.x_step(), g.right(), g.below(), yp + yo, kp + yo, g.y_step(), count);
      }
    });
  });
  return {y, k};
}

// The input gradient [N, C, h, w] from the output gradient: every element written once (the
// row and column a floor division leaves out of all windows are zero).
torch::Tensor pool_scatter(const torch::Tensor& g_in, const torch::Tensor& k, int64_t h, int64_t w, bool channels_last) {
  const auto fmt = format_of(channels_last);
  const auto g = g_in.contiguous(fmt);
  const auto gx = at::empty({g.size(0), g.size(1), h, w}, g.options().memory_format(fmt));
  const auto geo = geometry(gx, k, channels_last);
  AT_DISPATCH_FLOATING_TYPES(g.scalar_type(), "max_pool2x2_backward", [&] {
    const auto* gp = g.data_ptr<scalar_t>();
    const auto* kp = k.data_ptr<uint8_t>();
    auto* xp = gx.data_ptr<scalar_t>();
    for_each_row(geo, [&](int64_t xo, int64_t yo, int64_t count, bool unit) {
      if (unit) {
        scatter_row<scalar_t, true>(gp + yo, kp + yo, 1, xp + xo, 1, geo.right(), geo.below(), count);
      } else {
        scatter_row<scalar_t, false>(gp + yo, kp + yo, geo.y_step(), xp + xo, geo.x_step(), geo.right(), geo.below(), count);
      }
    });
  });
  if (h > 2 * k.size(2)) gx.narrow(2, 2 * k.size(2), h - 2 * k.size(2)).zero_();
  if (w > 2 * k.size(3)) gx.narrow(3, 2 * k.size(3), w - 2 * k.size(3)).zero_();
  return gx;
}

torch::Tensor pool_gather(const torch::Tensor& v_in, const torch::Tensor& k, bool channels_last) {
  const auto fmt = format_of(channels_last);
  const auto v = v_in.contiguous(fmt);
  const auto out = at::empty(k.sizes(), v.options().memory_format(fmt));
  const auto geo = geometry(v, k, channels_last);
  AT_DISPATCH_FLOATING_TYPES(v.scalar_type(), "max_pool2x2_double_backward", [&] {
    const auto* vp = v.data_ptr<scalar_t>();
    const auto* kp = k.data_ptr<uint8_t>();
    auto* op = out.data_ptr<scalar_t>();
    for_each_row(geo, [&](int64_t xo, int64_t yo, int64_t count, bool unit) {
      if (unit) {
        gather_row<scalar_t, true>(vp + xo, 1, geo.right(), geo.below(), kp + yo, op + yo, 1, count);
      } else {
        gather_row<scalar_t, false>(vp + xo, geo.x_step(), geo.right(), geo.below(), kp + yo, op + yo, geo.y_step(), count);
      }
    });
  });
  return out;
}

torch::Tensor undefined() { return {}; }

struct PoolGather;

// g [N, C, oh, ow] -> its scatter into the input's shape; the adjoint is the gather.
struct PoolScatter : public torch::autograd::Function<PoolScatter> {
  static torch::Tensor forward(AutogradContext* ctx, torch::Tensor g, torch::Tensor k, int64_t h, int64_t w,
                               bool channels_last) {
    ctx->set_materialize_grads(false);
    ctx->save_for_backward({k});
    ctx->saved_data["channels_last"] = channels_last;
    return pool_scatter(g, k, h, w, channels_last);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads);
};

// v [N, C, h, w] -> each window's chosen element; the adjoint is the scatter.
struct PoolGather : public torch::autograd::Function<PoolGather> {
  static torch::Tensor forward(AutogradContext* ctx, torch::Tensor v, torch::Tensor k, bool channels_last) {
    ctx->set_materialize_grads(false);
    ctx->save_for_backward({k});
    ctx->saved_data["h"] = v.size(2);
    ctx->saved_data["w"] = v.size(3);
    ctx->saved_data["channels_last"] = channels_last;
    return pool_gather(v, k, channels_last);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    if (!grads[0].defined()) return {undefined(), undefined(), undefined()};
    const auto k = ctx->get_saved_variables()[0];
    return {PoolScatter::apply(grads[0], k, ctx->saved_data["h"].toInt(), ctx->saved_data["w"].toInt(),
                               ctx->saved_data["channels_last"].toBool()),
            undefined(), undefined()};
  }
};

variable_list PoolScatter::backward(AutogradContext* ctx, variable_list grads) {
  if (!grads[0].defined()) return {undefined(), undefined(), undefined(), undefined(), undefined()};
  const auto k = ctx->get_saved_variables()[0];
  return {PoolGather::apply(grads[0], k, ctx->saved_data["channels_last"].toBool()), undefined(), undefined(),
          undefined(), undefined()};
}

struct MaxPool : public torch::autograd::Function<MaxPool> {
  static torch::Tensor forward(AutogradContext* ctx, torch::Tensor x, bool channels_last) {
    ctx->set_materialize_grads(false);
    auto [y, k] = pool_forward(x, channels_last);
    ctx->save_for_backward({k});
    ctx->saved_data["h"] = x.size(2);
    ctx->saved_data["w"] = x.size(3);
    ctx->saved_data["channels_last"] = channels_last;
    return y;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    if (!grads[0].defined()) return {undefined(), undefined()};
    const auto k = ctx->get_saved_variables()[0];
    return {PoolScatter::apply(grads[0], k, ctx->saved_data["h"].toInt(), ctx->saved_data["w"].toInt(),
                               ctx->saved_data["channels_last"].toBool()),
            undefined()};
  }
};

}  // namespace

torch::Tensor max_pool2x2_scatter(const torch::Tensor& g, const torch::Tensor& k, int64_t h, int64_t w) {
  return PoolScatter::apply(g, k, h, w, k.suggest_memory_format() == at::MemoryFormat::ChannelsLast);
}

torch::Tensor max_pool2x2(const torch::Tensor& x) {
  const bool ours = x.device().is_cpu() && x.dim() == 4 && x.size(2) >= 2 && x.size(3) >= 2 &&
                    (x.scalar_type() == torch::kFloat || x.scalar_type() == torch::kDouble);
  if (!ours) return torch::max_pool2d(x, /*kernel_size=*/2);
  const bool channels_last = x.suggest_memory_format() == at::MemoryFormat::ChannelsLast;
  if (!x.requires_grad() || !torch::GradMode::is_enabled()) return std::get<0>(pool_forward(x, channels_last));
  return MaxPool::apply(x, channels_last);
}

}  // namespace backbones
