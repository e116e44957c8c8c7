// ResNets with BasicBlocks:
//  resnet10/18/34 — the few-shot ResNets of CloserLookFewShot (backbone.py, ResNet + SimpleBlock):
//    7x7 stride-2 stem + BN + ReLU + 3x3/2 max-pool, blocks [1,1,1,1] / [2,2,2,2] / [3,4,6,3],
//    widths 64-128-256-512, 1x1 conv + BN shortcuts where the shape changes, global average
//    pool, linear head. 224 px in the paper; any size >= 32 px works (84 px included).
//  resnet18-cifar — kuangliu/pytorch-cifar's ResNet18: 3x3 stride-1 stem, no max-pool,
//    [2,2,2,2], 1x1 conv + BN shortcuts, global average pool, Linear(512, classes).
//
// Convs carry no bias (BN follows each). The stem is decomposed; 1x1 shortcuts stay standard.
// Sharing blocks (ACDC.md §2, "a block is a stage: same output channels and resolution"):
//  CIFAR: the stem (64 channels, 32x32, like layer1) joins block1 — this reproduces the exact
//         acdc-block counts of ACDC.md §5 (2,973,266 at m=8);
//  CloserLook: the stem's output (112x112 at 224 px) has a different resolution from layer1
//         (after the max-pool), so the stem is its own block "stem".
// Names: stem.conv, stem.bn, layer<s>.<b>.conv1/bn1/conv2/bn2, layer<s>.<b>.shortcut.conv/bn, head.

#include "backbones/builders.h"

#include <torch/torch.h>

#include <stdexcept>

namespace backbones {
namespace {

class ResNet : public Backbone {
 public:
  ResNet(const BackboneOptions& o, const std::vector<int>& depths, bool imagenet_stem)
      : Backbone(o), imagenet_stem_(imagenet_stem) {
    // Total stride 32 (ImageNet stem) or 8 (CIFAR): the last stage still sees real pixels.
    const int64_t min_size = imagenet_stem ? 32 : 8;
    if (o.image_size < min_size) {
      throw std::invalid_argument(o.name + " needs images of at least " + std::to_string(min_size) + " px, got " +
                                  std::to_string(o.image_size));
    }
    acdc::ConvSpec stem;
    stem.name = "stem.conv";
    stem.in_channels = o.in_channels;
    stem.out_channels = 64;
    stem.kernel_size = imagenet_stem ? 7 : 3;
    stem.stride = imagenet_stem ? 2 : 1;
    stem.padding = imagenet_stem ? 3 : 1;
    stem.block = imagenet_stem ? "stem" : "block1";
    stem_conv_ = add_conv(stem);
    stem_bn_ = add_batch_norm("stem.bn", 64);

    const int64_t widths[4] = {64, 128, 256, 512};
    int64_t in = 64;
    for (int s = 0; s < 4; ++s) {
      const std::string block = "block" + std::to_string(s + 1);
      for (int b = 0; b < depths[static_cast<size_t>(s)]; ++b) {
        const std::string prefix = "layer" + std::to_string(s + 1) + "." + std::to_string(b);
        const int64_t w = widths[s];
        const int64_t stride = (s > 0 && b == 0) ? 2 : 1;
        Block blk;
        blk.conv1 = add_conv3x3(prefix + ".conv1", in, w, stride, block);
        blk.bn1 = add_batch_norm(prefix + ".bn1", w);
        blk.conv2 = add_conv3x3(prefix + ".conv2", w, w, /*stride=*/1, block);
        blk.bn2 = add_batch_norm(prefix + ".bn2", w);
        if (stride != 1 || in != w) {
          blk.shortcut_conv = add_shortcut(prefix + ".shortcut.conv", in, w, stride);
          blk.shortcut_bn = add_batch_norm(prefix + ".shortcut.bn", w);
        }
        blocks_.push_back(blk);
        in = w;
      }
    }
    head_ = add_head(512, o.classes);
    finalize();
    set_min_image_size(min_size);
  }

 protected:
  torch::Tensor run(const torch::Tensor& x, const std::vector<torch::Tensor>& p, const ForwardOptions& o) override {
    auto h = torch::relu(batch_norm(stem_bn_, conv(stem_conv_, x, p, o), p, o));
    if (imagenet_stem_) h = torch::max_pool2d(h, /*kernel_size=*/3, /*stride=*/2, /*padding=*/1);
    for (const auto& b : blocks_) {
      auto out = torch::relu(batch_norm(b.bn1, conv(b.conv1, h, p, o), p, o));
      out = batch_norm(b.bn2, conv(b.conv2, out, p, o), p, o);
      auto shortcut = b.shortcut_conv >= 0 ? batch_norm(b.shortcut_bn, conv(b.shortcut_conv, h, p, o), p, o) : h;
      h = torch::relu(out + shortcut);
    }
    return pooled_linear(head_, h, p, o);  // global average pool
  }

 private:
  struct Block {
    int64_t conv1 = -1, bn1 = -1, conv2 = -1, bn2 = -1, shortcut_conv = -1, shortcut_bn = -1;
  };
  bool imagenet_stem_;
  int64_t stem_conv_ = -1, stem_bn_ = -1, head_ = -1;
  std::vector<Block> blocks_;
};

}  // namespace

std::unique_ptr<Backbone> build_resnet10(const BackboneOptions& options) {
  return std::make_unique<ResNet>(options, std::vector<int>{1, 1, 1, 1}, /*imagenet_stem=*/true);
}
std::unique_ptr<Backbone> build_resnet18(const BackboneOptions& options) {
  return std::make_unique<ResNet>(options, std::vector<int>{2, 2, 2, 2}, /*imagenet_stem=*/true);
}
std::unique_ptr<Backbone> build_resnet34(const BackboneOptions& options) {
  return std::make_unique<ResNet>(options, std::vector<int>{3, 4, 6, 3}, /*imagenet_stem=*/true);
}
std::unique_ptr<Backbone> build_resnet18_cifar(const BackboneOptions& options) {
  return std::make_unique<ResNet>(options, std::vector<int>{2, 2, 2, 2}, /*imagenet_stem=*/false);
}

}  // namespace backbones
