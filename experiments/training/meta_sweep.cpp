#include "experiments/training/meta_sweep.h"

#include "backbones/registry.h"
#include "datasets/dataset.h"
#include "datasets/storage/json.h"
#include "episodes/sampler.h"
#include "experiments/report/numbers.h"
#include "experiments/report/run_report.h"
#include "experiments/report/sweep_report.h"
#include "experiments/runs/checkpoint.h"
#include "experiments/runs/output_paths.h"
#include "experiments/runs/run_directory.h"
#include "experiments/runs/sweep.h"
#include "experiments/training/device.h"
#include "experiments/training/meta_test.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

namespace experiments {

namespace fs = std::filesystem;

namespace {

const int64_t kEvalQueries = 15;  // eval's default (the CloserLook protocol)

// What planning a variant found: its network's size and the resolved data sizes.
struct Plan {
  std::string slug, dir;
  MetaTrainSettings settings;  // image size, channels and classes resolved
  const datasets::Dataset* data = nullptr;  // loaded once per (dataset, image size) for the sweep
  int64_t params = 0, macs_per_image = 0;
};

std::string eval_file(const std::string& dir, int64_t shots) {
  return run_file(dir, "eval-" + std::to_string(shots) + "shot.json");
}
std::string time_file(const std::string& dir) { return run_file(dir, "train-time.json"); }

// The evaluation of `shots` in `dir`, when it is there and used `episodes` episodes.
bool evaluated(const std::string& dir, int64_t shots, int64_t episodes) {
  const auto path = eval_file(dir, shots);
  if (!fs::exists(path)) return false;
  const auto figures = report::read_eval_json(path).figures;
  return figures.size() == 1 && figures[0].episodes == episodes;
}

double train_seconds(const std::string& dir) {
  const auto path = time_file(dir);
  if (!fs::exists(path)) return 0.0;
  return storage::json_number(storage::read_json(path), "seconds", path);
}

// Builds what a variant trains and evaluates on, without training: the data's sizes, the
// network, the engine and the episode samplers (each checks its split has the classes and
// images). Throws UsageError (or std::invalid_argument) naming the setting.
Plan plan_variant(const MetaSweepVariant& v, const MetaSweepRequest& request,
                  std::map<std::pair<std::string, int64_t>, datasets::Dataset>& data) {
  Plan p;
  p.slug = variant_slug(v.label);
  p.dir = run_file(request.out, p.slug);
  MetaTrainSettings s = v.train.settings;
  const auto last = run_file(p.dir, "last.h5");
  if (request.resume && fs::exists(last)) {
    // A started variant continues its saved configuration: a changed setting stops the sweep now.
    const auto& table = meta_train_settings();
    const auto saved = read_checkpoint_info(last);
    s = table.from_config(resume_config(saved.config, table.to_config(s), v.train.explicit_keys,
                                        kMetaTrainResumeMayChange, p.dir, v.label, /*quiet=*/true));
  }
  if (v.train.explicit_keys.count("classes") && s.classes != s.ways) {
    throw UsageError("--classes " + std::to_string(s.classes) + " differs from --ways " + std::to_string(s.ways) +
                     " (the head has one output per way)");
  }
  s.classes = s.ways;
  const auto key = std::make_pair(s.dataset, s.image_size);
  auto it = data.find(key);
  if (it == data.end()) {
    datasets::LoadOptions load;
    load.image_size = s.image_size;
    it = data.emplace(key, datasets::load_dataset(s.dataset, load)).first;
  }
  const auto& d = it->second;
  p.data = &d;
  if (s.image_size == 0) s.image_size = d.height();
  if (v.train.explicit_keys.count("channels") && s.channels != d.channels()) {
    throw UsageError("--channels " + std::to_string(s.channels) + " differs from the " + std::to_string(d.channels()) +
                     " channels of " + d.source);
  }
  s.channels = d.channels();
  check_ways(s.ways, d, {"train", "val", "test"});

  auto model = build_meta_model(s);
  meta::Maml maml(*model, s.maml());
  p.params = model->num_params();
  p.macs_per_image = model->costs(s.image_size).macs_per_image();

  // The episodes of training and of the evaluation at the largest shot count.
  episodes::EpisodeConfig train_cfg;
  train_cfg.ways = s.ways;
  train_cfg.shots = s.shots;
  train_cfg.queries = s.queries;
  train_cfg.normalization = datasets::normalization_for(d);
  const episodes::EpisodeSampler train(d.train, "train", train_cfg);
  auto test_cfg = train_cfg;
  test_cfg.shots = *std::max_element(request.eval_shots.begin(), request.eval_shots.end());
  test_cfg.queries = kEvalQueries;
  const episodes::EpisodeSampler test(d.test, "test", test_cfg);
  p.settings = s;
  return p;
}

// The report's row of an evaluated variant, from its files (so a resumed sweep writes the same).
report::FewShotRow read_row(const MetaSweepVariant& v, const Plan& p, const std::vector<int64_t>& shots) {
  report::FewShotRow r;
  r.label = v.label;
  r.backbone = p.settings.backbone;
  r.conv = acdc::to_string(p.settings.conv);
  r.atoms = p.settings.atoms;
  r.group_size = p.settings.group_size;
  r.params = p.params;
  r.macs_per_image = p.macs_per_image;
  r.ways = p.settings.ways;
  r.iterations = p.settings.iterations;
  for (const auto k : shots) {
    const auto f = report::read_eval_json(eval_file(p.dir, k)).figures.at(0);  // evaluated(): one line
    r.shots.push_back({f.shots, f.episodes, f.accuracy, f.ci95});
  }
  r.train_seconds = train_seconds(p.dir);
  r.run_dir = p.dir;
  return r;
}

storage::json row_json(const report::FewShotRow& r) {
  auto results = storage::json::array();
  for (const auto& s : r.shots) {
    results.push_back({{"ways", r.ways}, {"shots", s.shots}, {"episodes", s.episodes}, {"accuracy", s.accuracy},
                       {"ci95", s.ci95}});
  }
  return {{"label", r.label},
          {"backbone", r.backbone},
          {"conv", r.conv},
          {"atoms", r.atoms},
          {"group_size", r.group_size},
          {"params", r.params},
          {"macs_per_image", r.macs_per_image},
          {"ways", r.ways},
          {"iterations", r.iterations},
          {"results", results},
          {"train_seconds", r.train_seconds},
          {"run_dir", r.run_dir}};
}

std::string sweep_notes(const MetaSweepRequest& request, const std::vector<Plan>& plans) {
  const auto& s = plans.front().settings;
  std::ostringstream n;
  n << "Shared settings: " << (request.shared_settings.empty() ? "(none)" : request.shared_settings) << ". "
    << "Each variant meta-trains " << s.iterations << " iterations (" << s.meta_batch << " tasks each) into its own run "
    << "directory, then is evaluated as `acdc-meta eval` does: " << request.eval_episodes << " test episodes per shot "
    << "count, " << kEvalQueries << " queries per class, from best.h5 (best validation accuracy; last.h5 without "
    << "validation); accuracy ± 1.96·std/√episodes. MACs per image at the data's image size, kernel reconstruction "
    << "excluded. Meta-train seconds: wall time of the training (summed over resumed invocations).";
  return n.str();
}

// stdout goes to stderr while it lives (with --json, stdout holds the JSON alone).
class CoutToCerr {
 public:
  explicit CoutToCerr(bool active) : saved_(active ? std::cout.rdbuf(std::cerr.rdbuf()) : nullptr) {}
  ~CoutToCerr() {
    if (saved_ != nullptr) std::cout.rdbuf(saved_);
  }
  CoutToCerr(const CoutToCerr&) = delete;
  CoutToCerr& operator=(const CoutToCerr&) = delete;

 private:
  std::streambuf* saved_;
};

}  // namespace

int run_meta_sweep(MetaSweepRequest request) {
  const auto& path = request.path;
  std::set<std::string> dirs;
  for (const auto& v : request.variants) {
    if (!dirs.insert(variant_slug(v.label)).second) {
      throw UsageError(path + ": two variants share the directory name " + variant_slug(v.label));
    }
  }
  const auto& first = request.variants.front().train.settings;
  parse_device(first.device);
  set_threads(first.threads);
  const RunDirLock lock(request.out, "--out");  // the report files; each variant's directory has its own lock

  // Every variant is planned before any training, so that a bad combination stops the sweep at once.
  std::vector<Plan> plans;
  // One load per (dataset, image size), shared by planning, training and evaluation.
  std::map<std::pair<std::string, int64_t>, datasets::Dataset> data;
  for (const auto& v : request.variants) {
    try {
      plans.push_back(plan_variant(v, request, data));
    } catch (const UsageError& e) {
      throw UsageError(path + " [" + v.label + "]: " + e.what());
    } catch (const std::invalid_argument& e) {
      throw UsageError(path + " [" + v.label + "]: " + e.what());
    }
    const RunDirectory run(plans.back().dir);
    if (!request.resume && (run.holds_run() || fs::exists(eval_file(plans.back().dir, request.eval_shots.front())))) {
      throw UsageError("--out " + request.out + " already holds a sweep (" + plans.back().dir +
                       "); pass --resume to continue it, or remove the directory");
    }
  }

  std::vector<report::FewShotRow> rows;
  report::SweepInfo info;
  info.command = request.command;
  info.title = "Few-shot sweep: " + first.dataset;
  info.notes = sweep_notes(request, plans);
  const std::string svg_title = "Few-shot accuracy vs parameters (" + first.dataset + ")";
  auto all_json = [&] {
    auto all = storage::json::array();
    for (const auto& row : rows) all.push_back(row_json(row));
    return all;
  };
  for (size_t i = 0; i < request.variants.size(); ++i) {
    const auto& v = request.variants[i];
    const auto& p = plans[i];
    std::cerr << "sweep: variant " << (i + 1) << "/" << request.variants.size() << ": " << v.label << "\n";
    bool done = true;
    for (const auto k : request.eval_shots) done = done && evaluated(p.dir, k, request.eval_episodes);
    if (done) {
      std::cerr << v.label << ": " << p.dir << " is evaluated; reusing its results\n";
    } else {
      const auto last = run_file(p.dir, "last.h5");
      const bool started = fs::exists(last);
      if (!started || read_checkpoint_info(last).iteration < p.settings.iterations) {
        // A run killed before its first checkpoint has nothing to continue: it starts again.
        if (!started && fs::exists(run_file(p.dir, "metrics.csv"))) fs::remove(run_file(p.dir, "metrics.csv"));
        MetaTrainRequest train = v.train;
        train.out = p.dir;
        train.resume = started;
        train.stop_after = request.stop_after;
        train.data = p.data;
        const auto t0 = std::chrono::steady_clock::now();
        {
          const CoutToCerr quiet(request.json);
          meta_train(train);
        }
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        storage::write_json(time_file(p.dir), {{"seconds", train_seconds(p.dir) + seconds}});
        if (read_checkpoint_info(last).iteration < p.settings.iterations) return 0;  // --stop-after
      }
      MetaTestRequest eval;
      eval.checkpoint = run_file(p.dir, fs::exists(run_file(p.dir, "best.h5")) ? "best.h5" : "last.h5");
      eval.episodes = request.eval_episodes;
      eval.shots = request.eval_shots;
      eval.queries = kEvalQueries;
      eval.device = p.settings.device;
      eval.data = p.data;
      const auto result = meta_test(eval);
      // One file per shot count, each what `acdc-meta eval --shots K --json` prints.
      for (size_t k = 0; k < result.shots.size(); ++k) {
        auto one = result;
        one.shots = {result.shots[k]};
        one.summaries = {result.summaries[k]};
        storage::write_json(eval_file(p.dir, result.shots[k]), one.json());
      }
    }
    rows.push_back(read_row(v, p, request.eval_shots));
    // The report grows after every variant, so an interrupted sweep still shows what it has.
    write_text_file(run_file(request.out, "results.md"), report::fewshot_markdown(rows, info));
    write_text_file(run_file(request.out, "results.csv"), report::fewshot_csv(rows));
    write_text_file(run_file(request.out, "results.svg"), report::fewshot_svg(rows, svg_title));
    storage::write_json(run_file(request.out, "results.json"), all_json());
    if (!request.json) {
      const auto& r = rows.back();
      std::cout << r.label << ":";
      for (const auto& a : r.shots) {
        std::cout << " " << r.ways << "-way " << a.shots << "-shot " << fixed(a.accuracy, 2) << " ± " << fixed(a.ci95, 2)
                  << " %;";
      }
      std::cout << " " << grouped(r.params) << " parameters, " << grouped(r.macs_per_image) << " MACs/image; " << p.dir
                << "\n";
    }
  }
  if (request.json) {
    std::cout << storage::dump_json(all_json()) << "\n";
  } else {
    std::cout << "\n" << report::fewshot_markdown(rows, {}) << "\nreport: " << run_file(request.out, "results.md") << ", "
              << run_file(request.out, "results.csv") << ", " << run_file(request.out, "results.svg") << "\n";
  }
  return 0;
}

}  // namespace experiments
