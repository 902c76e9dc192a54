// Every metric name that deploy/prometheus/roster-rules.yml and deploy/grafana/
// roster-dashboard.json read exists on a live rosterd's /metrics: rosterd against a real
// ZooKeeper, roster-sim playing a DolphinScheduler 3.3 cluster (3 masters, 6 workers in groups
// etl and spark), scraped over HTTP. Renaming a metric without the rules and the dashboard
// fails here.
//
// A name exists when the scrape declares its family (# TYPE), or it is the _bucket, _sum or
// _count series of a declared histogram; names a recording rule of the rules file defines
// ("roster:...") are checked through the recording rule's own expression instead. The PromQL
// reader's limits are in tests/deploy/promql_names.h.
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/deploy/promql_names.h"
#include "tests/e2e/e2e_env.h"
#include "tests/server/server_test_env.h"
#include "tests/testing/eventually.h"
#include "tests/testing/ports.h"
#include "tests/testing/prometheus_text.h"

namespace roster::testing {
namespace {

std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Whether `name` is a series of a family `scrape` declares.
bool Exists(const Exposition& scrape, const std::string& name) {
  if (scrape.Family(name) != nullptr) return true;
  for (absl::string_view suffix : {"_bucket", "_sum", "_count"}) {
    if (name.size() <= suffix.size() || name.substr(name.size() - suffix.size()) != suffix) {
      continue;
    }
    const MetricFamily* family = scrape.Family(name.substr(0, name.size() - suffix.size()));
    if (family != nullptr && family->type == "histogram") return true;
  }
  return false;
}

class MetricsNamesTest : public E2eTest {};

TEST_F(MetricsNamesTest, EveryRuleAndDashboardMetricIsOnALiveScrape) {
  const int metrics_port = PickUnusedPort();
  ASSERT_NO_FATAL_FAILURE(
      StartCluster({absl::StrCat("--metrics_listen=127.0.0.1:", metrics_port)}));

  absl::StatusOr<std::pair<int, std::string>> page;
  ASSERT_EVENTUALLY((page = HttpGet(metrics_port, "/metrics")).ok() && page->first == 200)
      << (page.ok() ? absl::StrCat("HTTP ", page->first) : page.status().ToString());
  absl::StatusOr<Exposition> scrape = ParseExposition(page->second);
  ASSERT_TRUE(scrape.ok()) << scrape.status();

  // The live cluster as the scrape shows it (StartCluster's: 3 masters, 6 workers, 3 per group,
  // a leader): the figures the dashboard's first row shows.
  EXPECT_EQ(scrape->Value("roster_nodes", {{"role", "MASTER"}, {"state", "RUNNING"}}), 3);
  EXPECT_EQ(scrape->Value("roster_nodes", {{"role", "WORKER"}, {"state", "RUNNING"}}), 6);
  EXPECT_EQ(scrape->Value("roster_group_selectable_workers", {{"group", "etl"}}), 3);
  EXPECT_EQ(scrape->Value("roster_group_selectable_workers", {{"group", "spark"}}), 3);
  EXPECT_EQ(scrape->Value("roster_leader_present"), 1);
  EXPECT_EQ(scrape->Value("roster_view_stale"), 0);
  EXPECT_EQ(scrape->Value("roster_registry_session_state", {{"state", "CONNECTED"}}), 1);
  EXPECT_GT(scrape->Sum("roster_rpc_duration_seconds_count"), 0)
      << "StartCluster's calls are timed";

  const std::string rules_text = ReadWholeFile(ROSTER_RULES_PATH);
  ASSERT_FALSE(rules_text.empty()) << ROSTER_RULES_PATH;
  absl::StatusOr<RuleFile> rules = ReadRuleFile(rules_text);
  ASSERT_TRUE(rules.ok()) << rules.status();
  const std::string dashboard_text = ReadWholeFile(ROSTER_DASHBOARD_PATH);
  ASSERT_FALSE(dashboard_text.empty()) << ROSTER_DASHBOARD_PATH;
  absl::StatusOr<std::vector<std::string>> panels = ReadDashboardExprs(dashboard_text);
  ASSERT_TRUE(panels.ok()) << panels.status();
  // Sanity of the readers on the real files: an empty list would make this test vacuous.
  ASSERT_GE(rules->exprs.size(), 10u);
  ASSERT_GE(panels->size(), 10u);

  std::map<std::string, std::vector<std::string>> missing;  // name -> where
  std::set<std::string> checked;
  auto check = [&](const std::string& where, const std::string& expr) {
    const std::set<std::string> names = PromqlMetricNames(expr);
    EXPECT_FALSE(names.empty()) << where << " reads no metric: " << expr;
    for (const std::string& name : names) {
      if (rules->recorded.count(name) > 0) continue;
      checked.insert(name);
      if (!Exists(*scrape, name)) missing[name].push_back(where);
    }
  };
  for (size_t i = 0; i < rules->exprs.size(); ++i) {
    check(absl::StrCat("rule #", i + 1), rules->exprs[i]);
  }
  for (size_t i = 0; i < panels->size(); ++i) {
    check(absl::StrCat("dashboard expression #", i + 1, " (", (*panels)[i], ")"), (*panels)[i]);
  }
  for (const auto& [name, where] : missing) {
    ADD_FAILURE() << "'" << name << "' is not on /metrics; used by " << absl::StrJoin(where, "; ");
  }
  EXPECT_GE(checked.size(), 15u) << absl::StrJoin(checked, ", ");
}

}  // namespace
}  // namespace roster::testing
