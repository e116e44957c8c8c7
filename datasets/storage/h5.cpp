#include "datasets/storage/h5.h"

#include "datasets/storage/error.h"

#include <hdf5.h>

#include <torch/torch.h>

#include <algorithm>
#include <mutex>

namespace storage {

static_assert(sizeof(hid_t) == sizeof(int64_t), "hid_t is expected to be 64 bits (HDF5 >= 1.10)");

namespace {

// HDF5 prints its error stack to stderr by default; our messages say what went wrong.
void quiet_hdf5() {
  static std::once_flag once;
  std::call_once(once, [] { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); });
}

// Closes an HDF5 handle of any kind on scope exit.
struct Handle {
  hid_t id;
  explicit Handle(hid_t i) : id(i) {}
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() {
    if (id < 0) return;
    switch (H5Iget_type(id)) {
      case H5I_DATASET: H5Dclose(id); break;
      case H5I_DATASPACE: H5Sclose(id); break;
      case H5I_DATATYPE: H5Tclose(id); break;
      case H5I_GROUP: H5Gclose(id); break;
      case H5I_ATTR: H5Aclose(id); break;
      case H5I_GENPROP_LST: H5Pclose(id); break;
      default: H5Oclose(id); break;
    }
  }
  bool ok() const { return id >= 0; }
};

[[noreturn]] void fail(const std::string& file, const std::string& what) {
  throw FileError("HDF5 file '" + file + "': " + what);
}

hid_t native_type(torch::ScalarType t) {
  switch (t) {
    case torch::kByte: return H5T_NATIVE_UINT8;
    case torch::kInt: return H5T_NATIVE_INT32;
    case torch::kLong: return H5T_NATIVE_INT64;
    case torch::kFloat: return H5T_NATIVE_FLOAT;
    case torch::kDouble: return H5T_NATIVE_DOUBLE;
    default: return -1;
  }
}

// "a/b/c" -> "/a/b/c" (HDF5 accepts both, but messages read better with the leading slash).
std::string norm(const std::string& p) { return p.empty() || p[0] != '/' ? "/" + p : p; }

}  // namespace

H5File H5File::create(const std::string& path) {
  quiet_hdf5();
  const hid_t id = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (id < 0) throw FileError("cannot create HDF5 file '" + path + "' (folder missing or not writable?)");
  return H5File(id, path);
}

H5File H5File::open(const std::string& path) {
  quiet_hdf5();
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw FileError("HDF5 file '" + path + "' not found or not readable");
  std::fclose(f);
  if (H5Fis_hdf5(path.c_str()) <= 0) {
    throw FileError("'" + path + "' is not an HDF5 file (no HDF5 signature: wrong file or damaged)");
  }
  const hid_t id = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (id < 0) throw FileError("cannot open HDF5 file '" + path + "' (damaged or truncated)");
  return H5File(id, path);
}

H5File::H5File(H5File&& other) noexcept : id_(other.id_), path_(std::move(other.path_)), checksums_(other.checksums_) {
  other.id_ = -1;
}

H5File& H5File::operator=(H5File&& other) noexcept {
  if (this != &other) {
    close();
    id_ = other.id_;
    path_ = std::move(other.path_);
    checksums_ = other.checksums_;
    other.id_ = -1;
  }
  return *this;
}

H5File::~H5File() { close(); }

void H5File::close() {
  if (id_ >= 0) H5Fclose(id_);
  id_ = -1;
}

bool H5File::exists(const std::string& path) const {
  const std::string p = norm(path);
  if (p == "/") return true;
  // Every prefix must exist for H5Lexists to be safe.
  size_t pos = 1;
  while (true) {
    const size_t next = p.find('/', pos);
    const std::string prefix = p.substr(0, next);
    if (H5Lexists(id_, prefix.c_str(), H5P_DEFAULT) <= 0) return false;
    if (next == std::string::npos) return true;
    pos = next + 1;
  }
}

void H5File::create_group(const std::string& path) {
  if (exists(path)) return;
  Handle lcpl(H5Pcreate(H5P_LINK_CREATE));
  H5Pset_create_intermediate_group(lcpl.id, 1);
  Handle g(H5Gcreate2(id_, norm(path).c_str(), lcpl.id, H5P_DEFAULT, H5P_DEFAULT));
  if (!g.ok()) fail(path_, "cannot create group '" + norm(path) + "'");
}

void H5File::write_tensor(const std::string& path, const torch::Tensor& t, bool compress) {
  write_tensor(path, t, compress, nullptr);
}

void H5File::write_tensor(const std::string& path, const torch::Tensor& tensor, bool compress,
                          const std::function<void(int64_t)>& progress) {
  const std::string p = norm(path);
  const hid_t mem_type = native_type(tensor.scalar_type());
  if (mem_type < 0) {
    throw std::invalid_argument("H5File::write_tensor('" + p + "'): unsupported dtype " +
                                std::string(c10::toString(tensor.scalar_type())));
  }
  const torch::Tensor t = tensor.to(torch::kCPU).contiguous();
  if (exists(p)) H5Ldelete(id_, p.c_str(), H5P_DEFAULT);

  std::vector<hsize_t> dims(t.sizes().begin(), t.sizes().end());
  Handle space(t.dim() == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(t.dim(), dims.data(), nullptr));
  Handle dcpl(H5Pcreate(H5P_DATASET_CREATE));
  const bool empty = t.numel() == 0;
  if (t.dim() > 0 && !empty) {
    // Chunks of whole rows, about 1 MiB each.
    const int64_t row_bytes = std::max<int64_t>(1, t.numel() / t.size(0) * t.element_size());
    std::vector<hsize_t> chunk = dims;
    chunk[0] = static_cast<hsize_t>(std::clamp<int64_t>((1 << 20) / row_bytes, 1, t.size(0)));
    // Filters (deflate, the checksum) need a chunked layout.
    if (compress || progress || checksums_) H5Pset_chunk(dcpl.id, t.dim(), chunk.data());
    if (compress && H5Zfilter_avail(H5Z_FILTER_DEFLATE) > 0) H5Pset_deflate(dcpl.id, 4);
    if (checksums_ && H5Pset_fletcher32(dcpl.id) < 0) fail(path_, "cannot add a checksum to dataset '" + p + "'");
  }
  Handle lcpl(H5Pcreate(H5P_LINK_CREATE));
  H5Pset_create_intermediate_group(lcpl.id, 1);
  Handle ds(H5Dcreate2(id_, p.c_str(), mem_type, space.id, lcpl.id, dcpl.id, H5P_DEFAULT));
  if (!ds.ok()) fail(path_, "cannot create dataset '" + p + "'");
  if (empty) return;
  if (!progress || t.dim() == 0) {
    if (H5Dwrite(ds.id, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, t.data_ptr()) < 0) {
      fail(path_, "cannot write dataset '" + p + "' (disk full?)");
    }
    return;
  }
  const int64_t rows = t.size(0);
  const int64_t row_bytes = t.numel() / rows * t.element_size();
  const int64_t slice = std::max<int64_t>(1, (8 << 20) / std::max<int64_t>(row_bytes, 1));
  for (int64_t r0 = 0; r0 < rows; r0 += slice) {
    const int64_t n = std::min(slice, rows - r0);
    std::vector<hsize_t> start(dims.size(), 0), count = dims;
    start[0] = static_cast<hsize_t>(r0);
    count[0] = static_cast<hsize_t>(n);
    Handle file_space(H5Dget_space(ds.id));
    H5Sselect_hyperslab(file_space.id, H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr);
    Handle mem_space(H5Screate_simple(t.dim(), count.data(), nullptr));
    const auto* src = static_cast<const char*>(t.data_ptr()) + r0 * row_bytes;
    if (H5Dwrite(ds.id, mem_type, mem_space.id, file_space.id, H5P_DEFAULT, src) < 0) {
      fail(path_, "cannot write dataset '" + p + "' (disk full?)");
    }
    progress(r0 + n);
  }
}

std::vector<int64_t> H5File::shape(const std::string& path) const {
  const std::string p = norm(path);
  if (!exists(p)) fail(path_, "dataset '" + p + "' is missing");
  Handle ds(H5Dopen2(id_, p.c_str(), H5P_DEFAULT));
  if (!ds.ok()) fail(path_, "'" + p + "' is not a dataset");
  Handle space(H5Dget_space(ds.id));
  const int rank = H5Sget_simple_extent_ndims(space.id);
  if (rank < 0) fail(path_, "dataset '" + p + "' has an unreadable shape (damaged?)");
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  H5Sget_simple_extent_dims(space.id, dims.data(), nullptr);
  return std::vector<int64_t>(dims.begin(), dims.end());
}

torch::Tensor H5File::read_tensor(const std::string& path) const {
  const std::string p = norm(path);
  const auto sizes = shape(p);
  Handle ds(H5Dopen2(id_, p.c_str(), H5P_DEFAULT));
  Handle type(H5Dget_type(ds.id));
  const H5T_class_t cls = H5Tget_class(type.id);
  const size_t size = H5Tget_size(type.id);
  torch::ScalarType st;
  if (cls == H5T_INTEGER && size == 1 && H5Tget_sign(type.id) == H5T_SGN_NONE) {
    st = torch::kByte;
  } else if (cls == H5T_INTEGER && size <= 4) {
    st = torch::kInt;
  } else if (cls == H5T_INTEGER) {
    st = torch::kLong;
  } else if (cls == H5T_FLOAT && size <= 4) {
    st = torch::kFloat;
  } else if (cls == H5T_FLOAT) {
    st = torch::kDouble;
  } else {
    fail(path_, "dataset '" + p + "' has an unsupported element type (not integer or float)");
  }
  // A damaged shape (a corrupted dimension) must not become a huge allocation or a read of
  // millions of missing chunks: every chunk the shape needs is stored in files we write.
  int64_t numel = 1;
  for (const auto d : sizes) numel = d == 0 || numel <= (int64_t{1} << 50) / std::max<int64_t>(d, 1) ? numel * d : int64_t{1} << 50;
  Handle dcpl(H5Dget_create_plist(ds.id));
  if (numel > 0 && dcpl.ok() && H5Pget_layout(dcpl.id) == H5D_CHUNKED) {
    std::vector<hsize_t> chunk(sizes.size());
    if (H5Pget_chunk(dcpl.id, static_cast<int>(chunk.size()), chunk.data()) == static_cast<int>(chunk.size())) {
      hsize_t needed = 1;
      for (size_t i = 0; i < sizes.size(); ++i) {
        const hsize_t c = std::max<hsize_t>(chunk[i], 1), n = (static_cast<hsize_t>(sizes[i]) + c - 1) / c;
        needed = needed > (hsize_t{1} << 40) / std::max<hsize_t>(n, 1) ? hsize_t{1} << 40 : needed * n;
      }
      hsize_t stored = 0;
      Handle space(H5Dget_space(ds.id));
      if (H5Dget_num_chunks(ds.id, space.id, &stored) >= 0 && stored < needed) {
        fail(path_, "dataset '" + p + "' is damaged: its shape " + c10::str(c10::IntArrayRef(sizes)) + " needs " + std::to_string(needed) +
                        " chunks, the file holds " + std::to_string(stored));
      }
    }
  }
  torch::Tensor out;
  try {
    out = torch::empty(sizes, torch::TensorOptions().dtype(st));
  } catch (const c10::Error&) {
    fail(path_, "dataset '" + p + "' has shape " + c10::str(c10::IntArrayRef(sizes)) + ", too large to read (a damaged file?)");
  }
  if (out.numel() == 0) return out;
  if (H5Dread(ds.id, native_type(st), H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data_ptr()) < 0) {
    unsigned flags = 0;
    size_t nvalues = 0;
    const bool checksummed =
        dcpl.ok() && H5Pget_filter_by_id2(dcpl.id, H5Z_FILTER_FLETCHER32, &flags, &nvalues, nullptr, 0, nullptr, nullptr) >= 0;
    if (checksummed) fail(path_, "dataset '" + p + "' fails its Fletcher-32 checksum (the file is damaged)");
    fail(path_, "cannot read dataset '" + p + "' (damaged or truncated file)");
  }
  return out;
}

std::vector<std::string> H5File::list(const std::string& group) const {
  const std::string p = norm(group);
  if (!exists(p)) fail(path_, "group '" + p + "' is missing");
  Handle g(H5Gopen2(id_, p.c_str(), H5P_DEFAULT));
  if (!g.ok()) fail(path_, "'" + p + "' is not a group");
  H5G_info_t info;
  if (H5Gget_info(g.id, &info) < 0) fail(path_, "cannot list group '" + p + "' (damaged?)");
  std::vector<std::string> names;
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    const ssize_t n = H5Lget_name_by_idx(g.id, ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
    if (n < 0) fail(path_, "cannot list group '" + p + "' (damaged?)");
    std::string name(static_cast<size_t>(n) + 1, '\0');
    H5Lget_name_by_idx(g.id, ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), name.size(), H5P_DEFAULT);
    name.resize(static_cast<size_t>(n));
    names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

namespace {

hid_t open_object(hid_t file, const std::string& file_path, const std::string& object) {
  const hid_t o = H5Oopen(file, object.c_str(), H5P_DEFAULT);
  if (o < 0) fail(file_path, "object '" + object + "' is missing");
  return o;
}

void write_attr(hid_t file, const std::string& file_path, const std::string& object, const std::string& name,
                hid_t type, const void* data) {
  const std::string obj = norm(object);
  Handle o(open_object(file, file_path, obj));
  if (H5Aexists(o.id, name.c_str()) > 0) H5Adelete(o.id, name.c_str());
  Handle space(H5Screate(H5S_SCALAR));
  Handle a(H5Acreate2(o.id, name.c_str(), type, space.id, H5P_DEFAULT, H5P_DEFAULT));
  if (!a.ok() || H5Awrite(a.id, type, data) < 0) {
    fail(file_path, "cannot write attribute '" + name + "' of '" + obj + "'");
  }
}

}  // namespace

void H5File::set_attr(const std::string& object, const std::string& name, const std::string& value) {
  // Fixed-length string; attributes over 64 KiB would need dense storage, so refuse them.
  if (value.size() > 60000) {
    throw std::invalid_argument("H5File::set_attr: attribute '" + name + "' is too long (" +
                                std::to_string(value.size()) + " bytes); store it as a dataset");
  }
  Handle type(H5Tcopy(H5T_C_S1));
  H5Tset_size(type.id, std::max<size_t>(1, value.size()));
  H5Tset_strpad(type.id, H5T_STR_NULLPAD);
  std::string buf = value.empty() ? std::string(1, '\0') : value;
  write_attr(id_, path_, object, name, type.id, buf.data());
}

void H5File::set_attr(const std::string& object, const std::string& name, int64_t value) {
  write_attr(id_, path_, object, name, H5T_NATIVE_INT64, &value);
}

void H5File::set_attr(const std::string& object, const std::string& name, double value) {
  write_attr(id_, path_, object, name, H5T_NATIVE_DOUBLE, &value);
}

void H5File::set_attr(const std::string& object, const std::string& name, const std::vector<double>& values) {
  const std::string obj = norm(object);
  Handle o(open_object(id_, path_, obj));
  if (H5Aexists(o.id, name.c_str()) > 0) H5Adelete(o.id, name.c_str());
  const hsize_t n = values.size();
  Handle space(H5Screate_simple(1, &n, nullptr));
  Handle a(H5Acreate2(o.id, name.c_str(), H5T_NATIVE_DOUBLE, space.id, H5P_DEFAULT, H5P_DEFAULT));
  if (!a.ok() || H5Awrite(a.id, H5T_NATIVE_DOUBLE, values.data()) < 0) {
    fail(path_, "cannot write attribute '" + name + "' of '" + obj + "'");
  }
}

bool H5File::has_attr(const std::string& object, const std::string& name) const {
  const std::string obj = norm(object);
  if (!exists(obj)) return false;
  Handle o(H5Oopen(id_, obj.c_str(), H5P_DEFAULT));
  return o.ok() && H5Aexists(o.id, name.c_str()) > 0;
}

namespace {

hid_t open_attr(hid_t file, const std::string& file_path, const std::string& object, const std::string& name,
                Handle& obj_handle) {
  obj_handle.id = open_object(file, file_path, object);
  if (H5Aexists(obj_handle.id, name.c_str()) <= 0) {
    fail(file_path, "attribute '" + name + "' of '" + object + "' is missing");
  }
  const hid_t a = H5Aopen(obj_handle.id, name.c_str(), H5P_DEFAULT);
  if (a < 0) fail(file_path, "cannot open attribute '" + name + "' of '" + object + "'");
  return a;
}

}  // namespace

std::string H5File::attr_string(const std::string& object, const std::string& name) const {
  const std::string obj = norm(object);
  Handle o(-1);
  Handle a(open_attr(id_, path_, obj, name, o));
  Handle type(H5Aget_type(a.id));
  if (H5Tget_class(type.id) != H5T_STRING) fail(path_, "attribute '" + name + "' of '" + obj + "' is not a string");
  if (H5Tis_variable_str(type.id) > 0) {
    Handle mem(H5Tcopy(H5T_C_S1));
    H5Tset_size(mem.id, H5T_VARIABLE);
    char* s = nullptr;
    if (H5Aread(a.id, mem.id, &s) < 0) fail(path_, "cannot read attribute '" + name + "' of '" + obj + "'");
    std::string out = s ? s : "";
    H5free_memory(s);
    return out;
  }
  const size_t size = H5Tget_size(type.id);
  std::string buf(size, '\0');
  if (H5Aread(a.id, type.id, buf.data()) < 0) fail(path_, "cannot read attribute '" + name + "' of '" + obj + "'");
  const size_t end = buf.find('\0');
  if (end != std::string::npos) buf.resize(end);
  return buf;
}

namespace {

// A scalar read goes into one value: an attribute holding several would overrun it.
void require_one_value(const std::string& file, const std::string& obj, const std::string& name, int64_t attr) {
  Handle space(H5Aget_space(attr));
  const hssize_t n = H5Sget_simple_extent_npoints(space.id);
  if (n != 1) {
    fail(file, "attribute '" + name + "' of '" + obj + "' holds " + std::to_string(n) + " values, expected one");
  }
}

}  // namespace

int64_t H5File::attr_int(const std::string& object, const std::string& name) const {
  const std::string obj = norm(object);
  Handle o(-1);
  Handle a(open_attr(id_, path_, obj, name, o));
  Handle type(H5Aget_type(a.id));
  if (H5Tget_class(type.id) != H5T_INTEGER) fail(path_, "attribute '" + name + "' of '" + obj + "' is not an integer");
  require_one_value(path_, obj, name, a.id);
  int64_t v = 0;
  if (H5Aread(a.id, H5T_NATIVE_INT64, &v) < 0) fail(path_, "cannot read attribute '" + name + "' of '" + obj + "'");
  return v;
}

double H5File::attr_double(const std::string& object, const std::string& name) const {
  const std::string obj = norm(object);
  Handle o(-1);
  Handle a(open_attr(id_, path_, obj, name, o));
  Handle type(H5Aget_type(a.id));
  const auto cls = H5Tget_class(type.id);
  if (cls != H5T_FLOAT && cls != H5T_INTEGER) fail(path_, "attribute '" + name + "' of '" + obj + "' is not a number");
  require_one_value(path_, obj, name, a.id);
  double v = 0;
  if (H5Aread(a.id, H5T_NATIVE_DOUBLE, &v) < 0) fail(path_, "cannot read attribute '" + name + "' of '" + obj + "'");
  return v;
}

std::vector<double> H5File::attr_doubles(const std::string& object, const std::string& name) const {
  const std::string obj = norm(object);
  Handle o(-1);
  Handle a(open_attr(id_, path_, obj, name, o));
  Handle type(H5Aget_type(a.id));
  const auto cls = H5Tget_class(type.id);
  if (cls != H5T_FLOAT && cls != H5T_INTEGER) fail(path_, "attribute '" + name + "' of '" + obj + "' is not a number");
  Handle space(H5Aget_space(a.id));
  const hssize_t n = H5Sget_simple_extent_npoints(space.id);
  if (n < 0) fail(path_, "cannot read attribute '" + name + "' of '" + obj + "'");
  std::vector<double> v(static_cast<size_t>(n));
  if (n > 0 && H5Aread(a.id, H5T_NATIVE_DOUBLE, v.data()) < 0) {
    fail(path_, "cannot read attribute '" + name + "' of '" + obj + "'");
  }
  return v;
}

}  // namespace storage
