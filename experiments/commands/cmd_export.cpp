// `acdc-meta export`: flags -> ExportRequest -> export_weights (experiments/runs/export.h), a
// checkpoint's weights as a torch.load dict (pt) or an h5py file (h5), with the run's metadata;
// --materialize writes the dense kernels a network of plain convolutions loads. The output may
// be neither the checkpoint itself nor any checkpoint.

#include "experiments/commands/cli.h"
#include "experiments/commands/commands.h"
#include "experiments/runs/checkpoint.h"
#include "experiments/runs/export.h"
#include "experiments/runs/output_paths.h"
#include "experiments/runs/run_directory.h"

#include <iostream>

namespace experiments {

namespace {

const char* const kUsage = "--run RUN_DIR|--checkpoint FILE --format pt|h5 --out FILE [--materialize]";

}  // namespace

int cmd_export(const Args& args) {
  po::options_description desc("export options");
  desc.add_options()
      ("run", po::value<std::string>(), "run directory written by `acdc-meta train`")
      ("checkpoint", po::value<std::string>()->default_value("best"), "best, last (in --run) or a checkpoint FILE")
      ("format", po::value<std::string>(), "pt (torch.load) or h5 (h5py)")
      ("out", po::value<std::string>(), "output file")
      ("materialize", po::bool_switch(),
       "dense conv kernels W = alpha*D under <layer>.weight, loadable by the standard conv variant of the backbone");
  po::variables_map vm;
  if (!parse_args("export", kUsage, args, desc, vm)) return 0;
  if (!vm.count("format")) throw UsageError("--format pt|h5 is required");
  if (!vm.count("out")) throw UsageError("--out FILE is required");
  ExportRequest request;
  request.format = vm["format"].as<std::string>();
  if (request.format != "pt" && request.format != "h5") {
    throw UsageError("--format must be pt or h5, got '" + request.format + "'");
  }
  request.checkpoint =
      checkpoint_from_flags(vm.count("run") ? vm["run"].as<std::string>() : "", vm["checkpoint"].as<std::string>());
  request.out = vm["out"].as<std::string>();
  request.materialize = vm["materialize"].as<bool>();
  check_output_file(request.out, "--out");
  check_not_same_file(request.out, "--out", request.checkpoint, "checkpoint being exported");
  if (is_checkpoint(request.out)) {
    throw UsageError("--out " + request.out +
                     " is an acdc-meta checkpoint; export never overwrites one (choose another --out)");
  }

  const auto r = export_weights(request);
  std::cout << "exported " << r.tensors << " tensors (" << r.numbers << " numbers) of " << r.checkpoint
            << " (iteration " << r.iteration << ") to " << r.out;
  if (r.materialized) std::cout << " (dense kernels for the standard conv variant)";
  std::cout << "\n";
  return 0;
}

}  // namespace experiments
