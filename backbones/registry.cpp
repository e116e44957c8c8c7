#include "backbones/registry.h"

#include "backbones/builders.h"

#include "acdc/group_size.h"

#include <stdexcept>

namespace backbones {
namespace {

struct Entry {
  BackboneInfo info;
  // Whether `name` selects this entry (exact name, or a family pattern such as wrn-D-K).
  std::function<bool(const std::string&)> matches;
  Builder build;
};

std::function<bool(const std::string&)> exactly(const std::string& name) {
  return [name](const std::string& n) { return n == name; };
}

const std::vector<Entry>& entries() {
  static const std::vector<Entry> table = {
      {{"conv4", "4 x [conv3x3-BN-ReLU-maxpool] + linear head (--width 64; 32/48 in the literature)"},
       exactly("conv4"), build_conv4},
      {{"resnet10", "CloserLook ResNet10: 7x7/2 stem + max-pool, blocks [1,1,1,1], widths 64-512 (224 or 84 px)"},
       exactly("resnet10"), build_resnet10},
      {{"resnet18", "CloserLook ResNet18: 7x7/2 stem + max-pool, blocks [2,2,2,2], widths 64-512 (224 or 84 px)"},
       exactly("resnet18"), build_resnet18},
      {{"resnet34", "CloserLook ResNet34: 7x7/2 stem + max-pool, blocks [3,4,6,3], widths 64-512 (224 or 84 px)"},
       exactly("resnet34"), build_resnet34},
      {{"resnet12", "ResNet12: 4 residual blocks of three 3x3 convs, widths 64-160-320-640, max-pool after each"},
       exactly("resnet12"), build_resnet12},
      {{"resnet18-cifar", "CIFAR ResNet18 (kuangliu): 3x3 stride-1 stem, no max-pool, [2,2,2,2] (32 px)"},
       exactly("resnet18-cifar"), build_resnet18_cifar},
      {{"vgg16", "CIFAR VGG16 (config D, conv-BN-ReLU, 5 max-pools, one linear layer; 32 px)"},
       exactly("vgg16"), build_vgg16},
      {{"wrn-D-K", "pre-activation wide ResNet of depth D = 6N+4 and width K (wrn-40-4, wrn-28-10, wrn-16-2; 32 px)"},
       is_wrn_name, build_wrn},
  };
  return table;
}

}  // namespace

const std::vector<BackboneInfo>& backbone_infos() {
  static const std::vector<BackboneInfo> infos = [] {
    std::vector<BackboneInfo> out;
    for (const auto& e : entries()) out.push_back(e.info);
    return out;
  }();
  return infos;
}

void check_backbone_name(const std::string& name) {
  if (is_wrn_name(name)) {
    int64_t depth = 0, widen = 0;
    parse_wrn_name(name, &depth, &widen);
    return;
  }
  for (const auto& e : entries()) {
    if (e.matches(name)) return;
  }
  throw std::invalid_argument("unknown backbone '" + name + "' (expected one of: " + backbone_list() + ")");
}

bool is_cifar_backbone(const std::string& name) {
  return name == "vgg16" || name == "resnet18-cifar" || is_wrn_name(name);
}

int64_t native_image_size(const std::string& name) {
  if (is_cifar_backbone(name)) return 32;
  if (name == "resnet10" || name == "resnet18" || name == "resnet34") return 224;
  return 84;
}

std::string backbone_list() {
  std::string out;
  for (const auto& info : backbone_infos()) out += (out.empty() ? "" : ", ") + info.name;
  return out;
}

std::unique_ptr<Backbone> make_backbone(const BackboneOptions& options) {
  for (const auto& e : entries()) {
    if (!e.matches(options.name)) continue;
    try {
      return e.build(options);
    } catch (const acdc::GroupSizeError& error) {
      // The sizes that work for every layer: of the refusing layer's, those the whole network
      // takes (a few builds, on this error path only).
      std::vector<int64_t> valid;
      for (const auto size : error.layer_sizes) {
        auto probe = options;
        probe.conv.group_size = size;
        try {
          e.build(probe);
          valid.push_back(size);
        } catch (const acdc::GroupSizeError&) {
        }
      }
      const std::string network =
          options.name + (options.name == "conv4" ? " width " + std::to_string(options.width) : std::string());
      throw std::invalid_argument(error.problem + "; valid sizes for " + network + ": " +
                                  (valid.empty() ? std::string("none up to that layer's channels")
                                                 : acdc::join_sizes(valid)));
    }
  }
  throw std::invalid_argument("unknown backbone '" + options.name + "' (expected one of: " + backbone_list() + ")");
}

}  // namespace backbones
