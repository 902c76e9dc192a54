// Text output for people: aligned tables and the small formatting helpers rosterctl uses
// (durations, percentages, times). Kept apart from the commands so it can be tested alone.
//
//   Table table({"ADDRESS", "STATE"});
//   table.AddRow({"10.0.0.1:5678", "RUNNING"});
//   std::cout << table.Render();
//   // ADDRESS        STATE
//   // 10.0.0.1:5678  RUNNING
//
// Thread-safety: Table is thread-compatible; the functions are thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace roster::client {

// An aligned text table. Thread-compatible.
class Table {
 public:
  // `header` names the columns; empty: no header row (key/value listings).
  explicit Table(std::vector<std::string> header = {});

  // Adds a row. Missing trailing cells are empty; extra cells add columns.
  void AddRow(std::vector<std::string> cells);
  // Right-aligns column `column` (numbers).
  void AlignRight(size_t column);

  bool empty() const { return rows_.empty(); }
  size_t rows() const { return rows_.size(); }

  // Every row on its own line ('\n'-terminated), columns as wide as their widest cell
  // (counting UTF-8 characters, not bytes), separated by two spaces. The last column is not
  // padded, and no line has trailing spaces. Newlines and tabs in cells become spaces.
  std::string Render() const;

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
  std::vector<bool> right_;
};

// Characters (UTF-8 code points) in `text`.
size_t DisplayWidth(absl::string_view text);

// A duration for people, two units at most: "0s", "850ms", "12s", "3m12s", "2h05m", "3d4h".
// Negative durations read "-12s"; an infinite one "inf".
std::string HumanDuration(absl::Duration d);

// A fraction in [0, 1] as a whole percentage: 0.2319 -> "23%". Out of range values are shown
// as they are ("150%").
std::string Percent(double fraction);

// UTC, to the second: "2024-10-18T08:00:00Z". absl::InfinitePast() reads "-".
std::string HumanTime(absl::Time t);

}  // namespace roster::client
