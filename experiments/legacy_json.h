#pragma once
// LEGACY: the hand-written JSON writer that classify (classify.*, cmd_classify.cpp) still uses.
// To be removed when classify moves to nlohmann (storage::json, datasets/storage/json.h); every
// other command already writes its JSON through nlohmann::ordered_json. Do not use it in new code.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace experiments {

// Minimal JSON writer (objects keep insertion order; doubles with 10 significant digits,
// non-finite ones as null).
class Json {
 public:
  static Json object();
  static Json array();
  Json& set(const std::string& key, const Json& value);
  Json& set(const std::string& key, const std::string& value);
  Json& set(const std::string& key, const char* value);
  Json& set(const std::string& key, double value);
  Json& set(const std::string& key, int64_t value);
  Json& set(const std::string& key, int value) { return set(key, static_cast<int64_t>(value)); }
  Json& set(const std::string& key, bool value);
  Json& push(const Json& value);
  Json& push(double value);
  Json& push(int64_t value);
  Json& push(const std::string& value);
  std::string dump(int indent = 2) const;
  static std::string quote(const std::string& s);

 private:
  enum class Kind { kObject, kArray, kRaw } kind_ = Kind::kRaw;
  std::string raw_;
  std::vector<std::pair<std::string, Json>> items_;
  void dump_to(std::string& out, int indent, int depth) const;
};

}  // namespace experiments
