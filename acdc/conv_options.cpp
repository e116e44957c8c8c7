#include "acdc/conv_options.h"

#include <stdexcept>

namespace acdc {
namespace {

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

}  // namespace

const std::vector<std::string>& conv_type_names() {
  static const std::vector<std::string> names = {
      "standard", "acdc-layer", "acdc-block", "acdc-net", "acdc-g-layer", "acdc-g-block", "acdc-g-net"};
  return names;
}

ConvType parse_conv_type(const std::string& name) {
  const auto& names = conv_type_names();
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] == name) return static_cast<ConvType>(i);
  }
  throw std::invalid_argument("unknown conv type '" + name + "' (expected one of: " + joined(names) + ")");
}

std::string to_string(ConvType type) { return conv_type_names().at(static_cast<size_t>(type)); }

AtomInit parse_atom_init(const std::string& name) {
  if (name == "normal") return AtomInit::kNormal;
  if (name == "dct") return AtomInit::kDct;
  throw std::invalid_argument("unknown atom init '" + name + "' (expected one of: normal, dct)");
}

std::string to_string(AtomInit init) { return init == AtomInit::kDct ? "dct" : "normal"; }

bool is_decomposed(ConvType type) { return type != ConvType::kStandard; }

bool is_grouped(ConvType type) {
  return type == ConvType::kGroupedLayer || type == ConvType::kGroupedBlock || type == ConvType::kGroupedNet;
}

Scope sharing_scope(ConvType type) {
  switch (type) {
    case ConvType::kStandard: return Scope::kNone;
    case ConvType::kLayer:
    case ConvType::kGroupedLayer: return Scope::kLayer;
    case ConvType::kBlock:
    case ConvType::kGroupedBlock: return Scope::kBlock;
    case ConvType::kNet:
    case ConvType::kGroupedNet: return Scope::kNet;
  }
  return Scope::kNone;
}

void ConvOptions::validate() const {
  if (is_decomposed(type) && atoms < 1) {
    throw std::invalid_argument("atoms (m) must be at least 1, got " + std::to_string(atoms));
  }
  if (is_grouped(type) && group_size < 1) {
    throw std::invalid_argument("group size (s) must be at least 1, got " + std::to_string(group_size));
  }
  if (!(atom_drop >= 0.0 && atom_drop < 1.0)) {
    throw std::invalid_argument("atom-drop rate (p) must be in [0, 1), got " + std::to_string(atom_drop));
  }
}

}  // namespace acdc
