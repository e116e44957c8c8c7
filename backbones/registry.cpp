#include "backbones/registry.h"

#include "backbones/builders.h"

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

std::string backbone_list() {
  std::string out;
  for (const auto& info : backbone_infos()) out += (out.empty() ? "" : ", ") + info.name;
  return out;
}

std::unique_ptr<Backbone> make_backbone(const BackboneOptions& options) {
  for (const auto& e : entries()) {
    if (e.matches(options.name)) return e.build(options);
  }
  throw std::invalid_argument("unknown backbone '" + options.name + "' (expected one of: " + backbone_list() + ")");
}

}  // namespace backbones
