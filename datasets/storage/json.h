#pragma once
// JSON files through nlohmann::ordered_json (objects keep insertion order, so what we write reads
// in the order the code sets it): read with errors that name the file and what is wrong, write
// atomically (AtomicFile), dump without throwing on text that is not UTF-8.

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

namespace storage {

using json = nlohmann::ordered_json;

// `value` as text: indent > 0 pretty-prints with that many spaces per level (arrays one element a
// line), indent < 0 writes one line. Bytes that are not UTF-8 (e.g. a folder name in Latin-1)
// become U+FFFD instead of throwing. Non-finite numbers are written as null.
std::string dump_json(const json& value, int indent = 2);

// Parses `text`; `source` (a path, or e.g. "--sweep value") names it in the error. Throws
// FileError "<source>: not valid JSON: <what and where>".
json parse_json(const std::string& text, const std::string& source);

// Reads and parses the file at `path`. Throws FileError naming the path when it is missing, a
// directory, unreadable or not valid JSON (with the byte offset nlohmann reports).
json read_json(const std::string& path);

// Writes dump_json(value, indent) plus a newline through AtomicFile: the file at `path` is
// complete or absent (an old one stays until the new one is whole). Throws std::runtime_error
// naming the path when it cannot be written.
void write_json(const std::string& path, const json& value, int indent = 2);

// Fields of an object read from `source` (named in the errors, with the key): each throws
// FileError "<source>: field 'key' is missing" / "... is a string, expected a number" / "... is
// 2.5, expected an integer". `object` that is not an object is reported the same way.
const json& json_field(const json& object, const std::string& key, const std::string& source);
std::string json_string(const json& object, const std::string& key, const std::string& source);
double json_number(const json& object, const std::string& key, const std::string& source);  // integer or float
int64_t json_int(const json& object, const std::string& key, const std::string& source);
bool json_bool(const json& object, const std::string& key, const std::string& source);

}  // namespace storage
