#pragma once
// Maps backbone names to builders so `--backbone NAME` works in every subcommand.
// Adding a backbone: one new file with its builder, and one row in registry.cpp's table.

#include "backbones/backbone.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace backbones {

using Builder = std::function<std::unique_ptr<Backbone>(const BackboneOptions&)>;

struct BackboneInfo {
  std::string name;         // "conv4", or a pattern such as "wrn-D-K"
  std::string description;  // one line for --help
};

// Builds the network named options.name; throws std::invalid_argument naming an unknown
// backbone and listing the known ones, or naming the bad option.
std::unique_ptr<Backbone> make_backbone(const BackboneOptions& options);
const std::vector<BackboneInfo>& backbone_infos();
// Checks a name without building anything: a listed backbone or a well-formed wrn-D-K within its
// bounds; else std::invalid_argument naming the name (as make_backbone would).
void check_backbone_name(const std::string& name);
// The CIFAR networks of the ACDC paper's tables (vgg16, resnet18-cifar, wrn-D-K): 32 px, 10 classes.
bool is_cifar_backbone(const std::string& name);
// The image size a backbone is usually run at: 32 (CIFAR backbones), 224 (resnet10/18/34, the
// CloserLook setting), 84 (conv4, resnet12: miniImageNet).
int64_t native_image_size(const std::string& name);
// "conv4, resnet10, ..." for messages and --help.
std::string backbone_list();

}  // namespace backbones
