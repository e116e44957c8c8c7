#pragma once
// Tables for reports: a title, columns (header and alignment) and rows of text cells, rendered
// as Markdown (GitHub pipe tables) or CSV; and the number formatting the tables share. Plain
// strings in, plain text out: no LibTorch, no command-line code.

#include "experiments/report/numbers.h"

#include <cstdint>
#include <string>
#include <vector>

namespace experiments::report {

// ---- numbers (grouped, fixed, round_trip: experiments/report/numbers.h) ----

// 100 * part / whole with `decimals` digits and " %": percent(1, 8, 1) = "12.5 %".
std::string percent(double part, double whole, int decimals);

// ---- cells ----

// A CSV field as RFC 4180 quotes it: in double quotes, inner quotes doubled, when it holds a
// comma, a quote or a line break; as it is otherwise.
std::string csv_cell(const std::string& text);
// A Markdown table cell: '|' escaped so that it does not end the cell.
std::string markdown_cell(const std::string& text);

// ---- tables ----

enum class Align { kLeft, kRight };

struct Column {
  std::string header;
  Align align = Align::kLeft;
};

class Table {
 public:
  explicit Table(std::vector<Column> columns, std::string title = "");
  // One cell per column; throws std::invalid_argument naming the table and both counts otherwise.
  Table& add_row(std::vector<std::string> cells);

  const std::vector<Column>& columns() const { return columns_; }
  const std::vector<std::vector<std::string>>& rows() const { return rows_; }

  // "### title\n\n" (when there is one), the header, the alignment row ("---" left, "---:"
  // right) and one "| a | b |" line per row.
  std::string markdown() const;
  // The header line and one line per row, cells quoted by csv_cell, lines ending in "\n" (not
  // CRLF: the files are read on Unix). The title is not written.
  std::string csv() const;

 private:
  std::vector<Column> columns_;
  std::string title_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace experiments::report
