// ResNet12 as used in newer few-shot work (MetaOptNet / FEAT layout, without DropBlock):
// 4 residual blocks of three 3x3 conv-BN (LeakyReLU 0.1 after the first two), a 1x1 conv + BN
// shortcut, LeakyReLU after the sum, 2x2 max-pool after each block; widths 64-160-320-640;
// global average pool and a linear head. Any image of at least 16 px (four max-pools).
//
// Every 3x3 conv (the first one too) is decomposed; the 1x1 shortcuts stay standard. Sharing
// blocks: each residual block is a stage (its convs share output channels and resolution; the
// pool comes after the block), block1..block4. With the acdc-g-* types the group size must
// divide 64, 160, 320 and 640 (e.g. 32 or 16).
// Names: layer<s>.conv1/bn1/conv2/bn2/conv3/bn3, layer<s>.shortcut.conv/bn, head.

#include "backbones/builders.h"
#include "backbones/max_pool.h"

#include <torch/torch.h>

#include <stdexcept>

namespace backbones {
namespace {

constexpr double kLeak = 0.1;

class ResNet12 : public Backbone {
 public:
  explicit ResNet12(const BackboneOptions& o) : Backbone(o) {
    if (o.image_size < 16) {
      throw std::invalid_argument("resnet12 needs images of at least 16 px (four 2x2 max-pools), got " +
                                  std::to_string(o.image_size));
    }
    const int64_t widths[4] = {64, 160, 320, 640};
    int64_t in = o.in_channels;
    for (int s = 0; s < 4; ++s) {
      const std::string prefix = "layer" + std::to_string(s + 1);
      Block blk;
      for (int i = 0; i < 3; ++i) {
        blk.convs[i] = add_conv3x3(prefix + ".conv" + std::to_string(i + 1), i == 0 ? in : widths[s], widths[s],
                                   /*stride=*/1, "block" + std::to_string(s + 1));
        blk.bns[i] = add_batch_norm(prefix + ".bn" + std::to_string(i + 1), widths[s]);
      }
      blk.shortcut_conv = add_shortcut(prefix + ".shortcut.conv", in, widths[s], /*stride=*/1);
      blk.shortcut_bn = add_batch_norm(prefix + ".shortcut.bn", widths[s]);
      blocks_.push_back(blk);
      in = widths[s];
    }
    head_ = add_head(640, o.classes);
    finalize();
    set_min_image_size(16);
  }

 protected:
  torch::Tensor run(const torch::Tensor& x, const std::vector<torch::Tensor>& p, const ForwardOptions& o) override {
    auto h = x;
    for (const auto& b : blocks_) {
      auto out = h;
      for (int i = 0; i < 3; ++i) {
        out = batch_norm(b.bns[i], conv(b.convs[i], out, p, o), p, o);
        if (i < 2) out = torch::leaky_relu(out, kLeak);
      }
      auto shortcut = batch_norm(b.shortcut_bn, conv(b.shortcut_conv, h, p, o), p, o);
      // LeakyReLU is monotonic: pooling first gives the same values on a quarter of the data.
      h = torch::leaky_relu(max_pool2x2(out + shortcut), kLeak);
    }
    return pooled_linear(head_, h, p, o);
  }

 private:
  struct Block {
    int64_t convs[3] = {-1, -1, -1};
    int64_t bns[3] = {-1, -1, -1};
    int64_t shortcut_conv = -1, shortcut_bn = -1;
  };
  std::vector<Block> blocks_;
  int64_t head_ = -1;
};

}  // namespace

std::unique_ptr<Backbone> build_resnet12(const BackboneOptions& options) { return std::make_unique<ResNet12>(options); }

}  // namespace backbones
