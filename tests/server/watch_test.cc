// WatchCluster: a snapshot (or the missed changes), then every change in order with its
// version; filters; the slow-reader bound; the stream limit; ending at shutdown.
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/server_test_env.h"
#include "tests/testing/eventually.h"

namespace roster::testing {
namespace {

using cluster::NodeRole;
using cluster::NodeState;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class WatchTest : public ServerTest {
 protected:
  v1::WatchClusterRequest Request(uint64_t from_version = 0) {
    v1::WatchClusterRequest request;
    request.set_from_version(from_version);
    return request;
  }

  static std::string Payload(absl::string_view status, double cpu, absl::string_view group = "") {
    return HeartbeatJson(status, 1729238400123, 23817, 1729238650456, cpu, 0.3, group);
  }
};

// Event versions must be consecutive when nothing is filtered.
void ExpectConsecutive(const std::vector<v1::ClusterEvent>& events, uint64_t after) {
  uint64_t expected = after + 1;
  for (const v1::ClusterEvent& event : events) {
    EXPECT_EQ(event.version(), expected) << event.ShortDebugString();
    expected = event.version() + 1;
  }
}

// An event of `kind` (any with KIND_UNSPECIFIED) about `address`, in `state` if given.
bool HasEvent(const std::vector<v1::ClusterEvent>& events, v1::ClusterEvent::Kind kind,
              absl::string_view address, v1::NodeState state = v1::NODE_STATE_UNSPECIFIED) {
  for (const v1::ClusterEvent& event : events) {
    if ((kind == v1::ClusterEvent::KIND_UNSPECIFIED || event.kind() == kind) &&
        event.node().address() == address &&
        (state == v1::NODE_STATE_UNSPECIFIED || event.node().state() == state)) {
      return true;
    }
  }
  return false;
}

bool HasKind(const std::vector<v1::ClusterEvent>& events, v1::ClusterEvent::Kind kind) {
  for (const v1::ClusterEvent& event : events) {
    if (event.kind() == kind) return true;
  }
  return false;
}

TEST_F(WatchTest, SnapshotThenEveryChangeInOrder) {
  StartDaemon();
  AddWorker("10.0.0.21:1234");
  ASSERT_EVENTUALLY(InState(NodeRole::kWorker, "10.0.0.21:1234", NodeState::kRunning));

  WatchClient watch(roster_.get(), Request());
  ASSERT_EVENTUALLY(watch.size() >= 1);
  const v1::WatchClusterResponse first = watch.messages()[0];
  ASSERT_TRUE(first.has_snapshot()) << first.ShortDebugString();
  ExpectFreshMeta(first.meta());
  const uint64_t snapshot_version = first.meta().version();
  EXPECT_EQ(first.snapshot().meta().version(), snapshot_version);
  ASSERT_EQ(first.snapshot().workers_size(), 1);
  EXPECT_EQ(first.snapshot().workers(0).address(), "10.0.0.21:1234");

  AddWorker("10.0.0.22:1234");
  SetPayload(kWorkers, "10.0.0.21:1234", Payload("BUSY", 0.2));
  AddMaster("10.0.0.1:5678");
  ASSERT_EVENTUALLY(
      HasEvent(watch.events(), v1::ClusterEvent::NODE_ADDED, "10.0.0.22:1234") &&
      HasEvent(watch.events(), v1::ClusterEvent::NODE_UPDATED, "10.0.0.21:1234", v1::OVERLOAD) &&
      HasEvent(watch.events(), v1::ClusterEvent::KIND_UNSPECIFIED, "10.0.0.1:5678", v1::RUNNING) &&
      HasKind(watch.events(), v1::ClusterEvent::SLOTS_CHANGED));
  ExpectConsecutive(watch.events(), snapshot_version);
  for (const v1::WatchClusterResponse& message : watch.messages()) {
    if (!message.has_event()) continue;
    EXPECT_EQ(message.meta().version(), message.event().version());
    EXPECT_EQ(message.meta().instance_id(), daemon_->instance_id());
    if (message.event().kind() == v1::ClusterEvent::SLOTS_CHANGED) {
      EXPECT_THAT(message.event().slots().masters(), ElementsAre("10.0.0.1:5678"));
    }
  }
  EXPECT_FALSE(watch.done());
}

TEST_F(WatchTest, ResumesFromAVersionWithTheMissedChanges) {
  StartDaemon();
  AddWorker("10.0.0.21:1234");
  ASSERT_EVENTUALLY(InState(NodeRole::kWorker, "10.0.0.21:1234", NodeState::kRunning));
  const uint64_t seen = ViewVersion();
  AddWorker("10.0.0.22:1234");
  SetPayload(kWorkers, "10.0.0.21:1234", Payload("BUSY", 0.2));
  ASSERT_EVENTUALLY(InState(NodeRole::kWorker, "10.0.0.21:1234", NodeState::kOverload) &&
                    InState(NodeRole::kWorker, "10.0.0.22:1234", NodeState::kRunning));
  const uint64_t now = ViewVersion();

  WatchClient watch(roster_.get(), Request(seen));
  ASSERT_EVENTUALLY(watch.size() >= now - seen);
  for (const v1::WatchClusterResponse& message : watch.messages()) {
    EXPECT_FALSE(message.has_snapshot()) << "resuming from a recent version replays changes";
  }
  const std::vector<v1::ClusterEvent> events = watch.events();
  ExpectConsecutive(events, seen);
  EXPECT_TRUE(HasEvent(events, v1::ClusterEvent::NODE_ADDED, "10.0.0.22:1234"));
  EXPECT_TRUE(HasEvent(events, v1::ClusterEvent::NODE_UPDATED, "10.0.0.21:1234", v1::OVERLOAD));

  // A version this daemon run never had (another instance's): a snapshot.
  WatchClient other(roster_.get(), Request(now + 1000));
  ASSERT_EVENTUALLY(other.size() >= 1);
  EXPECT_TRUE(other.messages()[0].has_snapshot());
}

TEST_F(WatchTest, AVersionOfAnotherInstanceGetsASnapshotEvenWhenThisRunHasIt) {
  StartDaemon();
  AddWorker("10.0.0.21:1234");
  ASSERT_EVENTUALLY(InState(NodeRole::kWorker, "10.0.0.21:1234", NodeState::kRunning));
  const uint64_t seen = ViewVersion();
  AddWorker("10.0.0.22:1234");
  ASSERT_EVENTUALLY(InState(NodeRole::kWorker, "10.0.0.22:1234", NodeState::kRunning));
  ASSERT_GT(seen, 1u);

  // `seen` is a version this run has, but named with another run's instance id (rosterd was
  // restarted and counts from 1 again): the changes after it here are not what the watcher
  // missed, so it gets a snapshot, not a replay.
  v1::WatchClusterRequest request = Request(seen);
  request.set_instance_id("an-earlier-run");
  WatchClient restarted(roster_.get(), request);
  ASSERT_EVENTUALLY(restarted.size() >= 1);
  const v1::WatchClusterResponse first = restarted.messages()[0];
  ASSERT_TRUE(first.has_snapshot()) << first.ShortDebugString();
  EXPECT_EQ(first.meta().instance_id(), daemon_->instance_id());
  EXPECT_EQ(first.snapshot().workers_size(), 2);

  // Named with this run's id, the same version is resumed.
  request.set_instance_id(daemon_->instance_id());
  WatchClient same(roster_.get(), request);
  ASSERT_EVENTUALLY(same.size() >= 1);
  EXPECT_TRUE(same.messages()[0].has_event()) << same.messages()[0].ShortDebugString();
  EXPECT_TRUE(HasEvent(same.events(), v1::ClusterEvent::NODE_ADDED, "10.0.0.22:1234"));
}

TEST_F(WatchTest, RoleFilter) {
  StartDaemon();
  v1::WatchClusterRequest request = Request();
  request.mutable_filter()->add_roles(v1::MASTER);
  WatchClient watch(roster_.get(), request);
  // The stream's snapshot first: a change made before it would arrive in the snapshot, not
  // as an event.
  ASSERT_EVENTUALLY(watch.size() >= 1);
  ASSERT_TRUE(watch.messages()[0].has_snapshot());
  AddWorker("10.0.0.21:1234");
  AddMaster("10.0.0.1:5678");
  ASSERT_EVENTUALLY(HasEvent(watch.events(), v1::ClusterEvent::KIND_UNSPECIFIED, "10.0.0.1:5678"));
  // Ordered stream: had the worker's events been sent, they would be here by now too.
  ASSERT_EVENTUALLY(InState(NodeRole::kWorker, "10.0.0.21:1234", NodeState::kRunning));
  AddMaster("10.0.0.2:5678");
  ASSERT_EVENTUALLY(HasEvent(watch.events(), v1::ClusterEvent::KIND_UNSPECIFIED, "10.0.0.2:5678"));
  for (const v1::ClusterEvent& event : watch.events()) {
    if (event.has_node()) {
      EXPECT_EQ(event.node().role(), v1::MASTER) << event.ShortDebugString();
    }
  }
  EXPECT_EQ(watch.messages()[0].snapshot().workers_size(), 0);
}

TEST_F(WatchTest, GroupFilterKeepsThatGroupsWorkersAndNonNodeEvents) {
  StartDaemon();
  AddWorker("10.0.0.21:1234", "NORMAL", "etl");
  AddWorker("10.0.0.22:1234", "NORMAL", "ingest");
  ASSERT_EVENTUALLY(InState(NodeRole::kWorker, "10.0.0.21:1234", NodeState::kRunning) &&
                    InState(NodeRole::kWorker, "10.0.0.22:1234", NodeState::kRunning));
  v1::WatchClusterRequest request = Request();
  request.mutable_filter()->set_group("etl");
  WatchClient watch(roster_.get(), request);
  ASSERT_EVENTUALLY(watch.size() >= 1);
  const v1::GetClusterViewResponse snapshot = watch.messages()[0].snapshot();
  ASSERT_EQ(snapshot.workers_size(), 1);
  EXPECT_EQ(snapshot.workers(0).address(), "10.0.0.21:1234");
  ASSERT_EQ(snapshot.groups_size(), 1);
  EXPECT_EQ(snapshot.groups(0).name(), "etl");

  SetPayload(kWorkers, "10.0.0.22:1234", Payload("BUSY", 0.2, "ingest"));
  AddMaster("10.0.0.1:5678");  // a master: not a node of the group, but slots change
  SetPayload(kWorkers, "10.0.0.21:1234", Payload("BUSY", 0.2, "etl"));
  ASSERT_EVENTUALLY(
      HasEvent(watch.events(), v1::ClusterEvent::NODE_UPDATED, "10.0.0.21:1234", v1::OVERLOAD));
  for (const v1::ClusterEvent& event : watch.events()) {
    if (event.has_node()) {
      EXPECT_EQ(event.node().address(), "10.0.0.21:1234") << event.ShortDebugString();
    }
  }
  ASSERT_EVENTUALLY(HasKind(watch.events(), v1::ClusterEvent::SLOTS_CHANGED));

  // Leaving the group is reported once, with the new groups.
  SetPayload(kWorkers, "10.0.0.21:1234", Payload("BUSY", 0.2, "ingest"));
  ASSERT_EVENTUALLY([&] {
    for (const v1::ClusterEvent& event : watch.events()) {
      if (event.node().address() == "10.0.0.21:1234" &&
          std::find(event.node().groups().begin(), event.node().groups().end(), "ingest") !=
              event.node().groups().end()) {
        return true;
      }
    }
    return false;
  }());
}

TEST_F(WatchTest, StateChangesOnlySkipsLoadUpdates) {
  StartDaemon();
  AddWorker("10.0.0.21:1234");
  ASSERT_EVENTUALLY(InState(NodeRole::kWorker, "10.0.0.21:1234", NodeState::kRunning));
  v1::WatchClusterRequest request = Request();
  request.mutable_filter()->set_state_changes_only(true);
  WatchClient watch(roster_.get(), request);
  ASSERT_EVENTUALLY(watch.size() >= 1);
  const uint64_t before = ViewVersion();
  SetPayload(kWorkers, "10.0.0.21:1234", Payload("NORMAL", 0.7));  // load only
  ASSERT_EVENTUALLY(ViewVersion() > before);
  SetPayload(kWorkers, "10.0.0.21:1234", Payload("BUSY", 0.7));  // a state change
  ASSERT_EVENTUALLY(
      HasEvent(watch.events(), v1::ClusterEvent::NODE_UPDATED, "10.0.0.21:1234", v1::OVERLOAD));
  for (const v1::ClusterEvent& event : watch.events()) {
    EXPECT_TRUE(event.kind() != v1::ClusterEvent::NODE_UPDATED || event.state_changed())
        << event.ShortDebugString();
  }
}

TEST_F(WatchTest, BadFiltersAreRefused) {
  StartDaemon();
  v1::WatchClusterRequest bad_role = Request();
  bad_role.mutable_filter()->add_roles(static_cast<v1::NodeRole>(7));
  WatchClient role(roster_.get(), bad_role);
  v1::WatchClusterRequest bad_group = Request();
  bad_group.mutable_filter()->set_group("a/b");
  WatchClient group(roster_.get(), bad_group);
  ASSERT_EVENTUALLY(role.done() && group.done());
  EXPECT_THAT(role.status(), GrpcIs(grpc::StatusCode::INVALID_ARGUMENT,
                                    HasSubstr("filter.roles[0]: 7 is not a NodeRole")));
  EXPECT_THAT(group.status(),
              GrpcIs(grpc::StatusCode::INVALID_ARGUMENT, HasSubstr("filter.group")));
}

TEST_F(WatchTest, SlowReaderGetsResyncAndTheQueueStaysBounded) {
  constexpr int kBound = 16;
  options_.watch_buffer_messages = kBound;
  StartDaemon();
  AddWorker("10.0.0.21:1234");
  ASSERT_EVENTUALLY(InState(NodeRole::kWorker, "10.0.0.21:1234", NodeState::kRunning));

  // A reader that reads nothing: once the transport's buffers are full, the server's queue
  // fills, and the stream must be cut instead of growing.
  WatchClient watch(roster_.get(), Request(), /*paused=*/true);
  ASSERT_EVENTUALLY(daemon_->metrics().watch_streams_open().value() == 1);
  const absl::Time give_up = absl::Now() + absl::Seconds(90);
  size_t most_queued = 0;
  for (int i = 0; daemon_->metrics().watch_resyncs().value() == 0; ++i) {
    ASSERT_LT(absl::Now(), give_up) << "no resync after " << i << " changes";
    SetPayload(kWorkers, "10.0.0.21:1234", Payload("NORMAL", (i % 97) / 100.0));
    if (i % 32 == 0) {
      most_queued = std::max(most_queued, daemon_->roster_service()->max_queued());
      ASSERT_LE(most_queued, static_cast<size_t>(kBound));
    }
  }
  EXPECT_LE(daemon_->metrics().watch_queue_high_water(), kBound);
  EXPECT_GT(daemon_->metrics().watch_queue_high_water(), 0);

  // When it finally reads: what had been written, then resync_required, then the end (OK).
  watch.Resume();
  ASSERT_EVENTUALLY(watch.done());
  EXPECT_THAT(watch.status(), GrpcOk());
  const std::vector<v1::WatchClusterResponse> messages = watch.messages();
  ASSERT_GE(messages.size(), 2u);
  const v1::WatchClusterResponse& last = messages.back();
  ASSERT_TRUE(last.has_resync_required()) << last.ShortDebugString();
  uint64_t delivered = 0;
  for (size_t i = 0; i + 1 < messages.size(); ++i) {
    EXPECT_FALSE(messages[i].has_resync_required());
    EXPECT_GT(messages[i].meta().version(), delivered);
    delivered = messages[i].meta().version();
  }
  EXPECT_EQ(last.meta().version(), delivered);
  EXPECT_THAT(last.resync_required(),
              HasSubstr(absl::StrCat("watch again with from_version=", delivered)));
  EXPECT_THAT(last.resync_required(), HasSubstr("--watch_buffer_messages"));
  // The client sees the end before the server's reactor is done with the call.
  ASSERT_EVENTUALLY(daemon_->metrics().watch_streams_open().value() == 0);
}

TEST_F(WatchTest, StreamLimit) {
  options_.max_watch_streams = 2;
  StartDaemon();
  auto first = std::make_unique<WatchClient>(roster_.get(), Request());
  WatchClient second(roster_.get(), Request());
  ASSERT_EVENTUALLY(first->size() >= 1 && second.size() >= 1);
  {
    WatchClient third(roster_.get(), Request());
    ASSERT_EVENTUALLY(third.done());
    EXPECT_THAT(third.status(),
                GrpcIs(grpc::StatusCode::RESOURCE_EXHAUSTED, HasSubstr("--max_watch_streams")));
  }
  first.reset();  // cancels
  ASSERT_EVENTUALLY(daemon_->roster_service()->open_watch_streams() == 1);
  WatchClient fourth(roster_.get(), Request());
  ASSERT_EVENTUALLY(fourth.size() >= 1);
  EXPECT_FALSE(fourth.done());
}

TEST_F(WatchTest, StreamLimitPerClient) {
  // One client (127.0.0.1, no identity) may not take every stream of the daemon.
  options_.max_watch_streams = 100;
  options_.max_watch_streams_per_client = 2;
  StartDaemon();
  auto first = std::make_unique<WatchClient>(roster_.get(), Request());
  WatchClient second(roster_.get(), Request());
  ASSERT_EVENTUALLY(first->size() >= 1 && second.size() >= 1);
  {
    WatchClient third(roster_.get(), Request());
    ASSERT_EVENTUALLY(third.done());
    EXPECT_THAT(third.status(), GrpcIs(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                       HasSubstr("--max_watch_streams_per_client")));
  }
  EXPECT_EQ(daemon_->roster_service()->open_watch_streams(), 2);
  first.reset();  // cancels: the slot is the client's again
  ASSERT_EVENTUALLY(daemon_->roster_service()->open_watch_streams() == 1);
  WatchClient fourth(roster_.get(), Request());
  ASSERT_EVENTUALLY(fourth.size() >= 1);
  EXPECT_FALSE(fourth.done());
}

TEST_F(WatchTest, ShutdownEndsWatchStreamsWithoutWaitingForTheGrace) {
  options_.shutdown_grace_ms = 60000;
  StartDaemon();
  WatchClient watch(roster_.get(), Request());
  ASSERT_EVENTUALLY(watch.size() >= 1);
  const absl::Time start = absl::Now();
  daemon_->Shutdown();
  EXPECT_LT(absl::Now() - start, absl::Seconds(20));
  ASSERT_EVENTUALLY(watch.done());
  EXPECT_THAT(watch.status(), GrpcIs(grpc::StatusCode::UNAVAILABLE, HasSubstr("shutting down")));
}

}  // namespace
}  // namespace roster::testing
