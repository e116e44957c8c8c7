// Conv4: 4 x [conv3x3 - BN - ReLU - max-pool 2] + linear head (FEWSHOT.md); the first conv is
// decomposed like the others (ACDC.md §2: the stem is decomposed). Convs carry no bias: the
// BatchNorm that follows each one makes a bias redundant.

#include "backbones/builders.h"

#include <torch/torch.h>

#include <stdexcept>

namespace backbones {
namespace {

class Conv4 : public Backbone {
 public:
  explicit Conv4(const BackboneOptions& o) : Backbone(o) {
    if (o.width < 1) throw std::invalid_argument("conv4 width must be at least 1, got " + std::to_string(o.width));
    if (o.image_size < 16) {
      throw std::invalid_argument("conv4 needs images of at least 16 px (four 2x2 max-pools), got " +
                                  std::to_string(o.image_size));
    }
    int64_t in = o.in_channels;
    for (int i = 0; i < 4; ++i) {
      // One stage of equal width: one sharing block (ACDC.md §2: a block is a stage).
      convs_[i] = add_conv3x3("features." + std::to_string(i) + ".conv", in, o.width, /*stride=*/1, "block1");
      bns_[i] = add_batch_norm("features." + std::to_string(i) + ".bn", o.width);
      in = o.width;
    }
    side_ = o.image_size / 16;
    head_ = add_head(o.width * side_ * side_, o.classes);
    finalize();
    set_min_image_size(16);
  }

 protected:
  torch::Tensor run(const torch::Tensor& x, const std::vector<torch::Tensor>& p, const ForwardOptions& o) override {
    auto h = x;
    for (int i = 0; i < 4; ++i) {
      // relu(max_pool(.)) == max_pool(relu(.)) (relu is monotonic): the relu then touches a
      // quarter of the values; BatchNorm, the pool and the relu run fused.
      h = batch_norm_max_pool_relu(bns_[i], conv(convs_[i], h, p, o), p, o);
    }
    // A [width, side, side] map flattened: the same as global pooling only when side is 1.
    record_head_input(h, /*pools_globally=*/side_ == 1, o);
    return linear(head_, h.flatten(1), p, o);
  }

 private:
  int64_t convs_[4] = {};
  int64_t bns_[4] = {};
  int64_t head_ = -1;
  int64_t side_ = 1;
};

}  // namespace

std::unique_ptr<Backbone> build_conv4(const BackboneOptions& options) { return std::make_unique<Conv4>(options); }

}  // namespace backbones
