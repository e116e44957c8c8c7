#pragma once
// Which group sizes s an acdc-g-* conv layer accepts (reference/ACDC.md §3): s divides each
// channel count it is smaller than, and the output channels split into the input's groups.

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace acdc {

// The group sizes in [1, max(in_channels, out_channels)] a layer of these channel counts accepts
// (a larger size acts as the largest channel count).
std::vector<int64_t> valid_group_sizes(int64_t in_channels, int64_t out_channels);

// "" when a layer of these channel counts accepts group size s, else what is wrong ("group size
// 48 does not divide its 64 output channels").
std::string group_size_problem(int64_t s, int64_t in_channels, int64_t out_channels);

// A layer refused the group size: `problem` names the layer and what is wrong, `layer_sizes` are
// the sizes that layer accepts (what() says both).
struct GroupSizeError : std::invalid_argument {
  GroupSizeError(std::string problem_, std::vector<int64_t> sizes);
  std::string problem;
  std::vector<int64_t> layer_sizes;
};

// "1, 2, 4"
std::string join_sizes(const std::vector<int64_t>& sizes);

}  // namespace acdc
