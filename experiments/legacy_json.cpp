#include "experiments/legacy_json.h"

#include <cmath>
#include <cstdio>
#include <iomanip>
#include <sstream>

namespace experiments {

Json Json::object() {
  Json j;
  j.kind_ = Kind::kObject;
  return j;
}

Json Json::array() {
  Json j;
  j.kind_ = Kind::kArray;
  return j;
}

std::string Json::quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

namespace {
std::string number(double v) {
  if (!std::isfinite(v)) return "null";
  std::ostringstream out;
  out << std::setprecision(10) << v;
  return out.str();
}
}  // namespace

Json& Json::set(const std::string& key, const Json& value) {
  items_.emplace_back(key, value);
  return *this;
}
Json& Json::set(const std::string& key, const std::string& value) {
  Json j;
  j.raw_ = quote(value);
  return set(key, j);
}
Json& Json::set(const std::string& key, const char* value) { return set(key, std::string(value)); }
Json& Json::set(const std::string& key, double value) {
  Json j;
  j.raw_ = number(value);
  return set(key, j);
}
Json& Json::set(const std::string& key, int64_t value) {
  Json j;
  j.raw_ = std::to_string(value);
  return set(key, j);
}
Json& Json::set(const std::string& key, bool value) {
  Json j;
  j.raw_ = value ? "true" : "false";
  return set(key, j);
}
Json& Json::push(const Json& value) {
  items_.emplace_back("", value);
  return *this;
}
Json& Json::push(double value) {
  Json j;
  j.raw_ = number(value);
  return push(j);
}
Json& Json::push(int64_t value) {
  Json j;
  j.raw_ = std::to_string(value);
  return push(j);
}
Json& Json::push(const std::string& value) {
  Json j;
  j.raw_ = quote(value);
  return push(j);
}

std::string Json::dump(int indent) const {
  std::string out;
  dump_to(out, indent, 0);
  return out;
}

void Json::dump_to(std::string& out, int indent, int depth) const {
  if (kind_ == Kind::kRaw) {
    out += raw_;
    return;
  }
  const bool obj = kind_ == Kind::kObject;
  out += obj ? "{" : "[";
  if (items_.empty()) {
    out += obj ? "}" : "]";
    return;
  }
  const std::string pad = indent > 0 ? "\n" + std::string(static_cast<size_t>(indent * (depth + 1)), ' ') : "";
  for (size_t i = 0; i < items_.size(); ++i) {
    out += (i ? "," : "") + pad;
    if (obj) out += quote(items_[i].first) + (indent > 0 ? ": " : ":");
    items_[i].second.dump_to(out, indent, depth + 1);
  }
  out += indent > 0 ? "\n" + std::string(static_cast<size_t>(indent * depth), ' ') : "";
  out += obj ? "}" : "]";
}

}  // namespace experiments
