// `acdc-meta params` and `acdc-meta flops`: the trainable-parameter count and the MACs of a
// backbone with a conv type, beside the same backbone with standard convs; `--paper-table`
// prints the paper's Table 1 (parameters) or Table 3 (FLOPs, batch 100) beside this project's
// figures, cell by cell, marking the paper's own anomalies (reference/ACDC.md §5).

#include "datasets/storage/json.h"
#include "experiments/commands/cli.h"
#include "experiments/commands/commands.h"
#include "experiments/report/numbers.h"

#include "backbones/paper_tables.h"
#include "backbones/registry.h"

#include <torch/torch.h>

#include <cmath>
#include <iostream>
#include <map>
#include <sstream>
#include <stdexcept>

namespace experiments {
namespace {

const char* kModelUsage =
    "--backbone B --conv C [--atoms M] [--group-size S] [--classes N] [--image-size H] [--channels 1|3]";
const char* kDefaultsNote =
    "Defaults when not given: 10 classes and 32 px for the CIFAR backbones (vgg16, resnet18-cifar, wrn-D-K);\n"
    "224 px for resnet10/18/34; 84 px for conv4 and resnet12; 5 classes otherwise.";

// The paper reports ratios to three decimals (0.525); so do we, with the exact value beside.
double round3(double v) { return std::round(v * 1000.0) / 1000.0; }

// Model options with the per-backbone defaults of params/flops (see kDefaultsNote).
backbones::BackboneOptions cost_model_options(const po::variables_map& vm) {
  auto o = model_options(vm);
  if (vm["classes"].defaulted()) o.classes = backbones::is_cifar_backbone(o.name) ? 10 : 5;
  if (vm["image-size"].defaulted()) o.image_size = backbones::native_image_size(o.name);
  return o;
}

backbones::BackboneOptions as_standard(backbones::BackboneOptions o) {
  o.conv.type = acdc::ConvType::kStandard;
  return o;
}

storage::json describe(const backbones::BackboneOptions& o) {
  storage::json j = {{"backbone", o.name}, {"conv", acdc::to_string(o.conv.type)}};
  if (acdc::is_decomposed(o.conv.type)) j["atoms"] = o.conv.atoms;
  if (acdc::is_grouped(o.conv.type)) j["group_size"] = o.conv.group_size;
  j["classes"] = o.classes;
  j["channels"] = o.in_channels;
  j["image_size"] = o.image_size;
  return j;
}

std::string label(const backbones::BackboneOptions& o) {
  std::string s = o.name + ", " + acdc::to_string(o.conv.type);
  if (acdc::is_decomposed(o.conv.type)) {
    s += " (m=" + std::to_string(o.conv.atoms);
    if (acdc::is_grouped(o.conv.type)) s += ", s=" + std::to_string(o.conv.group_size);
    s += ")";
  }
  return s + ", " + std::to_string(o.classes) + " classes, " + std::to_string(o.in_channels) + " channels, " +
         std::to_string(o.image_size) + " px";
}

// The kind a parameter's role counts under in `params`' "by kind" line.
const char* kind_of(acdc::Role role) {
  switch (role) {
    case acdc::Role::kCoefficients: return "coefficients";
    case acdc::Role::kAtoms: return "atoms";
    case acdc::Role::kConvWeight:
    case acdc::Role::kConvBias: return "standard_conv";
    case acdc::Role::kBatchNormWeight:
    case acdc::Role::kBatchNormBias: return "batchnorm";
    case acdc::Role::kHeadWeight:
    case acdc::Role::kHeadBias: return "head";
    case acdc::Role::kBatchNormRunningMean:
    case acdc::Role::kBatchNormRunningVar:
    case acdc::Role::kOther: break;
  }
  return nullptr;
}

// Parameters by kind: shared/own coefficients, atoms, standard conv kernels, BatchNorm, head.
std::vector<std::pair<std::string, int64_t>> kinds(const backbones::Backbone& net) {
  std::map<std::string, int64_t> totals;
  const auto& store = net.params();
  for (int64_t i = 0; i < store.size(); ++i) {
    const char* kind = kind_of(store.role(i));
    if (kind == nullptr) {
      throw std::logic_error("parameter '" + store.names()[static_cast<size_t>(i)] + "' has role " +
                             acdc::to_string(store.role(i)) + ", which no kind counts");
    }
    totals[kind] += store[i].numel();
  }
  std::vector<std::pair<std::string, int64_t>> out;
  for (const auto* k : {"coefficients", "atoms", "standard_conv", "batchnorm", "head"}) out.emplace_back(k, totals[k]);
  return out;
}

storage::json tensor_list(const backbones::Backbone& net) {
  auto list = storage::json::array();
  for (int64_t i = 0; i < net.params().size(); ++i) {
    const auto& t = net.params()[i];
    list.push_back({{"name", net.params().names()[static_cast<size_t>(i)]},
                    {"shape", t.sizes().vec()},
                    {"numel", static_cast<int64_t>(t.numel())}});
  }
  return list;
}

int64_t count_params(const backbones::BackboneOptions& o) { return backbones::make_backbone(o)->num_params(); }

backbones::BackboneOptions table_options(const std::string& backbone, const std::string& conv, int64_t m, int64_t s) {
  backbones::BackboneOptions o;
  o.name = backbone;
  o.conv.type = acdc::parse_conv_type(conv);
  if (m > 0) o.conv.atoms = m;
  if (s > 0) o.conv.group_size = s;
  o.classes = 10;
  o.in_channels = 3;
  o.image_size = 32;
  return o;
}

std::string pad(const std::string& s, size_t width) { return s.size() >= width ? s + " " : s + std::string(width - s.size(), ' '); }

int print_table1(bool json) {
  auto cells = storage::json::array();
  int checked = 0, agreed = 0;
  std::ostringstream text;
  text << "Table 1 of the paper (parameters, millions; CIFAR-10: 10 classes, 32 px) beside this project's exact counts\n"
       << "agreement: within " << significant(backbones::kTable1ToleranceMillions, 6) << "M; anomalies: ACDC.md §5\n\n"
       << pad("row", 25) << pad("network", 16) << pad("paper", 8) << pad("ours", 8) << pad("exact", 12)
       << pad("diff", 8) << "mark\n";
  for (const auto& c : backbones::paper_table1()) {
    const int64_t n = count_params(table_options(c.backbone, c.conv, c.atoms, c.group_size));
    const double ours = static_cast<double>(n) / 1e6;
    const double diff = ours - c.paper_millions;
    const bool within = std::abs(diff) <= backbones::kTable1ToleranceMillions;
    std::string mark = within ? "ok" : "DIFFERS";
    if (!c.anomaly.empty()) {
      mark = "anomaly: " + c.anomaly;
    } else {
      ++checked;
      agreed += within ? 1 : 0;
    }
    text << pad(c.row, 25) << pad(c.backbone, 16) << pad(fixed_unsigned_zero(c.paper_millions, 2), 8) << pad(fixed_unsigned_zero(ours, 3), 8)
         << pad(grouped(n), 12) << pad((fixed_unsigned_zero(diff, 3)[0] == '-' ? "" : "+") + fixed_unsigned_zero(diff, 3), 8) << mark << "\n";
    cells.push_back({{"row", c.row},
                     {"backbone", c.backbone},
                     {"conv", c.conv},
                     {"atoms", c.atoms},
                     {"group_size", c.group_size},
                     {"paper_millions", c.paper_millions},
                     {"params", n},
                     {"millions", ours},
                     {"diff_millions", diff},
                     {"within_tolerance", within},
                     {"anomaly", c.anomaly}});
  }
  text << "\n" << agreed << " of " << checked << " cells outside the anomalies agree within "
       << significant(backbones::kTable1ToleranceMillions, 6) << "M\n";
  if (json) {
    const storage::json j = {{"table", "Table 1"},
                             {"unit", "millions of parameters"},
                             {"tolerance_millions", backbones::kTable1ToleranceMillions},
                             {"checked", static_cast<int64_t>(checked)},
                             {"agreed", static_cast<int64_t>(agreed)},
                             {"cells", cells}};
    std::cout << storage::dump_json(j) << "\n";
  } else {
    std::cout << text.str();
  }
  return 0;
}

struct MacSummary {
  int64_t conv = 0, linear = 0, reconstruction = 0;
  int64_t per_image() const { return conv + linear; }
};

MacSummary summarize(const acdc::CostRecorder& costs) {
  MacSummary s;
  for (const auto& l : costs.layers) {
    (l.name == "head" ? s.linear : s.conv) += l.macs_per_image;
    s.reconstruction += l.reconstruction_macs;
  }
  return s;
}

MacSummary measure(const backbones::BackboneOptions& o) {
  return summarize(backbones::make_backbone(o)->costs(o.image_size));
}

int print_table3(bool json) {
  constexpr int64_t kBatch = 100;
  auto cells = storage::json::array();
  std::map<std::string, double> our_base, paper_base;
  int checked = 0, agreed = 0;
  std::ostringstream text;
  text << "Table 3 of the paper (FLOPs for a batch of 100, 1e9; 32 px) beside this project's MACs\n"
       << "ours = (MACs per image) x 100 + reconstruction MACs; the paper's FLOPs are about "
       << significant(backbones::kPaperFlopsPerMac, 6) << " x that (ACDC.md §5)\n"
       << "compared by the ratio to the baseline, within " << significant(backbones::kTable3RatioTolerance, 6) << "\n\n"
       << pad("network", 16) << pad("setting", 10) << pad("paper", 9) << pad("ratio", 7) << pad("ours", 9)
       << pad("ours x4", 9) << pad("ratio", 7) << "mark\n";
  for (const auto& c : backbones::paper_table3()) {
    const bool base = c.atoms == 0;
    const auto o = table_options(c.backbone, base ? "standard" : "acdc-g-net", c.atoms, c.group_size);
    const auto m = measure(o);
    const double total = static_cast<double>(m.per_image()) * kBatch + static_cast<double>(m.reconstruction);
    if (base) {
      our_base[c.backbone] = total;
      paper_base[c.backbone] = c.paper_gflops;
    }
    const double ours_ratio = total / our_base.at(c.backbone);
    const double paper_ratio = c.paper_gflops / paper_base.at(c.backbone);
    const bool within = std::abs(ours_ratio - paper_ratio) <= backbones::kTable3RatioTolerance;
    std::string mark = within ? "ok" : "DIFFERS";
    if (!c.anomaly.empty()) {
      mark = "anomaly: " + c.anomaly;
    } else if (!base) {
      ++checked;
      agreed += within ? 1 : 0;
    }
    const std::string setting = base ? "baseline" : "m" + std::to_string(c.atoms) + " s" + std::to_string(c.group_size);
    text << pad(c.backbone, 16) << pad(setting, 10) << pad(fixed_unsigned_zero(c.paper_gflops, 2), 9) << pad(fixed_unsigned_zero(paper_ratio, 3), 7)
         << pad(fixed_unsigned_zero(total / 1e9, 2), 9) << pad(fixed_unsigned_zero(backbones::kPaperFlopsPerMac * total / 1e9, 2), 9)
         << pad(fixed_unsigned_zero(ours_ratio, 3), 7) << mark << "\n";
    cells.push_back({{"backbone", c.backbone},
                     {"setting", setting},
                     {"atoms", c.atoms},
                     {"group_size", c.group_size},
                     {"paper_gflops", c.paper_gflops},
                     {"paper_ratio", paper_ratio},
                     {"macs_per_image", m.per_image()},
                     {"reconstruction_macs", m.reconstruction},
                     {"total_macs", static_cast<int64_t>(total)},
                     {"ratio", ours_ratio},
                     {"within_tolerance", within},
                     {"anomaly", c.anomaly}});
  }
  text << "\n" << agreed << " of " << checked << " grouped cells outside the anomalies agree within "
       << significant(backbones::kTable3RatioTolerance, 6) << "\n";
  if (json) {
    const storage::json j = {{"table", "Table 3"},
                             {"batch", kBatch},
                             {"ratio_tolerance", backbones::kTable3RatioTolerance},
                             {"checked", static_cast<int64_t>(checked)},
                             {"agreed", static_cast<int64_t>(agreed)},
                             {"cells", cells}};
    std::cout << storage::dump_json(j) << "\n";
  } else {
    std::cout << text.str();
  }
  return 0;
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
  if (vm["paper-table"].as<bool>()) return print_table1(json);

  const auto o = cost_model_options(vm);
  auto net = backbones::make_backbone(o);
  const int64_t params = net->num_params();
  const int64_t standard = o.conv.type == acdc::ConvType::kStandard ? params : count_params(as_standard(o));
  const double ratio = static_cast<double>(params) / static_cast<double>(standard);
  const auto by_kind = kinds(*net);
  if (json) {
    auto j = describe(o);
    j["params"] = params;
    j["standard_params"] = standard;
    j["ratio"] = round3(ratio);
    j["ratio_exact"] = ratio;
    auto k = storage::json::object();
    for (const auto& [name, n] : by_kind) k[name] = n;
    j["by_kind"] = k;
    if (vm["breakdown"].as<bool>()) j["tensors"] = tensor_list(*net);
    std::cout << storage::dump_json(j) << "\n";
    return 0;
  }
  std::cout << label(o) << "\n"
            << "trainable parameters: " << grouped(params) << " (" << fixed_unsigned_zero(static_cast<double>(params) / 1e6, 2)
            << "M)\n"
            << "standard convs:       " << grouped(standard) << " (" << fixed_unsigned_zero(static_cast<double>(standard) / 1e6, 2)
            << "M)\n"
            << "ratio:                " << fixed_unsigned_zero(ratio, 3) << "\n"
            << "by kind:";
  for (const auto& [name, n] : by_kind) std::cout << " " << name << " " << grouped(n) << ";";
  std::cout << "\n";
  if (vm["breakdown"].as<bool>()) {
    for (int64_t i = 0; i < net->params().size(); ++i) {
      std::ostringstream shape;
      shape << net->params()[i].sizes();
      std::cout << "  " << pad(net->params().names()[static_cast<size_t>(i)], 36) << pad(shape.str(), 20)
                << grouped(net->params()[i].numel()) << "\n";
    }
  }
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
  if (vm["paper-table"].as<bool>()) return print_table3(json);
  const int64_t batch = vm["batch"].as<int64_t>();
  if (batch < 1) throw UsageError("--batch must be at least 1, got " + std::to_string(batch));

  const auto o = cost_model_options(vm);
  auto net = backbones::make_backbone(o);
  const auto costs = net->costs(o.image_size);
  const auto m = summarize(costs);
  const auto standard = o.conv.type == acdc::ConvType::kStandard ? m : measure(as_standard(o));
  int64_t total = 0;
  if (__builtin_mul_overflow(m.per_image(), batch, &total) || __builtin_add_overflow(total, m.reconstruction, &total)) {
    throw UsageError("--batch " + std::to_string(batch) + ": the total MACs (" + std::to_string(m.per_image()) +
                     " per image x " + std::to_string(batch) + " + " + std::to_string(m.reconstruction) +
                     ") exceed the largest 64-bit integer; use a smaller --batch");
  }
  const double ratio = static_cast<double>(m.per_image()) / static_cast<double>(standard.per_image());
  if (json) {
    auto j = describe(o);
    j["batch"] = batch;
    j["macs_per_image"] = m.per_image();
    j["conv_macs_per_image"] = m.conv;
    j["linear_macs_per_image"] = m.linear;
    j["reconstruction_macs"] = m.reconstruction;
    j["total_macs"] = total;
    j["standard_macs_per_image"] = standard.per_image();
    j["ratio_to_standard"] = round3(ratio);
    j["ratio_to_standard_exact"] = ratio;
    if (vm["breakdown"].as<bool>()) {
      auto layers = storage::json::array();
      for (const auto& l : costs.layers) {
        storage::json e = {{"name", l.name},
                           {"macs_per_image", l.macs_per_image},
                           {"reconstruction_macs", l.reconstruction_macs}};
        if (l.out_height > 0) {
          e["out_height"] = l.out_height;
          e["out_width"] = l.out_width;
        }
        layers.push_back(e);
      }
      j["layers"] = layers;
    }
    std::cout << storage::dump_json(j) << "\n";
    return 0;
  }
  std::cout << label(o) << "\n"
            << "MACs per image:       " << grouped(m.per_image()) << " (convs " << grouped(m.conv) << ", linear "
            << grouped(m.linear) << ")\n"
            << "reconstruction MACs:  " << grouped(m.reconstruction) << " (once per forward)\n"
            << "total MACs, batch " << batch << ": " << grouped(total) << " (" << fixed_unsigned_zero(static_cast<double>(total) / 1e9, 3)
            << "e9)\n"
            << "standard convs:       " << grouped(standard.per_image()) << " MACs per image\n"
            << "ratio to standard:    " << fixed_unsigned_zero(ratio, 3) << "\n";
  if (vm["breakdown"].as<bool>()) {
    for (const auto& l : costs.layers) {
      std::cout << "  " << pad(l.name, 28) << pad(grouped(l.macs_per_image), 16) << grouped(l.reconstruction_macs)
                << "\n";
    }
  }
  return 0;
}

}  // namespace experiments
