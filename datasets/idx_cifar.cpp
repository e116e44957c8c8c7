// Tensor-native sources: MNIST / Fashion-MNIST IDX files (gzip or raw, read with zlib straight
// into the tensor's memory) and CIFAR-10 / CIFAR-100 binary records. No OpenCV needed.

#include "datasets/internal/readers.h"
#include "host/memory.h"

#include <torch/torch.h>

#include <zlib.h>

#include <cstdio>
#include <fstream>
#include <sstream>

namespace datasets::internal {

namespace {

// Reads from a gzip or plain file (zlib passes plain files through unchanged).
class GzReader {
 public:
  explicit GzReader(std::string path) : path_(std::move(path)) {
    f_ = gzopen(path_.c_str(), "rb");
    if (!f_) throw DataError("cannot open '" + path_ + "'");
    gzbuffer(f_, 1 << 20);
  }
  ~GzReader() {
    if (f_) gzclose(f_);
  }
  GzReader(const GzReader&) = delete;
  GzReader& operator=(const GzReader&) = delete;

  // Reads up to n bytes; returns how many were read. Throws on a damaged stream.
  int64_t read(void* dst, int64_t n) {
    auto* out = static_cast<char*>(dst);
    int64_t done = 0;
    while (done < n) {
      const unsigned want = static_cast<unsigned>(std::min<int64_t>(n - done, 1 << 30));
      const int got = gzread(f_, out + done, want);
      if (got < 0) {
        int err = 0;
        const char* msg = gzerror(f_, &err);
        throw DataError("'" + path_ + "' is damaged (" + std::string(msg ? msg : "read error") + ")");
      }
      if (got == 0) break;
      done += got;
    }
    // A gzip stream cut short reads as a short count plus Z_BUF_ERROR.
    int err = Z_OK;
    gzerror(f_, &err);
    if (err != Z_OK && err != Z_STREAM_END) {
      throw DataError("'" + path_ + "' is damaged or truncated (" + std::string(gzerror(f_, &err)) + ")");
    }
    return done;
  }

 private:
  std::string path_;
  gzFile f_ = nullptr;
};

// Reads `want` bytes into a new uint8 tensor of `shape`, or returns how many there were. The
// memory grows with the bytes actually read, never with the header's claim alone: a damaged
// count (up to 2^32 images of 4096 x 4096) is then a truncation error, not a huge allocation.
torch::Tensor read_bytes(GzReader& in, const std::vector<int64_t>& shape, int64_t want, int64_t& got) {
  constexpr int64_t kChunk = int64_t{64} << 20;
  if (want <= kChunk) {
    auto t = torch::empty(shape, torch::kByte);
    got = in.read(t.data_ptr(), want);
    return t;
  }
  std::vector<torch::Tensor> chunks;
  got = 0;
  while (got < want) {
    auto c = torch::empty({std::min(kChunk, want - got)}, torch::kByte);
    const int64_t n = in.read(c.data_ptr(), c.numel());
    got += n;
    if (n < c.numel()) return {};
    chunks.push_back(c);
  }
  return torch::cat(chunks).view(shape);
}

uint32_t big_endian(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

std::string find_idx(const std::string& kind, const std::string& dir, const std::string& stem,
                     const std::string& dotted) {
  for (const auto& name : {stem + ".gz", stem, dotted + ".gz", dotted}) {
    const auto p = join(dir, name);
    if (is_file(p)) return p;
  }
  throw DataError(kind + ": '" + dir + "' has no " + stem + "(.gz) (IDX file of the " +
                  (stem.rfind("train", 0) == 0 ? "training" : "test") + " set)");
}

const std::vector<std::string>& fashion_names() {
  static const std::vector<std::string> n = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                             "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  return n;
}

}  // namespace

torch::Tensor read_idx_images(const std::string& file) {
  GzReader in(file);
  unsigned char header[16];
  if (in.read(header, 16) != 16) throw DataError("IDX file '" + file + "' is truncated (no 16-byte header)");
  const uint32_t magic = big_endian(header);
  if (magic != 2051) {
    throw DataError("IDX file '" + file + "' has magic number " + std::to_string(magic) +
                    ", expected 2051 (an images file)" + (magic == 2049 ? "; this is a labels file" : ""));
  }
  const int64_t n = big_endian(header + 4), rows = big_endian(header + 8), cols = big_endian(header + 12);
  if (rows <= 0 || cols <= 0 || rows > 4096 || cols > 4096) {
    throw DataError("IDX file '" + file + "' has an implausible image size " + std::to_string(rows) + "x" +
                    std::to_string(cols));
  }
  const int64_t want = n * rows * cols;
  if (static_cast<double>(want) > host::memory_limit_bytes() / 2) {
    throw DataError("IDX file '" + file + "' claims " + std::to_string(n) + " images of " + std::to_string(rows) + "x" +
                    std::to_string(cols) + " (" + host::format_gib(static_cast<double>(want)) + "), more than half of the " +
                    host::format_gib(host::memory_limit_bytes()) + " of memory this process may use (a damaged header?)");
  }
  int64_t got = 0;
  auto images = read_bytes(in, {n, rows, cols, 1}, want, got);
  if (got != want) {
    throw DataError("IDX file '" + file + "' is truncated: header says " + std::to_string(n) + " images of " +
                    std::to_string(rows) + "x" + std::to_string(cols) + " (" + std::to_string(want) +
                    " bytes), found " + std::to_string(got) + " bytes");
  }
  return images;
}

torch::Tensor read_idx_labels(const std::string& file) {
  GzReader in(file);
  unsigned char header[8];
  if (in.read(header, 8) != 8) throw DataError("IDX file '" + file + "' is truncated (no 8-byte header)");
  const uint32_t magic = big_endian(header);
  if (magic != 2049) {
    throw DataError("IDX file '" + file + "' has magic number " + std::to_string(magic) +
                    ", expected 2049 (a labels file)" + (magic == 2051 ? "; this is an images file" : ""));
  }
  const int64_t n = big_endian(header + 4);
  if (static_cast<double>(n) * 9 > host::memory_limit_bytes() / 2) {  // 1 byte read, 8 as int64
    throw DataError("IDX file '" + file + "' claims " + std::to_string(n) + " labels (" +
                    host::format_gib(static_cast<double>(n) * 9) + " in memory), more than half of the " +
                    host::format_gib(host::memory_limit_bytes()) + " of memory this process may use (a damaged header?)");
  }
  int64_t got = 0;
  auto raw = read_bytes(in, {n}, n, got);
  if (got != n) {
    throw DataError("IDX file '" + file + "' is truncated: header says " + std::to_string(n) + " labels, found " +
                    std::to_string(got));
  }
  return raw.to(torch::kLong);
}

Source read_idx_source(const std::string& kind, const std::string& dir) {
  Source s;
  s.kind = kind;
  std::vector<std::string> names = fashion_names();
  if (kind == "mnist") {
    names.clear();
    for (int i = 0; i < 10; ++i) names.push_back(std::to_string(i));
  }
  for (const auto& [part, prefix] : {std::pair<std::string, std::string>{"train", "train"}, {"test", "t10k"}}) {
    const auto img_file = find_idx(kind, dir, prefix + "-images-idx3-ubyte", prefix + "-images.idx3-ubyte");
    const auto lbl_file = find_idx(kind, dir, prefix + "-labels-idx1-ubyte", prefix + "-labels.idx1-ubyte");
    Part p;
    p.name = part;
    p.data.images = read_idx_images(img_file);
    p.data.labels = read_idx_labels(lbl_file);
    p.data.class_names = names;
    if (p.data.labels.size(0) != p.data.images.size(0)) {
      throw DataError(kind + ": '" + lbl_file + "' has " + std::to_string(p.data.labels.size(0)) + " labels but '" +
                      img_file + "' has " + std::to_string(p.data.images.size(0)) + " images");
    }
    if (p.data.labels.numel() > 0 && p.data.labels.max().item<int64_t>() >= 10) {
      throw DataError(kind + ": '" + lbl_file + "' has label " + std::to_string(p.data.labels.max().item<int64_t>()) +
                      ", expected 0..9");
    }
    s.parts.push_back(std::move(p));
  }
  return s;
}

// ---- CIFAR ----

Split read_cifar_file(const std::string& file, int64_t label_bytes, int64_t label_index, int64_t classes) {
  std::ifstream in(file, std::ios::binary | std::ios::ate);
  if (!in) throw DataError("CIFAR file '" + file + "' is missing or not readable");
  const int64_t size = static_cast<int64_t>(in.tellg());
  const int64_t record = label_bytes + 3072;
  if (size == 0 || size % record != 0) {
    throw DataError("CIFAR file '" + file + "' has " + std::to_string(size) + " bytes, not a multiple of the " +
                    std::to_string(record) + "-byte record (truncated, or the wrong CIFAR variant?)");
  }
  const int64_t n = size / record;
  auto raw = torch::empty({n, record}, torch::kByte);
  in.seekg(0);
  if (!in.read(static_cast<char*>(raw.data_ptr()), size)) throw DataError("cannot read CIFAR file '" + file + "'");
  Split s;
  s.labels = raw.select(1, label_index).to(torch::kLong);
  // Records are channel-planar (1024 R, 1024 G, 1024 B); the in-memory form is NHWC.
  s.images = raw.narrow(1, label_bytes, 3072).view({n, 3, 32, 32}).permute({0, 2, 3, 1}).contiguous();
  const int64_t max_label = s.labels.max().item<int64_t>();
  if (max_label >= classes) {
    const int64_t row = (s.labels >= classes).nonzero()[0][0].item<int64_t>();
    throw DataError("CIFAR file '" + file + "' record " + std::to_string(row) + " has label " +
                    std::to_string(s.labels[row].item<int64_t>()) + ", expected 0.." + std::to_string(classes - 1) +
                    " (wrong CIFAR variant?)");
  }
  return s;
}

namespace {

std::string cifar_dir(const std::string& dir, const std::string& sub, const std::string& probe) {
  if (is_file(join(dir, probe))) return dir;
  if (is_file(join(join(dir, sub), probe))) return join(dir, sub);
  return dir;
}

std::vector<std::string> read_names(const std::string& file, size_t expected, std::vector<std::string> fallback) {
  if (!is_file(file)) return fallback;
  std::istringstream in(read_text(file));
  std::vector<std::string> names;
  std::string line;
  while (std::getline(in, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (!line.empty()) names.push_back(line);
  }
  if (names.size() != expected) {
    throw DataError("'" + file + "' lists " + std::to_string(names.size()) + " class names, expected " +
                    std::to_string(expected));
  }
  return names;
}

Split require_cifar(const std::string& kind, const std::string& dir, const std::string& name, int64_t label_bytes,
                    int64_t label_index, int64_t classes) {
  const auto f = join(dir, name);
  if (!is_file(f)) throw DataError(kind + ": '" + dir + "' has no " + name);
  return read_cifar_file(f, label_bytes, label_index, classes);
}

}  // namespace

Source read_cifar10(const std::string& root) {
  const std::string dir = cifar_dir(root, "cifar-10-batches-bin", "test_batch.bin");
  const auto names = read_names(join(dir, "batches.meta.txt"), 10,
                                {"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                                 "truck"});
  Source s;
  s.kind = "cifar10";
  std::vector<Split> batches;
  for (int i = 1; i <= 5; ++i) {
    batches.push_back(require_cifar("cifar10", dir, "data_batch_" + std::to_string(i) + ".bin", 1, 0, 10));
  }
  Part train{"train", {}};
  std::vector<torch::Tensor> im, lb;
  for (auto& b : batches) {
    im.push_back(b.images);
    lb.push_back(b.labels);
  }
  train.data.images = torch::cat(im);
  train.data.labels = torch::cat(lb);
  train.data.class_names = names;
  Part test{"test", require_cifar("cifar10", dir, "test_batch.bin", 1, 0, 10)};
  test.data.class_names = names;
  s.parts = {std::move(train), std::move(test)};
  return s;
}

Source read_cifar100(const std::string& root) {
  const std::string dir = cifar_dir(root, "cifar-100-binary", "test.bin");
  static const std::vector<std::string> kFine = {
      "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle", "bottle", "bowl", "boy",
      "bridge", "bus", "butterfly", "camel", "can", "castle", "caterpillar", "cattle", "chair", "chimpanzee", "clock",
      "cloud", "cockroach", "couch", "crab", "crocodile", "cup", "dinosaur", "dolphin", "elephant", "flatfish",
      "forest", "fox", "girl", "hamster", "house", "kangaroo", "keyboard", "lamp", "lawn_mower", "leopard", "lion",
      "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain", "mouse", "mushroom", "oak_tree", "orange",
      "orchid", "otter", "palm_tree", "pear", "pickup_truck", "pine_tree", "plain", "plate", "poppy", "porcupine",
      "possum", "rabbit", "raccoon", "ray", "road", "rocket", "rose", "sea", "seal", "shark", "shrew", "skunk",
      "skyscraper", "snail", "snake", "spider", "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank",
      "telephone", "television", "tiger", "tractor", "train", "trout", "tulip", "turtle", "wardrobe", "whale",
      "willow_tree", "wolf", "woman", "worm"};
  const auto names = read_names(join(dir, "fine_label_names.txt"), 100, kFine);
  Source s;
  s.kind = "cifar100";
  Part train{"train", require_cifar("cifar100", dir, "train.bin", 2, 1, 100)};
  Part test{"test", require_cifar("cifar100", dir, "test.bin", 2, 1, 100)};
  train.data.class_names = names;
  test.data.class_names = names;
  s.parts = {std::move(train), std::move(test)};
  return s;
}

}  // namespace datasets::internal
