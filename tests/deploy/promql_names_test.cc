// The PromQL metric-name reader of metrics_names_test: what it must find and what it must not
// take for a metric (functions, keywords, labels, durations, Grafana variables).
#include "tests/deploy/promql_names.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace roster::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(PromqlMetricNamesTest, FindsSelectorsAndSkipsEverythingElse) {
  EXPECT_THAT(PromqlMetricNames("roster_view_stale == 1"), ElementsAre("roster_view_stale"));
  EXPECT_THAT(PromqlMetricNames(R"(roster_nodes{role="MASTER", state=~"RUN.*"})"),
              ElementsAre("roster_nodes"));
  EXPECT_THAT(PromqlMetricNames("increase(roster_resync_corrections_total[30m]) > 0"),
              ElementsAre("roster_resync_corrections_total"));
  EXPECT_THAT(PromqlMetricNames("histogram_quantile(0.99, sum by (job, le) "
                                "(rate(roster_rpc_duration_seconds_bucket{code!=\"OK\"}[5m])))"),
              ElementsAre("roster_rpc_duration_seconds_bucket"));
  EXPECT_THAT(PromqlMetricNames("a == 0 and on (job, instance) b{x=\"y\"} == 1 unless ignoring "
                                "(le) c offset 5m"),
              ElementsAre("a", "b", "c"));
  EXPECT_THAT(PromqlMetricNames("sum(x) without (group) / on(instance) group_left(release) y"),
              ElementsAre("x", "y"));
  EXPECT_THAT(PromqlMetricNames("roster:slot_epoch_changes:increase15m > 4"),
              ElementsAre("roster:slot_epoch_changes:increase15m"));
}

TEST(PromqlMetricNamesTest, GrafanaVariablesStringsAndNumbersAreNoMetrics) {
  EXPECT_THAT(PromqlMetricNames("rate(m{instance=~\"$instance\"}[$__rate_interval]) * 1e3"),
              ElementsAre("m"));
  EXPECT_THAT(PromqlMetricNames("sum by (group) (m{group=~\"${group:regex}\"}) > bool 0.5"),
              ElementsAre("m"));
  EXPECT_THAT(PromqlMetricNames("label_replace(vector(1), \"a\", \"b_c\", \"d\", \"(.*)\")"),
              IsEmpty());
  EXPECT_THAT(PromqlMetricNames("max_over_time(m[1h:5m]) + Inf"), ElementsAre("m"));
}

TEST(ReadRuleFileTest, ReadsInlineAndBlockExpressionsAndRecordedNames) {
  constexpr char kYaml[] = R"(groups:
  - name: g
    rules:
      - record: roster:x:rate5m
        expr: rate(x_total[5m])
      - alert: A
        expr: |
          a == 0
            and on (job)
          b == 1
        for: 1m
      # expr: commented_out
)";
  absl::StatusOr<RuleFile> rules = ReadRuleFile(kYaml);
  ASSERT_TRUE(rules.ok()) << rules.status();
  ASSERT_EQ(rules->exprs.size(), 2u);
  EXPECT_EQ(rules->exprs[0], "rate(x_total[5m])");
  EXPECT_THAT(PromqlMetricNames(rules->exprs[1]), ElementsAre("a", "b"));
  EXPECT_THAT(rules->recorded, ElementsAre("roster:x:rate5m"));
}

TEST(ReadDashboardExprsTest, ReadsTargetsAndTemplatingAndRejectsBadJson) {
  constexpr char kJson[] = R"json({
    "panels": [{"targets": [{"expr": "sum(a)"}, {"expr": "b"}]},
               {"panels": [{"targets": [{"expr": "c"}]}]}],
    "templating": {"list": [{"type": "datasource", "query": "prometheus"},
                            {"query": {"query": "label_values(roster_info, instance)"}},
                            {"query": "label_values(d, group)"}]}})json";
  absl::StatusOr<std::vector<std::string>> exprs = ReadDashboardExprs(kJson);
  ASSERT_TRUE(exprs.ok()) << exprs.status();
  std::set<std::string> names;
  for (const std::string& e : *exprs) {
    for (const std::string& n : PromqlMetricNames(e)) names.insert(n);
  }
  EXPECT_THAT(names, ElementsAre("a", "b", "c", "d", "roster_info"));
  EXPECT_FALSE(ReadDashboardExprs("{not json").ok());
}

}  // namespace
}  // namespace roster::testing
