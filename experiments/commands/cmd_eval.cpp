// `acdc-meta eval`: flags -> MetaTestRequest -> meta_test (experiments/training/meta_test.h), the
// CloserLook meta-test protocol on a trained run — N episodes (600) of
// `ways`-way, k-shot, 15 queries per class, fixed seeds, each adapted from the meta parameters
// with inner-steps-test steps; mean accuracy and 1.96·std/sqrt(N), for every requested shot
// count. --json prints the results with every setting FEWSHOT.md asks a result to carry.

#include "datasets/storage/json.h"
#include "experiments/commands/cli.h"
#include "experiments/commands/commands.h"
#include "experiments/commands/group_options.h"
#include "experiments/commands/print_result.h"
#include "experiments/report/numbers.h"
#include "experiments/report/progress.h"
#include "experiments/runs/run_directory.h"
#include "experiments/training/adapt.h"
#include "experiments/training/device.h"
#include "experiments/training/meta_test.h"

#include <iostream>

namespace experiments {

namespace {

const char* const kUsage =
    "--run RUN_DIR [--checkpoint best|last|FILE] [--episodes 600] [--shots 1,5] [--split test] [--json]\n"
    "  [--show-episode I]   (or --checkpoint FILE alone)";

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
      ("show-episode", po::value<int64_t>(),
       "show episode I instead: its classes, support and query rows, and the adapted model's prediction per query")
      ("json", po::bool_switch(), "print one JSON object {results, settings}");
  add_group_options(desc);
  po::variables_map vm;
  if (!parse_args("eval", kUsage, args, desc, vm)) return 0;

  // ---- validate everything before work ----
  MetaTestRequest request;
  request.checkpoint =
      checkpoint_from_flags(vm.count("run") ? vm["run"].as<std::string>() : "", vm["checkpoint"].as<std::string>());
  request.episodes = vm["episodes"].as<int64_t>();
  if (request.episodes < 1) throw UsageError("--episodes must be at least 1, got " + std::to_string(request.episodes));
  request.queries = vm["queries"].as<int64_t>();
  if (request.queries < 1) throw UsageError("--queries must be at least 1, got " + std::to_string(request.queries));
  request.split = vm["split"].as<std::string>();
  if (request.split != "test" && request.split != "val" && request.split != "train") {
    throw UsageError("--split must be test, val or train, got '" + request.split + "'");
  }
  request.inner_steps_test = vm["inner-steps-test"].as<int64_t>();
  if (!vm["inner-steps-test"].defaulted() && request.inner_steps_test < 0) {
    throw UsageError("--inner-steps-test must be >= 0, got " + std::to_string(request.inner_steps_test));
  }
  request.seed = vm["seed"].as<int64_t>();
  if (request.seed < 0) throw UsageError("--seed must be >= 0, got " + std::to_string(request.seed));
  request.ways = vm["ways"].as<int64_t>();
  if (!vm["shots"].as<std::string>().empty()) request.shots = parse_int_list(vm["shots"].as<std::string>(), "--shots");
  request.dataset = vm["dataset"].as<std::string>();
  request.device = vm["device"].as<std::string>();
  parse_device(request.device);
  set_threads(vm["threads"].as<int64_t>());

  if (vm.count("show-episode")) {  // one episode of the ones eval averages, shown (training/adapt.h)
    ShowEpisodeRequest show;
    show.checkpoint = request.checkpoint;
    show.episode = vm["show-episode"].as<int64_t>();
    if (show.episode < 0) throw UsageError("--show-episode must be >= 0, got " + std::to_string(show.episode));
    if (request.shots.size() > 1) throw UsageError("--show-episode shows one shot count; give --shots K");
    show.shots = request.shots.empty() ? 0 : request.shots.front();
    if (request.ways != 0) throw UsageError("--show-episode uses the run's ways; leave out --ways");
    show.queries = request.queries;
    show.split = request.split;
    show.steps = request.inner_steps_test;
    show.seed = request.seed;
    show.dataset = request.dataset;
    show.device = request.device;
    print_result(show_episode(show), vm["json"].as<bool>());
    return 0;
  }
  request.group = group_settings(vm);
  const auto r = meta_test(request);
  if (!r.root) return 0;  // rank 0 reports
  if (vm["json"].as<bool>()) {
    std::cout << storage::dump_json(r.json()) << "\n";
  } else {
    std::cout << r.run.backbone << " " << acdc::to_string(r.run.conv) << " (" << r.parameters
              << " parameters; standard conv: " << r.parameters_standard_conv << "), " << r.checkpoint << " (iteration "
              << r.info.iteration << "), " << r.split << " split, " << count_of(r.episodes, "episode") << ", "
              << count_of(r.steps, "adaptation step") << "\n";
    for (size_t i = 0; i < r.shots.size(); ++i) {
      std::cout << "  " << r.ways << "-way " << r.shots[i] << "-shot: " << fixed(r.summaries[i].accuracy, 2) << " ± "
                << fixed(r.summaries[i].ci95, 2) << " %\n";
    }
  }
  return 0;
}

}  // namespace experiments
