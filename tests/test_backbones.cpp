// Tests of the backbones/ library: forward over a parameter dictionary, BatchNorm modes.

#include "backbones/batch_norm.h"
#include "backbones/max_pool.h"
#include "backbones/registry.h"
#include "tests/support/tf32.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <map>

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

// Issue 14, item 4: a group size some layer refuses names the sizes every layer takes. Conv4 of
// width 64 on 1 channel: the divisors of 64 (the first layer's 1 input channel fits any size);
// on 3 channels, 1 and 2 split the 3 input channels unevenly and are left out.
TEST(GroupSize, RefusedSizeListsTheNetworksValidSizes) {
  auto o = conv4_options("acdc-g-net");
  o.width = 64;
  o.conv.group_size = 48;
  for (const auto& [channels, sizes] : std::vector<std::pair<int64_t, std::string>>{
           {1, "1, 2, 4, 8, 16, 32, 64"}, {3, "4, 8, 16, 32, 64"}}) {
    o.in_channels = channels;
    try {
      backbones::make_backbone(o);
      FAIL() << "group size 48 accepted";
    } catch (const std::invalid_argument& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("group size 48 does not divide its 64 "), std::string::npos) << what;
      EXPECT_NE(what.find("valid sizes for conv4 width 64: " + sizes), std::string::npos) << what;
    }
  }
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

// ---- Every backbone of the registry (issue 3) ----

namespace {

backbones::BackboneOptions options_for(const std::string& name, const std::string& conv, int64_t channels = 3) {
  backbones::BackboneOptions o;
  o.name = name;
  o.conv.type = acdc::parse_conv_type(conv);
  o.conv.atoms = 4;
  o.conv.group_size = 32;  // divides every width used here (resnet12's 160 too)
  o.classes = 5;
  o.in_channels = channels;
  o.image_size = name == "conv4" ? 16 : 84;
  o.width = 8;
  return o;
}

// A small input each network accepts: its minimum size (conv4: the size it was built for).
torch::Tensor small_input(const backbones::Backbone& net, int64_t batch = 2) {
  const int64_t side = net.options().name == "conv4" ? net.options().image_size : net.min_image_size();
  return torch::randn({batch, net.options().in_channels, side, side});
}

const std::vector<std::string> kAllBackbones = {"conv4",    "resnet10",       "resnet18", "resnet34",
                                                "resnet12", "resnet18-cifar", "vgg16",    "wrn-16-2"};

TEST(AllBackbones, EveryConvTypeBuildsRunsForwardAndBackwardIn1And3Channels) {
  torch::manual_seed(0);
  for (const auto& name : kAllBackbones) {
    for (const auto& conv : acdc::conv_type_names()) {
      for (const int64_t channels : {1, 3}) {
        SCOPED_TRACE(name + " " + conv + " channels " + std::to_string(channels));
        auto o = options_for(name, conv, channels);
        o.conv.atom_drop = 0.1;
        auto net = backbones::make_backbone(o);
        backbones::ForwardOptions f;
        f.training = true;
        auto y = net->forward(small_input(*net), f);
        ASSERT_EQ(y.sizes(), (std::vector<int64_t>{2, 5}));
        ASSERT_TRUE(torch::isfinite(y).all().item<bool>());
        y.pow(2).mean().backward();
        for (int64_t i = 0; i < net->params().size(); ++i) {
          const auto& g = net->params()[i].grad();
          ASSERT_TRUE(g.defined()) << net->params().names()[static_cast<size_t>(i)];
          ASSERT_TRUE(torch::isfinite(g).all().item<bool>()) << net->params().names()[static_cast<size_t>(i)];
        }
      }
    }
  }
}

// Every tensor carries the role its layer gave it; the filters select by role, so they agree
// with the name scheme without reading it.
TEST(AllBackbones, RolesAreSetWhereTensorsAreCreated) {
  for (const auto* conv : {"standard", "acdc-layer", "acdc-g-block"}) {
    auto net = backbones::make_backbone(options_for("resnet18", conv));
    const auto& p = net->params();
    ASSERT_EQ(p.roles().size(), p.names().size());
    std::map<acdc::Role, int64_t> count;
    for (int64_t i = 0; i < p.size(); ++i) {
      const auto& name = p.names()[static_cast<size_t>(i)];
      const auto role = p.role(i);
      ++count[role];
      auto ends = [&name](const std::string& tail) {
        return name.size() >= tail.size() && name.compare(name.size() - tail.size(), tail.size(), tail) == 0;
      };
      if (name.rfind("head.", 0) == 0) {
        EXPECT_EQ(role, ends(".weight") ? acdc::Role::kHeadWeight : acdc::Role::kHeadBias) << name;
      } else if (ends(".atoms")) {
        EXPECT_EQ(role, acdc::Role::kAtoms) << name;
      } else if (name.rfind("acdc.coeff.", 0) == 0 || ends(".coeff")) {
        EXPECT_EQ(role, acdc::Role::kCoefficients) << name;
      } else if (name.find("bn") != std::string::npos) {
        EXPECT_EQ(role, ends(".weight") ? acdc::Role::kBatchNormWeight : acdc::Role::kBatchNormBias) << name;
      } else {
        EXPECT_EQ(role, acdc::Role::kConvWeight) << name;
      }
    }
    EXPECT_EQ(count[acdc::Role::kHeadWeight], 1) << conv;
    EXPECT_EQ(count[acdc::Role::kHeadBias], 1) << conv;
    EXPECT_EQ(count[acdc::Role::kOther], 0) << conv;
    EXPECT_EQ(static_cast<int64_t>(net->slots(backbones::ParamFilter::kAtoms).size()), count[acdc::Role::kAtoms]) << conv;
    EXPECT_EQ(net->slots(backbones::ParamFilter::kAtomsAndHead).size(),
              net->slots(backbones::ParamFilter::kAtoms).size() + 2u) << conv;
    for (int64_t i = 0; i < net->buffers().size(); ++i) {
      const auto role = net->buffers().role(i);
      EXPECT_TRUE(role == acdc::Role::kBatchNormRunningMean || role == acdc::Role::kBatchNormRunningVar)
          << net->buffers().names()[static_cast<size_t>(i)];
    }
  }
}

TEST(AllBackbones, StableHierarchicalNames) {
  auto net = backbones::make_backbone(options_for("resnet18", "acdc-net"));
  for (const auto* key : {"stem.conv.atoms", "stem.bn.weight", "layer1.0.conv1.atoms", "layer1.0.bn1.bias",
                          "layer2.0.shortcut.conv.weight", "layer2.0.shortcut.bn.weight", "layer4.1.conv2.atoms",
                          "acdc.coeff.net", "head.weight", "head.bias"}) {
    EXPECT_TRUE(net->params().contains(key)) << key;
  }
  EXPECT_FALSE(net->params().contains("layer1.0.shortcut.conv.weight"));  // same shape: identity shortcut
  EXPECT_TRUE(net->buffers().contains("layer3.1.bn2.running_mean"));
  EXPECT_EQ(net->slots(backbones::ParamFilter::kHead).size(), 2u);
  // 1 stem + 16 block convs are decomposed (7x7 stem atoms), the 3 shortcuts are not.
  EXPECT_EQ(net->slots(backbones::ParamFilter::kAtoms).size(), 17u);
  EXPECT_EQ(net->params().at("stem.conv.atoms").sizes(), (std::vector<int64_t>{4, 7, 7}));

  auto block = backbones::make_backbone(options_for("resnet18", "acdc-block"));
  for (const auto* key : {"acdc.coeff.stem", "acdc.coeff.block1", "acdc.coeff.block4"}) {
    EXPECT_TRUE(block->params().contains(key)) << key;
  }
  auto cifar = backbones::make_backbone(options_for("resnet18-cifar", "acdc-block"));
  EXPECT_FALSE(cifar->params().contains("acdc.coeff.stem"));  // the CIFAR stem joins block1
  EXPECT_EQ(cifar->params().at("acdc.coeff.block1").sizes(), (std::vector<int64_t>{64, 64, 4}));

  auto wrn = backbones::make_backbone(options_for("wrn-16-2", "acdc-block"));
  for (const auto* key : {"stem.conv.atoms", "layer1.0.bn1.weight", "layer1.0.shortcut.conv.weight",
                          "layer3.1.conv2.atoms", "final.bn.weight", "acdc.coeff.block3"}) {
    EXPECT_TRUE(wrn->params().contains(key)) << key;
  }
  EXPECT_EQ(wrn->params().at("acdc.coeff.block1").sizes(), (std::vector<int64_t>{32, 32, 4}));
  auto vgg = backbones::make_backbone(options_for("vgg16", "acdc-block"));
  // Five blocks by stage; the two 512-channel stages are separate (ACDC.md §2).
  const auto& vnames = vgg->params().names();
  EXPECT_EQ(std::count_if(vnames.begin(), vnames.end(), [](const std::string& n) { return n.rfind("acdc.coeff.", 0) == 0; }), 5);
  EXPECT_EQ(vgg->params().at("acdc.coeff.block3").sizes(), (std::vector<int64_t>{256, 256, 4}));
  EXPECT_EQ(vgg->params().at("acdc.coeff.block4").sizes(), (std::vector<int64_t>{512, 512, 4}));
  EXPECT_EQ(vgg->params().at("acdc.coeff.block5").sizes(), (std::vector<int64_t>{512, 512, 4}));
  EXPECT_TRUE(vgg->params().contains("features.12.conv.atoms"));
  auto r12 = backbones::make_backbone(options_for("resnet12", "acdc-g-net"));
  EXPECT_TRUE(r12->params().contains("layer4.conv3.atoms"));
  EXPECT_EQ(r12->params().at("layer4.conv3.atoms").sizes(), (std::vector<int64_t>{20, 4, 3, 3}));  // 640/32 groups
}

TEST(AllBackbones, BadNamesAndOptionsAreNamed) {
  auto o = options_for("wrn-30-4", "standard");
  try {
    backbones::make_backbone(o);
    FAIL() << "wrn-30-4 built";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("wrn-30-4"), std::string::npos) << e.what();
  }
  for (const auto* bad : {"wrn-x-4", "wrn-16", "wrn-16-0", "wrn--", "resnet99"}) {
    o.name = bad;
    try {
      backbones::make_backbone(o);
      FAIL() << bad << " built";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
    }
  }
  // resnet12's 160 channels are not a multiple of 64: the error names the layer.
  auto r12 = options_for("resnet12", "acdc-g-net");
  r12.conv.group_size = 64;
  try {
    backbones::make_backbone(r12);
    FAIL() << "resnet12 built with s=64";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("layer2.conv1"), std::string::npos) << e.what();
  }
  // Below the size the pooling allows: a clear error, at build time and at forward time.
  auto vgg = options_for("vgg16", "standard");
  vgg.image_size = 16;
  EXPECT_THROW(backbones::make_backbone(vgg), std::invalid_argument);
  auto net = backbones::make_backbone(options_for("resnet10", "standard"));
  try {
    net->forward(torch::randn({2, 3, 16, 16}));
    FAIL() << "resnet10 ran on 16 px";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("at least 32 px"), std::string::npos) << e.what();
  }
}

// Issue 13, item 6: wrn-D-K's depth and width are bounded by name (nothing is built), and the
// parameter budget is that of this machine's memory.
TEST(AllBackbones, WideResNetBoundsAndTheParameterBudget) {
  auto message = [](const std::string& name) {
    try {
      backbones::check_backbone_name(name);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_EQ(message("wrn-16-100000"),
            "backbone 'wrn-16-100000': width K = 100000 is more than 64 (wrn-28-10 has 36.5 M parameters; they grow "
            "with K^2: wrn-28-64 would have 1.5 G)");
  EXPECT_EQ(message("wrn-1006-1"),
            "backbone 'wrn-1006-1': depth 1006 is more than 1000 (the deepest wide ResNet published has depth 40)");
  EXPECT_NE(message("wrn-30-4").find("is not 6N+4"), std::string::npos);
  EXPECT_NE(message("resnet99").find("unknown backbone 'resnet99'"), std::string::npos);
  for (const auto* ok : {"wrn-28-10", "wrn-1000-1", "wrn-16-64", "conv4", "resnet18-cifar"}) EXPECT_EQ(message(ok), "") << ok;
  auto o = options_for("wrn-16-100000", "standard");
  EXPECT_THROW(backbones::make_backbone(o), std::invalid_argument);
  // 16 bytes per parameter: at least 1 GiB of memory allows 64 M parameters.
  EXPECT_GE(backbones::max_params(), int64_t{1} << 26);
}

TEST(AllBackbones, ImageNetResNetsRunAt224And84Pixels) {
  torch::NoGradGuard no_grad;
  auto net = backbones::make_backbone(options_for("resnet18", "standard"));
  EXPECT_EQ(net->forward(torch::randn({2, 3, 84, 84})).sizes(), (std::vector<int64_t>{2, 5}));
  EXPECT_EQ(net->forward(torch::randn({1, 3, 224, 224}), {}).size(1), 5);
  // Conv MACs at 224 px, by hand: stem 64*3*49*112^2 = 118,013,952; layer1 4 x 64*64*9*56^2;
  // layers 2-4 each 57,802,752 + 3 x 115,605,504 + a 6,422,528 shortcut: 1,813,561,344 in all
  // (torchvision lists ResNet18 at 1.81 GFLOPS, the same count). Plus the 512*5 head.
  const auto costs = net->costs(224);
  EXPECT_EQ(costs.macs_per_image(), 1813561344LL + 512 * 5);
}

TEST(AllBackbones, ForwardWithEqualsForwardBitForBitAndPerturbationLeavesModel) {
  torch::manual_seed(1);
  for (const auto& name : {"resnet10", "resnet12", "resnet18-cifar", "vgg16", "wrn-10-2"}) {
    for (const auto* conv : {"acdc-net", "acdc-g-block", "standard"}) {
      SCOPED_TRACE(std::string(name) + " " + conv);
      auto net = backbones::make_backbone(options_for(name, conv));
      auto x = small_input(*net);
      auto d = net->params().dict();
      EXPECT_TRUE(torch::equal(net->forward(x), net->forward_with(x, d)));
      EXPECT_TRUE(torch::equal(net->forward(x), net->forward_with(x, net->params().tensors())));
      const std::string key = std::string(conv) == "standard" ? "stem.conv.weight" : "head.weight";
      const std::string target = net->params().contains(key) ? key : "head.weight";
      auto before = net->params().at(target).clone();
      d[target] = d[target] * 1.5 + 0.1;
      EXPECT_FALSE(torch::allclose(net->forward(x), net->forward_with(x, d)));
      EXPECT_TRUE(torch::equal(net->params().at(target), before));
      d[target] = torch::zeros({3});
      try {
        net->forward_with(x, d);
        FAIL() << "wrong shape accepted";
      } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find(target), std::string::npos) << e.what();
      }
    }
  }
}

// The network with layer-scope coefficients (acdc-layer / acdc-g-layer), fed the leading slice of
// a shared coefficient as every layer's own, computes the same function as the sharing network;
// its per-layer coefficient gradients are therefore each layer's contribution to the shared
// gradient. Each must be non-zero, and together they must add up to the shared gradient.
// In double precision: the shared gradient reaches 3e4 in places where other entries cancel
// to 0.06, so float32 summation order alone moves those entries by more than the tolerance.
void check_every_layer_reaches_shared(const std::string& name, const std::string& shared_conv,
                                      const std::string& layer_conv) {
  SCOPED_TRACE(name + " " + shared_conv);
  torch::manual_seed(2);
  auto o = options_for(name, shared_conv);
  auto shared = backbones::make_backbone(o);
  o.conv.type = acdc::parse_conv_type(layer_conv);
  auto layered = backbones::make_backbone(o);
  shared->to(torch::kCPU, torch::kDouble);
  layered->to(torch::kCPU, torch::kDouble);
  auto x = small_input(*shared).to(torch::kDouble);

  auto shared_dict = shared->params().dict();
  acdc::TensorDict layer_dict;
  for (const auto& [k, v] : shared_dict) {
    if (k.rfind("acdc.coeff.", 0) != 0) layer_dict[k] = v;
  }
  struct Use {
    std::string shared_key, layer_key;
  };
  std::vector<Use> uses;
  for (int64_t i = 0; i < shared->plan().size(); ++i) {
    const auto& spec = shared->plan().conv(i).spec();
    const auto skey = acdc::SharingPlan::coeff_name(shared->plan().options(), spec);
    if (skey.empty()) continue;
    const auto lkey = acdc::SharingPlan::coeff_name(layered->plan().options(), spec);
    const auto& shape = layered->params().at(lkey).sizes();
    layer_dict[lkey] = shared_dict[skey].narrow(0, 0, shape[0]).narrow(1, 0, shape[1]).detach().clone().requires_grad_();
    uses.push_back({skey, lkey});
  }
  ASSERT_GT(uses.size(), 3u);

  auto y_shared = shared->forward(x);
  auto y_layer = layered->forward_with(x, layer_dict);
  ASSERT_TRUE(torch::allclose(y_shared, y_layer, 1e-4, 1e-5));
  auto target = torch::randn_like(y_shared);
  (y_shared * target).sum().backward();
  (y_layer * target).sum().backward();

  std::map<std::string, torch::Tensor> summed;
  for (const auto& u : uses) {
    const auto& g = layer_dict[u.layer_key].grad();
    ASSERT_TRUE(g.defined()) << u.layer_key;
    EXPECT_GT(g.abs().sum().item<double>(), 0.0) << "no gradient from " << u.layer_key << " to " << u.shared_key;
    auto& acc = summed[u.shared_key];
    if (!acc.defined()) acc = torch::zeros_like(shared->params().at(u.shared_key));
    acc.narrow(0, 0, g.size(0)).narrow(1, 0, g.size(1)).add_(g);
  }
  for (const auto& [key, acc] : summed) {
    const auto& g = shared->params().at(key).grad();
    ASSERT_TRUE(g.defined()) << key;
    EXPECT_TRUE(torch::allclose(g, acc, 1e-3, 1e-5)) << key << " max diff " << (g - acc).abs().max().item<double>();
  }
}

TEST(SharedCoefficients, GradientsReachEverySharedCoefficientFromEveryLayerThatUsesIt) {
  check_every_layer_reaches_shared("resnet18-cifar", "acdc-net", "acdc-layer");
  check_every_layer_reaches_shared("wrn-10-2", "acdc-block", "acdc-layer");
  check_every_layer_reaches_shared("resnet10", "acdc-g-net", "acdc-g-layer");
  check_every_layer_reaches_shared("vgg16", "acdc-g-block", "acdc-g-layer");
  check_every_layer_reaches_shared("resnet12", "acdc-net", "acdc-layer");
}

TEST(SharedCoefficients, SecondOrderGradientThroughForwardWith) {
  torch::manual_seed(3);
  auto net = backbones::make_backbone(options_for("wrn-10-2", "acdc-net"));
  auto x = small_input(*net, 4);
  auto labels = torch::tensor({0, 1, 2, 3}, torch::kLong);
  const auto& params = net->params().tensors();
  auto loss = torch::nn::functional::cross_entropy(net->forward_with(x, params), labels);
  auto grads = torch::autograd::grad({loss}, params, /*grad_outputs=*/{}, /*retain_graph=*/true,
                                     /*create_graph=*/true);
  std::vector<torch::Tensor> fast;
  for (size_t i = 0; i < params.size(); ++i) fast.push_back(params[i] - 0.01 * grads[i]);
  const int64_t coeff = net->params().slot("acdc.coeff.net");
  EXPECT_TRUE(fast[static_cast<size_t>(coeff)].requires_grad());
  EXPECT_TRUE(grads[static_cast<size_t>(coeff)].requires_grad());  // the graph of the gradient exists
  auto query = torch::nn::functional::cross_entropy(net->forward_with(x, fast), labels);
  // First-order MAML would use the gradient at the fast weights; the second-order one differs.
  auto first = torch::autograd::grad({query}, {fast[static_cast<size_t>(coeff)]}, /*grad_outputs=*/{},
                                     /*retain_graph=*/true);
  auto meta = torch::autograd::grad({query}, {params[static_cast<size_t>(coeff)]});
  EXPECT_GT(meta[0].abs().sum().item<double>(), 0.0);
  EXPECT_FALSE(torch::allclose(meta[0], first[0]));
}

TEST(Devices, ToKeepsSharedCoefficientsShared) {
  torch::manual_seed(4);
  auto net = backbones::make_backbone(options_for("resnet18-cifar", "acdc-net"));
  const int64_t before = net->num_params();
  const auto names = net->params().names();
  net->to(torch::kCPU, torch::kDouble);
  EXPECT_EQ(net->num_params(), before);
  EXPECT_EQ(net->params().names(), names);
  EXPECT_EQ(std::count_if(names.begin(), names.end(), [](const std::string& n) { return n.find("coeff") != std::string::npos; }), 1);
  const auto& coeff = net->params().at("acdc.coeff.net");
  EXPECT_EQ(coeff.scalar_type(), torch::kDouble);
  EXPECT_TRUE(coeff.is_leaf());
  auto x = small_input(*net).to(torch::kDouble);
  net->forward(x).sum().backward();
  EXPECT_TRUE(coeff.grad().defined());
  // Changing the one tensor changes every layer: zero coefficients give zero kernels everywhere,
  // so the output no longer depends on the input.
  {
    torch::NoGradGuard no_grad;
    net->params().tensors()[static_cast<size_t>(net->params().slot("acdc.coeff.net"))].zero_();
  }
  auto y = net->forward(torch::cat({x, x * 3 + 1}));
  EXPECT_TRUE(torch::allclose(y.narrow(0, 0, 2), y.narrow(0, 2, 2)));
}

TEST(Devices, ToCudaAndBack_CUDA) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  support::NoTf32 ieee_float32;
  torch::manual_seed(5);
  auto net = backbones::make_backbone(options_for("resnet18-cifar", "acdc-g-net"));
  auto x = small_input(*net);
  auto y = net->forward(x);
  net->to(torch::Device(torch::kCUDA));
  EXPECT_TRUE(net->device().is_cuda());
  auto yc = net->forward(x.cuda());
  EXPECT_TRUE(torch::allclose(y, yc.cpu(), 1e-4, 1e-4));
  net->to(torch::Device(torch::kCPU));
  EXPECT_TRUE(torch::allclose(y, net->forward(x), 1e-5, 1e-5));
}

// ---- BatchNorm modes ----

backbones::BackboneOptions bn_options(int64_t steps) {
  auto o = options_for("wrn-10-2", "acdc-net");
  o.bn_steps = steps;
  return o;
}

std::vector<torch::Tensor> buffer_copy(const backbones::Backbone& net) {
  std::vector<torch::Tensor> out;
  for (const auto& t : net.buffers().tensors()) out.push_back(t.clone());
  return out;
}

bool buffers_equal(const backbones::Backbone& net, const std::vector<torch::Tensor>& copy) {
  for (size_t i = 0; i < copy.size(); ++i) {
    if (!torch::equal(net.buffers().tensors()[i], copy[i])) return false;
  }
  return true;
}

TEST(BatchNormModes, TransductiveIgnoresRunningStatistics) {
  torch::manual_seed(6);
  auto net = backbones::make_backbone(bn_options(1));
  auto x = small_input(*net, 4);
  backbones::ForwardOptions f;  // transductive is the default
  EXPECT_EQ(f.bn, backbones::BnMode::kTransductive);
  auto y = net->forward(x, f);
  {
    torch::NoGradGuard no_grad;
    for (auto& t : net->buffers().tensors()) t.fill_(7.0);  // garbage statistics
  }
  auto copy = buffer_copy(*net);
  f.update_running_stats = true;
  for (const bool training : {false, true}) {
    f.training = training;
    EXPECT_TRUE(torch::allclose(net->forward(x, f), y, 1e-5, 1e-6));
  }
  EXPECT_TRUE(buffers_equal(*net, copy));  // never touched, even when asked
}

TEST(BatchNormModes, RunningUpdatesOnlyWhenTrainingAndAsked) {
  torch::manual_seed(7);
  auto net = backbones::make_backbone(bn_options(1));
  auto x = small_input(*net, 4) * 3 + 2;
  backbones::ForwardOptions f;
  f.bn = backbones::BnMode::kRunning;
  auto copy = buffer_copy(*net);
  f.training = true;
  auto train_out = net->forward(x, f);  // batch statistics, not asked to update
  EXPECT_TRUE(buffers_equal(*net, copy));
  f.training = false;
  f.update_running_stats = true;  // evaluation never updates
  auto eval_out = net->forward(x, f);
  EXPECT_TRUE(buffers_equal(*net, copy));
  EXPECT_FALSE(torch::allclose(train_out, eval_out));  // eval used the (fresh) running statistics
  f.training = true;
  EXPECT_TRUE(torch::allclose(net->forward(x, f), train_out, 1e-5, 1e-6));
  EXPECT_FALSE(buffers_equal(*net, copy));
  const auto& mean = net->buffers().at("layer1.0.bn1.running_mean");
  EXPECT_GT(mean.abs().sum().item<double>(), 0.0);
}

TEST(BatchNormModes, PerStepKeepsSeparateStatisticsPerStep) {
  torch::manual_seed(8);
  auto net = backbones::make_backbone(bn_options(3));
  ASSERT_TRUE(net->buffers().contains("layer2.0.bn2.running_mean.step2"));
  auto x = small_input(*net, 4) * 2 + 1;
  backbones::ForwardOptions f;
  f.bn = backbones::BnMode::kPerStep;
  f.training = true;
  f.update_running_stats = true;
  f.step = 1;
  net->forward(x, f);
  const auto& b = net->buffers();
  EXPECT_EQ(b.at("final.bn.running_mean.step0").abs().sum().item<double>(), 0.0);
  EXPECT_GT(b.at("final.bn.running_mean.step1").abs().sum().item<double>(), 0.0);
  EXPECT_EQ(b.at("final.bn.running_mean.step2").abs().sum().item<double>(), 0.0);
  f.step = 7;  // clamped to the last set
  net->forward(x * 5, f);
  EXPECT_GT(b.at("final.bn.running_mean.step2").abs().sum().item<double>(), 0.0);
  EXPECT_FALSE(torch::equal(b.at("final.bn.running_mean.step1"), b.at("final.bn.running_mean.step2")));
  // At evaluation each step uses its own statistics.
  f.training = false;
  f.step = 0;
  auto y0 = net->forward(x, f);
  f.step = 1;
  auto y1 = net->forward(x, f);
  f.step = 2;
  auto y2 = net->forward(x, f);
  EXPECT_FALSE(torch::allclose(y0, y1));
  EXPECT_FALSE(torch::allclose(y1, y2));
}

// Issue 14, item 10: --bn per-step with more test steps than training steps (--inner-steps-test
// 10, --inner-steps 5) is allowed, as README says: the steps beyond the last set of statistics
// use the last set (a network built with 3 sets evaluates steps 3 and 9 as step 2).
TEST(BatchNormModes, PerStepEvaluationBeyondTheTrainedStepsUsesTheLastSet) {
  torch::manual_seed(8);
  auto net = backbones::make_backbone(bn_options(3));
  auto x = small_input(*net, 4) * 2 + 1;
  backbones::ForwardOptions f;
  f.bn = backbones::BnMode::kPerStep;
  f.training = true;
  f.update_running_stats = true;
  for (int64_t step = 0; step < 3; ++step) {
    f.step = step;
    net->forward(x * (step + 1), f);  // distinct statistics per set
  }
  f.training = false;
  f.update_running_stats = false;
  f.step = 2;
  const auto last = net->forward(x, f);
  f.step = 1;
  EXPECT_FALSE(torch::equal(net->forward(x, f), last));
  for (const int64_t beyond : {3, 9}) {
    f.step = beyond;
    EXPECT_TRUE(torch::equal(net->forward(x, f), last)) << "step " << beyond;
  }
}

}  // namespace

// backbones::batch_norm_train (hand-written double backward) against torch::batch_norm and
// LibTorch's own double backward, in double precision: outputs, gradients, and the gradients
// of every combination of the incoming second-order terms (ggx, ggw, ggb), as MAML's
// second-order backward produces them.
TEST(FastBatchNorm, FirstAndSecondDerivativesEqualLibTorch) {
  const auto dbl = torch::TensorOptions().dtype(torch::kDouble);
  for (bool channels_last : {false, true}) {
    for (int terms = 1; terms < 8; ++terms) {  // bit 0: ggx, bit 1: ggw, bit 2: ggb
      SCOPED_TRACE("channels_last " + std::to_string(channels_last) + " terms " + std::to_string(terms));
      torch::manual_seed(7);
      auto x0 = torch::randn({4, 3, 5, 5}, dbl) * 2 + 0.5;
      if (channels_last) x0 = x0.contiguous(torch::MemoryFormat::ChannelsLast);
      auto w0 = torch::randn({3}, dbl), b0 = torch::randn({3}, dbl), t0 = torch::randn({4, 3, 5, 5}, dbl);
      auto u = torch::randn({4, 3, 5, 5}, dbl), v = torch::randn({3}, dbl), z = torch::randn({3}, dbl);
      auto run = [&](bool fast) {
        auto x = x0.clone().requires_grad_(true), w = w0.clone().requires_grad_(true);
        auto b = b0.clone().requires_grad_(true), t = t0.clone().requires_grad_(true);
        auto y = fast ? backbones::batch_norm_train(x, w, b, {}, {}, 0.1, 1e-5)
                      : torch::batch_norm(x, w, b, {}, {}, /*training=*/true, 0.1, 1e-5, /*cudnn_enabled=*/false);
        auto g = torch::autograd::grad({(y * t).sum()}, {x, w, b}, {}, /*retain_graph=*/true, /*create_graph=*/true);
        auto probe = torch::zeros({}, dbl);
        if (terms & 1) probe = probe + (g[0] * u).sum();
        if (terms & 2) probe = probe + (g[1] * v).sum();
        if (terms & 4) probe = probe + (g[2] * z).sum();
        auto h = torch::autograd::grad({probe}, {x, w, t}, {}, /*retain_graph=*/false, /*create_graph=*/false,
                                       /*allow_unused=*/true);
        std::vector<torch::Tensor> out = {y.detach(), g[0].detach(), g[1].detach(), g[2].detach()};
        for (auto& d : h) out.push_back(d.defined() ? d : torch::zeros({1}, dbl));
        return out;
      };
      const auto fast = run(true), plain = run(false);
      const char* names[] = {"y", "gx", "gw", "gb", "d x", "d w", "d gy"};
      for (size_t i = 0; i < fast.size(); ++i) {
        const auto& a = fast[i];
        const auto b = plain[i].sizes() == a.sizes() ? plain[i] : plain[i].expand_as(a);
        EXPECT_TRUE(torch::allclose(a, b, 1e-9, 1e-9)) << names[i] << " max diff " << (a - b).abs().max().item<double>();
      }
    }
  }
}

// backbones::max_pool2x2 (kernels of its own) against torch::max_pool2d(x, 2), in double
// precision: the output, the gradient, the gradient of the gradient (second-order MAML) and one
// order more, in both layouts, with odd sizes (a row and a column outside every window) and
// with ties: whole windows of equal values (a constant image region, as Fashion-MNIST's black
// background gives) and a NaN, where the first element in row-major order must take the
// gradient as LibTorch's does. Values are compared exactly: the pool only moves them.
TEST(FastMaxPool, EqualsLibTorchInEveryDerivativeWithTies) {
  const auto dbl = torch::TensorOptions().dtype(torch::kDouble);
  for (bool channels_last : {false, true}) {
    for (const auto& size : std::vector<std::pair<int64_t, int64_t>>{{6, 6}, {7, 5}, {2, 3}}) {
      SCOPED_TRACE("channels_last " + std::to_string(channels_last) + " size " + std::to_string(size.first) + "x" +
                   std::to_string(size.second));
      torch::manual_seed(11);
      auto x0 = torch::randn({3, 4, size.first, size.second}, dbl);
      x0.index_put_({0}, 0.25);                          // an image of equal values: ties everywhere
      x0.index_put_({1, 1, 0, 1}, x0.index({1, 1, 0, 0}));  // a tie of two
      x0.index_put_({2, 3, 1, 1}, std::nan(""));        // a NaN wins its window
      if (channels_last) x0 = x0.contiguous(torch::MemoryFormat::ChannelsLast);
      const auto t = torch::randn({3, 4, size.first / 2, size.second / 2}, dbl);
      const auto u = torch::randn({3, 4, size.first, size.second}, dbl);
      const auto v = torch::randn({3, 4, size.first / 2, size.second / 2}, dbl);
      auto run = [&](bool fast) {
        auto x = x0.clone().requires_grad_(true);
        auto g_out = t.clone().requires_grad_(true);
        auto uu = u.clone().requires_grad_(true);
        auto y = fast ? backbones::max_pool2x2(x) : torch::max_pool2d(x, /*kernel_size=*/2);
        auto gx = torch::autograd::grad({y}, {x}, {g_out}, /*retain_graph=*/true, /*create_graph=*/true)[0];
        // Second order (what MAML's outer backward runs): d <gx, u> / d g_out, a gather of u.
        auto gg = torch::autograd::grad({(gx * uu).sum()}, {g_out}, {}, /*retain_graph=*/true, /*create_graph=*/true)[0];
        std::vector<torch::Tensor> out = {y.detach(), gx.detach(), gg.detach()};
        if (fast) {
          // Third order: d <gg, v> / d u, a scatter of v; LibTorch's double backward is not
          // differentiable, so it is compared with LibTorch's first backward of v below.
          out.push_back(torch::autograd::grad({(gg * v).sum()}, {uu}, {}, /*retain_graph=*/false,
                                              /*create_graph=*/false)[0]);
        } else {
          out.push_back(torch::autograd::grad({y}, {x}, {v}, /*retain_graph=*/false, /*create_graph=*/false)[0]);
        }
        return out;
      };
      const auto fast = run(true), plain = run(false);
      const char* names[] = {"y", "gx", "d gx / d gy", "third order"};
      for (size_t i = 0; i < fast.size(); ++i) {
        EXPECT_TRUE(torch::equal(fast[i].isnan(), plain[i].isnan())) << names[i];
        EXPECT_TRUE(torch::equal(fast[i].nan_to_num(0), plain[i].nan_to_num(0))) << names[i] << "\n"
            << fast[i] << "\n" << plain[i];
      }
      EXPECT_EQ(fast[0].suggest_memory_format(), plain[0].suggest_memory_format());
    }
  }
}

// The float kernels (batch_norm_kernels.cpp: one-pass shifted moments, chunked sums) on
// activations whose mean is large against their spread (where a naive one-pass variance
// cancels): output, the three gradients and the running statistics, each within LibTorch's
// own float error of the double-precision result, with a margin of 2x.
TEST(FastBatchNorm, FloatKernelsAreAsAccurateAsLibTorch) {
  for (bool channels_last : {false, true}) {
    SCOPED_TRACE("channels_last " + std::to_string(channels_last));
    torch::manual_seed(12);
    auto x0 = (torch::randn({8, 16, 11, 9}, torch::kDouble) * 0.5 + 40);
    if (channels_last) x0 = x0.contiguous(torch::MemoryFormat::ChannelsLast);
    const auto w0 = torch::randn({16}, torch::kDouble), b0 = torch::randn({16}, torch::kDouble);
    const auto t = torch::randn({8, 16, 11, 9}, torch::kDouble);
    auto run = [&](bool fast, torch::ScalarType dtype) {
      auto x = x0.to(dtype).requires_grad_(true), w = w0.to(dtype).requires_grad_(true);
      auto b = b0.to(dtype).requires_grad_(true);
      auto mean = torch::zeros({16}, dtype), var = torch::ones({16}, dtype);
      auto y = fast ? backbones::batch_norm_train(x, w, b, mean, var, 0.1, 1e-5)
                    : torch::batch_norm(x, w, b, mean, var, /*training=*/true, 0.1, 1e-5, /*cudnn_enabled=*/false);
      auto g = torch::autograd::grad({(y * t.to(dtype)).sum()}, {x, w, b});
      std::vector<torch::Tensor> out = {y.detach(), g[0], g[1], g[2], mean, var};
      for (auto& o : out) o = o.to(torch::kDouble);
      return out;
    };
    const auto exact = run(false, torch::kDouble), ours = run(true, torch::kFloat), theirs = run(false, torch::kFloat);
    const char* names[] = {"y", "gx", "gw", "gb", "running mean", "running var"};
    for (size_t i = 0; i < exact.size(); ++i) {
      const double our_error = (ours[i] - exact[i]).abs().max().item<double>();
      const double their_error = (theirs[i] - exact[i]).abs().max().item<double>();
      EXPECT_LE(our_error, 2 * their_error + 1e-6) << names[i] << ": ours " << our_error << ", LibTorch's " << their_error;
    }
    EXPECT_EQ(ours[0].suggest_memory_format(), theirs[0].suggest_memory_format());
  }
}

// backbones::batch_norm_max_pool_relu_train (BatchNorm, the 2x2 pool and the ReLU fused,
// Conv4's layers) against torch::relu(torch::max_pool2d(torch::batch_norm(...))) in double
// precision, in both layouts (NCHW takes the unfused path) with odd sizes (a row and a column
// outside every window): the output, the first derivatives as the first-order backward computes
// them (no graph), and second derivatives through the recorded backward, as MAML's inner steps
// build it. The shift (-0.8 + N(0, 0.09)) makes the ReLU clip a good part of the outputs, so that
// the no-gradient choices are exercised in every path.
TEST(FastBatchNorm, FusedWithMaxPoolEqualsLibTorch) {
  const auto dbl = torch::TensorOptions().dtype(torch::kDouble);
  for (bool channels_last : {false, true}) {
    for (const auto& size : std::vector<std::pair<int64_t, int64_t>>{{6, 6}, {7, 5}}) {
      SCOPED_TRACE("channels_last " + std::to_string(channels_last) + " size " + std::to_string(size.first));
      torch::manual_seed(13);
      auto x0 = torch::randn({4, 3, size.first, size.second}, dbl) * 2 + 0.5;
      if (channels_last) x0 = x0.contiguous(torch::MemoryFormat::ChannelsLast);
      const auto w0 = torch::randn({3}, dbl), b0 = torch::randn({3}, dbl) * 0.3 - 0.8;
      const auto t = torch::randn({4, 3, size.first / 2, size.second / 2}, dbl);
      const auto u = torch::randn({4, 3, size.first, size.second}, dbl), v = torch::randn({3}, dbl);
      auto run = [&](bool fast) {
        auto x = x0.clone().requires_grad_(true), w = w0.clone().requires_grad_(true);
        auto b = b0.clone().requires_grad_(true);
        auto mean = torch::zeros({3}, dbl), var = torch::ones({3}, dbl);
        auto y = fast ? backbones::batch_norm_max_pool_relu_train(x, w, b, mean, var, 0.1, 1e-5)
                      : torch::relu(torch::max_pool2d(torch::batch_norm(x, w, b, mean, var, /*training=*/true, 0.1,
                                                                        1e-5, /*cudnn_enabled=*/false),
                                                      /*kernel_size=*/2));
        auto first = torch::autograd::grad({(y * t).sum()}, {x, w, b}, {}, /*retain_graph=*/true);
        auto g = torch::autograd::grad({(y * t).sum()}, {x, w, b}, {}, /*retain_graph=*/true, /*create_graph=*/true);
        auto h = torch::autograd::grad({(g[0] * u).sum() + (g[1] * v).sum()}, {x, w}, {}, /*retain_graph=*/false);
        return std::vector<torch::Tensor>{y.detach(), first[0], first[1], first[2], h[0], h[1], mean, var};
      };
      const auto fast = run(true), plain = run(false);
      const double clipped = fast[0].eq(0).to(torch::kDouble).mean().item<double>();
      EXPECT_GT(clipped, 0.2);
      EXPECT_LT(clipped, 0.8);
      const char* names[] = {"y", "gx", "gw", "gb", "d x", "d w", "running mean", "running var"};
      for (size_t i = 0; i < fast.size(); ++i) {
        EXPECT_TRUE(torch::allclose(fast[i], plain[i], 1e-9, 1e-9))
            << names[i] << " max diff " << (fast[i] - plain[i]).abs().max().item<double>();
      }
      EXPECT_EQ(fast[0].suggest_memory_format(), plain[0].suggest_memory_format());
    }
  }
}

// In float the fused pool must take the same elements as the separate BatchNorm, pool and ReLU,
// and its one-pass backward agree with theirs to float rounding: the statistics are summed in
// another order (window by window), so the outputs agree to rounding, not bit for bit, and an
// element taken differently would move a whole gradient value (order 1) in gx.
TEST(FastBatchNorm, FusedWithMaxPoolTakesTheSameElementsInFloat) {
  torch::manual_seed(14);
  const auto x0 = torch::randn({6, 16, 14, 14}).contiguous(torch::MemoryFormat::ChannelsLast);
  const auto w0 = torch::randn({16}), b0 = torch::randn({16}), t = torch::randn({6, 16, 7, 7});
  std::vector<torch::Tensor> results[2];
  for (int fused = 0; fused < 2; ++fused) {
    auto x = x0.clone().requires_grad_(true), w = w0.clone().requires_grad_(true), b = b0.clone().requires_grad_(true);
    auto y = fused ? backbones::batch_norm_max_pool_relu_train(x, w, b, {}, {}, 0.1, 1e-5)
                   : torch::relu(backbones::max_pool2x2(backbones::batch_norm_train(x, w, b, {}, {}, 0.1, 1e-5)));
    auto g = torch::autograd::grad({(y * t).sum()}, {x, w, b});
    results[fused] = {y.detach(), g[0], g[1], g[2]};
  }
  const char* names[] = {"y", "gx", "gw", "gb"};
  for (size_t i = 0; i < results[0].size(); ++i) {
    EXPECT_TRUE(torch::allclose(results[1][i], results[0][i], 1e-5, 1e-5))
        << names[i] << " max diff " << (results[1][i] - results[0][i]).abs().max().item<double>();
  }
}

TEST(FastBatchNorm, UpdatesRunningStatisticsLikeLibTorch) {
  torch::manual_seed(8);
  auto x = torch::randn({6, 4, 3, 3}, torch::kDouble);
  auto w = torch::randn({4}, torch::kDouble), b = torch::randn({4}, torch::kDouble);
  auto mean_a = torch::zeros({4}, torch::kDouble), var_a = torch::ones({4}, torch::kDouble);
  auto mean_b = mean_a.clone(), var_b = var_a.clone();
  auto ya = backbones::batch_norm_train(x, w, b, mean_a, var_a, 0.1, 1e-5);
  auto yb = torch::batch_norm(x, w, b, mean_b, var_b, /*training=*/true, 0.1, 1e-5, /*cudnn_enabled=*/false);
  EXPECT_TRUE(torch::allclose(ya, yb, 1e-12, 1e-12));
  EXPECT_TRUE(torch::allclose(mean_a, mean_b, 1e-12, 1e-12));
  EXPECT_TRUE(torch::allclose(var_a, var_b, 1e-12, 1e-12));
}

// Channels-last activations and pooling before the activation are layout and order changes
// only: every backbone computes the same outputs and gradients as with plain NCHW tensors.
TEST(FastPaths, ChannelsLastEqualsContiguousForEveryBackbone) {
  for (const auto& name : kAllBackbones) {
    SCOPED_TRACE(name);
    auto o = options_for(name, "acdc-net");
    torch::manual_seed(9);
    auto cl = backbones::make_backbone(o);
    o.channels_last = false;
    torch::manual_seed(9);
    auto plain = backbones::make_backbone(o);
    cl->to(torch::kCPU, torch::kDouble);
    plain->to(torch::kCPU, torch::kDouble);
    // Batch 4 at twice the minimum size: with 2 images at 1x1 features, BatchNorm normalises two
    // values per channel and amplifies rounding differences beyond any fixed tolerance.
    const int64_t side = name == "conv4" ? o.image_size : 2 * cl->min_image_size();
    auto x = torch::randn({4, o.in_channels, side, side}, torch::kDouble);
    backbones::ForwardOptions f;
    f.training = true;
    auto ya = cl->forward(x, f), yb = plain->forward(x, f);
    EXPECT_TRUE(torch::allclose(ya, yb, 1e-10, 1e-10)) << (ya - yb).abs().max().item<double>();
    ya.pow(2).sum().backward();
    yb.pow(2).sum().backward();
    for (int64_t i = 0; i < cl->params().size(); ++i) {
      const auto &ga = cl->params()[i].grad(), &gb = plain->params()[i].grad();
      ASSERT_TRUE(ga.defined() && gb.defined()) << cl->params().names()[static_cast<size_t>(i)];
      // Summation order differs between the layouts: the gradients (up to ~3e3 in the ResNets)
      // agree to 1e-9 of their scale.
      const double diff = (ga - gb).abs().max().item<double>(), scale = 1.0 + gb.abs().max().item<double>();
      EXPECT_LE(diff, 1e-9 * scale) << cl->params().names()[static_cast<size_t>(i)] << " max diff " << diff;
    }
  }
}
