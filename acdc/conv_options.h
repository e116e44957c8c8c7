#pragma once
// The conv types of ACDC (reference/ACDC.md §2–§4) and the options that configure them.

#include <cstdint>
#include <string>
#include <vector>

namespace acdc {

// Which convolution a layer uses; the ACDC variants differ in who shares one coefficient
// tensor (layer, block or whole net) and whether the layer is grouped (the -g- variants).
enum class ConvType {
  kStandard,
  kLayer,
  kBlock,
  kNet,
  kGroupedLayer,
  kGroupedBlock,
  kGroupedNet,
};

// Scope over which one coefficient tensor is shared.
enum class Scope { kNone, kLayer, kBlock, kNet };

// How atoms are initialised (ACDC.md §1; the paper is silent).
enum class AtomInit { kNormal, kDct };

// Parses "standard", "acdc-layer", ..., "acdc-g-net"; throws std::invalid_argument naming
// the bad value and listing the allowed ones.
ConvType parse_conv_type(const std::string& name);
std::string to_string(ConvType type);
const std::vector<std::string>& conv_type_names();

AtomInit parse_atom_init(const std::string& name);
std::string to_string(AtomInit init);

bool is_decomposed(ConvType type);
bool is_grouped(ConvType type);
Scope sharing_scope(ConvType type);

struct ConvOptions {
  ConvType type = ConvType::kStandard;
  int64_t atoms = 8;          // m: dictionary atoms per layer (per atom group when grouped)
  int64_t group_size = 64;    // s: channels per group for the acdc-g-* types
  double atom_drop = 0.0;     // p: training-only probability of dropping an atom
  AtomInit atom_init = AtomInit::kNormal;

  // Throws std::invalid_argument naming the bad field and value (m = 0, s < 1, p outside [0, 1)).
  void validate() const;
};

}  // namespace acdc
