#include "experiments/training/classification.h"
#include "experiments/training/device.h"

#include "backbones/registry.h"
#include "episodes/seeding.h"
#include "experiments/runs/checkpoint.h"
#include "experiments/report/numbers.h"
#include "experiments/report/progress.h"
#include "experiments/runs/run_directory.h"
#include "experiments/training/loop.h"
#include "meta/optim.h"

#include <ATen/CPUGeneratorImpl.h>
#include "datasets/storage/json.h"
#include <torch/torch.h>

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
using storage::json;

const std::vector<std::string> kClassifyResumeMayChange = {"device", "eval-batch-size", "test-every"};

// ---- batches and schedule ----

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

// Epoch e's shuffling and augmentation depend on (seed, e) only, so a resumed run sees the
// same batches as an uninterrupted one.
at::Generator epoch_generator(int64_t seed, int64_t epoch) {
  return at::make_generator<at::CPUGeneratorImpl>(episodes::splitmix64(episodes::splitmix64(static_cast<uint64_t>(seed)) ^ static_cast<uint64_t>(epoch)));
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

}  // namespace

backbones::BackboneOptions classify_backbone_options(const RunConfig& config) {
  const auto s = classify_settings().from_config(config);
  if (s.image_size < 1) {
    throw std::invalid_argument(config.source + ": setting 'image-size' is " + std::to_string(s.image_size) +
                                " (not resolved); the model cannot be rebuilt from this configuration alone");
  }
  return s.backbone_options();
}

ClassifyResult run_classification(const ClassifyRequest& o) {
  const auto& table = classify_settings();
  RunDirectory run(o.out);
  const std::string who = o.label.empty() ? std::string("classify") : o.label;

  // A run directory in another process's hands is named as such before anything else (the lock
  // itself is taken below, once the settings are known to be good).
  if (!o.plan_only) run.probe_lock();

  // ---- the settings: as given, or the run's own for --resume ----
  ClassifySettings s = o.settings;
  bool resuming = false;
  if (o.resume && fs::exists(run.last())) {
    const auto saved = read_checkpoint_info(run.last());
    follow_winograd_choice(saved);  // before any convolution
    const auto merged = resume_config(saved.config, table.to_config(o.settings), o.explicit_keys,
                                      kClassifyResumeMayChange, o.out, who, /*quiet=*/o.plan_only);
    s = table.from_config(merged);
    resuming = true;
    if (saved.iteration >= s.epochs && fs::exists(run.results()) && !o.plan_only) {
      std::cerr << who << ": " << o.out << " is finished (" << count_of(saved.iteration, "epoch") << "); reusing its results\n";
      return read_results(o.out);
    }
  } else if (o.resume && !o.fresh_if_missing) {
    run.require_checkpoint();
  } else if (!o.plan_only) {
    run.refuse_existing_run();
  }
  validate(s);

  // ---- data ----
  datasets::Dataset loaded;
  const datasets::Dataset* data = o.data;
  if (data == nullptr) {
    datasets::LoadOptions load;
    load.image_size = s.image_size;
    loaded = datasets::load_classification_dataset(s.dataset, load);
    data = &loaded;
  }
  datasets::Dataset subset;
  if (s.train_per_class > 0 || s.test_per_class > 0) {
    subset.source = data->source;
    subset.kind = data->kind;
    subset.train = datasets::first_per_class(data->train, s.train_per_class);
    subset.val = data->val;
    subset.test = datasets::first_per_class(data->test, s.test_per_class);
    data = &subset;
  }
  require(data->train.size() > 1, data->source + ": the train split has " + std::to_string(data->train.size()) + " images");
  require(data->test.size() > 0, data->source + ": the test split is empty");
  const int64_t classes = data->train.num_classes(), channels = data->channels(), image_size = data->height();
  require(data->width() == image_size, data->source + ": images are " + std::to_string(data->height()) + "x" +
                                           std::to_string(data->width()) + "; pass --image-size to make them square");
  if (o.explicit_keys.count("classes") && s.classes != classes && s.classes != 0) {
    throw UsageError("--classes " + std::to_string(s.classes) + " differs from the " + std::to_string(classes) +
                     " classes of " + data->source);
  }
  if (o.explicit_keys.count("channels") && s.channels != channels) {
    throw UsageError("--channels " + std::to_string(s.channels) + " differs from the " + std::to_string(channels) +
                     " channels of " + data->source);
  }
  s.classes = classes;
  s.channels = channels;
  s.image_size = image_size;  // resolved, so a checkpoint alone rebuilds the model

  // ---- model (every seed-dependent draw starts from --seed) ----
  torch::manual_seed(static_cast<uint64_t>(s.seed));
  const auto bo = s.backbone_options();
  std::unique_ptr<backbones::Backbone> model;
  try {
    model = backbones::make_backbone(bo);
  } catch (const std::invalid_argument& e) {
    throw UsageError("--backbone " + bo.name + ": " + e.what());
  }
  const auto costs = model->costs(image_size);

  ClassifyResult r;
  r.label = o.label.empty() ? acdc::to_string(s.conv) : o.label;
  r.backbone = bo.name;
  r.conv = acdc::to_string(s.conv);
  r.atoms = bo.conv.atoms;
  r.group_size = bo.conv.group_size;
  r.params = model->num_params();
  r.macs_per_image = costs.macs_per_image();
  r.reconstruction_macs = costs.reconstruction_macs();
  r.epochs = s.epochs;
  r.run_dir = o.out;
  r.dataset = data->source;
  r.train_images = data->train.size();
  r.test_images = data->test.size();
  r.classes = classes;
  r.image_size = image_size;
  if (o.plan_only) return r;

  const auto device = parse_device(s.device);
  s.threads = set_threads(s.threads);  // the count used, for --resume
  model->to(device);
  meta::Sgd sgd(model->params().tensors(), s.lr, s.momentum, s.nesterov, s.weight_decay);
  auto state = TrainingState::of(*model, sgd);

  // ---- run directory: this process's alone until the run ends ----
  run.lock(/*fresh=*/!resuming);
  const auto config = table.to_config(s);
  // Accuracies in percent; epoch_seconds: the epoch's training time (testing excluded).
  const std::vector<std::string> columns = {"epoch",     "lr",            "train_loss",    "train_accuracy",
                                            "test_loss", "test_accuracy", "epoch_seconds", "images_per_second"};
  MetricsWriter metrics(run, columns);
  CheckpointInfo info;
  int64_t start = 0;
  if (resuming) {
    info = load_checkpoint(run.last(), state, /*restore_rng=*/true);
    start = info.iteration;
    run.resume_at(start);
    std::cerr << who << ": resuming " << o.out << " at epoch " << start << "\n";
  } else {
    run.start(config, metrics.header());
  }
  info.config = config;
  if (!resuming) save_checkpoint(run.last(), state, info);  // a last good checkpoint exists from the start

  const int64_t epochs = s.epochs, batch = s.batch_size;
  const auto milestones = s.milestone_epochs();
  const int64_t pad = s.crop_padding_at(image_size);
  const bool flip = s.augment;
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
              << " classes, " << image_size << " px; " << count_of(epochs, "epoch") << " x " << count_of(steps, "step") << " of " << batch
              << ", " << s.schedule << " lr " << format_double(s.lr)
              << (flip ? ", augment (crop pad " + std::to_string(pad) + ", flip)" : "") << ", " << device.str() << ", "
              << count_of(torch::get_num_threads(), "thread") << "\n";
  }

  // ---- the loop: a unit is one epoch of SGD steps ----
  backbones::ForwardOptions train_fo;
  train_fo.training = true;
  train_fo.bn = backbones::BnMode::kRunning;
  train_fo.update_running_stats = true;
  Eval test;
  double train_loss = 0.0, train_acc = 0.0;
  const auto t_run = std::chrono::steady_clock::now();
  auto epoch_step = [&](Unit& unit) {
    const int64_t epoch = unit.index;
    auto gen = epoch_generator(s.seed, epoch);
    const auto perm = at::randperm(n, gen, torch::kLong).to(device);
    ProgressBar bar("epoch " + std::to_string(epoch + 1) + "/" + std::to_string(epochs), steps);
    const auto t0 = std::chrono::steady_clock::now();
    double loss_sum = 0.0, lr = s.lr;
    int64_t correct = 0, seen = 0;
    std::string status;
    for (int64_t k = 0; k < steps; ++k) {
      const auto index = perm.slice(0, k * batch, std::min(n, (k + 1) * batch));
      const auto x = make_batch(train_images, index, mean, stdev, pad, flip, gen);
      const auto y = train_labels.index_select(0, index);
      lr = scheduled_lr(s.schedule, s.lr, epoch * steps + k, steps, epochs, milestones);
      const auto logits = model->forward(x, train_fo);
      const auto loss = torch::nn::functional::cross_entropy(logits, y);
      loss.backward();
      sgd.set_lr(lr);
      sgd.step_from_grad();
      const double l = loss.item<double>();
      if (!std::isfinite(l)) {
        bar.finish("stopped");
        throw std::runtime_error(who + ": non-finite training loss (" + format_double(l) + ") in epoch " +
                                 std::to_string(epoch + 1) + "; training stopped. The last good checkpoint is " +
                                 run.last() + " (epoch " + std::to_string(info.iteration) + "); try a lower --lr");
      }
      const int64_t b = index.size(0);
      loss_sum += l * static_cast<double>(b);
      correct += logits.argmax(1).eq(y).sum().item<int64_t>();
      seen += b;
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      status = "loss " + fixed(loss_sum / static_cast<double>(seen), 4) + " acc " +
               fixed(100.0 * static_cast<double>(correct) / static_cast<double>(seen), 2) + "% " +
               fixed(secs > 0 ? static_cast<double>(seen) / secs : 0.0, 0) + " img/s lr " + significant(lr, 3);
      bar.update(k + 1, status);
    }
    const double epoch_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    bar.finish(status);
    train_loss = loss_sum / static_cast<double>(std::max<int64_t>(1, seen));
    train_acc = 100.0 * static_cast<double>(correct) / static_cast<double>(std::max<int64_t>(1, seen));
    unit.loss = train_loss;
    unit.accuracy = train_acc;
    unit.cells = {{"epoch", std::to_string(unit.done())},
                  {"lr", format_double(lr)},
                  {"train_loss", format_double(train_loss)},
                  {"train_accuracy", format_double(train_acc)},
                  {"epoch_seconds", fixed(epoch_seconds, 3)},
                  {"images_per_second", fixed(epoch_seconds > 0 ? seen / epoch_seconds : 0.0, 1)}};
  };
  Evaluation testing(
      s.test_every, epochs,
      [&](Unit& unit) -> double {
        test = evaluate(*model, test_images, test_labels, mean, stdev, s.eval_batch_size);
        unit.cells["test_loss"] = format_double(test.loss);
        unit.cells["test_accuracy"] = format_double(test.accuracy);
        if (!o.quiet) {
          std::cerr << who << ": epoch " << unit.done() << "/" << epochs << ": train loss " << fixed(train_loss, 4)
                    << " acc " << fixed(train_acc, 2) << " %, test loss " << fixed(test.loss, 4) << " acc "
                    << fixed(test.accuracy, 2) << " % (error " << fixed(100.0 - test.accuracy, 2) << " %)\n";
        }
        return test.accuracy / 100.0;
      },
      info, /*track_best=*/false);
  Checkpointer checkpoints(run, state, info, /*every_unit=*/true, /*keep_best=*/false);
  StopAfter stop(o.stop_after, start, epochs, [&](const Unit& unit) {
    return who + ": stopped after epoch " + std::to_string(unit.done()) + " (--stop-after); continue with --resume\n";
  });
  LoopOptions loop;
  loop.start = start;
  loop.total = epochs;
  loop.unit_name = "epoch";
  const std::string last_path = run.last();
  loop.last_checkpoint = &last_path;
  loop.info = &info;
  loop.who = who;
  loop.hint = "try a lower --lr";
  if (run_training(loop, epoch_step, {&testing, &metrics, &checkpoints, &stop}) < epochs) {
    r.finished = false;  // --stop-after
    return r;
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_run).count();
  if (start >= epochs) test = evaluate(*model, test_images, test_labels, mean, stdev, s.eval_batch_size);

  r.finished = true;
  r.test_accuracy = test.accuracy;
  r.test_error = 100.0 - test.accuracy;
  r.test_loss = test.loss;
  r.train_loss = train_loss;
  r.train_accuracy = train_acc;
  r.seconds = seconds;
  r.settings = config;
  storage::write_json(run.results(), results_json(r));
  return r;
}

// ---- results ----

void print_result(const ClassifyResult& r) {
  std::cout << r.label << ": test accuracy " << std::fixed << std::setprecision(2) << r.test_accuracy << " % (error "
            << r.test_error << " %), " << r.params << " parameters, " << r.macs_per_image << " MACs/image; "
            << run_file(r.run_dir, "results.json") << "\n";
  std::cout.unsetf(std::ios::fixed);
}


storage::json results_json(const ClassifyResult& r) {
  json settings = json::object();
  for (const auto& [key, value] : r.settings.entries()) settings[key] = value;
  json j = {{"variant", r.label},
            {"dataset", r.dataset},
            {"backbone", r.backbone},
            {"conv", r.conv},
            {"atoms", r.atoms},
            {"group_size", r.group_size},
            {"test_accuracy", r.test_accuracy},
            {"test_error", r.test_error},
            {"test_loss", r.test_loss},
            {"train_loss", r.train_loss},
            {"train_accuracy", r.train_accuracy},
            {"params", r.params},
            {"macs_per_image", r.macs_per_image},
            {"reconstruction_macs", r.reconstruction_macs},
            {"epochs", r.epochs},
            {"train_images", r.train_images},
            {"test_images", r.test_images},
            {"classes", r.classes},
            {"image_size", r.image_size},
            {"seconds_this_invocation", r.seconds},
            {"run_dir", r.run_dir},
            {"settings", settings}};
  return j;
}

ClassifyResult read_results(const std::string& run_dir) {
  const auto path = run_file(run_dir, "results.json");
  const auto j = storage::read_json(path);
  ClassifyResult r;
  r.finished = true;
  r.label = storage::json_string(j, "variant", path);
  r.dataset = j.contains("dataset") ? storage::json_string(j, "dataset", path) : std::string();
  r.backbone = storage::json_string(j, "backbone", path);
  r.conv = storage::json_string(j, "conv", path);
  r.atoms = storage::json_int(j, "atoms", path);
  r.group_size = storage::json_int(j, "group_size", path);
  r.test_accuracy = storage::json_number(j, "test_accuracy", path);
  r.test_error = storage::json_number(j, "test_error", path);
  r.test_loss = storage::json_number(j, "test_loss", path);
  r.train_loss = storage::json_number(j, "train_loss", path);
  r.train_accuracy = storage::json_number(j, "train_accuracy", path);
  r.params = storage::json_int(j, "params", path);
  r.macs_per_image = storage::json_int(j, "macs_per_image", path);
  r.epochs = storage::json_int(j, "epochs", path);
  r.seconds = storage::json_number(j, "seconds_this_invocation", path);
  for (const char* key : {"reconstruction_macs", "train_images", "test_images", "classes", "image_size"}) {
    if (!j.contains(key)) continue;
    const auto v = storage::json_int(j, key, path);
    if (std::string(key) == "reconstruction_macs") r.reconstruction_macs = v;
    if (std::string(key) == "train_images") r.train_images = v;
    if (std::string(key) == "test_images") r.test_images = v;
    if (std::string(key) == "classes") r.classes = v;
    if (std::string(key) == "image_size") r.image_size = v;
  }
  if (j.contains("settings")) {
    const auto& settings = storage::json_field(j, "settings", path);
    if (!settings.is_object()) throw std::invalid_argument(path + ": field 'settings' is not an object");
    for (const auto& [key, value] : settings.items()) r.settings.set(key, storage::json_string(settings, key, path));
  }
  r.run_dir = run_dir;
  return r;
}

}  // namespace experiments
