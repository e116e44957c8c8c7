// `acdc-meta train`: MAML meta-training of any backbone/conv type on a few-shot split, with a
// run directory holding the resolved configuration (config.ini), per-iteration metrics
// (metrics.csv) and checkpoints (last.h5 every validation, best.h5 by validation accuracy).
// Iteration i always trains on episodes i*T..i*T+T-1 of (seed, train split) and the CPU
// generator (atom-drop) is checkpointed, so --resume ends bit-identical to an uninterrupted run.

#include "datasets/storage/atomic_file.h"
#include "datasets/dataset.h"
#include "episodes/prefetch.h"
#include "episodes/sampler.h"
#include "experiments/checkpoint.h"
#include "experiments/cli.h"
#include "experiments/commands.h"
#include "experiments/fewshot.h"
#include "experiments/output_paths.h"
#include "experiments/report/progress.h"
#include "experiments/run_config.h"
#include "backbones/registry.h"

#include <torch/torch.h>

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <optional>
#include <sstream>

namespace experiments {

namespace {

namespace fs = std::filesystem;

const char* const kUsage =
    "--dataset SPEC --out RUN_DIR [options]   (or --config FILE.ini; --resume --out RUN_DIR continues a run)\n"
    "  --image-size 0 (the default) keeps the dataset's native size; --channels and --classes follow\n"
    "  the dataset and --ways";

// Options a resumed run may change: where it runs and how many threads it uses.
const std::vector<std::string> kResumeMayChange = {"out", "resume", "threads", "device", "config", "stop-after"};

void add_train_options(po::options_description& desc) {
  add_model_options(desc, "conv4", 5, 0);
  desc.add_options()
      ("dataset", po::value<std::string>()->default_value("fashion-mnist"),
       "few-shot source: fashion-mnist[:DIR], miniimagenet:DIR, cifar100:DIR, tinyimagenet:DIR, folder:DIR, h5:FILE, ...")
      ("ways", po::value<int64_t>()->default_value(5), "classes per episode")
      ("shots", po::value<int64_t>()->default_value(1), "support images per class (training and validation)")
      ("queries", po::value<int64_t>()->default_value(15), "query images per class")
      ("meta-batch", po::value<int64_t>()->default_value(4), "tasks per meta-update")
      ("inner-steps", po::value<int64_t>()->default_value(5), "inner-loop steps in training")
      ("inner-steps-test", po::value<int64_t>()->default_value(10), "inner-loop steps at validation/evaluation")
      ("inner-lr", po::value<double>()->default_value(0.01), "inner learning rate (initial value when learned)")
      ("learn-inner-lr", po::bool_switch(), "learn one inner lr per adapted tensor and step (MAML++ LSLR)")
      ("meta-lr", po::value<double>()->default_value(1e-3), "Adam meta learning rate")
      ("cosine", po::bool_switch(), "cosine meta-lr decay to --min-meta-lr over the iterations")
      ("min-meta-lr", po::value<double>()->default_value(0.0), "final meta lr of the cosine schedule")
      ("iterations", po::value<int64_t>()->default_value(600), "meta-iterations")
      ("first-order", po::bool_switch(), "first-order MAML (no second derivatives)")
      ("anneal-first-order", po::value<int64_t>()->default_value(0),
       "first order for the first N iterations, then second order")
      ("inner-params", po::value<std::string>()->default_value("all"), "adapted in the inner loop: all, head, atoms, atoms+head")
      ("multi-step-loss", po::bool_switch(), "MAML++ multi-step loss (query loss after every inner step)")
      ("multi-step-iterations", po::value<int64_t>()->default_value(0),
       "iterations over which the multi-step weights anneal to the last step")
      ("clip-grad", po::value<double>()->default_value(0.0), "clip the meta-gradient's global L2 norm (0 = off)")
      ("bn", po::value<std::string>()->default_value("transductive"), "BatchNorm mode: transductive, running, per-step")
      ("augment", po::bool_switch(), "training-time augmentation of episodes")
      ("device", po::value<std::string>()->default_value("cpu"), "cpu, cuda or cuda:N")
      ("seed", po::value<int64_t>()->default_value(0), "seed of initialisation, episodes and atom-drop")
      ("threads", po::value<int64_t>()->default_value(0), "CPU threads (0 = every core)")
      ("val-every", po::value<int64_t>()->default_value(100), "validate and checkpoint every N iterations (0 = at the end only)")
      ("val-episodes", po::value<int64_t>()->default_value(100), "validation episodes")
      ("out", po::value<std::string>(), "run directory (created)")
      ("resume", po::bool_switch(), "continue the run in --out from its last checkpoint")
      ("stop-after", po::value<int64_t>()->default_value(0),
       "exit after N iterations of this invocation without a checkpoint, as a kill would (0 = off; for tests)");
}

void require(bool ok, const std::string& message) {
  if (!ok) throw UsageError(message);
}

// Checks every setting before any work (mlpack style); names the flag and the allowed values.
void validate(const RunConfig& c) {
  for (const char* key : {"ways", "shots", "queries", "meta-batch", "iterations", "val-episodes"}) {
    require(c.get_int(key) >= 1, std::string("--") + key + " must be at least 1, got " + c.get(key));
  }
  require(c.get_int("val-every") >= 0, "--val-every must be >= 0, got " + c.get("val-every"));
  require(c.get_int("seed") >= 0, "--seed must be >= 0, got " + c.get("seed"));
  require(c.get_int("image-size") >= 0, "--image-size must be >= 0 (0 = native), got " + c.get("image-size"));
  try {
    backbones::parse_param_filter(c.get("inner-params"));
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string("--inner-params: ") + e.what());
  }
  try {
    backbones::parse_bn_mode(c.get("bn"));
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string("--bn: ") + e.what());
  }
  try {
    acdc::parse_conv_type(c.get("conv"));
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string("--conv: ") + e.what());
  }
  try {
    maml_config(c);
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string("--") + e.what());
  }
}

bool explicitly_given(const po::variables_map& vm, const std::string& key) {
  return vm.count(key) != 0 && !vm[key].defaulted();
}


std::string percent(double v, int precision = 2) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(precision) << v;
  return s.str();
}

}  // namespace

int cmd_train(const Args& args) {
  po::options_description desc("train options");
  add_train_options(desc);
  po::variables_map vm;
  if (!parse_args("train", kUsage, args, desc, vm, /*config_flag=*/true)) return 0;
  if (!vm.count("out")) throw UsageError("--out RUN_DIR is required");
  const std::string out = vm["out"].as<std::string>();
  check_output_dir(out, "--out");
  const bool resume = vm["resume"].as<bool>();
  const int64_t stop_after = vm["stop-after"].as<int64_t>();
  if (stop_after < 0) throw UsageError("--stop-after must be >= 0, got " + std::to_string(stop_after));
  const std::string last_path = run_file(out, "last.h5"), best_path = run_file(out, "best.h5");
  const std::string metrics_path = run_file(out, "metrics.csv");

  // ---- the configuration: from the flags, or the run's own for --resume ----
  RunConfig config;
  CheckpointInfo resumed;
  if (resume) {
    if (!fs::exists(last_path)) throw UsageError("--resume: no checkpoint '" + last_path + "' to continue");
    resumed = read_checkpoint_info(last_path);
    config = resumed.config;
    const auto given = RunConfig::from_options(vm, {"help", "config", "stop-after"});
    for (const auto& [key, value] : given.entries()) {
      bool may_change = false;
      for (const auto& k : kResumeMayChange) may_change = may_change || k == key;
      if (may_change || !explicitly_given(vm, key)) continue;
      if (!config.has(key) || config.get(key) != value) {
        throw UsageError("--resume continues " + out + " with its saved configuration; --" + key + " " + value +
                         " differs from the saved " + (config.has(key) ? config.get(key) : std::string("(unset)")));
      }
    }
    config.set("device", vm["device"].as<std::string>());
    // The saved thread count: CPU reductions split by thread, so another count changes the last
    // bits of the result. The user may still override it.
    const std::string saved_threads = config.has("threads") ? config.get("threads") : "0";
    if (explicitly_given(vm, "threads")) {
      const auto given = std::to_string(vm["threads"].as<int64_t>());
      if (given != saved_threads) {
        std::cerr << "note: --threads " << given << " overrides the " << saved_threads << " thread(s) " << out
                  << " was trained with; the result may differ in the last bits from an uninterrupted run\n";
      }
      config.set("threads", given);
    } else {
      config.set("threads", saved_threads);
    }
  } else {
    config = RunConfig::from_options(vm, {"help", "config", "resume", "stop-after"});
    if (explicitly_given(vm, "classes") && vm["classes"].as<int64_t>() != vm["ways"].as<int64_t>()) {
      throw UsageError("--classes " + config.get("classes") + " differs from --ways " + config.get("ways") +
                       " (the head has one output per way)");
    }
    config.set("classes", config.get("ways"));
  }
  config.source = "train options";
  validate(config);
  const auto device = parse_device(config.get("device"));
  const int64_t threads = set_threads(config.get_int("threads"));
  config.set("threads", std::to_string(threads));  // the count used, so that --resume uses it again
  auto refuse_existing_run = [&] {
    if (!resume && (fs::exists(last_path) || fs::exists(metrics_path))) {
      throw UsageError("--out " + out + " already holds a run; pass --resume to continue it, or remove the directory");
    }
  };
  // A directory that exists may be in another process's hands: say so before anything else.
  std::optional<RunDirLock> lock;
  if (fs::is_directory(out)) lock.emplace(out, "--out");
  refuse_existing_run();

  // ---- data ----
  datasets::LoadOptions load;
  load.image_size = config.get_int("image-size");
  const auto data = datasets::load_dataset(config.get("dataset"), load);
  if (config.get_int("image-size") == 0) config.set("image-size", std::to_string(data.height()));
  if (!resume && explicitly_given(vm, "channels") && vm["channels"].as<int64_t>() != data.channels()) {
    throw UsageError("--channels " + config.get("channels") + " differs from the " + std::to_string(data.channels()) +
                     " channels of " + data.source);
  }
  if (!resume) config.set("channels", std::to_string(data.channels()));
  const int64_t ways = config.get_int("ways"), shots = config.get_int("shots"), queries = config.get_int("queries");
  for (const char* split : {"train", "val"}) {
    const auto& s = data.split(split);
    if (s.size() == 0) continue;
    if (ways > s.num_classes()) {
      throw UsageError("--ways " + std::to_string(ways) + " is more than the " + std::to_string(s.num_classes()) +
                       " classes of the " + split + " split of " + data.source);
    }
  }

  // ---- model and engine (every seed-dependent draw starts from --seed) ----
  const int64_t seed = config.get_int("seed");
  torch::manual_seed(static_cast<uint64_t>(seed));
  std::unique_ptr<backbones::Backbone> model;
  try {
    model = backbones::make_backbone(backbone_options(config));
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string("--backbone ") + config.get("backbone") + ": " + e.what());
  }
  meta::Maml maml(*model, maml_config(config));
  maml.to(device);

  episodes::EpisodeConfig train_cfg;
  train_cfg.ways = ways;
  train_cfg.shots = shots;
  train_cfg.queries = queries;
  train_cfg.seed = static_cast<uint64_t>(seed);
  train_cfg.augment = config.get_bool("augment");
  train_cfg.normalization = datasets::normalization_for(data);
  const episodes::EpisodeSampler train_sampler(data.train, "train", train_cfg);
  const bool have_val = data.val.size() > 0;
  auto val_cfg = train_cfg;
  val_cfg.augment = false;
  val_cfg.seed = static_cast<uint64_t>(seed) + 1;  // fixed validation episodes, distinct from training
  std::unique_ptr<episodes::EpisodeSampler> val_sampler;
  if (have_val) val_sampler = std::make_unique<episodes::EpisodeSampler>(data.val, "val", val_cfg);

  // ---- run directory: this process's alone until it exits ----
  if (!lock) {
    lock.emplace(out, "--out");
    refuse_existing_run();  // again under the lock: another process may have started it meanwhile
  }
  CheckpointInfo info;
  info.config = config;
  int64_t start = 0;
  if (resume) {
    info = load_checkpoint(last_path, maml, /*restore_rng=*/true);
    info.config = config;
    start = info.iteration;
    truncate_metrics(metrics_path, start);
    std::cerr << "resuming " << out << " at iteration " << start << "\n";
  } else {
    config.write_ini(run_file(out, "config.ini"));
    {
      std::ofstream csv(metrics_path, std::ios::trunc);
      csv << "iteration,loss,accuracy,meta_lr,second_order,seconds,val_accuracy,val_ci95\n";
    }
    info.next_episode = 0;
    save_checkpoint(last_path, maml, info);  // a last good checkpoint exists from the start
  }
  const int64_t iterations = config.get_int("iterations"), tasks = config.get_int("meta-batch");
  const int64_t val_every = config.get_int("val-every"), val_episodes = config.get_int("val-episodes");

  std::cerr << "train: " << config.get("backbone") << " (" << config.get("conv") << ", width " << config.get("width")
            << ", " << model->num_params() << " parameters) on " << data.source << ", " << ways << "-way "
            << shots << "-shot, " << iterations << " iterations x " << tasks << " tasks, " << threads
            << " threads, " << device.str() << "\n";

  std::ofstream csv(metrics_path, std::ios::app);
  ProgressBar bar("train", iterations);
  const auto t0 = std::chrono::steady_clock::now();
  double loss_avg = 0.0, acc_avg = 0.0;  // exponential moving averages for the bar
  if (start < iterations) {
    episodes::Prefetcher prefetch(train_sampler, start * tasks, tasks, /*threads=*/1, /*depth=*/4);
    for (int64_t it = start; it < iterations; ++it) {
      const auto batch = prefetch.next();
      const auto m = maml.meta_step(batch.support_x, batch.support_y, batch.query_x, batch.query_y, it);
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      const int64_t done = it + 1;
      csv << done << "," << format_double(m.loss) << "," << format_double(m.accuracy) << ","
          << format_double(maml.meta_lr_at(it)) << "," << (maml.first_order_at(it) ? 0 : 1) << ","
          << percent(seconds, 3);
      if (!std::isfinite(m.loss)) {
        csv << ",,\n";
        csv.flush();
        bar.finish("stopped");
        throw std::runtime_error("non-finite query loss (" + format_double(m.loss) + ") at iteration " +
                                 std::to_string(done) + "; training stopped. The last good checkpoint is " +
                                 last_path + " (iteration " + std::to_string(info.iteration) +
                                 "); try a lower --inner-lr / --meta-lr or --clip-grad");
      }
      const bool validate_now = done == iterations || (val_every > 0 && done % val_every == 0);
      if (!validate_now) {
        csv << ",,\n";
      } else {
        info.iteration = done;
        info.next_episode = done * tasks;
        bool best = false;
        if (have_val) {
          const auto acc = summarize(run_episodes(maml, *val_sampler, 0, val_episodes, -1));
          csv << "," << format_double(acc.accuracy) << "," << format_double(acc.ci95) << "\n";
          best = acc.accuracy / 100.0 > info.best_val_accuracy;
          if (best) {
            info.best_val_accuracy = acc.accuracy / 100.0;
            info.best_iteration = done;
          }
          std::cerr << (isatty(STDERR_FILENO) ? "\r\033[K" : "") << "iteration " << done << ": val accuracy "
                    << percent(acc.accuracy) << " ± " << percent(acc.ci95) << " %" << (best ? " (best)" : "")
                    << "\n";
        } else {
          csv << ",,\n";
          best = true;  // no validation split: best is the latest
          info.best_iteration = done;
        }
        csv.flush();
        // Save best first: a kill between the two leaves last.h5 one validation behind, which
        // --resume simply recomputes.
        if (best) save_checkpoint(best_path, maml, info);
        save_checkpoint(last_path, maml, info);
      }
      loss_avg = it == start ? m.loss : 0.9 * loss_avg + 0.1 * m.loss;
      acc_avg = it == start ? m.accuracy : 0.9 * acc_avg + 0.1 * m.accuracy;
      bar.update(done, "loss " + percent(loss_avg, 3) + " query acc " + percent(100.0 * acc_avg, 1) + "%");
      if (stop_after > 0 && done - start >= stop_after && done < iterations) {
        csv.flush();
        std::cerr << "\nstopped after iteration " << done << " (--stop-after); the last checkpoint is at iteration "
                  << info.iteration << "\n";
        return 0;
      }
    }
  }
  bar.finish("loss " + percent(loss_avg, 3) + " query acc " + percent(100.0 * acc_avg, 1) + "%");
  std::cout << "trained " << out << ": " << iterations << " iterations";
  if (have_val && info.best_val_accuracy >= 0) {
    std::cout << ", best validation accuracy " << percent(100.0 * info.best_val_accuracy) << " % at iteration "
              << info.best_iteration;
  }
  std::cout << "\ncheckpoints: " << best_path << ", " << last_path << "\n";
  return 0;
}

}  // namespace experiments
