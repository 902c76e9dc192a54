#include "client/table.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace roster::client {
namespace {

// One line per row: a cell with a newline or tab would break the alignment.
std::string Flatten(absl::string_view cell) {
  std::string out(cell);
  for (char& c : out) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  return out;
}

}  // namespace

Table::Table(std::vector<std::string> header) : header_(std::move(header)) {}

void Table::AddRow(std::vector<std::string> cells) { rows_.push_back(std::move(cells)); }

void Table::AlignRight(size_t column) {
  if (right_.size() <= column) right_.resize(column + 1, false);
  right_[column] = true;
}

std::string Table::Render() const {
  std::vector<std::vector<std::string>> lines;
  lines.reserve(rows_.size() + 1);
  if (!header_.empty()) lines.push_back(header_);
  for (const auto& row : rows_) lines.push_back(row);

  size_t columns = 0;
  for (const auto& line : lines) columns = std::max(columns, line.size());
  std::vector<size_t> width(columns, 0);
  for (auto& line : lines) {
    line.resize(columns);
    for (size_t c = 0; c < columns; ++c) {
      line[c] = Flatten(line[c]);
      width[c] = std::max(width[c], DisplayWidth(line[c]));
    }
  }

  std::string out;
  for (const auto& line : lines) {
    std::string text;
    for (size_t c = 0; c < columns; ++c) {
      const bool last = c + 1 == columns;
      const size_t pad = width[c] - DisplayWidth(line[c]);
      const bool right = c < right_.size() && right_[c];
      if (c > 0) text += "  ";
      if (right) text.append(pad, ' ');
      text += line[c];
      if (!right && !last) text.append(pad, ' ');
    }
    // Empty trailing cells leave padding behind.
    while (!text.empty() && text.back() == ' ') text.pop_back();
    out += text;
    out += '\n';
  }
  return out;
}

size_t DisplayWidth(absl::string_view text) {
  size_t n = 0;
  for (unsigned char c : text) {
    if ((c & 0xC0) != 0x80) ++n;  // count every byte but UTF-8 continuation bytes
  }
  return n;
}

std::string HumanDuration(absl::Duration d) {
  if (d == absl::InfiniteDuration() || d == -absl::InfiniteDuration()) return "inf";
  if (d < absl::ZeroDuration()) return absl::StrCat("-", HumanDuration(-d));
  if (d < absl::Seconds(1)) {
    const int64_t ms = absl::ToInt64Milliseconds(d);
    return ms == 0 ? "0s" : absl::StrCat(ms, "ms");
  }
  const int64_t s = absl::ToInt64Seconds(d);
  if (s < 60) return absl::StrCat(s, "s");
  if (s < 3600)
    return s % 60 == 0 ? absl::StrCat(s / 60, "m") : absl::StrCat(s / 60, "m", s % 60, "s");
  if (s < 86400) {
    return s % 3600 / 60 == 0 ? absl::StrCat(s / 3600, "h")
                              : absl::StrFormat("%dh%02dm", s / 3600, s % 3600 / 60);
  }
  return s % 86400 / 3600 == 0 ? absl::StrCat(s / 86400, "d")
                               : absl::StrCat(s / 86400, "d", s % 86400 / 3600, "h");
}

std::string Percent(double fraction) {
  if (!std::isfinite(fraction)) return "-";
  return absl::StrCat(static_cast<int64_t>(std::llround(fraction * 100)), "%");
}

std::string HumanTime(absl::Time t) {
  if (t == absl::InfinitePast()) return "-";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

}  // namespace roster::client
