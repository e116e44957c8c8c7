// acdc-meta export (experiments/runs/export.h): a materialized export loads into the `standard`
// conv variant of the same backbone and gives the ACDC network's logits, for conv4 (acdc-net and
// the grouped acdc-g-net), resnet10 (acdc-g-block) and resnet12 (acdc-net), through both file
// formats; both formats carry the run's configuration as JSON (pt: a string entry, h5: the same
// string plus typed attributes), saying when BatchNorm's running statistics mean nothing; and
// `acdc-meta export --materialize` does the same through the real binary on a tiny trained run.

#include "backbones/registry.h"
#include "datasets/storage/h5.h"
#include "datasets/storage/json.h"
#include "experiments/runs/checkpoint.h"
#include "experiments/runs/export.h"
#include "experiments/runs/run_config.h"
#include "experiments/runs/settings.h"
#include "meta/maml.h"
#include "tests/support/acdc_meta.h"
#include "tests/support/files.h"
#include "tests/support/images.h"
#include "tests/support/temp_dir.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cctype>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace {

using Dict = std::map<std::string, torch::Tensor>;

struct Case {
  std::string backbone, conv;
  int64_t group_size = 64, width = 64, image_size = 16, channels = 3, classes = 5, atoms = 4;
  backbones::BnMode bn = backbones::BnMode::kTransductive;
};

std::string label(const Case& c) { return c.backbone + " " + c.conv + " s=" + std::to_string(c.group_size); }

experiments::RunConfig config_of(const Case& c) {
  experiments::MetaTrainSettings s;
  s.backbone = c.backbone;
  s.conv = acdc::parse_conv_type(c.conv);
  s.atoms = c.atoms;
  s.group_size = c.group_size;
  s.width = c.width;
  s.channels = c.channels;
  s.image_size = c.image_size;
  s.ways = c.classes;
  s.bn = c.bn;
  s.inner_steps = 2;
  s.inner_steps_test = 3;
  s.inner_lr = 0.05;
  s.atom_drop = 0.1;  // training only: the materialized kernel is the evaluation one
  s.dataset = "fashion-mnist";
  return experiments::meta_train_settings().to_config(s);
}

// A checkpoint of the network `c` describes, with every tensor away from its initial value:
// random BatchNorm affine parameters and running statistics (otherwise ones and zeros would hide
// a BatchNorm tensor that went to the wrong layer).
std::string write_checkpoint(const Case& c, const std::string& path) {
  const auto config = config_of(c);
  torch::manual_seed(3);
  auto model = backbones::make_backbone(experiments::backbone_options(config));
  meta::Maml maml(*model, experiments::maml_config(config));
  {
    torch::NoGradGuard no_grad;
    auto& p = model->params();
    for (int64_t i = 0; i < p.size(); ++i) {
      const auto role = p.role(i);
      if (role == acdc::Role::kBatchNormWeight) p.tensors()[static_cast<size_t>(i)].uniform_(0.5, 1.5);
      if (role == acdc::Role::kBatchNormBias) p.tensors()[static_cast<size_t>(i)].normal_(0.0, 0.2);
    }
    auto& b = model->buffers();
    for (int64_t i = 0; i < b.size(); ++i) {
      auto& t = b.tensors()[static_cast<size_t>(i)];
      if (b.role(i) == acdc::Role::kBatchNormRunningMean) t.normal_(0.0, 0.5);
      if (b.role(i) == acdc::Role::kBatchNormRunningVar) t.uniform_(0.5, 4.0);
    }
  }
  experiments::CheckpointInfo info;
  info.iteration = 0;
  info.config = config;
  experiments::save_checkpoint(path, maml, info);
  return path;
}

// What an export file holds: its tensors and its metadata JSON.
struct Exported {
  Dict tensors;
  std::string metadata;
};

Exported read_pt(const std::string& path) {
  const auto bytes = support::read_file(path);
  Exported e;
  const auto dict = torch::pickle_load(std::vector<char>(bytes.begin(), bytes.end())).toGenericDict();
  for (const auto& entry : dict) {
    const auto key = entry.key().toStringRef();
    if (entry.value().isTensor()) {
      e.tensors[key] = entry.value().toTensor();
    } else {
      EXPECT_EQ(key, experiments::kExportMetadataKey) << path << ": a non-tensor entry other than the metadata";
      e.metadata = entry.value().toStringRef();
    }
  }
  return e;
}

Exported read_h5(const std::string& path) {
  const auto f = storage::H5File::open(path);
  Exported e;
  for (const auto& name : f.list("/")) e.tensors[name] = f.read_tensor(name);
  e.metadata = f.attr_string("/", experiments::kExportMetadataKey);
  return e;
}

// Loads `tensors` into `model`'s parameters and buffers; every name must be one of the model's
// and every tensor of the model must be given (ParamStore::load checks names and shapes).
void load_into(backbones::Backbone& model, const Dict& tensors) {
  Dict params, buffers;
  for (const auto& [name, t] : tensors) {
    if (model.params().contains(name)) {
      params[name] = t;
    } else if (model.buffers().contains(name)) {
      buffers[name] = t;
    } else {
      ADD_FAILURE() << "'" << name << "' is not a tensor of the " << model.options().name << " standard variant";
    }
  }
  torch::NoGradGuard no_grad;
  model.params().load(params);
  model.buffers().load(buffers);
}

// The forwards whose logits must agree: transductive BatchNorm (batch statistics), evaluation
// with running statistics, and with the per-step sets when there are several.
std::vector<backbones::ForwardOptions> forwards(const backbones::BackboneOptions& o) {
  std::vector<backbones::ForwardOptions> out(2);
  out[0].bn = backbones::BnMode::kTransductive;
  out[1].bn = backbones::BnMode::kRunning;
  if (o.bn_steps > 1) {
    backbones::ForwardOptions f;
    f.bn = backbones::BnMode::kPerStep;
    f.step = 1;
    out.push_back(f);
  }
  return out;
}

class Materialize : public ::testing::TestWithParam<Case> {
 protected:
  support::TempDir tmp_{"acdc_meta_export_"};
};

// The ACDC network of a checkpoint and the standard-conv network that loads its materialized
// export give the same logits, through both formats.
//
// Tolerance: an ungrouped layer's materialized kernel is acdc_kernel's result itself, convolved
// by the same conv2d, so those logits agree to the bit. A grouped layer becomes a dense conv whose
// extra weights are exact zeros: the products and sums are the same numbers, but the dense
// convolution adds them in another order (other blocking in oneDNN), so float32 rounding differs
// by a few units in the last place per layer, which the following layers carry on (BatchNorm
// divides by the batch's standard deviation). Measured (CPU, float32): 0 for the ungrouped cases;
// grouped at most 3e-6 on logits of size ~1.5 (transductive) and 5e-5 on logits up to ~60
// (running statistics drawn at random), i.e. about 1e-6 relative. 1e-4 absolute plus 1e-4
// relative leaves a margin of 20 or more and is far below what one wrong weight does (logits
// move by O(0.1)).
TEST_P(Materialize, StandardVariantGivesTheSameLogits) {
  const auto& c = GetParam();
  const auto checkpoint = write_checkpoint(c, tmp_ / "ckpt.h5");
  experiments::CheckpointInfo info;
  const auto acdc_model = experiments::load_checkpoint_model(checkpoint, &info);
  auto standard_options = acdc_model->options();
  standard_options.conv.type = acdc::ConvType::kStandard;

  torch::manual_seed(11);
  const auto x = torch::randn({6, c.channels, c.image_size, c.image_size});
  for (const std::string format : {"pt", "h5"}) {
    experiments::ExportRequest request;
    request.checkpoint = checkpoint;
    request.format = format;
    request.out = tmp_ / ("dense." + format);
    request.materialize = true;
    const auto result = experiments::export_weights(request);
    EXPECT_TRUE(result.materialized);
    const auto exported = format == "pt" ? read_pt(request.out) : read_h5(request.out);
    EXPECT_EQ(result.tensors, static_cast<int64_t>(exported.tensors.size()));

    // Standard names and shapes: "<layer>.weight" [C_out, C_in, k, k], no atoms or coefficients.
    for (int64_t id = 0; id < acdc_model->plan().size(); ++id) {
      const auto& spec = acdc_model->plan().conv(id).spec();
      const auto it = exported.tensors.find(spec.name + ".weight");
      ASSERT_NE(it, exported.tensors.end()) << label(c) << " " << format << ": no " << spec.name << ".weight";
      EXPECT_EQ(it->second.sizes().vec(),
                std::vector<int64_t>({spec.out_channels, spec.in_channels, spec.kernel_size, spec.kernel_size}))
          << spec.name;
    }
    for (const auto& [name, t] : exported.tensors) {
      EXPECT_EQ(name.find("atoms"), std::string::npos) << name;
      EXPECT_EQ(name.find("coeff"), std::string::npos) << name;
      EXPECT_EQ(t.scalar_type(), torch::kFloat) << name;
    }

    torch::manual_seed(99);  // the standard network's own initial values, all to be replaced
    auto standard = backbones::make_backbone(standard_options);
    ASSERT_NO_FATAL_FAILURE(load_into(*standard, exported.tensors)) << label(c) << " " << format;
    EXPECT_EQ(standard->params().size() + standard->buffers().size(), static_cast<int64_t>(exported.tensors.size()));

    torch::NoGradGuard no_grad;
    for (const auto& fo : forwards(acdc_model->options())) {
      const auto expected = acdc_model->forward(x, fo);
      const auto got = standard->forward(x, fo);
      ASSERT_EQ(got.sizes(), expected.sizes());
      const double diff = (got - expected).abs().max().item<double>();
      EXPECT_TRUE(torch::allclose(got, expected, /*rtol=*/1e-4, /*atol=*/1e-4))
          << label(c) << " " << format << " bn " << backbones::to_string(fo.bn) << ": max |diff| " << diff;
      if (c.conv.find("-g-") == std::string::npos) {
        EXPECT_TRUE(torch::equal(got, expected)) << label(c) << ": ungrouped logits differ by " << diff;
      }
      // The weights matter: a wrong one would show (this is not a comparison of two constants).
      EXPECT_GT(expected.std().item<double>(), 1e-3) << label(c);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Backbones, Materialize,
    ::testing::Values(
        // The main job's network: conv4, ACDC-net, transductive BatchNorm.
        Case{"conv4", "acdc-net", 64, 16, 16, 3, 5, 4, backbones::BnMode::kTransductive},
        // Grouped: 16 channels in groups of 4 (G = 4 conv groups, 4 atom groups, a channel shuffle
        // after every conv but the first, whose 3 inputs make one group).
        Case{"conv4", "acdc-g-net", 4, 16, 16, 1, 3, 3, backbones::BnMode::kRunning},
        // A ResNet with 1x1 standard shortcuts, grouped per block (G = 2, 4, 8, 16), strided convs,
        // per-step BatchNorm statistics.
        Case{"resnet10", "acdc-g-block", 32, 64, 32, 3, 5, 2, backbones::BnMode::kPerStep},
        Case{"resnet12", "acdc-net", 64, 64, 16, 3, 5, 2, backbones::BnMode::kTransductive}),
    [](const ::testing::TestParamInfo<Case>& info) {
      std::string name = info.param.backbone + "_" + info.param.conv;
      for (auto& ch : name) {
        if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
      }
      return name;
    });

// Both formats carry the configuration; the plain export keeps its tensors and says so.
TEST(ExportMetadata, BothFormatsCarryTheConfiguration) {
  support::TempDir tmp("acdc_meta_export_");
  Case c{"conv4", "acdc-g-layer", 8, 16, 16, 1, 4, 3, backbones::BnMode::kTransductive};
  const auto checkpoint = write_checkpoint(c, tmp / "ckpt.h5");
  for (const bool materialize : {false, true}) {
    for (const std::string format : {"pt", "h5"}) {
      experiments::ExportRequest request{checkpoint, format, tmp / ("w." + format), materialize};
      experiments::export_weights(request);
      const auto exported = format == "pt" ? read_pt(request.out) : read_h5(request.out);
      const std::string what = format + (materialize ? " materialized" : "");
      ASSERT_FALSE(exported.metadata.empty()) << what;
      const auto j = storage::parse_json(exported.metadata, what);
      EXPECT_EQ(j.at("export_format"), experiments::kExportFormat);
      EXPECT_EQ(j.at("tensors"), materialize ? "materialized" : "parameters");
      EXPECT_EQ(j.at("load_with_conv"), materialize ? "standard" : "acdc-g-layer");
      EXPECT_EQ(j.at("backbone"), "conv4");
      EXPECT_EQ(j.at("conv"), "acdc-g-layer");
      EXPECT_EQ(j.at("atoms"), 3);
      EXPECT_EQ(j.at("group_size"), 8);
      EXPECT_EQ(j.at("width"), 16);
      EXPECT_EQ(j.at("channels"), 1);
      EXPECT_EQ(j.at("classes"), 4);
      EXPECT_EQ(j.at("image_size"), 16);
      EXPECT_EQ(j.at("run"), "train");
      // Fashion-MNIST's constants (datasets/dataset.cpp), as written there: no float noise.
      EXPECT_EQ(j.at("normalization").at("mean"), storage::json::array({0.286}));
      EXPECT_EQ(j.at("normalization").at("std"), storage::json::array({0.353}));
      EXPECT_EQ(j.at("batch_norm").at("mode"), "transductive");
      EXPECT_EQ(j.at("batch_norm").at("eps"), 1e-5);
      EXPECT_EQ(j.at("batch_norm").at("running_stats_meaningful"), false);
      EXPECT_NE(j.at("note").get<std::string>().find("transductive"), std::string::npos);
      EXPECT_EQ(j.at("inner_loop").at("lr"), 0.05);
      EXPECT_EQ(j.at("inner_loop").at("steps"), 2);
      EXPECT_EQ(j.at("inner_loop").at("steps_test"), 3);
      EXPECT_EQ(j.at("iteration"), 0);
      if (format == "pt") {
        // torch.load(..., weights_only=True) refuses the type tags torch::pickle_save wraps dicts in
        // (checked by hand with PyTorch 1.13: it loads this file). data.pkl is stored uncompressed,
        // so the global's name would show in the bytes.
        const auto bytes = support::read_file(request.out);
        EXPECT_EQ(bytes.find("restore_type_tag"), std::string::npos) << what;
        EXPECT_NE(bytes.find("_rebuild_tensor_v2"), std::string::npos) << what;
      }
      // Neither format is taken for a checkpoint (its format attribute is not there).
      EXPECT_FALSE(experiments::is_checkpoint(request.out)) << what;
      if (!materialize) {
        // The plain export's tensors are the checkpoint's, as before.
        const auto weights = experiments::read_checkpoint_weights(checkpoint);
        EXPECT_EQ(exported.tensors.size(), weights.size()) << what;
        for (const auto& [name, t] : weights) {
          ASSERT_TRUE(exported.tensors.count(name)) << what << " " << name;
          EXPECT_TRUE(torch::equal(exported.tensors.at(name), t)) << what << " " << name;
        }
      }
      if (format == "h5") {
        // Typed attributes, one per field, for h5py users who do not parse JSON.
        const auto f = storage::H5File::open(request.out);
        EXPECT_EQ(f.attr_string("/", "acdc_meta.backbone"), "conv4");
        EXPECT_EQ(f.attr_string("/", "acdc_meta.conv"), "acdc-g-layer");
        EXPECT_EQ(f.attr_int("/", "acdc_meta.atoms"), 3);
        EXPECT_EQ(f.attr_int("/", "acdc_meta.group_size"), 8);
        EXPECT_EQ(f.attr_int("/", "acdc_meta.channels"), 1);
        EXPECT_EQ(f.attr_int("/", "acdc_meta.classes"), 4);
        EXPECT_EQ(f.attr_int("/", "acdc_meta.image_size"), 16);
        EXPECT_EQ(f.attr_doubles("/", "acdc_meta.normalization.mean"), std::vector<double>({0.286}));
        EXPECT_EQ(f.attr_doubles("/", "acdc_meta.normalization.std"), std::vector<double>({0.353}));
        EXPECT_EQ(f.attr_string("/", "acdc_meta.batch_norm.mode"), "transductive");
        EXPECT_EQ(f.attr_double("/", "acdc_meta.batch_norm.eps"), 1e-5);
        EXPECT_EQ(f.attr_int("/", "acdc_meta.batch_norm.running_stats_meaningful"), 0);
        EXPECT_EQ(f.attr_double("/", "acdc_meta.inner_loop.lr"), 0.05);
        EXPECT_EQ(f.attr_int("/", "acdc_meta.inner_loop.steps"), 2);
        EXPECT_EQ(f.attr_string("/", "acdc_meta.tensors"), materialize ? "materialized" : "parameters");
        // The run configuration's own attributes are still there, as text.
        EXPECT_EQ(f.attr_string("/", "conv"), "acdc-g-layer");
        EXPECT_EQ(f.attr_int("/", "acdc_meta.iteration"), 0);
      }
    }
  }
}

// Running BatchNorm: the statistics mean something and no note says otherwise.
TEST(ExportMetadata, RunningBatchNormStatisticsAreMeaningful) {
  support::TempDir tmp("acdc_meta_export_");
  Case c{"conv4", "acdc-net", 64, 8, 16, 3, 5, 2, backbones::BnMode::kRunning};
  const auto checkpoint = write_checkpoint(c, tmp / "ckpt.h5");
  experiments::ExportRequest request{checkpoint, "h5", tmp / "w.h5", true};
  experiments::export_weights(request);
  const auto f = storage::H5File::open(request.out);
  EXPECT_EQ(f.attr_string("/", "acdc_meta.batch_norm.mode"), "running");
  EXPECT_EQ(f.attr_int("/", "acdc_meta.batch_norm.running_stats_meaningful"), 1);
  EXPECT_FALSE(f.has_attr("/", "acdc_meta.note"));
  // Fashion-MNIST's one constant for each of the 3 channels (datasets::normalization_for_kind).
  EXPECT_EQ(f.attr_doubles("/", "acdc_meta.normalization.mean"), std::vector<double>(3, 0.286));
}

// An h5: cache names its source's kind (datasets/source.h); when it is gone the normalisation is
// unknown and left null rather than guessed.
TEST(ExportMetadata, NormalizationOfAnH5CacheComesFromItsKind) {
  support::TempDir tmp("acdc_meta_export_");
  Case c{"conv4", "acdc-net", 64, 8, 16, 3, 5, 2, backbones::BnMode::kTransductive};
  experiments::CheckpointInfo info;
  info.config = config_of(c);
  const auto cache = tmp / "cache.h5";
  {
    auto f = storage::H5File::create(cache);
    f.set_attr("/", "kind", std::string("cifar10"));
  }
  info.config.set("dataset", "h5:" + cache);
  auto j = storage::parse_json(experiments::export_metadata(info, "ckpt.h5", true), "metadata");
  EXPECT_EQ(j.at("normalization").at("source"), "cifar10");
  // CIFAR-10's constants (datasets/dataset.cpp) as written there.
  EXPECT_EQ(j.at("normalization").at("mean"), storage::json::array({0.4914, 0.4822, 0.4465}));
  info.config.set("dataset", "h5:" + tmp / "gone.h5");
  j = storage::parse_json(experiments::export_metadata(info, "ckpt.h5", true), "metadata");
  EXPECT_TRUE(j.at("normalization").is_null());
  EXPECT_EQ(j.at("dataset"), "h5:" + tmp / "gone.h5");
}

#ifdef ACDC_META_BIN
// Through the binary: train a tiny grouped run, export it materialized in both formats, and the
// standard variant gives the trained network's logits.
TEST(ExportBinary, MaterializedExportOfATrainedRun) {
  support::TempDir tmp("acdc_meta_export_bin_");
  const auto labels = torch::arange(10 * 8, torch::kLong).remainder(10);
  support::write_idx(tmp / "data", "train", support::class_images(labels, 16, 1, 1, 5, 4), labels);
  support::write_idx(tmp / "data", "t10k", support::class_images(labels, 16, 1, 2, 5, 4), labels);
  const auto out = tmp / "run";
  auto r = support::run_acdc_meta("train --dataset mnist:" + tmp / "data" +
                                  " --backbone conv4 --conv acdc-g-net --group-size 4 --width 8 --atoms 3 --ways 3"
                                  " --shots 1 --queries 2 --meta-batch 2 --inner-steps 1 --inner-steps-test 1"
                                  " --iterations 2 --val-every 2 --val-episodes 2 --threads 1 --seed 2 --out " + out);
  ASSERT_EQ(r.code, 0) << r.output;
  const auto model = experiments::load_checkpoint_model(out + "/best.h5");
  auto standard_options = model->options();
  standard_options.conv.type = acdc::ConvType::kStandard;
  torch::manual_seed(4);
  const auto x = torch::randn({4, 1, 16, 16});
  for (const std::string format : {"pt", "h5"}) {
    const auto file = tmp / ("dense." + format);
    r = support::run_acdc_meta("export --run " + out + " --materialize --format " + format + " --out " + file);
    ASSERT_EQ(r.code, 0) << r.output;
    EXPECT_NE(r.output.find("dense kernels for the standard conv variant"), std::string::npos) << r.output;
    const auto exported = format == "pt" ? read_pt(file) : read_h5(file);
    auto standard = backbones::make_backbone(standard_options);
    ASSERT_NO_FATAL_FAILURE(load_into(*standard, exported.tensors));
    torch::NoGradGuard no_grad;
    const auto expected = model->forward(x);
    EXPECT_TRUE(torch::allclose(standard->forward(x), expected, 1e-4, 1e-4)) << format;  // tolerance: see above
    EXPECT_EQ(storage::parse_json(exported.metadata, file).at("conv"), "acdc-g-net");
  }
  r = support::run_acdc_meta("export --help");
  EXPECT_NE(r.output.find("--materialize"), std::string::npos) << r.output;
}
#endif

}  // namespace
