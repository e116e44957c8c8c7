// Tests of the backbones/ library: forward over a parameter dictionary, BatchNorm modes.

#include "backbones/registry.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace {

backbones::BackboneOptions conv4_options(const std::string& conv = "acdc-net") {
  backbones::BackboneOptions o;
  o.name = "conv4";
  o.conv.type = acdc::parse_conv_type(conv);
  o.conv.atoms = 4;
  o.in_channels = 1;
  o.image_size = 28;
  o.width = 8;
  return o;
}

TEST(ForwardWith, OwnParametersEqualPlainForwardBitForBit) {
  torch::manual_seed(0);
  auto net = backbones::make_backbone(conv4_options());
  auto x = torch::randn({4, 1, 28, 28});
  auto a = net->forward(x);
  auto b = net->forward_with(x, net->params().dict());
  EXPECT_TRUE(torch::equal(a, b));
  EXPECT_EQ(a.sizes(), (std::vector<int64_t>{4, 5}));
}

TEST(ForwardWith, PerturbedDictionaryChangesOutputNotModel) {
  torch::manual_seed(0);
  auto net = backbones::make_backbone(conv4_options());
  auto x = torch::randn({4, 1, 28, 28});
  auto before = net->params().at("acdc.coeff.net").clone();
  auto d = net->params().dict();
  d["acdc.coeff.net"] = d["acdc.coeff.net"] + 0.1;
  EXPECT_FALSE(torch::allclose(net->forward(x), net->forward_with(x, d)));
  EXPECT_TRUE(torch::equal(net->params().at("acdc.coeff.net"), before));
  d.erase("head.bias");
  EXPECT_THROW(net->forward_with(x, d), std::invalid_argument);
}

}  // namespace
