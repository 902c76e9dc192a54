// The metric names a PromQL expression reads, and the expressions of roster's Prometheus rules
// file and Grafana dashboard: what metrics_names_test checks against a live /metrics.
//
// The PromQL reader is a tokenizer, not a parser. It skips string literals, label matchers
// ({...}), range and subquery brackets ([...]), the label lists of by/without/on/ignoring/
// group_left/group_right, numbers and durations, and Grafana variables ($x, ${x}, [[x]]); an
// identifier followed by "(", "by" or "without" is a function or an aggregation; keywords (and, or,
// unless, bool, offset, ...) are dropped. Every other identifier is a metric name. Limits: no "@"
// modifiers, no metric selected by {__name__="..."} (neither reads a name), a keyword used as a
// metric name would be dropped; Grafana's label_values(metric, label) is read as its metric only.
//
// The rules reader handles what roster-rules.yml uses: "expr:" followed by the expression on
// the line, or by "|" / ">" / ">-" and an indented block; "record:" names. The dashboard reader
// takes every string under a JSON key "expr" or "query" (panel targets, templating), except in
// template variables of the types whose query is no PromQL (datasource, custom, interval,
// constant, textbox, adhoc).
//
// Thread-safety: pure functions.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace roster::testing {

// The metric names `expr` reads, sorted.
std::set<std::string> PromqlMetricNames(absl::string_view expr);

struct RuleFile {
  std::vector<std::string> exprs;  // every rule's expression, in file order
  std::set<std::string> recorded;  // names of recording rules ("roster:x:rate5m")
};
// InvalidArgument naming the line when an "expr:" has no expression.
absl::StatusOr<RuleFile> ReadRuleFile(absl::string_view yaml);

// Every expression of a Grafana dashboard (JSON). InvalidArgument if it is not JSON.
absl::StatusOr<std::vector<std::string>> ReadDashboardExprs(absl::string_view json);

}  // namespace roster::testing
