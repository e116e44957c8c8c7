#include "experiments/report/table.h"

#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <stdexcept>

namespace experiments::report {

std::string percent(double part, double whole, int decimals) { return fixed(100.0 * part / whole, decimals) + " %"; }

std::string csv_cell(const std::string& text) {
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string out = "\"";
  for (char c : text) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string markdown_cell(const std::string& text) {
  if (text.find('|') == std::string::npos) return text;
  std::string out;
  for (char c : text) {
    if (c == '|') out += '\\';
    out += c;
  }
  return out;
}

Table::Table(std::vector<Column> columns, std::string title) : columns_(std::move(columns)), title_(std::move(title)) {
  if (columns_.empty()) throw std::invalid_argument("table '" + title_ + "': no columns");
}

Table& Table::add_row(std::vector<std::string> cells) {
  if (cells.size() != columns_.size()) {
    throw std::invalid_argument("table '" + title_ + "': row " + std::to_string(rows_.size() + 1) + " has " +
                                std::to_string(cells.size()) + " cells, expected " + std::to_string(columns_.size()));
  }
  rows_.push_back(std::move(cells));
  return *this;
}

std::string Table::markdown() const {
  std::string out;
  if (!title_.empty()) out += "### " + title_ + "\n\n";
  auto line = [&out](const std::vector<std::string>& cells) {
    for (const auto& c : cells) out += "| " + markdown_cell(c) + " ";
    out += "|\n";
  };
  std::vector<std::string> headers;
  for (const auto& c : columns_) headers.push_back(c.header);
  line(headers);
  for (const auto& c : columns_) out += c.align == Align::kRight ? "|---:" : "|---";
  out += "|\n";
  for (const auto& row : rows_) line(row);
  return out;
}

std::string Table::csv() const {
  std::string out;
  auto line = [&out](const std::vector<std::string>& cells) {
    for (size_t i = 0; i < cells.size(); ++i) out += (i > 0 ? "," : "") + csv_cell(cells[i]);
    out += "\n";
  };
  std::vector<std::string> headers;
  for (const auto& c : columns_) headers.push_back(c.header);
  line(headers);
  for (const auto& row : rows_) line(row);
  return out;
}

}  // namespace experiments::report
