// The project's HDF5 dataset cache: write (atomically) and read back with checks.

#include "datasets/storage/atomic_file.h"
#include "datasets/storage/h5.h"
#include "datasets/source.h"
#include "datasets/internal/readers.h"
#include "host/memory.h"

#include <torch/torch.h>

#include <sstream>

namespace datasets {

namespace {

constexpr const char* kFormat = "acdc-meta-dataset";
constexpr int64_t kVersion = 1;

std::string join_lines(const std::vector<std::string>& v, char sep) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? std::string(1, sep) : "") + v[i];
  return out;
}

std::vector<std::string> split_on(const std::string& s, char sep) {
  std::vector<std::string> out;
  if (s.empty()) return out;
  std::string item;
  std::istringstream in(s);
  while (std::getline(in, item, sep)) out.push_back(item);
  if (!s.empty() && s.back() == sep) out.emplace_back();
  return out;
}

}  // namespace

void write_cache(const Source& s, const std::string& path, const std::function<void(int64_t, int64_t)>& progress) {
  if (s.parts.empty()) throw std::invalid_argument("write_cache: source '" + s.spec + "' has no parts");
  const auto& first = s.parts.front().data.images;
  int64_t total = 0;
  for (const auto& p : s.parts) {
    TORCH_CHECK(p.data.images.dim() == 4 && p.data.images.scalar_type() == torch::kByte,
                "write_cache: part ", p.name, " images must be uint8 NHWC");
    TORCH_CHECK(p.data.images.sizes().slice(1) == first.sizes().slice(1), "write_cache: part ", p.name,
                " has another image shape than part ", s.parts.front().name);
    for (const auto& n : p.data.class_names) {
      if (n.find('\n') != std::string::npos) throw std::invalid_argument("class name with a newline: '" + n + "'");
    }
    total += p.data.images.size(0);
  }
  storage::AtomicFile out(path);
  {
    storage::H5File f = storage::H5File::create(out.temp_path());
    std::vector<std::string> names;
    int64_t written = 0;
    for (const auto& p : s.parts) {
      names.push_back(p.name);
      f.create_group(p.name);
      f.write_tensor(p.name + "/labels", p.data.labels.to(torch::kLong), /*compress=*/true);
      const int64_t base = written;
      f.write_tensor(p.name + "/images", p.data.images, /*compress=*/true, [&](int64_t rows) {
        written = base + rows;
        if (progress) progress(written, total);
      });
      written = base + p.data.images.size(0);
      f.set_attr(p.name, "classes", p.data.num_classes());
      f.set_attr(p.name, "class_names", join_lines(p.data.class_names, '\n'));
    }
    // The identifying attributes go last: a file cut short is never taken for a cache.
    f.set_attr("/", "kind", s.kind);
    f.set_attr("/", "location", s.location);
    f.set_attr("/", "parts", join_lines(names, ','));
    f.set_attr("/", "image_height", first.size(1));
    f.set_attr("/", "image_width", first.size(2));
    f.set_attr("/", "channels", first.size(3));
    f.set_attr("/", "image_size", first.size(1) == first.size(2) ? first.size(1) : int64_t{0});
    f.set_attr("/", "version", kVersion);
    f.set_attr("/", "format", kFormat);
    f.close();
  }
  out.commit();
  if (progress) progress(total, total);
}

Source read_cache(const std::string& path, const LoadOptions& options) {
  const storage::H5File f = storage::H5File::open(path);
  auto bad = [&](const std::string& what) { return DataError("h5: '" + path + "' " + what); };
  if (!f.has_attr("/", "format")) {
    std::string hint;
    if (f.exists("datasets")) hint = " (it looks like a torchmeta file: use miniimagenet:DIR on its folder)";
    throw bad("is not a dataset cache of acdc-meta (no 'format' attribute; write one with acdc-meta data convert)" +
              hint);
  }
  if (f.attr_string("/", "format") != kFormat) {
    throw bad("is not a dataset cache of acdc-meta (format '" + f.attr_string("/", "format") + "')");
  }
  const int64_t version = f.attr_int("/", "version");
  if (version != kVersion) {
    throw bad("has cache version " + std::to_string(version) + "; this acdc-meta reads version " +
              std::to_string(kVersion));
  }
  Source s;
  s.kind = f.attr_string("/", "kind");
  s.location = f.attr_string("/", "location");
  const int64_t h = f.attr_int("/", "image_height"), w = f.attr_int("/", "image_width"),
                c = f.attr_int("/", "channels");
  // Sizes are checked against sanity bounds and this machine's memory before anything is read.
  if (h < 1 || w < 1 || h > kMaxStoredImageSide || w > kMaxStoredImageSide) {
    throw bad("declares images of " + std::to_string(h) + "x" + std::to_string(w) +
              " pixels (attributes 'image_height', 'image_width'), expected 1 to " +
              std::to_string(kMaxStoredImageSide) + " per side");
  }
  if (c != 1 && c != 3) throw bad("declares " + std::to_string(c) + " channels (attribute 'channels'), expected 1 or 3");
  const auto parts = split_on(f.attr_string("/", "parts"), ',');
  if (parts.empty()) throw bad("lists no parts");
  int64_t done = 0;
  for (const auto& name : parts) {
    if (!f.exists(name)) throw bad("lacks the group '/" + name + "' listed in its 'parts' attribute (damaged?)");
    for (const char* ds : {"images", "labels"}) {
      if (!f.exists(name + "/" + ds)) throw bad("lacks the dataset '/" + name + "/" + ds + "' (damaged?)");
    }
    const auto ishape = f.shape(name + "/images");
    const auto lshape = f.shape(name + "/labels");
    const std::vector<int64_t> want_tail = {h, w, c};
    if (ishape.size() != 4 || std::vector<int64_t>(ishape.begin() + 1, ishape.end()) != want_tail) {
      throw bad("'/" + name + "/images' has shape " + c10::str(c10::IntArrayRef(ishape)) + ", expected [N, " +
                std::to_string(h) + ", " + std::to_string(w) + ", " + std::to_string(c) + "]");
    }
    const double bytes = static_cast<double>(ishape[0]) * static_cast<double>(h * w * c);
    if (bytes > host::memory_limit_bytes() / 2) {
      throw bad("'/" + name + "/images' declares " + std::to_string(ishape[0]) + " images of " + std::to_string(h) +
                "x" + std::to_string(w) + "x" + std::to_string(c) + " (" + host::format_gib(bytes) +
                "), more than half of the " + host::format_gib(host::memory_limit_bytes()) + " of memory this process may use");
    }
    if (lshape.size() != 1 || lshape[0] != ishape[0]) {
      throw bad("'/" + name + "/labels' has shape " + c10::str(c10::IntArrayRef(lshape)) + ", expected [" +
                std::to_string(ishape[0]) + "]");
    }
    Part p;
    p.name = name;
    const int64_t classes = f.attr_int(name, "classes");
    p.data.class_names = split_on(f.attr_string(name, "class_names"), '\n');
    if (static_cast<int64_t>(p.data.class_names.size()) != classes) {
      throw bad("group '/" + name + "' has " + std::to_string(p.data.class_names.size()) + " class names but " +
                std::to_string(classes) + " classes");
    }
    if (options.progress) options.progress("reading " + name, done, done + ishape[0]);
    p.data.images = f.read_tensor(name + "/images");
    p.data.labels = f.read_tensor(name + "/labels");
    if (p.data.images.scalar_type() != torch::kByte) throw bad("'/" + name + "/images' is not uint8");
    if (p.data.labels.scalar_type() != torch::kLong) p.data.labels = p.data.labels.to(torch::kLong);
    if (p.data.labels.numel() > 0) {
      const int64_t lo = p.data.labels.min().item<int64_t>(), hi = p.data.labels.max().item<int64_t>();
      if (lo < 0 || hi >= classes) {
        throw bad("'/" + name + "/labels' has labels " + std::to_string(lo) + ".." + std::to_string(hi) +
                  ", outside 0.." + std::to_string(classes - 1));
      }
    }
    done += ishape[0];
    s.parts.push_back(std::move(p));
  }
  return s;
}

}  // namespace datasets
