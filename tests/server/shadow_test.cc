// Shadow mode (--shadow_registry) in a whole in-process rosterd: the primary and the shadow
// are two named memory:// stores, each written the way DolphinScheduler writes its registry.
// Divergences planted in the shadow must appear in RosterAdmin.GetShadowDiff and the metrics,
// and clear when the shadow is put right. Expected divergences are worked by hand from what
// was planted.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "registry/memory/memory_registry.h"
#include "tests/cluster/cluster_test_util.h"
#include "tests/server/server_test_env.h"
#include "tests/testing/eventually.h"
#include "tests/testing/status_matchers.h"

namespace roster::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

constexpr char kM1[] = "10.0.0.1:5678";
constexpr char kW1[] = "10.0.0.21:1234";
constexpr char kW2[] = "10.0.0.22:1234";
constexpr char kW3[] = "10.0.0.23:1234";

class ShadowTest : public ServerTest {
 protected:
  void SetUp() override {
    ServerTest::SetUp();
    shadow_name_ = absl::StrCat(store_name_, "_shadow");
    options_.shadow_registry = absl::StrCat("memory://", shadow_name_);
    options_.shadow_compare_interval_ms = 20;
    options_.shadow_grace_ms = 0;
    registry::RegistryOptions writer_options;
    writer_options.name = "shadow-writer";
    shadow_writer_ = std::make_unique<registry::MemoryRegistry>(
        registry::MemoryStore::Named(shadow_name_), "", writer_options);
    ASSERT_OK(shadow_writer_->Start());
    ASSERT_OK(shadow_writer_->WaitConnected(absl::Seconds(10)));
  }

  void TearDown() override {
    StopDaemon();
    shadow_writer_->Shutdown();
    ServerTest::TearDown();
  }

  // The same node in both registries.
  void AddBoth(absl::string_view dir, absl::string_view address, const std::string& payload) {
    AddNode(dir, address, payload);
    AddShadow(dir, address, payload);
  }

  void AddShadow(absl::string_view dir, absl::string_view address, const std::string& payload) {
    registry::CreateOptions options;
    options.mode = registry::CreateMode::kEphemeral;
    options.create_parents = true;
    ASSERT_OK(shadow_writer_->Create(absl::StrCat(dir, "/", address), payload, options));
  }

  v1::GetShadowDiffResponse Diff() {
    CallContext context(absl::Seconds(5));
    v1::GetShadowDiffResponse response;
    const grpc::Status status = admin_->GetShadowDiff(&context, {}, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  // "KIND address" for every divergence.
  std::vector<std::string> Divergences() {
    std::vector<std::string> out;
    const v1::GetShadowDiffResponse diff = Diff();
    for (const v1::ShadowDivergence& d : diff.divergences()) {
      out.push_back(absl::StrCat(v1::ShadowDivergence::Kind_Name(d.kind()), " ", d.address()));
    }
    return out;
  }

  // The value of metric line `name{kind="KIND"}`, or -1.
  double Metric(const std::string& name, const std::string& kind) {
    absl::StatusOr<std::pair<int, std::string>> metrics =
        HttpGet(daemon_->metrics_port(), "/metrics");
    if (!metrics.ok()) return -1;
    const std::string prefix = absl::StrCat(name, "{kind=\"", kind, "\"} ");
    const size_t at = metrics->second.find(prefix);
    if (at == std::string::npos) return -1;
    return std::stod(metrics->second.substr(at + prefix.size()));
  }

  std::string shadow_name_;
  std::unique_ptr<registry::MemoryRegistry> shadow_writer_;
};

TEST_F(ShadowTest, PlantedDivergencesAppearAndClear) {
  ASSERT_NO_FATAL_FAILURE(AddBoth(kMasters, kM1, HeartbeatJson("NORMAL")));
  ASSERT_NO_FATAL_FAILURE(AddBoth(kWorkers, kW1, HeartbeatJson("NORMAL")));
  ASSERT_NO_FATAL_FAILURE(AddBoth(kWorkers, kW2, HeartbeatJson("NORMAL")));
  ASSERT_NO_FATAL_FAILURE(StartDaemon());
  ASSERT_EVENTUALLY(Diff().compared() &&
                    InState(cluster::NodeRole::kWorker, kW2, cluster::NodeState::kRunning));
  EXPECT_EQ(Diff().shadow_registry(), options_.shadow_registry);
  EXPECT_THAT(Divergences(), ::testing::IsEmpty());

  // W2 is missing in the shadow, W3 is only there, W1 reports BUSY there.
  ASSERT_OK(shadow_writer_->Delete(absl::StrCat(kWorkers, "/", kW2)));
  ASSERT_NO_FATAL_FAILURE(AddShadow(kWorkers, kW3, HeartbeatJson("NORMAL")));
  ASSERT_OK(shadow_writer_->Set(absl::StrCat(kWorkers, "/", kW1), HeartbeatJson("BUSY")).status());
  ASSERT_EVENTUALLY(Divergences().size() == 4) << ::testing::PrintToString(Divergences());
  EXPECT_THAT(Divergences(),
              UnorderedElementsAre(absl::StrCat("STATE ", kW1), absl::StrCat("HEARTBEAT ", kW1),
                                   absl::StrCat("ONLY_IN_PRIMARY ", kW2),
                                   absl::StrCat("ONLY_IN_SHADOW ", kW3)));
  const v1::GetShadowDiffResponse diff = Diff();
  for (const v1::ShadowDivergence& d : diff.divergences()) {
    EXPECT_EQ(d.role(), v1::WORKER);
    if (d.kind() == v1::ShadowDivergence::STATE) {
      EXPECT_EQ(d.detail(), "RUNNING in primary, OVERLOAD in shadow");
    }
    if (d.kind() == v1::ShadowDivergence::HEARTBEAT) {
      EXPECT_THAT(d.detail(), HasSubstr("server_status"));
    }
  }
  for (const char* kind : {"only_in_primary", "only_in_shadow", "state", "heartbeat"}) {
    EXPECT_EQ(Metric("roster_shadow_divergences", kind), 1) << kind;
    EXPECT_EQ(Metric("roster_shadow_divergences_total", kind), 1) << kind;
  }

  // W1 back to NORMAL in the shadow with another reportTime only: a time field, no divergence.
  ASSERT_OK(shadow_writer_
                ->Set(absl::StrCat(kWorkers, "/", kW1),
                      HeartbeatJson("NORMAL", 1729238400123, 23817, 1729238999999))
                .status());
  ASSERT_EVENTUALLY(Divergences().size() == 2) << ::testing::PrintToString(Divergences());
  EXPECT_THAT(Divergences(), UnorderedElementsAre(absl::StrCat("ONLY_IN_PRIMARY ", kW2),
                                                  absl::StrCat("ONLY_IN_SHADOW ", kW3)));

  // The shadow put right: nothing left; the counters keep what was seen.
  ASSERT_OK(shadow_writer_->Delete(absl::StrCat(kWorkers, "/", kW3)));
  ASSERT_NO_FATAL_FAILURE(AddShadow(kWorkers, kW2, HeartbeatJson("NORMAL")));
  ASSERT_EVENTUALLY(Divergences().empty()) << ::testing::PrintToString(Divergences());
  for (const char* kind : {"only_in_primary", "only_in_shadow", "state", "heartbeat"}) {
    EXPECT_EQ(Metric("roster_shadow_divergences", kind), 0) << kind;
    EXPECT_EQ(Metric("roster_shadow_divergences_total", kind), 1) << kind;
  }
}

TEST_F(ShadowTest, ADifferenceShorterThanTheGraceIsNoDivergence) {
  options_.shadow_grace_ms = 3600000;
  ASSERT_NO_FATAL_FAILURE(AddBoth(kWorkers, kW1, HeartbeatJson("NORMAL")));
  ASSERT_NO_FATAL_FAILURE(AddNode(kWorkers, kW2, HeartbeatJson("NORMAL")));  // primary only
  ASSERT_NO_FATAL_FAILURE(StartDaemon());
  ASSERT_EVENTUALLY(Diff().compared() &&
                    InState(cluster::NodeRole::kWorker, kW2, cluster::NodeState::kRunning));
  // Several comparisons later, still nothing.
  const int64_t seconds = Diff().compared_at().seconds();
  ASSERT_EVENTUALLY_WITHIN(absl::Seconds(10), Diff().compared_at().seconds() >= seconds + 1);
  EXPECT_THAT(Divergences(), ::testing::IsEmpty());
  EXPECT_EQ(Metric("roster_shadow_divergences", "only_in_primary"), 0);
}

TEST_F(ShadowTest, WithoutAShadowRegistryDiffIsRefused) {
  options_.shadow_registry.clear();
  ASSERT_NO_FATAL_FAILURE(StartDaemon());
  CallContext context(absl::Seconds(5));
  v1::GetShadowDiffResponse response;
  const grpc::Status status = admin_->GetShadowDiff(&context, {}, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("--shadow_registry"));
  EXPECT_EQ(Metric("roster_shadow_divergences", "state"), -1);
}

}  // namespace
}  // namespace roster::testing
