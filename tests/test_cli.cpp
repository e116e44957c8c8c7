// The command line through the real binary: help, unknown commands and flags exit 2.

#include "tests/support/acdc_meta.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <regex>
#include <string>
#include <vector>

namespace {

using support::run_acdc_meta;

TEST(Cli, HelpListsCommands) {
  auto r = run_acdc_meta("--help");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.output.find("commands:"), std::string::npos);
  EXPECT_NE(r.output.find("info"), std::string::npos);
}

TEST(Cli, UnknownCommandExits2AndNamesIt) {
  auto r = run_acdc_meta("frobnicate");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("'frobnicate'"), std::string::npos);
}

TEST(Cli, UnknownFlagExits2AndNamesIt) {
  auto r = run_acdc_meta("info --no-such-flag");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("--no-such-flag"), std::string::npos);
}

// info names the machine as well as the build: the CPU, its vector instructions, OpenBLAS's
// kernels and whether 3x3 convolutions run by Winograd (what a result's last bits depend on).
TEST(Cli, InfoNamesTheCpuAndItsKernels) {
  auto r = run_acdc_meta("info");
  EXPECT_EQ(r.code, 0);
  for (const char* line :
       {"\nLibTorch ", "\nOpenCV ", "\nCPU ", "\nOpenBLAS kernels ", "\nWinograd 3x3 convolutions: "}) {
    EXPECT_NE(r.output.find(line), std::string::npos) << line << " in\n" << r.output;
  }
  r = run_acdc_meta("info --json", /*merge_stderr=*/false);
  EXPECT_EQ(r.code, 0);
  for (const char* key : {"\"cpu\"", "\"cpu_isa\"", "\"blas_core\"", "\"winograd\"", "\"opencv\""}) {
    EXPECT_NE(r.output.find(key), std::string::npos) << key << " in\n" << r.output;
  }
}

TEST(Cli, SubcommandHelp) {
  auto r = run_acdc_meta("info --help");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.output.find("--json"), std::string::npos);
}

// Issue 14, items 5 and 6: every command's --help prints its defaults as written (0.05, not
// 0.050000000000000003) and leaves out the test hooks (--stop-after, still accepted: the resume
// tests of test_experiments and test_classify use it).
TEST(Cli, HelpShowsDefaultsAsWrittenAndHidesTestHooks) {
  const std::regex long_fraction("[0-9]\\.[0-9]{10,}");
  for (const char* command : {"info", "params", "flops", "data", "bench", "train", "launch", "eval", "adapt", "export",
                              "classify", "analyze"}) {
    const auto r = run_acdc_meta(std::string(command) + " --help");
    if (r.code == 2 && r.output.find("unknown command") != std::string::npos) continue;  // not in this build
    EXPECT_EQ(r.code, 0) << command << "\n" << r.output;
    EXPECT_FALSE(std::regex_search(r.output, long_fraction)) << command << "\n" << r.output;
    EXPECT_EQ(r.output.find("stop-after"), std::string::npos) << command << "\n" << r.output;
  }
  auto r = run_acdc_meta("classify --help");
  EXPECT_NE(r.output.find("--lr arg (=0.05)"), std::string::npos) << r.output;
  // The main job's inner lr is the default (experiments/configs/main.ini, README).
  r = run_acdc_meta("train --help");
  EXPECT_NE(r.output.find("--inner-lr arg (=0.1)"), std::string::npos) << r.output;
}

// Issue 3's figures through the command (counts from ACDC.md §5; ratio 0.524 from §5's
// 291,176,448 / 555,417,600 grouped-vs-standard MACs plus the head).
TEST(Cli, ParamsAndFlopsReproduceThePaperFigures) {
  auto r = run_acdc_meta("params --backbone resnet18-cifar --conv acdc-net --atoms 8 --json");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("\"params\": 2285138"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("\"standard_params\": 11173962"), std::string::npos) << r.output;
  r = run_acdc_meta("params --backbone vgg16 --conv acdc-g-net --atoms 16 --group-size 64 --json");
  EXPECT_NE(r.output.find("\"params\": 88618"), std::string::npos) << r.output;
  r = run_acdc_meta("flops --backbone resnet18-cifar --conv acdc-g-net --atoms 12 --group-size 64 --json");
  EXPECT_NE(r.output.find("\"ratio_to_standard\": 0.524"), std::string::npos) << r.output;
  r = run_acdc_meta("params --backbone resnet19 --conv acdc-net");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("'resnet19'"), std::string::npos) << r.output;
}

// Issue 13, items 7 and 9: an overflowing total and an unwritable profile are refused up front.
TEST(Cli, FlopsOverflowAndBenchProfileDestinationExit2) {
  auto r = run_acdc_meta("flops --batch 99999999999999999");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("--batch 99999999999999999"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("exceed the largest 64-bit integer"), std::string::npos) << r.output;
  r = run_acdc_meta("flops --batch 1000");  // large but representable: still fine
  EXPECT_EQ(r.code, 0) << r.output;
  r = run_acdc_meta("bench --profile /nonexistent-acdc-meta/dir/p.json --iterations 1 --warmup 0 --width 8 --threads 1");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("--profile /nonexistent-acdc-meta/dir/p.json"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("s per meta-iteration"), std::string::npos) << "the benchmark ran: " << r.output;
}

// The Winograd switch: a bad --winograd or ACDC_META_WINOGRAD exits 2 naming the value before any
// work; a good one is reported in bench's JSON, with the CPU.
TEST(Cli, WinogradSettingIsCheckedAndReported) {
  auto r = run_acdc_meta("bench --winograd fast --iterations 1 --warmup 0 --width 16 --threads 1");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("--winograd: Winograd use 'fast' is not one of auto, on, off"), std::string::npos) << r.output;
  r = support::run_command("ACDC_META_WINOGRAD=maybe " + support::acdc_meta_path() +
                           " bench --iterations 1 --warmup 0 --width 16 --threads 1");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("ACDC_META_WINOGRAD: Winograd use 'maybe'"), std::string::npos) << r.output;
  r = run_acdc_meta("bench --winograd off --iterations 1 --warmup 0 --width 16 --threads 1 --json");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("\"winograd\": \"off\""), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("\"cpu\": \""), std::string::npos) << r.output;  // the machine the timing is of
}

// Issue 13, item 6: sizes beyond what the machine can hold are refused before anything is
// allocated (each run takes well under a second), naming the flag and the value.
TEST(Cli, OversizedModelsExit2NamingTheValue) {
  const std::vector<std::array<std::string, 2>> cases = {
      {"params --atoms 100000000", "--atoms must be at most 1024"},
      {"flops --conv acdc-net --atoms 100000000", "--atoms must be at most 1024"},
      {"params --backbone wrn-16-100000", "--backbone: backbone 'wrn-16-100000': width K = 100000 is more than 64"},
      {"flops --backbone wrn-1006-1", "depth 1006 is more than 1000"},
      {"flops --image-size 1000000", "--image-size must be at most 1024"},
      {"params --width 100000000", "--width must be at most 1024"},
      {"params --classes 100000000", "--classes must be at most 100000"},
  };
  for (const auto& [args, expect] : cases) {
    const auto r = run_acdc_meta(args);
    EXPECT_EQ(r.code, 2) << args << "\n" << r.output;
    EXPECT_NE(r.output.find(expect), std::string::npos) << args << "\n" << r.output;
    const auto value = args.substr(args.rfind(' ') + 1);
    EXPECT_NE(r.output.find(value), std::string::npos) << args << ": names the value\n" << r.output;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << args << ": one line\n" << r.output;
  }
}

// Under an address-space limit (ulimit -v, 6 GiB here) the parameter budget is a quarter of the
// limit in 4-byte parameters: a network over it is named before its large layers exist, and an activation
// that does not fit is an out-of-memory error with exit 2, not LibTorch's raw allocator failure.
TEST(Cli, ParameterBudgetAndAllocationFailureExit2) {
  const std::string limit = "ulimit -v 6291456 && ";
  // features.1.conv alone would hold a [1024, 1024, 1024] coefficient tensor (4 GiB).
  auto r = support::run_command(limit + support::acdc_meta_path() +
                                " params --conv acdc-layer --width 1024 --atoms 1024");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("backbone conv4 (conv acdc-layer, atoms 1024, width 1024"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("by layer 'features.1.conv'"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("more than the budget of 402.65 M"), std::string::npos) << r.output;
  // A 1024-channel activation of two 1024 px images is 8 GiB.
  r = support::run_command(limit + "OMP_NUM_THREADS=1 " + support::acdc_meta_path() +
                           " flops --width 1024 --image-size 1024");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("flops: error: out of memory while allocating "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(" GiB); this process may use 6.0 GiB: use smaller sizes"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("enforce fail"), std::string::npos) << r.output;
}

}  // namespace
