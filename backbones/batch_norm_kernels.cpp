#include "backbones/batch_norm_kernels.h"

#include "backbones/batch_norm_loops.h"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <optional>

namespace backbones::bn_kernels {
namespace {

// How a tensor [N, C, ...] lies in memory: outer x channels x inner. Channels-last (and
// [N, C]) is rows of `channels` values (inner 1: the channel loop is the contiguous one);
// NCHW is N images of C planes of `inner` values.
struct Layout {
  int64_t outer = 0, channels = 0, inner = 0;
  at::MemoryFormat format = at::MemoryFormat::Contiguous;
  int64_t per_channel() const { return outer * inner; }
};

constexpr int64_t kRowsPerBlock = 1024;     // channels-last rows per block of a reduction
constexpr int64_t kGrainElements = 32768;  // elements per parallel task, at least

// The layout the kernels run x in, or none when they do not take it (see the header).
std::optional<Layout> fast_layout(const torch::Tensor& x, const std::vector<const torch::Tensor*>& others) {
  if (!x.device().is_cpu() || x.dim() < 2 || x.numel() == 0) return std::nullopt;
  if (x.scalar_type() != torch::kFloat && x.scalar_type() != torch::kDouble) return std::nullopt;
  bool recorded = x.requires_grad();
  for (const auto* t : others) {
    if (!t->defined()) continue;
    if (!t->device().is_cpu() || t->scalar_type() != x.scalar_type()) return std::nullopt;
    recorded = recorded || t->requires_grad();
  }
  if (recorded && torch::GradMode::is_enabled()) return std::nullopt;  // a third order: LibTorch ops record it
  const int64_t n = x.size(0), c = x.size(1);
  if (x.dim() == 4 && x.is_contiguous(at::MemoryFormat::ChannelsLast)) {
    return Layout{n * x.size(2) * x.size(3), c, 1, at::MemoryFormat::ChannelsLast};
  }
  if (x.is_contiguous()) return Layout{n, c, x.numel() / (n * c), at::MemoryFormat::Contiguous};
  return std::nullopt;
}

// t in x's layout (a no-op when it is already).
torch::Tensor in_layout(const torch::Tensor& t, const torch::Tensor& x, const Layout& l) {
  TORCH_CHECK(t.sizes() == x.sizes(), "batch norm: a tensor of shape ", t.sizes(), " where ", x.sizes(), " was expected");
  return t.contiguous(l.format);
}

// A per-channel vector as C values of T; an undefined one is `fill`. Read in place where it
// is already C contiguous values of T: a conversion is a handful of LibTorch calls, and the
// kernels run hundreds of times per meta-iteration.
template <typename T>
std::vector<T> values(const torch::Tensor& v, int64_t channels, T fill) {
  if (!v.defined()) return std::vector<T>(static_cast<size_t>(channels), fill);
  TORCH_CHECK(v.numel() == channels, "batch norm: a per-channel vector of ", v.numel(), " values for ", channels,
              " channels");
  if (v.scalar_type() == c10::CppTypeToScalarType<T>::value && v.is_contiguous()) {
    const T* p = v.data_ptr<T>();
    return std::vector<T>(p, p + channels);
  }
  const torch::Tensor d = v.detach().to(c10::CppTypeToScalarType<T>::value).contiguous();
  const T* p = d.data_ptr<T>();
  return std::vector<T>(p, p + channels);
}

// C doubles as a [C] tensor of x's dtype.
template <typename T>
torch::Tensor channel_tensor(const std::vector<double>& v, const torch::Tensor& like) {
  auto out = at::empty({static_cast<int64_t>(v.size())}, like.options().memory_format(at::MemoryFormat::Contiguous));
  T* p = out.data_ptr<T>();
  for (size_t j = 0; j < v.size(); ++j) p[j] = static_cast<T>(v[j]);
  return out;
}

// Per-channel sums of K quantities over all of a tensor's values, in double. chunk(begin, end,
// acc, scratch) adds the quantities of outer indices [begin, end) into acc[k * C + c] (double),
// with scratch room for K * C values of T. Blocks of a fixed size (kRowsPerBlock channels-last
// rows, or one NCHW image) are summed separately and then in order, so that the result is the
// same on any number of threads.
template <typename T, int K, typename Chunk>
std::array<std::vector<double>, K> channel_sums(const Layout& l, const Chunk& chunk) {
  const int64_t c = l.channels;
  const int64_t per = l.inner == 1 ? kRowsPerBlock : 1;
  const int64_t blocks = (l.outer + per - 1) / per;
  std::vector<double> partial(static_cast<size_t>(blocks * K * c), 0.0);
  const int64_t grain = std::max<int64_t>(1, kGrainElements / (per * c * l.inner));
  at::parallel_for(0, blocks, grain, [&](int64_t begin, int64_t end) {
    std::vector<T> scratch(static_cast<size_t>(K * c));
    for (int64_t i = begin; i < end; ++i) {
      chunk(i * per, std::min(l.outer, (i + 1) * per), partial.data() + i * K * c, scratch.data());
    }
  });
  std::array<std::vector<double>, K> sums;
  for (auto& s : sums) s.assign(static_cast<size_t>(c), 0.0);
  for (int64_t i = 0; i < blocks; ++i) {
    const double* p = partial.data() + i * K * c;
    for (int k = 0; k < K; ++k) {
      for (int64_t j = 0; j < c; ++j) sums[k][j] += p[k * c + j];
    }
  }
  return sums;
}

// body(begin, end) over outer indices, on LibTorch's intra-op threads.
template <typename Body>
void for_outer(const Layout& l, const Body& body) {
  at::parallel_for(0, l.outer, std::max<int64_t>(1, kGrainElements / (l.channels * l.inner)), body);
}

template <typename T>
void affine_pass(const Layout& l, const T* v, const T* x, const std::vector<T>& a, const std::vector<T>& b,
                 const std::vector<T>& m, const std::vector<T>& g, T* out) {
  const auto& loops = bn_kernels::loops<T>();
  for_outer(l, [&](int64_t begin, int64_t end) {
    loops.affine(v, x, a.data(), b.data(), m.data(), g.data(), begin, end, l.channels, l.inner, out);
  });
}

// The batch statistics of x and the output's per-channel affine map y = alpha x + beta.
template <typename T>
struct Normalization {
  std::vector<double> mean, invstd, var;  // var: the biased batch variance
  std::vector<T> alpha, beta;
};

// From the per-channel sums Σ (x - shift), Σ (x - shift)² over m values: the statistics and
// the affine map of weight and bias.
template <typename T>
Normalization<T> normalization_of(const std::array<std::vector<double>, 2>& sums, const std::vector<T>& shift,
                                  double m, const torch::Tensor& weight, const torch::Tensor& bias, double eps) {
  const auto c = static_cast<int64_t>(shift.size());
  const auto w = values<T>(weight, c, T(1)), b = values<T>(bias, c, T(0));
  Normalization<T> n;
  n.mean.resize(static_cast<size_t>(c));
  n.invstd.resize(n.mean.size());
  n.var.resize(n.mean.size());
  n.alpha.resize(n.mean.size());
  n.beta.resize(n.mean.size());
  for (int64_t j = 0; j < c; ++j) {
    const double d = sums[0][j] / m;
    n.var[j] = std::max(0.0, sums[1][j] / m - d * d);
    n.mean[j] = static_cast<double>(shift[j]) + d;
    n.invstd[j] = 1.0 / std::sqrt(n.var[j] + eps);
    const double alpha = static_cast<double>(w[j]) * n.invstd[j];
    n.alpha[j] = static_cast<T>(alpha);
    n.beta[j] = static_cast<T>(static_cast<double>(b[j]) - n.mean[j] * alpha);
  }
  return n;
}

// Shifted data: Σ (x - s), Σ (x - s)² with s a value of the channel itself (its first), so
// that the one-pass variance does not cancel catastrophically when the mean is large.
template <typename T>
std::vector<T> shift_of(const T* xp, const Layout& l) {
  std::vector<T> shift(static_cast<size_t>(l.channels));
  for (int64_t j = 0; j < l.channels; ++j) shift[j] = xp[l.inner == 1 ? j : j * l.inner];
  return shift;
}

template <typename T>
Normalization<T> normalization(const torch::Tensor& x, const Layout& l, const torch::Tensor& weight,
                               const torch::Tensor& bias, double eps) {
  const T* xp = x.data_ptr<T>();
  const auto shift = shift_of(xp, l);
  const auto& loops = bn_kernels::loops<T>();
  const auto sums = channel_sums<T, 2>(l, [&](int64_t begin, int64_t end, double* acc, T* scratch) {
    loops.moments(xp, shift.data(), begin, end, l.channels, l.inner, acc, scratch);
  });
  return normalization_of<T>(sums, shift, static_cast<double>(l.per_channel()), weight, bias, eps);
}

// The running statistics' update from a batch's (momentum as torch::batch_norm, the variance
// unbiased).
void update_running(const std::vector<double>& mean, const std::vector<double>& var, double count,
                    const torch::Tensor& running_mean, const torch::Tensor& running_var, double momentum) {
  torch::NoGradGuard no_grad;
  if (running_mean.defined()) {
    running_mean.mul_(1 - momentum).add_(torch::tensor(mean, torch::kDouble).to(running_mean.scalar_type()), momentum);
  }
  if (running_var.defined()) {
    const auto unbiased = torch::tensor(var, torch::kDouble) * (count / (count - 1));
    running_var.mul_(1 - momentum).add_(unbiased.to(running_var.scalar_type()), momentum);
  }
}

template <typename T>
torch::Tensor combine_kernel(const std::vector<torch::Tensor>& ts, const std::vector<std::vector<T>>& coefs,
                             const std::vector<T>& bias, const Layout& l);

PoolGeometry pool_geometry(const torch::Tensor& x) {
  return {x.size(2), x.size(3), x.size(2) / 2, x.size(3) / 2, x.size(1)};
}

// Output rows of a pool, on LibTorch's intra-op threads.
template <typename Body>
void for_pooled_rows(const PoolGeometry& g, int64_t rows, const Body& body) {
  at::parallel_for(0, rows, std::max<int64_t>(1, kGrainElements / (4 * g.c)), body);
}

// body(offset) for the channels-last offset of every element outside all windows (the last row
// or column of an odd size), in memory order.
template <typename Body>
void for_leftovers(const torch::Tensor& x, const PoolGeometry& g, const Body& body) {
  for (int64_t n = 0; n < x.size(0); ++n) {
    for (int64_t h = 0; h < g.h; ++h) {
      for (int64_t w = h < 2 * g.oh ? 2 * g.ow : 0; w < g.w; ++w) body(((n * g.h + h) * g.w + w) * g.c);
    }
  }
}

// From the sums Σ v and Σ v (x - mean): Σ v x̂, and the per-channel map
// scale r P(v) = a v + b (x - mean) + g over M values per channel.
template <typename T>
struct Projection {
  std::vector<double> v_xhat;
  std::vector<T> a, b, g;
};

template <typename T>
Projection<T> projection_of(const std::array<std::vector<double>, 2>& sums, const torch::Tensor& invstd,
                            const torch::Tensor& scale, double m) {
  const auto c = static_cast<int64_t>(sums[0].size());
  const auto r = values<T>(invstd, c, T(1));
  const auto s = values<T>(scale, c, T(1));
  Projection<T> p;
  p.v_xhat.resize(sums[0].size());
  p.a.resize(sums[0].size());
  p.b.resize(sums[0].size());
  p.g.resize(sums[0].size());
  for (int64_t j = 0; j < c; ++j) {
    const double rj = r[j], sr = static_cast<double>(s[j]) * rj;
    p.v_xhat[j] = sums[1][j] * rj;
    p.a[j] = static_cast<T>(sr);
    p.b[j] = static_cast<T>(-sr * rj * p.v_xhat[j] / m);  // x̂ mean(v x̂) = (x - mean) r Σ v x̂ / M
    p.g[j] = static_cast<T>(-sr * sums[0][j] / m);
  }
  return p;
}

template <typename T>
std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> project_kernel(const torch::Tensor& v, const torch::Tensor& x,
                                                                       const Layout& l, const torch::Tensor& mean_t,
                                                                       const torch::Tensor& invstd_t,
                                                                       const torch::Tensor& scale, bool projection) {
  const int64_t c = l.channels;
  const T* vp = v.data_ptr<T>();
  const T* xp = x.data_ptr<T>();
  const auto mean = values<T>(mean_t, c, T(0));
  const auto& loops = bn_kernels::loops<T>();
  const auto sums = channel_sums<T, 2>(l, [&](int64_t begin, int64_t end, double* acc, T* scratch) {
    loops.project_sums(vp, xp, mean.data(), begin, end, c, l.inner, acc, scratch);
  });
  const auto p = projection_of<T>(sums, invstd_t, scale, static_cast<double>(l.per_channel()));
  torch::Tensor out;
  if (projection) {
    out = at::empty(x.sizes(), x.options().memory_format(l.format));
    affine_pass<T>(l, vp, xp, p.a, p.b, mean, p.g, out.data_ptr<T>());
  }
  return {out, channel_tensor<T>(p.v_xhat, x), channel_tensor<T>(sums[0], x)};
}

template <typename T>
torch::Tensor dot_kernel(const torch::Tensor& a, const torch::Tensor& b, const Layout& l) {
  const T* ap = a.data_ptr<T>();
  const T* bp = b.data_ptr<T>();
  const auto& loops = bn_kernels::loops<T>();
  const auto sums = channel_sums<T, 1>(l, [&](int64_t begin, int64_t end, double* acc, T* scratch) {
    loops.dot(ap, bp, begin, end, l.channels, l.inner, acc, scratch);
  });
  return channel_tensor<T>(sums[0], a);
}

template <typename T>
torch::Tensor combine_kernel(const std::vector<torch::Tensor>& ts, const std::vector<std::vector<T>>& coefs,
                             const std::vector<T>& bias, const Layout& l) {
  auto out = at::empty(ts[0].sizes(), ts[0].options().memory_format(l.format));
  T* op = out.data_ptr<T>();
  std::vector<const T*> tp, cp;
  for (const auto& t : ts) tp.push_back(t.data_ptr<T>());
  for (const auto& cf : coefs) cp.push_back(cf.data());
  const auto& loops = bn_kernels::loops<T>();
  for_outer(l, [&](int64_t begin, int64_t end) {
    loops.combine(tp.data(), cp.data(), static_cast<int>(tp.size()), bias.data(), begin, end, l.channels, l.inner, op);
  });
  return out;
}

}  // namespace

torch::Tensor per_channel(const torch::Tensor& v, const torch::Tensor& x) {
  std::vector<int64_t> shape(static_cast<size_t>(x.dim()), 1);
  shape[1] = v.size(0);
  return v.view(shape);
}

std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> forward(const torch::Tensor& x, const torch::Tensor& weight,
                                                                const torch::Tensor& bias,
                                                                const torch::Tensor& running_mean,
                                                                const torch::Tensor& running_var, double momentum,
                                                                double eps) {
  const auto l = fast_layout(x, {&weight, &bias});
  if (!l) return at::native_batch_norm(x, weight, bias, running_mean, running_var, /*training=*/true, momentum, eps);
  std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> out;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "batch_norm_forward", [&] {
    const auto n = normalization<scalar_t>(x, *l, weight, bias, eps);
    update_running(n.mean, n.var, static_cast<double>(l->per_channel()), running_mean, running_var, momentum);
    out = {combine_kernel<scalar_t>({x}, {n.alpha}, n.beta, *l), channel_tensor<scalar_t>(n.mean, x),
           channel_tensor<scalar_t>(n.invstd, x)};
  });
  return out;
}

bool fused_max_pool_runs(const torch::Tensor& x) {
  const auto l = fast_layout(x, {});
  return l && x.dim() == 4 && l->inner == 1 && x.size(2) >= 2 && x.size(3) >= 2;
}

std::tuple<torch::Tensor, torch::Tensor, torch::Tensor, torch::Tensor, torch::Tensor> forward_max_pool_relu(
    const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias, const torch::Tensor& running_mean,
    const torch::Tensor& running_var, double momentum, double eps) {
  TORCH_CHECK(fused_max_pool_runs(x), "batch norm + max-pool + relu: no fused kernel for this input");
  const auto l = *fast_layout(x, {&weight, &bias});
  const auto g = pool_geometry(x);
  const auto fmt = at::MemoryFormat::ChannelsLast;
  auto pooled = at::empty({x.size(0), g.c, g.oh, g.ow}, x.options().memory_format(fmt));
  auto chosen = at::empty(pooled.sizes(), pooled.options().memory_format(fmt));
  auto choice = at::empty(pooled.sizes(), pooled.options().dtype(torch::kUInt8).memory_format(fmt));
  torch::Tensor mean, invstd;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "batch_norm_max_pool_relu_forward", [&] {
    using T = scalar_t;
    const auto& loops = bn_kernels::loops<T>();
    const T* xp = x.data_ptr<T>();
    T* xcp = chosen.data_ptr<T>();
    uint8_t* kp = choice.data_ptr<uint8_t>();
    const int64_t c = g.c, rows = x.size(0) * g.oh * g.ow;
    // One pass over x: the moments, and each window's element. The normalisation's scale
    // w invstd has the sign of w (invstd > 0), so the windows can be ordered before the
    // statistics are known; NaN stays NaN.
    const auto shift = shift_of(xp, l);
    std::vector<T> sign(static_cast<size_t>(c));
    const auto w = values<T>(weight, c, T(1));
    for (int64_t j = 0; j < c; ++j) sign[j] = w[j] > T(0) ? T(1) : w[j] < T(0) ? T(-1) : w[j] * T(0);
    const Layout pooled_rows{rows, c, 1, fmt};
    auto sums = channel_sums<T, 2>(pooled_rows, [&](int64_t begin, int64_t end, double* acc, T* scratch) {
      loops.pool_moments(xp, shift.data(), sign.data(), g, begin, end, acc, scratch, xcp, kp);
    });
    // A last row or column outside every window (odd sizes) counts in the statistics.
    std::vector<double> left(static_cast<size_t>(2 * c), 0.0);
    std::vector<T> scratch(static_cast<size_t>(2 * c));
    for_leftovers(x, g, [&](int64_t offset) {
      loops.moments(xp + offset, shift.data(), 0, 1, c, 1, left.data(), scratch.data());
    });
    for (int64_t j = 0; j < c; ++j) {
      sums[0][j] += left[j];
      sums[1][j] += left[c + j];
    }
    const auto n = normalization_of<T>(sums, shift, static_cast<double>(l.per_channel()), weight, bias, eps);
    update_running(n.mean, n.var, static_cast<double>(l.per_channel()), running_mean, running_var, momentum);
    T* op = pooled.data_ptr<T>();
    for_pooled_rows(g, rows, [&](int64_t begin, int64_t end) {
      loops.pooled_output(xcp, n.alpha.data(), n.beta.data(), begin, end, c, op, kp);
    });
    mean = channel_tensor<T>(n.mean, x);
    invstd = channel_tensor<T>(n.invstd, x);
  });
  return {pooled, choice, chosen, mean, invstd};
}

std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> project_pooled(const torch::Tensor& gp_in,
                                                                       const torch::Tensor& choice,
                                                                       const torch::Tensor& chosen,
                                                                       const torch::Tensor& x, const torch::Tensor& mean_t,
                                                                       const torch::Tensor& invstd_t,
                                                                       const torch::Tensor& scale) {
  TORCH_CHECK(fused_max_pool_runs(x) && !torch::GradMode::is_enabled(),
              "batch norm + max-pool + relu: no fused backward here");
  const auto l = *fast_layout(x, {&gp_in, &chosen, &mean_t, &invstd_t, &scale});
  const auto g = pool_geometry(x);
  const auto gp = gp_in.contiguous(at::MemoryFormat::ChannelsLast);
  TORCH_CHECK(gp.sizes() == choice.sizes() && choice.is_contiguous(at::MemoryFormat::ChannelsLast) &&
                  chosen.sizes() == choice.sizes() && chosen.is_contiguous(at::MemoryFormat::ChannelsLast),
              "batch norm + max-pool + relu: output gradient ", gp.sizes(), " against choices ", choice.sizes(),
              " and chosen values ", chosen.sizes());
  const int64_t rows = x.size(0) * g.oh * g.ow, c = g.c;
  std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> out;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "batch_norm_max_pool_backward", [&] {
    using T = scalar_t;
    const auto& loops = bn_kernels::loops<T>();
    const T* gpp = gp.data_ptr<T>();
    const T* xp = x.data_ptr<T>();
    const T* xcp = chosen.data_ptr<T>();
    const uint8_t* kp = choice.data_ptr<uint8_t>();
    const auto mean = values<T>(mean_t, c, T(0));
    // The sums run over the pooled outputs only (the gradient is zero at the other 3 of 4), on
    // the chosen values the forward kept.
    const Layout pooled_rows{rows, c, 1, at::MemoryFormat::ChannelsLast};
    const auto sums = channel_sums<T, 2>(pooled_rows, [&](int64_t begin, int64_t end, double* acc, T* scratch) {
      loops.pooled_sums(gpp, kp, xcp, mean.data(), begin, end, c, acc, scratch);
    });
    const auto p = projection_of<T>(sums, invstd_t, scale, static_cast<double>(l.per_channel()));
    const auto &a = p.a, &b = p.b, &g0 = p.g;
    const std::vector<T> zero(a.size(), T(0));
    auto gx = at::empty(x.sizes(), x.options().memory_format(at::MemoryFormat::ChannelsLast));
    T* gxp = gx.data_ptr<T>();
    for_pooled_rows(g, rows, [&](int64_t begin, int64_t end) {
      loops.pooled_affine(gpp, kp, xp, a.data(), b.data(), mean.data(), g0.data(), g, begin, end, gxp);
    });
    // A last row or column outside every window (odd sizes): its gradient in is zero.
    for_leftovers(x, g, [&](int64_t offset) {
      loops.affine(zero.data(), xp + offset, a.data(), b.data(), mean.data(), g0.data(), 0, 1, c, 1, gxp + offset);
    });
    out = {gx, channel_tensor<T>(p.v_xhat, x), channel_tensor<T>(sums[0], x)};
  });
  return out;
}

std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> project(const torch::Tensor& v, const torch::Tensor& x,
                                                                const torch::Tensor& mean, const torch::Tensor& invstd,
                                                                const torch::Tensor& scale, bool projection) {
  const auto l = fast_layout(x, {&v, &mean, &invstd, &scale});
  if (!l) {
    // An explicit weight: the CPU kernel accepts an undefined one, the CUDA one does not (it
    // sizes the weight gradient from the weight).
    const auto w = scale.defined() ? scale : torch::ones_like(mean);
    return at::native_batch_norm_backward(v, x, w, /*running_mean=*/{}, /*running_var=*/{}, mean, invstd,
                                          /*train=*/true, /*eps=*/0.0, {projection, true, true});
  }
  const auto vl = in_layout(v, x, *l);
  std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> out;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "batch_norm_project", [&] {
    out = project_kernel<scalar_t>(vl, x, *l, mean, invstd, scale, projection);
  });
  return out;
}

torch::Tensor channel_dot(const torch::Tensor& a, const torch::Tensor& b) {
  const auto l = fast_layout(a, {&b});
  if (!l) {
    std::vector<int64_t> dims = {0};
    for (int64_t d = 2; d < a.dim(); ++d) dims.push_back(d);
    return (a * b).sum(dims);
  }
  const auto bl = in_layout(b, a, *l);
  torch::Tensor out;
  AT_DISPATCH_FLOATING_TYPES(a.scalar_type(), "batch_norm_channel_dot", [&] { out = dot_kernel<scalar_t>(a, bl, *l); });
  return out;
}

torch::Tensor combine(const std::vector<std::pair<torch::Tensor, torch::Tensor>>& terms, const torch::Tensor& bias) {
  TORCH_CHECK(!terms.empty(), "batch norm: combine needs at least one term");
  const auto& first = terms[0].first;
  std::vector<const torch::Tensor*> all = {&bias};
  for (const auto& [t, coef] : terms) {
    all.push_back(&t);
    all.push_back(&coef);
  }
  const auto l = fast_layout(first, all);
  if (!l) {
    auto out = terms[0].first * per_channel(terms[0].second, first);
    for (size_t k = 1; k < terms.size(); ++k) out = out + terms[k].first * per_channel(terms[k].second, first);
    return bias.defined() ? out + per_channel(bias, first) : out;
  }
  torch::Tensor out;
  AT_DISPATCH_FLOATING_TYPES(first.scalar_type(), "batch_norm_combine", [&] {
    std::vector<torch::Tensor> ts;
    std::vector<std::vector<scalar_t>> coefs;
    for (const auto& [t, coef] : terms) {
      ts.push_back(in_layout(t, first, *l));
      coefs.push_back(values<scalar_t>(coef, l->channels, scalar_t(0)));
    }
    out = combine_kernel<scalar_t>(ts, coefs, values<scalar_t>(bias, l->channels, scalar_t(0)), *l);
  });
  return out;
}

}  // namespace backbones::bn_kernels
