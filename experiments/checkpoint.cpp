#include "experiments/checkpoint.h"

#include "datasets/atomic_file.h"
#include "datasets/h5.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <mutex>
#include <stdexcept>

namespace experiments {

namespace {

constexpr const char* kFormat = "acdc-meta checkpoint 1";
constexpr const char* kPrefix = "acdc_meta.";

// CPU copy of a tensor's values (no autograd history, contiguous).
torch::Tensor host(const torch::Tensor& t) { return t.detach().to(torch::kCPU).contiguous(); }

void write_store(datasets::H5File& f, const std::string& group, const acdc::ParamStore& store) {
  f.create_group(group);
  for (int64_t i = 0; i < store.size(); ++i) f.write_tensor(group + "/" + store.names()[static_cast<size_t>(i)], host(store[i]));
}

// Copies the file's values into the store's tensors in place (same device/dtype as the store).
void read_store(const datasets::H5File& f, const std::string& group, acdc::ParamStore& store) {
  const auto present = f.exists(group) ? f.list(group) : std::vector<std::string>{};
  if (static_cast<int64_t>(present.size()) != store.size()) {
    throw std::invalid_argument(f.path() + ": /" + group + " holds " + std::to_string(present.size()) +
                                " tensors, the model has " + std::to_string(store.size()) +
                                " (a checkpoint of another configuration?)");
  }
  torch::NoGradGuard no_grad;
  for (int64_t i = 0; i < store.size(); ++i) {
    const auto& name = store.names()[static_cast<size_t>(i)];
    const std::string path = group + "/" + name;
    if (!f.exists(path)) throw std::invalid_argument(f.path() + ": missing tensor /" + path);
    auto value = f.read_tensor(path);
    auto& target = store.tensors()[static_cast<size_t>(i)];
    if (value.sizes() != target.sizes()) {
      throw std::invalid_argument(f.path() + ": /" + path + " has shape " + c10::str(value.sizes()) +
                                  ", the model expects " + c10::str(target.sizes()));
    }
    target.copy_(value.to(target.scalar_type()));
  }
}

struct OptimizerEntry {
  std::string name;
  torch::Tensor* exp_avg;
  torch::Tensor* exp_avg_sq;
};

// Adam's state in its parameter order: the model's parameters, then the learned inner lrs.
std::vector<OptimizerEntry> optimizer_entries(meta::Maml& maml) {
  auto& adam = maml.optimizer();
  std::vector<std::string> names = maml.model().params().names();
  for (const auto& n : maml.inner_lrs().names()) names.push_back(n);
  if (adam.exp_avg().size() != names.size() || adam.exp_avg_sq().size() != names.size()) {
    throw std::logic_error("optimizer state does not match the parameters and inner lrs");
  }
  std::vector<OptimizerEntry> out;
  for (size_t i = 0; i < names.size(); ++i) out.push_back({names[i], &adam.exp_avg()[i], &adam.exp_avg_sq()[i]});
  return out;
}

CheckpointInfo read_info(const datasets::H5File& f) {
  const std::string p = kPrefix;
  if (!f.has_attr("/", p + "format")) {
    throw std::invalid_argument(f.path() + ": not an acdc-meta checkpoint (no attribute " + p + "format)");
  }
  const auto format = f.attr_string("/", p + "format");
  if (format != kFormat) {
    throw std::invalid_argument(f.path() + ": unsupported checkpoint format '" + format + "' (expected '" + kFormat + "')");
  }
  CheckpointInfo info;
  info.iteration = f.attr_int("/", p + "iteration");
  info.next_episode = f.attr_int("/", p + "next_episode");
  info.best_val_accuracy = f.attr_double("/", p + "best_val_accuracy");
  info.best_iteration = f.attr_int("/", p + "best_iteration");
  const auto keys = f.attr_string("/", p + "config_keys");
  info.config.source = f.path();
  size_t start = 0;
  while (start < keys.size()) {
    auto end = keys.find('\n', start);
    if (end == std::string::npos) end = keys.size();
    const auto key = keys.substr(start, end - start);
    if (!key.empty()) info.config.set(key, f.attr_string("/", key));
    start = end + 1;
  }
  return info;
}

void write_info_attrs(datasets::H5File& f, const CheckpointInfo& info) {
  const std::string p = kPrefix;
  f.set_attr("/", p + "format", kFormat);
  f.set_attr("/", p + "iteration", info.iteration);
  f.set_attr("/", p + "next_episode", info.next_episode);
  f.set_attr("/", p + "best_val_accuracy", info.best_val_accuracy);
  f.set_attr("/", p + "best_iteration", info.best_iteration);
  std::string keys;
  for (const auto& [key, value] : info.config.entries()) {
    f.set_attr("/", key, value);
    keys += key + "\n";
  }
  f.set_attr("/", p + "config_keys", keys);
}

}  // namespace

void save_checkpoint(const std::string& path, meta::Maml& maml, const CheckpointInfo& info) {
  datasets::AtomicFile file(path);
  {
    auto f = datasets::H5File::create(file.temp_path());
    write_store(f, "params", maml.model().params());
    write_store(f, "buffers", maml.model().buffers());
    write_store(f, "inner_lrs", maml.inner_lrs());
    f.create_group("optimizer/exp_avg");
    f.create_group("optimizer/exp_avg_sq");
    for (const auto& e : optimizer_entries(maml)) {
      f.write_tensor("optimizer/exp_avg/" + e.name, host(*e.exp_avg));
      f.write_tensor("optimizer/exp_avg_sq/" + e.name, host(*e.exp_avg_sq));
    }
    f.set_attr("optimizer", "steps", maml.optimizer().steps());
    {
      auto gen = at::detail::getDefaultCPUGenerator();
      std::lock_guard<std::mutex> lock(gen.mutex());
      f.write_tensor("rng/cpu", gen.get_state());
    }
    write_info_attrs(f, info);
    f.close();
  }
  file.commit();
}

CheckpointInfo read_checkpoint_info(const std::string& path) { return read_info(datasets::H5File::open(path)); }

CheckpointInfo load_checkpoint(const std::string& path, meta::Maml& maml, bool restore_rng) {
  const auto f = datasets::H5File::open(path);
  auto info = read_info(f);
  read_store(f, "params", maml.model().params());
  read_store(f, "buffers", maml.model().buffers());
  read_store(f, "inner_lrs", maml.inner_lrs());
  {
    torch::NoGradGuard no_grad;
    for (const auto& e : optimizer_entries(maml)) {
      for (auto [group, target] : {std::make_pair("exp_avg", e.exp_avg), std::make_pair("exp_avg_sq", e.exp_avg_sq)}) {
        const std::string key = std::string("optimizer/") + group + "/" + e.name;
        if (!f.exists(key)) throw std::invalid_argument(path + ": missing tensor /" + key);
        auto value = f.read_tensor(key);
        if (value.sizes() != target->sizes()) {
          throw std::invalid_argument(path + ": /" + key + " has shape " + c10::str(value.sizes()) +
                                      ", the model expects " + c10::str(target->sizes()));
        }
        target->copy_(value.to(target->scalar_type()));
      }
    }
  }
  maml.optimizer().set_steps(f.attr_int("optimizer", "steps"));
  if (restore_rng) {
    auto state = f.read_tensor("rng/cpu");
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(state);
  }
  return info;
}

std::map<std::string, torch::Tensor> read_checkpoint_weights(const std::string& path) {
  const auto f = datasets::H5File::open(path);
  read_info(f);
  std::map<std::string, torch::Tensor> out;
  for (const char* group : {"params", "buffers", "inner_lrs"}) {
    if (!f.exists(group)) continue;
    for (const auto& name : f.list(group)) {
      if (out.count(name)) throw std::invalid_argument(path + ": tensor name '" + name + "' appears twice");
      out[name] = f.read_tensor(std::string(group) + "/" + name);
    }
  }
  return out;
}


void save_model_checkpoint(const std::string& path, backbones::Backbone& model, const OptimizerState& optimizer,
                           const CheckpointInfo& info) {
  const auto& names = model.params().names();
  datasets::AtomicFile file(path);
  {
    auto f = datasets::H5File::create(file.temp_path());
    write_store(f, "params", model.params());
    write_store(f, "buffers", model.buffers());
    for (const auto& [state, tensors] : optimizer) {
      if (tensors.size() != names.size()) {
        throw std::logic_error("optimizer state '" + state + "' does not match the model's parameters");
      }
      f.create_group("optimizer/" + state);
      for (size_t i = 0; i < names.size(); ++i) f.write_tensor("optimizer/" + state + "/" + names[i], host(tensors[i]));
    }
    {
      auto gen = at::detail::getDefaultCPUGenerator();
      std::lock_guard<std::mutex> lock(gen.mutex());
      f.write_tensor("rng/cpu", gen.get_state());
    }
    write_info_attrs(f, info);
    f.close();
  }
  file.commit();
}

CheckpointInfo load_model_checkpoint(const std::string& path, backbones::Backbone& model, OptimizerState& optimizer,
                                     bool restore_rng) {
  const auto f = datasets::H5File::open(path);
  auto info = read_info(f);
  read_store(f, "params", model.params());
  read_store(f, "buffers", model.buffers());
  const auto& names = model.params().names();
  {
    torch::NoGradGuard no_grad;
    for (auto& [state, tensors] : optimizer) {
      if (tensors.size() != names.size()) {
        throw std::logic_error("optimizer state '" + state + "' does not match the model's parameters");
      }
      for (size_t i = 0; i < names.size(); ++i) {
        const std::string key = "optimizer/" + state + "/" + names[i];
        if (!f.exists(key)) throw std::invalid_argument(path + ": missing tensor /" + key);
        auto value = f.read_tensor(key);
        if (value.sizes() != tensors[i].sizes()) {
          throw std::invalid_argument(path + ": /" + key + " has shape " + c10::str(value.sizes()) +
                                      ", the model expects " + c10::str(tensors[i].sizes()));
        }
        tensors[i].copy_(value.to(tensors[i].scalar_type()));
      }
    }
  }
  if (restore_rng) {
    auto state = f.read_tensor("rng/cpu");
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(state);
  }
  return info;
}

}  // namespace experiments
