#include "experiments/runs/export.h"

#include "datasets/storage/atomic_file.h"
#include "datasets/storage/h5.h"
#include "experiments/runs/checkpoint.h"

#include <torch/torch.h>

#include <fstream>
#include <map>
#include <stdexcept>

namespace experiments {

namespace {

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

ExportResult export_weights(const ExportRequest& request) {
  if (request.format != "pt" && request.format != "h5") {
    throw std::invalid_argument("export format must be pt or h5, got '" + request.format + "'");
  }
  const auto info = read_checkpoint_info(request.checkpoint);
  const auto weights = read_checkpoint_weights(request.checkpoint);  // validated as eval and --resume validate
  if (request.format == "pt") {
    write_pt(request.out, weights);
  } else {
    write_h5(request.out, weights, info, request.checkpoint);
  }
  ExportResult result;
  result.checkpoint = request.checkpoint;
  result.out = request.out;
  result.iteration = info.iteration;
  result.tensors = static_cast<int64_t>(weights.size());
  for (const auto& [name, t] : weights) result.numbers += t.numel();
  return result;
}

}  // namespace experiments
