#pragma once
// 3x3 convolutions (stride 1, padding 1, no dilation or groups) by Winograd F(2x2, 3x3) on the
// CPU: the forward, the input gradient and the weight gradient, for conv_autograd.cpp's Conv and
// its double backward. 2.25x fewer multiply-adds than a direct convolution; measured against
// oneDNN's AVX2 kernels on a 2-core AMD EPYC (Zen, AVX2, no AVX-512) with 75 channels-last
// 64-channel maps of 14 x 14: forward 6.5 ms against 13.4, both gradients 14.8 against 28.4.
// The results equal the direct convolution's up to rounding (the transforms add and halve).
//
// Where it runs (winograd_runs): float or double CPU tensors, maps channels-last, channel
// counts multiples of 16 (float) or 8 (double), a CPU with AVX2 + FMA (with AVX-512 the AVX-512
// build of the same loops where the channels are multiples of 32 / 16), and no gradient to
// record through the call (the double backward records through oneDNN's ops where a third
// derivative is asked for). With the default use (`auto`) also not on maps smaller than 4 x 4 (a
// 3 x 3 map wastes 7 of every 16 outputs) or of fewer than 16 tiles, and on AVX-512 CPUs, where
// oneDNN's direct kernels are AVX-512 too, only on the builds that beat oneDNN in a measurement
// this process takes the first time it asks (winograd_measurement: both builds, about 0.15 s),
// the fastest of them first. A model predicted that the AVX-512 build would (llvm-mca puts its
// product loop at 7.1 cycles per 12 multiply-adds of 16 floats on skylake-avx512 and
// icelake-server, against 6.1 cycles per 12 of 8 floats for the AVX2 build on skylake: 1.7x the
// work per cycle, where oneDNN gains at most 2x from AVX-512), but no AVX-512 CPU has been at hand
// to confirm it, so each one decides by its own clock.
//
// ACDC_META_WINOGRAD=auto|on|off sets the default use (on: wherever the kernels can run; off:
// oneDNN everywhere), e.g. to compare the two in `acdc-meta bench`.

#include <torch/types.h>

#include <optional>
#include <string>
#include <vector>

namespace acdc {

enum class WinogradUse { kAuto, kAlways, kNever };
WinogradUse winograd_use();
void set_winograd_use(WinogradUse use);  // for tests and benchmarks; the process-wide default
WinogradUse parse_winograd_use(const std::string& name);  // auto|on|off; throws naming the value
// One line for reports: the use and where it applies on this CPU, e.g. "auto: on (AVX2 + FMA, no
// AVX-512)", "off", "on (AVX2 + FMA)", "unavailable (no AVX2 + FMA)"; on an AVX-512 CPU under
// `auto` with the measurement, e.g. "auto: on (the AVX-512 build where the channels are multiples
// of 32 floats, else the AVX2 build where the channels are multiples of 16 floats, else oneDNN;
// measured here against oneDNN's time: AVX-512 build 0.61x, AVX2 build 0.85x)"; with a pinned
// choice (pin_winograd_auto_choice) "...; pinned: the choice of the run resumed)".
std::string winograd_status();

// The builds of the kernels (acdc/winograd_kernels.h): AVX2 registers (8 floats) and AVX-512 ones
// (16 floats). A call runs the widest this CPU has whose two registers divide both channel counts.
enum class WinogradBuild { kAvx2, kAvx512, kWideOnAvx2 };
bool winograd_build_runs_here(WinogradBuild build);
std::string to_string(WinogradBuild build);  // "AVX2", "AVX-512", "AVX-512 loops on AVX2"
// For tests: every call runs on `build` (kWideOnAvx2: the AVX-512 source built for AVX2, so that
// its wider loops are checked on CPUs without AVX-512) where its registers divide the channel
// counts, and on oneDNN elsewhere; std::nullopt restores the choice by CPU.
void force_winograd_build(std::optional<WinogradBuild> build);

// The forward and both gradients of a 3 x 3 convolution from 64 to 64 channels on 25 channels-last
// float maps of 14 x 14 (the second layer of Conv4-64 on 28 x 28 images), in milliseconds, on
// `build` and on oneDNN: the fastest of 4 alternated rounds each. Throws std::invalid_argument
// where the build does not run here.
struct WinogradTiming {
  std::string build;  // to_string of the build
  double winograd_ms = 0;
  double onednn_ms = 0;
  bool winograd_faster() const { return winograd_ms < onednn_ms; }
};
WinogradTiming time_winograd_against_onednn(WinogradBuild build);
// What `auto` decides by on an AVX-512 CPU, taken once per process on first use: the AVX-512 and
// the AVX2 build each timed against oneDNN (time_winograd_against_onednn). Throws
// std::logic_error on CPUs without AVX-512, where `auto` decides by rule.
struct WinogradMeasurement {
  WinogradTiming avx512;
  WinogradTiming avx2;
  // The builds `auto` runs, in order of preference: those that beat oneDNN, by their time against
  // oneDNN's, except the AVX-512 build behind the AVX2 one (which runs wherever it would); none:
  // oneDNN everywhere.
  std::vector<WinogradBuild> winners() const;
};
const WinogradMeasurement& winograd_measurement();

// What `auto` chose in this process on an AVX-512 CPU, as text a run records so that its resume
// computes alike (the measurement could come out otherwise in another process where two paths
// time close): the builds in order of preference, "AVX-512,AVX2", "AVX-512", "AVX2", or "none"
// (oneDNN everywhere); "" where it chose nothing (CPUs without AVX-512, `on`, `off`, no CPU
// convolution yet).
std::string winograd_auto_choice();
// The builds of such a text; throws std::invalid_argument naming a text that is none of them.
std::vector<WinogradBuild> parse_winograd_auto_choice(const std::string& text);
// Makes `auto` on an AVX-512 CPU run `builds` in this process instead of measuring (a resumed
// run: the choice of the run it continues). Returns false, changing nothing, where this process
// has already chosen other builds; true otherwise (on CPUs without AVX-512 it does nothing).
bool pin_winograd_auto_choice(const std::vector<WinogradBuild>& builds);

// Whether a convolution from x's channels by w [K, C, 3, 3] runs on the Winograd kernels here;
// `other` is the call's remaining operand (an output gradient), checked alike.
bool winograd_runs(const torch::Tensor& x, const torch::Tensor& w, at::IntArrayRef stride, at::IntArrayRef padding,
                   at::IntArrayRef dilation, int64_t groups, const torch::Tensor& other = {});

// conv2d(x, w, padding 1): y [N, K, H, W] channels-last.
torch::Tensor winograd_conv(const torch::Tensor& x, const torch::Tensor& w);
// The input gradient of conv2d(x, w, padding 1) given gy [N, K, H, W]: [N, C, H, W] channels-last.
torch::Tensor winograd_input_grad(const torch::Tensor& gy, const torch::Tensor& w);
// The weight gradient given gy and x: w's shape, in w's memory format.
torch::Tensor winograd_weight_grad(const torch::Tensor& gy, const torch::Tensor& x, const torch::Tensor& w);

}  // namespace acdc
