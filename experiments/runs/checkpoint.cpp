#include "experiments/runs/checkpoint.h"

#include "acdc/winograd.h"
#include "datasets/storage/atomic_file.h"
#include "datasets/storage/h5.h"
#include "experiments/training/classification.h"
#include "backbones/registry.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <stdexcept>

namespace experiments {

namespace {

constexpr const char* kFormat = "acdc-meta checkpoint 1";
constexpr const char* kPrefix = "acdc_meta.";

// CPU copy of a tensor's values (no autograd history, contiguous).
torch::Tensor host(const torch::Tensor& t) { return t.detach().to(torch::kCPU).contiguous(); }

void write_store(storage::H5File& f, const std::string& group, const acdc::ParamStore& store) {
  f.create_group(group);
  for (int64_t i = 0; i < store.size(); ++i) f.write_tensor(group + "/" + store.names()[static_cast<size_t>(i)], host(store[i]));
}

// The tensor at `key`, checked against the model's `target`: present, floating point, the same
// shape, every value finite. Throws std::invalid_argument naming the file and the tensor.
torch::Tensor checked_tensor(const storage::H5File& f, const std::string& key, const torch::Tensor& target) {
  if (!f.exists(key)) throw std::invalid_argument(f.path() + ": missing tensor /" + key);
  // The shape first: a damaged dimension is named without reading (or allocating) its claim.
  if (f.shape(key) != target.sizes().vec()) {
    throw std::invalid_argument(f.path() + ": /" + key + " has shape " + c10::str(c10::IntArrayRef(f.shape(key))) +
                                ", the model expects " + c10::str(target.sizes()));
  }
  auto value = f.read_tensor(key);
  if (!value.is_floating_point()) {
    throw std::invalid_argument(f.path() + ": /" + key + " holds " + std::string(c10::toString(value.scalar_type())) +
                                " values, expected floating point");
  }
  if (value.sizes() != target.sizes()) {
    throw std::invalid_argument(f.path() + ": /" + key + " has shape " + c10::str(value.sizes()) +
                                ", the model expects " + c10::str(target.sizes()));
  }
  if (!torch::isfinite(value).all().item<bool>()) {
    const auto bad = (~torch::isfinite(value)).sum().item<int64_t>();
    throw std::invalid_argument(f.path() + ": /" + key + " holds " + std::to_string(bad) +
                                " non-finite value(s) (NaN or Inf); the checkpoint is unusable");
  }
  return value;
}

// Copies the file's values into the store's tensors in place (same device/dtype as the store).
void read_store(const storage::H5File& f, const std::string& group, acdc::ParamStore& store) {
  if (store.size() > 0 && !f.exists(group)) throw std::invalid_argument(f.path() + ": missing group /" + group);
  const auto present = f.exists(group) ? f.list(group) : std::vector<std::string>{};
  for (const auto& name : store.names()) {
    if (!std::binary_search(present.begin(), present.end(), name)) {
      throw std::invalid_argument(f.path() + ": missing tensor /" + group + "/" + name +
                                  " (a checkpoint of another configuration, or damaged?)");
    }
  }
  if (static_cast<int64_t>(present.size()) != store.size()) {
    throw std::invalid_argument(f.path() + ": /" + group + " holds " + std::to_string(present.size()) +
                                " tensors, the model has " + std::to_string(store.size()) +
                                " (a checkpoint of another configuration?)");
  }
  torch::NoGradGuard no_grad;
  for (int64_t i = 0; i < store.size(); ++i) {
    const auto& name = store.names()[static_cast<size_t>(i)];
    const std::string path = group + "/" + name;
    auto& target = store.tensors()[static_cast<size_t>(i)];
    target.copy_(checked_tensor(f, path, target).to(target.scalar_type()));
  }
}

// The counters a resumed run continues from must describe a point of the run: a completed
// iteration (epoch) count within the configured total, the episode index that count implies,
// and the best validation figures of an iteration already done.
void check_counters(const std::string& path, const CheckpointInfo& info) {
  const std::string p = kPrefix;
  auto bad = [&](const std::string& what) { throw std::invalid_argument(path + ": " + what + " (damaged or edited checkpoint?)"); };
  const bool classify = is_classification_config(info.config);
  const char* total_key = classify ? "epochs" : "iterations";
  const int64_t total = info.config.has(total_key) ? info.config.get_int(total_key) : -1;
  if (info.iteration < 0 || (total >= 0 && info.iteration > total)) {
    bad("attribute " + p + "iteration is " + std::to_string(info.iteration) + ", outside 0.." +
        (total >= 0 ? std::to_string(total) + " (the run's " + total_key + ")" : std::string("")));
  }
  if (info.next_episode < 0) bad("attribute " + p + "next_episode is " + std::to_string(info.next_episode) + ", expected >= 0");
  if (!classify && info.config.has("meta-batch")) {
    int64_t expected = 0;
    if (__builtin_mul_overflow(info.iteration, info.config.get_int("meta-batch"), &expected) ||
        info.next_episode != expected) {
      bad("attribute " + p + "next_episode is " + std::to_string(info.next_episode) + ", expected iteration x meta-batch = " +
          std::to_string(info.iteration) + " x " + info.config.get("meta-batch"));
    }
  }
  if (info.best_iteration < 0 || info.best_iteration > info.iteration) {
    bad("attribute " + p + "best_iteration is " + std::to_string(info.best_iteration) + ", outside 0.." +
        std::to_string(info.iteration));
  }
  const double acc = info.best_val_accuracy;
  if (!(acc == -1.0 || (acc >= 0.0 && acc <= 1.0))) {
    bad("attribute " + p + "best_val_accuracy is " + format_double(acc) + ", expected -1 (none) or a value in [0, 1]");
  }
}

// The saved CPU generator state: uint8, the size this LibTorch's generator uses.
torch::Tensor read_rng_state(const storage::H5File& f) {
  const std::string key = "rng/cpu";
  if (!f.exists(key)) throw std::invalid_argument(f.path() + ": missing tensor /" + key);
  const auto expected = at::detail::getDefaultCPUGenerator().get_state().numel();
  if (f.shape(key) != std::vector<int64_t>{expected}) {
    throw std::invalid_argument(f.path() + ": /" + key + " has shape " + c10::str(c10::IntArrayRef(f.shape(key))) +
                                ", not a CPU generator state (expected [" + std::to_string(expected) + "])");
  }
  auto state = f.read_tensor(key);
  if (state.scalar_type() != torch::kByte || state.dim() != 1 || state.numel() != expected) {
    throw std::invalid_argument(f.path() + ": /" + key + " is not a CPU generator state (" +
                                std::string(c10::toString(state.scalar_type())) + " " + c10::str(state.sizes()) +
                                ", expected Byte [" + std::to_string(expected) + "])");
  }
  return state;
}

void set_rng_state(const torch::Tensor& state) {
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(state);
}

CheckpointInfo read_info(const storage::H5File& f) {
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
  if (f.has_attr("/", p + "winograd_auto")) {
    info.winograd_auto = f.attr_string("/", p + "winograd_auto");
    try {
      acdc::parse_winograd_auto_choice(info.winograd_auto);
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(f.path() + ": attribute " + p + "winograd_auto: " + e.what() +
                                  " (damaged or edited checkpoint?)");
    }
  }
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
  check_counters(f.path(), info);
  return info;
}

void write_info_attrs(storage::H5File& f, const CheckpointInfo& info) {
  const std::string p = kPrefix;
  f.set_attr("/", p + "format", kFormat);
  f.set_attr("/", p + "iteration", info.iteration);
  f.set_attr("/", p + "next_episode", info.next_episode);
  f.set_attr("/", p + "best_val_accuracy", info.best_val_accuracy);
  f.set_attr("/", p + "best_iteration", info.best_iteration);
  if (const auto choice = acdc::winograd_auto_choice(); !choice.empty()) f.set_attr("/", p + "winograd_auto", choice);
  std::string keys;
  for (const auto& [key, value] : info.config.entries()) {
    f.set_attr("/", key, value);
    keys += key + "\n";
  }
  f.set_attr("/", p + "config_keys", keys);
}

}  // namespace

TrainingState TrainingState::of(meta::Maml& maml) {
  TrainingState s;
  s.stores = {{"params", &maml.model().params()}, {"buffers", &maml.model().buffers()}, {"inner_lrs", &maml.inner_lrs()}};
  s.optimizer = &maml.optimizer();
  s.optimized = {&maml.model().params(), &maml.inner_lrs()};
  return s;
}

TrainingState TrainingState::of(backbones::Backbone& model, meta::Optimizer& optimizer) {
  TrainingState s;
  s.stores = {{"params", &model.params()}, {"buffers", &model.buffers()}};
  s.optimizer = &optimizer;
  s.optimized = {&model.params()};
  return s;
}

namespace {

// The names of the optimizer's tensors: those of the optimized stores, in order.
std::vector<std::string> optimized_names(const TrainingState& state) {
  std::vector<std::string> names;
  for (const auto* store : state.optimized) names.insert(names.end(), store->names().begin(), store->names().end());
  if (state.optimizer != nullptr) {
    for (const auto& [group, tensors] : state.optimizer->state()) {
      if (tensors.size() != names.size()) {
        throw std::logic_error("optimizer state '" + group + "' does not match the tensors it optimizes");
      }
    }
  }
  return names;
}

}  // namespace

void save_checkpoint(const std::string& path, const TrainingState& state, const CheckpointInfo& info) {
  const auto names = optimized_names(state);
  storage::AtomicFile file(path);
  {
    auto f = storage::H5File::create(file.temp_path());
    f.set_checksums(true);
    for (const auto& [group, store] : state.stores) write_store(f, group, *store);
    if (state.optimizer != nullptr) {
      for (const auto& [group, tensors] : state.optimizer->state()) {
        f.create_group("optimizer/" + group);
        for (size_t i = 0; i < names.size(); ++i) f.write_tensor("optimizer/" + group + "/" + names[i], host(tensors[i]));
      }
      if (state.optimizer->counts_steps()) f.set_attr("optimizer", "steps", state.optimizer->steps());
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

CheckpointInfo load_checkpoint(const std::string& path, TrainingState& state, bool restore_rng) {
  const auto names = optimized_names(state);
  const auto f = storage::H5File::open(path);
  auto info = read_info(f);
  for (const auto& [group, store] : state.stores) read_store(f, group, *store);
  if (state.optimizer != nullptr) {
    torch::NoGradGuard no_grad;
    for (auto& [group, tensors] : state.optimizer->state()) {
      for (size_t i = 0; i < names.size(); ++i) {
        const std::string key = "optimizer/" + group + "/" + names[i];
        tensors[i].copy_(checked_tensor(f, key, tensors[i]).to(tensors[i].scalar_type()));
      }
    }
    if (state.optimizer->counts_steps()) {
      // One optimizer step per completed iteration at most.
      const int64_t steps = f.attr_int("optimizer", "steps");
      if (steps < 0 || steps > info.iteration) {
        throw std::invalid_argument(path + ": attribute steps of /optimizer is " + std::to_string(steps) +
                                    ", outside 0.." + std::to_string(info.iteration) + " (damaged or edited checkpoint?)");
      }
      state.optimizer->set_steps(steps);
    }
  }
  const auto rng = read_rng_state(f);
  if (restore_rng) set_rng_state(rng);
  return info;
}

void save_checkpoint(const std::string& path, meta::Maml& maml, const CheckpointInfo& info) {
  save_checkpoint(path, TrainingState::of(maml), info);
}

CheckpointInfo load_checkpoint(const std::string& path, meta::Maml& maml, bool restore_rng) {
  auto state = TrainingState::of(maml);
  return load_checkpoint(path, state, restore_rng);
}

CheckpointInfo read_checkpoint_info(const std::string& path) { return read_info(storage::H5File::open(path)); }

void follow_winograd_choice(const CheckpointInfo& info) {
  if (info.winograd_auto.empty()) return;
  if (!acdc::pin_winograd_auto_choice(acdc::parse_winograd_auto_choice(info.winograd_auto))) {
    std::cerr << "note: " << info.config.source << " was trained with the Winograd builds '" << info.winograd_auto
              << "', this process runs '" << acdc::winograd_auto_choice()
              << "': the resumed run's last bits may differ from an uninterrupted one's\n";
  }
}

bool is_checkpoint(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return false;
  try {
    const auto f = storage::H5File::open(path);
    return f.has_attr("/", std::string(kPrefix) + "format");
  } catch (const std::invalid_argument&) {
    return false;  // not HDF5, or unreadable: not a checkpoint of ours
  }
}

bool is_classification_config(const RunConfig& config) { return config.has("epochs"); }

namespace {

// The model (and, for a meta-training run, its engine) a checkpoint's own configuration
// describes, restored by the validating loader above. Building the model draws initial values
// (overwritten by the loader): the caller's generator is left as it was.
struct LoadedRun {
  std::unique_ptr<backbones::Backbone> model;
  std::unique_ptr<meta::Maml> maml;  // a train run's engine (learned inner lrs), else null
  CheckpointInfo info;
};

LoadedRun load_run(const std::string& path) {
  LoadedRun run;
  run.info = read_checkpoint_info(path);
  struct RestoreRng {
    torch::Tensor state = at::detail::getDefaultCPUGenerator().get_state();
    ~RestoreRng() { set_rng_state(state); }
  } restore;
  if (is_classification_config(run.info.config)) {
    run.model = backbones::make_backbone(classify_backbone_options(run.info.config));
    meta::Sgd optimizer(run.model->params().tensors(), 0.0, 0.0, false, 0.0);  // its state is validated, then dropped
    auto state = TrainingState::of(*run.model, optimizer);
    load_checkpoint(path, state, /*restore_rng=*/false);
  } else {
    run.model = backbones::make_backbone(backbone_options(run.info.config));
    run.maml = std::make_unique<meta::Maml>(*run.model, maml_config(run.info.config));
    load_checkpoint(path, *run.maml, /*restore_rng=*/false);
  }
  return run;
}

}  // namespace

std::unique_ptr<backbones::Backbone> load_checkpoint_model(const std::string& path, CheckpointInfo* info) {
  auto run = load_run(path);
  if (info != nullptr) *info = run.info;
  return std::move(run.model);
}

std::map<std::string, torch::Tensor> model_weights(const backbones::Backbone& model, const meta::Maml* maml,
                                                   const std::string& source) {
  std::map<std::string, torch::Tensor> out;
  auto collect = [&](const acdc::ParamStore& store) {
    for (int64_t i = 0; i < store.size(); ++i) {
      const auto& name = store.names()[static_cast<size_t>(i)];
      if (out.count(name)) throw std::invalid_argument(source + ": tensor name '" + name + "' appears twice");
      out[name] = store[i].detach().clone();
    }
  };
  collect(model.params());
  collect(model.buffers());
  if (maml) collect(maml->inner_lrs());
  return out;
}

std::map<std::string, torch::Tensor> read_checkpoint_weights(const std::string& path) {
  const auto run = load_run(path);
  return model_weights(*run.model, run.maml.get(), path);
}

}  // namespace experiments
