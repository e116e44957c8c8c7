// The datasets library against fixtures written here in each real on-disk layout (IDX gzip and
// raw, CIFAR records, Ravi CSVs + PNG/JPEG images written with OpenCV, class folders,
// torchmeta HDF5 written with the HDF5 C API, TinyImageNet), the real Fashion-MNIST, the
// project's HDF5 cache, and every bad input of issue 4 with its named error.

#include "datasets/dataset.h"
#include "datasets/field_error.h"
#include "datasets/internal/readers.h"
#include "datasets/source.h"
#include "datasets/storage/h5.h"
#include "tests/support/files.h"
#include "tests/support/temp_dir.h"
#ifdef ACDC_META_BIN
#include "tests/support/acdc_meta.h"
#endif

#include "tests/support/errors.h"

#include <gtest/gtest.h>
#include <hdf5.h>
#include <torch/torch.h>
#include <zlib.h>

#ifdef ACDC_META_DATASETS_OPENCV
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#endif

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>

namespace {

namespace fs = std::filesystem;
using datasets::DataError;

using support::be32;
using support::read_file;
using support::TempDir;  // a fresh temporary folder per test, removed afterwards
using support::write_file;

void write_gz(const std::string& path, const std::string& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(f);
}

// IDX images: pixel (n, r, c) = (n * 7 + r * 3 + c) % 256; labels n % 10.
std::string idx_images(int n, int rows, int cols) {
  std::string s = be32(2051) + be32(n) + be32(rows) + be32(cols);
  for (int i = 0; i < n; ++i)
    for (int r = 0; r < rows; ++r)
      for (int c = 0; c < cols; ++c) s += static_cast<char>((i * 7 + r * 3 + c) % 256);
  return s;
}
std::string idx_labels(int n) {
  std::string s = be32(2049) + be32(n);
  for (int i = 0; i < n; ++i) s += static_cast<char>(i % 10);
  return s;
}

void write_idx_set(const std::string& dir, bool gz, int n_train = 40, int n_test = 20) {
  fs::create_directories(dir);
  auto put = [&](const std::string& name, const std::string& bytes) {
    if (gz) write_gz(dir + "/" + name + ".gz", bytes);
    else write_file(dir + "/" + name, bytes);
  };
  put("train-images-idx3-ubyte", idx_images(n_train, 6, 4));
  put("train-labels-idx1-ubyte", idx_labels(n_train));
  put("t10k-images-idx3-ubyte", idx_images(n_test, 6, 4));
  put("t10k-labels-idx1-ubyte", idx_labels(n_test));
}

using support::error_of;

// ---------------------------------------------------------------- IDX

TEST(Subset, FirstPerClassKeepsFileOrderAndEachClassesFirstImages) {
  datasets::Split s;
  // Labels 0 1 0 2 0 1 2 2 (3 classes, unbalanced); each image's pixels hold its index.
  s.labels = torch::tensor({0, 1, 0, 2, 0, 1, 2, 2}, torch::kLong);
  s.images = torch::arange(8, torch::kByte).view({8, 1, 1, 1}).expand({8, 2, 2, 1}).contiguous();
  s.class_names = {"a", "b", "c"};
  const auto two = datasets::first_per_class(s, 2);
  // Class 0: images 0, 2; class 1: 1, 5; class 2: 3, 6; in file order.
  EXPECT_TRUE(torch::equal(two.images.select(1, 0).select(1, 0).flatten(), torch::tensor({0, 1, 2, 3, 5, 6}, torch::kByte)));
  EXPECT_TRUE(torch::equal(two.labels, torch::tensor({0, 1, 0, 2, 1, 2}, torch::kLong)));
  EXPECT_EQ(two.class_names, s.class_names);
  EXPECT_EQ(datasets::first_per_class(s, 0).size(), 8);  // 0 = all
  EXPECT_EQ(datasets::first_per_class(s, 5).size(), 8);  // more than any class holds
}

TEST(Subset, RotatedClassesAreNewClassesOfTurnedImages) {
  datasets::Split s;
  // Two classes, one 2x2 image each: [[1, 2], [3, 4]] (class 0) and [[5, 6], [7, 8]] (class 1).
  s.images = torch::arange(1, 9, torch::kByte).view({2, 2, 2, 1});
  s.labels = torch::tensor({0, 1}, torch::kLong);
  s.class_names = {"a", "b"};
  const auto four = datasets::with_rotated_classes(s, 4);
  ASSERT_EQ(four.size(), 8);
  EXPECT_TRUE(torch::equal(four.labels, torch::tensor({0, 1, 2, 3, 4, 5, 6, 7}, torch::kLong)));
  EXPECT_EQ(four.class_names, (std::vector<std::string>{"a", "b", "a@90", "b@90", "a@180", "b@180", "a@270", "b@270"}));
  // Each quarter turn is counter-clockwise, by hand: [[1, 2], [3, 4]] -> [[2, 4], [1, 3]] ->
  // [[4, 3], [2, 1]] -> [[3, 1], [4, 2]].
  const auto pixels = [&](int64_t i) { return four.images[i].flatten(); };
  EXPECT_TRUE(torch::equal(pixels(0), torch::tensor({1, 2, 3, 4}, torch::kByte)));
  EXPECT_TRUE(torch::equal(pixels(2), torch::tensor({2, 4, 1, 3}, torch::kByte)));
  EXPECT_TRUE(torch::equal(pixels(4), torch::tensor({4, 3, 2, 1}, torch::kByte)));
  EXPECT_TRUE(torch::equal(pixels(6), torch::tensor({3, 1, 4, 2}, torch::kByte)));
  EXPECT_TRUE(torch::equal(pixels(7), torch::tensor({7, 5, 8, 6}, torch::kByte)));
  EXPECT_TRUE(four.images.is_contiguous());

  const auto two = datasets::with_rotated_classes(s, 2);  // 180 degrees only
  EXPECT_EQ(two.class_names, (std::vector<std::string>{"a", "b", "a@180", "b@180"}));
  EXPECT_TRUE(torch::equal(two.images[3].flatten(), torch::tensor({8, 7, 6, 5}, torch::kByte)));
  EXPECT_TRUE(torch::equal(datasets::with_rotated_classes(s, 1).images, s.images));

  EXPECT_HAS(error_of([&] { datasets::with_rotated_classes(s, 3); }), "must be 1, 2 or 4, got 3");
  datasets::Split wide = s;
  wide.images = torch::zeros({2, 2, 3, 1}, torch::kByte);
  EXPECT_HAS(error_of([&] { datasets::with_rotated_classes(wide, 4); }), "square images, these are 2x3");
  EXPECT_EQ(datasets::with_rotated_classes(wide, 2).size(), 4);  // 180 degrees keeps the shape
}

TEST(Idx, GzipAndRawReadBackBitExactWithFewShotSplit) {
  for (bool gz : {true, false}) {
    TempDir t;
    write_idx_set(t.str(), gz);
    const auto s = datasets::read_source("fashion-mnist:" + t.str());
    ASSERT_EQ(s.parts.size(), 2u);
    const auto& train = s.get("train").data;
    ASSERT_EQ(train.images.sizes(), torch::IntArrayRef({40, 6, 4, 1}));
    EXPECT_EQ(train.images[13][5][2][0].item<int>(), (13 * 7 + 5 * 3 + 2) % 256);
    EXPECT_EQ(train.labels[13].item<int64_t>(), 3);
    EXPECT_EQ(train.class_names[9], "Ankle boot");

    const auto d = datasets::load_dataset("fashion-mnist:" + t.str());
    // Few-shot split: train = classes 0-4 of train part, val = 5-9 of train, test = 5-9 of test.
    EXPECT_EQ(d.train.size(), 20);
    EXPECT_EQ(d.val.size(), 20);
    EXPECT_EQ(d.test.size(), 10);
    EXPECT_EQ(d.train.class_names, (std::vector<std::string>{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat"}));
    EXPECT_EQ(d.val.class_names[0], "Sandal");
    // val image 0 is train image 5 (label 5 -> local 0): file order is kept.
    EXPECT_EQ(d.val.labels[0].item<int64_t>(), 0);
    EXPECT_TRUE(torch::equal(d.val.images[0], train.images[5]));
    EXPECT_EQ(d.test.labels.max().item<int64_t>(), 4);
    EXPECT_EQ(d.kind, "fashion-mnist");

    const auto c = datasets::load_classification_dataset("mnist:" + t.str());
    EXPECT_EQ(c.train.size(), 40);
    EXPECT_EQ(c.test.size(), 20);
    EXPECT_EQ(c.train.num_classes(), 10);
    EXPECT_EQ(c.val.size(), 0);
    EXPECT_EQ(c.train.class_names[3], "3");
  }
}

TEST(Idx, WrongMagicTruncatedAndMismatchedAreNamed) {
  TempDir t;
  write_file(t / "labels-as-images", idx_labels(20));
  EXPECT_HAS(error_of([&] { datasets::internal::read_idx_images(t / "labels-as-images"); }), "magic number 2049");
  EXPECT_HAS(error_of([&] { datasets::internal::read_idx_images(t / "labels-as-images"); }), "labels-as-images");

  auto full = idx_images(10, 6, 4);
  write_file(t / "raw-cut", full.substr(0, full.size() - 30));
  auto e = error_of([&] { datasets::internal::read_idx_images(t / "raw-cut"); });
  EXPECT_HAS(e, "truncated");
  EXPECT_HAS(e, "raw-cut");

  // A gzip stream cut in the middle.
  write_gz(t / "gz-full.gz", full);
  const auto gz = read_file(t / "gz-full.gz");
  write_file(t / "gz-cut.gz", gz.substr(0, gz.size() / 2));
  e = error_of([&] { datasets::internal::read_idx_images(t / "gz-cut.gz"); });
  EXPECT_HAS(e, "gz-cut.gz");
  EXPECT_HAS(e, "truncated");

  TempDir m;
  write_idx_set(m.str(), false);
  write_file(m / "t10k-labels-idx1-ubyte", idx_labels(19));
  EXPECT_HAS(error_of([&] { datasets::load_dataset("mnist:" + m.str()); }), "19 labels");
  fs::remove(m / "t10k-labels-idx1-ubyte");
  EXPECT_HAS(error_of([&] { datasets::load_dataset("mnist:" + m.str()); }), "t10k-labels-idx1-ubyte");
}

// Issue 13, item 6: a header's count is checked against the memory this process may use before
// anything is allocated (0xFFFFFFFF images of 28 x 28 are 3 TiB).
TEST(Idx, HeaderClaimsBeyondMemoryAreNamedBeforeReading) {
  TempDir t;
  auto images = idx_images(10, 28, 28);
  images.replace(4, 4, be32(0xFFFFFFFFu));
  write_file(t / "huge-images", images);
  auto e = error_of([&] { datasets::internal::read_idx_images(t / "huge-images"); });
  EXPECT_HAS(e, "IDX file '" + t / "huge-images" + "' claims 4294967295 images of 28x28 (3136.0 GiB), more than half");
  auto labels = idx_labels(10);
  labels.replace(4, 4, be32(0xFFFFFFFFu));
  write_file(t / "huge-labels", labels);
  e = error_of([&] { datasets::internal::read_idx_labels(t / "huge-labels"); });
  EXPECT_HAS(e, "IDX file '" + t / "huge-labels" + "'");  // beyond memory, or else truncated
  EXPECT_HAS(e, "4294967295 labels");
}

TEST(Idx, ImageSizeResizesWithAreaAverage) {
  TempDir t;
  write_idx_set(t.str(), true);
  datasets::LoadOptions o;
  o.image_size = 2;  // 6x4 -> 2x2: not square, area interpolation averages 3x2 blocks
  const auto s = datasets::read_source("mnist:" + t.str(), o);
  const auto& im = s.get("train").data.images;
  ASSERT_EQ(im.sizes(), torch::IntArrayRef({40, 2, 2, 1}));
  // Image 1, output (0, 0): mean of pixels r in 0..2, c in 0..1 of (7 + 3r + c) = 7 + 3 + 0.5 = 10.5 -> 10 or 11
  const int v = im[1][0][0][0].item<int>();
  EXPECT_TRUE(v == 10 || v == 11) << v;
}

// ---------------------------------------------------------------- CIFAR

std::string cifar_record(int label_bytes, int coarse, int label, int seed) {
  std::string r;
  if (label_bytes == 2) r += static_cast<char>(coarse);
  r += static_cast<char>(label);
  for (int ch = 0; ch < 3; ++ch)
    for (int y = 0; y < 32; ++y)
      for (int x = 0; x < 32; ++x) r += static_cast<char>((seed * 31 + ch * 100 + y * 5 + x) % 256);
  return r;
}

TEST(Cifar, Cifar10RecordsBitExactAndSplits) {
  TempDir t;
  const std::string dir = t / "cifar-10-batches-bin";
  int seed = 0;
  for (int b = 1; b <= 5; ++b) {
    std::string data;
    for (int k = 0; k < 4; ++k, ++seed) data += cifar_record(1, 0, seed % 10, seed);
    write_file(dir + "/data_batch_" + std::to_string(b) + ".bin", data);
  }
  std::string test;
  for (int k = 0; k < 10; ++k) test += cifar_record(1, 0, k, 100 + k);
  write_file(dir + "/test_batch.bin", test);

  const auto c = datasets::load_classification_dataset("cifar10:" + t.str());  // finds the sub-folder
  ASSERT_EQ(c.train.images.sizes(), torch::IntArrayRef({20, 32, 32, 3}));
  EXPECT_EQ(c.test.size(), 10);
  // Record 7 (batch 2, seed 7): planar R,G,B -> NHWC.
  EXPECT_EQ(c.train.labels[7].item<int64_t>(), 7);
  EXPECT_EQ(c.train.images[7][3][9][2].item<int>(), (7 * 31 + 200 + 15 + 9) % 256);
  EXPECT_EQ(c.train.class_names[0], "airplane");

  const auto d = datasets::load_dataset("cifar10:" + dir);
  EXPECT_EQ(d.train.size(), 10);  // labels 0-4 of 20 train images
  EXPECT_EQ(d.val.size(), 10);
  EXPECT_EQ(d.test.size(), 5);
  const auto n = datasets::normalization_for(d);
  EXPECT_FLOAT_EQ(n.mean[0], 0.4914f);
  EXPECT_FLOAT_EQ(n.std[2], 0.2616f);
}

TEST(Cifar, Cifar100FineLabelsAndBadSize) {
  TempDir t;
  std::string train, test;
  for (int k = 0; k < 100; ++k) train += cifar_record(2, k / 5, k, k);
  for (int k = 0; k < 100; ++k) test += cifar_record(2, k / 5, 99 - k, k);
  write_file(t / "train.bin", train);
  write_file(t / "test.bin", test);
  const auto d = datasets::load_dataset("cifar100:" + t.str());
  EXPECT_EQ(d.train.num_classes(), 64);
  EXPECT_EQ(d.val.num_classes(), 16);
  EXPECT_EQ(d.test.num_classes(), 20);
  EXPECT_EQ(d.train.size(), 128);  // train+test merged: 2 images per class
  EXPECT_EQ(d.test.class_names[19], "worm");
  const auto c = datasets::load_classification_dataset("cifar100:" + t.str());
  EXPECT_EQ(c.test.labels[0].item<int64_t>(), 99);
  EXPECT_EQ(c.train.class_names.size(), 100u);

  write_file(t / "test.bin", test.substr(0, test.size() - 1000));
  auto e = error_of([&] { datasets::load_dataset("cifar100:" + t.str()); });
  EXPECT_HAS(e, "test.bin");
  EXPECT_HAS(e, "not a multiple of the 3074-byte record");
  // CIFAR-100 files read as CIFAR-10: label out of range or size mismatch, named.
  TempDir t10;
  for (int b = 1; b <= 5; ++b) write_file(t10 / ("data_batch_" + std::to_string(b) + ".bin"), cifar_record(1, 0, 1, 1));
  write_file(t10 / "test_batch.bin", cifar_record(1, 0, 12, 1));
  EXPECT_HAS(error_of([&] { datasets::load_dataset("cifar10:" + t10.str()); }), "label 12");
  fs::remove(t10 / "data_batch_3.bin");
  EXPECT_HAS(error_of([&] { datasets::load_dataset("cifar10:" + t10.str()); }), "data_batch_3.bin");
}

// ---------------------------------------------------------------- torchmeta HDF5

// torchmeta's layout, written with the HDF5 C API: {split}_data.hdf5 with a "datasets" group of
// uint8 [n, 84, 84, 3] datasets (one per class) and {split}_labels.json listing the classes.
void write_torchmeta_split(const std::string& dir, const std::string& split, const std::vector<std::string>& classes,
                           int per_class, int salt) {
  const std::string file = dir + "/" + split + "_data.hdf5";
  hid_t f = H5Fcreate(file.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  hid_t g = H5Gcreate2(f, "datasets", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  std::string json = "[";
  for (size_t c = 0; c < classes.size(); ++c) {
    hsize_t dims[4] = {static_cast<hsize_t>(per_class), 84, 84, 3};
    std::vector<uint8_t> data(per_class * 84 * 84 * 3);
    for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>((i * 13 + c * 7 + salt) % 251);
    hid_t space = H5Screate_simple(4, dims, nullptr);
    hid_t ds = H5Dcreate2(g, classes[c].c_str(), H5T_STD_U8LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(ds, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, data.data());
    H5Dclose(ds);
    H5Sclose(space);
    json += (c ? ", \"" : "\"") + classes[c] + "\"";
  }
  H5Gclose(g);
  H5Fclose(f);
  write_file(dir + "/" + split + "_labels.json", json + "]\n");
}

TEST(MiniImageNet, TorchmetaLayoutBitExact) {
  TempDir t;
  const std::string dir = t / "miniimagenet";  // torchmeta keeps its files in this sub-folder
  fs::create_directories(dir);
  write_torchmeta_split(dir, "train", {"n01532829", "n01558993", "n01704323"}, 3, 0);
  write_torchmeta_split(dir, "val", {"n01855672", "n02091244"}, 2, 1);
  write_torchmeta_split(dir, "test", {"n01930112", "n01981276"}, 4, 2);
  const auto d = datasets::load_dataset("miniimagenet:" + t.str());
  ASSERT_EQ(d.train.images.sizes(), torch::IntArrayRef({9, 84, 84, 3}));
  EXPECT_EQ(d.val.size(), 4);
  EXPECT_EQ(d.test.size(), 8);
  EXPECT_EQ(d.train.class_names[2], "n01704323");
  EXPECT_EQ(d.train.labels[4].item<int64_t>(), 1);
  // Image 1 of class 1, pixel (10, 20, 2): flat index within the class dataset.
  const int64_t i = ((1 * 84 + 10) * 84 + 20) * 3 + 2;
  EXPECT_EQ(d.train.images[4][10][20][2].item<int>(), static_cast<int>((i * 13 + 1 * 7 + 0) % 251));
  // Classification: 5/6 of each class's images (file order) to train.
  const auto c = datasets::load_classification_dataset("miniimagenet:" + t.str());
  EXPECT_EQ(c.train.size(), 6);  // 3 classes x floor(3 * 5 / 6) = 2
  EXPECT_EQ(c.test.size(), 3);
  EXPECT_TRUE(torch::equal(c.test.images[0], d.train.images[2]));
  const auto n = datasets::normalization_for(d);
  EXPECT_FLOAT_EQ(n.mean[1], 0.456f);

  // A class listed in the JSON but absent from the HDF5 file, a missing split file.
  write_file(dir + "/val_labels.json", "[\"n01855672\", \"n09999999\"]");
  auto e = error_of([&] { datasets::load_dataset("miniimagenet:" + t.str()); });
  EXPECT_HAS(e, "n09999999");
  EXPECT_HAS(e, "val_data.hdf5");
  fs::remove(dir + "/test_data.hdf5");
  write_torchmeta_split(dir, "val", {"n01855672", "n02091244"}, 2, 1);
  EXPECT_HAS(error_of([&] { datasets::load_dataset("miniimagenet:" + t.str()); }), "test_data.hdf5");
  // The torchmeta file given as a cache: told what it is.
  EXPECT_HAS(error_of([&] { datasets::load_dataset("h5:" + dir + "/train_data.hdf5"); }), "torchmeta");
}

TEST(Source, NegativeImageSizeNamesTheField) {
  datasets::LoadOptions o;
  o.image_size = -1;
  try {
    datasets::read_source("fashion-mnist", o);
    FAIL() << "image size -1 accepted";
  } catch (const datasets::FieldError& e) {
    EXPECT_EQ(std::string(e.what()), "image_size must be positive (or 0 for native), got -1");
    EXPECT_EQ(e.field, "image_size");
    EXPECT_EQ(e.renamed("--image-size"), "--image-size must be positive (or 0 for native), got -1");
  }
}

// ---------------------------------------------------------------- image files (OpenCV)

#ifdef ACDC_META_DATASETS_OPENCV

// A BGR image whose pixel (y, x) channel c is (seed + 3y + 5x + 70c) % 256.
cv::Mat pattern(int h, int w, int seed, int channels = 3) {
  cv::Mat m(h, w, channels == 3 ? CV_8UC3 : CV_8UC1);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < channels; ++c) m.ptr<uint8_t>(y)[x * channels + c] = static_cast<uint8_t>((seed + 3 * y + 5 * x + 70 * c) % 256);
  return m;
}

void imwrite(const std::string& path, const cv::Mat& m) {
  fs::create_directories(fs::path(path).parent_path());
  ASSERT_TRUE(cv::imwrite(path, m)) << path;
}

// Ravi & Larochelle layout: {train,val,test}.csv + images/, 2 classes x 3 images per split.
void write_ravi(const std::string& root, const std::string& ext = ".png") {
  int seed = 0;
  for (const std::string split : {"train", "val", "test"}) {
    std::string csv = "filename,label\n";
    for (int c = 0; c < 2; ++c) {
      const std::string wnid = "n0" + split + std::to_string(c);
      for (int k = 0; k < 3; ++k, ++seed) {
        const std::string name = wnid + "0000000" + std::to_string(k) + ext;
        imwrite(root + "/images/" + name, pattern(12, 10, seed));
        csv += name + "," + wnid + "\n";
      }
    }
    write_file(root + "/" + split + ".csv", csv);
  }
}

TEST(MiniImageNet, RaviCsvPngBitExactRgb) {
  TempDir t;
  write_ravi(t.str());
  const auto d = datasets::load_dataset("miniimagenet:" + t.str());
  ASSERT_EQ(d.train.images.sizes(), torch::IntArrayRef({6, 12, 10, 3}));
  EXPECT_EQ(d.val.class_names, (std::vector<std::string>{"n0val0", "n0val1"}));
  EXPECT_EQ(d.test.labels[4].item<int64_t>(), 1);
  // Test image 4 has seed 12 + 4 = 16. BGR on disk -> RGB in memory: RGB channel 0 is the
  // file's channel 2 (value seed + 3y + 5x + 140).
  EXPECT_EQ(d.test.images[4][7][3][0].item<int>(), (16 + 21 + 15 + 140) % 256);
  EXPECT_EQ(d.test.images[4][7][3][2].item<int>(), (16 + 21 + 15) % 256);

  // LoadOptions::image_size at load time.
  datasets::LoadOptions o;
  o.image_size = 5;
  EXPECT_EQ(datasets::load_dataset("miniimagenet:" + t.str(), o).train.images.sizes(),
            torch::IntArrayRef({6, 5, 5, 3}));
}

TEST(MiniImageNet, RaviCsvErrorsNameFileAndRow) {
  TempDir t;
  write_ravi(t.str());
  fs::remove(t / "images/n0train100000001.png");
  auto e = error_of([&] { datasets::load_dataset("miniimagenet:" + t.str()); });
  EXPECT_HAS(e, "train.csv");
  EXPECT_HAS(e, "line 6");
  EXPECT_HAS(e, "n0train100000001.png");

  TempDir u;
  write_ravi(u.str());
  fs::remove(u / "val.csv");
  EXPECT_HAS(error_of([&] { datasets::load_dataset("miniimagenet:" + u.str()); }), "val.csv' is missing");

  TempDir v;
  write_ravi(v.str(), ".jpg");
  const std::string victim = v / "images/n0test000000002.jpg";
  const auto jpg = read_file(victim);
  write_file(victim, jpg.substr(0, jpg.size() * 2 / 3));  // truncated JPEG
  e = error_of([&] { datasets::load_dataset("miniimagenet:" + v.str()); });
  EXPECT_HAS(e, "n0test000000002.jpg");
  EXPECT_HAS(e, "test.csv line 4");
  EXPECT_HAS(e, "truncated");

  TempDir w;
  write_file(w / "train.csv", "filename,label\n");
  EXPECT_HAS(error_of([&] { datasets::load_dataset("miniimagenet:" + w.str()); }), "no images/ folder");
  TempDir x;
  EXPECT_HAS(error_of([&] { datasets::load_dataset("miniimagenet:" + x.str()); }), "none of the known layouts");
  EXPECT_HAS(error_of([&] { datasets::load_dataset("miniimagenet:" + x.str() + "/nope"); }), "does not exist");
}

TEST(MiniImageNet, ClassFoldersJpegAndGrayscale) {
  TempDir t;
  int seed = 0;
  for (const std::string split : {"train", "val", "test"}) {
    for (int c = 0; c < 3; ++c) {
      for (int k = 0; k < 2; ++k, ++seed) {
        imwrite(t / (split + "/n0" + std::to_string(c) + "/img" + std::to_string(k) + ".jpg"), pattern(16, 16, seed));
      }
    }
  }
  const auto d = datasets::load_dataset("miniimagenet:" + t.str());
  ASSERT_EQ(d.train.images.sizes(), torch::IntArrayRef({6, 16, 16, 3}));
  EXPECT_EQ(d.test.class_names[2], "n02");
  // JPEG is lossy: compare to the pattern within a tolerance (RGB channel 2 = file channel 0).
  cv::Mat p = pattern(16, 16, 3);
  auto expected = torch::from_blob(p.data, {16, 16, 3}, torch::kByte).flip({2}).to(torch::kFloat);
  const double err = (d.train.images[3].to(torch::kFloat) - expected).abs().mean().item<double>();
  EXPECT_LT(err, 8.0);

  // Grayscale PNGs stay one channel, bit-exact.
  TempDir g;
  for (int c = 0; c < 2; ++c) imwrite(g / ("cls" + std::to_string(c) + "/a.png"), pattern(7, 9, c, 1));
  const auto s = datasets::read_source("folder:" + g.str());
  const auto& all = s.get("all").data;
  ASSERT_EQ(all.images.sizes(), torch::IntArrayRef({2, 7, 9, 1}));
  EXPECT_EQ(all.images[1][6][8][0].item<int>(), (1 + 18 + 40) % 256);
  // Mixed sizes without an image size: named, with the setting that resizes them.
  imwrite(g / "cls1/b.png", pattern(8, 9, 0, 1));
  auto e = error_of([&] { datasets::read_source("folder:" + g.str()); });
  EXPECT_HAS(e, "b.png");
  EXPECT_HAS(e, "pass image_size N to resize all images");
  try {  // a FieldError even though the worker threads found it, so the CLI can put its flag in
    datasets::read_source("folder:" + g.str());
    FAIL() << "mixed image sizes accepted";
  } catch (const datasets::FieldError& fe) {
    EXPECT_EQ(fe.field, "image_size");
    EXPECT_HAS(fe.renamed("--image-size"), "pass --image-size N to resize all images");
  }
  // A file that is not an image at all.
  fs::remove(g / "cls1/b.png");
  write_file(g / "cls0/broken.png", "not a png");
  EXPECT_HAS(error_of([&] { datasets::read_source("folder:" + g.str()); }), "broken.png' does not decode");
}

TEST(Folder, SplitsFewShotAndClassification) {
  TempDir t;
  for (int c = 0; c < 5; ++c)
    for (int k = 0; k < 6; ++k) imwrite(t / ("c" + std::to_string(c) + "/" + std::to_string(k) + ".png"), pattern(4, 4, c * 10 + k));
  const auto d = datasets::load_dataset("folder:" + t.str());
  EXPECT_EQ(d.train.num_classes(), 3);  // 60% / 20% / 20% of 5 sorted class folders
  EXPECT_EQ(d.val.class_names, std::vector<std::string>{"c3"});
  EXPECT_EQ(d.test.class_names, std::vector<std::string>{"c4"});
  const auto c = datasets::load_classification_dataset("folder:" + t.str());
  EXPECT_EQ(c.train.size(), 25);  // 5 of 6 per class
  EXPECT_EQ(c.test.size(), 5);
  EXPECT_EQ(c.test.num_classes(), 5);
  // The sixth image (5.png) of class c2 is in test, bit-exact.
  EXPECT_EQ(c.test.images[2][1][2][1].item<int>(), (25 + 3 + 10 + 70) % 256);

  fs::create_directories(t / "c9");
  EXPECT_HAS(error_of([&] { datasets::load_dataset("folder:" + t.str()); }), "c9' has no images");
}

TEST(TinyImageNet, TrainFoldersAndValAnnotations) {
  TempDir t;
  write_file(t / "wnids.txt", "n001\nn002\nn003\nn004\nn005\n");
  for (int c = 1; c <= 5; ++c)
    for (int k = 0; k < 2; ++k)
      imwrite(t / ("train/n00" + std::to_string(c) + "/images/n00" + std::to_string(c) + "_" + std::to_string(k) + ".png"),
              pattern(8, 8, c * 3 + k));
  std::string ann;
  for (int k = 0; k < 4; ++k) {
    imwrite(t / ("val/images/val_" + std::to_string(k) + ".png"), pattern(8, 8, 50 + k));
    ann += "val_" + std::to_string(k) + ".png\tn00" + std::to_string(5 - k) + "\t0\t0\t8\t8\n";
  }
  write_file(t / "val/val_annotations.txt", ann);
  const auto c = datasets::load_classification_dataset("tinyimagenet:" + t.str());
  EXPECT_EQ(c.train.size(), 10);
  EXPECT_EQ(c.test.size(), 4);
  EXPECT_EQ(c.test.labels[1].item<int64_t>(), 3);  // n004
  EXPECT_EQ(c.test.images[1][2][2][2].item<int>(), (51 + 6 + 10) % 256);
  const auto d = datasets::load_dataset("tinyimagenet:" + t.str());
  EXPECT_EQ(d.train.num_classes(), 3);
  EXPECT_EQ(d.val.num_classes(), 1);
  EXPECT_EQ(d.test.num_classes(), 1);

  write_file(t / "val/val_annotations.txt", ann + "val_0.png\tn999\t0\t0\t8\t8\n");
  auto e = error_of([&] { datasets::load_dataset("tinyimagenet:" + t.str()); });
  EXPECT_HAS(e, "line 5");
  EXPECT_HAS(e, "n999");
}

#endif  // ACDC_META_DATASETS_OPENCV

// ---------------------------------------------------------------- the project's cache

datasets::Source small_source() {
  datasets::Source s;
  s.kind = "cifar10";
  s.location = "/somewhere";
  s.spec = "cifar10:/somewhere";
  for (const auto& [name, n] : {std::pair<std::string, int64_t>{"train", 30}, {"test", 10}}) {
    datasets::Part p;
    p.name = name;
    p.data.images = torch::randint(0, 256, {n, 5, 6, 3}, torch::kByte);
    p.data.labels = torch::arange(n, torch::kLong) % 10;
    for (int c = 0; c < 10; ++c) p.data.class_names.push_back("class " + std::to_string(c));
    s.parts.push_back(p);
  }
  return s;
}

TEST(Cache, RoundTripBitExact) {
  TempDir t;
  const auto s = small_source();
  datasets::write_cache(s, t / "c.h5");
  const auto r = datasets::read_cache(t / "c.h5");
  EXPECT_EQ(r.kind, "cifar10");
  EXPECT_EQ(r.location, "/somewhere");
  ASSERT_EQ(r.parts.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(r.parts[i].name, s.parts[i].name);
    EXPECT_TRUE(torch::equal(r.parts[i].data.images, s.parts[i].data.images));
    EXPECT_TRUE(torch::equal(r.parts[i].data.labels, s.parts[i].data.labels));
    EXPECT_EQ(r.parts[i].data.class_names, s.parts[i].data.class_names);
  }
  // Through the --dataset syntax: the same few-shot split as the source itself, and the
  // normalisation of the original kind.
  const auto d = datasets::load_dataset("h5:" + t / "c.h5");
  const auto direct = datasets::few_shot_splits(s);
  EXPECT_TRUE(torch::equal(d.val.images, direct.val.images));
  EXPECT_EQ(d.kind, "cifar10");
  EXPECT_FLOAT_EQ(datasets::normalization_for(d).mean[0], 0.4914f);
  EXPECT_HAS(d.source, "h5:");
}

TEST(Cache, InterruptedWriteLeavesNothing) {
  TempDir t;
  const auto s = small_source();
  EXPECT_THROW(datasets::write_cache(s, t / "out.h5",
                                     [](int64_t done, int64_t total) {
                                       if (done > 0 && done < total) throw std::runtime_error("interrupted");
                                     }),
               std::runtime_error);
  EXPECT_FALSE(fs::exists(t / "out.h5"));
  EXPECT_TRUE(fs::is_empty(t.str())) << "temporary file left behind";
}

TEST(Cache, NotACacheOrDamagedIsNamed) {
  TempDir t;
  {
    auto f = storage::H5File::create(t / "other.h5");
    f.write_tensor("x", torch::zeros({3}));
  }
  auto e = error_of([&] { datasets::load_dataset("h5:" + t / "other.h5"); });
  EXPECT_HAS(e, "other.h5");
  EXPECT_HAS(e, "not a dataset cache of acdc-meta");

  write_file(t / "text.h5", "hello");
  EXPECT_HAS(error_of([&] { datasets::load_dataset("h5:" + t / "text.h5"); }), "not an HDF5 file");
  EXPECT_HAS(error_of([&] { datasets::load_dataset("h5:" + t / "missing.h5"); }), "not found");

  datasets::write_cache(small_source(), t / "c.h5");
  const auto bytes = read_file(t / "c.h5");
  write_file(t / "cut.h5", bytes.substr(0, bytes.size() / 2));
  e = error_of([&] { datasets::load_dataset("h5:" + t / "cut.h5"); });
  EXPECT_HAS(e, "cut.h5");

  // Labels out of range and a wrong image shape: named.
  fs::copy_file(t / "c.h5", t / "bad.h5", fs::copy_options::overwrite_existing);
  {
    // Rewrite the labels of "test" through the C API (H5File opens read-only).
    hid_t f = H5Fopen((t / "bad.h5").c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t ds = H5Dopen2(f, "/test/labels", H5P_DEFAULT);
    std::vector<int64_t> labels(10, 3);
    labels[4] = 12;
    H5Dwrite(ds, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, labels.data());
    H5Dclose(ds);
    H5Fclose(f);
  }
  e = error_of([&] { datasets::load_dataset("h5:" + t / "bad.h5"); });
  EXPECT_HAS(e, "/test/labels");
  EXPECT_HAS(e, "outside 0..9");
}

// A dataset that declares `dims` (chunked, never written, so the file stays small) in place of
// `name`, and int64 root attributes, edited through the C API as a crafted cache would be.
void declare_dataset(const std::string& file, const std::string& name, std::vector<hsize_t> dims) {
  const hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(f, 0) << file;
  H5Ldelete(f, name.c_str(), H5P_DEFAULT);
  const hid_t space = H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
  std::vector<hsize_t> chunk(dims.size(), 1);
  for (size_t i = 1; i < dims.size(); ++i) chunk[i] = std::min<hsize_t>(dims[i], 64);
  const hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_chunk(dcpl, static_cast<int>(chunk.size()), chunk.data());
  const hid_t ds = H5Dcreate2(f, name.c_str(), H5T_NATIVE_UINT8, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  EXPECT_GE(ds, 0) << name;
  H5Dclose(ds);
  H5Pclose(dcpl);
  H5Sclose(space);
  H5Fclose(f);
}
void set_root_int(const std::string& file, const std::string& attr, int64_t value) {
  const hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(f, 0) << file;
  const hid_t a = H5Aopen(f, attr.c_str(), H5P_DEFAULT);
  EXPECT_GE(H5Awrite(a, H5T_NATIVE_INT64, &value), 0) << attr;
  H5Aclose(a);
  H5Fclose(f);
}

// Issue 13, item 6: a cache's declared image shape and count are checked (sanity bound, then the
// memory this process may use) before any image is read.
TEST(Cache, DeclaredSizesBeyondBoundsAreNamedBeforeReading) {
  TempDir t;
  datasets::write_cache(small_source(), t / "c.h5");
  fs::copy_file(t / "c.h5", t / "wide.h5");
  set_root_int(t / "wide.h5", "image_height", 30000);
  set_root_int(t / "wide.h5", "image_width", 30000);
  declare_dataset(t / "wide.h5", "/train/images", {30, 30000, 30000, 3});
  auto e = error_of([&] { datasets::load_dataset("h5:" + t / "wide.h5"); });
  EXPECT_HAS(e, "h5: '" + t / "wide.h5" +
                    "' declares images of 30000x30000 pixels (attributes 'image_height', 'image_width'), expected 1 to "
                    "8192 per side");
  fs::copy_file(t / "c.h5", t / "many.h5");
  declare_dataset(t / "many.h5", "/train/images", {hsize_t{1} << 40, 5, 6, 3});
  e = error_of([&] { datasets::load_dataset("h5:" + t / "many.h5"); });
  EXPECT_HAS(e, "h5: '" + t / "many.h5" + "' '/train/images' declares 1099511627776 images of 5x6x3 (92160.0 GiB)");
  fs::copy_file(t / "c.h5", t / "channels.h5");
  set_root_int(t / "channels.h5", "channels", 7);
  EXPECT_HAS(error_of([&] { datasets::load_dataset("h5:" + t / "channels.h5"); }),
             "declares 7 channels (attribute 'channels'), expected 1 or 3");
}

// ---------------------------------------------------------------- the real Fashion-MNIST

TEST(FashionMnist, EmbeddedDefaultSplit) {
  const auto d = datasets::load_dataset("fashion-mnist");
  EXPECT_EQ(d.source, "fashion-mnist:/usr/share/datasets/fashion-mnist");
  // 6000 / 1000 images per class in the official train / test files (Fashion-MNIST README).
  EXPECT_EQ(d.train.size(), 30000);
  EXPECT_EQ(d.val.size(), 30000);
  EXPECT_EQ(d.test.size(), 5000);
  EXPECT_EQ(d.train.images.sizes(), torch::IntArrayRef({30000, 28, 28, 1}));
  EXPECT_EQ(d.test.class_names,
            (std::vector<std::string>{"Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"}));
  EXPECT_TRUE(torch::equal(torch::bincount(d.test.labels), torch::full({5}, 1000, torch::kLong)));
  const auto n = datasets::normalization_for(d);
  EXPECT_FLOAT_EQ(n.mean[0], 0.2860f);
  EXPECT_FLOAT_EQ(n.std[0], 0.3530f);
  // The mean pixel of the training file is 0.2860 (the published constant): check it over
  // meta-train + meta-val (together exactly the training file).
  const double mean = (d.train.images.to(torch::kDouble).sum() + d.val.images.to(torch::kDouble).sum()).item<double>() /
                      (60000.0 * 784.0 * 255.0);
  EXPECT_NEAR(mean, 0.2860, 5e-4);

  const auto c = datasets::load_classification_dataset("fashion-mnist");
  EXPECT_EQ(c.train.size(), 60000);
  EXPECT_EQ(c.test.size(), 10000);
  EXPECT_EQ(c.train.num_classes(), 10);
  // The first training image of Fashion-MNIST is an ankle boot (label 9).
  EXPECT_EQ(c.train.labels[0].item<int64_t>(), 9);
}

TEST(Spec, UnknownKindAndMissingPath) {
  EXPECT_HAS(error_of([] { datasets::load_dataset("imagenet21k:/x"); }), "unknown dataset 'imagenet21k:/x'");
  EXPECT_HAS(error_of([] { datasets::load_dataset("cifar10"); }), "needs a path");
  EXPECT_HAS(error_of([] { datasets::load_dataset("fashion-mnist:/no/such/dir"); }), "/no/such/dir");
  EXPECT_HAS(error_of([] { datasets::Dataset().split("dev"); }), "unknown split 'dev'");
}

// ---------------------------------------------------------------- through the binary

#ifdef ACDC_META_BIN
using support::run_acdc_meta;

TEST(Cli, InspectFashionMnistJson) {
  const auto r = run_acdc_meta("data inspect --dataset fashion-mnist --json");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_HAS(r.output, "\"train\": {\n      \"classes\": 5,\n      \"images\": 30000,\n      \"image_shape\": [\n        28,");
  EXPECT_HAS(r.output, "\"images\": 5000");
}

TEST(Cli, BadInputsExit2WithNamedError) {
  TempDir t;
  write_idx_set(t.str(), true, 40, 20);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"data inspect --dataset miniimagenet:" + t / "missing", "does not exist"},
      {"data inspect --dataset h5:" + t / "train-images-idx3-ubyte.gz", "not an HDF5 file"},
      {"data episodes --dataset fashion-mnist:" + t.str() + " --ways 6", "fewer than --ways 6"},
      {"data episodes --dataset fashion-mnist:" + t.str() + " --shots 2 --queries 3", "fewer than shots + queries"},
      {"data inspect --dataset bogus", "unknown dataset 'bogus'"},
      {"data frob", "unknown action 'frob'"},
  };
  for (const auto& [args, needle] : cases) {
    const auto r = run_acdc_meta(args);
    EXPECT_EQ(r.code, 2) << args << "\n" << r.output;
    EXPECT_HAS(r.output, needle);
  }
}

// Issue 13, item 6: oversized flags and file claims exit 2 naming the flag or file and the value.
TEST(Cli, OversizedSizesAndClaimsExit2NamingThem) {
  TempDir t;
  write_idx_set(t / "ok", false);
  write_idx_set(t / "huge", false);
  auto images = idx_images(10, 28, 28);
  images.replace(4, 4, be32(0xFFFFFFFFu));
  write_file(t / "huge/train-images-idx3-ubyte", images);
  datasets::write_cache(small_source(), t / "wide.h5");
  set_root_int(t / "wide.h5", "image_height", 30000);
  set_root_int(t / "wide.h5", "image_width", 30000);
  declare_dataset(t / "wide.h5", "/train/images", {30, 30000, 30000, 3});
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"data episodes --dataset mnist:" + t / "ok" + " --threads 100000", "--threads must be at most 64"},
      {"data episodes --dataset mnist:" + t / "ok" + " --tasks 100000", "--tasks must be at most 1024"},
      {"data inspect --dataset mnist:" + t / "ok" + " --image-size 1000000", "--image-size must be at most 1024"},
      {"data convert --dataset mnist:" + t / "ok" + " --out " + t / "x.h5" + " --image-size 1000000",
       "--image-size must be at most 1024"},
      {"data inspect --dataset mnist:" + t / "huge", "train-images-idx3-ubyte' claims 4294967295 images of 28x28 (3136.0 GiB)"},
      {"data inspect --dataset h5:" + t / "wide.h5", "wide.h5' declares images of 30000x30000 pixels"},
  };
  for (const auto& [args, needle] : cases) {
    const auto r = run_acdc_meta(args);
    EXPECT_EQ(r.code, 2) << args << "\n" << r.output;
    EXPECT_HAS(r.output, needle);
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << args << ": one line\n" << r.output;
  }
  EXPECT_FALSE(fs::exists(t / "x.h5"));
}

TEST(Cli, ConvertThenInspectCache) {
  TempDir t;
  write_idx_set(t / "src", false, 40, 20);
  auto r = run_acdc_meta("data convert --dataset mnist:" + t / "src" + " --out " + t / "m.h5");
  ASSERT_EQ(r.code, 0) << r.output;
  r = run_acdc_meta("data inspect --json --dataset h5:" + t / "m.h5");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_HAS(r.output, "\"images\": 20");
  r = run_acdc_meta("data convert --dataset mnist:" + t / "nope" + " --out " + t / "n.h5");
  EXPECT_EQ(r.code, 2);
  EXPECT_FALSE(fs::exists(t / "n.h5"));
}
#endif

}  // namespace
