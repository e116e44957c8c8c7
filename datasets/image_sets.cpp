// Image-file sources: miniImageNet (Ravi CSVs + images/, class folders, torchmeta HDF5),
// TinyImageNet, and a generic class-folder set.

#include "datasets/storage/h5.h"
#include "datasets/internal/readers.h"

#include <torch/torch.h>

#include <map>
#include <sstream>

namespace datasets::internal {

namespace {

const char* kSplits[] = {"train", "val", "test"};

// root/<class>/<image files>, classes sorted by name.
Split read_class_folders(const std::string& root, const std::string& kind, const LoadOptions& options,
                         const std::string& stage) {
  const auto classes = list_dirs(root);
  if (classes.empty()) throw DataError(kind + ": '" + root + "' has no class subfolders");
  std::vector<std::vector<std::string>> files(classes.size()), where;
  for (size_t c = 0; c < classes.size(); ++c) {
    const auto dir = join(root, classes[c]);
    for (const auto& f : list_images(dir)) files[c].push_back(join(dir, f));
    if (files[c].empty()) throw DataError(kind + ": class folder '" + dir + "' has no images");
  }
  return decode_class_lists(classes, files, where, options, stage);
}

// Grayscale and colour parts in one source: make every part RGB.
void unify_channels(Source& s) {
  int64_t c = 1;
  for (const auto& p : s.parts) c = std::max(c, p.data.images.size(3));
  for (auto& p : s.parts) {
    if (p.data.images.size(3) != c) p.data.images = p.data.images.expand({-1, -1, -1, c}).contiguous();
  }
}

std::vector<std::string> split_fields(const std::string& line, char sep) {
  std::vector<std::string> out;
  std::string field;
  std::istringstream in(line);
  while (std::getline(in, field, sep)) {
    while (!field.empty() && (field.back() == '\r' || field.back() == ' ')) field.pop_back();
    size_t b = 0;
    while (b < field.size() && field[b] == ' ') ++b;
    out.push_back(field.substr(b));
  }
  return out;
}

// Ravi & Larochelle: <split>.csv with "filename,label" rows; images in root/images/.
Split read_ravi_csv(const std::string& root, const std::string& split, const LoadOptions& options) {
  const auto csv = join(root, split + ".csv");
  if (!is_file(csv)) throw DataError("miniimagenet: split file '" + csv + "' is missing");
  std::istringstream in(read_text(csv));
  std::string line;
  std::vector<std::string> files, where, names;
  std::vector<int64_t> labels;
  std::map<std::string, int64_t> index;
  int64_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
    if (line.empty()) continue;
    const auto f = split_fields(line, ',');
    if (line_no == 1 && f.size() == 2 && f[0] == "filename" && f[1] == "label") continue;
    if (f.size() != 2 || f[0].empty() || f[1].empty()) {
      throw DataError("miniimagenet: '" + csv + "' line " + std::to_string(line_no) +
                      " is not 'filename,label': '" + line + "'");
    }
    const auto path = join(join(root, "images"), f[0]);
    if (!is_file(path)) {
      throw DataError("miniimagenet: '" + csv + "' line " + std::to_string(line_no) + " names image '" + f[0] +
                      "', which is not in '" + join(root, "images") + "'");
    }
    auto it = index.find(f[1]);
    if (it == index.end()) {
      it = index.emplace(f[1], static_cast<int64_t>(names.size())).first;
      names.push_back(f[1]);
    }
    files.push_back(path);
    where.push_back(split + ".csv line " + std::to_string(line_no));
    labels.push_back(it->second);
  }
  if (files.empty()) throw DataError("miniimagenet: split file '" + csv + "' lists no images");
  Split s;
  s.images = decode_images(files, where, options.image_size, options, "decoding " + split);
  s.labels = torch::tensor(labels, torch::kLong);
  s.class_names = names;
  return s;
}

// torchmeta: <split>_data.hdf5 (group "datasets", one uint8 [n, H, W, 3] dataset per class)
// and <split>_labels.json (a JSON list of the class names).
Split read_torchmeta(const std::string& root, const std::string& split) {
  const auto h5_path = join(root, split + "_data.hdf5");
  const auto json_path = join(root, split + "_labels.json");
  if (!is_file(h5_path)) throw DataError("miniimagenet: torchmeta file '" + h5_path + "' is missing");
  if (!is_file(json_path)) throw DataError("miniimagenet: torchmeta file '" + json_path + "' is missing");
  const auto names = parse_json_string_list(read_text(json_path), json_path);
  if (names.empty()) throw DataError("miniimagenet: '" + json_path + "' lists no classes");
  const storage::H5File f = storage::H5File::open(h5_path);
  std::vector<torch::Tensor> images, labels;
  for (size_t c = 0; c < names.size(); ++c) {
    const std::string ds = "datasets/" + names[c];
    if (!f.exists(ds)) {
      throw DataError("miniimagenet: '" + h5_path + "' has no dataset '" + ds + "' for class '" + names[c] +
                      "' listed in '" + json_path + "'");
    }
    auto t = f.read_tensor(ds);
    if (t.scalar_type() != torch::kByte || t.dim() != 4 || (t.size(3) != 3 && t.size(3) != 1)) {
      throw DataError("miniimagenet: '" + h5_path + "' dataset '" + ds + "' is not uint8 [n, H, W, 3]");
    }
    if (!images.empty() && t.sizes().slice(1) != images[0].sizes().slice(1)) {
      throw DataError("miniimagenet: '" + h5_path + "' dataset '" + ds + "' has image shape " +
                      c10::str(t.sizes().slice(1)) + ", others " + c10::str(images[0].sizes().slice(1)));
    }
    labels.push_back(torch::full({t.size(0)}, static_cast<int64_t>(c), torch::kLong));
    images.push_back(t);
  }
  Split s;
  s.images = torch::cat(images);
  s.labels = torch::cat(labels);
  s.class_names = names;
  return s;
}

}  // namespace

Source read_miniimagenet(const std::string& root, const LoadOptions& options) {
  Source s;
  s.kind = "miniimagenet";
  const bool csv = is_file(join(root, "train.csv")) || is_file(join(root, "val.csv")) || is_file(join(root, "test.csv"));
  const bool folders = is_dir(join(root, "train")) || is_dir(join(root, "val")) || is_dir(join(root, "test"));
  std::string tm_root;
  for (const auto& r : {root, join(root, "miniimagenet")}) {
    if (tm_root.empty() && (is_file(join(r, "train_data.hdf5")) || is_file(join(r, "train_labels.json")))) tm_root = r;
  }
  if (csv && is_dir(join(root, "images"))) {
    for (const char* split : kSplits) s.parts.push_back({split, read_ravi_csv(root, split, options)});
  } else if (folders) {
    for (const char* split : kSplits) {
      const auto dir = join(root, split);
      if (!is_dir(dir)) throw DataError("miniimagenet: split folder '" + dir + "' is missing");
      s.parts.push_back({split, read_class_folders(dir, "miniimagenet", options, std::string("decoding ") + split)});
    }
  } else if (!tm_root.empty()) {
    for (const char* split : kSplits) s.parts.push_back({split, read_torchmeta(tm_root, split)});
  } else if (csv) {
    throw DataError("miniimagenet: '" + root + "' has the split CSVs but no images/ folder beside them");
  } else {
    throw DataError("miniimagenet: '" + root +
                    "' has none of the known layouts: train.csv, val.csv, test.csv with an images/ folder "
                    "(Ravi & Larochelle); train/ val/ test/ class folders; train_data.hdf5 + train_labels.json "
                    "(torchmeta)");
  }
  unify_channels(s);
  return s;
}

Source read_tinyimagenet(const std::string& root, const LoadOptions& options) {
  Source s;
  s.kind = "tinyimagenet";
  const auto wnids_file = join(root, "wnids.txt");
  if (!is_file(wnids_file)) throw DataError("tinyimagenet: '" + wnids_file + "' is missing");
  std::vector<std::string> wnids;
  {
    std::istringstream in(read_text(wnids_file));
    std::string line;
    while (std::getline(in, line)) {
      const auto f = split_fields(line, '\t');
      if (!f.empty() && !f[0].empty()) wnids.push_back(f[0]);
    }
  }
  if (wnids.empty()) throw DataError("tinyimagenet: '" + wnids_file + "' lists no classes");
  std::map<std::string, int64_t> index;
  for (size_t i = 0; i < wnids.size(); ++i) index[wnids[i]] = static_cast<int64_t>(i);

  std::vector<std::vector<std::string>> train_files(wnids.size()), none;
  for (size_t c = 0; c < wnids.size(); ++c) {
    const auto dir = join(join(join(root, "train"), wnids[c]), "images");
    if (!is_dir(dir)) throw DataError("tinyimagenet: class folder '" + dir + "' is missing (listed in wnids.txt)");
    for (const auto& f : list_images(dir)) train_files[c].push_back(join(dir, f));
    if (train_files[c].empty()) throw DataError("tinyimagenet: class folder '" + dir + "' has no images");
  }
  s.parts.push_back({"train", decode_class_lists(wnids, train_files, none, options, "decoding train")});

  const auto ann = join(join(root, "val"), "val_annotations.txt");
  if (!is_file(ann)) throw DataError("tinyimagenet: '" + ann + "' is missing");
  std::istringstream in(read_text(ann));
  std::string line;
  std::vector<std::string> files, where;
  std::vector<int64_t> labels;
  int64_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    const auto f = split_fields(line, '\t');
    const std::string at = "'" + ann + "' line " + std::to_string(line_no);
    if (f.size() < 2) throw DataError("tinyimagenet: " + at + " is not 'file<TAB>wnid...'");
    const auto it = index.find(f[1]);
    if (it == index.end()) throw DataError("tinyimagenet: " + at + " names class '" + f[1] + "', not in wnids.txt");
    const auto path = join(join(join(root, "val"), "images"), f[0]);
    if (!is_file(path)) throw DataError("tinyimagenet: " + at + " names image '" + path + "', which does not exist");
    files.push_back(path);
    where.push_back("val_annotations.txt line " + std::to_string(line_no));
    labels.push_back(it->second);
  }
  Part val{"val", {}};
  val.data.images = decode_images(files, where, options.image_size, options, "decoding val");
  val.data.labels = labels.empty() ? torch::empty({0}, torch::kLong) : torch::tensor(labels, torch::kLong);
  val.data.class_names = wnids;
  s.parts.push_back(std::move(val));
  unify_channels(s);
  return s;
}

Source read_folder(const std::string& root, const LoadOptions& options) {
  Source s;
  s.kind = "folder";
  bool split_layout = false;
  for (const char* split : kSplits) split_layout = split_layout || is_dir(join(root, split));
  if (split_layout) {
    if (!is_dir(join(root, "train"))) {
      throw DataError("folder: '" + root + "' has val/ or test/ but no train/ split folder");
    }
    for (const char* split : kSplits) {
      const auto dir = join(root, split);
      if (is_dir(dir)) s.parts.push_back({split, read_class_folders(dir, "folder", options, std::string("decoding ") + split)});
    }
  } else {
    s.parts.push_back({"all", read_class_folders(root, "folder", options, "decoding")});
  }
  unify_channels(s);
  return s;
}

}  // namespace datasets::internal
