// Image decoding (OpenCV, in parallel, straight into one uint8 NHWC tensor), file helpers and
// the small JSON list parser for torchmeta's label files.

#include "datasets/internal/readers.h"
#include "datasets/image_files.h"

#include "datasets/field_error.h"

#include <torch/torch.h>


#ifdef ACDC_META_DATASETS_OPENCV
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#endif

#include <algorithm>
#include <atomic>
#include <chrono>
#include <exception>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

namespace datasets::internal {

namespace fs = std::filesystem;

bool is_dir(const std::string& path) {
  std::error_code ec;
  return fs::is_directory(path, ec);
}

bool is_file(const std::string& path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec);
}

std::string join(const std::string& a, const std::string& b) {
  if (a.empty()) return b;
  return a.back() == '/' ? a + b : a + "/" + b;
}

std::vector<std::string> list_dirs(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.is_directory()) out.push_back(e.path().filename().string());
  }
  if (ec) throw DataError("cannot list folder '" + dir + "': " + ec.message());
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> list_images(const std::string& dir) {
  static const std::vector<std::string> exts = {".jpg", ".jpeg", ".png", ".bmp", ".ppm",
                                                ".pgm", ".pnm",  ".tif", ".tiff", ".webp"};
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (!e.is_regular_file()) continue;
    std::string ext = e.path().extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
    if (std::find(exts.begin(), exts.end(), ext) != exts.end()) out.push_back(e.path().filename().string());
  }
  if (ec) throw DataError("cannot list folder '" + dir + "': " + ec.message());
  std::sort(out.begin(), out.end());
  return out;
}

std::string read_text(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw DataError("cannot read '" + file + "'");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> parse_json_string_list(const std::string& text, const std::string& file) {
  size_t i = 0;
  auto bad = [&](const std::string& what) -> DataError {
    return DataError("'" + file + "' is not a JSON list of class names: " + what + " at offset " + std::to_string(i));
  };
  auto skip = [&] {
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
  };
  skip();
  if (i >= text.size() || text[i] != '[') throw bad("expected '['");
  ++i;
  std::vector<std::string> out;
  skip();
  if (i < text.size() && text[i] == ']') return out;
  while (true) {
    skip();
    if (i >= text.size() || text[i] != '"') throw bad("expected a string");
    ++i;
    std::string s;
    while (true) {
      if (i >= text.size()) throw bad("unterminated string");
      const char c = text[i++];
      if (c == '"') break;
      if (c != '\\') {
        s += c;
        continue;
      }
      if (i >= text.size()) throw bad("unterminated escape");
      const char e = text[i++];
      switch (e) {
        case 'n': s += '\n'; break;
        case 't': s += '\t'; break;
        case 'r': s += '\r'; break;
        case 'b': s += '\b'; break;
        case 'f': s += '\f'; break;
        case 'u': {
          if (i + 4 > text.size()) throw bad("short \\u escape");
          const unsigned cp = static_cast<unsigned>(std::stoul(text.substr(i, 4), nullptr, 16));
          i += 4;
          if (cp < 0x80) {
            s += static_cast<char>(cp);
          } else if (cp < 0x800) {
            s += static_cast<char>(0xC0 | (cp >> 6));
            s += static_cast<char>(0x80 | (cp & 0x3F));
          } else {
            s += static_cast<char>(0xE0 | (cp >> 12));
            s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            s += static_cast<char>(0x80 | (cp & 0x3F));
          }
          break;
        }
        default: s += e;
      }
    }
    out.push_back(s);
    skip();
    if (i < text.size() && text[i] == ',') {
      ++i;
      continue;
    }
    if (i < text.size() && text[i] == ']') break;
    throw bad("expected ',' or ']'");
  }
  return out;
}

namespace {

std::string describe(const std::vector<std::string>& files, const std::vector<std::string>& where, size_t i) {
  std::string s = "image '" + files[i] + "'";
  if (i < where.size() && !where[i].empty()) s += " (" + where[i] + ")";
  return s;
}

}  // namespace

#ifdef ACDC_META_DATASETS_OPENCV

namespace {

// Reads and decodes one file to an 8-bit RGB or grayscale Mat. A JPEG cut short decodes with
// only a libjpeg warning (grey filler), so require its end-of-image marker explicitly.
cv::Mat decode_one(const std::string& file, const std::string& what) {
  std::ifstream in(file, std::ios::binary | std::ios::ate);
  if (!in) throw DataError(what + " is missing or not readable");
  const auto size = static_cast<size_t>(in.tellg());
  std::vector<unsigned char> buf(size);
  in.seekg(0);
  if (size == 0 || !in.read(reinterpret_cast<char*>(buf.data()), static_cast<std::streamsize>(size))) {
    throw DataError(what + " is empty or unreadable");
  }
  if (size >= 2 && buf[0] == 0xFF && buf[1] == 0xD8) {
    bool eoi = false;
    for (size_t k = size >= 34 ? size - 34 : 0; k + 1 < size; ++k) {
      if (buf[k] == 0xFF && buf[k + 1] == 0xD9) eoi = true;
    }
    if (!eoi) throw DataError(what + " does not decode: truncated JPEG (no end-of-image marker)");
  }
  cv::Mat m = cv::imdecode(buf, cv::IMREAD_UNCHANGED);
  if (m.empty()) throw DataError(what + " does not decode (truncated, damaged or not an image)");
  if (m.depth() != CV_8U) {
    cv::Mat m8;
    m.convertTo(m8, CV_8U, m.depth() == CV_16U ? 1.0 / 257.0 : 1.0);
    m = m8;
  }
  cv::Mat out;
  switch (m.channels()) {
    case 1: out = m; break;
    case 2: cv::extractChannel(m, out, 0); break;
    case 3: cv::cvtColor(m, out, cv::COLOR_BGR2RGB); break;
    case 4: cv::cvtColor(m, out, cv::COLOR_BGRA2RGB); break;
    default: throw DataError(what + " has " + std::to_string(m.channels()) + " channels (expected 1, 3 or 4)");
  }
  return out;
}

}  // namespace

torch::Tensor decode_images(const std::vector<std::string>& files, const std::vector<std::string>& where,
                            int64_t image_size, const LoadOptions& options, const std::string& stage) {
  const int64_t n = static_cast<int64_t>(files.size());
  if (n == 0) return torch::empty({0, std::max<int64_t>(image_size, 1), std::max<int64_t>(image_size, 1), 3}, torch::kByte);
  int64_t h = image_size, w = image_size;
  if (image_size == 0) {
    const cv::Mat first = decode_one(files[0], describe(files, where, 0));
    h = first.rows;
    w = first.cols;
  }
  auto rgb = torch::empty({n, h, w, 3}, torch::kByte);
  std::vector<char> gray(static_cast<size_t>(n), 0);
  std::atomic<int64_t> next{0}, done{0};
  std::atomic<bool> stop{false};
  std::mutex err_mu;
  int64_t err_index = n;
  std::string err_msg;
  std::exception_ptr field_err;

  auto worker = [&] {
    while (!stop) {
      const int64_t i = next++;
      if (i >= n) return;
      try {
        const std::string what = describe(files, where, static_cast<size_t>(i));
        cv::Mat m = decode_one(files[static_cast<size_t>(i)], what);
        if (image_size > 0 && (m.rows != h || m.cols != w)) {
          cv::Mat r;
          const bool shrink = m.rows >= h && m.cols >= w;
          cv::resize(m, r, cv::Size(static_cast<int>(w), static_cast<int>(h)), 0, 0,
                     shrink ? cv::INTER_AREA : cv::INTER_LINEAR);
          m = r;
        } else if (m.rows != h || m.cols != w) {
          throw FieldError(what + " is " + std::to_string(m.cols) + "x" + std::to_string(m.rows) +
                               " but the first image '" + files[0] + "' is " + std::to_string(w) + "x" +
                               std::to_string(h) + "; pass ",
                           "image_size", " N to resize all images");
        }
        cv::Mat dst(static_cast<int>(h), static_cast<int>(w), CV_8UC3, rgb[i].data_ptr());
        if (m.channels() == 1) {
          gray[static_cast<size_t>(i)] = 1;
          cv::cvtColor(m, dst, cv::COLOR_GRAY2RGB);
        } else {
          m.copyTo(dst);
        }
        ++done;
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> lock(err_mu);
        if (i < err_index) {
          err_index = i;
          err_msg = e.what();
          // A FieldError keeps its type, so that a caller can name the setting its own way.
          field_err = dynamic_cast<const FieldError*>(&e) != nullptr ? std::current_exception() : nullptr;
        }
        stop = true;
      }
    }
  };
  const int threads = static_cast<int>(std::clamp<unsigned>(std::thread::hardware_concurrency(), 1, 16));
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back(worker);
  try {
    while (done < n && !stop) {
      if (options.progress) options.progress(stage, done, n);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  } catch (...) {
    stop = true;
    for (auto& t : pool) t.join();
    throw;
  }
  for (auto& t : pool) t.join();
  if (field_err) std::rethrow_exception(field_err);
  if (err_index < n) throw DataError(err_msg);
  if (options.progress) options.progress(stage, n, n);
  const bool all_gray = std::all_of(gray.begin(), gray.end(), [](char g) { return g != 0; });
  return all_gray ? rgb.narrow(3, 0, 1).contiguous() : rgb;
}

#else

torch::Tensor decode_images(const std::vector<std::string>& files, const std::vector<std::string>& where,
                            int64_t image_size, const LoadOptions& options, const std::string& stage) {
  if (files.empty()) return torch::empty({0, std::max<int64_t>(image_size, 1), std::max<int64_t>(image_size, 1), 3}, torch::kByte);
  throw DataError("built without OpenCV: cannot decode " + files[0] +
                  "; convert to an HDF5 cache on a machine with OpenCV");
}

#endif

Split decode_class_lists(const std::vector<std::string>& class_names,
                         const std::vector<std::vector<std::string>>& files,
                         const std::vector<std::vector<std::string>>& where, const LoadOptions& options,
                         const std::string& stage) {
  std::vector<std::string> all_files, all_where;
  std::vector<int64_t> labels;
  for (size_t c = 0; c < files.size(); ++c) {
    for (size_t k = 0; k < files[c].size(); ++k) {
      all_files.push_back(files[c][k]);
      all_where.push_back(c < where.size() && k < where[c].size() ? where[c][k] : "");
      labels.push_back(static_cast<int64_t>(c));
    }
  }
  Split s;
  s.images = decode_images(all_files, all_where, options.image_size, options, stage);
  s.labels = torch::tensor(labels, torch::kLong);
  if (labels.empty()) s.labels = torch::empty({0}, torch::kLong);
  s.class_names = class_names;
  return s;
}

}  // namespace datasets::internal

namespace datasets {

torch::Tensor decode_image_files(const std::vector<std::string>& files, const std::vector<std::string>& where,
                                 int64_t image_size) {
  return internal::decode_images(files, where, image_size, {}, "decoding");
}

std::vector<std::string> image_files_in(const std::string& dir) { return internal::list_images(dir); }

std::vector<std::string> subfolders_of(const std::string& dir) { return internal::list_dirs(dir); }

}  // namespace datasets
