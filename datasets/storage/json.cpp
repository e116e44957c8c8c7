#include "datasets/storage/json.h"

#include "datasets/storage/atomic_file.h"
#include "datasets/storage/error.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace storage {

namespace {

[[noreturn]] void bad_field(const std::string& source, const std::string& key, const std::string& what) {
  throw FileError(source + ": field '" + key + "' " + what);
}

std::string type_of(const json& v) {
  if (v.is_number()) return "a number";
  if (v.is_string()) return "a string";
  if (v.is_boolean()) return "a boolean";
  if (v.is_null()) return "null";
  if (v.is_array()) return "an array";
  return "an object";
}

}  // namespace

std::string dump_json(const json& value, int indent) {
  return value.dump(indent, ' ', /*ensure_ascii=*/false, json::error_handler_t::replace);
}

json parse_json(const std::string& text, const std::string& source) {
  try {
    return json::parse(text);
  } catch (const json::parse_error& e) {
    // e.what() is "[json.exception.parse_error.101] parse error at line 1, column 5: ..."
    std::string why = e.what();
    const auto tag = why.find("] ");
    if (tag != std::string::npos) why = why.substr(tag + 2);
    throw FileError(source + ": not valid JSON: " + why);
  }
}

json read_json(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw FileError("JSON file '" + path + "' is a directory");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw FileError("JSON file '" + path + "' not found or not readable");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw FileError("JSON file '" + path + "': read error");
  return parse_json(text.str(), "JSON file '" + path + "'");
}

void write_json(const std::string& path, const json& value, int indent) {
  AtomicFile file(path);
  {
    std::ofstream out(file.temp_path(), std::ios::binary | std::ios::trunc);
    if (!out) throw std::runtime_error("cannot write '" + path + "' (folder missing or not writable?)");
    out << dump_json(value, indent) << "\n";
    out.flush();
    if (!out) throw std::runtime_error("cannot write '" + path + "' (disk full?)");
  }
  file.commit();
}

const json& json_field(const json& object, const std::string& key, const std::string& source) {
  if (!object.is_object()) throw FileError(source + ": expected a JSON object, found " + type_of(object));
  const auto it = object.find(key);
  if (it == object.end()) bad_field(source, key, "is missing");
  return *it;
}

std::string json_string(const json& object, const std::string& key, const std::string& source) {
  const auto& v = json_field(object, key, source);
  if (!v.is_string()) bad_field(source, key, "is " + type_of(v) + ", expected a string");
  return v.get<std::string>();
}

double json_number(const json& object, const std::string& key, const std::string& source) {
  const auto& v = json_field(object, key, source);
  if (!v.is_number()) bad_field(source, key, "is " + type_of(v) + ", expected a number");
  return v.get<double>();
}

int64_t json_int(const json& object, const std::string& key, const std::string& source) {
  const auto& v = json_field(object, key, source);
  if (v.is_number_unsigned()) {
    const auto u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(INT64_MAX)) bad_field(source, key, "is " + v.dump() + ", too large for an integer");
    return static_cast<int64_t>(u);
  }
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_number_float()) {
    const double d = v.get<double>();
    // A whole number written as 3.0 (or 1e3) is accepted; 2.5 is not.
    if (std::isfinite(d) && std::floor(d) == d && std::fabs(d) < 9.2e18) return static_cast<int64_t>(d);
    bad_field(source, key, "is " + v.dump() + ", expected an integer");
  }
  bad_field(source, key, "is " + type_of(v) + ", expected an integer");
}

bool json_bool(const json& object, const std::string& key, const std::string& source) {
  const auto& v = json_field(object, key, source);
  if (!v.is_boolean()) bad_field(source, key, "is " + type_of(v) + ", expected true or false");
  return v.get<bool>();
}

}  // namespace storage
