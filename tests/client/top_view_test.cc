// `rosterctl top`'s model and frame: the mirror a snapshot and events build, and what a person
// reads in it (the header counts, the order of the workers, the ages).
#include "client/top_view.h"

#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace roster::client {
namespace {

namespace v1 = ::roster::v1;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

const absl::Time kNow = absl::FromUnixSeconds(1729238400);  // 2024-10-18T08:00:00Z

v1::Node Worker(const std::string& address, v1::NodeState state, double cpu, double memory,
                std::vector<std::string> groups) {
  v1::Node node;
  node.set_address(address);
  node.set_role(v1::WORKER);
  node.set_state(state);
  for (const auto& group : groups) node.add_groups(group);
  node.mutable_heartbeat()->set_cpu_usage(cpu);
  node.mutable_heartbeat()->set_memory_usage(memory);
  node.mutable_heartbeat_age()->set_seconds(1);
  return node;
}

v1::Node Master(const std::string& address, int slot) {
  v1::Node node;
  node.set_address(address);
  node.set_role(v1::MASTER);
  node.set_state(v1::RUNNING);
  node.set_slot(slot);
  return node;
}

v1::WatchClusterResponse Snapshot() {
  v1::WatchClusterResponse message;
  message.mutable_meta()->set_version(10);
  message.mutable_meta()->set_session_state(v1::CONNECTED);
  v1::GetClusterViewResponse* view = message.mutable_snapshot();
  *view->add_masters() = Master("10.0.0.1:5678", 0);
  *view->add_masters() = Master("10.0.0.2:5678", 1);
  *view->add_workers() = Worker("10.0.0.11:1234", v1::RUNNING, 0.30, 0.5, {"default", "etl"});
  *view->add_workers() = Worker("10.0.0.12:1234", v1::OVERLOAD, 0.95, 0.9, {"default", "etl"});
  *view->add_workers() = Worker("10.0.0.13:1234", v1::RUNNING, 0.30, 0.7, {"default"});
  v1::Node silent = Worker("10.0.0.14:1234", v1::REGISTERING, 0, 0, {"default"});
  silent.clear_heartbeat();
  silent.clear_heartbeat_age();
  *view->add_workers() = silent;
  view->mutable_slots()->add_masters("10.0.0.1:5678");
  view->mutable_slots()->add_masters("10.0.0.2:5678");
  view->mutable_slots()->set_epoch(77);
  view->mutable_leader()->set_address("10.0.0.1:5678");
  view->mutable_leader()->set_fencing_token(5);
  view->mutable_leader()->mutable_since()->set_seconds(1729238000);
  return message;
}

v1::WatchClusterResponse Event(uint64_t version, v1::ClusterEvent::Kind kind) {
  v1::WatchClusterResponse message;
  message.mutable_meta()->set_version(version);
  message.mutable_meta()->set_session_state(v1::CONNECTED);
  message.mutable_event()->set_version(version);
  message.mutable_event()->set_kind(kind);
  return message;
}

// The worker rows' addresses, top to bottom.
std::vector<std::string> RowAddresses(const std::string& frame) {
  std::vector<std::string> lines = absl::StrSplit(frame, '\n', absl::SkipEmpty());
  std::vector<std::string> out;
  bool in_table = false;
  for (const std::string& line : lines) {
    if (absl::StartsWith(line, "ADDRESS ")) {
      in_table = true;
      continue;
    }
    if (in_table && !absl::StartsWith(line, "...")) out.push_back(line.substr(0, line.find(' ')));
  }
  return out;
}

TEST(TopViewTest, NothingToDrawBeforeTheSnapshot) {
  TopView top;
  EXPECT_FALSE(top.has_snapshot());
  EXPECT_EQ(top.Render(kNow, 0), "waiting for rosterd's snapshot...\n");
}

TEST(TopViewTest, HeaderAndWorkersBusiestFirst) {
  TopView top;
  EXPECT_TRUE(top.Apply(Snapshot(), kNow));
  const std::string frame = top.Render(kNow, 0, "rosterctl top 127.0.0.1:9090");
  const std::vector<std::string> lines = absl::StrSplit(frame, '\n');
  EXPECT_EQ(lines[0], "rosterctl top 127.0.0.1:9090  view v10  session CONNECTED  08:00:00 UTC");
  EXPECT_EQ(lines[1], "masters 2: 10.0.0.1:5678 slot 0, 10.0.0.2:5678 slot 1  (slots epoch 77)");
  EXPECT_EQ(lines[2], "leader: 10.0.0.1:5678 (fencing token 5, since 2024-10-18T07:53:20Z)");
  EXPECT_EQ(lines[3], "workers 4: OVERLOAD 1, REGISTERING 1, RUNNING 2  alert servers 0");
  // Selectable: RUNNING and not drained.
  EXPECT_EQ(lines[4], "groups (selectable/members): default 2/4, etl 1/2");
  // CPU descending; equal CPU: memory descending; no heartbeat last.
  EXPECT_THAT(RowAddresses(frame),
              ElementsAre("10.0.0.12:1234", "10.0.0.13:1234", "10.0.0.11:1234", "10.0.0.14:1234"));
  EXPECT_THAT(frame, HasSubstr("10.0.0.12:1234  OVERLOAD     95%  90%"));
}

TEST(TopViewTest, EventsUpdateTheMirror) {
  TopView top;
  top.Apply(Snapshot(), kNow);

  // A worker drains (not selectable any more), another one joins, one leaves.
  v1::WatchClusterResponse drained = Event(11, v1::ClusterEvent::NODE_UPDATED);
  v1::Node node = Worker("10.0.0.11:1234", v1::RUNNING, 0.30, 0.5, {"default", "etl"});
  node.set_drained(true);
  node.set_drain_reason("disk swap");
  *drained.mutable_event()->mutable_node() = node;
  EXPECT_TRUE(top.Apply(drained, kNow));
  v1::WatchClusterResponse added = Event(12, v1::ClusterEvent::NODE_ADDED);
  *added.mutable_event()->mutable_node() =
      Worker("10.0.0.15:1234", v1::RUNNING, 0.99, 0.1, {"default", "etl"});
  EXPECT_TRUE(top.Apply(added, kNow));
  v1::WatchClusterResponse removed = Event(13, v1::ClusterEvent::NODE_REMOVED);
  *removed.mutable_event()->mutable_node() = Worker("10.0.0.14:1234", v1::OFFLINE, 0, 0, {});
  EXPECT_TRUE(top.Apply(removed, kNow));
  // The leader leaves; the slots follow.
  EXPECT_TRUE(top.Apply(Event(14, v1::ClusterEvent::LEADER_CHANGED), kNow));
  v1::WatchClusterResponse slots = Event(15, v1::ClusterEvent::SLOTS_CHANGED);
  slots.mutable_event()->mutable_slots()->add_masters("10.0.0.2:5678");
  slots.mutable_event()->mutable_slots()->set_epoch(78);
  EXPECT_TRUE(top.Apply(slots, kNow));

  const std::string frame = top.Render(kNow, 0);
  EXPECT_THAT(frame, StartsWith("view v15  session CONNECTED"));
  EXPECT_THAT(frame, HasSubstr("(slots epoch 78)"));
  EXPECT_THAT(frame, HasSubstr("leader: none\n"));
  EXPECT_THAT(frame, HasSubstr("workers 4: OVERLOAD 1, RUNNING 3"));
  EXPECT_THAT(frame, HasSubstr("groups (selectable/members): default 2/4, etl 1/3"));
  EXPECT_THAT(RowAddresses(frame),
              ElementsAre("10.0.0.15:1234", "10.0.0.12:1234", "10.0.0.13:1234", "10.0.0.11:1234"));
  EXPECT_THAT(frame, HasSubstr("RUNNING (drained)"));
  EXPECT_THAT(frame, HasSubstr("disk swap"));
}

TEST(TopViewTest, ResyncRequiredChangesNothing) {
  TopView top;
  top.Apply(Snapshot(), kNow);
  v1::WatchClusterResponse resync;
  resync.mutable_meta()->set_version(10);
  resync.set_resync_required("behind");
  EXPECT_FALSE(top.Apply(resync, kNow));
}

TEST(TopViewTest, StaleBannerAndAgesThatGrow) {
  TopView top;
  v1::WatchClusterResponse snapshot = Snapshot();
  snapshot.mutable_meta()->set_stale(true);
  snapshot.mutable_meta()->mutable_stale_for()->set_seconds(45);
  top.Apply(snapshot, kNow);
  // 1 s old when it arrived, drawn 12 s later.
  const std::string frame = top.Render(kNow + absl::Seconds(12), 0);
  EXPECT_THAT(frame, HasSubstr("\nSTALE for 45s: "));
  EXPECT_THAT(frame, HasSubstr(" 13s "));
  EXPECT_THAT(frame, Not(HasSubstr(" 1s ")));
}

TEST(TopViewTest, CutToTheWindow) {
  TopView top;
  top.Apply(Snapshot(), kNow);
  // 5 header lines, a blank line, the table header, 1 row, the "more" line.
  const std::string frame = top.Render(kNow, 9);
  EXPECT_THAT(RowAddresses(frame), ElementsAre("10.0.0.12:1234"));
  EXPECT_THAT(frame, HasSubstr("... 3 more workers"));
  EXPECT_EQ(std::count(frame.begin(), frame.end(), '\n'), 9);
}

}  // namespace
}  // namespace roster::client
