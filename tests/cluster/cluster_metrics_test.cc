// ClusterManager's Prometheus metrics, read back as Prometheus reads them
// (tests/testing/prometheus_text.h), while a cluster on the in-memory registry goes through
// what the alert rules (deploy/prometheus/roster-rules.yml) watch for: a group with no
// selectable worker, a leader lost and replaced, the slots reassigned, a missed event found by a
// resync, out-of-range heartbeat figures, the session lost, a stale group source.
//
// Every expected value is worked out here from the scenario, never read from the code under
// test.
#include <memory>
#include <string>
#include <utility>

#include "absl/synchronization/notification.h"
#include "cluster/cluster_manager.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "registry/memory/memory_registry.h"
#include "tests/cluster/cluster_test_util.h"
#include "tests/cluster/memory_cluster_fixture.h"
#include "tests/testing/eventually.h"
#include "tests/testing/prometheus_text.h"
#include "tests/testing/status_matchers.h"

namespace roster::cluster {
namespace {

using registry::CreateMode;
using registry::CreateOptions;
using ::roster::testing::Exposition;
using ::roster::testing::HeartbeatJson;

constexpr char kSource[] = "test://groups";

// A group source that has read once, 45 s ago, and failed three times since: group "reports"
// holds 10.0.0.23, group "empty" nobody.
class StaleGroupSource : public GroupSource {
 public:
  explicit StaleGroupSource(absl::Time now) : now_(now) {}
  absl::Status Start(GroupSourceListener listener) override {
    auto snapshot = std::make_shared<GroupSnapshot>();
    snapshot->groups["reports"] = {"10.0.0.23:1234"};
    snapshot->groups["empty"] = {};
    snapshot->fetched_at = now_ - absl::Seconds(45);
    snapshot->source = kSource;
    listener.on_snapshot(std::move(snapshot));
    GroupSourceStatus status;
    status.stale = true;
    status.problem = "connection refused";
    status.last_success = now_ - absl::Seconds(45);
    status.failures = 3;
    listener.on_status(status);
    return absl::OkStatus();
  }
  void Shutdown() override {}
  void RefreshNow() override {}
  std::string Describe() const override { return kSource; }

 private:
  const absl::Time now_;
};

class ClusterMetricsTest : public MemoryClusterTest {
 protected:
  void StopManagers() override { manager_.reset(); }

  void StartManager() {
    ClusterOptions options;
    options.run_timers = false;
    options.clock = &clock_;
    options.heartbeat_limits.max_clock_skew = absl::Hours(24 * 365 * 100);
    options.slot_policy = SlotPolicy::kStable;
    manager_ = std::make_unique<ClusterManager>(registry_.get(), std::move(options));
    manager_->AddGroupSource(std::make_unique<StaleGroupSource>(clock_.WallNow()));
    ASSERT_OK(manager_->Start());
  }

  // Waits until the executor has applied everything queued so far (the tick runs after it, and
  // copies the tables' counters), then scrapes.
  Exposition Scrape() {
    manager_->TickNow();
    PrometheusWriter writer;
    manager_->WriteMetrics(&writer);
    absl::StatusOr<Exposition> parsed = testing::ParseExposition(writer.text());
    EXPECT_TRUE(parsed.ok()) << parsed.status() << "\n" << writer.text();
    return parsed.ok() ? *std::move(parsed) : Exposition();
  }

  static double Get(const Exposition& e, absl::string_view name, testing::Labels labels = {}) {
    return e.Value(name, labels).value_or(-1);
  }

  void CreateCoordinator(absl::string_view address) {
    CreateOptions ephemeral;
    ephemeral.mode = CreateMode::kEphemeral;
    ASSERT_OK(nodes_.at(std::string(address))
                  ->Create("/nodes/master-coordinator", std::string(address), ephemeral));
  }
  void Kill(absl::string_view address) {
    nodes_.at(std::string(address))->Shutdown();
    nodes_.erase(std::string(address));
  }

  std::unique_ptr<ClusterManager> manager_;
};

TEST_F(ClusterMetricsTest, ShowWhatTheAlertsWatch) {
  for (const char* master : {"10.0.0.1:5678", "10.0.0.2:5678", "10.0.0.3:5678"}) {
    Register("/nodes/master", master, HeartbeatJson("NORMAL"));
  }
  // 10.0.0.21 writes cpuUsage 1.5 and 10.0.0.23 memoryUsage -1: one warning each.
  Register("/nodes/worker", "10.0.0.21:1234",
           HeartbeatJson("NORMAL", 1729238400123, 23817, 1729238650456, 1.5, 0.3, "etl"));
  Register("/nodes/worker", "10.0.0.22:1234",
           HeartbeatJson("NORMAL", 1729238400123, 23817, 1729238650456, 0.2, 0.3, "etl"));
  Register("/nodes/worker", "10.0.0.23:1234",
           HeartbeatJson("NORMAL", 1729238400123, 23817, 1729238650456, 0.2, -1));
  StartManager();
  ASSERT_EVENTUALLY(manager_->ready() && manager_->view()->workers.size() == 3);

  Exposition e = Scrape();
  EXPECT_EQ(Get(e, "roster_nodes", {{"role", "MASTER"}, {"state", "RUNNING"}}), 3);
  EXPECT_EQ(Get(e, "roster_nodes", {{"role", "WORKER"}, {"state", "RUNNING"}}), 3);
  EXPECT_EQ(e.Sum("roster_nodes", {{"state", "FAULT"}}), 0);
  EXPECT_EQ(Get(e, "roster_group_nodes", {{"group", "etl"}, {"state", "RUNNING"}}), 2);
  EXPECT_EQ(Get(e, "roster_group_selectable_workers", {{"group", "etl"}}), 2);
  EXPECT_EQ(Get(e, "roster_group_selectable_workers", {{"group", "reports"}}), 1);
  EXPECT_EQ(Get(e, "roster_group_selectable_workers", {{"group", "empty"}}), 0);
  EXPECT_EQ(Get(e, "roster_group_selectable_workers", {{"group", "default"}}), 3);
  EXPECT_EQ(Get(e, "roster_master_slots"), 3);
  EXPECT_EQ(Get(e, "roster_leader_present"), 0);
  EXPECT_EQ(Get(e, "roster_leader_changes_total"), 0);
  EXPECT_EQ(Get(e, "roster_slot_epoch_changes_total"), 0) << "the first read is no change";
  EXPECT_EQ(Get(e, "roster_heartbeat_warnings_total", {{"role", "WORKER"}, {"field", "cpuUsage"}}),
            1);
  EXPECT_EQ(
      Get(e, "roster_heartbeat_warnings_total", {{"role", "WORKER"}, {"field", "memoryUsage"}}), 1);
  EXPECT_EQ(e.Sum("roster_heartbeat_warnings_total"), 2);
  // Six nodes registered and ran; nothing else happened.
  EXPECT_EQ(Get(e, "roster_node_transitions_total", {{"from", "REGISTERING"}, {"to", "RUNNING"}}),
            6);
  EXPECT_EQ(e.Sum("roster_node_transitions_total"), 6);
  EXPECT_EQ(Get(e, "roster_registry_session_state", {{"state", "CONNECTED"}}), 1);
  EXPECT_EQ(e.Sum("roster_registry_session_state"), 1) << "one state at a time";
  EXPECT_EQ(Get(e, "roster_view_stale"), 0);
  EXPECT_EQ(Get(e, "roster_resync_corrections_total"), 0);
  EXPECT_EQ(Get(e, "roster_group_source_stale", {{"source", kSource}}), 1);
  EXPECT_EQ(Get(e, "roster_group_source_stale_seconds", {{"source", kSource}}), 45);
  EXPECT_EQ(Get(e, "roster_group_source_consecutive_failures", {{"source", kSource}}), 3);
  EXPECT_EQ(Get(e, "roster_cluster_inbox_events"), 0);
  EXPECT_EQ(Get(e, "roster_watch_fanout_watchers"), 0);

  // A leader appears (a change after the first read), dies with its master, and another takes
  // over: two leader changes, one slot reassignment (3 masters -> 2).
  CreateCoordinator("10.0.0.1:5678");
  ASSERT_EVENTUALLY(manager_->view()->leader.present);
  e = Scrape();
  EXPECT_EQ(Get(e, "roster_leader_present"), 1);
  EXPECT_EQ(Get(e, "roster_leader_valid"), 1);
  // A coordinator znode is what DolphinScheduler 3.3 (dev) writes; detected as such.
  EXPECT_EQ(Get(e, "roster_dolphinscheduler_release",
                {{"release", "3.3"}, {"detected", "true"}, {"coordinator", "znode"}}),
            1);
  EXPECT_EQ(Get(e, "roster_leader_changes_total"), 1);

  Kill("10.0.0.1:5678");
  ASSERT_EVENTUALLY(!manager_->view()->leader.present &&
                    manager_->view()->slots.masters.size() == 2);
  e = Scrape();
  EXPECT_EQ(Get(e, "roster_leader_present"), 0);
  EXPECT_EQ(Get(e, "roster_master_slots"), 2);
  EXPECT_EQ(Get(e, "roster_slot_epoch_changes_total"), 1);
  EXPECT_EQ(Get(e, "roster_nodes", {{"role", "MASTER"}, {"state", "OFFLINE"}}), 1);
  EXPECT_EQ(Get(e, "roster_node_transitions_total", {{"from", "RUNNING"}, {"to", "OFFLINE"}}), 1);

  CreateCoordinator("10.0.0.2:5678");
  ASSERT_EVENTUALLY(manager_->view()->leader.present);
  e = Scrape();
  EXPECT_EQ(Get(e, "roster_leader_changes_total"), 2);
  EXPECT_EQ(Get(e, "roster_slot_epoch_changes_total"), 1) << "the slots did not move";

  // An operator drains 10.0.0.22: "etl" keeps one selectable worker.
  absl::Notification drained;
  manager_->Drain("10.0.0.22:1234", "kernel upgrade", [&](absl::Status status) {
    EXPECT_OK(status);
    drained.Notify();
  });
  drained.WaitForNotification();
  e = Scrape();
  EXPECT_EQ(Get(e, "roster_group_selectable_workers", {{"group", "etl"}}), 1);
  EXPECT_EQ(Get(e, "roster_group_selectable_workers", {{"group", "default"}}), 2);

  // A change whose notification is lost is found by the next full read: one correction.
  registry_->DropNextWatchEvents(1);
  ASSERT_OK(nodes_.at("10.0.0.23:1234")
                ->Set("/nodes/worker/10.0.0.23:1234",
                      HeartbeatJson("BUSY", 1729238400123, 23817, 1729238650456, 0.2, 0.3)));
  const int64_t resyncs = manager_->resyncs();
  manager_->ResyncNow();
  ASSERT_EVENTUALLY(manager_->resyncs() > resyncs);
  e = Scrape();
  EXPECT_EQ(Get(e, "roster_resync_corrections_total"), 1);
  EXPECT_EQ(Get(e, "roster_group_selectable_workers", {{"group", "reports"}}), 0)
      << "10.0.0.23 is BUSY now";

  // The session is lost for 7 s.
  registry_->Disconnect();
  ASSERT_EVENTUALLY(manager_->freshness().stale);
  clock_.Advance(absl::Seconds(7));
  e = Scrape();
  EXPECT_EQ(Get(e, "roster_registry_session_state", {{"state", "SUSPENDED"}}), 1);
  EXPECT_EQ(Get(e, "roster_registry_session_state", {{"state", "CONNECTED"}}), 0);
  EXPECT_EQ(Get(e, "roster_view_stale"), 1);
  EXPECT_EQ(Get(e, "roster_view_stale_seconds"), 7);
  registry_->Reconnect();
  ASSERT_EVENTUALLY(!manager_->freshness().stale);
}

}  // namespace
}  // namespace roster::cluster
