#include "util/metrics.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace roster {
namespace {

// Label values escape backslash, double quote and newline; help text backslash and newline.
std::string Escape(absl::string_view text, bool quote) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && quote) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

void PrometheusWriter::Family(absl::string_view name, absl::string_view type,
                              absl::string_view help) {
  absl::StrAppend(&text_, "# HELP ", name, " ", Escape(help, false), "\n", "# TYPE ", name, " ",
                  type, "\n");
}

void PrometheusWriter::Sample(absl::string_view name, const MetricLabels& labels, double value) {
  absl::StrAppend(&text_, name);
  if (!labels.empty()) {
    text_ += '{';
    for (size_t i = 0; i < labels.size(); ++i) {
      if (i > 0) text_ += ',';
      absl::StrAppend(&text_, labels[i].first, "=\"", Escape(labels[i].second, true), "\"");
    }
    text_ += '}';
  }
  if (std::isnan(value)) {
    text_ += " NaN\n";
  } else if (std::isinf(value)) {
    text_ += value > 0 ? " +Inf\n" : " -Inf\n";
  } else {
    absl::StrAppend(&text_, " ", value, "\n");
  }
}

}  // namespace roster
