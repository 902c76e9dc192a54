// NodeTable's published versions of a node (docs/architecture.md, "Publishing a view"): each
// heartbeat publishes a new NodeInfo, which shares the parts that did not change (the znode
// paths, the groups) with the version before, and builds them anew when they did.
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "cluster/node_table.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/cluster/cluster_test_util.h"

namespace roster::cluster {
namespace {

using registry::EventType;
using ::roster::testing::HeartbeatJson;
using ::roster::testing::NodeEvent;
using ::testing::ElementsAre;

constexpr char kWorkers[] = "/nodes/worker";
constexpr char kAddress[] = "10.0.0.7:1234";
constexpr char kPath[] = "/nodes/worker/10.0.0.7:1234";
constexpr int64_t kCzxid = 100;

class NodeTableVersionsTest : public ::testing::Test {
 protected:
  NodeTableVersionsTest() : table_(&options_) {
    options_.role = NodeRole::kWorker;
    options_.limits.max_clock_skew = absl::Hours(24 * 365 * 100);  // payload times are fixed
  }

  // Applies the payload (the znode's creation the first time), and returns the version the
  // table publishes for it.
  NodeInfoPtr Write(const std::string& payload) {
    const EventType type = zxid_ == kCzxid ? EventType::kAdded : EventType::kUpdated;
    table_.Apply(kWorkers, NodeEvent(type, kPath, payload, kCzxid, ++zxid_), now_, now_);
    now_ += absl::Seconds(1);
    std::vector<NodeChange> changes;
    table_.Derive(now_, now_, &changes);
    EXPECT_EQ(changes.size(), 1u);
    return changes.empty() ? nullptr : changes.back().after;
  }

  static std::string Payload(int64_t report_time_ms, absl::string_view status = "NORMAL",
                             absl::string_view worker_group = "") {
    return HeartbeatJson(status, 1729238400123, 23817, report_time_ms, 0.25, 0.5, worker_group);
  }

  NodeTableOptions options_;
  NodeTable table_;
  absl::Time now_ = absl::FromUnixSeconds(1729238650);
  int64_t zxid_ = kCzxid;
};

TEST_F(NodeTableVersionsTest, AHeartbeatSharesThePathsAndGroupsOfTheVersionBefore) {
  const NodeInfoPtr first = Write(Payload(1729238650000));
  ASSERT_NE(first, nullptr);
  EXPECT_THAT(first->paths, ElementsAre(kPath));
  EXPECT_THAT(first->groups, ElementsAre("default"));

  // A load-only heartbeat and a state change alike: a new version, the same lists.
  const NodeInfoPtr second = Write(Payload(1729238660000));
  const NodeInfoPtr third = Write(Payload(1729238670000, "BUSY"));
  ASSERT_NE(second, nullptr);
  ASSERT_NE(third, nullptr);
  EXPECT_EQ(third->state, NodeState::kOverload);
  EXPECT_EQ(second->heartbeat.report_time_ms(), 1729238660000);
  for (const NodeInfoPtr& later : {second, third}) {
    EXPECT_NE(later, first);
    EXPECT_EQ(later->address, kAddress);
    EXPECT_TRUE(later->paths.SharesWith(first->paths));
    EXPECT_TRUE(later->groups.SharesWith(first->groups));
  }
  // The first version is unchanged by what followed it.
  EXPECT_EQ(first->heartbeat.report_time_ms(), 1729238650000);
  EXPECT_EQ(first->state, NodeState::kRunning);
}

TEST_F(NodeTableVersionsTest, ChangedGroupsAreANewListAndTheOldVersionKeepsItsOwn) {
  const NodeInfoPtr first = Write(Payload(1729238650000));
  ASSERT_NE(first, nullptr);
  // roster's workerGroup heartbeat extension adds a group.
  const NodeInfoPtr gpu = Write(Payload(1729238660000, "NORMAL", "gpu"));
  ASSERT_NE(gpu, nullptr);
  EXPECT_THAT(gpu->groups, ElementsAre("default", "gpu"));
  EXPECT_FALSE(gpu->groups.SharesWith(first->groups));
  EXPECT_TRUE(gpu->paths.SharesWith(first->paths));
  EXPECT_THAT(first->groups, ElementsAre("default"));

  // And dropping it again is a list equal to the first one.
  const NodeInfoPtr back = Write(Payload(1729238670000));
  ASSERT_NE(back, nullptr);
  EXPECT_EQ(back->groups, first->groups);
  EXPECT_THAT(gpu->groups, ElementsAre("default", "gpu"));
}

TEST(SharedStringsTest, ReadsAndComparesLikeAVector) {
  const SharedStrings none;
  EXPECT_TRUE(none.empty());
  EXPECT_EQ(none.size(), 0u);
  EXPECT_EQ(none.begin(), none.end());
  EXPECT_EQ(none, std::vector<std::string>{});

  const SharedStrings two = std::vector<std::string>{"a", "b"};
  EXPECT_EQ(two.size(), 2u);
  EXPECT_EQ(two[1], "b");
  EXPECT_EQ(two.front(), "a");
  EXPECT_EQ(two.back(), "b");
  EXPECT_EQ(two, (std::vector<std::string>{"a", "b"}));
  EXPECT_NE(two, none);

  // Reuse shares a list only when the strings are the same.
  const std::vector<std::string> same = {"a", "b"};
  const std::vector<std::string> other = {"a", "c"};
  EXPECT_TRUE(SharedStrings::Reuse(two, same).SharesWith(two));
  const SharedStrings changed = SharedStrings::Reuse(two, other);
  EXPECT_FALSE(changed.SharesWith(two));
  EXPECT_EQ(changed, other);
  EXPECT_EQ(two, same);
}

}  // namespace
}  // namespace roster::cluster
