#include "meta/maml.h"

#include "meta/task_pool.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <sstream>
#include <stdexcept>

namespace meta {

namespace {

void require(bool ok, const std::string& message) {
  if (!ok) throw std::invalid_argument(message);
}

std::string number(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

// In double, as training's hits are: a float32 mean widened to double carried float noise into
// eval's JSON and metrics.csv (8 of 25 right read 31.999999284744263, 1 of 3 33.33333432674408).
double accuracy(const torch::Tensor& logits, const torch::Tensor& labels) {
  return logits.argmax(1).eq(labels).to(torch::kDouble).mean().item<double>();
}

}  // namespace

void MamlConfig::validate() const {
  require(inner_steps >= 0, "inner-steps must be >= 0, got " + std::to_string(inner_steps));
  require(inner_steps_test >= 0, "inner-steps-test must be >= 0, got " + std::to_string(inner_steps_test));
  // Rates multiply float32 tensors: above FLT_MAX they cannot even be applied.
  const double max_lr = std::numeric_limits<float>::max();
  require(std::isfinite(inner_lr) && inner_lr >= 0 && inner_lr <= max_lr,
          "inner-lr must be a finite value in [0, 3.4e38], got " + number(inner_lr));
  require(std::isfinite(meta_lr) && meta_lr > 0 && meta_lr <= max_lr,
          "meta-lr must be a finite value in (0, 3.4e38], got " + number(meta_lr));
  require(std::isfinite(min_meta_lr) && min_meta_lr >= 0 && min_meta_lr <= max_lr,
          "min-meta-lr must be a finite value in [0, 3.4e38], got " + number(min_meta_lr));
  require(anneal_first_order >= 0, "anneal-first-order must be >= 0, got " + std::to_string(anneal_first_order));
  require(clip_grad_norm >= 0, "clip-grad-norm must be >= 0, got " + std::to_string(clip_grad_norm));
  require(iterations >= 1, "iterations must be >= 1, got " + std::to_string(iterations));
  require(multi_step_iterations >= 0, "multi-step-iterations must be >= 0");
}

// ---- Maml ----

Maml::Maml(backbones::Backbone& model, const MamlConfig& config) : model_(model), config_(config) {
  config_.validate();
  adapted_ = model_.slots(config_.inner_params);
  if (adapted_.empty() && config_.inner_steps > 0) {
    throw std::invalid_argument("inner-params '" + backbones::to_string(config_.inner_params) + "' selects no parameter of " +
                                model_.options().name + " with conv " + acdc::to_string(model_.options().conv.type) +
                                " (atoms exist only for the acdc-* conv types)");
  }
  if (config_.learn_inner_lr) {
    const int64_t steps = std::max<int64_t>(1, config_.inner_steps);
    for (auto slot : adapted_) {
      const auto& name = model_.params().names()[static_cast<size_t>(slot)];
      inner_lrs_.add("inner_lr." + name,
                     torch::full({steps}, config_.inner_lr, model_.params()[slot].options().requires_grad(false)));
    }
  }
  auto meta_params = model_.params().tensors();
  for (const auto& t : inner_lrs_.tensors()) meta_params.push_back(t);
  optimizer_ = std::make_unique<Adam>(meta_params, config_.meta_lr);
}

Maml::~Maml() = default;

double Maml::meta_lr_at(int64_t iteration) const {
  if (!config_.cosine_schedule) return config_.meta_lr;
  const double t = std::min(1.0, static_cast<double>(iteration) / static_cast<double>(config_.iterations));
  return config_.min_meta_lr + 0.5 * (config_.meta_lr - config_.min_meta_lr) * (1.0 + std::cos(M_PI * t));
}

bool Maml::first_order_at(int64_t iteration) const {
  return config_.first_order || iteration < config_.anneal_first_order;
}

torch::Tensor Maml::inner_lr(size_t adapted_index, int64_t step) const {
  const auto& lrs = inner_lrs_[static_cast<int64_t>(adapted_index)];
  return lrs.select(0, std::min<int64_t>(step, lrs.size(0) - 1));
}

std::vector<double> Maml::step_loss_weights(int64_t iteration) const {
  const int64_t k = config_.inner_steps;
  std::vector<double> w(static_cast<size_t>(std::max<int64_t>(k, 1)), 0.0);
  if (!config_.multi_step_loss || k <= 1) {
    w.back() = 1.0;
    return w;
  }
  // MAML++: start uniform, anneal the intermediate weights to a floor of 0.03/K while the
  // last step's weight grows to take the rest.
  const double frac = config_.multi_step_iterations > 0
                          ? std::min(1.0, static_cast<double>(iteration) / config_.multi_step_iterations)
                          : 1.0;
  const double uniform = 1.0 / k, floor = 0.03 / k;
  double rest = 0.0;
  for (int64_t i = 0; i + 1 < k; ++i) {
    w[static_cast<size_t>(i)] = uniform + (floor - uniform) * frac;
    rest += w[static_cast<size_t>(i)];
  }
  w.back() = 1.0 - rest;
  return w;
}

void Maml::inner_loop(const torch::Tensor& xs, const torch::Tensor& ys, std::vector<torch::Tensor>& fast,
                      int64_t steps, bool create_graph, bool fresh_leaves, backbones::ForwardOptions fo,
                      const std::function<void(int64_t)>& after_step) {
  std::vector<torch::Tensor> inputs(adapted_.size());
  for (int64_t step = 0; step < steps; ++step) {
    fo.step = step;
    auto loss = torch::nn::functional::cross_entropy(model_.forward_with(xs, fast, fo), ys);
    for (size_t i = 0; i < adapted_.size(); ++i) inputs[i] = fast[static_cast<size_t>(adapted_[i])];
    auto grads = torch::autograd::grad({loss}, inputs, /*grad_outputs=*/{}, /*retain_graph=*/create_graph,
                                       /*create_graph=*/create_graph);
    // fresh_leaves: meta-test adaptation needs no graph back to earlier steps.
    torch::AutoGradMode grad_mode(!fresh_leaves);
    for (size_t i = 0; i < adapted_.size(); ++i) {
      auto& w = fast[static_cast<size_t>(adapted_[i])];
      if (config_.learn_inner_lr) {
        auto lr = inner_lr(i, step);
        w = w - (fresh_leaves ? lr.detach() : lr) * grads[i];
      } else {
        w = torch::sub(w, grads[i], config_.inner_lr);  // one kernel: w - lr g
      }
      if (fresh_leaves) w.requires_grad_(true);
    }
    if (after_step) after_step(step);
  }
}

std::vector<torch::Tensor> Maml::adapt(const torch::Tensor& support_x, const torch::Tensor& support_y, int64_t steps,
                                       bool create_graph, bool training) {
  std::vector<torch::Tensor> fast = model_.params().tensors();
  backbones::ForwardOptions fo;
  fo.training = training;
  fo.bn = config_.bn;
  inner_loop(support_x, support_y, fast, steps, create_graph, /*fresh_leaves=*/false, fo);
  return fast;
}

int Maml::task_workers(int64_t tasks, bool training) const {
  // Training tasks share nothing mutable only with batch statistics (no running-statistics
  // updates) and without atom-drop (whose masks come from the global generator in task order).
  if (!model_.device().is_cpu()) return 1;
  if (training && (config_.bn != backbones::BnMode::kTransductive || model_.options().conv.atom_drop > 0.0)) return 1;
  return static_cast<int>(std::min<int64_t>(tasks, std::max(1, at::get_num_threads())));
}

TaskPool* Maml::pool(int workers) {
  if (workers <= 1) return nullptr;
  const int intra = std::max(1, at::get_num_threads() / workers);
  if (!pool_ || pool_->workers() != workers || pool_->intra_op_threads() != intra) {
    pool_.reset();
    pool_ = std::make_unique<TaskPool>(workers, intra);
  }
  return pool_.get();
}

std::vector<torch::Tensor> Maml::meta_gradient(const torch::Tensor& support_x, const torch::Tensor& support_y,
                                               const torch::Tensor& query_x, const torch::Tensor& query_y,
                                               int64_t iteration, TaskMetrics* metrics_out) {
  TORCH_CHECK(support_x.dim() == 5 && query_x.dim() == 5, "meta_step expects stacked tasks [T, N, C, H, W], got ",
              support_x.sizes(), " and ", query_x.sizes());
  const auto device = model_.device();
  const auto sx = support_x.to(device, /*non_blocking=*/true), sy = support_y.to(device, /*non_blocking=*/true);
  const auto qx = query_x.to(device, /*non_blocking=*/true), qy = query_y.to(device, /*non_blocking=*/true);
  const int64_t tasks = sx.size(0);
  const bool second_order = !first_order_at(iteration);
  const auto weights = step_loss_weights(iteration);
  const bool multi = config_.multi_step_loss && config_.inner_steps > 1;

  const auto& meta_params = model_.params().tensors();
  std::vector<torch::Tensor> leaves = meta_params;
  for (const auto& t : inner_lrs_.tensors()) leaves.push_back(t);

  // One task: adapt, query loss, its meta-gradient (the graph is freed with it). Metrics stay
  // on the device: no host round trip per task.
  struct TaskResult {
    std::vector<torch::Tensor> grads;
    torch::Tensor loss, hits;
  };
  std::vector<TaskResult> results(static_cast<size_t>(tasks));
  auto run_task = [&](int64_t t) {
    const auto xs = sx[t], ys = sy[t], xq = qx[t], yq = qy[t];
    backbones::ForwardOptions fo;
    fo.training = true;
    fo.bn = config_.bn;
    std::vector<torch::Tensor> fast = meta_params;
    torch::Tensor objective;
    torch::Tensor final_logits;
    auto query_loss = [&](int64_t step, bool update_stats) {
      backbones::ForwardOptions q = fo;
      q.step = step;
      q.update_running_stats = update_stats;
      final_logits = model_.forward_with(xq, fast, q);
      return torch::nn::functional::cross_entropy(final_logits, yq);
    };
    fo.update_running_stats = config_.bn != backbones::BnMode::kTransductive;
    inner_loop(xs, ys, fast, config_.inner_steps, second_order, /*fresh_leaves=*/false, fo, [&](int64_t step) {
      if (multi && step + 1 < config_.inner_steps) {
        auto l = query_loss(step + 1, false) * weights[static_cast<size_t>(step)];
        objective = objective.defined() ? objective + l : l;
      }
    });
    fo.update_running_stats = false;
    auto last = query_loss(config_.inner_steps, config_.bn != backbones::BnMode::kTransductive);
    auto& r = results[static_cast<size_t>(t)];
    r.loss = last.detach().to(torch::kDouble);
    r.hits = final_logits.detach().argmax(1).eq(yq).to(torch::kDouble).mean();
    last = last * weights.back();
    objective = objective.defined() ? objective + last : last;
    r.grads = torch::autograd::grad({objective / static_cast<double>(tasks)}, leaves, /*grad_outputs=*/{},
                                    /*retain_graph=*/false, /*create_graph=*/false, /*allow_unused=*/true);
  };
  if (auto* p = pool(task_workers(tasks))) {
    p->run(tasks, run_task);
  } else {
    for (int64_t t = 0; t < tasks; ++t) run_task(t);
  }

  // Sum in task order, whatever order the tasks finished in: the same bits on any thread count.
  std::vector<torch::Tensor> grads = std::move(results[0].grads);
  auto loss_sum = results[0].loss, hit_sum = results[0].hits;
  for (size_t t = 1; t < results.size(); ++t) {
    for (size_t i = 0; i < grads.size(); ++i) {
      const auto& g = results[t].grads[i];
      if (!g.defined()) continue;
      grads[i] = grads[i].defined() ? grads[i] + g : g;
    }
    loss_sum = loss_sum + results[t].loss;
    hit_sum = hit_sum + results[t].hits;
  }
  if (metrics_out != nullptr) {
    metrics_out->loss = loss_sum.item<double>() / static_cast<double>(tasks);
    metrics_out->accuracy = hit_sum.item<double>() / static_cast<double>(tasks);
  }
  return grads;
}

TaskMetrics Maml::meta_step(const torch::Tensor& support_x, const torch::Tensor& support_y,
                            const torch::Tensor& query_x, const torch::Tensor& query_y, int64_t iteration,
                            const GradientReducer& reduce) {
  TaskMetrics metrics;
  auto grads = meta_gradient(support_x, support_y, query_x, query_y, iteration, &metrics);
  if (reduce) reduce(grads, metrics);
  clip_grad_norm(grads, config_.clip_grad_norm);
  optimizer_->set_lr(meta_lr_at(iteration));
  optimizer_->step(grads);
  return metrics;
}

TaskMetrics Maml::evaluate(const torch::Tensor& support_x, const torch::Tensor& support_y,
                           const torch::Tensor& query_x, const torch::Tensor& query_y, int64_t steps) {
  if (steps < 0) steps = config_.inner_steps_test;
  const auto device = model_.device();
  const auto xs = support_x.to(device), ys = support_y.to(device);
  const auto xq = query_x.to(device), yq = query_y.to(device);
  // Adapt from detached copies: no graph reaches the meta parameters, and with no
  // update_running_stats the model's statistics stay as they are.
  auto& params = model_.params().tensors();
  std::vector<torch::Tensor> start;
  start.reserve(params.size());
  for (const auto& p : params) start.push_back(p.detach());
  for (auto s : adapted_) start[static_cast<size_t>(s)].requires_grad_(true);

  backbones::ForwardOptions fo;
  fo.training = false;
  fo.bn = config_.bn;
  std::vector<torch::Tensor> fast = start;
  inner_loop(xs, ys, fast, steps, /*create_graph=*/false, /*fresh_leaves=*/true, fo);
  torch::NoGradGuard no_grad;
  fo.step = steps;
  auto logits = model_.forward_with(xq, fast, fo);
  TaskMetrics m;
  m.loss = torch::nn::functional::cross_entropy(logits, yq).item<double>();
  m.accuracy = accuracy(logits, yq);
  return m;
}

std::vector<TaskMetrics> Maml::evaluate_tasks(const torch::Tensor& support_x, const torch::Tensor& support_y,
                                              const torch::Tensor& query_x, const torch::Tensor& query_y,
                                              int64_t steps) {
  const int64_t tasks = support_x.size(0);
  std::vector<TaskMetrics> out(static_cast<size_t>(tasks));
  auto run_task = [&](int64_t t) {
    out[static_cast<size_t>(t)] = evaluate(support_x[t], support_y[t], query_x[t], query_y[t], steps);
  };
  if (auto* p = pool(task_workers(tasks, /*training=*/false))) {
    p->run(tasks, run_task);
  } else {
    for (int64_t t = 0; t < tasks; ++t) run_task(t);
  }
  return out;
}

void Maml::to(const torch::Device& device) {
  model_.to(device);
  inner_lrs_.to(device);
  auto meta_params = model_.params().tensors();
  for (const auto& t : inner_lrs_.tensors()) meta_params.push_back(t);
  optimizer_->rebind(meta_params);
  optimizer_->to(device);
}

}  // namespace meta
