// The storage library: H5File (tensors, attributes, groups, checksums), AtomicFile (commit,
// abandon, stale temporaries of dead processes) and the JSON helpers (read with named errors,
// atomic write, typed fields), against files written here.

#include "datasets/storage/atomic_file.h"
#include "datasets/storage/error.h"
#include "datasets/storage/h5.h"
#include "datasets/storage/json.h"

#include "tests/support/errors.h"
#include "tests/support/files.h"
#include "tests/support/temp_dir.h"

#include <gtest/gtest.h>
#include <hdf5.h>
#include <torch/torch.h>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

using support::TempDir;  // a fresh temporary folder per test, removed afterwards

using support::error_of;

// ---------------------------------------------------------------- H5File, AtomicFile

TEST(H5File, TensorsAttributesGroups) {
  TempDir t;
  {
    auto f = storage::H5File::create(t / "x.h5");
    f.write_tensor("a/b/u8", torch::arange(24, torch::kByte).view({2, 3, 4}), true);
    f.write_tensor("a/i64", torch::tensor({-5, 7}, torch::kLong));
    f.write_tensor("f32", torch::linspace(0, 1, 7, torch::kFloat));
    f.write_tensor("f64", torch::tensor(3.25, torch::kDouble));
    f.write_tensor("empty", torch::empty({0, 4}, torch::kFloat), true);
    f.set_attr("/", "name", std::string("hello"));
    f.set_attr("a", "count", int64_t{42});
    f.set_attr("a/i64", "scale", 0.5);
  }
  const auto f = storage::H5File::open(t / "x.h5");
  EXPECT_TRUE(torch::equal(f.read_tensor("a/b/u8"), torch::arange(24, torch::kByte).view({2, 3, 4})));
  EXPECT_TRUE(torch::equal(f.read_tensor("a/i64"), torch::tensor({-5, 7}, torch::kLong)));
  EXPECT_TRUE(torch::equal(f.read_tensor("f32"), torch::linspace(0, 1, 7, torch::kFloat)));
  EXPECT_EQ(f.read_tensor("f64").item<double>(), 3.25);
  EXPECT_EQ(f.read_tensor("empty").sizes(), torch::IntArrayRef({0, 4}));
  EXPECT_EQ(f.list("/"), (std::vector<std::string>{"a", "empty", "f32", "f64"}));
  EXPECT_EQ(f.list("a"), (std::vector<std::string>{"b", "i64"}));
  EXPECT_TRUE(f.exists("a/b/u8"));
  EXPECT_FALSE(f.exists("a/zz/u8"));
  EXPECT_EQ(f.attr_string("/", "name"), "hello");
  EXPECT_EQ(f.attr_int("a", "count"), 42);
  EXPECT_EQ(f.attr_double("a/i64", "scale"), 0.5);
  EXPECT_TRUE(f.has_attr("a", "count"));
  EXPECT_FALSE(f.has_attr("a", "nope"));
  EXPECT_HAS(error_of([&] { f.read_tensor("nope"); }), "'/nope' is missing");
  EXPECT_HAS(error_of([&] { f.attr_int("a", "nope"); }), "attribute 'nope'");
}

TEST(H5File, ScalarReadsOfAnArrayAttributeAreNamedErrors) {
  TempDir t;
  {
    auto f = storage::H5File::create(t / "x.h5");
    f.set_attr("/", "three", std::vector<double>{1.0, 2.0, 3.0});
    f.set_attr("/", "one", std::vector<double>{4.5});
  }
  {  // An integer array attribute, written with the C API (H5File writes integers as scalars).
    const hid_t file = H5Fopen((t / "x.h5").c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    const hsize_t dims[1] = {2};
    const hid_t space = H5Screate_simple(1, dims, nullptr);
    const hid_t attr = H5Acreate2(file, "ints", H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT);
    const int64_t values[2] = {7, 8};
    ASSERT_GE(H5Awrite(attr, H5T_NATIVE_INT64, values), 0);
    H5Aclose(attr);
    H5Sclose(space);
    H5Fclose(file);
  }
  const auto f = storage::H5File::open(t / "x.h5");
  EXPECT_HAS(error_of([&] { f.attr_double("/", "three"); }), "attribute 'three' of '/' holds 3 values, expected one");
  EXPECT_HAS(error_of([&] { f.attr_int("/", "ints"); }), "attribute 'ints' of '/' holds 2 values, expected one");
  EXPECT_EQ(f.attr_double("/", "one"), 4.5);
  EXPECT_EQ(f.attr_doubles("/", "three"), (std::vector<double>{1.0, 2.0, 3.0}));
}

TEST(AtomicFile, CommitRenamesAbandonRemoves) {
  TempDir t;
  {
    storage::AtomicFile a(t / "kept.txt");
    support::write_file(a.temp_path(), "x");
    a.commit();
  }
  EXPECT_TRUE(fs::exists(t / "kept.txt"));
  std::string temp;
  {
    storage::AtomicFile a(t / "dropped.txt");
    temp = a.temp_path();
    support::write_file(temp, "x");
  }
  EXPECT_FALSE(fs::exists(temp));
  EXPECT_FALSE(fs::exists(t / "dropped.txt"));
}

// Issue 13, item 11: temporaries of a process that no longer runs (a kill) are removed; those
// of live processes and files that merely look similar are kept.
TEST(AtomicFile, StaleTemporariesOfDeadProcessesAreRemoved) {
  TempDir t;
  const pid_t child = fork();  // a pid that is certainly dead once reaped
  if (child == 0) _exit(0);
  ASSERT_GT(child, 0);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  const std::string dead = std::to_string(child), alive = std::to_string(getpid());
  for (const auto& name : {"last.h5.tmp-" + dead + "-0", "metrics.csv.tmp-" + dead + "-12", "best.h5.tmp-" + alive + "-1",
                           "notes.tmp-" + dead, "notes.tmp-x" + dead + "-1", std::string("last.h5")}) {
    support::write_file(t / name, "x");
  }
  auto removed = storage::remove_stale_temporaries(t.str());
  std::sort(removed.begin(), removed.end());
  EXPECT_EQ(removed, (std::vector<std::string>{t / ("last.h5.tmp-" + dead + "-0"), t / ("metrics.csv.tmp-" + dead + "-12")}));
  for (const auto& kept : {"best.h5.tmp-" + alive + "-1", "notes.tmp-" + dead, "notes.tmp-x" + dead + "-1", std::string("last.h5")}) {
    EXPECT_TRUE(fs::exists(t / kept)) << kept;
  }
  EXPECT_TRUE(storage::remove_stale_temporaries(t / "no-such-dir").empty());
}

// Issue 13, item 4: with checksums on, a flipped byte in a dataset is an error naming it.
TEST(H5File, ChecksumsNameADamagedDataset) {
  TempDir t;
  const auto values = torch::arange(64, torch::kFloat);
  {
    auto f = storage::H5File::create(t / "c.h5");
    f.set_checksums(true);
    f.write_tensor("v", values);
    f.write_tensor("scalar", torch::tensor(1.5));  // rank 0: no chunks, no checksum, still written
  }
  EXPECT_TRUE(torch::equal(storage::H5File::open(t / "c.h5").read_tensor("v"), values));
  // The values are stored raw (no compression): flip one of them in the file.
  auto bytes = support::read_file(t / "c.h5");
  const std::string needle(reinterpret_cast<const char*>(values.data_ptr<float>()) + 40 * 4, 16);
  const auto at = bytes.find(needle);
  ASSERT_NE(at, std::string::npos);
  bytes[at] = static_cast<char>(bytes[at] ^ 0x01);
  support::write_file(t / "c.h5", bytes);
  const auto f = storage::H5File::open(t / "c.h5");
  EXPECT_HAS(error_of([&] { f.read_tensor("v"); }), "dataset '/v' fails its Fletcher-32 checksum");
  EXPECT_EQ(f.read_tensor("scalar").item<double>(), 1.5);
}


// ---------------------------------------------------------------- JSON

TEST(Json, WriteReadRoundTripKeepsOrderAndValues) {
  TempDir t;
  storage::json j = {{"zeta", 1}, {"alpha", "text \"quoted\"\n"}, {"pi", 3.25}, {"list", {1, 2, 3}}};
  j["nested"] = {{"ok", true}, {"none", nullptr}};
  j["third"] = 1.0 / 3.0;
  storage::write_json(t / "out.json", j);
  const std::string text = support::read_file(t / "out.json");
  // Insertion order, two-space indent, a final newline.
  EXPECT_EQ(text.rfind("{\n  \"zeta\": 1,\n  \"alpha\": ", 0), 0u) << text;
  EXPECT_EQ(text.back(), '\n');
  const auto back = storage::read_json(t / "out.json");
  EXPECT_EQ(back, j);
  EXPECT_EQ(back["third"].get<double>(), 1.0 / 3.0);  // shortest round-trip text reads back exactly
  EXPECT_EQ(back.begin().key(), "zeta");
  // Nothing but the final file is left (the temporary was renamed).
  EXPECT_EQ(std::distance(fs::directory_iterator(t.str()), fs::directory_iterator()), 1);
}

TEST(Json, DumpWritesNullForNonFiniteAndSurvivesBadUtf8) {
  storage::json j = {{"nan", std::nan("")}, {"inf", std::numeric_limits<double>::infinity()}, {"name", "caf\xe9"}};
  const auto text = storage::dump_json(j, -1);
  EXPECT_EQ(text, "{\"nan\":null,\"inf\":null,\"name\":\"caf\xef\xbf\xbd\"}");
  EXPECT_EQ(storage::dump_json(storage::json::object()), "{}");
  EXPECT_EQ(storage::dump_json(storage::json::array()), "[]");
}

TEST(Json, ReadErrorsNameTheFileAndWhatIsWrong) {
  TempDir t;
  EXPECT_HAS(error_of([&] { storage::read_json(t / "missing.json"); }), "missing.json' not found or not readable");
  EXPECT_HAS(error_of([&] { storage::read_json(t.str()); }), "is a directory");
  support::write_file(t / "bad.json", "{\"a\": 1,\n \"b\": }");
  const auto e = error_of([&] { storage::read_json(t / "bad.json"); });
  EXPECT_HAS(e, "bad.json");
  EXPECT_HAS(e, "not valid JSON");
  EXPECT_HAS(e, "line 2");
  support::write_file(t / "empty.json", "");
  EXPECT_HAS(error_of([&] { storage::read_json(t / "empty.json"); }), "not valid JSON");
  EXPECT_THROW(storage::read_json(t / "bad.json"), storage::FileError);
}

TEST(Json, TypedFieldsNameTheKey) {
  const auto j = storage::parse_json(R"({"s": "x", "i": 7, "u": 18446744073709551615, "f": 2.5, "w": 4.0, "b": true})",
                                     "r.json");
  EXPECT_EQ(storage::json_string(j, "s", "r.json"), "x");
  EXPECT_EQ(storage::json_int(j, "i", "r.json"), 7);
  EXPECT_EQ(storage::json_int(j, "w", "r.json"), 4);
  EXPECT_EQ(storage::json_number(j, "i", "r.json"), 7.0);
  EXPECT_EQ(storage::json_number(j, "f", "r.json"), 2.5);
  EXPECT_TRUE(storage::json_bool(j, "b", "r.json"));
  EXPECT_HAS(error_of([&] { storage::json_int(j, "nope", "r.json"); }), "r.json: field 'nope' is missing");
  EXPECT_HAS(error_of([&] { storage::json_number(j, "s", "r.json"); }), "field 's' is a string, expected a number");
  EXPECT_HAS(error_of([&] { storage::json_int(j, "f", "r.json"); }), "field 'f' is 2.5, expected an integer");
  EXPECT_HAS(error_of([&] { storage::json_int(j, "u", "r.json"); }), "too large");
  EXPECT_HAS(error_of([&] { storage::json_string(j, "i", "r.json"); }), "field 'i' is a number, expected a string");
  EXPECT_HAS(error_of([&] { storage::json_bool(j, "s", "r.json"); }), "expected true or false");
  EXPECT_HAS(error_of([&] { storage::json_field(storage::json::array(), "s", "r.json"); }), "expected a JSON object");
}

TEST(Json, WriteToAMissingFolderNamesThePath) {
  TempDir t;
  try {
    storage::write_json(t / "no/such/dir/x.json", storage::json::object());
    FAIL() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_HAS(e.what(), "no/such/dir/x.json");
  }
}

}  // namespace
