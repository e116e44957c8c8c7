#include "experiments/classify.h"

#include "backbones/registry.h"
#include "datasets/atomic_file.h"
#include "episodes/seeding.h"
#include "experiments/checkpoint.h"
#include "experiments/fewshot.h"
#include "experiments/output_paths.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>

namespace experiments {

namespace fs = std::filesystem;

// ---- batches, optimizer, schedule ----

torch::Tensor make_batch(const torch::Tensor& images, const torch::Tensor& index, const torch::Tensor& mean,
                         const torch::Tensor& std, int64_t crop_padding, bool flip, at::Generator& gen) {
  TORCH_CHECK(images.dim() == 4 && images.scalar_type() == torch::kByte, "make_batch: expected uint8 [N,H,W,C] images");
  auto x = images.index_select(0, index).permute({0, 3, 1, 2}).contiguous().to(torch::kFloat).div_(255.0);
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  const auto long_opts = torch::TensorOptions().dtype(torch::kLong).device(x.device());
  if (crop_padding > 0 && n > 0) {
    // Zero padding, then an h x w window at a random offset: one gather over flat indices.
    const int64_t pad = crop_padding, pw = w + 2 * pad;
    auto offsets = at::randint(0, 2 * pad + 1, {n, 2}, gen, torch::kLong).to(x.device());
    auto padded = torch::constant_pad_nd(x, {pad, pad, pad, pad}, 0);
    auto rows = offsets.select(1, 0).view({n, 1}) + torch::arange(h, long_opts).view({1, h});
    auto cols = offsets.select(1, 1).view({n, 1}) + torch::arange(w, long_opts).view({1, w});
    auto flat = (rows.view({n, h, 1}) * pw + cols.view({n, 1, w})).view({n, 1, h * w}).expand({n, c, h * w});
    x = padded.reshape({n, c, -1}).gather(2, flat).view({n, c, h, w});
  }
  if (flip && n > 0) {
    auto mask = at::randint(0, 2, {n}, gen, torch::kLong).to(torch::kBool).to(x.device());
    x = torch::where(mask.view({n, 1, 1, 1}), x.flip({3}), x);
  }
  return ((x - mean.view({1, c, 1, 1})) / std.view({1, c, 1, 1})).contiguous();
}

Sgd::Sgd(std::vector<torch::Tensor> params, double momentum, bool nesterov, double weight_decay)
    : params_(std::move(params)), mu_(momentum), wd_(weight_decay), nesterov_(nesterov) {
  for (const auto& p : params_) momentum_.push_back(torch::zeros_like(p, torch::MemoryFormat::Preserve).detach());
}

void Sgd::step(double lr) {
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < params_.size(); ++i) {
    auto& p = params_[i];
    auto& g = p.mutable_grad();
    if (!g.defined()) continue;
    auto d = wd_ != 0.0 ? g.add(p, wd_) : g;
    if (mu_ != 0.0) {
      auto& b = momentum_[i];
      b.mul_(mu_).add_(d);
      d = nesterov_ ? d.add(b, mu_) : b;
    }
    p.add_(d, -lr);
    g.zero_();
  }
}

double scheduled_lr(const std::string& schedule, double lr, int64_t step, int64_t steps_per_epoch, int64_t epochs,
                    const std::vector<int64_t>& milestones) {
  const int64_t total = std::max<int64_t>(1, steps_per_epoch * epochs);
  if (schedule == "cosine") {
    return lr * 0.5 * (1.0 + std::cos(M_PI * static_cast<double>(std::min(step, total)) / static_cast<double>(total)));
  }
  if (schedule == "step") {
    const int64_t epoch = step / std::max<int64_t>(1, steps_per_epoch);
    int k = 0;
    for (int64_t m : milestones) k += epoch >= m ? 1 : 0;
    return lr * std::pow(0.1, k);
  }
  throw UsageError("--schedule must be cosine or step, got '" + schedule + "'");
}

namespace {

void require(bool ok, const std::string& message) {
  if (!ok) throw UsageError(message);
}

std::string fixed(double v, int precision) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(precision) << v;
  return s.str();
}

std::string short_number(double v) {
  std::ostringstream s;
  s << std::setprecision(3) << v;
  return s.str();
}

// 1234567 -> "1,234,567"
std::string grouped(int64_t v) {
  std::string digits = std::to_string(v < 0 ? -v : v), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return (v < 0 ? "-" : "") + out;
}

// Epoch e's shuffling and augmentation depend on (seed, e) only, so a resumed run sees the
// same batches as an uninterrupted one.
at::Generator epoch_generator(int64_t seed, int64_t epoch) {
  return at::make_generator<at::CPUGeneratorImpl>(episodes::splitmix64(episodes::splitmix64(static_cast<uint64_t>(seed)) ^ static_cast<uint64_t>(epoch)));
}

std::vector<int64_t> milestones_of(const RunConfig& c) {
  const int64_t epochs = c.get_int("epochs");
  const auto text = c.get("milestones");
  if (text.empty()) return {std::max<int64_t>(1, epochs / 2), std::max<int64_t>(1, (3 * epochs) / 4)};
  return parse_int_list(text, "--milestones");
}

int64_t crop_padding_of(const RunConfig& c, int64_t image_size) {
  if (!c.get_bool("augment")) return 0;
  const int64_t given = c.get_int("crop-padding");
  if (given >= 0) return given;
  return image_size >= 32 ? image_size / 8 : 2;  // 4 px at 32 px (the CIFAR recipe), 2 px at 28 px
}

struct Eval {
  double loss = 0.0, accuracy = 0.0;  // accuracy in percent
};

Eval evaluate(backbones::Backbone& model, const torch::Tensor& images, const torch::Tensor& labels,
              const torch::Tensor& mean, const torch::Tensor& std, int64_t batch_size) {
  torch::NoGradGuard no_grad;
  backbones::ForwardOptions fo;
  fo.training = false;
  fo.bn = backbones::BnMode::kRunning;
  const int64_t n = images.size(0);
  double loss = 0.0;
  int64_t correct = 0;
  at::Generator unused = at::make_generator<at::CPUGeneratorImpl>(0);
  for (int64_t begin = 0; begin < n; begin += batch_size) {
    const int64_t end = std::min(n, begin + batch_size);
    auto index = torch::arange(begin, end, torch::TensorOptions().dtype(torch::kLong).device(images.device()));
    auto x = make_batch(images, index, mean, std, 0, false, unused);
    auto y = labels.slice(0, begin, end);
    auto logits = model.forward(x, fo);
    loss += torch::nn::functional::cross_entropy(logits, y, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum)).item<double>();
    correct += logits.argmax(1).eq(y).sum().item<int64_t>();
  }
  Eval e;
  if (n > 0) {
    e.loss = loss / static_cast<double>(n);
    e.accuracy = 100.0 * static_cast<double>(correct) / static_cast<double>(n);
  }
  return e;
}


bool contains(const std::vector<std::string>& v, const std::string& s) { return std::find(v.begin(), v.end(), s) != v.end(); }

// A field of the flat results.json this file writes (top-level key at indent 2).
std::string json_field(const std::string& text, const std::string& key, const std::string& file) {
  const std::string needle = "\n  " + Json::quote(key) + ": ";
  const auto at = text.find(needle);
  if (at == std::string::npos) throw std::invalid_argument(file + ": no field '" + key + "'");
  const auto begin = at + needle.size();
  if (text[begin] != '"') {
    const auto end = text.find_first_of(",\n}", begin);
    return text.substr(begin, end - begin);
  }
  std::string out;
  for (size_t i = begin + 1; i < text.size(); ++i) {
    if (text[i] == '\\' && i + 1 < text.size()) {
      const char e = text[++i];
      out += e == 'n' ? '\n' : e == 't' ? '\t' : e;
    } else if (text[i] == '"') {
      return out;
    } else {
      out += text[i];
    }
  }
  throw std::invalid_argument(file + ": unterminated string in field '" + key + "'");
}


}  // namespace


void validate_classify_config(const RunConfig& c) {
  for (const char* key : {"epochs", "batch-size", "eval-batch-size", "atoms", "group-size", "width"}) {
    require(c.get_int(key) >= 1, std::string("--") + key + " must be at least 1, got " + c.get(key));
  }
  for (const char* key : {"test-every", "seed", "image-size", "classes"}) {
    require(c.get_int(key) >= 0, std::string("--") + key + " must be >= 0, got " + c.get(key));
  }
  require(c.get_int("crop-padding") >= -1, "--crop-padding must be >= 0 (or -1 = automatic), got " + c.get("crop-padding"));
  require(c.get_double("lr") > 0 && std::isfinite(c.get_double("lr")), "--lr must be positive, got " + c.get("lr"));
  const double mu = c.get_double("momentum");
  require(mu >= 0 && mu < 1, "--momentum must be in [0, 1), got " + c.get("momentum"));
  require(!c.get_bool("nesterov") || mu > 0, "--nesterov needs --momentum > 0");
  require(c.get_double("weight-decay") >= 0, "--weight-decay must be >= 0, got " + c.get("weight-decay"));
  const double p = c.get_double("atom-drop");
  require(p >= 0 && p < 1, "--atom-drop must be in [0, 1), got " + c.get("atom-drop"));
  const auto schedule = c.get("schedule");
  require(schedule == "cosine" || schedule == "step", "--schedule must be cosine or step, got '" + schedule + "'");
  if (!c.get("milestones").empty()) parse_int_list(c.get("milestones"), "--milestones");
  const int64_t channels = c.get_int("channels");
  require(channels == 1 || channels == 3, "--channels must be 1 or 3, got " + c.get("channels"));
  try {
    acdc::parse_conv_type(c.get("conv"));
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string("--conv: ") + e.what());
  }
  try {
    acdc::parse_atom_init(c.get("atom-init"));
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string("--atom-init: ") + e.what());
  }
  const auto& name = c.get("backbone");
  bool known = false;
  for (const auto& info : backbones::backbone_infos()) known = known || info.name == name;
  if (!known && name.rfind("wrn-", 0) != 0) {
    throw UsageError("--backbone: unknown backbone '" + name + "' (expected one of: " + backbones::backbone_list() + ")");
  }
}

backbones::BackboneOptions classify_backbone_options(const RunConfig& config) {
  backbones::BackboneOptions bo;
  bo.name = config.get("backbone");
  bo.conv.type = acdc::parse_conv_type(config.get("conv"));
  bo.conv.atoms = config.get_int("atoms");
  bo.conv.group_size = config.get_int("group-size");
  bo.conv.atom_drop = config.get_double("atom-drop");
  bo.conv.atom_init = acdc::parse_atom_init(config.get("atom-init"));
  bo.classes = config.get_int("classes");
  bo.in_channels = config.get_int("channels");
  bo.image_size = config.get_int("image-size");
  bo.width = config.get_int("width");
  if (bo.image_size < 1) {
    throw std::invalid_argument(config.source + ": setting 'image-size' is " + config.get("image-size") +
                                " (not resolved); the model cannot be rebuilt from this configuration alone");
  }
  return bo;
}

ClassifyResult run_classification(const ClassifyRunOptions& o) {
  const std::string& out = o.out;
  const std::string last_path = run_file(out, "last.h5"), metrics_path = run_file(out, "metrics.csv");
  const std::string results_path = run_file(out, "results.json");
  const std::string who = o.label.empty() ? std::string("classify") : o.label;

  // A run directory in another process's hands is named as such before anything else (the lock
  // itself is taken below, once the settings are known to be good).
  if (!o.plan_only && fs::is_directory(out)) {
    const RunDirLock probe(out, "--out");
  }

  // ---- the configuration: as given, or the run's own for --resume ----
  RunConfig config = o.config;
  bool resuming = false;
  if (o.resume && fs::exists(last_path)) {
    const auto saved = read_checkpoint_info(last_path);
    RunConfig merged = saved.config;
    for (const auto& [key, value] : o.config.entries()) {
      if (key == "threads") {
        // The saved count unless given: another count changes the last bits of the result.
        const std::string saved_threads = merged.has(key) ? merged.get(key) : "0";
        if (contains(o.explicit_keys, key) && value != saved_threads && !o.plan_only) {
          std::cerr << who << ": note: --threads " << value << " overrides the " << saved_threads << " thread(s) " << out
                    << " was trained with; the result may differ in the last bits from an uninterrupted run\n";
        }
        merged.set(key, contains(o.explicit_keys, key) ? value : saved_threads);
        continue;
      }
      if (contains(o.resume_may_change, key)) {
        merged.set(key, value);
        continue;
      }
      if (!contains(o.explicit_keys, key)) continue;
      if (!merged.has(key) || merged.get(key) != value) {
        throw UsageError("--resume continues " + out + " with its saved configuration; --" + key + " " + value +
                         " differs from the saved " + (merged.has(key) ? merged.get(key) : std::string("(unset)")));
      }
    }
    config = merged;
    resuming = true;
    if (saved.iteration >= config.get_int("epochs") && fs::exists(results_path) && !o.plan_only) {
      std::cerr << who << ": " << out << " is finished (" << saved.iteration << " epochs); reusing its results\n";
      return read_results(out);
    }
  } else if (o.resume && !o.fresh_if_missing) {
    throw UsageError("--resume: no checkpoint '" + last_path + "' to continue");
  } else if (!o.plan_only && (fs::exists(last_path) || fs::exists(metrics_path))) {
    throw UsageError("--out " + out + " already holds a run; pass --resume to continue it, or remove the directory");
  }
  config.source = "classify options";
  validate_classify_config(config);

  // ---- data ----
  datasets::Dataset loaded;
  const datasets::Dataset* data = o.data;
  if (data == nullptr) {
    datasets::LoadOptions load;
    load.image_size = config.get_int("image-size");
    loaded = datasets::load_classification_dataset(config.get("dataset"), load);
    data = &loaded;
  }
  require(data->train.size() > 1, data->source + ": the train split has " + std::to_string(data->train.size()) + " images");
  require(data->test.size() > 0, data->source + ": the test split is empty");
  const int64_t classes = data->train.num_classes(), channels = data->channels(), image_size = data->height();
  require(data->width() == image_size, data->source + ": images are " + std::to_string(data->height()) + "x" +
                                           std::to_string(data->width()) + "; pass --image-size to make them square");
  if (contains(o.explicit_keys, "classes") && config.get_int("classes") != classes && config.get_int("classes") != 0) {
    throw UsageError("--classes " + config.get("classes") + " differs from the " + std::to_string(classes) +
                     " classes of " + data->source);
  }
  if (contains(o.explicit_keys, "channels") && config.get_int("channels") != channels) {
    throw UsageError("--channels " + config.get("channels") + " differs from the " + std::to_string(channels) +
                     " channels of " + data->source);
  }
  config.set("classes", std::to_string(classes));
  config.set("channels", std::to_string(channels));
  config.set("image-size", std::to_string(image_size));  // resolved, so a checkpoint alone rebuilds the model

  // ---- model (every seed-dependent draw starts from --seed) ----
  const int64_t seed = config.get_int("seed");
  torch::manual_seed(static_cast<uint64_t>(seed));
  const auto bo = classify_backbone_options(config);
  std::unique_ptr<backbones::Backbone> model;
  try {
    model = backbones::make_backbone(bo);
  } catch (const std::invalid_argument& e) {
    throw UsageError("--backbone " + bo.name + ": " + e.what());
  }
  const auto costs = model->costs(image_size);

  ClassifyResult r;
  r.label = o.label.empty() ? config.get("conv") : o.label;
  r.backbone = bo.name;
  r.conv = config.get("conv");
  r.atoms = bo.conv.atoms;
  r.group_size = bo.conv.group_size;
  r.params = model->num_params();
  r.macs_per_image = costs.macs_per_image();
  r.epochs = config.get_int("epochs");
  r.run_dir = out;
  if (o.plan_only) return r;

  const auto device = parse_device(config.get("device"));
  config.set("threads", std::to_string(set_threads(config.get_int("threads"))));  // the count used, for --resume
  model->to(device);
  Sgd sgd(model->params().tensors(), config.get_double("momentum"), config.get_bool("nesterov"),
          config.get_double("weight-decay"));
  OptimizerState state{{"momentum", sgd.momentum()}};

  // ---- run directory: this process's alone until the run ends ----
  const RunDirLock lock(out, "--out");
  if (!resuming && (fs::exists(last_path) || fs::exists(metrics_path))) {  // started by another process meanwhile
    throw UsageError("--out " + out + " already holds a run; pass --resume to continue it, or remove the directory");
  }
  CheckpointInfo info;
  int64_t start = 0;
  if (resuming) {
    info = load_model_checkpoint(last_path, *model, state, /*restore_rng=*/true);
    start = info.iteration;
    truncate_metrics(metrics_path, start);
    std::cerr << who << ": resuming " << out << " at epoch " << start << "\n";
  } else {
    config.write_ini(run_file(out, "config.ini"));
    write_text_file(metrics_path,
                    "epoch,lr,train_loss,train_accuracy,test_loss,test_accuracy,seconds,images_per_second\n");
  }
  info.config = config;
  if (!resuming) save_model_checkpoint(last_path, *model, state, info);  // a last good checkpoint exists from the start

  const int64_t epochs = config.get_int("epochs"), batch = config.get_int("batch-size");
  const int64_t eval_batch = config.get_int("eval-batch-size"), test_every = config.get_int("test-every");
  const auto schedule = config.get("schedule");
  const auto milestones = milestones_of(config);
  const double base_lr = config.get_double("lr");
  const int64_t pad = crop_padding_of(config, image_size);
  const bool flip = config.get_bool("augment");
  const auto norm = datasets::normalization_for(*data);
  const auto mean = torch::tensor(norm.mean, torch::kFloat).to(device), stdev = torch::tensor(norm.std, torch::kFloat).to(device);
  const auto train_images = data->train.images.to(device), test_images = data->test.images.to(device);
  const auto train_labels = data->train.labels.to(device), test_labels = data->test.labels.to(device);
  const int64_t n = data->train.size();
  // A last batch of one image would break BatchNorm's batch statistics: such an image waits for
  // the next epoch's shuffle.
  const int64_t steps = (n + batch - 1) / batch - (n % batch == 1 ? 1 : 0);

  if (!o.quiet) {
    const bool decomposed = bo.conv.type != acdc::ConvType::kStandard, grouped_conv = acdc::is_grouped(bo.conv.type);
    std::cerr << who << ": " << bo.name << " (" << r.conv << (decomposed ? ", m " + std::to_string(r.atoms) : "")
              << (grouped_conv ? ", s " + std::to_string(r.group_size) : "") << ", "
              << grouped(r.params) << " parameters, " << grouped(r.macs_per_image) << " MACs/image) on "
              << data->source << ": " << n << " train / " << data->test.size() << " test images, " << classes
              << " classes, " << image_size << " px; " << epochs << " epochs x " << steps << " steps of " << batch
              << ", " << schedule << " lr " << format_double(base_lr) << (flip ? ", augment (crop pad " + std::to_string(pad) + ", flip)" : "")
              << ", " << device.str() << ", " << torch::get_num_threads() << " threads\n";
  }

  backbones::ForwardOptions train_fo;
  train_fo.training = true;
  train_fo.bn = backbones::BnMode::kRunning;
  train_fo.update_running_stats = true;
  Eval test;
  double train_loss = 0.0, train_acc = 0.0, seconds = 0.0;
  const auto t_run = std::chrono::steady_clock::now();
  for (int64_t epoch = start; epoch < epochs; ++epoch) {
    auto gen = epoch_generator(seed, epoch);
    const auto perm = at::randperm(n, gen, torch::kLong).to(device);
    ProgressBar bar("epoch " + std::to_string(epoch + 1) + "/" + std::to_string(epochs), steps);
    const auto t0 = std::chrono::steady_clock::now();
    double loss_sum = 0.0, lr = base_lr;
    int64_t correct = 0, seen = 0;
    std::string status;
    for (int64_t s = 0; s < steps; ++s) {
      const auto index = perm.slice(0, s * batch, std::min(n, (s + 1) * batch));
      const auto x = make_batch(train_images, index, mean, stdev, pad, flip, gen);
      const auto y = train_labels.index_select(0, index);
      lr = scheduled_lr(schedule, base_lr, epoch * steps + s, steps, epochs, milestones);
      const auto logits = model->forward(x, train_fo);
      const auto loss = torch::nn::functional::cross_entropy(logits, y);
      loss.backward();
      sgd.step(lr);
      const double l = loss.item<double>();
      if (!std::isfinite(l)) {
        bar.finish("stopped");
        throw std::runtime_error(who + ": non-finite training loss (" + format_double(l) + ") in epoch " +
                                 std::to_string(epoch + 1) + "; training stopped. The last good checkpoint is " +
                                 last_path + " (epoch " + std::to_string(info.iteration) + "); try a lower --lr");
      }
      const int64_t b = index.size(0);
      loss_sum += l * static_cast<double>(b);
      correct += logits.argmax(1).eq(y).sum().item<int64_t>();
      seen += b;
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      status = "loss " + fixed(loss_sum / static_cast<double>(seen), 4) + " acc " +
               fixed(100.0 * static_cast<double>(correct) / static_cast<double>(seen), 2) + "% " +
               fixed(secs > 0 ? static_cast<double>(seen) / secs : 0.0, 0) + " img/s lr " + short_number(lr);
      bar.update(s + 1, status);
    }
    const double epoch_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    bar.finish(status);
    train_loss = loss_sum / static_cast<double>(std::max<int64_t>(1, seen));
    train_acc = 100.0 * static_cast<double>(correct) / static_cast<double>(std::max<int64_t>(1, seen));
    const int64_t done = epoch + 1;
    const bool test_now = done == epochs || (test_every > 0 && done % test_every == 0);
    std::ostringstream row;
    row << done << "," << format_double(lr) << "," << format_double(train_loss) << "," << format_double(train_acc) << ",";
    if (test_now) {
      test = evaluate(*model, test_images, test_labels, mean, stdev, eval_batch);
      row << format_double(test.loss) << "," << format_double(test.accuracy);
      if (!o.quiet) {
        std::cerr << who << ": epoch " << done << "/" << epochs << ": train loss " << fixed(train_loss, 4) << " acc "
                  << fixed(train_acc, 2) << " %, test loss " << fixed(test.loss, 4) << " acc " << fixed(test.accuracy, 2)
                  << " % (error " << fixed(100.0 - test.accuracy, 2) << " %)\n";
      }
    } else {
      row << ",";
    }
    row << "," << fixed(epoch_seconds, 3) << "," << fixed(epoch_seconds > 0 ? seen / epoch_seconds : 0.0, 1) << "\n";
    {
      std::ofstream csv(metrics_path, std::ios::app);
      csv << row.str();
      if (!csv) throw std::runtime_error("cannot append to '" + metrics_path + "'");
    }
    info.iteration = done;
    save_model_checkpoint(last_path, *model, state, info);
    if (o.stop_after > 0 && done - start >= o.stop_after && done < epochs) {
      std::cerr << who << ": stopped after epoch " << done << " (--stop-after); continue with --resume\n";
      r.finished = false;
      return r;
    }
  }
  seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_run).count();
  if (start >= epochs) test = evaluate(*model, test_images, test_labels, mean, stdev, eval_batch);

  r.finished = true;
  r.test_accuracy = test.accuracy;
  r.test_error = 100.0 - test.accuracy;
  r.test_loss = test.loss;
  r.train_loss = train_loss;
  r.train_accuracy = train_acc;
  r.seconds = seconds;
  auto settings = Json::object();
  for (const auto& [key, value] : config.entries()) settings.set(key, value);
  r.json = Json::object();
  r.json.set("variant", r.label)
      .set("dataset", data->source)
      .set("backbone", r.backbone)
      .set("conv", r.conv)
      .set("atoms", r.atoms)
      .set("group_size", r.group_size)
      .set("test_accuracy", r.test_accuracy)
      .set("test_error", r.test_error)
      .set("test_loss", r.test_loss)
      .set("train_loss", r.train_loss)
      .set("train_accuracy", r.train_accuracy)
      .set("params", r.params)
      .set("macs_per_image", r.macs_per_image)
      .set("reconstruction_macs", costs.reconstruction_macs())
      .set("epochs", r.epochs)
      .set("train_images", n)
      .set("test_images", data->test.size())
      .set("classes", classes)
      .set("image_size", image_size)
      .set("seconds_this_invocation", r.seconds)
      .set("run_dir", out)
      .set("settings", settings);
  write_text_file(results_path, r.json.dump() + "\n");
  return r;
}

ClassifyResult read_results(const std::string& run_dir) {
  const auto path = run_file(run_dir, "results.json");
  std::ifstream in(path);
  if (!in) throw std::invalid_argument("cannot open '" + path + "'");
  std::stringstream buf;
  buf << in.rdbuf();
  const auto text = buf.str();
  ClassifyResult r;
  try {
    r.finished = true;
    r.label = json_field(text, "variant", path);
    r.backbone = json_field(text, "backbone", path);
    r.conv = json_field(text, "conv", path);
    r.atoms = std::stoll(json_field(text, "atoms", path));
    r.group_size = std::stoll(json_field(text, "group_size", path));
    r.test_accuracy = std::stod(json_field(text, "test_accuracy", path));
    r.test_error = std::stod(json_field(text, "test_error", path));
    r.test_loss = std::stod(json_field(text, "test_loss", path));
    r.train_loss = std::stod(json_field(text, "train_loss", path));
    r.train_accuracy = std::stod(json_field(text, "train_accuracy", path));
    r.params = std::stoll(json_field(text, "params", path));
    r.macs_per_image = std::stoll(json_field(text, "macs_per_image", path));
    r.epochs = std::stoll(json_field(text, "epochs", path));
    r.seconds = std::stod(json_field(text, "seconds_this_invocation", path));
  } catch (const std::logic_error& e) {  // invalid_argument / out_of_range from stoll/stod
    throw std::invalid_argument(path + ": malformed results (" + e.what() + ")");
  }
  r.run_dir = run_dir;
  r.json = Json::object();
  r.json.set("variant", r.label)
      .set("backbone", r.backbone)
      .set("conv", r.conv)
      .set("atoms", r.atoms)
      .set("group_size", r.group_size)
      .set("test_accuracy", r.test_accuracy)
      .set("test_error", r.test_error)
      .set("test_loss", r.test_loss)
      .set("train_loss", r.train_loss)
      .set("train_accuracy", r.train_accuracy)
      .set("params", r.params)
      .set("macs_per_image", r.macs_per_image)
      .set("epochs", r.epochs)
      .set("run_dir", run_dir);
  return r;
}

// ---- reports ----

namespace {

const ClassifyResult* reference_row(const std::vector<ClassifyResult>& rows) {
  for (const auto& r : rows) {
    if (r.conv == "standard") return &r;
  }
  return nullptr;
}

bool is_grouped_name(const std::string& conv) { return conv.rfind("acdc-g-", 0) == 0; }

std::string csv_cell(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

}  // namespace

std::string results_markdown(const std::vector<ClassifyResult>& rows, const ReportInfo& info) {
  const auto* ref = reference_row(rows);
  std::ostringstream md;
  if (!info.title.empty()) md << "### " << info.title << "\n\n";
  md << "| variant | m | s | parameters | vs standard | MACs/image | vs standard | test error (%) | vs standard (points) |\n"
     << "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  for (const auto& r : rows) {
    const bool decomposed = r.conv != "standard";
    md << "| " << r.label << " | " << (decomposed ? std::to_string(r.atoms) : "–") << " | "
       << (is_grouped_name(r.conv) ? std::to_string(r.group_size) : "–") << " | " << grouped(r.params) << " | "
       << (ref ? fixed(100.0 * static_cast<double>(r.params) / static_cast<double>(ref->params), 1) + " %" : "–") << " | "
       << grouped(r.macs_per_image) << " | "
       << (ref ? fixed(100.0 * static_cast<double>(r.macs_per_image) / static_cast<double>(ref->macs_per_image), 1) + " %"
               : "–")
       << " | " << fixed(r.test_error, 2) << " | ";
    if (ref && &r != ref) {
      const double d = r.test_error - ref->test_error;
      md << (d >= 0 ? "+" : "") << fixed(d, 2);
    } else {
      md << "–";
    }
    md << " |\n";
  }
  if (!info.command.empty()) md << "\nCommand: `" << info.command << "`\n";
  if (!info.notes.empty()) md << "\n" << info.notes << "\n";
  return md.str();
}

std::string results_csv(const std::vector<ClassifyResult>& rows) {
  const auto* ref = reference_row(rows);
  std::ostringstream csv;
  csv << "variant,backbone,conv,m,s,params,params_ratio,macs_per_image,macs_ratio,test_accuracy,test_error,test_loss,"
         "train_loss,train_accuracy,epochs,run_dir\n";
  for (const auto& r : rows) {
    csv << csv_cell(r.label) << "," << csv_cell(r.backbone) << "," << r.conv << ","
        << (r.conv != "standard" ? std::to_string(r.atoms) : "") << ","
        << (is_grouped_name(r.conv) ? std::to_string(r.group_size) : "") << "," << r.params << ","
        << (ref ? format_double(static_cast<double>(r.params) / static_cast<double>(ref->params)) : "") << ","
        << r.macs_per_image << ","
        << (ref ? format_double(static_cast<double>(r.macs_per_image) / static_cast<double>(ref->macs_per_image)) : "")
        << "," << format_double(r.test_accuracy) << "," << format_double(r.test_error) << ","
        << format_double(r.test_loss) << "," << format_double(r.train_loss) << "," << format_double(r.train_accuracy)
        << "," << r.epochs << "," << csv_cell(r.run_dir) << "\n";
  }
  return csv.str();
}

std::string results_svg(const std::vector<ClassifyResult>& rows, const std::string& title) {
  constexpr double kW = 720, kH = 440, kLeft = 70, kRight = 190, kTop = 44, kBottom = 56;
  const double pw = kW - kLeft - kRight, ph = kH - kTop - kBottom;
  // x: log10(parameters), padded to whole 1-2-5 ticks; y: test error, padded to nice ticks.
  double pmin = 1e300, pmax = 0, emin = 1e300, emax = -1e300;
  for (const auto& r : rows) {
    pmin = std::min(pmin, static_cast<double>(std::max<int64_t>(1, r.params)));
    pmax = std::max(pmax, static_cast<double>(std::max<int64_t>(1, r.params)));
    emin = std::min(emin, r.test_error);
    emax = std::max(emax, r.test_error);
  }
  if (rows.empty()) pmin = 1, pmax = 10, emin = 0, emax = 1;
  double lx0 = std::log10(pmin) - 0.15, lx1 = std::log10(pmax) + 0.15;
  if (lx1 - lx0 < 1.0) {
    const double mid = (lx0 + lx1) / 2;
    lx0 = mid - 0.5;
    lx1 = mid + 0.5;
  }
  double span = std::max(emax - emin, 0.5);
  double ystep = 0.1;
  for (double s : {0.1, 0.2, 0.25, 0.5, 1.0, 2.0, 2.5, 5.0, 10.0, 20.0, 25.0, 50.0}) {
    ystep = s;
    if (span / s <= 6) break;
  }
  double y0 = std::floor((emin - 0.1 * span) / ystep) * ystep, y1 = std::ceil((emax + 0.1 * span) / ystep) * ystep;
  y0 = std::max(0.0, y0);
  if (y1 <= y0) y1 = y0 + ystep;
  auto X = [&](double params) { return kLeft + pw * (std::log10(params) - lx0) / (lx1 - lx0); };
  auto Y = [&](double err) { return kTop + ph * (1.0 - (err - y0) / (y1 - y0)); };
  auto num = [](double v) { return fixed(v, 1); };

  std::ostringstream s;
  s << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << kW << "\" height=\"" << kH << "\" viewBox=\"0 0 " << kW
    << " " << kH << "\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">\n"
    << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    << "<text x=\"" << num(kW / 2) << "\" y=\"24\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\">"
    << xml_escape(title) << "</text>\n";
  // Grid and ticks.
  s << "<g stroke=\"#dddddd\" stroke-width=\"1\">\n";
  std::ostringstream labels;
  for (int e = static_cast<int>(std::floor(lx0)); e <= static_cast<int>(std::ceil(lx1)); ++e) {
    for (double mant : {1.0, 2.0, 5.0}) {
      const double v = mant * std::pow(10.0, e), lv = std::log10(v);
      if (lv < lx0 || lv > lx1) continue;
      const double x = X(v);
      s << "<line x1=\"" << num(x) << "\" y1=\"" << num(kTop) << "\" x2=\"" << num(x) << "\" y2=\"" << num(kTop + ph) << "\"/>\n";
      std::string text;
      if (v >= 1e6) text = format_double(v / 1e6) + "M";
      else if (v >= 1e3) text = format_double(v / 1e3) + "k";
      else text = format_double(v);
      labels << "<text x=\"" << num(x) << "\" y=\"" << num(kTop + ph + 18) << "\" text-anchor=\"middle\">" << text << "</text>\n";
    }
  }
  const int yticks = static_cast<int>(std::round((y1 - y0) / ystep));
  for (int i = 0; i <= yticks; ++i) {
    const double v = y0 + i * ystep, y = Y(v);
    s << "<line x1=\"" << num(kLeft) << "\" y1=\"" << num(y) << "\" x2=\"" << num(kLeft + pw) << "\" y2=\"" << num(y) << "\"/>\n";
    labels << "<text x=\"" << num(kLeft - 8) << "\" y=\"" << num(y + 4) << "\" text-anchor=\"end\">"
           << fixed(v, ystep < 1 ? (ystep < 0.25 ? 1 : 2) : 0) << "</text>\n";
  }
  s << "</g>\n" << labels.str();
  s << "<rect x=\"" << num(kLeft) << "\" y=\"" << num(kTop) << "\" width=\"" << num(pw) << "\" height=\"" << num(ph)
    << "\" fill=\"none\" stroke=\"#333333\"/>\n"
    << "<text x=\"" << num(kLeft + pw / 2) << "\" y=\"" << num(kH - 14)
    << "\" text-anchor=\"middle\">parameters (log scale)</text>\n"
    << "<text transform=\"translate(18," << num(kTop + ph / 2) << ") rotate(-90)\" text-anchor=\"middle\">test error (%)</text>\n";
  // Points with labels; a label that would overlap an earlier one moves down a line.
  std::vector<std::pair<double, double>> placed;
  const auto* ref = reference_row(rows);
  for (const auto& r : rows) {
    const bool standard = &r == ref;
    const double x = X(static_cast<double>(std::max<int64_t>(1, r.params))), y = Y(r.test_error);
    s << "<circle cx=\"" << num(x) << "\" cy=\"" << num(y) << "\" r=\"" << (standard ? 7 : 5) << "\" fill=\""
      << (standard ? "#d62728" : "#1f77b4") << "\" stroke=\"black\" stroke-width=\"" << (standard ? 1.5 : 0.5)
      << "\"><title>" << xml_escape(r.label) << ": " << grouped(r.params) << " parameters, " << fixed(r.test_error, 2)
      << " % error</title></circle>\n";
    double ly = y - 8;
    bool moved = true;
    while (moved) {
      moved = false;
      for (const auto& [px, py] : placed) {
        if (std::abs(px - x) < 120 && std::abs(py - ly) < 13) {
          ly = py + 13;
          moved = true;
        }
      }
    }
    placed.emplace_back(x, ly);
    s << "<text x=\"" << num(x + 9) << "\" y=\"" << num(ly) << "\"" << (standard ? " font-weight=\"bold\" fill=\"#d62728\"" : "")
      << ">" << xml_escape(r.label) << " (" << fixed(r.test_error, 2) << " %)</text>\n";
  }
  // Legend.
  const double lx = kLeft + pw + 16;
  s << "<circle cx=\"" << num(lx) << "\" cy=\"" << num(kTop + 10) << "\" r=\"7\" fill=\"#d62728\" stroke=\"black\" stroke-width=\"1.5\"/>\n"
    << "<text x=\"" << num(lx + 12) << "\" y=\"" << num(kTop + 14) << "\">standard conv</text>\n"
    << "<circle cx=\"" << num(lx) << "\" cy=\"" << num(kTop + 32) << "\" r=\"5\" fill=\"#1f77b4\" stroke=\"black\" stroke-width=\"0.5\"/>\n"
    << "<text x=\"" << num(lx + 12) << "\" y=\"" << num(kTop + 36) << "\">ACDC variant</text>\n"
    << "</svg>\n";
  return s.str();
}

}  // namespace experiments
