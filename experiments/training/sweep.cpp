#include "experiments/training/sweep.h"
#include "experiments/runs/run_directory.h"
#include "experiments/training/device.h"

#include "experiments/runs/output_paths.h"
#include "experiments/report/numbers.h"
#include "experiments/report/progress.h"
#include "experiments/report/sweep_report.h"
#include "experiments/runs/sweep.h"

#include "datasets/storage/json.h"

#include <filesystem>
#include <iomanip>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

namespace experiments {

namespace fs = std::filesystem;

namespace {

// The settings shared by the variants; one that the sweep varies reads "per variant" (an
// atom-drop sweep must not claim the atom-drop of its first variant).
std::string sweep_notes(const std::vector<ClassifyRequest>& variants, const ClassifyResult& first) {
  const auto& c = variants.front().settings;
  auto shared = [&](const auto& field, const std::string& text) {
    for (const auto& v : variants) {
      if (!(field(v.settings) == field(c))) return std::string("per variant");
    }
    return text;
  };
  std::ostringstream n;
  n << "Settings: " << shared([](const ClassifySettings& s) { return s.epochs; }, count_of(c.epochs, "epoch"))
    << ", batch " << shared([](const ClassifySettings& s) { return s.batch_size; }, std::to_string(c.batch_size))
    << ", SGD lr "
    << shared([](const ClassifySettings& s) { return std::make_pair(s.lr, s.schedule); },
              format_double(c.lr) + " (" + c.schedule + ")")
    << ", momentum "
    << shared([](const ClassifySettings& s) { return std::make_pair(s.momentum, s.nesterov); },
              format_double(c.momentum) + (c.nesterov ? " (Nesterov)" : ""))
    << ", weight decay " << shared([](const ClassifySettings& s) { return s.weight_decay; }, format_double(c.weight_decay))
    << ", atom-drop " << shared([](const ClassifySettings& s) { return s.atom_drop; }, format_double(c.atom_drop))
    << ", "
    << shared([](const ClassifySettings& s) { return s.augment; },
              c.augment ? "augment (crop + flip)" : "no augmentation")
    << ", seed " << shared([](const ClassifySettings& s) { return s.seed; }, std::to_string(c.seed))
    << (c.train_per_class > 0 ? ", the first " + std::to_string(c.train_per_class) + " train images of each class"
                              : std::string())
    << ". Test error = 100 − accuracy on "
    << (c.test_per_class > 0 ? "the first " + std::to_string(c.test_per_class) + " test images of each class"
                             : std::string("the whole test split"))
    << " after the last epoch (no model selection on test); "
    << "MACs per image of " << first.backbone << " at the dataset's image size, kernel reconstruction excluded.";
  return n.str();
}

report::VariantRow variant_row(const ClassifyResult& r) {
  return {r.label,         r.backbone,   r.conv,       r.atoms,          r.group_size,
          r.params,        r.macs_per_image, r.test_accuracy, r.test_error, r.test_loss,
          r.train_loss,    r.train_accuracy, r.epochs,  r.run_dir};
}

}  // namespace

int run_sweep(SweepRequest request) {
  const auto& path = request.path;
  std::set<std::string> dirs;
  for (auto& v : request.variants) {
    if (!dirs.insert(variant_slug(v.label)).second) {
      throw UsageError(path + ": two variants share the directory name " + variant_slug(v.label));
    }
  }
  const auto& first = request.variants.front().settings;
  parse_device(first.device);
  set_threads(first.threads);
  const RunDirLock lock(request.out, "--out");  // the report files; each variant's directory has its own lock

  // One load per (dataset, image size), shared by the variants.
  std::map<std::pair<std::string, int64_t>, datasets::Dataset> data;
  auto data_for = [&](const ClassifySettings& c) -> const datasets::Dataset& {
    const auto key = std::make_pair(c.dataset, c.image_size);
    auto it = data.find(key);
    if (it == data.end()) {
      datasets::LoadOptions load;
      load.image_size = key.second;
      it = data.emplace(key, datasets::load_classification_dataset(key.first, load)).first;
    }
    return it->second;
  };
  // Models are built (not trained) first, so that a bad backbone/conv combination stops the
  // sweep before hours of training.
  for (auto& o : request.variants) {
    o.out = run_file(request.out, variant_slug(o.label));
    o.resume = request.resume;
    o.fresh_if_missing = true;
    o.data = &data_for(o.settings);
    o.plan_only = true;
    try {
      run_classification(o);
    } catch (const UsageError& e) {
      throw UsageError(path + " [" + o.label + "]: " + e.what());
    }
    o.plan_only = false;
    o.stop_after = request.stop_after;
    if (!request.resume && (fs::exists(run_file(o.out, "last.h5")) || fs::exists(run_file(o.out, "metrics.csv")))) {
      throw UsageError("--out " + request.out + " already holds a sweep (" + o.out +
                       "); pass --resume to continue it, or remove the directory");
    }
  }

  std::vector<ClassifyResult> rows;
  std::vector<report::VariantRow> table;
  report::SweepInfo info;
  info.command = request.command;
  const auto& first_data = *request.variants.front().data;
  info.title = first.backbone + " on " + first_data.source;
  const std::string svg_title = first.backbone + " on " + first_data.kind + ": test error vs parameters";
  auto all_json = [&] {
    auto all = storage::json::array();
    for (const auto& row : rows) all.push_back(results_json(row));
    return all;
  };
  for (size_t i = 0; i < request.variants.size(); ++i) {
    const auto& o = request.variants[i];
    std::cerr << "sweep: variant " << (i + 1) << "/" << request.variants.size() << ": " << o.label << "\n";
    if (!run_classification(o).finished) return 0;  // --stop-after
    // Rows come from the variant's results.json, so a resumed sweep writes the same report.
    rows.push_back(read_results(o.out));
    table.push_back(variant_row(rows.back()));
    // The report grows after every variant, so an interrupted sweep still shows what it has.
    info.notes = sweep_notes(request.variants, rows.front());
    write_text_file(run_file(request.out, "results.md"), report::sweep_markdown(table, info));
    write_text_file(run_file(request.out, "results.csv"), report::sweep_csv(table));
    write_text_file(run_file(request.out, "results.svg"), report::sweep_svg(table, svg_title));
    storage::write_json(run_file(request.out, "results.json"), all_json());
    if (!request.json) print_result(rows.back());
  }
  if (request.json) {
    std::cout << storage::dump_json(all_json()) << "\n";
  } else {
    std::cout << "\n" << report::sweep_markdown(table, {}) << "\nreport: " << run_file(request.out, "results.md") << ", "
              << run_file(request.out, "results.csv") << ", " << run_file(request.out, "results.svg") << "\n";
  }
  return 0;
}

}  // namespace experiments
