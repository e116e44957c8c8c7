// The command line through the real binary: help, unknown commands and flags exit 2.

#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <string>
#include <sys/wait.h>

namespace {

struct Result {
  int code;
  std::string output;
};

Result run(const std::string& args) {
  const std::string cmd = std::string(ACDC_META_BIN) + " " + args + " 2>&1";
  FILE* pipe = popen(cmd.c_str(), "r");
  std::string out;
  std::array<char, 4096> buf{};
  while (pipe && fgets(buf.data(), static_cast<int>(buf.size()), pipe)) out += buf.data();
  const int status = pipe ? pclose(pipe) : -1;
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

TEST(Cli, HelpListsCommands) {
  auto r = run("--help");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.output.find("commands:"), std::string::npos);
  EXPECT_NE(r.output.find("info"), std::string::npos);
}

TEST(Cli, UnknownCommandExits2AndNamesIt) {
  auto r = run("frobnicate");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("'frobnicate'"), std::string::npos);
}

TEST(Cli, UnknownFlagExits2AndNamesIt) {
  auto r = run("info --no-such-flag");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("--no-such-flag"), std::string::npos);
}

TEST(Cli, SubcommandHelp) {
  auto r = run("info --help");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.output.find("--json"), std::string::npos);
}

// Issue 3's figures through the command (counts from ACDC.md §5; ratio 0.524 from §5's
// 291,176,448 / 555,417,600 grouped-vs-standard MACs plus the head).
TEST(Cli, ParamsAndFlopsReproduceThePaperFigures) {
  auto r = run("params --backbone resnet18-cifar --conv acdc-net --atoms 8 --json");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("\"params\": 2285138"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("\"standard_params\": 11173962"), std::string::npos) << r.output;
  r = run("params --backbone vgg16 --conv acdc-g-net --atoms 16 --group-size 64 --json");
  EXPECT_NE(r.output.find("\"params\": 88618"), std::string::npos) << r.output;
  r = run("flops --backbone resnet18-cifar --conv acdc-g-net --atoms 12 --group-size 64 --json");
  EXPECT_NE(r.output.find("\"ratio_to_standard\": 0.524"), std::string::npos) << r.output;
  r = run("params --backbone resnet19 --conv acdc-net");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("'resnet19'"), std::string::npos) << r.output;
}

// Issue 13, items 7 and 9: an overflowing total and an unwritable profile are refused up front.
TEST(Cli, FlopsOverflowAndBenchProfileDestinationExit2) {
  auto r = run("flops --batch 99999999999999999");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("--batch 99999999999999999"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("exceed the largest 64-bit integer"), std::string::npos) << r.output;
  r = run("flops --batch 1000");  // large but representable: still fine
  EXPECT_EQ(r.code, 0) << r.output;
  r = run("bench --profile /nonexistent-acdc-meta/dir/p.json --iterations 1 --warmup 0 --width 8 --threads 1");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("--profile /nonexistent-acdc-meta/dir/p.json"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("s per meta-iteration"), std::string::npos) << "the benchmark ran: " << r.output;
}

}  // namespace
