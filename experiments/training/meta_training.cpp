#include "experiments/training/meta_training.h"
#include "experiments/training/device.h"

#include "backbones/registry.h"
#include "datasets/dataset.h"
#include "episodes/prefetch.h"
#include "episodes/sampler.h"
#include "experiments/runs/checkpoint.h"
#include "experiments/training/meta_test.h"
#include "experiments/report/numbers.h"
#include "experiments/report/progress.h"
#include "experiments/runs/run_directory.h"
#include "experiments/training/loop.h"

#include <torch/torch.h>

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <iostream>

namespace experiments {

const std::vector<std::string> kMetaTrainResumeMayChange = {"device"};

namespace {

// What every rank must hold alike: meta parameters, learned inner lrs, the optimizer's state.
std::vector<torch::Tensor> meta_state(meta::Maml& maml) {
  std::vector<torch::Tensor> out = maml.model().params().tensors();
  for (const auto& t : maml.inner_lrs().tensors()) out.push_back(t);
  for (auto& [name, tensors] : maml.optimizer().state()) {
    (void)name;
    for (const auto& t : tensors) out.push_back(t);
  }
  return out;
}

// FNV-1a over the bytes of the tensors, as two exact doubles (32 bits each) for a gather.
std::vector<double> fingerprint(const std::vector<torch::Tensor>& tensors) {
  uint64_t h = 1469598103934665603ULL;
  for (const auto& t : tensors) {
    if (!t.defined()) continue;
    const auto c = t.detach().cpu().contiguous();
    const auto* p = static_cast<const unsigned char*>(c.data_ptr());
    for (size_t i = 0, n = c.nbytes(); i < n; ++i) h = (h ^ p[i]) * 1099511628211ULL;
  }
  return {static_cast<double>(h >> 32), static_cast<double>(h & 0xffffffffULL)};
}

std::vector<torch::Tensor> floating_buffers(backbones::Backbone& model) {
  std::vector<torch::Tensor> out;
  for (const auto& t : model.buffers().tensors()) {
    if (t.defined() && t.is_floating_point()) out.push_back(t);
  }
  return out;
}

}  // namespace

std::unique_ptr<backbones::Backbone> build_meta_model(const MetaTrainSettings& s) {
  torch::manual_seed(static_cast<uint64_t>(s.seed));
  try {
    return backbones::make_backbone(s.network());
  } catch (const std::invalid_argument& e) {
    throw UsageError("--backbone " + s.backbone + ": " + e.what());
  }
}

void check_ways(int64_t ways, const datasets::Dataset& data, std::initializer_list<const char*> splits) {
  for (const char* split : splits) {
    const auto& part = data.split(split);
    if ((part.size() > 0 || std::string(split) != "val") && ways > part.num_classes()) {
      throw UsageError("--ways " + std::to_string(ways) + " is more than the " + std::to_string(part.num_classes()) +
                       " classes of the " + split + " split of " + data.source);
    }
  }
}

void meta_train(const MetaTrainRequest& request) {
  const auto& table = meta_train_settings();
  RunDirectory run(request.out);
  const bool resume = request.resume;

  // ---- the settings: as given, or the run's own for --resume ----
  MetaTrainSettings s = request.settings;
  CheckpointInfo resumed;
  bool extended = false;  // --resume --iterations N changed the run's length
  if (resume) {
    run.require_checkpoint();
    resumed = read_checkpoint_info(run.last());
    follow_winograd_choice(resumed);  // before any convolution
    const auto merged = resume_config(resumed.config, table.to_config(request.settings), request.explicit_keys,
                                      kMetaTrainResumeMayChange, request.out, "", /*quiet=*/false,
                                      /*length_key=*/"iterations");
    s = table.from_config(merged);
    extended = s.iterations != table.from_config(resumed.config).iterations;
    if (s.iterations < resumed.iteration) {
      throw UsageError("--iterations " + std::to_string(s.iterations) + " is fewer than the " +
                       count_of(resumed.iteration, "iteration") + " " + request.out + " has already done");
    }
    if (s.iterations == resumed.iteration) {
      if (request.group.rank == 0) {
        std::cout << "nothing to do: the run finished its " << count_of(resumed.iteration, "iteration")
                  << " (pass a larger --iterations to extend it)\n";
      }
      return;
    }
  } else {
    if (request.explicit_keys.count("classes") && s.classes != s.ways) {
      throw UsageError("--classes " + std::to_string(s.classes) + " differs from --ways " + std::to_string(s.ways) +
                       " (the head has one output per way)");
    }
    s.classes = s.ways;
  }
  const auto maml_config = s.maml();
  const auto& where = request.group;
  const bool root = where.rank == 0;  // writes the run directory
  auto device = parse_device(s.device);
  // "cuda" alone on a node of several ranks: each rank its own GPU.
  if (where.distributed() && s.device == "cuda") device = torch::Device(torch::kCUDA, static_cast<int8_t>(where.local_rank));
  if (s.meta_batch % where.world_size != 0) {
    throw UsageError("--meta-batch " + std::to_string(s.meta_batch) + " (the global meta-batch) is not divisible by the " +
                     "world size " + std::to_string(where.world_size));
  }
  s.threads = set_threads(s.threads);  // the count used, so that --resume uses it again
  // A directory that exists may be in another process's hands: say so before anything else.
  if (root && std::filesystem::is_directory(request.out)) run.lock(/*fresh=*/!resume);
  if (root && !resume) run.refuse_existing_run();
  std::unique_ptr<distributed::Group> group;
  if (where.distributed()) group = std::make_unique<distributed::Group>(where, device);

  // ---- data ----
  datasets::Dataset loaded;
  if (request.data == nullptr) {
    datasets::LoadOptions load;
    load.image_size = s.image_size;
    loaded = datasets::load_dataset(s.dataset, load);
  }
  const datasets::Dataset& data = request.data != nullptr ? *request.data : loaded;
  if (s.image_size == 0) s.image_size = data.height();
  if (!resume && request.explicit_keys.count("channels") && s.channels != data.channels()) {
    throw UsageError("--channels " + std::to_string(s.channels) + " differs from the " +
                     std::to_string(data.channels()) + " channels of " + data.source);
  }
  if (!resume) s.channels = data.channels();
  if (resume) check_data_channels(s.channels, request.out, data.channels(), data.source);
  check_ways(s.ways, data, {"train", "val"});

  // ---- model and engine (every seed-dependent draw starts from --seed) ----
  auto model = build_meta_model(s);
  meta::Maml maml(*model, maml_config);
  maml.to(device);

  episodes::EpisodeConfig train_cfg;
  train_cfg.ways = s.ways;
  train_cfg.shots = s.shots;
  train_cfg.queries = s.queries;
  train_cfg.seed = static_cast<uint64_t>(s.seed);
  train_cfg.augment = s.augment;
  train_cfg.normalization = datasets::normalization_for(data);
  datasets::Split rotated;  // the training split with its rotated classes (--class-rotations)
  try {
    rotated = datasets::with_rotated_classes(data.train, s.class_rotations);
  } catch (const std::invalid_argument& e) {
    throw UsageError("--class-rotations " + std::to_string(s.class_rotations) + ": " + e.what());
  }
  const episodes::EpisodeSampler train_sampler(rotated, "train", train_cfg);
  const bool have_val = data.val.size() > 0;
  auto val_cfg = train_cfg;
  val_cfg.augment = false;
  val_cfg.seed = static_cast<uint64_t>(s.seed) + 1;  // fixed validation episodes, distinct from training
  std::unique_ptr<episodes::EpisodeSampler> val_sampler;
  if (have_val) val_sampler = std::make_unique<episodes::EpisodeSampler>(data.val, "val", val_cfg);

  // ---- run directory: this process's alone until it exits (rank 0's in a group) ----
  if (root) run.lock(/*fresh=*/!resume);
  const auto config = table.to_config(s);
  CheckpointInfo info;
  info.config = config;
  // accuracy and val_accuracy in percent; elapsed_seconds since this invocation started.
  const std::vector<std::string> columns = {"iteration", "loss", "accuracy", "meta_lr", "second_order",
                                            "elapsed_seconds", "val_accuracy", "val_ci95"};
  MetricsWriter metrics(run, columns);
  int64_t start = 0;
  if (resume) {
    info = load_checkpoint(run.last(), maml, /*restore_rng=*/true);
    info.config = config;
    start = info.iteration;
    if (root) {
      run.resume_at(start);
      // The run's length is a setting of its own: config.ini records the new total (the cosine
      // meta-lr schedule follows it, recomputed over the new total from here on).
      if (extended) config.write_ini(run.file("config.ini"));
      std::cerr << "resuming " << request.out << " at iteration " << start;
      if (extended) std::cerr << ", now of " << count_of(s.iterations, "iteration");
      std::cerr << "\n";
    }
  } else if (root) {
    run.start(config, metrics.header());
    save_checkpoint(run.last(), maml, info);  // a last good checkpoint exists from the start
  }
  const int64_t iterations = s.iterations, tasks = s.meta_batch;
  const int64_t world = where.world_size, local_tasks = tasks / world;
  if (group) {
    // Every rank starts from rank 0's meta parameters and optimizer state.
    auto state = meta_state(maml);
    group->broadcast(state, "meta parameters");
  }

  if (root) {
    std::cerr << "train: " << s.backbone << " (" << acdc::to_string(s.conv) << ", width " << s.width << ", "
              << model->num_params() << " parameters) on " << data.source << ", " << s.ways << "-way " << s.shots
              << "-shot, " << count_of(iterations, "iteration") << " x " << count_of(tasks, "task") << ", "
              << count_of(s.threads, "thread") << ", "
              << device.str();
    if (group) std::cerr << ", " << count_of(world, "rank") << " x " << count_of(local_tasks, "task") << " (" << group->backend() << ")";
    std::cerr << "\n";
  }

  // ---- the loop: a unit is one meta-iteration ----
  ProgressBar bar("train", iterations);
  const auto t0 = std::chrono::steady_clock::now();
  double loss_avg = 0.0, acc_avg = 0.0;  // exponential moving averages for the bar
  std::unique_ptr<episodes::Prefetcher> prefetch;
  if (start < iterations) {
    // Iteration i trains episodes i*T..i*T+T-1 of the train split whatever the world size; this
    // rank's share of them.
    prefetch = std::make_unique<episodes::Prefetcher>(train_sampler, start * tasks + where.rank * local_tasks, local_tasks,
                                                      /*threads=*/1, /*depth=*/4, /*stride=*/tasks);
  }
  const bool average_buffers = s.bn != backbones::BnMode::kTransductive;
  auto step = [&](Unit& unit) {
    const auto batch = prefetch->next();
    const int64_t it = unit.index;
    meta::Maml::GradientReducer reduce;
    if (group) {
      reduce = [&](std::vector<torch::Tensor>& grads, meta::TaskMetrics& m) {
        group->all_reduce_mean(grads, "meta-gradient at iteration " + std::to_string(it + 1));
        const auto sums = group->all_reduce_sum({m.loss, m.accuracy}, "metrics at iteration " + std::to_string(it + 1));
        m.loss = sums[0] / static_cast<double>(world);
        m.accuracy = sums[1] / static_cast<double>(world);
      };
    }
    const auto m = maml.meta_step(batch.support_x, batch.support_y, batch.query_x, batch.query_y, it, reduce);
    if (group && average_buffers) {
      // Running statistics updated by each rank's own tasks: their mean keeps the ranks equal.
      auto buffers = floating_buffers(*model);
      group->all_reduce_mean(buffers, "BatchNorm running statistics at iteration " + std::to_string(it + 1));
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    unit.loss = m.loss;
    unit.accuracy = m.accuracy;
    unit.cells = {{"iteration", std::to_string(unit.done())},
                  {"loss", format_double(m.loss)},
                  {"accuracy", percent_of_fraction(m.accuracy)},
                  {"meta_lr", format_double(maml.meta_lr_at(it))},
                  {"second_order", maml.first_order_at(it) ? "0" : "1"},
                  {"elapsed_seconds", fixed(seconds, 3)}};
  };
  Evaluation validation(
      s.val_every, iterations,
      [&](Unit& unit) -> double {
        if (!have_val) return std::nan("");
        // Each rank meta-tests its share of the episodes; gathered in episode order, the summary
        // is the one a single process computes.
        const auto [first, end] = distributed::share(s.val_episodes, where.rank, world);
        // A bar on a terminal only: logs keep their lines (the accuracy line below clears it).
        std::unique_ptr<ProgressBar> val_bar;
        if (root && isatty(STDERR_FILENO)) val_bar = std::make_unique<ProgressBar>("validation", end - first);
        auto accuracies = run_episodes(maml, *val_sampler, first, end - first, -1, val_bar.get());
        if (group) {
          accuracies = group->all_gather(accuracies, "validation accuracies at iteration " + std::to_string(unit.done()));
        }
        const auto acc = summarize(accuracies);
        unit.cells["val_accuracy"] = format_double(acc.accuracy);
        unit.cells["val_ci95"] = format_double(acc.ci95);
        const bool best = acc.accuracy / 100.0 > info.best_val_accuracy;
        if (root) {
          std::cerr << (isatty(STDERR_FILENO) ? "\r\033[K" : "") << "iteration " << unit.done() << ": val accuracy "
                    << fixed(acc.accuracy, 2) << " ± " << fixed(acc.ci95, 2) << " %" << (best ? " (best)" : "") << "\n";
        }
        return acc.accuracy / 100.0;
      },
      info, /*track_best=*/true);
  Checkpointer checkpoints(run, TrainingState::of(maml), info, /*every_unit=*/false, /*keep_best=*/true, tasks);
  Progress progress(bar, [&](const Unit& unit) {
    loss_avg = unit.index == start ? unit.loss : 0.9 * loss_avg + 0.1 * unit.loss;
    acc_avg = unit.index == start ? unit.accuracy : 0.9 * acc_avg + 0.1 * unit.accuracy;
    return "loss " + fixed(loss_avg, 3) + " query acc " + fixed(100.0 * acc_avg, 1) + "%";
  });
  StopAfter stop(request.stop_after, start, iterations, [&](const Unit& unit) -> std::string {
    if (!root) return "";
    return "\nstopped after iteration " + std::to_string(unit.done()) +
           " (--stop-after); the last checkpoint is at iteration " + std::to_string(info.iteration) + "\n";
  });
  LoopOptions loop;
  loop.start = start;
  loop.total = iterations;
  loop.unit_name = "iteration";
  loop.loss_name = "query loss";
  const std::string last_path = run.last();
  loop.last_checkpoint = &last_path;
  loop.info = &info;
  loop.hint = "try a lower --inner-lr / --meta-lr or --clip-grad";
  if (group) loop.who = group->name();
  std::vector<Callback*> callbacks = {&validation, &metrics, &checkpoints, &progress, &stop};
  if (!root) callbacks = {&validation, &stop};  // the run directory and the bar are rank 0's
  const int64_t done = run_training(loop, step, callbacks);
  if (group) {
    // Every rank took the same steps from the same start: their states must agree bit for bit.
    auto state = meta_state(maml);
    for (const auto& t : model->buffers().tensors()) state.push_back(t);
    const auto prints = group->all_gather(fingerprint(state), "parameter fingerprints");
    for (int64_t r = 1; r < world; ++r) {
      if (prints[2 * r] != prints[0] || prints[2 * r + 1] != prints[1]) {
        throw std::runtime_error(group->name() + ": the meta parameters of rank " + std::to_string(r) +
                                 " differ from rank 0's after iteration " + std::to_string(done));
      }
    }
    if (root) std::cerr << "meta parameters identical on all " << count_of(world, "rank") << " after iteration " << done << "\n";
  }
  if (done < iterations) return;  // --stop-after
  if (!root) return;

  bar.finish("loss " + fixed(loss_avg, 3) + " query acc " + fixed(100.0 * acc_avg, 1) + "%");
  std::cout << "trained " << request.out << ": " << count_of(iterations, "iteration");
  if (have_val && info.best_val_accuracy >= 0) {
    std::cout << ", best validation accuracy " << fixed(100.0 * info.best_val_accuracy, 2) << " % at iteration "
              << info.best_iteration;
  }
  std::cout << "\ncheckpoints: " << run.best() << ", " << run.last() << "\n";
}

}  // namespace experiments
