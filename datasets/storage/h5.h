#pragma once
// A thin RAII wrapper over the HDF5 C API: tensors in, tensors out, string/int/double
// attributes. Used by the dataset cache, checkpoints and exports. Errors are FileError
// (std::invalid_argument) naming the file and the object.

#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace storage {

class H5File {
 public:
  static H5File create(const std::string& path);  // truncate/create
  static H5File open(const std::string& path);    // read-only; throws naming the path

  H5File(H5File&& other) noexcept;
  H5File& operator=(H5File&& other) noexcept;
  H5File(const H5File&) = delete;
  H5File& operator=(const H5File&) = delete;
  ~H5File();

  // uint8 / int32 / int64 / float32 / float64, any rank (rank 0 too). Creates intermediate
  // groups ("a/b/c"); replaces an existing dataset. compress: chunked + deflate.
  void write_tensor(const std::string& path, const torch::Tensor& t, bool compress = false);
  // As above, written in slices along dim 0; `progress(rows_done)` is called after each slice
  // (it may throw to abort the write).
  void write_tensor(const std::string& path, const torch::Tensor& t, bool compress,
                    const std::function<void(int64_t rows_done)>& progress);
  torch::Tensor read_tensor(const std::string& path) const;  // throws naming the dataset
  std::vector<int64_t> shape(const std::string& path) const;
  bool exists(const std::string& path) const;
  std::vector<std::string> list(const std::string& group = "/") const;  // child names (sorted)
  void create_group(const std::string& path);

  void set_attr(const std::string& object, const std::string& name, const std::string& value);
  void set_attr(const std::string& object, const std::string& name, const char* value) {
    set_attr(object, name, std::string(value));
  }
  void set_attr(const std::string& object, const std::string& name, int64_t value);
  void set_attr(const std::string& object, const std::string& name, double value);
  // A one-dimensional float64 attribute (e.g. per-channel constants).
  void set_attr(const std::string& object, const std::string& name, const std::vector<double>& values);
  std::string attr_string(const std::string& object, const std::string& name) const;
  int64_t attr_int(const std::string& object, const std::string& name) const;
  double attr_double(const std::string& object, const std::string& name) const;
  // A numeric attribute of any length (a scalar reads as one value).
  std::vector<double> attr_doubles(const std::string& object, const std::string& name) const;
  bool has_attr(const std::string& object, const std::string& name) const;

  // Datasets written from now on (rank >= 1, not empty) carry HDF5's Fletcher-32 checksum;
  // HDF5 verifies it on every read, and read_tensor names a dataset that fails it.
  void set_checksums(bool on) { checksums_ = on; }

  const std::string& path() const { return path_; }
  void close();

 private:
  H5File(int64_t id, std::string path) : id_(id), path_(std::move(path)) {}
  int64_t id_ = -1;  // hid_t
  std::string path_;
  bool checksums_ = false;
};

}  // namespace storage
