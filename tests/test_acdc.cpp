// Tests of the acdc/ library: the functional core, sharing plans, grouping, atom-drop.
// Gradient checks run in double precision against central finite differences.

#include "acdc/acdc_conv.h"
#include "acdc/conv_autograd.h"
#include "acdc/conv_options.h"
#include "acdc/functional.h"
#include "acdc/param_store.h"
#include "acdc/winograd.h"
#include "tests/support/gradcheck.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <functional>
#include <set>

namespace {

const auto kDouble = torch::TensorOptions().dtype(torch::kDouble);

using support::finite_difference;  // central differences, every entry of x

struct GeometryCase {
  int64_t k, stride, padding, dilation, h, w;
};

class ExecutionModes : public ::testing::TestWithParam<GeometryCase> {};

TEST_P(ExecutionModes, ReconstructEqualsTwoSubLayersEqualsPlainConv) {
  const auto c = GetParam();
  torch::manual_seed(1);
  auto x = torch::randn({2, 3, c.h, c.w}, kDouble);
  auto atoms = torch::randn({4, c.k, c.k}, kDouble);
  auto coeff = torch::randn({5, 3, 4}, kDouble);
  acdc::ConvGeometry g{c.stride, c.padding, c.dilation};

  auto weight = acdc::reconstruct_kernel(atoms, coeff);
  // The reconstruction itself, element by element from the definition W[o,i] = sum_j a[o,i,j] D[j].
  auto expected_w = torch::einsum("oij,jhw->oihw", {coeff, atoms});
  EXPECT_TRUE(torch::allclose(weight, expected_w, 1e-12, 1e-12));

  auto plain = torch::conv2d(x, expected_w, {}, c.stride, c.padding, c.dilation);
  auto reconstruct = acdc::acdc_conv2d(x, atoms, coeff, g);
  auto two_stage = acdc::acdc_conv2d_two_stage(x, atoms, coeff, g);
  ASSERT_EQ(reconstruct.sizes(), plain.sizes());
  ASSERT_EQ(two_stage.sizes(), plain.sizes());
  EXPECT_TRUE(torch::allclose(reconstruct, plain, 1e-10, 1e-10));
  EXPECT_TRUE(torch::allclose(two_stage, plain, 1e-10, 1e-10));
}

INSTANTIATE_TEST_SUITE_P(Geometries, ExecutionModes,
                         ::testing::Values(GeometryCase{3, 1, 1, 1, 7, 9},   // non-square, same padding
                                           GeometryCase{3, 2, 1, 1, 8, 11},  // stride 2, padding 1
                                           GeometryCase{3, 1, 2, 2, 9, 6},   // dilation 2
                                           GeometryCase{1, 1, 0, 1, 5, 7},   // 1x1 kernel
                                           GeometryCase{5, 2, 2, 1, 12, 10}, // 5x5, stride 2
                                           GeometryCase{5, 1, 4, 2, 6, 13}));

TEST(Gradients, AtomsAndCoefficientsMatchFiniteDifferences) {
  torch::manual_seed(2);
  auto x = torch::randn({2, 2, 6, 5}, kDouble);
  auto atoms = torch::randn({3, 3, 3}, kDouble).requires_grad_();
  auto coeff = torch::randn({2, 2, 3}, kDouble).requires_grad_();
  auto probe = torch::randn({2, 2, 3, 3}, kDouble);  // fixed weights make the loss non-trivial
  acdc::ConvGeometry g{2, 1, 1};
  auto loss_fn = [&] { return (acdc::acdc_conv2d(x, atoms, coeff, g).pow(2) * 0.5).sum() + (acdc::reconstruct_kernel(atoms, coeff) * probe).sum(); };

  auto grads = torch::autograd::grad({loss_fn()}, {atoms, coeff});
  auto scalar = [&] { return loss_fn().item<double>(); };
  EXPECT_TRUE(torch::allclose(grads[0], finite_difference(scalar, atoms.detach()), 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(grads[1], finite_difference(scalar, coeff.detach()), 1e-5, 1e-6));
}

TEST(Gradients, SecondOrderMatchesFiniteDifferencesOfFirstOrder) {
  torch::manual_seed(3);
  auto x = torch::randn({2, 2, 5, 5}, kDouble);
  auto atoms = torch::randn({2, 3, 3}, kDouble).requires_grad_();
  auto coeff = torch::randn({3, 2, 2}, kDouble).requires_grad_();
  acdc::ConvGeometry g{1, 1, 1};
  // A MAML-like quantity: the squared norm of the gradient with respect to the atoms, whose
  // derivative with respect to the coefficients needs the gradient of a gradient.
  auto grad_norm = [&](bool create_graph) {
    auto loss = acdc::acdc_conv2d(x, atoms, coeff, g).tanh().sum();
    auto ga = torch::autograd::grad({loss}, {atoms}, /*grad_outputs=*/{}, /*retain_graph=*/true,
                                    /*create_graph=*/create_graph)[0];
    return ga.pow(2).sum();
  };
  auto gn = grad_norm(true);
  ASSERT_TRUE(gn.requires_grad());
  auto second = torch::autograd::grad({gn}, {coeff})[0];
  auto numeric = finite_difference([&] { return grad_norm(false).item<double>(); }, coeff.detach());
  EXPECT_TRUE(torch::allclose(second, numeric, 1e-5, 1e-6)) << second << numeric;
}

// The production path of a grouped layer (acdc_conv2d with a slice of a larger shared
// coefficient tensor, bias, conv groups and channel shuffle; what Conv::forward runs) against
// finite differences, first and second order.
TEST(Gradients, GroupedSlicedLayerWithBiasMatchesFiniteDifferences) {
  torch::manual_seed(9);
  // C_in = 4, s = 2: G = 2 conv groups; C_out = 4: A = 2 atom groups of so = 2 rows; m = 2.
  auto x = torch::randn({2, 4, 5, 5}, kDouble).requires_grad_();
  auto atoms = torch::randn({2, 2, 3, 3}, kDouble).requires_grad_();
  auto coeff = torch::randn({3, 3, 2}, kDouble).requires_grad_();  // shared, larger than the slice
  auto bias = torch::randn({4}, kDouble).requires_grad_();
  acdc::ConvLayerOptions o;
  o.geometry = {1, 1, 1};
  o.groups = 2;
  o.coeff_rows = 2;
  o.coeff_cols = 2;
  auto probe = torch::randn({2, 4, 5, 5}, kDouble);
  auto loss_fn = [&] { return (acdc::acdc_conv2d(x, atoms, coeff, bias, o).tanh() * probe).sum(); };

  auto grads = torch::autograd::grad({loss_fn()}, {x, atoms, coeff, bias});
  auto scalar = [&] { return loss_fn().item<double>(); };
  EXPECT_TRUE(torch::allclose(grads[0], finite_difference(scalar, x.detach()), 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(grads[1], finite_difference(scalar, atoms.detach()), 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(grads[2], finite_difference(scalar, coeff.detach()), 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(grads[3], finite_difference(scalar, bias.detach()), 1e-5, 1e-6));
  // Rows and columns outside the slice get no gradient.
  EXPECT_EQ(grads[2].narrow(0, 2, 1).abs().max().item<double>(), 0.0);

  auto grad_norm = [&](bool create_graph) {
    auto ga = torch::autograd::grad({loss_fn()}, {atoms}, /*grad_outputs=*/{}, /*retain_graph=*/true,
                                    /*create_graph=*/create_graph)[0];
    return ga.pow(2).sum();
  };
  auto gn = grad_norm(true);
  ASSERT_TRUE(gn.requires_grad());
  auto second = torch::autograd::grad({gn}, {coeff, x});
  auto numeric = [&](const torch::Tensor& t) {
    return finite_difference([&] { return grad_norm(false).item<double>(); }, t.detach());
  };
  EXPECT_TRUE(torch::allclose(second[0], numeric(coeff), 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(second[1], numeric(x), 1e-5, 1e-6));
}

// Conv::forward is a thin call into the functional core: the same values, atom-drop draws
// included, for every conv type.
TEST(Functional, ConvForwardIsTheFunctionalCore) {
  for (auto type : {acdc::ConvType::kStandard, acdc::ConvType::kLayer, acdc::ConvType::kNet,
                    acdc::ConvType::kGroupedBlock}) {
    acdc::ParamStore store;
    acdc::ConvOptions o;
    o.type = type;
    o.atoms = 3;
    o.group_size = 4;
    o.atom_drop = 0.3;
    acdc::SharingPlan plan(o, &store);
    acdc::ConvSpec spec{"c", 8, 8, 3, 1, 1, 1, "block1"};
    spec.bias = true;
    plan.add({"a", 8, 12, 3, 1, 1, 1, "block1"});  // a larger user of a shared coefficient tensor
    const auto id = plan.add(spec);
    plan.finalize();
    const auto& conv = plan.conv(id);
    const auto& p = store.tensors();
    auto x = torch::randn({2, 8, 6, 6});
    for (bool training : {false, true}) {
      torch::manual_seed(10);
      auto y = conv.forward(x, p, {training, nullptr});
      torch::manual_seed(10);
      const auto lo = conv.layer_options(training);
      auto expected = type == acdc::ConvType::kStandard
                          ? acdc::standard_conv2d(x, p[conv.weight_slot()], store.at("c.bias"), lo)
                          : acdc::acdc_conv2d(x, p[conv.atoms_slot()], p[conv.coeff_slot()], store.at("c.bias"), lo);
      EXPECT_TRUE(torch::equal(y, expected)) << acdc::to_string(type) << " training " << training;
    }
  }
}

TEST(Sharing, SharedCoefficientGradientIsSumOfSliceGradients) {
  torch::manual_seed(4);
  acdc::ParamStore store;
  acdc::ConvOptions o;
  o.type = acdc::ConvType::kNet;
  o.atoms = 3;
  acdc::SharingPlan plan(o, &store);
  const auto a = plan.add({"a", 2, 4, 3, 1, 1});
  const auto b = plan.add({"b", 4, 6, 3, 1, 1});
  plan.finalize();
  store.to(torch::kCPU, torch::kDouble);
  const auto& coeff = store.at("acdc.coeff.net");
  ASSERT_EQ(coeff.sizes(), (std::vector<int64_t>{6, 4, 3}));  // sized to the largest layer
  EXPECT_EQ(store.size(), 3);                                 // a.atoms, b.atoms, one coefficient tensor

  auto x = torch::randn({2, 2, 5, 5}, kDouble);
  auto h = plan.conv(a).forward(x, store.tensors());
  auto y = plan.conv(b).forward(torch::relu(h), store.tensors());
  auto total = torch::autograd::grad({y.pow(2).sum()}, {coeff})[0];

  // Same network with the two slices as independent leaves.
  auto sa = coeff.detach().narrow(0, 0, 4).narrow(1, 0, 2).clone().requires_grad_();
  auto sb = coeff.detach().clone().requires_grad_();
  auto h2 = acdc::acdc_conv2d(x, store.at("a.atoms"), sa, {1, 1, 1});
  auto y2 = acdc::acdc_conv2d(torch::relu(h2), store.at("b.atoms"), sb, {1, 1, 1});
  auto gs = torch::autograd::grad({y2.pow(2).sum()}, {sa, sb});
  auto expected = gs[1].clone();
  expected.narrow(0, 0, 4).narrow(1, 0, 2).add_(gs[0]);
  EXPECT_TRUE(torch::allclose(total, expected, 1e-10, 1e-12));
}

TEST(Sharing, ScopesOwnEachCoefficientTensorOnce) {
  auto names_for = [](acdc::ConvType type) {
    acdc::ParamStore store;
    acdc::ConvOptions o;
    o.type = type;
    o.atoms = 2;
    o.group_size = 4;
    acdc::SharingPlan plan(o, &store);
    plan.add({"l1", 3, 8, 3, 1, 1, 1, "block1"});
    plan.add({"l2", 8, 8, 3, 1, 1, 1, "block1"});
    plan.add({"l3", 8, 16, 3, 2, 1, 1, "block2"});
    acdc::ConvSpec shortcut{"sc", 8, 16, 1, 2, 0, 1, "block2"};
    shortcut.decompose = false;
    plan.add(shortcut);
    plan.finalize();
    return store.names();
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(names_for(acdc::ConvType::kStandard), (V{"l1.weight", "l2.weight", "l3.weight", "sc.weight"}));
  EXPECT_EQ(names_for(acdc::ConvType::kNet), (V{"l1.atoms", "l2.atoms", "l3.atoms", "sc.weight", "acdc.coeff.net"}));
  EXPECT_EQ(names_for(acdc::ConvType::kBlock),
            (V{"l1.atoms", "l2.atoms", "l3.atoms", "sc.weight", "acdc.coeff.block1", "acdc.coeff.block2"}));
  EXPECT_EQ(names_for(acdc::ConvType::kLayer),
            (V{"l1.atoms", "l2.atoms", "l3.atoms", "sc.weight", "l1.coeff", "l2.coeff", "l3.coeff"}));
  EXPECT_EQ(names_for(acdc::ConvType::kGroupedNet), (V{"l1.atoms", "l2.atoms", "l3.atoms", "sc.weight", "acdc.coeff.net"}));
}

TEST(Grouping, GroupedConvEqualsExplicitLoopOverGroups) {
  torch::manual_seed(5);
  // C_in = 8, C_out = 12? must be multiple of s: use C_out = 8, s = 4 -> G = 2 conv groups,
  // A = 2 atom groups, each output channel sees 4 inputs.
  acdc::ParamStore store;
  acdc::ConvOptions o;
  o.type = acdc::ConvType::kGroupedLayer;
  o.atoms = 3;
  o.group_size = 4;
  acdc::SharingPlan plan(o, &store);
  const auto id = plan.add({"g", 8, 8, 3, 1, 1});
  plan.finalize();
  store.to(torch::kCPU, torch::kDouble);
  const auto& conv = plan.conv(id);
  EXPECT_EQ(conv.conv_groups(), 2);
  EXPECT_EQ(conv.atom_groups(), 2);
  EXPECT_EQ(store.at("g.atoms").sizes(), (std::vector<int64_t>{2, 3, 3, 3}));
  EXPECT_EQ(store.at("g.coeff").sizes(), (std::vector<int64_t>{4, 4, 3}));

  auto x = torch::randn({2, 8, 6, 6}, kDouble);
  auto y = conv.forward(x, store.tensors());

  // Explicit: output group j (channels 4j..4j+3) = conv of input group j with
  // reconstruct(atoms[j], coeff); then the ShuffleNet shuffle of the concatenation.
  std::vector<torch::Tensor> outs;
  for (int64_t j = 0; j < 2; ++j) {
    auto w = torch::einsum("oim,mhw->oihw", {store.at("g.coeff"), store.at("g.atoms")[j]});
    outs.push_back(torch::conv2d(x.narrow(1, 4 * j, 4), w, {}, 1, 1));
  }
  auto cat = torch::cat(outs, 1);
  auto shuffled = torch::empty_like(cat);
  for (int64_t c = 0; c < 8; ++c) {
    // shuffle with g = 2 groups of 4: new channel (c % 4) * 2 + c / 4 takes old channel c
    shuffled.select(1, (c % 4) * 2 + c / 4).copy_(cat.select(1, c));
  }
  EXPECT_TRUE(torch::allclose(y, shuffled, 1e-10, 1e-12));
}

TEST(Grouping, ChannelShuffleIsAPermutationAndUnshuffleInvertsIt) {
  auto x = torch::arange(12, kDouble).view({1, 12, 1, 1});
  for (int64_t g : {1, 2, 3, 4, 6}) {
    auto y = acdc::channel_shuffle(x, g);
    std::set<int64_t> seen;
    for (int64_t c = 0; c < 12; ++c) seen.insert(static_cast<int64_t>(y[0][c][0][0].item<double>()));
    EXPECT_EQ(seen.size(), 12u) << "groups " << g;
    EXPECT_TRUE(torch::equal(acdc::channel_unshuffle(y, g), x)) << "groups " << g;
  }
  // ShuffleNet order for 3 groups of 4: [0 4 8 1 5 9 2 6 10 3 7 11].
  auto y = acdc::channel_shuffle(x, 3).view(-1);
  EXPECT_TRUE(torch::equal(y, torch::tensor({0., 4., 8., 1., 5., 9., 2., 6., 10., 3., 7., 11.}, kDouble)));
}

TEST(AtomDrop, EvaluationIsDeterministicAndEqualsNoDrop) {
  torch::manual_seed(6);
  auto build = [](double p, acdc::ParamStore& store) {
    acdc::ConvOptions o;
    o.type = acdc::ConvType::kNet;
    o.atoms = 6;
    o.atom_drop = p;
    auto plan = std::make_unique<acdc::SharingPlan>(o, &store);
    plan->add({"c", 2, 3, 3, 1, 1});
    plan->finalize();
    return plan;
  };
  acdc::ParamStore store;
  auto plan = build(0.5, store);
  auto x = torch::randn({2, 2, 5, 5});
  auto a = plan->conv(0).forward(x, store.tensors(), {false, nullptr});
  auto b = plan->conv(0).forward(x, store.tensors(), {false, nullptr});
  EXPECT_TRUE(torch::equal(a, b));
  auto no_drop = acdc::acdc_conv2d(x, store.at("c.atoms"), store.at("acdc.coeff.net"), {1, 1, 1});
  EXPECT_TRUE(torch::allclose(a, no_drop, 1e-5, 1e-6));
  // Training draws differ from evaluation (with p = 0.5 and 6 atoms, some draw drops an atom).
  bool differs = false;
  for (int i = 0; i < 10 && !differs; ++i) differs = !torch::equal(plan->conv(0).forward(x, store.tensors(), {true, nullptr}), a);
  EXPECT_TRUE(differs);
}

TEST(AtomDrop, MaskEntriesAreZeroOrInverseKeepRate) {
  torch::manual_seed(7);
  const double p = 0.3;
  auto mask = acdc::atom_drop_mask(50, 16, p, kDouble);
  auto is_zero = mask.eq(0);
  auto is_scaled = (mask - 1.0 / (1.0 - p)).abs().lt(1e-12);
  EXPECT_TRUE(is_zero.logical_or(is_scaled).all().item<bool>());
  const double dropped = is_zero.to(torch::kDouble).mean().item<double>();
  EXPECT_NEAR(dropped, p, 0.05);  // 800 Bernoulli draws: std 0.016
}

TEST(AtomDrop, MeanKernelMatchesUndroppedKernel) {
  torch::manual_seed(8);
  auto atoms = torch::randn({8, 3, 3}, kDouble);
  auto coeff = torch::randn({4, 4, 8}, kDouble);
  auto clean = acdc::reconstruct_kernel(atoms, coeff);
  auto sum = torch::zeros_like(clean);
  const int draws = 20000;
  for (int i = 0; i < draws; ++i) sum += acdc::reconstruct_kernel(acdc::drop_atoms(atoms, 0.1, true), coeff);
  auto mean = sum / draws;
  // Each kernel entry's draw has std <= sqrt(p/(1-p)) * sqrt(sum_j (a_j D_j)^2) ~ 1; the mean
  // of 20000 draws has std ~ 0.01, so 0.06 is a > 5-sigma bound relative to entries of size ~3.
  EXPECT_LT((mean - clean).abs().max().item<double>(), 0.06);
}

TEST(Accounting, ParamsAndMacsPerLayer) {
  acdc::ParamStore store;
  acdc::ConvOptions o;
  o.type = acdc::ConvType::kGroupedNet;
  o.atoms = 16;
  o.group_size = 64;
  acdc::SharingPlan plan(o, &store);
  plan.add({"stem", 3, 64, 3, 1, 1});
  plan.add({"c1", 64, 128, 3, 2, 1});
  plan.add({"c2", 128, 128, 3, 1, 1});
  plan.finalize();
  // ACDC.md §3: shared s*s*m once + (C_out/s)*m*k*k atoms per layer.
  EXPECT_EQ(store.numel(), 64 * 64 * 16 + (1 + 2 + 2) * 16 * 9);
  EXPECT_EQ(plan.conv(2).conv_groups(), 2);
  acdc::CostRecorder costs;
  auto x = torch::zeros({1, 3, 32, 32});
  acdc::RunOptions run{false, &costs};
  auto h = plan.conv(0).forward(x, store.tensors(), run);
  h = plan.conv(1).forward(h, store.tensors(), run);
  plan.conv(2).forward(h, store.tensors(), run);
  ASSERT_EQ(costs.layers.size(), 3u);
  // MACs = C_out * min(C_in, s) * k*k * H_out*W_out.
  EXPECT_EQ(costs.layers[0].macs_per_image, 64 * 3 * 9 * 32 * 32);
  EXPECT_EQ(costs.layers[1].macs_per_image, 128 * 64 * 9 * 16 * 16);
  EXPECT_EQ(costs.layers[2].macs_per_image, 128 * 64 * 9 * 16 * 16);
  // Reconstruction: C_out * min(C_in, s) * k*k * m per forward.
  EXPECT_EQ(costs.reconstruction_macs(), (64 * 3 + 128 * 64 + 128 * 64) * 9 * 16);
}

TEST(Validation, BadConfigurationsNameTheBadValue) {
  acdc::ParamStore store;
  acdc::ConvOptions zero_atoms;
  zero_atoms.type = acdc::ConvType::kNet;
  zero_atoms.atoms = 0;
  try {
    acdc::SharingPlan plan(zero_atoms, &store);
    FAIL() << "m = 0 accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("got 0"), std::string::npos) << e.what();
  }

  acdc::ConvOptions grouped;
  grouped.type = acdc::ConvType::kGroupedNet;
  grouped.group_size = 48;
  acdc::SharingPlan plan(grouped, &store);
  try {
    plan.add({"layer3.conv", 64, 64, 3, 1, 1});
    FAIL() << "group size 48 with 64 channels accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("group size 48"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("layer3.conv"), std::string::npos) << e.what();
    // Issue 14, item 4: the sizes the layer accepts (the divisors of 64).
    EXPECT_NE(std::string(e.what()).find("valid sizes for this layer: 1, 2, 4, 8, 16, 32, 64"), std::string::npos)
        << e.what();
  }

  try {
    acdc::parse_conv_type("acdc-tree");
    FAIL() << "unknown conv type accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("'acdc-tree'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(acdc::parse_atom_init("xavier"), std::invalid_argument);
  acdc::ConvOptions bad_drop;
  bad_drop.atom_drop = 1.0;
  EXPECT_THROW(bad_drop.validate(), std::invalid_argument);
}

TEST(ParamStore, SharingPlanGivesEveryTensorItsRole) {
  acdc::ParamStore store;
  acdc::ConvOptions o;
  o.type = acdc::ConvType::kBlock;
  o.atoms = 2;
  acdc::SharingPlan plan(o, &store);
  acdc::ConvSpec decomposed{"l1", 3, 8, 3, 1, 1, 1, "block1"};
  decomposed.bias = true;
  plan.add(decomposed);
  acdc::ConvSpec shortcut{"sc", 3, 8, 1, 1, 0, 1, "block1"};
  shortcut.decompose = false;
  plan.add(shortcut);
  plan.finalize();
  using R = acdc::Role;
  EXPECT_EQ(store.names(), (std::vector<std::string>{"l1.atoms", "l1.bias", "sc.weight", "acdc.coeff.block1"}));
  EXPECT_EQ(store.roles(), (std::vector<R>{R::kAtoms, R::kConvBias, R::kConvWeight, R::kCoefficients}));
  EXPECT_EQ(acdc::to_string(R::kCoefficients), "coefficients");
  store.add("free", torch::zeros({1}));
  EXPECT_EQ(store.role(store.slot("free")), R::kOther);
}

TEST(ParamStore, ResolveNamesMissingAndMisshapenKeys) {
  acdc::ParamStore store;
  store.add("a.weight", torch::zeros({2, 3}));
  store.add("b", torch::zeros({4}));
  auto d = store.dict();
  EXPECT_EQ(store.resolve(d).size(), 2u);
  d.erase("b");
  try {
    store.resolve(d);
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("'b'"), std::string::npos);
  }
  d["b"] = torch::zeros({5});
  try {
    store.resolve(d);
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("'b'"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("[4]"), std::string::npos) << e.what();
  }
  EXPECT_THROW(store.add("b", torch::zeros({1})), std::invalid_argument);
}

TEST(Dct, AtomsAreOrthonormal) {
  auto d = acdc::dct_atoms(9, 3, kDouble).view({9, 9});
  EXPECT_TRUE(torch::allclose(d.mm(d.t()), torch::eye(9, kDouble), 1e-12, 1e-12));
}

}  // namespace

namespace {

// First and second derivatives of the same scalar through two conv implementations: gradients
// g = d<conv(x, w), t>/d(x, w) with a graph, then d<g, u>/d(x, w, t) — the term MAML's
// second-order backward evaluates through every inner step.
struct ConvDerivatives {
  torch::Tensor y, gx, gw, dx, dw, dt;
};

// `layout` is the memory format of the probes (the gradients flowing into gx and gw).
ConvDerivatives conv_derivatives(const std::function<torch::Tensor(const torch::Tensor&, const torch::Tensor&)>& conv,
                                 torch::Tensor x, torch::Tensor w, torch::Tensor t, bool input_grad,
                                 torch::MemoryFormat layout = torch::MemoryFormat::Contiguous) {
  x = x.detach().requires_grad_(input_grad);
  w = w.detach().requires_grad_(true);
  t = t.detach().requires_grad_(true);
  ConvDerivatives d;
  d.y = conv(x, w);
  std::vector<torch::Tensor> inputs = {w};
  if (input_grad) inputs.push_back(x);
  auto g = torch::autograd::grad({(d.y * t).sum()}, inputs, {}, /*retain_graph=*/true, /*create_graph=*/true);
  d.gw = g[0];
  // Probes drawn in logical order (randn_like would follow each gradient's own strides).
  torch::manual_seed(5);
  auto probe = (g[0] * torch::randn(g[0].sizes(), g[0].options()).contiguous(layout)).sum();
  if (input_grad) {
    d.gx = g[1];
    probe = probe + (g[1] * torch::randn(g[1].sizes(), g[1].options()).contiguous(layout)).sum();
  }
  std::vector<torch::Tensor> wrt = {w, t};
  if (input_grad) wrt.push_back(x);
  auto h = torch::autograd::grad({probe}, wrt, {}, /*retain_graph=*/false, /*create_graph=*/false, /*allow_unused=*/true);
  d.dw = h[0];
  d.dt = h[1];
  if (input_grad) d.dx = h[2];
  return d;
}

void expect_same(const torch::Tensor& a, const torch::Tensor& b, const std::string& what) {
  ASSERT_EQ(a.defined(), b.defined()) << what;
  if (!a.defined()) return;
  ASSERT_EQ(a.sizes(), b.sizes()) << what;
  EXPECT_TRUE(torch::allclose(a, b, 1e-10, 1e-10)) << what << " max diff " << (a - b).abs().max().item<double>();
}

void expect_same_derivatives(const ConvDerivatives& fast, const ConvDerivatives& plain) {
  expect_same(fast.y, plain.y, "output");
  expect_same(fast.gw, plain.gw, "weight gradient");
  expect_same(fast.gx, plain.gx, "input gradient");
  expect_same(fast.dw, plain.dw, "second order: weight");
  expect_same(fast.dt, plain.dt, "second order: output gradient");
  expect_same(fast.dx, plain.dx, "second order: input");
}

}  // namespace

// acdc::conv2d (hand-written double backward, im2col weight gradient for small stems) against
// torch::conv2d and LibTorch's own double backward, in double precision.
TEST(FastConv, FirstAndSecondDerivativesEqualLibTorchConv) {
  struct Case {
    int64_t n, c_in, c_out, h, k, stride, padding, dilation, groups;
    bool input_grad, channels_last;
  };
  const std::vector<Case> cases = {
      {3, 4, 5, 7, 3, 1, 1, 1, 1, true, false},   // plain 3x3
      {2, 4, 6, 9, 3, 2, 1, 1, 1, true, true},    // stride 2, channels-last
      {2, 4, 4, 8, 3, 1, 2, 2, 2, true, false},   // dilation 2, 2 groups
      {2, 6, 6, 5, 1, 1, 0, 1, 3, true, true},    // 1x1, 3 groups
      {3, 1, 5, 6, 3, 1, 1, 1, 1, false, true},   // 1-channel stem: im2col weight gradient
      {3, 3, 5, 6, 3, 2, 1, 1, 1, false, false},  // 3-channel stem, stride 2
      {2, 3, 4, 9, 7, 2, 3, 1, 1, false, true},   // 7x7 stem (oneDNN weight gradient)
  };
  for (const auto& c : cases) {
    SCOPED_TRACE("n " + std::to_string(c.n) + " c_in " + std::to_string(c.c_in) + " k " + std::to_string(c.k) +
                 " stride " + std::to_string(c.stride) + " groups " + std::to_string(c.groups));
    torch::manual_seed(3);
    auto x = torch::randn({c.n, c.c_in, c.h, c.h}, kDouble);
    if (c.channels_last) {
      x = x.contiguous(torch::MemoryFormat::ChannelsLast);
      if (c.c_in == 1) x = x.as_strided(x.sizes(), {c.h * c.h, 1, c.h, 1});  // as Backbone::forward_with
    }
    auto w = torch::randn({c.c_out, c.c_in / c.groups, c.k, c.k}, kDouble);
    const acdc::ConvGeometry g{c.stride, c.padding, c.dilation};
    const int64_t out = (c.h + 2 * c.padding - c.dilation * (c.k - 1) - 1) / c.stride + 1;
    auto t = torch::randn({c.n, c.c_out, out, out}, kDouble);
    auto fast = conv_derivatives([&](const torch::Tensor& a, const torch::Tensor& b) { return acdc::conv2d(a, b, {}, g, c.groups); },
                                 x, w, t, c.input_grad);
    auto plain = conv_derivatives(
        [&](const torch::Tensor& a, const torch::Tensor& b) {
          return torch::conv2d(a, b, {}, c.stride, c.padding, c.dilation, c.groups);
        },
        x, w, t, c.input_grad);
    expect_same_derivatives(fast, plain);
    if (c.channels_last && c.c_in == 1 && c.h > 1) {
      // The 1-channel channels-last input yields a channels-last output (acdc/conv_autograd.cpp).
      EXPECT_TRUE(fast.y.is_contiguous(torch::MemoryFormat::ChannelsLast));
    }
  }
}

TEST(FastConv, BiasIsAddedPerChannel) {
  torch::manual_seed(4);
  auto x = torch::randn({2, 3, 5, 5}, kDouble);
  auto w = torch::randn({4, 3, 3, 3}, kDouble);
  auto b = torch::randn({4}, kDouble);
  EXPECT_TRUE(torch::allclose(acdc::conv2d(x, w, b, {1, 1, 1}), torch::conv2d(x, w, b, 1, 1), 1e-12, 1e-12));
}

namespace {

// Sets the process-wide Winograd use for one test's scope.
class WinogradUseScope {
 public:
  explicit WinogradUseScope(acdc::WinogradUse use) : saved_(acdc::winograd_use()) { acdc::set_winograd_use(use); }
  ~WinogradUseScope() { acdc::set_winograd_use(saved_); }

 private:
  acdc::WinogradUse saved_;
};

// Whether a 3 x 3 convolution (stride 1, padding 1) of n float maps of side x side between
// `channels` channels, channels-last, runs on the Winograd kernels under the current use.
bool winograd_runs_on(int64_t n, int64_t channels, int64_t side) {
  const auto x = torch::zeros({n, channels, side, side}).contiguous(torch::MemoryFormat::ChannelsLast);
  return acdc::winograd_runs(x, torch::zeros({channels, channels, 3, 3}), {1, 1}, {1, 1}, {1, 1}, 1);
}

bool cpu_runs_winograd() {
  WinogradUseScope on(acdc::WinogradUse::kAlways);
  return winograd_runs_on(1, 16, 4);
}

// Runs every kernel call of one test on one build of the loops (acdc::force_winograd_build).
class WinogradBuildScope {
 public:
  explicit WinogradBuildScope(acdc::WinogradBuild build) { acdc::force_winograd_build(build); }
  ~WinogradBuildScope() { acdc::force_winograd_build(std::nullopt); }
};

// Each build of the Winograd loops: AVX2 (8 floats per register), the AVX-512 source built for
// AVX2 (16 floats per register in two AVX2 registers: the AVX-512 build's loops, run on any AVX2
// CPU) and the AVX-512 build itself where the CPU has AVX-512. Channel counts are multiples of
// two registers of the build (`scale` times those of the AVX2 cases).
class WinogradBuilds : public ::testing::TestWithParam<acdc::WinogradBuild> {
 protected:
  void SetUp() override {
    if (!acdc::winograd_build_runs_here(GetParam())) {
      GTEST_SKIP() << "this CPU lacks the build's instructions (AVX2 + FMA, or AVX-512 for the AVX-512 build)";
    }
  }
  int64_t scale() const { return GetParam() == acdc::WinogradBuild::kAvx2 ? 1 : 2; }
};

std::string build_name(const ::testing::TestParamInfo<acdc::WinogradBuild>& info) {
  switch (info.param) {
    case acdc::WinogradBuild::kAvx2:
      return "Avx2";
    case acdc::WinogradBuild::kAvx512:
      return "Avx512";
    case acdc::WinogradBuild::kWideOnAvx2:
      return "Avx512LoopsOnAvx2";
  }
  return "Unknown";
}

}  // namespace

namespace acdc {
// How GoogleTest prints a parameter (CTest lists it beside each test's name).
void PrintTo(WinogradBuild build, std::ostream* os) { *os << build_name({build, 0}); }
}  // namespace acdc

// Built without the kernels or on a CPU without AVX2 + FMA, the Winograd kernels are never chosen.
TEST(Winograd, NeverChosenWhereTheyCannotRun) {
  if (cpu_runs_winograd()) GTEST_SKIP() << "the kernels run here (checked by WinogradBuilds.*)";
  WinogradUseScope on(acdc::WinogradUse::kAlways);
  EXPECT_FALSE(winograd_runs_on(1, 16, 8));
  using acdc::WinogradBuild;
  for (const auto build : {WinogradBuild::kAvx2, WinogradBuild::kAvx512, WinogradBuild::kWideOnAvx2}) {
    EXPECT_FALSE(acdc::winograd_build_runs_here(build));
  }
}

// A forced build runs only where its registers divide the channel counts (oneDNN elsewhere):
// 16 float channels are two AVX2 registers but one AVX-512 register.
TEST(Winograd, ForcedBuildRunsOnlyWhereItsRegistersDivideTheChannels) {
  if (!cpu_runs_winograd()) GTEST_SKIP() << "no AVX2 + FMA here: the Winograd kernels never run (asserted above)";
  WinogradUseScope on(acdc::WinogradUse::kAlways);
  WinogradBuildScope wide(acdc::WinogradBuild::kWideOnAvx2);
  EXPECT_FALSE(winograd_runs_on(1, 16, 8));
  EXPECT_TRUE(winograd_runs_on(1, 32, 8));
  const auto x16 = torch::zeros({1, 16, 8, 8}).contiguous(torch::MemoryFormat::ChannelsLast);
  EXPECT_THROW(acdc::winograd_conv(x16, torch::zeros({16, 16, 3, 3})), std::invalid_argument);
}

// The default use: every build that beats oneDNN's direct kernels on this CPU. On an AVX2 CPU the
// AVX2 build (16 float channels and more); on an AVX-512 CPU, where oneDNN's kernels are AVX-512
// too, the builds this process measured faster than oneDNN (the AVX-512 build: 32 float channels
// and more). Never on maps under 4 x 4.
TEST(Winograd, AutoRunsTheBuildsThatBeatOneDnnHere) {
  if (!cpu_runs_winograd()) GTEST_SKIP() << "no AVX2 + FMA here: the Winograd kernels never run (asserted above)";
  using acdc::WinogradBuild;
  WinogradUseScope automatic(acdc::WinogradUse::kAuto);
  const bool avx512 = acdc::winograd_build_runs_here(WinogradBuild::kAvx512);
  const auto winners =
      avx512 ? acdc::winograd_measurement().winners() : std::vector<WinogradBuild>{WinogradBuild::kAvx2};
  const bool avx2_wins = std::find(winners.begin(), winners.end(), WinogradBuild::kAvx2) != winners.end();
  EXPECT_EQ(winograd_runs_on(1, 16, 8), avx2_wins);
  EXPECT_EQ(winograd_runs_on(1, 32, 8), !winners.empty());
  EXPECT_FALSE(winograd_runs_on(8, 32, 3));  // 32 tiles, but a 3 x 3 map
  const std::string status = acdc::winograd_status();
  EXPECT_EQ(status.rfind(winners.empty() ? "auto: off (" : "auto: on (", 0), 0u) << status;
  EXPECT_EQ(status.find("measured here against oneDNN's time: AVX-512 build ") != std::string::npos, avx512)
      << status;
  if (avx512) {  // the builds it runs, named in their order of preference
    size_t at = 0;
    for (const auto build : winners) {
      at = status.find("the " + acdc::to_string(build) + " build where", at);
      EXPECT_NE(at, std::string::npos) << status;
    }
  }
}

// Which builds `auto` runs on an AVX-512 CPU, from the measurement: those that beat oneDNN, in the
// order of their time against oneDNN's, and the AVX-512 build not behind the AVX2 one (which runs
// wherever it would). Arguments: each build's time and oneDNN's beside it, in ms.
TEST(Winograd, AutoPrefersTheBuildsByTheirTimeAgainstOneDnn) {
  using acdc::WinogradBuild;
  auto measured = [](double avx512_ms, double avx512_onednn_ms, double avx2_ms, double avx2_onednn_ms) {
    return acdc::WinogradMeasurement{{"AVX-512", avx512_ms, avx512_onednn_ms}, {"AVX2", avx2_ms, avx2_onednn_ms}};
  };
  using Builds = std::vector<WinogradBuild>;
  EXPECT_EQ(measured(6, 10, 8, 10).winners(), (Builds{WinogradBuild::kAvx512, WinogradBuild::kAvx2}));
  EXPECT_EQ(measured(6, 10, 11, 10).winners(), Builds{WinogradBuild::kAvx512});
  EXPECT_EQ(measured(12, 10, 8, 10).winners(), Builds{WinogradBuild::kAvx2});
  EXPECT_EQ(measured(9, 10, 8, 10).winners(), Builds{WinogradBuild::kAvx2});  // both win, AVX2 by more
  // The ratio decides, not the time: oneDNN ran slower beside the AVX-512 build's timing.
  EXPECT_EQ(measured(9, 12, 8, 10).winners(), (Builds{WinogradBuild::kAvx512, WinogradBuild::kAvx2}));
  EXPECT_EQ(measured(10, 10, 12, 10).winners(), Builds{});  // a tie is no win
}

// The text a run records of what `auto` chose (acdc::winograd_auto_choice) reads back as the
// same builds; any other text is refused naming it, and pinning something that is no choice is
// refused. (Pinning a real choice changes the process; Experiments.ResumeRunsTheRecordedWinogradChoice
// checks it in processes of its own.)
TEST(Winograd, AutoChoiceTextsReadBackAndOthersAreNamed) {
  using acdc::WinogradBuild;
  using Builds = std::vector<WinogradBuild>;
  EXPECT_EQ(acdc::parse_winograd_auto_choice("none"), Builds{});
  EXPECT_EQ(acdc::parse_winograd_auto_choice("AVX-512"), Builds{WinogradBuild::kAvx512});
  EXPECT_EQ(acdc::parse_winograd_auto_choice("AVX2"), Builds{WinogradBuild::kAvx2});
  EXPECT_EQ(acdc::parse_winograd_auto_choice("AVX-512,AVX2"), (Builds{WinogradBuild::kAvx512, WinogradBuild::kAvx2}));
  for (const std::string bad : {"", "AVX2,AVX-512", "avx2", "AVX2,", ",AVX2", "AVX-512,AVX-512", "none,AVX2", "oneDNN"}) {
    try {
      acdc::parse_winograd_auto_choice(bad);
      ADD_FAILURE() << "'" << bad << "' was read";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("Winograd choice '" + bad + "' is not one of none, AVX-512, AVX2, "
                                           "AVX-512,AVX2"),
                std::string::npos)
          << e.what();
    }
  }
  EXPECT_THROW(acdc::pin_winograd_auto_choice({WinogradBuild::kAvx2, WinogradBuild::kAvx512}), std::invalid_argument);
  EXPECT_THROW(acdc::pin_winograd_auto_choice({WinogradBuild::kWideOnAvx2}), std::invalid_argument);
  if (!acdc::winograd_build_runs_here(WinogradBuild::kAvx512)) {  // nothing to choose: a pin changes nothing
    EXPECT_TRUE(acdc::pin_winograd_auto_choice({}));
    EXPECT_EQ(acdc::winograd_auto_choice(), "");
  }
}

// The measurement `auto` decides by on AVX-512 CPUs times a build (each one this CPU runs) against
// oneDNN; what it finds is the CPU's business, so only its form is checked, and a forced build
// (tests) does not change which build `auto` times. On CPUs without AVX-512, where `auto` follows
// its rule, asking for it is a logic error.
TEST(Winograd, MeasuresEveryBuildAgainstOneDnn) {
  if (!cpu_runs_winograd()) GTEST_SKIP() << "no AVX2 + FMA here: the Winograd kernels never run (asserted above)";
  using acdc::WinogradBuild;
  for (const auto build : {WinogradBuild::kAvx2, WinogradBuild::kWideOnAvx2, WinogradBuild::kAvx512}) {
    if (!acdc::winograd_build_runs_here(build)) {
      EXPECT_THROW(acdc::time_winograd_against_onednn(build), std::invalid_argument);
      continue;
    }
    const auto t = acdc::time_winograd_against_onednn(build);
    EXPECT_EQ(t.build, acdc::to_string(build));
    for (const double ms : {t.winograd_ms, t.onednn_ms}) EXPECT_TRUE(ms > 0 && std::isfinite(ms)) << t.build << ": " << ms;
    EXPECT_EQ(t.winograd_faster(), t.winograd_ms < t.onednn_ms);
    std::cout << t.build << ": Winograd " << t.winograd_ms << " ms, oneDNN " << t.onednn_ms << " ms\n";
  }
  if (acdc::winograd_build_runs_here(WinogradBuild::kAvx512)) {
    WinogradBuildScope forced(WinogradBuild::kWideOnAvx2);
    EXPECT_EQ(acdc::winograd_measurement().avx512.build, "AVX-512");
    EXPECT_EQ(acdc::winograd_measurement().avx2.build, "AVX2");
    EXPECT_EQ(&acdc::winograd_measurement(), &acdc::winograd_measurement());  // taken once
  } else {
    EXPECT_THROW(acdc::winograd_measurement(), std::logic_error);
  }
}

// The Winograd kernels (acdc/winograd.h) in every term of acdc::conv2d's first and second
// derivatives against torch::conv2d with LibTorch's own double backward, in double precision:
// even and odd map sizes (half-empty tiles at the edges), a map smaller than a tile, several
// blocks of tiles, unequal channel counts.
TEST_P(WinogradBuilds, EveryDerivativeEqualsLibTorchConv) {
  WinogradUseScope on(acdc::WinogradUse::kAlways);
  WinogradBuildScope build(GetParam());
  struct Case {
    int64_t n, c_in, c_out, h, w;
  };
  const int64_t m = scale();
  const std::vector<Case> cases = {{2, 8 * m, 16 * m, 7, 7},
                                   {3, 16 * m, 8 * m, 6, 5},
                                   {1, 8 * m, 8 * m, 3, 3},
                                   {2, 8 * m, 8 * m, 1, 2},
                                   {5, 8 * m, 16 * m, 14, 14}};
  const auto cl = torch::MemoryFormat::ChannelsLast;
  for (const auto& c : cases) {
    SCOPED_TRACE("n " + std::to_string(c.n) + " channels " + std::to_string(c.c_in) + " -> " + std::to_string(c.c_out) +
                 " map " + std::to_string(c.h) + "x" + std::to_string(c.w));
    torch::manual_seed(6);
    auto x = torch::randn({c.n, c.c_in, c.h, c.w}, kDouble).contiguous(cl);
    auto w = torch::randn({c.c_out, c.c_in, 3, 3}, kDouble);
    auto t = torch::randn({c.n, c.c_out, c.h, c.w}, kDouble).contiguous(cl);
    {
      torch::NoGradGuard no_grad;  // as inside the autograd functions
      ASSERT_TRUE(acdc::winograd_runs(x, w, {1, 1}, {1, 1}, {1, 1}, 1, t));
    }
    const acdc::ConvGeometry g{1, 1, 1};
    auto fast = conv_derivatives([&](const torch::Tensor& a, const torch::Tensor& b) { return acdc::conv2d(a, b, {}, g); },
                                 x, w, t, /*input_grad=*/true, cl);
    auto plain = conv_derivatives(
        [&](const torch::Tensor& a, const torch::Tensor& b) { return torch::conv2d(a, b, {}, 1, 1); }, x, w, t,
        /*input_grad=*/true, cl);
    expect_same_derivatives(fast, plain);
    EXPECT_TRUE(fast.y.is_contiguous(cl));
  }
}

// In float, at the shape that dominates the Conv4 meta-iteration (64 channels, 14 x 14), the
// three Winograd ops agree with oneDNN's to float rounding: relative to the largest value,
// 1e-5 (measured 1e-6; summing a 64-channel 3x3 product in another order gives ~1e-6).
TEST_P(WinogradBuilds, FloatOpsAgreeWithOneDnn) {
  WinogradBuildScope build(GetParam());
  torch::manual_seed(7);
  const auto cl = torch::MemoryFormat::ChannelsLast;
  auto x = torch::randn({6, 64, 14, 14}).contiguous(cl);
  auto w = torch::randn({64, 64, 3, 3}).mul(0.05).contiguous(cl);
  auto gy = torch::randn({6, 64, 14, 14}).contiguous(cl);
  auto direct = at::convolution_backward(gy, x, w, c10::nullopt, {1, 1}, {1, 1}, {1, 1}, false, {0, 0}, 1,
                                         {true, true, false});
  auto close = [](const torch::Tensor& a, const torch::Tensor& b) {
    return (a - b).abs().max().item<double>() / b.abs().max().item<double>();
  };
  EXPECT_LT(close(acdc::winograd_conv(x, w), torch::conv2d(x, w, {}, 1, 1)), 1e-5);
  EXPECT_LT(close(acdc::winograd_input_grad(gy, w), std::get<0>(direct)), 1e-5);
  const auto gw = acdc::winograd_weight_grad(gy, x, w);
  EXPECT_LT(close(gw, std::get<1>(direct)), 1e-5);
  EXPECT_TRUE(gw.is_contiguous(cl));  // in the weight's layout
}

// The weight gradient sums its tiles in fixed chunks, so its bits do not depend on the number of
// intra-op threads (40 maps of 14 x 14: 1960 tiles, two chunks); nor do the forward's.
TEST_P(WinogradBuilds, ResultsDoNotDependOnTheThreadCount) {
  WinogradBuildScope build(GetParam());
  torch::manual_seed(8);
  const auto cl = torch::MemoryFormat::ChannelsLast;
  const int64_t channels = 16 * scale();
  auto x = torch::randn({40, channels, 14, 14}).contiguous(cl);
  auto w = torch::randn({channels, channels, 3, 3});
  auto gy = torch::randn({40, channels, 14, 14}).contiguous(cl);
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  const auto gw1 = acdc::winograd_weight_grad(gy, x, w), y1 = acdc::winograd_conv(x, w);
  at::set_num_threads(2);
  const auto gw2 = acdc::winograd_weight_grad(gy, x, w), y2 = acdc::winograd_conv(x, w);
  at::set_num_threads(threads);
  EXPECT_TRUE(torch::equal(gw1, gw2));
  EXPECT_TRUE(torch::equal(y1, y2));
}

INSTANTIATE_TEST_SUITE_P(Builds, WinogradBuilds,
                         ::testing::Values(acdc::WinogradBuild::kAvx2, acdc::WinogradBuild::kWideOnAvx2,
                                           acdc::WinogradBuild::kAvx512),
                         build_name);

TEST(Winograd, UseIsParsedAndBadValuesAreNamed) {
  EXPECT_EQ(acdc::parse_winograd_use("auto"), acdc::WinogradUse::kAuto);
  EXPECT_EQ(acdc::parse_winograd_use("on"), acdc::WinogradUse::kAlways);
  EXPECT_EQ(acdc::parse_winograd_use("off"), acdc::WinogradUse::kNever);
  try {
    acdc::parse_winograd_use("fast");
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("'fast'"), std::string::npos) << e.what();
  }
  // Off means oneDNN for every shape, where on would choose the kernels.
  WinogradUseScope off(acdc::WinogradUse::kNever);
  EXPECT_FALSE(winograd_runs_on(1, 16, 8));
}
