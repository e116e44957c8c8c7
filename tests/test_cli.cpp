// The command line through the real binary: help, unknown commands and flags exit 2.

#include "tests/support/acdc_meta.h"

#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>

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

TEST(Cli, SubcommandHelp) {
  auto r = run_acdc_meta("info --help");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.output.find("--json"), std::string::npos);
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

}  // namespace
