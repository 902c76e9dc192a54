#include "client/output_format.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace roster::client {
namespace {

using ::google::protobuf::ListValue;
using ::google::protobuf::Struct;
using ::google::protobuf::Value;

// Words YAML 1.1 reads as booleans or null (1.2 keeps true/false/null): never plain.
bool IsReservedWord(absl::string_view text) {
  static constexpr absl::string_view kReserved[] = {"y",     "n",  "yes", "no",  "true",
                                                    "false", "on", "off", "null"};
  const std::string lower = absl::AsciiStrToLower(text);
  return std::find(std::begin(kReserved), std::end(kReserved), lower) != std::end(kReserved);
}

bool PlainSafe(absl::string_view text) {
  if (text.empty() || IsReservedWord(text)) return false;
  // A letter, '_' or '/' first: no number, timestamp, indicator (-?:,[]{}#&*!|>'"%@`) or
  // special float (.inf, .nan) starts like that.
  const char first = text.front();
  if (!absl::ascii_isalpha(first) && first != '_' && first != '/') return false;
  if (text.back() == ' ') return false;
  for (char c : text) {
    if (!absl::ascii_isalnum(c) && c != '_' && c != '.' && c != '/' && c != '-' && c != ' ') {
      return false;
    }
  }
  return true;
}

std::string DoubleQuoted(absl::string_view text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out += absl::StrFormat("\\u%04x", c);
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += "\"";
  return out;
}

// The shortest decimal that reads back as `number` (protobuf's JSON printer writes doubles
// that way too: 0.2319, not 0.23190000000000002).
std::string Number(double number) {
  if (std::trunc(number) == number && std::fabs(number) < 9007199254740992.0) {
    return absl::StrFormat("%.0f", number);
  }
  for (int precision = 15; precision <= 17; ++precision) {
    std::string text = absl::StrFormat("%.*g", precision, number);
    if (std::strtod(text.c_str(), nullptr) == number) return text;
  }
  return absl::StrFormat("%.17g", number);
}

bool IsBlock(const Value& value) {
  return (value.has_struct_value() && !value.struct_value().fields().empty()) ||
         (value.has_list_value() && !value.list_value().values().empty());
}

// A scalar or an empty collection, written after "key: " or "- ".
std::string Inline(const Value& value) {
  switch (value.kind_case()) {
    case Value::kNullValue:
      return "null";
    case Value::kNumberValue:
      return Number(value.number_value());
    case Value::kStringValue:
      return YamlScalar(value.string_value());
    case Value::kBoolValue:
      return value.bool_value() ? "true" : "false";
    case Value::kStructValue:
      return "{}";
    case Value::kListValue:
      return "[]";
    default:
      return "null";
  }
}

void EmitBlock(const Value& value, int indent, std::string* out);

void EmitStruct(const Struct& object, int indent, std::string* out) {
  std::vector<std::string> keys;
  for (const auto& [key, unused] : object.fields()) keys.push_back(key);
  std::sort(keys.begin(), keys.end());
  for (const std::string& key : keys) {
    const Value& value = object.fields().at(key);
    absl::StrAppend(out, std::string(indent, ' '), YamlScalar(key), ":");
    if (IsBlock(value)) {
      *out += "\n";
      EmitBlock(value, indent + 2, out);
    } else {
      absl::StrAppend(out, " ", Inline(value), "\n");
    }
  }
}

// Each item as "- " at `indent`; a block item starts on the dash's line, its lines at
// indent + 2.
void EmitList(const ListValue& list, int indent, std::string* out) {
  for (const Value& item : list.values()) {
    if (!IsBlock(item)) {
      absl::StrAppend(out, std::string(indent, ' '), "- ", Inline(item), "\n");
      continue;
    }
    std::string block;
    EmitBlock(item, indent + 2, &block);
    block.replace(static_cast<size_t>(indent), 2, "- ");
    *out += block;
  }
}

void EmitBlock(const Value& value, int indent, std::string* out) {
  if (value.has_struct_value()) {
    EmitStruct(value.struct_value(), indent, out);
  } else {
    EmitList(value.list_value(), indent, out);
  }
}

}  // namespace

absl::StatusOr<Output> ParseOutput(absl::string_view text) {
  const std::string lower = absl::AsciiStrToLower(text);
  if (lower == "table") return Output::kTable;
  if (lower == "json") return Output::kJson;
  if (lower == "yaml") return Output::kYaml;
  return absl::InvalidArgumentError(
      absl::StrCat("--output='", text, "' is not table, json or yaml"));
}

absl::StatusOr<std::string> MessageToJson(const google::protobuf::Message& message, bool one_line) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = !one_line;
  options.always_print_primitive_fields = true;
  std::string text;
  const auto status = google::protobuf::util::MessageToJsonString(message, &text, options);
  if (!status.ok()) {
    return absl::InternalError(
        absl::StrCat("cannot print ", message.GetTypeName(), " as JSON: ", status.ToString()));
  }
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

absl::StatusOr<std::string> MessageToYaml(const google::protobuf::Message& message) {
  absl::StatusOr<std::string> json = MessageToJson(message, /*one_line=*/true);
  if (!json.ok()) return json.status();
  Value tree;
  const auto parsed = google::protobuf::util::JsonStringToMessage(*json, &tree);
  if (!parsed.ok()) {
    return absl::InternalError(
        absl::StrCat("cannot print ", message.GetTypeName(), " as YAML: ", parsed.ToString()));
  }
  if (!IsBlock(tree)) return absl::StrCat(Inline(tree), "\n");
  std::string out;
  EmitBlock(tree, 0, &out);
  return out;
}

std::string YamlScalar(absl::string_view text) {
  return PlainSafe(text) ? std::string(text) : DoubleQuoted(text);
}

}  // namespace roster::client
