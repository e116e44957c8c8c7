// CIFAR VGG16 (configuration D as in kuangliu/pytorch-cifar): 13 conv3x3(no bias)-BN-ReLU in
// five stages of 64, 64 | 128, 128 | 256 x3 | 512 x3 | 512 x3 channels, a 2x2 max-pool after
// each stage, then one Linear(512, classes). At 32 px the last feature map is 1x1; for larger
// images a global average pool keeps the one Linear(512) head (identical at 32 px), so any
// image of at least 32 px works. Exact count at 32 px, 10 classes: 14,724,042 (ACDC.md §5).
//
// Sharing blocks (ACDC.md §2): the five stages, block1..block5 — the two 512-channel stages are
// separate blocks (different resolutions); this reproduces acdc-block 4,896,946 at m=8.
// Names: features.<i>.conv / features.<i>.bn for the 13 convs (i = 0..12), head.

#include "backbones/builders.h"
#include "backbones/max_pool.h"

#include <torch/torch.h>

#include <stdexcept>

namespace backbones {
namespace {

class Vgg16 : public Backbone {
 public:
  explicit Vgg16(const BackboneOptions& o) : Backbone(o) {
    if (o.image_size < 32) {
      throw std::invalid_argument("vgg16 needs images of at least 32 px (five 2x2 max-pools), got " +
                                  std::to_string(o.image_size));
    }
    const std::vector<std::vector<int64_t>> stages = {
        {64, 64}, {128, 128}, {256, 256, 256}, {512, 512, 512}, {512, 512, 512}};
    int64_t in = o.in_channels;
    int index = 0;
    for (size_t s = 0; s < stages.size(); ++s) {
      std::vector<std::pair<int64_t, int64_t>> layers;
      for (const int64_t w : stages[s]) {
        const std::string prefix = "features." + std::to_string(index++);
        const int64_t conv_id = add_conv3x3(prefix + ".conv", in, w, /*stride=*/1, "block" + std::to_string(s + 1));
        layers.emplace_back(conv_id, add_batch_norm(prefix + ".bn", w));
        in = w;
      }
      stages_.push_back(layers);
    }
    head_ = add_head(512, o.classes);
    finalize();
    set_min_image_size(32);
  }

 protected:
  torch::Tensor run(const torch::Tensor& x, const std::vector<torch::Tensor>& p, const ForwardOptions& o) override {
    auto h = x;
    for (const auto& stage : stages_) {
      for (const auto& [conv_id, bn_id] : stage) h = torch::relu(batch_norm(bn_id, conv(conv_id, h, p, o), p, o));
      h = max_pool2x2(h);
    }
    return pooled_linear(head_, h, p, o);
  }

 private:
  std::vector<std::vector<std::pair<int64_t, int64_t>>> stages_;  // (conv, bn) per layer, per stage
  int64_t head_ = -1;
};

}  // namespace

std::unique_ptr<Backbone> build_vgg16(const BackboneOptions& options) { return std::make_unique<Vgg16>(options); }

}  // namespace backbones
