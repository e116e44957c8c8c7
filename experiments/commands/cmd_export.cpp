// `acdc-meta export`: a checkpoint's weights for use outside the tool, under the
// parameter-dictionary names (parameters, BatchNorm buffers, learned inner lrs):
//   pt  a pickled dict name -> tensor that Python's torch.load reads directly;
//   h5  one dataset per tensor (the name is the dataset's path) and the run configuration as
//       attributes of the root group, readable by h5py.
// Both are written to a temporary name and renamed. The checkpoint is validated first (the loader
// eval and --resume use); the output may be neither the checkpoint itself nor any checkpoint.

#include "datasets/storage/atomic_file.h"
#include "datasets/storage/h5.h"
#include "experiments/runs/checkpoint.h"
#include "experiments/runs/run_directory.h"
#include "experiments/commands/cli.h"
#include "experiments/commands/commands.h"
#include "experiments/runs/output_paths.h"

#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <iostream>

namespace experiments {

namespace {

const char* const kUsage = "--run RUN_DIR|--checkpoint FILE --format pt|h5 --out FILE";

void write_pt(const std::string& out, const std::map<std::string, torch::Tensor>& weights) {
  c10::Dict<std::string, at::Tensor> dict;
  for (const auto& [name, t] : weights) dict.insert(name, t);
  const auto bytes = torch::pickle_save(c10::IValue(dict));
  storage::AtomicFile file(out);
  {
    std::ofstream f(file.temp_path(), std::ios::binary | std::ios::trunc);
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    f.close();
    if (!f) throw std::runtime_error("cannot write '" + out + "'");
  }
  file.commit();
}

void write_h5(const std::string& out, const std::map<std::string, torch::Tensor>& weights, const CheckpointInfo& info,
              const std::string& checkpoint) {
  storage::AtomicFile file(out);
  {
    auto f = storage::H5File::create(file.temp_path());
    for (const auto& [name, t] : weights) f.write_tensor(name, t);
    for (const auto& [key, value] : info.config.entries()) f.set_attr("/", key, value);
    f.set_attr("/", "acdc_meta.checkpoint", checkpoint);
    f.set_attr("/", "acdc_meta.iteration", info.iteration);
    f.close();
  }
  file.commit();
}

}  // namespace

int cmd_export(const Args& args) {
  po::options_description desc("export options");
  desc.add_options()
      ("run", po::value<std::string>(), "run directory written by `acdc-meta train`")
      ("checkpoint", po::value<std::string>()->default_value("best"), "best, last (in --run) or a checkpoint FILE")
      ("format", po::value<std::string>(), "pt (torch.load) or h5 (h5py)")
      ("out", po::value<std::string>(), "output file");
  po::variables_map vm;
  if (!parse_args("export", kUsage, args, desc, vm)) return 0;
  if (!vm.count("format")) throw UsageError("--format pt|h5 is required");
  if (!vm.count("out")) throw UsageError("--out FILE is required");
  const auto format = vm["format"].as<std::string>();
  if (format != "pt" && format != "h5") throw UsageError("--format must be pt or h5, got '" + format + "'");
  const std::string which = vm["checkpoint"].as<std::string>();
  const std::string run = vm.count("run") ? vm["run"].as<std::string>() : "";
  if (run.empty() && (which == "best" || which == "last")) {
    throw UsageError("--run RUN_DIR is required (or --checkpoint FILE)");
  }
  const std::string path = resolve_checkpoint(run, which);
  if (!std::filesystem::exists(path)) throw UsageError("--checkpoint: no checkpoint '" + path + "'");
  const std::string out = vm["out"].as<std::string>();
  check_output_file(out, "--out");
  check_not_same_file(out, "--out", path, "checkpoint being exported");
  if (is_checkpoint(out)) {
    throw UsageError("--out " + out + " is an acdc-meta checkpoint; export never overwrites one (choose another --out)");
  }

  const auto info = read_checkpoint_info(path);
  const auto weights = read_checkpoint_weights(path);  // validated as eval and --resume validate
  if (format == "pt") {
    write_pt(out, weights);
  } else {
    write_h5(out, weights, info, path);
  }
  int64_t numel = 0;
  for (const auto& [name, t] : weights) numel += t.numel();
  std::cout << "exported " << weights.size() << " tensors (" << numel << " numbers) of " << path << " (iteration "
            << info.iteration << ") to " << out << "\n";
  return 0;
}

}  // namespace experiments
