// CPU and CUDA agree: a forward pass, an inner step and a second-order meta-gradient.
// Every test named *_CUDA is skipped where no GPU is present (CPU CI); the one CPU test vets
// the float32 fixture that the CUDA agreement runs on.

#include "backbones/registry.h"
#include "meta/maml.h"
#include "tests/support/tf32.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace {

#define REQUIRE_CUDA() \
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device"

std::unique_ptr<backbones::Backbone> net(const std::string& name, const std::string& conv, int64_t channels,
                                         int64_t size) {
  torch::manual_seed(21);
  backbones::BackboneOptions o;
  o.name = name;
  o.conv.type = acdc::parse_conv_type(conv);
  o.conv.atoms = 4;
  o.conv.group_size = 16;
  o.classes = 5;
  o.in_channels = channels;
  o.image_size = size;
  o.width = 16;
  return backbones::make_backbone(o);
}

// Same initial parameters on both devices: build on the CPU, then copy.
void copy_params(backbones::Backbone& from, backbones::Backbone& to) {
  torch::NoGradGuard no_grad;
  for (int64_t i = 0; i < from.params().size(); ++i) to.params().tensors()[i].copy_(from.params()[i]);
}

TEST(Agreement, Forward_CUDA) {
  REQUIRE_CUDA();
  for (const std::string conv : {"standard", "acdc-net", "acdc-g-block"}) {
    auto cpu = net("conv4", conv, 3, 32);
    auto gpu = net("conv4", conv, 3, 32);
    copy_params(*cpu, *gpu);
    cpu->to(torch::kCPU, torch::kDouble);
    gpu->to(torch::kCUDA, torch::kDouble);
    auto x = torch::randn({6, 3, 32, 32}, torch::kDouble);
    auto a = cpu->forward(x);
    auto b = gpu->forward(x.cuda()).cpu();
    EXPECT_TRUE(torch::allclose(a, b, 1e-9, 1e-9)) << conv;
  }
}

TEST(Agreement, InnerStepAndSecondOrderMetaGradient_CUDA) {
  REQUIRE_CUDA();
  auto cpu = net("conv4", "acdc-net", 1, 16);
  auto gpu = net("conv4", "acdc-net", 1, 16);
  copy_params(*cpu, *gpu);
  cpu->to(torch::kCPU, torch::kDouble);
  gpu->to(torch::kCUDA, torch::kDouble);
  meta::MamlConfig cfg;
  cfg.inner_steps = 2;
  cfg.inner_lr = 0.1;
  meta::Maml mc(*cpu, cfg), mg(*gpu, cfg);
  auto sx = torch::randn({2, 5, 1, 16, 16}, torch::kDouble), qx = torch::randn({2, 10, 1, 16, 16}, torch::kDouble);
  auto sy = torch::arange(5).repeat({2, 1}), qy = torch::arange(5).repeat({2, 2});
  auto fc = mc.adapt(sx[0], sy[0], 1, false, true);
  auto fg = mg.adapt(sx[0].cuda(), sy[0].cuda(), 1, false, true);
  for (size_t i = 0; i < fc.size(); ++i) EXPECT_TRUE(torch::allclose(fc[i], fg[i].cpu(), 1e-9, 1e-10));
  auto gc = mc.meta_gradient(sx, sy, qx, qy, 0);
  auto gg = mg.meta_gradient(sx, sy, qx, qy, 0);  // inputs are moved to the model's device
  ASSERT_EQ(gc.size(), gg.size());
  for (size_t i = 0; i < gc.size(); ++i) {
    EXPECT_TRUE(torch::allclose(gc[i], gg[i].cpu(), 1e-7, 1e-9)) << cpu->params().names()[i];
  }
}

// The float32 fixture of the CUDA agreement below: Conv4 acdc-net, 3 x 16 x 16 images, two
// 5-way 1-shot tasks with 5 queries each, five second-order inner steps.
//
// A float32 meta-gradient is only comparable across devices where no activation sits within
// rounding of a kink: a ReLU input or a max-pool runner-up within ~1e-7 of the winner flips
// with the rounding and moves a whole gradient element (seen on an H200, 2026-11-27: data
// drawn after manual_seed(21) at 32 x 32 with 15 queries put one layer-0 ReLU input at the
// kink, and the CPU float meta-gradient then differed from the CPU double one by 4 % in one
// channel of features.0.bn.bias while every kernel agreed with double to 2e-7 call by call).
// Such a flip is a property of the data, not of either device, so the fixture is vetted on the
// CPU (test below, run everywhere): its float32 meta-gradient must match double to 1e-4, where
// rounding alone gives 1e-6 to 3e-6 (48 data seeds at 16 and 32 px, 5 and 15 queries, with the
// CPU kernels and with LibTorch's), and a flip 1e-3 or more.
struct Float32Fixture {
  torch::Tensor sx, sy, qx, qy;
  Float32Fixture() {
    torch::manual_seed(3);
    sx = torch::randn({2, 5, 3, 16, 16});
    qx = torch::randn({2, 5, 3, 16, 16});
    sy = torch::arange(5).repeat({2, 1});
    qy = torch::arange(5).repeat({2, 1});
  }
  std::vector<torch::Tensor> meta_gradient(backbones::Backbone& model, torch::ScalarType dtype) const {
    meta::MamlConfig cfg;
    meta::Maml maml(model, cfg);
    return maml.meta_gradient(sx.to(dtype), sy, qx.to(dtype), qy, 0);
  }
};

// max |a - b| / max |reference| of each gradient tensor, compared with `tolerance`.
void expect_relative_agreement(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b,
                               const std::vector<torch::Tensor>& reference, const std::vector<std::string>& names,
                               double tolerance) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    const auto r = reference[i].to(torch::kCPU, torch::kDouble);
    const double scale = r.abs().max().item<double>() + 1e-6;
    const auto diff = a[i].to(torch::kCPU, torch::kDouble) - b[i].to(torch::kCPU, torch::kDouble);
    EXPECT_LT(diff.abs().max().item<double>() / scale, tolerance) << names[i];
  }
}

TEST(Agreement, Float32FixtureHasNoActivationAtAKinkOnTheCpu) {
  auto single = net("conv4", "acdc-net", 3, 16);
  auto dbl = net("conv4", "acdc-net", 3, 16);
  copy_params(*single, *dbl);
  dbl->to(torch::kCPU, torch::kDouble);
  const Float32Fixture f;
  const auto gs = f.meta_gradient(*single, torch::kFloat), gd = f.meta_gradient(*dbl, torch::kDouble);
  expect_relative_agreement(gs, gd, gd, single->params().names(), 1e-4);
}

TEST(Agreement, Float32MetaStepWithinTolerance_CUDA) {
  REQUIRE_CUDA();
  support::NoTf32 ieee_float32;
  auto cpu = net("conv4", "acdc-net", 3, 16);
  auto gpu = net("conv4", "acdc-net", 3, 16);
  copy_params(*cpu, *gpu);
  gpu->to(torch::kCUDA);
  const Float32Fixture f;
  const auto gc = f.meta_gradient(*cpu, torch::kFloat), gg = f.meta_gradient(*gpu, torch::kFloat);
  // float32 (TF32 off) with cuDNN vs CPU kernels: relative agreement of each gradient tensor to 1e-3.
  expect_relative_agreement(gc, gg, gc, cpu->params().names(), 1e-3);
}

TEST(Device, CudaIsReportedUnavailableCleanly) {
  // On every machine: the query itself never throws.
  EXPECT_NO_THROW(torch::cuda::is_available());
}

}  // namespace
