#pragma once
// A bad value of a named setting, in the terms of the library that checks it. The lower
// libraries (datasets, episodes) name a setting by its field ("ways", "image_size"), never by
// a command-line flag; a caller that knows its own spelling of the setting (the CLI's
// "--image-size") re-renders the same message with it:
//
//   catch (const datasets::FieldError& e) { report(e.renamed("--" + flag_of(e.field))); }

#include <stdexcept>
#include <string>
#include <utility>

namespace datasets {

struct FieldError : std::invalid_argument {
  // The message is `before + field + after`, e.g. ("", "ways", " must be at least 1, got 0").
  FieldError(const std::string& before, std::string field_name, const std::string& after)
      : std::invalid_argument(before + field_name + after), field(std::move(field_name)), before_(before), after_(after) {}

  // The message with `name` where the field's name stands.
  std::string renamed(const std::string& name) const { return before_ + name + after_; }

  std::string field;  // a member name of the checked struct: "ways", "shots", "queries", "image_size"

 private:
  std::string before_, after_;
};

}  // namespace datasets
