// `acdc-meta params` and `acdc-meta flops`: flags -> ParamCountRequest / MacCountRequest ->
// count_params / count_macs (experiments/analysis/costs.h), the trainable parameters and the MACs
// of a backbone with a conv type beside the same backbone with standard convs; `--paper-table`
// prints compare_table1 / compare_table3, the paper's Table 1 (parameters) or Table 3 (FLOPs,
// batch 100) beside this project's figures, cell by cell (reference/ACDC.md §5).

#include "backbones/registry.h"
#include "experiments/analysis/costs.h"
#include "experiments/commands/cli.h"
#include "experiments/commands/commands.h"
#include "experiments/commands/print_result.h"

#include <stdexcept>
#include <string>

namespace experiments {
namespace {

const char* kModelUsage =
    "--backbone B --conv C [--atoms M] [--group-size S] [--classes N] [--image-size H] [--channels 1|3]";
const char* kDefaultsNote =
    "Defaults when not given: 10 classes and 32 px for the CIFAR backbones (vgg16, resnet18-cifar, wrn-D-K);\n"
    "224 px for resnet10/18/34; 84 px for conv4 and resnet12; 5 classes otherwise.";

// Model options with the per-backbone defaults of params/flops (see kDefaultsNote).
backbones::BackboneOptions cost_model_options(const po::variables_map& vm) {
  auto o = model_options(vm);
  if (vm["classes"].defaulted()) o.classes = backbones::is_cifar_backbone(o.name) ? 10 : 5;
  if (vm["image-size"].defaulted()) o.image_size = backbones::native_image_size(o.name);
  return o;
}

}  // namespace

int cmd_params(const Args& args) {
  po::options_description desc("params options");
  add_model_options(desc);
  desc.add_options()
      ("json", po::bool_switch(), "print one JSON object")
      ("breakdown", po::bool_switch(), "also list every parameter tensor (name, shape, numel)")
      ("paper-table", po::bool_switch(), "print the paper's Table 1 beside this project's counts");
  po::variables_map vm;
  if (!parse_args("params", std::string(kModelUsage) + " [--json] [--breakdown] | --paper-table [--json]\n" +
                                kDefaultsNote,
                  args, desc, vm)) {
    return 0;
  }
  const bool json = vm["json"].as<bool>();
  if (vm["paper-table"].as<bool>()) {
    const auto table = compare_table1();
    print_result(table, json);
    return 0;
  }
  ParamCountRequest request;
  request.model = cost_model_options(vm);
  request.tensors = vm["breakdown"].as<bool>();
  const auto count = count_params(request);
  print_result(count, json);
  return 0;
}

int cmd_flops(const Args& args) {
  po::options_description desc("flops options");
  add_model_options(desc);
  desc.add_options()
      ("batch", po::value<int64_t>()->default_value(100), "images per forward (the paper's Table 3 uses 100)")
      ("json", po::bool_switch(), "print one JSON object")
      ("breakdown", po::bool_switch(), "also list every layer's MACs")
      ("paper-table", po::bool_switch(), "print the paper's Table 3 beside this project's MACs");
  po::variables_map vm;
  if (!parse_args("flops", std::string(kModelUsage) + " [--batch N] [--json] [--breakdown] | --paper-table [--json]\n" +
                               kDefaultsNote,
                  args, desc, vm)) {
    return 0;
  }
  const bool json = vm["json"].as<bool>();
  if (vm["paper-table"].as<bool>()) {
    const auto table = compare_table3();
    print_result(table, json);
    return 0;
  }
  MacCountRequest request;
  request.batch = vm["batch"].as<int64_t>();
  if (request.batch < 1) throw UsageError("--batch must be at least 1, got " + std::to_string(request.batch));
  request.model = cost_model_options(vm);
  request.layers = vm["breakdown"].as<bool>();
  MacCount count;
  try {
    count = count_macs(request);
  } catch (const std::overflow_error& e) {
    throw UsageError(std::string("--") + e.what() + "; use a smaller --batch");
  }
  print_result(count, json);
  return 0;
}

}  // namespace experiments
