#pragma once
// Builders of the concrete backbones (one file each); registry.cpp lists them.
// A builder validates options (names the bad one) and returns a finalized network.

#include "backbones/backbone.h"

#include <memory>

namespace backbones {

std::unique_ptr<Backbone> build_conv4(const BackboneOptions& options);

}  // namespace backbones
