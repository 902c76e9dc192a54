#include "util/log_escape.h"

#include <cstdint>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace roster {
namespace {

// The length of the valid UTF-8 sequence starting at text[i] and its code point, or 0.
size_t DecodeUtf8(absl::string_view text, size_t i, uint32_t* code_point) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char lead = byte(i);
  size_t length;
  uint32_t value;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
    value = lead & 0x1F;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    value = lead & 0x0F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    value = lead & 0x07;
  } else {
    return 0;
  }
  if (i + length > text.size()) return 0;
  for (size_t k = 1; k < length; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    value = (value << 6) | (byte(i + k) & 0x3F);
  }
  // Overlong forms, UTF-16 surrogates and values past U+10FFFF are not valid UTF-8.
  static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (value < kMin[length] || (value >= 0xD800 && value <= 0xDFFF) || value > 0x10FFFF) return 0;
  *code_point = value;
  return length;
}

// C1 controls, and the characters that break or reorder lines when displayed.
bool IsUnsafeCodePoint(uint32_t c) {
  return (c >= 0x80 && c <= 0x9F) || c == 0x2028 || c == 0x2029 || (c >= 0x200E && c <= 0x200F) ||
         (c >= 0x202A && c <= 0x202E) || (c >= 0x2066 && c <= 0x2069) || c == 0x061C;
}

}  // namespace

std::string LogSafe(absl::string_view text, size_t max_bytes) {
  const absl::string_view kept = text.substr(0, max_bytes);
  std::string out;
  out.reserve(kept.size());
  for (size_t i = 0; i < kept.size();) {
    const unsigned char c = static_cast<unsigned char>(kept[i]);
    if (c < 0x80) {
      switch (c) {
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        case '\\':
          out += "\\\\";
          break;
        default:
          if (c < 0x20 || c == 0x7F) {
            absl::StrAppendFormat(&out, "\\x%02x", c);
          } else {
            out += static_cast<char>(c);
          }
      }
      ++i;
      continue;
    }
    uint32_t code_point = 0;
    const size_t length = DecodeUtf8(kept, i, &code_point);
    if (length == 0) {
      absl::StrAppendFormat(&out, "\\x%02x", c);
      ++i;
    } else if (IsUnsafeCodePoint(code_point)) {
      absl::StrAppendFormat(&out, "\\u{%04X}", code_point);
      i += length;
    } else {
      out.append(kept.data() + i, length);
      i += length;
    }
  }
  if (text.size() > kept.size()) {
    absl::StrAppend(&out, "...(", text.size() - kept.size(), " more bytes)");
  }
  return out;
}

}  // namespace roster
