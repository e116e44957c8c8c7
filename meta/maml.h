#pragma once
// The MAML engine (reference/FEWSHOT.md): inner loop on the support set with fast weights
// `w - lr * grad` (never in place), first/second order and derivative-order annealing,
// learned per-tensor per-step inner learning rates (MAML++ LSLR), a choice of adapted
// parameters, multi-step loss, gradient clipping and an Adam meta-optimizer with an optional
// cosine schedule. It knows the Backbone base only, never a concrete network.
//
// Tensors of a task: support_x [S, C, H, W], support_y [S] (int64 0..ways-1), query_x, query_y;
// a meta-batch stacks T tasks on a leading dimension. Inputs may live on any device; they are
// moved to the model's device.

#include "backbones/backbone.h"
#include "meta/optim.h"

#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace meta {

class TaskPool;

struct MamlConfig {
  int64_t inner_steps = 5;          // training adaptation steps
  int64_t inner_steps_test = 10;    // meta-test adaptation steps
  double inner_lr = 0.01;           // fixed inner lr, or the initial value of learned ones
  bool learn_inner_lr = false;      // MAML++ LSLR: one lr per adapted tensor per step
  bool first_order = false;
  int64_t anneal_first_order = 0;   // first order while iteration < this, then second order
  backbones::ParamFilter inner_params = backbones::ParamFilter::kAll;
  bool multi_step_loss = false;     // MAML++ weighted query loss after every inner step
  int64_t multi_step_iterations = 0;  // iterations over which the weights anneal to the last step
  double meta_lr = 1e-3;
  double clip_grad_norm = 0.0;      // 0 = off; else global L2 norm clipping of the meta-gradient
  bool cosine_schedule = false;     // cosine meta-lr decay over `iterations`
  int64_t iterations = 1;           // total meta-iterations (for the schedule and annealing)
  double min_meta_lr = 0.0;
  backbones::BnMode bn = backbones::BnMode::kTransductive;

  // Throws std::invalid_argument naming the bad field.
  void validate() const;
};

struct TaskMetrics {
  double loss = 0.0;       // query loss after adaptation (mean over tasks)
  double accuracy = 0.0;   // query accuracy in [0, 1] (mean over tasks)
};

class Maml {
 public:
  // The model must outlive the engine. Learned inner lrs (when enabled) are created here.
  Maml(backbones::Backbone& model, const MamlConfig& config);
  ~Maml();

  const MamlConfig& config() const { return config_; }
  backbones::Backbone& model() { return model_; }

  // One meta-iteration over T stacked tasks: adapt each task, accumulate the query-loss
  // meta-gradient (each task's graph is freed after its backward), clip, Adam step. On the CPU
  // with batch statistics and no atom-drop, tasks run on min(T, threads) worker threads
  // (meta/task_pool.h); their gradients are summed in task order either way.
  // `iteration` drives annealing and the schedule. Returns the tasks' mean query metrics
  // (after adaptation, before the meta-update).
  // `reduce` (optional) combines this process's meta-gradient and metrics with other processes'
  // before clipping and the update (data parallelism over tasks, distributed/group.h).
  using GradientReducer = std::function<void(std::vector<torch::Tensor>& grads, TaskMetrics& metrics)>;
  TaskMetrics meta_step(const torch::Tensor& support_x, const torch::Tensor& support_y,
                        const torch::Tensor& query_x, const torch::Tensor& query_y, int64_t iteration,
                        const GradientReducer& reduce = {});

  // The meta-gradient of one meta-iteration without applying it: one tensor per meta
  // parameter (model parameters in slot order, then learned inner lrs), undefined where no
  // gradient reaches. Metrics as meta_step. Used by meta_step, and by tests.
  std::vector<torch::Tensor> meta_gradient(const torch::Tensor& support_x, const torch::Tensor& support_y,
                                           const torch::Tensor& query_x, const torch::Tensor& query_y,
                                           int64_t iteration, TaskMetrics* metrics = nullptr);

  // Meta-test on one task: `steps` adaptation steps (default inner_steps_test) from the meta
  // parameters, then query metrics. Never changes meta parameters, optimizer or running
  // statistics of the model.
  TaskMetrics evaluate(const torch::Tensor& support_x, const torch::Tensor& support_y,
                       const torch::Tensor& query_x, const torch::Tensor& query_y, int64_t steps = -1);

  // evaluate() on E stacked tasks [E, N, C, H, W] (episodes of a meta-test), on worker threads on
  // the CPU (min(E, threads); evaluation changes no state, so any BatchNorm mode may run in
  // parallel). Results in task order, each the same as evaluate() would give for that task alone.
  std::vector<TaskMetrics> evaluate_tasks(const torch::Tensor& support_x, const torch::Tensor& support_y,
                                          const torch::Tensor& query_x, const torch::Tensor& query_y,
                                          int64_t steps = -1);

  // Fast weights after `steps` inner steps on the support set (a full parameter vector in
  // slot order; non-adapted entries are the meta tensors). create_graph: second order.
  std::vector<torch::Tensor> adapt(const torch::Tensor& support_x, const torch::Tensor& support_y, int64_t steps,
                                   bool create_graph, bool training);

  // Slots of the parameters adapted in the inner loop.
  const std::vector<int64_t>& adapted_slots() const { return adapted_; }
  // Learned inner learning rates: one [steps] tensor per adapted slot, named
  // "inner_lr.<param name>" (empty store when learn_inner_lr is off).
  acdc::ParamStore& inner_lrs() { return inner_lrs_; }
  const acdc::ParamStore& inner_lrs() const { return inner_lrs_; }
  Adam& optimizer() { return *optimizer_; }
  // Meta-learning rate of an iteration (after the schedule).
  double meta_lr_at(int64_t iteration) const;
  // Whether iteration uses first order (first_order, or still within the annealing window).
  bool first_order_at(int64_t iteration) const;

  // Moves the model, inner lrs and optimizer state to a device.
  void to(const torch::Device& device);

 private:
  torch::Tensor inner_lr(size_t adapted_index, int64_t step) const;
  // The inner loop, shared by adapt, meta_gradient and evaluate: `steps` updates of the
  // adapted entries of `fast` on the support set; after_step(step) runs after each update.
  void inner_loop(const torch::Tensor& xs, const torch::Tensor& ys, std::vector<torch::Tensor>& fast, int64_t steps,
                  bool create_graph, bool fresh_leaves, backbones::ForwardOptions fo,
                  const std::function<void(int64_t)>& after_step = {});
  std::vector<double> step_loss_weights(int64_t iteration) const;
  // How many of a meta-batch's tasks run at once (1: in turn on the calling thread); `training`
  // false for meta-test tasks, which share no mutable state.
  int task_workers(int64_t tasks, bool training = true) const;
  // The worker threads for `workers` parallel tasks (nullptr for 1), kept between iterations.
  TaskPool* pool(int workers);

  backbones::Backbone& model_;
  MamlConfig config_;
  std::vector<int64_t> adapted_;
  acdc::ParamStore inner_lrs_;
  std::unique_ptr<Adam> optimizer_;
  std::unique_ptr<TaskPool> pool_;
};

}  // namespace meta
