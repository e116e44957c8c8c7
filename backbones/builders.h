#pragma once
// Builders of the concrete backbones (one file each); registry.cpp lists them.
// A builder validates options (names the bad one) and returns a finalized network.

#include "backbones/backbone.h"

#include <cstdint>
#include <memory>
#include <string>

namespace backbones {

std::unique_ptr<Backbone> build_conv4(const BackboneOptions& options);
std::unique_ptr<Backbone> build_resnet10(const BackboneOptions& options);
std::unique_ptr<Backbone> build_resnet18(const BackboneOptions& options);
std::unique_ptr<Backbone> build_resnet34(const BackboneOptions& options);
std::unique_ptr<Backbone> build_resnet18_cifar(const BackboneOptions& options);
std::unique_ptr<Backbone> build_resnet12(const BackboneOptions& options);
std::unique_ptr<Backbone> build_vgg16(const BackboneOptions& options);
// wrn-D-K: depth and width come from options.name; throws naming a malformed name or depth.
std::unique_ptr<Backbone> build_wrn(const BackboneOptions& options);
bool is_wrn_name(const std::string& name);  // "wrn-" prefix (the builder validates the rest)
// Sanity bounds of wrn-D-K (the published ones go to depth 40 and width 10).
constexpr int64_t kMaxWrnDepth = 1000;
constexpr int64_t kMaxWrnWidth = 64;
// Depth and width of a wrn-D-K name; throws std::invalid_argument naming the name and the bad
// part (malformed, depth not 6N+4, beyond the bounds above).
void parse_wrn_name(const std::string& name, int64_t* depth, int64_t* widen);

}  // namespace backbones
