#pragma once
// Fuzz harnesses for every reader of untrusted bytes: IDX, CIFAR, the miniImageNet CSV, an image
// folder, the HDF5 cache and the checkpoint loader. Each harness writes its input where the reader
// expects a file and calls the reader; it returns when the input loads and lets the reader's
// exception through when it does not. The contract under test: an input loads or fails with
// std::invalid_argument / std::runtime_error (a named error), never anything else, never a crash
// or a hang. Used by libFuzzer (fuzz_main.cpp, `make fuzz`) and by the CTest driver
// (test_fuzz.cpp), which mutates the valid seed inputs written here.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace fuzz {

struct Seed {
  std::string name;
  std::vector<uint8_t> bytes;
  std::vector<size_t> size_fields;  // offsets of 4-byte size/count fields worth corrupting
};

struct Target {
  std::string name;                                 // idx, cifar, csv, folder, h5cache, checkpoint
  void (*run)(const uint8_t* data, size_t size);    // loads, or throws the reader's error
  std::vector<Seed> (*seeds)();                     // small valid inputs
};

const std::vector<Target>& targets();
const Target& target(const std::string& name);  // throws std::invalid_argument naming it

}  // namespace fuzz
