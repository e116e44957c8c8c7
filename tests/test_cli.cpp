// The command line through the real binary: help, unknown commands and flags exit 2; and the
// number formatting every command prints with (experiments/report/numbers.h).

#include "experiments/report/numbers.h"

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

// Golden texts: what printf("%.*f" / "%.*g") and the former ostream helpers printed for the same
// values (checked against both over 300,000 random doubles when the helpers moved to fmt).
TEST(Numbers, SameTextAsPrintf) {
  EXPECT_EQ(experiments::fixed(3.14159, 2), "3.14");
  EXPECT_EQ(experiments::fixed(2.5, 0), "2");  // round half to even, as printf
  EXPECT_EQ(experiments::fixed(-0.0001, 3), "-0.000");
  EXPECT_EQ(experiments::fixed_unsigned_zero(-0.0001, 3), "0.000");
  EXPECT_EQ(experiments::fixed_unsigned_zero(-0.0006, 3), "-0.001");
  EXPECT_EQ(experiments::significant(0.012345, 3), "0.0123");
  EXPECT_EQ(experiments::significant(1e-5, 3), "1e-05");
  EXPECT_EQ(experiments::significant(1234567.0, 6), "1.23457e+06");
  EXPECT_EQ(experiments::round_trip(0.1), "0.1");
  EXPECT_EQ(experiments::round_trip(1.0), "1");
  EXPECT_EQ(experiments::round_trip(1e6), "1e+06");
  EXPECT_EQ(experiments::round_trip(1.0 / 3.0), "0.3333333333333333");
  EXPECT_EQ(experiments::round_trip(std::numeric_limits<double>::infinity()), "inf");
  EXPECT_EQ(experiments::grouped(0), "0");
  EXPECT_EQ(experiments::grouped(999), "999");
  EXPECT_EQ(experiments::grouped(1234567), "1,234,567");
  EXPECT_EQ(experiments::grouped(-1000), "-1,000");
  EXPECT_EQ(experiments::grouped(std::numeric_limits<int64_t>::min()), "-9,223,372,036,854,775,808");
}

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
