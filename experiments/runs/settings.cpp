#include "experiments/runs/settings.h"

#include "acdc/conv_options.h"
#include "backbones/registry.h"
#include "datasets/dataset.h"
#include "experiments/training/device.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>

namespace experiments {

int64_t parse_setting_int(const std::string& key, const std::string& text) {
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno != 0) {
    throw UsageError("--" + key + " must be an integer, got '" + text + "'");
  }
  return v;
}

double parse_setting_double(const std::string& key, const std::string& text) {
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0') throw UsageError("--" + key + " must be a number, got '" + text + "'");
  return v;
}

bool parse_setting_bool(const std::string& key, const std::string& text) {
  if (text == "true" || text == "1" || text == "yes" || text == "on") return true;
  if (text == "false" || text == "0" || text == "no" || text == "off") return false;
  throw UsageError("--" + key + " must be true or false, got '" + text + "'");
}

namespace {

std::string conv_help() {
  std::string help = "conv type: ";
  for (const auto& n : acdc::conv_type_names()) help += n + (n == "acdc-g-net" ? "" : ", ");
  return help;
}

// The words of a range check: "" when inside.
std::function<std::string(double)> in_unit_interval() {
  return [](double x) { return x >= 0 && x < 1 ? std::string() : std::string("in [0, 1)"); };
}
std::function<std::string(double)> non_negative() {
  return [](double x) { return x >= 0 ? std::string() : std::string(">= 0"); };
}

// --class-rotations: the counts datasets::with_rotated_classes takes.
int64_t parse_class_rotations(const std::string& text) {
  if (text == "1" || text == "2" || text == "4") return std::stoll(text);
  throw std::invalid_argument("'" + text + "' is not one of 1, 2, 4");
}
std::string format_count(int64_t n) { return std::to_string(n); }

template <class S>
typename SettingsTable<S>::Max threads_max() {
  return {kMaxThreads, "more threads than cores only contend; the largest machines have a few hundred"};
}
template <class S>
typename SettingsTable<S>::Max batch_max() {
  return {kMaxBatchSize, "more than the 100,000 training images of the largest supported data set"};
}

}  // namespace

template <class S>
void add_model_settings(SettingsTable<S>& t) {
  t.text("backbone", &S::backbone, "network: " + backbones::backbone_list())
      .choice("conv", &S::conv, acdc::parse_conv_type, acdc::to_string, conv_help())
      .integer("atoms", &S::atoms, "dictionary atoms per layer (m)", 1, "at least 1",
               {kMaxAtoms, "a k x k kernel spans k^2 independent atoms; the paper uses at most 16"})
      .integer("group-size", &S::group_size, "channels per group for acdc-g-* (s)", 1, "at least 1")
      .number("atom-drop", &S::atom_drop, "training-only atom-drop rate (p, paper: 0.1)", in_unit_interval())
      .choice("atom-init", &S::atom_init, acdc::parse_atom_init, acdc::to_string, "atom initialisation: normal, dct")
      .integer("classes", &S::classes, "classes of the linear head", 0, ">= 0",
               {kMaxClasses, "more than ImageNet-21k's 21,841 classes"})
      .integer("channels", &S::channels, "input channels (1 or 3)", 1, "1 or 3")
      .integer("image-size", &S::image_size, "input height = width in pixels", 0, ">= 0",
               {datasets::kMaxImageSize, "one 64-channel activation of a 1024 px image is 256 MiB"})
      .integer("width", &S::width, "conv4 filters per layer", 1, "at least 1",
               {kMaxWidth, "conv4 of width 1024 has 28 M parameters; the literature uses 32 to 64"});
}
template void add_model_settings(SettingsTable<ModelSettings>&);

backbones::BackboneOptions ModelSettings::backbone_options(int64_t bn_steps) const {
  backbones::BackboneOptions o;
  o.name = backbone;
  o.conv.type = conv;
  o.conv.atoms = atoms;
  o.conv.group_size = group_size;
  o.conv.atom_drop = atom_drop;
  o.conv.atom_init = atom_init;
  o.classes = classes;
  o.in_channels = channels;
  o.image_size = image_size;
  o.width = width;
  o.bn_steps = bn_steps;
  if (channels != 1 && channels != 3) throw UsageError("--channels must be 1 or 3, got " + std::to_string(channels));
  try {
    backbones::check_backbone_name(backbone);  // a wrn-D-K's depth and width within bounds, before building
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string("--backbone: ") + e.what());
  }
  try {
    o.conv.validate();
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string("--conv ") + acdc::to_string(conv) + ": " + e.what());
  }
  return o;
}

// ---- train ----

const SettingsTable<MetaTrainSettings>& meta_train_settings() {
  using S = MetaTrainSettings;
  static const auto table = [] {
    SettingsTable<S> t;
    add_model_settings(t);
    t.text("dataset", &S::dataset,
           "few-shot source: fashion-mnist[:DIR], miniimagenet:DIR, cifar100:DIR, tinyimagenet:DIR, folder:DIR, h5:FILE, ...")
        .integer("ways", &S::ways, "classes per episode", 1, "at least 1")
        .integer("shots", &S::shots, "support images per class (training and validation)", 1, "at least 1")
        .integer("queries", &S::queries, "query images per class", 1, "at least 1")
        .integer("meta-batch", &S::meta_batch, "tasks per meta-update", 1, "at least 1",
                 {kMaxTasks, "the episodes of a meta-batch are held in memory together"})
        .integer("inner-steps", &S::inner_steps, "inner-loop steps in training", 0, ">= 0",
                 {kMaxInnerSteps, "each step keeps its activations, BatchNorm statistics and learned rates"})
        .integer("inner-steps-test", &S::inner_steps_test, "inner-loop steps at validation/evaluation", 0, ">= 0",
                 {kMaxInnerSteps, "each step keeps its BatchNorm statistics and learned rates"})
        .number("inner-lr", &S::inner_lr, "inner learning rate (initial value when learned)")
        .flag("learn-inner-lr", &S::learn_inner_lr, "learn one inner lr per adapted tensor and step (MAML++ LSLR)")
        .number("meta-lr", &S::meta_lr, "Adam meta learning rate")
        .flag("cosine", &S::cosine, "cosine meta-lr decay to --min-meta-lr over the iterations")
        .number("min-meta-lr", &S::min_meta_lr, "final meta lr of the cosine schedule")
        .integer("iterations", &S::iterations, "meta-iterations", 1, "at least 1")
        .flag("first-order", &S::first_order, "first-order MAML (no second derivatives)")
        .integer("anneal-first-order", &S::anneal_first_order, "first order for the first N iterations, then second order",
                 0, ">= 0")
        .choice("inner-params", &S::inner_params, backbones::parse_param_filter, backbones::to_string,
                "adapted in the inner loop: all, head, atoms, atoms+head")
        .flag("multi-step-loss", &S::multi_step_loss, "MAML++ multi-step loss (query loss after every inner step)")
        .integer("multi-step-iterations", &S::multi_step_iterations,
                 "iterations over which the multi-step weights anneal to the last step", 0, ">= 0")
        .number("clip-grad", &S::clip_grad, "clip the meta-gradient's global L2 norm (0 = off)", non_negative())
        .choice("bn", &S::bn, backbones::parse_bn_mode, backbones::to_string,
                "BatchNorm mode: transductive, running, per-step")
        .flag("augment", &S::augment, "training-time augmentation of episodes")
        .choice("class-rotations", &S::class_rotations, parse_class_rotations, format_count,
                "training classes also as new classes turned: 1 (off), 2 (+180 deg), 4 (+90, 180, 270 deg; "
                "square images)")
        .text("device", &S::device, "cpu, cuda or cuda:N")
        .integer("seed", &S::seed, "seed of initialisation, episodes and atom-drop", 0, ">= 0")
        .integer("threads", &S::threads, "CPU threads (0 = every core)", 0, ">= 0", threads_max<S>())
        .integer("val-every", &S::val_every, "validate and checkpoint every N iterations (0 = at the end only)", 0,
                 ">= 0")
        .integer("val-episodes", &S::val_episodes, "validation episodes", 1, "at least 1");
    return t;
  }();
  return table;
}

backbones::BackboneOptions MetaTrainSettings::network() const {
  ModelSettings m = *this;
  m.classes = ways;
  // Per-step statistics: one set per training inner step plus the query pass after the last;
  // evaluation beyond the trained steps uses the last set (the engine clamps the index).
  return m.backbone_options(bn == backbones::BnMode::kPerStep ? inner_steps + 1 : 1);
}

meta::MamlConfig MetaTrainSettings::maml() const {
  meta::MamlConfig m;
  m.inner_steps = inner_steps;
  m.inner_steps_test = inner_steps_test;
  m.inner_lr = inner_lr;
  m.learn_inner_lr = learn_inner_lr;
  m.first_order = first_order;
  m.anneal_first_order = anneal_first_order;
  m.inner_params = inner_params;
  m.multi_step_loss = multi_step_loss;
  m.multi_step_iterations = multi_step_iterations;
  m.meta_lr = meta_lr;
  m.clip_grad_norm = clip_grad;
  m.cosine_schedule = cosine;
  m.min_meta_lr = min_meta_lr;
  m.iterations = iterations;
  m.bn = bn;
  try {
    m.validate();  // its messages start with the setting's key
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string("--") + e.what());
  }
  return m;
}

// ---- classify ----

const SettingsTable<ClassifySettings>& classify_settings() {
  using S = ClassifySettings;
  static const auto table = [] {
    SettingsTable<S> t;
    add_model_settings(t);
    t.text("dataset", &S::dataset,
           "source, its own train/test split: fashion-mnist[:DIR], mnist:DIR, cifar10:DIR, cifar100:DIR, "
           "tinyimagenet:DIR, miniimagenet:DIR, folder:DIR, h5:FILE")
        .integer("epochs", &S::epochs, "passes over the training split", 1, "at least 1")
        .integer("train-per-class", &S::train_per_class,
                 "train on the first N images of each class of the train split (0 = all; for quick looks and "
                 "CPU-sized ablations)",
                 0, ">= 0")
        .integer("test-per-class", &S::test_per_class,
                 "test on the first N images of each class of the test split (0 = all)", 0, ">= 0")
        .integer("batch-size", &S::batch_size, "images per SGD step", 1, "at least 1", batch_max<S>())
        .number("lr", &S::lr, "initial learning rate",
                [](double x) { return x > 0 && std::isfinite(x) ? std::string() : std::string("positive"); })
        .number("momentum", &S::momentum, "SGD momentum (0 = plain SGD)", in_unit_interval())
        .flag("nesterov", &S::nesterov, "Nesterov momentum")
        .number("weight-decay", &S::weight_decay, "L2 weight decay (on every parameter)", non_negative())
        .text("schedule", &S::schedule,
              "learning-rate schedule: cosine (per step, to 0) or step (x0.1 at each --milestones epoch)",
              [](const std::string& v) {
                if (v != "cosine" && v != "step") throw UsageError("--schedule must be cosine or step, got '" + v + "'");
              })
        .text("milestones", &S::milestones,
              "epochs at which --schedule step multiplies the lr by 0.1, e.g. 30,60 (default: 50% and 75% of --epochs)",
              [](const std::string& v) {
                if (!v.empty()) parse_int_list(v, "--milestones");
              })
        .flag("augment", &S::augment, "random crop of the zero-padded image + horizontal flip (training only)")
        .integer("crop-padding", &S::crop_padding,
                 "padding of --augment's crop in pixels (-1 = 4 at 32 px, size/8 above, 2 below 32 px; 0 = flip only)", -1,
                 ">= 0 (or -1 = automatic)", {datasets::kMaxImageSize, "the padded image is held in memory"})
        .text("device", &S::device, "cpu, cuda or cuda:N")
        .integer("threads", &S::threads,
                 "CPU threads (0 = every core; use fewer when other jobs share the cores: busy OpenMP threads stall)", 0,
                 ">= 0", threads_max<S>())
        .integer("seed", &S::seed, "seed of initialisation, shuffling, augmentation and atom-drop", 0, ">= 0")
        .integer("test-every", &S::test_every, "test after every N epochs (0 = after the last only)", 0, ">= 0")
        .integer("eval-batch-size", &S::eval_batch_size, "images per test batch", 1, "at least 1", batch_max<S>());
    return t;
  }();
  return table;
}

void validate(const ClassifySettings& s) {
  if (s.nesterov && s.momentum <= 0) throw UsageError("--nesterov needs --momentum > 0");
}

std::vector<int64_t> ClassifySettings::milestone_epochs() const {
  if (milestones.empty()) return {std::max<int64_t>(1, epochs / 2), std::max<int64_t>(1, (3 * epochs) / 4)};
  return parse_int_list(milestones, "--milestones");
}

int64_t ClassifySettings::crop_padding_at(int64_t size) const {
  if (!augment) return 0;
  if (crop_padding >= 0) return crop_padding;
  return size >= 32 ? size / 8 : 2;  // 4 px at 32 px (the CIFAR recipe), 2 px at 28 px
}

}  // namespace experiments
