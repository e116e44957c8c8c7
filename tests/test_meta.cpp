// Tests of the MAML engine (meta/) on a tiny Conv4 in double precision.

#include "backbones/registry.h"
#include "meta/maml.h"
#include "meta/task_pool.h"
#include "tests/support/gradcheck.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <functional>

namespace {

const auto kDouble = torch::TensorOptions().dtype(torch::kDouble);

std::unique_ptr<backbones::Backbone> tiny_net(const std::string& conv = "acdc-net", int64_t bn_steps = 1) {
  torch::manual_seed(11);
  backbones::BackboneOptions o;
  o.name = "conv4";
  o.conv.type = acdc::parse_conv_type(conv);
  o.conv.atoms = 2;
  o.classes = 3;
  o.in_channels = 1;
  o.image_size = 16;
  o.width = 3;
  o.bn_steps = bn_steps;
  auto net = backbones::make_backbone(o);
  net->to(torch::kCPU, torch::kDouble);
  return net;
}

struct Task {
  torch::Tensor sx, sy, qx, qy;  // stacked [T, ...]
};

Task tiny_task(int64_t tasks = 1) {
  torch::manual_seed(12);
  Task t;
  t.sx = torch::randn({tasks, 6, 1, 16, 16}, kDouble);
  t.sy = torch::arange(3).repeat({2}).repeat({tasks, 1});
  t.qx = torch::randn({tasks, 9, 1, 16, 16}, kDouble);
  t.qy = torch::arange(3).repeat({3}).repeat({tasks, 1});
  return t;
}

double query_loss(backbones::Backbone& net, const std::vector<torch::Tensor>& params, const Task& t) {
  backbones::ForwardOptions fo;
  fo.training = true;
  return torch::nn::functional::cross_entropy(net.forward_with(t.qx[0], params, fo), t.qy[0]).item<double>();
}

TEST(InnerLoop, OneStepByHandEqualsEngine) {
  for (bool second_order : {false, true}) {
    auto net = tiny_net();
    meta::MamlConfig cfg;
    cfg.inner_lr = 0.3;
    meta::Maml maml(*net, cfg);
    auto t = tiny_task();
    auto fast = maml.adapt(t.sx[0], t.sy[0], 1, /*create_graph=*/second_order, /*training=*/true);

    backbones::ForwardOptions fo;
    fo.training = true;
    const auto& w = net->params().tensors();
    auto loss = torch::nn::functional::cross_entropy(net->forward_with(t.sx[0], w, fo), t.sy[0]);
    auto grads = torch::autograd::grad({loss}, w);
    for (size_t i = 0; i < w.size(); ++i) {
      EXPECT_TRUE(torch::allclose(fast[i], w[i] - 0.3 * grads[i], 1e-12, 1e-12)) << net->params().names()[i];
    }
    // A second-order fast weight is part of a graph that reaches the meta parameters' gradient.
    EXPECT_TRUE(fast[0].requires_grad());
    EXPECT_EQ(fast[0].grad_fn() != nullptr, true);
  }
}

// f(w) = query loss after `steps` inner steps from w, evaluated without graphs.
std::function<double()> post_adaptation_loss(backbones::Backbone& net, meta::Maml& maml, const Task& t, int64_t steps) {
  return [&net, &maml, t, steps] {
    auto fast = maml.adapt(t.sx[0], t.sy[0], steps, /*create_graph=*/false, /*training=*/true);
    return query_loss(net, fast, t);
  };
}

TEST(MetaGradient, SecondOrderMatchesFiniteDifferences) {
  auto net = tiny_net();
  meta::MamlConfig cfg;
  cfg.inner_lr = 0.2;
  cfg.inner_steps = 2;
  meta::Maml maml(*net, cfg);
  auto t = tiny_task();
  auto grads = maml.meta_gradient(t.sx, t.sy, t.qx, t.qy, /*iteration=*/0);
  auto f = post_adaptation_loss(*net, maml, t, 2);
  // Central differences (eps 1e-6) on a subset of entries of every parameter tensor (all of the
  // small ones).
  int checked = 0;
  for (int64_t s = 0; s < net->params().size(); ++s) {
    const auto p = net->params().tensors()[static_cast<size_t>(s)];  // shares the parameter's storage
    ASSERT_TRUE(grads[static_cast<size_t>(s)].defined()) << net->params().names()[static_cast<size_t>(s)];
    auto g = grads[static_cast<size_t>(s)].view(-1);
    for (int64_t i = 0; i < p.numel(); i += std::max<int64_t>(1, p.numel() / 5)) {
      const double numeric = support::central_difference(f, p, i, /*eps=*/1e-6);
      EXPECT_NEAR(g[i].item<double>(), numeric, 1e-6 + 1e-4 * std::abs(numeric))
          << net->params().names()[static_cast<size_t>(s)] << "[" << i << "]";
      ++checked;
    }
  }
  EXPECT_GT(checked, 30);
}

TEST(MetaGradient, FirstOrderEqualsQueryGradientAtFastWeights) {
  auto net = tiny_net();
  meta::MamlConfig cfg;
  cfg.inner_lr = 0.2;
  cfg.inner_steps = 2;
  cfg.first_order = true;
  meta::Maml maml(*net, cfg);
  auto t = tiny_task();
  auto grads = maml.meta_gradient(t.sx, t.sy, t.qx, t.qy, 0);

  auto fast = maml.adapt(t.sx[0], t.sy[0], 2, /*create_graph=*/false, /*training=*/true);
  std::vector<torch::Tensor> leaves;
  for (auto& w : fast) leaves.push_back(w.detach().requires_grad_(true));
  backbones::ForwardOptions fo;
  fo.training = true;
  fo.step = 2;
  auto loss = torch::nn::functional::cross_entropy(net->forward_with(t.qx[0], leaves, fo), t.qy[0]);
  auto expected = torch::autograd::grad({loss}, leaves);
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_TRUE(torch::allclose(grads[i], expected[i], 1e-10, 1e-12)) << net->params().names()[i];
  }
}

TEST(MetaGradient, AnnealingSwitchesToSecondOrder) {
  auto net = tiny_net();
  meta::MamlConfig cfg;
  cfg.anneal_first_order = 10;
  meta::Maml maml(*net, cfg);
  EXPECT_TRUE(maml.first_order_at(0));
  EXPECT_TRUE(maml.first_order_at(9));
  EXPECT_FALSE(maml.first_order_at(10));
}

TEST(InnerParams, AtomsOnlyAdaptsOnlyAtoms) {
  auto net = tiny_net();
  meta::MamlConfig cfg;
  cfg.inner_params = backbones::ParamFilter::kAtoms;
  cfg.inner_lr = 0.5;
  meta::Maml maml(*net, cfg);
  auto t = tiny_task();
  auto fast = maml.adapt(t.sx[0], t.sy[0], 2, false, true);
  int changed = 0;
  for (size_t i = 0; i < fast.size(); ++i) {
    const auto& name = net->params().names()[i];
    const bool is_atoms = name.size() > 6 && name.substr(name.size() - 6) == ".atoms";
    const bool same = torch::equal(fast[i], net->params().tensors()[i]);
    EXPECT_EQ(same, !is_atoms) << name;
    changed += !same;
  }
  EXPECT_EQ(changed, 4);  // the four conv layers' atoms
  // Standard conv has no atoms: a clear error.
  auto standard = tiny_net("standard");
  EXPECT_THROW(meta::Maml(*standard, cfg), std::invalid_argument);
}

TEST(InnerLr, LearnedRatesReceiveGradients) {
  auto net = tiny_net();
  meta::MamlConfig cfg;
  cfg.learn_inner_lr = true;
  cfg.inner_steps = 2;
  meta::Maml maml(*net, cfg);
  ASSERT_EQ(maml.inner_lrs().size(), net->params().size());
  EXPECT_EQ(maml.inner_lrs().names()[0], "inner_lr." + net->params().names()[0]);
  auto t = tiny_task();
  auto grads = maml.meta_gradient(t.sx, t.sy, t.qx, t.qy, 0);
  ASSERT_EQ(static_cast<int64_t>(grads.size()), net->params().size() + maml.inner_lrs().size());
  for (int64_t i = 0; i < maml.inner_lrs().size(); ++i) {
    const auto& g = grads[static_cast<size_t>(net->params().size() + i)];
    ASSERT_TRUE(g.defined());
    EXPECT_GT(g.abs().sum().item<double>(), 0.0) << maml.inner_lrs().names()[static_cast<size_t>(i)];
  }
  auto before = maml.inner_lrs().tensors()[0].clone();
  maml.meta_step(t.sx, t.sy, t.qx, t.qy, 0);
  EXPECT_FALSE(torch::equal(before, maml.inner_lrs().tensors()[0]));
}

TEST(MetaStep, ReducesQueryLossOnARepeatedTask) {
  auto net = tiny_net();
  meta::MamlConfig cfg;
  cfg.inner_lr = 0.1;
  cfg.meta_lr = 0.01;
  cfg.clip_grad_norm = 10;
  meta::Maml maml(*net, cfg);
  auto t = tiny_task(2);
  const double first = maml.meta_step(t.sx, t.sy, t.qx, t.qy, 0).loss;
  double last = first;
  for (int i = 1; i < 15; ++i) last = maml.meta_step(t.sx, t.sy, t.qx, t.qy, i).loss;
  EXPECT_LT(last, first);
}

TEST(Evaluate, LeavesMetaParametersAndStatisticsUntouched) {
  auto net = tiny_net("acdc-net", /*bn_steps=*/11);
  meta::MamlConfig cfg;
  cfg.bn = backbones::BnMode::kPerStep;
  meta::Maml maml(*net, cfg);
  auto t = tiny_task();
  std::vector<torch::Tensor> params, buffers;
  for (auto& p : net->params().tensors()) params.push_back(p.clone());
  for (auto& b : net->buffers().tensors()) buffers.push_back(b.clone());
  auto a = maml.evaluate(t.sx[0], t.sy[0], t.qx[0], t.qy[0]);
  auto b = maml.evaluate(t.sx[0], t.sy[0], t.qx[0], t.qy[0]);
  EXPECT_EQ(a.accuracy, b.accuracy);
  EXPECT_EQ(a.loss, b.loss);
  for (size_t i = 0; i < params.size(); ++i) EXPECT_TRUE(torch::equal(params[i], net->params().tensors()[i]));
  for (size_t i = 0; i < buffers.size(); ++i) EXPECT_TRUE(torch::equal(buffers[i], net->buffers().tensors()[i]));
  EXPECT_FALSE(net->params().tensors()[0].grad().defined());
}

TEST(Config, BadValuesNameTheField) {
  meta::MamlConfig cfg;
  cfg.inner_steps = -1;
  try {
    cfg.validate();
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("inner-steps"), std::string::npos);
  }
  cfg = {};
  cfg.meta_lr = 0;
  EXPECT_THROW(cfg.validate(), std::invalid_argument);
}

}  // namespace

// The tasks of a meta-batch run on worker threads when there are several threads
// (meta/task_pool.h); their gradients are summed in task order, so the meta-gradient is the
// same, bit for bit, as with one thread.
TEST(MetaGradient, WorkerThreadsGiveTheSameBitsAsOneThread) {
  const int saved_threads = torch::get_num_threads();
  auto t = tiny_task(4);
  std::vector<std::vector<torch::Tensor>> grads;
  std::vector<meta::TaskMetrics> metrics(2);
  for (int threads : {1, 2}) {
    torch::set_num_threads(threads);
    auto net = tiny_net();
    meta::MamlConfig cfg;
    cfg.inner_lr = 0.3;
    cfg.inner_steps = 2;
    meta::Maml maml(*net, cfg);
    grads.push_back(maml.meta_gradient(t.sx, t.sy, t.qx, t.qy, 0, &metrics[static_cast<size_t>(threads - 1)]));
  }
  torch::set_num_threads(saved_threads);
  ASSERT_EQ(grads[0].size(), grads[1].size());
  for (size_t i = 0; i < grads[0].size(); ++i) {
    ASSERT_TRUE(grads[0][i].defined() && grads[1][i].defined());
    EXPECT_TRUE(torch::equal(grads[0][i], grads[1][i])) << "tensor " << i;
  }
  EXPECT_EQ(metrics[0].loss, metrics[1].loss);
  EXPECT_EQ(metrics[0].accuracy, metrics[1].accuracy);
}

TEST(TaskPool, RunsEveryTaskOnceAndRethrowsTheFirstError) {
  meta::TaskPool pool(2, 1);
  std::vector<int> hits(100, 0);
  pool.run(100, [&](int64_t i) { hits[static_cast<size_t>(i)] += 1; });
  for (int h : hits) EXPECT_EQ(h, 1);
  EXPECT_THROW(pool.run(10, [](int64_t i) { if (i == 3) throw std::runtime_error("task 3 failed"); }), std::runtime_error);
  pool.run(5, [&](int64_t i) { hits[static_cast<size_t>(i)] += 1; });  // still usable afterwards
  EXPECT_EQ(hits[0], 2);
}
