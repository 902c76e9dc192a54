// rosterctl's machine-readable outputs: a protobuf answer as JSON (protobuf's own JSON
// mapping) or as YAML with the same structure and field names, so a script can switch between
// the two without renaming anything.
//
//   absl::StatusOr<Output> output = ParseOutput("yaml");            // --output=yaml
//   absl::StatusOr<std::string> text = MessageToYaml(response);    // "meta:\n  version: \"42\"..."
//
// YAML is emitted from the JSON mapping: int64 fields stay strings ("42", as in JSON), enums
// are their names, Timestamps and Durations their RFC 3339 / "1.200s" strings, and map keys
// are sorted. A scalar is written plain only when no YAML 1.1 or 1.2 reader could take it for
// anything but that string; otherwise it is double-quoted with JSON escapes (which YAML's
// double-quoted style accepts), so `10.0.0.1:5678`, `yes`, `null`, `0123` and `` stay strings.
//
// Thread-safety: the functions are thread-safe.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"

namespace roster::client {

enum class Output { kTable, kJson, kYaml };

// "table", "json" or "yaml" (any case). InvalidArgument naming --output otherwise.
absl::StatusOr<Output> ParseOutput(absl::string_view text);

// The message in protobuf's JSON mapping, every field printed (defaults included). Indented
// over several lines, or on one line with `one_line`. No trailing newline.
absl::StatusOr<std::string> MessageToJson(const google::protobuf::Message& message,
                                          bool one_line = false);

// The message as one YAML block mapping ('\n'-terminated), the same fields as MessageToJson.
absl::StatusOr<std::string> MessageToYaml(const google::protobuf::Message& message);

// `text` as a YAML scalar: plain when unambiguous, double-quoted otherwise.
std::string YamlScalar(absl::string_view text);

}  // namespace roster::client
