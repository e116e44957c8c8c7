#include "acdc/winograd.h"

#include "acdc/winograd_kernels.h"
#include "host/cpu.h"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace acdc {
namespace {

WinogradUse use_from_environment() {
  const char* value = std::getenv("ACDC_META_WINOGRAD");
  if (value == nullptr || *value == '\0') return WinogradUse::kAuto;
  try {
    return parse_winograd_use(value);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(std::string("environment variable ACDC_META_WINOGRAD: ") + e.what());
  }
}

std::atomic<WinogradUse>& use_setting() {
  static std::atomic<WinogradUse> use{use_from_environment()};
  return use;
}

bool kernels_available() {
#ifdef ACDC_META_WINOGRAD_KERNELS
  return host::cpu_has_avx2_fma();
#else
  return false;
#endif
}

// A build forced by force_winograd_build (tests), as WinogradBuild + 1; 0: none.
std::atomic<int>& forced_build() {
  static std::atomic<int> build{0};
  return build;
}

int64_t register_bytes(WinogradBuild build) { return build == WinogradBuild::kAvx2 ? 32 : 64; }

// Whether `build` runs here and two of its registers divide both channel counts of `dtype`.
bool build_fits(WinogradBuild build, at::ScalarType dtype, int64_t c, int64_t k) {
  if (dtype != at::kFloat && dtype != at::kDouble) return false;
  const int64_t two_registers = 2 * register_bytes(build) / (dtype == at::kFloat ? 4 : 8);
  return winograd_build_runs_here(build) && c % two_registers == 0 && k % two_registers == 0;
}

// The choices `auto` can make on an AVX-512 CPU (WinogradMeasurement::winners), by index.
constexpr int kChoices = 4;
const std::vector<WinogradBuild>& choice(int index) {
  static const std::vector<WinogradBuild> choices[kChoices] = {
      {}, {WinogradBuild::kAvx512}, {WinogradBuild::kAvx2}, {WinogradBuild::kAvx512, WinogradBuild::kAvx2}};
  return choices[index];
}

// The index of `builds` among the choices, or -1.
int index_of(const std::vector<WinogradBuild>& builds) {
  for (int i = 0; i < kChoices; ++i) {
    if (choice(i) == builds) return i;
  }
  return -1;
}

// How a run records a choice: "AVX-512,AVX2", "AVX-512", "AVX2", "none".
std::string choice_text(const std::vector<WinogradBuild>& builds) {
  std::string text;
  for (const auto build : builds) text += (text.empty() ? "" : ",") + to_string(build);
  return text.empty() ? "none" : text;
}

// What `auto` runs on an AVX-512 CPU: -1 until chosen, then the choice's index, plus kChoices
// where pinned (pin_winograd_auto_choice) rather than measured.
std::atomic<int>& auto_state() {
  static std::atomic<int> state{-1};
  return state;
}

// auto_state, chosen by the measurement on first use unless pinned.
int auto_choice_state() {
  int state = auto_state().load();
  if (state >= 0) return state;
  const int measured = index_of(winograd_measurement().winners());
  return auto_state().compare_exchange_strong(state, measured) ? measured : state;  // else pinned meanwhile
}

// The build a convolution between c and k channels of `dtype` runs on, if any: `only` where
// given (the measurement's), else a forced one, else under `auto` on an AVX-512 CPU the first of
// the chosen builds (the measurement's winners, or a pinned choice) that fits, else AVX-512 where
// it fits, else AVX2.
std::optional<WinogradBuild> build_for(at::ScalarType dtype, int64_t c, int64_t k,
                                       std::optional<WinogradBuild> only = std::nullopt) {
  if (const int forced = forced_build().load(); !only && forced != 0) only = static_cast<WinogradBuild>(forced - 1);
  if (only) return build_fits(*only, dtype, c, k) ? only : std::nullopt;
  const auto first_fitting = [&](const auto& builds) -> std::optional<WinogradBuild> {
    for (const auto build : builds) {
      if (build_fits(build, dtype, c, k)) return build;
    }
    return std::nullopt;
  };
  if (winograd_use() == WinogradUse::kAuto && winograd_build_runs_here(WinogradBuild::kAvx512)) {
    return first_fitting(choice(auto_choice_state() % kChoices));
  }
  return first_fitting(std::initializer_list<WinogradBuild>{WinogradBuild::kAvx512, WinogradBuild::kAvx2});
}

#ifdef ACDC_META_WINOGRAD_KERNELS
// Each build's table is made on first use, which build_for allows only on a CPU that runs it (the
// AVX-512 file's code may use AVX-512 instructions anywhere, even to fill the table).
const winograd::KernelSet& kernel_set(WinogradBuild build) {
  switch (build) {
    case WinogradBuild::kAvx2: {
      static const auto set = winograd::avx2::kernel_set();
      return set;
    }
    case WinogradBuild::kAvx512: {
      static const auto set = winograd::avx512::kernel_set();
      return set;
    }
    case WinogradBuild::kWideOnAvx2:
      break;
  }
  static const auto set = winograd::wide_on_avx2::kernel_set();
  return set;
}
#endif

// The loops for a convolution between c and k channels of T (on `only`, build_for); throws where
// none runs here.
template <class T>
const winograd::Kernels<T>& kernels_for(int64_t c, int64_t k, std::optional<WinogradBuild> only) {
  const auto build = build_for(c10::CppTypeToScalarType<T>::value, c, k, only);
  if (!build) {
    throw std::invalid_argument("Winograd kernels: no build runs " + std::to_string(c) + " -> " + std::to_string(k) +
                                " channels on this CPU (" + winograd_status() + ")");
  }
#ifdef ACDC_META_WINOGRAD_KERNELS
  return kernel_set(*build).template of<T>();
#else
  throw std::logic_error("Winograd kernels: not built");
#endif
}

// Below these the transforms cost more than they save. Measured on the AMD EPYC of winograd.h
// with 64 channels (oneDNN / Winograd, forward, input and weight gradient, ms): 5 maps of 4 x 4
// 0.099/0.117, 0.082/0.059, 0.185/0.128; 5 of 7 x 7 0.291/0.223, 0.218/0.162, 0.302/0.270; 75 of
// 3 x 3 (a tile of 4 outputs per 2.25 of the map) 0.543/0.606, 0.438/0.544, 0.932/0.714.
constexpr int64_t kMinTiles = 16;
constexpr int64_t kMinSide = 4;

// Weight-gradient tiles per partial sum: a fixed split, so that the sum's order (and the bits of
// the result) do not depend on the thread count.
constexpr int64_t kWeightGradChunk = 1152;

winograd::MapShape shape_of(const torch::Tensor& map, int64_t in_channels, int64_t out_channels) {
  return {map.size(0), map.size(2), map.size(3), in_channels, out_channels};
}

}  // namespace

WinogradUse parse_winograd_use(const std::string& name) {
  if (name == "auto") return WinogradUse::kAuto;
  if (name == "on") return WinogradUse::kAlways;
  if (name == "off") return WinogradUse::kNever;
  throw std::invalid_argument("Winograd use '" + name + "' is not one of auto, on, off");
}

bool winograd_build_runs_here(WinogradBuild build) {
  if (!kernels_available()) return false;
  return build != WinogradBuild::kAvx512 || host::cpu_has_avx512();
}

std::string to_string(WinogradBuild build) {
  switch (build) {
    case WinogradBuild::kAvx2:
      return "AVX2";
    case WinogradBuild::kAvx512:
      return "AVX-512";
    case WinogradBuild::kWideOnAvx2:
      break;
  }
  return "AVX-512 loops on AVX2";
}

void force_winograd_build(std::optional<WinogradBuild> build) {
  forced_build().store(build ? static_cast<int>(*build) + 1 : 0);
}

WinogradUse winograd_use() { return use_setting().load(); }
void set_winograd_use(WinogradUse use) { use_setting().store(use); }

std::string winograd_status() {
  if (!kernels_available()) return "unavailable (no AVX2 + FMA)";
  switch (winograd_use()) {
    case WinogradUse::kNever:
      return "off";
    case WinogradUse::kAlways:
      return host::cpu_has_avx512() ? "on (AVX-512; AVX2 where the channels are not multiples of 32 floats)"
                                    : "on (AVX2 + FMA)";
    case WinogradUse::kAuto:
      break;
  }
  if (!host::cpu_has_avx512()) return "auto: on (AVX2 + FMA, no AVX-512)";
  const int state = auto_choice_state();
  std::string found = "pinned: the choice of the run resumed";
  if (state < kChoices) {
    const auto& measured = winograd_measurement();
    auto ratio = [](const WinogradTiming& t) {
      char text[64];
      std::snprintf(text, sizeof text, "%s build %.2fx", t.build.c_str(), t.winograd_ms / t.onednn_ms);
      return std::string(text);
    };
    found = "measured here against oneDNN's time: " + ratio(measured.avx512) + ", " + ratio(measured.avx2);
  }
  const auto& builds = choice(state % kChoices);
  if (builds.empty()) return "auto: off (oneDNN; " + found + ")";
  std::string runs = "auto: on (";
  for (size_t i = 0; i < builds.size(); ++i) {
    runs += std::string(i == 0 ? "the " : ", else the ") + to_string(builds[i]) +
            " build where the channels are multiples of " + std::to_string(2 * register_bytes(builds[i]) / 4) +
            " floats";
  }
  return runs + ", else oneDNN; " + found + ")";
}

std::string winograd_auto_choice() {
  const int state = auto_state().load();
  return state < 0 || winograd_use() != WinogradUse::kAuto ? "" : choice_text(choice(state % kChoices));
}

std::vector<WinogradBuild> parse_winograd_auto_choice(const std::string& text) {
  for (int i = 0; i < kChoices; ++i) {
    if (text == choice_text(choice(i))) return choice(i);
  }
  throw std::invalid_argument("Winograd choice '" + text + "' is not one of none, AVX-512, AVX2, AVX-512,AVX2");
}

bool pin_winograd_auto_choice(const std::vector<WinogradBuild>& builds) {
  const int index = index_of(builds);
  if (index < 0) throw std::invalid_argument("Winograd: no such choice of builds for auto");
  if (!winograd_build_runs_here(WinogradBuild::kAvx512)) return true;
  int state = -1;
  return auto_state().compare_exchange_strong(state, index + kChoices) || state % kChoices == index;
}

bool winograd_runs(const torch::Tensor& x, const torch::Tensor& w, at::IntArrayRef stride, at::IntArrayRef padding,
                   at::IntArrayRef dilation, int64_t groups, const torch::Tensor& other) {
  const auto use = winograd_use();
  if (use == WinogradUse::kNever || !kernels_available()) return false;
  auto one = [](at::IntArrayRef v, int64_t value) { return v.size() == 2 && v[0] == value && v[1] == value; };
  if (groups != 1 || !one(stride, 1) || !one(padding, 1) || !one(dilation, 1)) return false;
  if (!x.device().is_cpu() || x.dim() != 4 || w.dim() != 4 || w.size(2) != 3 || w.size(3) != 3) return false;
  const auto dtype = x.scalar_type();
  if (w.scalar_type() != dtype || !w.device().is_cpu()) return false;
  if (!x.is_contiguous(at::MemoryFormat::ChannelsLast)) return false;
  if (other.defined() &&
      (other.scalar_type() != dtype || !other.device().is_cpu() || !other.is_contiguous(at::MemoryFormat::ChannelsLast) ||
       other.sizes() != at::IntArrayRef{x.size(0), w.size(0), x.size(2), x.size(3)})) {
    return false;
  }
  if (x.size(1) != w.size(1)) return false;
  const auto build = build_for(dtype, w.size(1), w.size(0));
  if (!build) return false;
  // The kernels record no graph: where one is being recorded, the caller's ATen ops do it.
  if (at::GradMode::is_enabled() &&
      (x.requires_grad() || w.requires_grad() || (other.defined() && other.requires_grad()))) {
    return false;
  }
  if (use == WinogradUse::kAuto) {
    const auto shape = shape_of(x, w.size(1), w.size(0));
    if (std::min(shape.h, shape.w) < kMinSide || shape.tiles() < kMinTiles) return false;
    // On an AVX-512 CPU (where oneDNN's direct kernels are AVX-512 too) build_for chose among the
    // builds that beat oneDNN in this process's measurement.
  }
  return true;
}

namespace {

template <class T>
torch::Tensor conv_by_tiles(const torch::Tensor& x, const winograd::KernelView<T>& kernel, int64_t in_channels,
                            int64_t out_channels, std::optional<WinogradBuild> only) {
  const auto shape = shape_of(x, in_channels, out_channels);
  const auto& kernels = kernels_for<T>(in_channels, out_channels, only);
  // LibTorch's CPU allocator aligns to 64 bytes (one register of the AVX-512 build, a cache line).
  const auto u = at::empty({16 * in_channels * out_channels}, x.options());  // every element written
  kernels.transform_weight(kernel, in_channels, out_channels, u.data_ptr<T>());
  auto y = at::empty({shape.n, out_channels, shape.h, shape.w}, x.options(), at::MemoryFormat::ChannelsLast);
  const T* xp = x.data_ptr<T>();
  T* yp = y.data_ptr<T>();
  at::parallel_for(0, shape.tiles(), /*grain_size=*/72, [&](int64_t begin, int64_t end) {
    kernels.forward_tiles(xp, u.data_ptr<T>(), shape, begin, end, yp);
  });
  return y;
}

template <class T>
torch::Tensor weight_grad_by_tiles(const torch::Tensor& gy, const torch::Tensor& x, const torch::Tensor& w,
                                   std::optional<WinogradBuild> only) {
  const int64_t out_channels = w.size(0), in_channels = w.size(1);
  const auto shape = shape_of(x, in_channels, out_channels);
  const auto& kernels = kernels_for<T>(in_channels, out_channels, only);
  const int64_t plane = 16 * in_channels * out_channels;
  const int64_t chunks = (shape.tiles() + kWeightGradChunk - 1) / kWeightGradChunk;
  const auto du_tensor = at::zeros({chunks * plane}, x.options());  // 64-byte aligned, as u above
  T* du = du_tensor.data_ptr<T>();
  const T* xp = x.data_ptr<T>();
  const T* gp = gy.data_ptr<T>();
  at::parallel_for(0, chunks, /*grain_size=*/1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      kernels.weight_grad_tiles(xp, gp, shape, i * kWeightGradChunk,
                                std::min(shape.tiles(), (i + 1) * kWeightGradChunk), du + i * plane);
    }
  });
  // The partial sums added in chunk order, one elementwise add each (so the bits are those of a
  // plain loop, whatever LibTorch's vector width).
  const auto total = du_tensor.narrow(0, 0, plane);
  for (int64_t i = 1; i < chunks; ++i) total.add_(du_tensor.narrow(0, i * plane, plane));
  auto gw = at::empty(w.sizes(), w.options(), w.suggest_memory_format());
  kernels.weight_grad_from_transformed(du, in_channels, out_channels, gw.data_ptr<T>(), gw.stride(0), gw.stride(1),
                                       gw.stride(2), gw.stride(3));
  return gw;
}

// The three operations on build `only` where given, else on the build of build_for.
torch::Tensor conv_on(const torch::Tensor& x, const torch::Tensor& w, std::optional<WinogradBuild> only) {
  return AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "winograd_conv", [&] {
    // kernel (c, k) of a convolution from C to K channels: w[k, c], laid out [C, 3, 3, K] (a copy
    // of 9 C K values) so that its transform runs along the contiguous K.
    const auto wt = w.permute({1, 2, 3, 0}).contiguous();
    const winograd::KernelView<scalar_t> kernel{wt.data_ptr<scalar_t>(), wt.stride(0), wt.stride(1), wt.stride(2)};
    return conv_by_tiles<scalar_t>(x, kernel, w.size(1), w.size(0), only);
  });
}

torch::Tensor input_grad_on(const torch::Tensor& gy, const torch::Tensor& w, std::optional<WinogradBuild> only) {
  return AT_DISPATCH_FLOATING_TYPES(gy.scalar_type(), "winograd_input_grad", [&] {
    // A convolution from K to C channels with kernel (k, c) = w[k, c] turned by 180 degrees, laid out
    // [K, 3, 3, C] (no copy for a channels-last w) so that its transform runs along the contiguous C.
    const auto wt = w.permute({0, 2, 3, 1}).contiguous();
    const winograd::KernelView<scalar_t> kernel{wt.data_ptr<scalar_t>() + 2 * wt.stride(1) + 2 * wt.stride(2),
                                                wt.stride(0), -wt.stride(1), -wt.stride(2)};
    return conv_by_tiles<scalar_t>(gy, kernel, w.size(0), w.size(1), only);
  });
}

torch::Tensor weight_grad_on(const torch::Tensor& gy, const torch::Tensor& x, const torch::Tensor& w,
                             std::optional<WinogradBuild> only) {
  return AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "winograd_weight_grad",
                                    [&] { return weight_grad_by_tiles<scalar_t>(gy, x, w, only); });
}

}  // namespace

torch::Tensor winograd_conv(const torch::Tensor& x, const torch::Tensor& w) { return conv_on(x, w, std::nullopt); }

torch::Tensor winograd_input_grad(const torch::Tensor& gy, const torch::Tensor& w) {
  return input_grad_on(gy, w, std::nullopt);
}

torch::Tensor winograd_weight_grad(const torch::Tensor& gy, const torch::Tensor& x, const torch::Tensor& w) {
  return weight_grad_on(gy, x, w, std::nullopt);
}

WinogradTiming time_winograd_against_onednn(WinogradBuild build) {
  constexpr int64_t kChannels = 64;
  if (!build_fits(build, at::kFloat, kChannels, kChannels)) {
    throw std::invalid_argument(std::string("Winograd kernels: the ") + to_string(build) + " build does not run here");
  }
  at::NoGradGuard no_grad;
  // Constant operands: no draw from the process's generator (which would shift every later draw),
  // and the values of neither path change its time (none denormal).
  auto constant = [](at::IntArrayRef sizes, double value) {
    return at::full(sizes, value, at::kFloat).contiguous(at::MemoryFormat::ChannelsLast);
  };
  const auto x = constant({25, kChannels, 14, 14}, 0.5);
  const auto gy = constant({25, kChannels, 14, 14}, 0.25);
  const auto w = constant({kChannels, kChannels, 3, 3}, 0.125);
  auto seconds = [](auto&& work) {
    const auto t0 = std::chrono::steady_clock::now();
    work();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  auto winograd = [&] {
    conv_on(x, w, build);
    input_grad_on(gy, w, build);
    weight_grad_on(gy, x, w, build);
  };
  auto onednn = [&] {
    at::convolution(x, w, /*bias=*/{}, {1, 1}, {1, 1}, {1, 1}, /*transposed=*/false, /*output_padding=*/{0, 0}, 1);
    at::convolution_backward(gy, x, w, /*bias_sizes=*/c10::nullopt, {1, 1}, {1, 1}, {1, 1}, /*transposed=*/false,
                             /*output_padding=*/{0, 0}, 1, {true, true, false});
  };
  winograd();  // first calls: the kernel tables, oneDNN's primitives, the allocator's blocks
  onednn();
  WinogradTiming t;
  t.build = to_string(build);
  t.winograd_ms = t.onednn_ms = std::numeric_limits<double>::infinity();
  for (int round = 0; round < 4; ++round) {
    t.winograd_ms = std::min(t.winograd_ms, 1e3 * seconds(winograd));
    t.onednn_ms = std::min(t.onednn_ms, 1e3 * seconds(onednn));
  }
  return t;
}

std::vector<WinogradBuild> WinogradMeasurement::winners() const {
  const auto ratio = [](const WinogradTiming& t) { return t.winograd_ms / t.onednn_ms; };
  std::vector<WinogradBuild> builds;
  // The AVX2 build runs wherever the AVX-512 build would, so behind it the AVX-512 build never runs.
  if (avx512.winograd_faster() && ratio(avx512) <= ratio(avx2)) builds.push_back(WinogradBuild::kAvx512);
  if (avx2.winograd_faster()) builds.push_back(WinogradBuild::kAvx2);
  return builds;
}

const WinogradMeasurement& winograd_measurement() {
  if (!winograd_build_runs_here(WinogradBuild::kAvx512)) {
    throw std::logic_error("Winograd: auto measures only on AVX-512 CPUs (it decides by rule elsewhere)");
  }
  static const WinogradMeasurement measured{time_winograd_against_onednn(WinogradBuild::kAvx512),
                                            time_winograd_against_onednn(WinogradBuild::kAvx2)};
  return measured;
}

}  // namespace acdc
