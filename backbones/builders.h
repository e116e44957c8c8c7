#pragma once
// Builders of the concrete backbones (one file each); registry.cpp lists them.
// A builder validates options (names the bad one) and returns a finalized network.

#include "backbones/backbone.h"

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

}  // namespace backbones
