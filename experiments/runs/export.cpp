#include "experiments/runs/export.h"

#include "acdc/functional.h"
#include "backbones/backbone.h"
#include "datasets/dataset.h"
#include "datasets/storage/atomic_file.h"
#include "datasets/storage/h5.h"
#include "datasets/storage/json.h"
#include "experiments/runs/checkpoint.h"
#include "experiments/runs/settings.h"
#include "experiments/training/classification.h"

#include <caffe2/serialize/inline_container.h>
#include <fmt/format.h>
#include <torch/csrc/jit/serialization/pickler.h>
#include <torch/torch.h>

#include <fstream>
#include <map>
#include <optional>
#include <stdexcept>

namespace experiments {

namespace {

using storage::json;

// torch::pickle_save's container (a zip: data.pkl and one record data/<i> per tensor), with an
// untagged pickle: pickle_save wraps every dict in torch.jit._pickle.restore_type_tag (to keep its
// C++ type), which torch.load(..., weights_only=True) refuses.
std::vector<char> pickle_for_torch_load(const c10::IValue& value) {
  std::vector<char> pickle;
  torch::jit::Pickler pickler([&](const char* bytes, size_t n) { pickle.insert(pickle.end(), bytes, bytes + n); },
                              /*tensor_table=*/nullptr, /*type_renamer=*/nullptr, /*memoized_class_types=*/nullptr,
                              /*get_tensor_id=*/nullptr, /*tag_aggregates=*/false);
  pickler.protocol();
  pickler.pushIValue(value);
  pickler.stop();
  std::vector<char> container;
  caffe2::serialize::PyTorchStreamWriter writer([&](const void* bytes, size_t n) {
    const char* p = static_cast<const char*>(bytes);
    container.insert(container.end(), p, p + n);
    return n;
  });
  const auto& tensors = pickler.tensorData();
  for (size_t i = 0; i < tensors.size(); ++i) {
    const auto data = torch::jit::getWriteableTensorData(tensors[i]);
    writer.writeRecord("data/" + std::to_string(i), data.data(), data.sizeInBytes());
  }
  writer.writeRecord("data.pkl", pickle.data(), pickle.size());
  writer.writeEndOfFile();
  return container;
}

void write_pt(const std::string& out, const std::map<std::string, torch::Tensor>& weights, const std::string& metadata) {
  // str -> Tensor | str: what torch.load(..., weights_only=True) accepts.
  c10::impl::GenericDict dict(c10::StringType::get(), c10::AnyType::get());
  for (const auto& [name, t] : weights) dict.insert(c10::IValue(name), c10::IValue(t));
  dict.insert(c10::IValue(std::string(kExportMetadataKey)), c10::IValue(metadata));
  const auto bytes = pickle_for_torch_load(c10::IValue(dict));
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
              const std::string& checkpoint, const std::string& metadata) {
  storage::AtomicFile file(out);
  {
    auto f = storage::H5File::create(file.temp_path());
    for (const auto& [name, t] : weights) f.write_tensor(name, t);
    for (const auto& [key, value] : info.config.entries()) f.set_attr("/", key, value);
    f.set_attr("/", "acdc_meta.checkpoint", checkpoint);
    f.set_attr("/", "acdc_meta.iteration", info.iteration);
    f.set_attr("/", kExportMetadataKey, metadata);
    for (const auto& [name, value] : export_metadata_attributes(metadata)) {
      std::visit([&, name = name](const auto& v) { f.set_attr("/", name, v); }, value);
    }
    f.close();
  }
  file.commit();
}

// perm with channel_shuffle(y, groups)[:, c] == y[:, perm[c]].
torch::Tensor shuffle_order(int64_t channels, int64_t groups) {
  return acdc::channel_shuffle(torch::arange(channels, torch::kLong).view({1, channels, 1, 1}), groups).flatten();
}

// A grouped layer's kernel [C_out, C_in / G, k, k] as the dense [C_out, C_in, k, k] kernel of
// one plain convolution: output channel o of group g = o / (C_out / G) reads inputs
// g * C_in/G ... (g + 1) * C_in/G - 1, every other input weight is zero. The channel shuffle after
// the grouped conv (acdc/functional.h) puts pre-shuffle channel perm[c] at output c, so the
// dense kernel's rows (and the bias) are taken in that order.
torch::Tensor dense_kernel(const torch::Tensor& kernel, int64_t groups) {
  if (groups <= 1) return kernel;
  const int64_t out = kernel.size(0), in_per = kernel.size(1), out_per = out / groups;
  auto dense = torch::zeros({out, in_per * groups, kernel.size(2), kernel.size(3)}, kernel.options());
  for (int64_t g = 0; g < groups; ++g) {
    dense.slice(0, g * out_per, (g + 1) * out_per)
        .slice(1, g * in_per, (g + 1) * in_per)
        .copy_(kernel.slice(0, g * out_per, (g + 1) * out_per));
  }
  return dense.index_select(0, shuffle_order(out, groups).to(kernel.device()));
}

}  // namespace

std::map<std::string, torch::Tensor> materialize_weights(const backbones::Backbone& model) {
  torch::NoGradGuard no_grad;
  const auto& params = model.params();
  std::map<std::string, torch::Tensor> out;
  auto put = [&](const std::string& name, const torch::Tensor& t) {
    if (out.count(name)) throw std::logic_error("materialize_weights: tensor name '" + name + "' appears twice");
    out[name] = t.detach().to(torch::kCPU).contiguous().clone();
  };
  const auto& plan = model.plan();
  for (int64_t id = 0; id < plan.size(); ++id) {
    const auto& conv = plan.conv(id);
    const auto& name = conv.spec().name;
    put(name + ".weight", dense_kernel(conv.kernel(params.tensors(), /*training=*/false), conv.conv_groups()));
    if (conv.spec().bias) {
      auto bias = params.at(name + ".bias");
      if (conv.conv_groups() > 1) {
        bias = bias.index_select(0, shuffle_order(bias.size(0), conv.conv_groups()).to(bias.device()));
      }
      put(name + ".bias", bias);
    }
  }
  for (int64_t i = 0; i < params.size(); ++i) {
    switch (params.role(i)) {
      case acdc::Role::kAtoms:
      case acdc::Role::kCoefficients:
      case acdc::Role::kConvWeight:
      case acdc::Role::kConvBias:
        break;  // the convs above
      default:
        put(params.names()[static_cast<size_t>(i)], params[i]);
    }
  }
  const auto& buffers = model.buffers();
  for (int64_t i = 0; i < buffers.size(); ++i) put(buffers.names()[static_cast<size_t>(i)], buffers[i]);
  return out;
}

namespace {

// The normalisation the run's data went through (datasets::normalization_for, which goes by the
// source's kind); null when the kind cannot be known without the data (an h5: cache that is gone).
json normalization_json(const RunConfig& config, int64_t channels) {
  if (!config.has("dataset")) return nullptr;
  const auto spec = config.get("dataset");
  std::string kind = spec.substr(0, spec.find(':'));
  if (kind == "h5") {
    kind.clear();
    try {
      const auto f = storage::H5File::open(spec.substr(3));
      if (f.has_attr("/", "kind")) kind = f.attr_string("/", "kind");
    } catch (const std::invalid_argument&) {
    }
    if (kind.empty()) return nullptr;
  }
  const auto n = datasets::normalization_for_kind(kind, channels);
  // The constants are floats: their shortest text, not the float's exact double (0.485, not
  // 0.48500001430511475).
  auto as_list = [](const std::vector<float>& v) {
    json a = json::array();
    for (float x : v) a.push_back(std::stod(fmt::format("{}", x)));
    return a;
  };
  json j;
  j["source"] = kind;
  j["mean"] = as_list(n.mean);
  j["std"] = as_list(n.std);
  j["pixels"] = "RGB or gray in [0, 1] (uint8 / 255), then (x - mean) / std per channel";
  return j;
}

void flatten(const std::string& prefix, const json& j, std::vector<std::pair<std::string, ExportAttribute>>& out) {
  if (j.is_object()) {
    for (const auto& [key, value] : j.items()) flatten(prefix + "." + key, value, out);
  } else if (j.is_string()) {
    out.emplace_back(prefix, j.get<std::string>());
  } else if (j.is_boolean()) {
    out.emplace_back(prefix, static_cast<int64_t>(j.get<bool>() ? 1 : 0));
  } else if (j.is_number_integer() || j.is_number_unsigned()) {
    out.emplace_back(prefix, j.get<int64_t>());
  } else if (j.is_number_float()) {
    out.emplace_back(prefix, j.get<double>());
  } else if (j.is_array()) {
    std::vector<double> values;
    for (const auto& x : j) {
      if (!x.is_number()) throw std::logic_error("export metadata: list '" + prefix + "' holds a non-number");
      values.push_back(x.get<double>());
    }
    out.emplace_back(prefix, values);
  }
  // null: left out
}

}  // namespace

std::string export_metadata(const CheckpointInfo& info, const std::string& checkpoint, bool materialized) {
  const auto& config = info.config;
  const bool classify = is_classification_config(config);
  const auto model = classify ? classify_backbone_options(config) : backbone_options(config);
  std::optional<meta::MamlConfig> maml;
  if (!classify) maml = maml_config(config);
  const auto bn = classify ? backbones::BnMode::kRunning : maml->bn;

  json j;
  j["export_format"] = kExportFormat;
  j["tensors"] = materialized ? "materialized" : "parameters";
  j["load_with_conv"] = materialized ? "standard" : acdc::to_string(model.conv.type);
  j["checkpoint"] = checkpoint;
  j["iteration"] = info.iteration;
  j["run"] = classify ? "classify" : "train";
  j["dataset"] = config.has("dataset") ? json(config.get("dataset")) : json(nullptr);
  j["backbone"] = model.name;
  j["conv"] = acdc::to_string(model.conv.type);
  j["atoms"] = model.conv.atoms;
  j["group_size"] = model.conv.group_size;
  j["width"] = model.width;
  j["channels"] = model.in_channels;
  j["classes"] = model.classes;
  j["image_size"] = model.image_size;
  j["normalization"] = normalization_json(config, model.in_channels);

  const bool meaningful = bn != backbones::BnMode::kTransductive;
  json b;
  b["mode"] = backbones::to_string(bn);
  b["eps"] = backbones::kBatchNormEps;
  b["momentum"] = backbones::kBatchNormMomentum;
  b["statistics_sets"] = model.bn_steps;
  b["running_stats_meaningful"] = meaningful;
  j["batch_norm"] = b;

  if (maml) {
    json in;
    in["lr"] = maml->inner_lr;
    in["learned_lr"] = maml->learn_inner_lr;
    in["steps"] = maml->inner_steps;
    in["steps_test"] = maml->inner_steps_test;
    in["params"] = backbones::to_string(maml->inner_params);
    in["first_order"] = maml->first_order;
    j["inner_loop"] = in;
  } else {
    j["inner_loop"] = nullptr;
  }

  std::string note;
  if (!meaningful) {
    note += "Trained with transductive BatchNorm: normalise every batch with its own statistics (PyTorch: "
            "BatchNorm2d(track_running_stats=False), or the layers in train mode); running_mean/running_var hold "
            "their initial values and are not statistics of the data.";
  } else if (bn == backbones::BnMode::kPerStep) {
    note += "Per-step BatchNorm: one set of running statistics per inner-loop step (running_mean.stepK, "
            "running_var.stepK, K < statistics_sets); after N adaptation steps use set min(N, statistics_sets - 1).";
  }
  if (materialized && maml && maml->learn_inner_lr) {
    note += std::string(note.empty() ? "" : " ") +
            "The learned inner learning rates (per atom/coefficient tensor) are in the export without --materialize.";
  }
  j["note"] = note.empty() ? json(nullptr) : json(note);
  return storage::dump_json(j, -1);
}

std::vector<std::pair<std::string, ExportAttribute>> export_metadata_attributes(const std::string& metadata_json) {
  std::vector<std::pair<std::string, ExportAttribute>> out;
  flatten("acdc_meta", storage::parse_json(metadata_json, "export metadata"), out);
  return out;
}

namespace {
void check_format(const std::string& format) {
  if (format != "pt" && format != "h5") throw std::invalid_argument("export format must be pt or h5, got '" + format + "'");
}
}  // namespace

ExportResult write_export(const std::map<std::string, torch::Tensor>& weights, const CheckpointInfo& info,
                          const std::string& checkpoint, const std::string& format, const std::string& out,
                          bool materialized) {
  check_format(format);
  const auto metadata = export_metadata(info, checkpoint, materialized);
  // The output was checked up front (check_output_file); what fails in the write itself (a name
  // too long, a full or read-only file system, a directory put in the way meanwhile) is still a
  // bad output path: std::invalid_argument naming it (exit 2), not an internal error.
  try {
    if (format == "pt") {
      write_pt(out, weights, metadata);
    } else {
      write_h5(out, weights, info, checkpoint, metadata);
    }
  } catch (const std::runtime_error& e) {
    throw std::invalid_argument("cannot write the export to '" + out + "': " + e.what());
  } catch (const std::invalid_argument& e) {  // storage::FileError (HDF5), naming the temporary
    throw std::invalid_argument("cannot write the export to '" + out + "': " + e.what());
  }
  ExportResult result;
  result.checkpoint = checkpoint;
  result.out = out;
  result.iteration = info.iteration;
  result.materialized = materialized;
  result.tensors = static_cast<int64_t>(weights.size());
  for (const auto& [name, t] : weights) result.numbers += t.numel();
  return result;
}

ExportResult export_weights(const ExportRequest& request) {
  check_format(request.format);  // before reading the checkpoint
  CheckpointInfo info;
  std::map<std::string, torch::Tensor> weights;
  if (request.materialize) {
    const auto model = load_checkpoint_model(request.checkpoint, &info);  // validated as eval validates
    weights = materialize_weights(*model);
  } else {
    info = read_checkpoint_info(request.checkpoint);
    weights = read_checkpoint_weights(request.checkpoint);  // validated as eval and --resume validate
  }
  return write_export(weights, info, request.checkpoint, request.format, request.out, request.materialize);
}

}  // namespace experiments
