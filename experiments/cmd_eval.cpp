// `acdc-meta eval`: the CloserLook meta-test protocol on a trained run — N episodes (600) of
// `ways`-way, k-shot, 15 queries per class, fixed seeds, each adapted from the meta parameters
// with inner-steps-test steps; mean accuracy and 1.96·std/sqrt(N), for every requested shot
// count. --json prints the results with every setting FEWSHOT.md asks a result to carry.

#include "backbones/registry.h"
#include "datasets/dataset.h"
#include "episodes/sampler.h"
#include "experiments/checkpoint.h"
#include "experiments/cli.h"
#include "experiments/commands.h"
#include "experiments/fewshot.h"
#include "experiments/report/table.h"
#include "experiments/run_config.h"

#include <torch/torch.h>

#include <filesystem>
#include <iostream>
#include <sstream>

namespace experiments {

namespace {

const char* const kUsage =
    "--run RUN_DIR [--checkpoint best|last|FILE] [--episodes 600] [--shots 1,5] [--split test] [--json]\n"
    "  (or --checkpoint FILE alone)";

using report::fixed;

}  // namespace

int cmd_eval(const Args& args) {
  po::options_description desc("eval options");
  desc.add_options()
      ("run", po::value<std::string>(), "run directory written by `acdc-meta train`")
      ("checkpoint", po::value<std::string>()->default_value("best"), "best, last (in --run) or a checkpoint FILE")
      ("episodes", po::value<int64_t>()->default_value(600), "test episodes per shot count")
      ("ways", po::value<int64_t>()->default_value(0), "classes per episode (0 = as trained)")
      ("shots", po::value<std::string>()->default_value(""), "comma-separated shot counts, e.g. 1,5 (default: as trained)")
      ("queries", po::value<int64_t>()->default_value(15), "query images per class")
      ("split", po::value<std::string>()->default_value("test"), "split to evaluate on: test, val, train")
      ("inner-steps-test", po::value<int64_t>()->default_value(-1), "adaptation steps (default: the run's)")
      ("seed", po::value<int64_t>()->default_value(0), "episode seed (the same seed gives the same episodes)")
      ("dataset", po::value<std::string>()->default_value(""), "dataset spec (default: the run's)")
      ("device", po::value<std::string>()->default_value("cpu"), "cpu, cuda or cuda:N")
      ("threads", po::value<int64_t>()->default_value(0), "CPU threads (0 = every core)")
      ("json", po::bool_switch(), "print one JSON object {results, settings}");
  po::variables_map vm;
  if (!parse_args("eval", kUsage, args, desc, vm)) return 0;

  // ---- validate everything before work ----
  const std::string which = vm["checkpoint"].as<std::string>();
  const std::string run = vm.count("run") ? vm["run"].as<std::string>() : "";
  if (run.empty() && (which == "best" || which == "last")) {
    throw UsageError("--run RUN_DIR is required (or --checkpoint FILE)");
  }
  const std::string path = resolve_checkpoint(run, which);
  if (!std::filesystem::exists(path)) throw UsageError("--checkpoint: no checkpoint '" + path + "'");
  const int64_t episodes = vm["episodes"].as<int64_t>();
  if (episodes < 1) throw UsageError("--episodes must be at least 1, got " + std::to_string(episodes));
  const int64_t queries = vm["queries"].as<int64_t>();
  if (queries < 1) throw UsageError("--queries must be at least 1, got " + std::to_string(queries));
  const std::string split = vm["split"].as<std::string>();
  if (split != "test" && split != "val" && split != "train") {
    throw UsageError("--split must be test, val or train, got '" + split + "'");
  }
  if (!vm["inner-steps-test"].defaulted() && vm["inner-steps-test"].as<int64_t>() < 0) {
    throw UsageError("--inner-steps-test must be >= 0, got " + std::to_string(vm["inner-steps-test"].as<int64_t>()));
  }
  const int64_t eval_seed = vm["seed"].as<int64_t>();
  if (eval_seed < 0) throw UsageError("--seed must be >= 0, got " + std::to_string(eval_seed));
  const auto device = parse_device(vm["device"].as<std::string>());
  set_threads(vm["threads"].as<int64_t>());

  auto info = read_checkpoint_info(path);
  auto& config = info.config;
  const int64_t ways = vm["ways"].as<int64_t>() > 0 ? vm["ways"].as<int64_t>() : config.get_int("ways");
  if (vm["ways"].as<int64_t>() < 0) throw UsageError("--ways must be at least 1, got " + std::to_string(vm["ways"].as<int64_t>()));
  if (ways != config.get_int("ways")) {
    throw UsageError("--ways " + std::to_string(ways) + ": the model was trained " + config.get("ways") +
                     "-way (its head has " + config.get("ways") + " outputs)");
  }
  const auto shots = vm["shots"].as<std::string>().empty() ? std::vector<int64_t>{config.get_int("shots")}
                                                           : parse_int_list(vm["shots"].as<std::string>(), "--shots");
  const int64_t steps =
      vm["inner-steps-test"].as<int64_t>() >= 0 ? vm["inner-steps-test"].as<int64_t>() : config.get_int("inner-steps-test");
  const std::string dataset = vm["dataset"].as<std::string>().empty() ? config.get("dataset") : vm["dataset"].as<std::string>();

  // ---- data, model ----
  datasets::LoadOptions load;
  load.image_size = config.get_int("image-size");
  const auto data = datasets::load_dataset(dataset, load);
  const auto& split_data = data.split(split);
  if (ways > split_data.num_classes()) {
    throw UsageError("--ways " + std::to_string(ways) + " is more than the " + std::to_string(split_data.num_classes()) +
                     " classes of the " + split + " split of " + data.source);
  }
  torch::manual_seed(static_cast<uint64_t>(config.get_int("seed")));
  auto model = backbones::make_backbone(backbone_options(config));
  const auto maml_cfg = maml_config(config);
  meta::Maml maml(*model, maml_cfg);
  load_checkpoint(path, maml, /*restore_rng=*/false);
  maml.to(device);
  auto standard = backbone_options(config);
  standard.conv.type = acdc::ConvType::kStandard;
  const int64_t standard_params = backbones::make_backbone(standard)->num_params();

  // ---- episodes ----
  auto results = Json::array();
  std::vector<AccuracySummary> summaries;
  for (const auto k : shots) {
    episodes::EpisodeConfig ec;
    ec.ways = ways;
    ec.shots = k;
    ec.queries = queries;
    ec.seed = static_cast<uint64_t>(eval_seed);
    ec.augment = false;
    ec.normalization = datasets::normalization_for(data);
    const episodes::EpisodeSampler sampler(split_data, split, ec);
    ProgressBar bar("eval " + std::to_string(ways) + "-way " + std::to_string(k) + "-shot", episodes);
    const auto s = summarize(run_episodes(maml, sampler, 0, episodes, steps, &bar));
    bar.finish("acc " + fixed(s.accuracy, 2) + " ± " + fixed(s.ci95, 2) + " %");
    summaries.push_back(s);
    results.push(Json::object()
                     .set("ways", ways)
                     .set("shots", k)
                     .set("episodes", s.episodes)
                     .set("accuracy", s.accuracy)
                     .set("ci95", s.ci95));
  }

  auto settings = Json::object();
  settings.set("backbone", config.get("backbone"))
      .set("conv", config.get("conv"))
      .set("width", config.get_int("width"))
      .set("atoms", config.get_int("atoms"))
      .set("group_size", config.get_int("group-size"))
      .set("atom_drop", config.get_double("atom-drop"))
      .set("image_size", config.get_int("image-size"))
      .set("channels", config.get_int("channels"))
      .set("bn", config.get("bn"))
      .set("inner_params", config.get("inner-params"))
      .set("inner_steps_train", config.get_int("inner-steps"))
      .set("inner_steps_test", steps)
      .set("inner_lr", config.get_double("inner-lr"))
      .set("learn_inner_lr", config.get_bool("learn-inner-lr"))
      .set("order", order_description(maml_cfg))
      .set("first_order", config.get_bool("first-order"))
      .set("anneal_first_order", config.get_int("anneal-first-order"))
      .set("meta_batch", config.get_int("meta-batch"))
      .set("meta_lr", config.get_double("meta-lr"))
      .set("train_shots", config.get_int("shots"))
      .set("iterations", config.get_int("iterations"))
      .set("dataset", dataset)
      .set("split", split)
      .set("queries", queries)
      .set("checkpoint", path)
      .set("checkpoint_iteration", info.iteration)
      .set("best_val_accuracy", info.best_val_accuracy >= 0 ? 100.0 * info.best_val_accuracy : -1.0)
      .set("seeds", Json::object().set("train", config.get_int("seed")).set("eval", eval_seed))
      .set("parameters", model->num_params())
      .set("parameters_standard_conv", standard_params)
      .set("device", device.str());
  if (vm["json"].as<bool>()) {
    std::cout << Json::object().set("results", results).set("settings", settings).dump() << "\n";
  } else {
    std::cout << config.get("backbone") << " " << config.get("conv") << " (" << model->num_params()
              << " parameters; standard conv: " << standard_params << "), " << path << " (iteration "
              << info.iteration << "), " << split << " split, " << episodes << " episodes, " << steps
              << " adaptation steps\n";
    for (size_t i = 0; i < shots.size(); ++i) {
      std::cout << "  " << ways << "-way " << shots[i] << "-shot: " << fixed(summaries[i].accuracy, 2) << " ± "
                << fixed(summaries[i].ci95, 2) << " %\n";
    }
  }
  return 0;
}

}  // namespace experiments
