// CPU and CUDA agree: a forward pass, an inner step and a second-order meta-gradient.
// Every test is named *_CUDA and is skipped where no GPU is present (CPU CI).

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

TEST(Agreement, Float32MetaStepWithinTolerance_CUDA) {
  REQUIRE_CUDA();
  support::NoTf32 ieee_float32;
  auto cpu = net("conv4", "acdc-net", 3, 32);
  auto gpu = net("conv4", "acdc-net", 3, 32);
  copy_params(*cpu, *gpu);
  gpu->to(torch::kCUDA);
  meta::MamlConfig cfg;
  meta::Maml mc(*cpu, cfg), mg(*gpu, cfg);
  auto sx = torch::randn({2, 5, 3, 32, 32}), qx = torch::randn({2, 15, 3, 32, 32});
  auto sy = torch::arange(5).repeat({2, 1}), qy = torch::arange(5).repeat({2, 3});
  auto gc = mc.meta_gradient(sx, sy, qx, qy, 0);
  auto gg = mg.meta_gradient(sx, sy, qx, qy, 0);
  // float32 (TF32 off) with cuDNN vs CPU kernels: relative agreement of each gradient tensor to 1e-3.
  for (size_t i = 0; i < gc.size(); ++i) {
    const double scale = gc[i].abs().max().item<double>() + 1e-6;
    EXPECT_LT((gc[i] - gg[i].cpu()).abs().max().item<double>() / scale, 1e-3) << cpu->params().names()[i];
  }
}

TEST(Device, CudaIsReportedUnavailableCleanly) {
  // On every machine: the query itself never throws.
  EXPECT_NO_THROW(torch::cuda::is_available());
}

}  // namespace
