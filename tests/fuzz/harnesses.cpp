// The harnesses and their seed inputs (see harnesses.h). Every file goes to one private
// temporary directory, removed at exit.

#include "tests/fuzz/harnesses.h"

#include "backbones/registry.h"
#include "datasets/internal/readers.h"
#include "datasets/source.h"
#include "experiments/runs/checkpoint.h"
#include "experiments/runs/run_config.h"
#include "meta/maml.h"
#include "tests/support/temp_dir.h"

#include <torch/torch.h>
#include <zlib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace fuzz {

namespace {

namespace fs = std::filesystem;
namespace di = datasets::internal;

const std::string& work_dir() {
  static const support::TempDir dir("acdc_meta_fuzz_");  // removed at exit
  return dir.str();
}

std::string write(const std::string& rel, const uint8_t* data, size_t size) {
  const auto path = work_dir() + "/" + rel;
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  if (!out) throw std::runtime_error("fuzz: cannot write '" + path + "'");
  return path;
}
std::string write(const std::string& rel, const std::vector<uint8_t>& bytes) { return write(rel, bytes.data(), bytes.size()); }
std::string write(const std::string& rel, const std::string& text) {
  return write(rel, reinterpret_cast<const uint8_t*>(text.data()), text.size());
}

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void put_be32(std::vector<uint8_t>& b, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<uint8_t>(v >> s));
}

std::vector<uint8_t> gzip(const std::vector<uint8_t>& raw) {
  z_stream z{};
  if (deflateInit2(&z, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) throw std::runtime_error("gzip");
  std::vector<uint8_t> out(deflateBound(&z, raw.size()) + 32);
  z.next_in = const_cast<Bytef*>(raw.data());
  z.avail_in = static_cast<uInt>(raw.size());
  z.next_out = out.data();
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

// A grayscale 8-bit PNG of w x h (pixel values from `seed`), written without OpenCV.
std::vector<uint8_t> png(uint32_t w, uint32_t h, uint8_t seed) {
  std::vector<uint8_t> rows;
  for (uint32_t y = 0; y < h; ++y) {
    rows.push_back(0);  // filter: none
    for (uint32_t x = 0; x < w; ++x) rows.push_back(static_cast<uint8_t>(seed + 37 * y + 11 * x));
  }
  uLongf zlen = compressBound(static_cast<uLong>(rows.size()));
  std::vector<uint8_t> z(zlen);
  compress(z.data(), &zlen, rows.data(), static_cast<uLong>(rows.size()));
  z.resize(zlen);
  std::vector<uint8_t> out = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  auto chunk = [&](const char* type, const std::vector<uint8_t>& data) {
    put_be32(out, static_cast<uint32_t>(data.size()));
    const size_t start = out.size();
    out.insert(out.end(), type, type + 4);
    out.insert(out.end(), data.begin(), data.end());
    put_be32(out, static_cast<uint32_t>(crc32(0, out.data() + start, static_cast<uInt>(out.size() - start))));
  };
  std::vector<uint8_t> ihdr;
  put_be32(ihdr, w);
  put_be32(ihdr, h);
  ihdr.insert(ihdr.end(), {8, 0, 0, 0, 0});  // 8 bits, grayscale, deflate, no filter, no interlace
  chunk("IHDR", ihdr);
  chunk("IDAT", z);
  chunk("IEND", {});
  return out;
}

// ---- IDX: images (magic 2051) or labels (2049), raw or gzip ----

std::vector<Seed> idx_seeds() {
  std::vector<uint8_t> images, labels;
  put_be32(images, 2051);
  put_be32(images, 3);
  put_be32(images, 4);
  put_be32(images, 4);
  for (int i = 0; i < 48; ++i) images.push_back(static_cast<uint8_t>(i * 5));
  put_be32(labels, 2049);
  put_be32(labels, 3);
  labels.insert(labels.end(), {0, 1, 2});
  return {{"images.idx3", images, {4, 8, 12}}, {"labels.idx1", labels, {4}}, {"images.idx3.gz", gzip(images), {}}};
}

void idx(const uint8_t* data, size_t size) {
  const auto path = write("idx/file-idx-ubyte", data, size);
  try {
    di::read_idx_images(path);
  } catch (const std::invalid_argument&) {
    di::read_idx_labels(path);  // not an images file: maybe a labels file
  } catch (const std::runtime_error&) {
    di::read_idx_labels(path);
  }
}

// ---- CIFAR: 10 (1 label byte) or 100 (coarse + fine label bytes) records ----

std::vector<Seed> cifar_seeds() {
  std::vector<uint8_t> c10, c100;
  for (uint8_t label : {3, 7}) {
    c10.push_back(label);
    for (int i = 0; i < 3072; ++i) c10.push_back(static_cast<uint8_t>(i + label));
  }
  c100.insert(c100.end(), {4, 42});
  for (int i = 0; i < 3072; ++i) c100.push_back(static_cast<uint8_t>(i * 3));
  return {{"cifar10.bin", c10, {}}, {"cifar100.bin", c100, {}}};
}

void cifar(const uint8_t* data, size_t size) {
  const auto path = write("cifar/data.bin", data, size);
  try {
    di::read_cifar_file(path, 1, 0, 10);
  } catch (const std::invalid_argument&) {
    di::read_cifar_file(path, 2, 1, 100);
  }
}

// ---- miniImageNet CSV (Ravi & Larochelle): the input is train.csv ----

const std::string kCsv = "filename,label\na.png,n01\nb.png,n02\n";

std::vector<Seed> csv_seeds() {
  const std::string plain = "a.png,n01\nb.png,n02\na.png,n02\n";
  return {{"train.csv", {kCsv.begin(), kCsv.end()}, {}}, {"no-header.csv", {plain.begin(), plain.end()}, {}}};
}

void csv(const uint8_t* data, size_t size) {
  static const bool ready = [] {
    write("csv/images/a.png", png(4, 4, 1));
    write("csv/images/b.png", png(4, 4, 9));
    write("csv/val.csv", kCsv);
    write("csv/test.csv", kCsv);
    return true;
  }();
  (void)ready;
  write("csv/train.csv", data, size);
  di::read_miniimagenet(work_dir() + "/csv", {});
}

// ---- An image folder: five class folders of valid images; the input is one more image ----

std::vector<Seed> folder_seeds() { return {{"4x4.png", png(4, 4, 3), {16, 20}}, {"5x3.png", png(5, 3, 7), {16, 20}}}; }

void folder(const uint8_t* data, size_t size) {
  static const bool ready = [] {
    for (int c = 0; c < 5; ++c) write("folder/class" + std::to_string(c) + "/a.png", png(4, 4, static_cast<uint8_t>(c)));
    return true;
  }();
  (void)ready;
  write("folder/class0/b.png", data, size);
  datasets::LoadOptions options;
  options.image_size = 4;  // images of other sizes are resized, so a valid odd-sized one loads
  di::read_folder(work_dir() + "/folder", options);
}

// ---- The project's HDF5 cache ----

std::vector<Seed> h5cache_seeds() {
  datasets::Source s;
  s.kind = "mnist";
  s.location = "fuzz";
  s.spec = "mnist:fuzz";
  for (const char* name : {"train", "test"}) {
    datasets::Part p;
    p.name = name;
    p.data.images = torch::arange(4 * 4 * 4, torch::kByte).reshape({4, 4, 4, 1});
    p.data.labels = torch::tensor({0, 1, 2, 9}, torch::kLong);
    for (int i = 0; i < 10; ++i) p.data.class_names.push_back(std::to_string(i));
    s.parts.push_back(std::move(p));
  }
  const auto path = work_dir() + "/seed-cache.h5";
  datasets::write_cache(s, path);
  return {{"cache.h5", read_bytes(path), {}}};
}

void h5cache(const uint8_t* data, size_t size) { datasets::read_cache(write("h5cache/cache.h5", data, size)); }

// ---- A meta-training checkpoint (tiny ACDC-net conv4), loaded as eval / export / --resume do ----

std::vector<Seed> checkpoint_seeds() {
  const auto config = experiments::RunConfig::parse_ini(
      "backbone = conv4\nconv = acdc-net\natoms = 4\ngroup-size = 64\natom-drop = 0.2\natom-init = normal\n"
      "ways = 3\nchannels = 1\nimage-size = 16\nwidth = 4\ninner-steps = 1\ninner-steps-test = 1\n"
      "inner-lr = 0.1\nlearn-inner-lr = true\nfirst-order = false\nanneal-first-order = 0\ninner-params = all\n"
      "multi-step-loss = false\nmulti-step-iterations = 0\nmeta-lr = 0.001\nclip-grad = 0\ncosine = false\n"
      "min-meta-lr = 0\niterations = 10\nbn = per-step\n",
      "fuzz");
  torch::manual_seed(1);
  auto model = backbones::make_backbone(experiments::backbone_options(config));
  meta::Maml maml(*model, experiments::maml_config(config));
  experiments::CheckpointInfo info;
  info.config = config;
  const auto path = work_dir() + "/seed-checkpoint.h5";
  experiments::save_checkpoint(path, maml, info);
  return {{"checkpoint.h5", read_bytes(path), {}}};
}

void checkpoint(const uint8_t* data, size_t size) {
  experiments::read_checkpoint_weights(write("checkpoint/last.h5", data, size));
}

}  // namespace

const std::vector<Target>& targets() {
  static const std::vector<Target> t = {{"idx", idx, idx_seeds},
                                        {"cifar", cifar, cifar_seeds},
                                        {"csv", csv, csv_seeds},
                                        {"folder", folder, folder_seeds},
                                        {"h5cache", h5cache, h5cache_seeds},
                                        {"checkpoint", checkpoint, checkpoint_seeds}};
  return t;
}

const Target& target(const std::string& name) {
  for (const auto& t : targets()) {
    if (t.name == name) return t;
  }
  throw std::invalid_argument("fuzz: no target '" + name + "' (idx, cifar, csv, folder, h5cache, checkpoint)");
}

}  // namespace fuzz
