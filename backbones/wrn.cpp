// Wide ResNet wrn-D-K (Zagoruyko & Komodakis 2016; the pre-activation layout of the reference
// PyTorch port xternalz/WideResNet-pytorch, without dropout): a 3x3 conv 3->16 stem, three groups
// of N = (D-4)/6 pre-activation BasicBlocks of widths 16K, 32K, 64K (strides 1, 2, 2), each block
// BN-ReLU-conv3x3-BN-ReLU-conv3x3 with a 1x1 conv shortcut on the activated input where the
// width or resolution changes, then BN-ReLU, global average pool, Linear(64K, classes).
// Convs carry no bias. Any image of at least 4 px. Exact counts at 10 classes (ACDC.md §5):
// wrn-40-4 8,949,210; wrn-28-10 36,479,194; wrn-40-1 563,930.
//
// Sharing blocks (ACDC.md §2): the three width groups; the 16-channel stem joins group 1
// (block1, whose coefficient is then [16K, 16K, m] — reproduces acdc-block 746,130 at m=8).
// Names: stem.conv, layer<g>.<b>.bn1/conv1/bn2/conv2, layer<g>.<b>.shortcut.conv, final.bn, head.

#include "backbones/builders.h"

#include <torch/torch.h>

#include <cctype>
#include <stdexcept>

namespace backbones {
namespace {

bool parse_positive(const std::string& s, int64_t* value) {
  if (s.empty() || s.size() > 6) return false;
  for (const char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  }
  *value = std::stoll(s);
  return *value > 0;
}

class WideResNet : public Backbone {
 public:
  WideResNet(const BackboneOptions& o, int64_t depth, int64_t widen) : Backbone(o) {
    if (o.image_size < 4) {
      throw std::invalid_argument(o.name + " needs images of at least 4 px (two stride-2 stages), got " +
                                  std::to_string(o.image_size));
    }
    const int64_t n = (depth - 4) / 6;
    stem_ = add_conv3x3("stem.conv", o.in_channels, 16, /*stride=*/1, "block1");
    int64_t in = 16;
    for (int g = 0; g < 3; ++g) {
      const int64_t w = (16 << g) * widen;
      for (int64_t b = 0; b < n; ++b) {
        const std::string prefix = "layer" + std::to_string(g + 1) + "." + std::to_string(b);
        const int64_t stride = (g > 0 && b == 0) ? 2 : 1;
        Block blk;
        const std::string block = "block" + std::to_string(g + 1);
        blk.bn1 = add_batch_norm(prefix + ".bn1", in);
        blk.conv1 = add_conv3x3(prefix + ".conv1", in, w, stride, block);
        blk.bn2 = add_batch_norm(prefix + ".bn2", w);
        blk.conv2 = add_conv3x3(prefix + ".conv2", w, w, /*stride=*/1, block);
        if (in != w || stride != 1) blk.shortcut = add_shortcut(prefix + ".shortcut.conv", in, w, stride);
        blocks_.push_back(blk);
        in = w;
      }
    }
    final_bn_ = add_batch_norm("final.bn", in);
    head_ = add_head(in, o.classes);
    finalize();
    set_min_image_size(4);
  }

 protected:
  torch::Tensor run(const torch::Tensor& x, const std::vector<torch::Tensor>& p, const ForwardOptions& o) override {
    auto h = conv(stem_, x, p, o);
    for (const auto& b : blocks_) {
      auto act = torch::relu(batch_norm(b.bn1, h, p, o));
      auto out = conv(b.conv1, act, p, o);
      out = conv(b.conv2, torch::relu(batch_norm(b.bn2, out, p, o)), p, o);
      // The reference port feeds the activated input to the projection shortcut.
      h = out + (b.shortcut >= 0 ? conv(b.shortcut, act, p, o) : h);
    }
    h = torch::relu(batch_norm(final_bn_, h, p, o));
    return pooled_linear(head_, h, p, o);
  }

 private:
  struct Block {
    int64_t bn1 = -1, conv1 = -1, bn2 = -1, conv2 = -1, shortcut = -1;
  };
  int64_t stem_ = -1, final_bn_ = -1, head_ = -1;
  std::vector<Block> blocks_;
};

}  // namespace

bool is_wrn_name(const std::string& name) { return name.rfind("wrn-", 0) == 0; }

void parse_wrn_name(const std::string& name, int64_t* depth, int64_t* widen) {
  const auto dash = name.find('-', 4);
  if (!is_wrn_name(name) || dash == std::string::npos || !parse_positive(name.substr(4, dash - 4), depth) ||
      !parse_positive(name.substr(dash + 1), widen)) {
    throw std::invalid_argument("backbone '" + name +
                                "': expected wrn-D-K with depth D and width K positive integers (e.g. wrn-28-10, "
                                "wrn-40-4, wrn-16-2)");
  }
  if (*depth < 10 || (*depth - 4) % 6 != 0) {
    throw std::invalid_argument("backbone '" + name + "': depth " + std::to_string(*depth) +
                                " is not 6N+4 with N >= 1 (10, 16, 22, 28, 34, 40, ...)");
  }
  // Sanity bounds, checked before any layer exists: parameters grow with D and with K^2.
  if (*depth > kMaxWrnDepth) {
    throw std::invalid_argument("backbone '" + name + "': depth " + std::to_string(*depth) + " is more than " +
                                std::to_string(kMaxWrnDepth) + " (the deepest wide ResNet published has depth 40)");
  }
  if (*widen > kMaxWrnWidth) {
    throw std::invalid_argument("backbone '" + name + "': width K = " + std::to_string(*widen) + " is more than " +
                                std::to_string(kMaxWrnWidth) +
                                " (wrn-28-10 has 36.5 M parameters; they grow with K^2: wrn-28-64 would have 1.5 G)");
  }
}

std::unique_ptr<Backbone> build_wrn(const BackboneOptions& options) {
  int64_t depth = 0, widen = 0;
  parse_wrn_name(options.name, &depth, &widen);
  return std::make_unique<WideResNet>(options, depth, widen);
}

}  // namespace backbones
