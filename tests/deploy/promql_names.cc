#include "tests/deploy/promql_names.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace roster::testing {
namespace {

bool IsIdentStart(char c) { return absl::ascii_isalpha(c) || c == '_' || c == ':'; }
bool IsIdentChar(char c) { return IsIdentStart(c) || absl::ascii_isdigit(c); }

const std::set<std::string>& Keywords() {
  static const auto* const kKeywords = new std::set<std::string>{
      "and",        "or",          "unless", "bool", "offset", "by",  "without", "on", "ignoring",
      "group_left", "group_right", "inf",    "nan",  "Inf",    "NaN", "start",   "end"};
  return *kKeywords;
}

// Keywords followed by a parenthesised label list.
bool TakesLabelList(const std::string& word) {
  return word == "by" || word == "without" || word == "on" || word == "ignoring" ||
         word == "group_left" || word == "group_right";
}

// The index just past the bracket closing the one at `open` (or the end).
size_t SkipBracket(absl::string_view s, size_t open, char close) {
  const char opener = s[open];
  int depth = 0;
  for (size_t i = open; i < s.size(); ++i) {
    if (s[i] == '"' || s[i] == '\'' || s[i] == '`') {
      const char quote = s[i];
      for (++i; i < s.size() && s[i] != quote; ++i) {
        if (s[i] == '\\' && quote != '`') ++i;
      }
      continue;
    }
    if (s[i] == opener) ++depth;
    if (s[i] == close && --depth == 0) return i + 1;
  }
  return s.size();
}

size_t SkipSpace(absl::string_view s, size_t i) {
  while (i < s.size() && absl::ascii_isspace(s[i])) ++i;
  return i;
}

// Whether the identifier at `i` is `word`.
bool NextWordIs(absl::string_view s, size_t i, absl::string_view word) {
  return s.substr(i, word.size()) == word &&
         (i + word.size() == s.size() || !IsIdentChar(s[i + word.size()]));
}

}  // namespace

std::set<std::string> PromqlMetricNames(absl::string_view expr) {
  std::set<std::string> names;
  size_t i = 0;
  while (i < expr.size()) {
    const char c = expr[i];
    if (c == '"' || c == '\'' || c == '`') {
      size_t j = i + 1;
      while (j < expr.size() && expr[j] != c) j += (expr[j] == '\\' && c != '`') ? 2 : 1;
      i = j + 1;
    } else if (c == '{') {
      i = SkipBracket(expr, i, '}');
    } else if (c == '[') {
      i = SkipBracket(expr, i, ']');  // ranges, subqueries, Grafana's [[var]]
    } else if (c == '$') {
      // $var, ${var}, $__rate_interval
      ++i;
      if (i < expr.size() && expr[i] == '{') {
        i = SkipBracket(expr, i, '}');
      } else {
        while (i < expr.size() && IsIdentChar(expr[i])) ++i;
      }
    } else if (absl::ascii_isdigit(c) ||
               (c == '.' && i + 1 < expr.size() && absl::ascii_isdigit(expr[i + 1]))) {
      // Numbers (1e3, 0x1F, 0.5) and durations (5m, 1h30m): one run of word characters.
      while (i < expr.size() && (absl::ascii_isalnum(expr[i]) || expr[i] == '.')) ++i;
    } else if (IsIdentStart(c)) {
      size_t j = i;
      while (j < expr.size() && IsIdentChar(expr[j])) ++j;
      std::string word(expr.substr(i, j - i));
      const size_t next = SkipSpace(expr, j);
      i = j;
      if (TakesLabelList(word)) {
        if (next < expr.size() && expr[next] == '(') i = SkipBracket(expr, next, ')');
      } else if (next < expr.size() && expr[next] == '(') {
        // A function or an aggregation: its arguments are read on.
      } else if (NextWordIs(expr, next, "by") || NextWordIs(expr, next, "without")) {
        // An aggregation with its grouping first: "sum by (job) (...)".
      } else if (Keywords().count(word) == 0) {
        names.insert(std::move(word));
      }
    } else {
      ++i;
    }
  }
  return names;
}

absl::StatusOr<RuleFile> ReadRuleFile(absl::string_view yaml) {
  RuleFile out;
  std::vector<absl::string_view> lines = absl::StrSplit(yaml, '\n');
  for (size_t n = 0; n < lines.size(); ++n) {
    absl::string_view line = lines[n];
    const size_t indent = line.find_first_not_of(' ');
    if (indent == absl::string_view::npos || line[indent] == '#') continue;
    absl::string_view content = line.substr(indent);
    absl::ConsumePrefix(&content, "- ");
    if (absl::ConsumePrefix(&content, "record:")) {
      out.recorded.insert(std::string(absl::StripAsciiWhitespace(content)));
      continue;
    }
    if (!absl::ConsumePrefix(&content, "expr:")) continue;
    content = absl::StripAsciiWhitespace(content);
    if (!content.empty() && content != "|" && content != ">" && content != ">-" &&
        content != "|-") {
      out.exprs.push_back(std::string(content));
      continue;
    }
    // A block scalar: the following lines indented deeper than "expr:".
    std::string block;
    while (n + 1 < lines.size()) {
      absl::string_view next = lines[n + 1];
      const size_t next_indent = next.find_first_not_of(' ');
      if (next_indent != absl::string_view::npos && next_indent <= indent) break;
      absl::StrAppend(&block, next, "\n");
      ++n;
    }
    if (absl::StripAsciiWhitespace(block).empty()) {
      return absl::InvalidArgumentError(absl::StrCat("line ", n + 1, ": expr without expression"));
    }
    out.exprs.push_back(block);
  }
  return out;
}

namespace {

void CollectExprs(const google::protobuf::Value& value, const std::string& key,
                  std::vector<std::string>* out) {
  switch (value.kind_case()) {
    case google::protobuf::Value::kStringValue:
      if ((key == "expr" || key == "query") && !value.string_value().empty()) {
        std::string expr = value.string_value();
        // Grafana's label_values(metric, label): the label is no metric.
        if (absl::StartsWith(expr, "label_values(")) {
          const size_t comma = expr.rfind(',');
          if (comma != std::string::npos) expr = expr.substr(0, comma) + ")";
        }
        out->push_back(std::move(expr));
      }
      break;
    case google::protobuf::Value::kStructValue: {
      // Template variables whose "query" is no PromQL: a data source type ("prometheus"), a
      // custom list, an interval list, a constant, a text box.
      const auto& fields = value.struct_value().fields();
      auto type = fields.find("type");
      if (type != fields.end() &&
          type->second.kind_case() == google::protobuf::Value::kStringValue) {
        const std::string& t = type->second.string_value();
        if (t == "datasource" || t == "custom" || t == "interval" || t == "constant" ||
            t == "textbox" || t == "adhoc") {
          break;
        }
      }
      for (const auto& [k, v] : fields) CollectExprs(v, k, out);
      break;
    }
    case google::protobuf::Value::kListValue:
      for (const google::protobuf::Value& v : value.list_value().values()) {
        CollectExprs(v, key, out);
      }
      break;
    default:
      break;
  }
}

}  // namespace

absl::StatusOr<std::vector<std::string>> ReadDashboardExprs(absl::string_view json) {
  google::protobuf::Value root;
  const auto status = google::protobuf::util::JsonStringToMessage(std::string(json), &root);
  if (!status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("dashboard is not JSON: ", status.ToString()));
  }
  std::vector<std::string> exprs;
  CollectExprs(root, "", &exprs);
  return exprs;
}

}  // namespace roster::testing
