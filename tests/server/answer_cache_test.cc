// NodeBytesCache: the bytes it serves parse to exactly the messages FillNode builds (FULL with
// the caller's heartbeat_age, BASIC), a changed node is never answered with its old bytes, and
// entries of nodes no view holds are swept.
#include "server/answer_cache.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "roster/v1/roster.pb.h"
#include "server/convert.h"

namespace roster::server {
namespace {

using cluster::NodeInfo;
using cluster::NodeInfoPtr;
using google::protobuf::util::MessageDifferencer;

const absl::Time kNow = absl::FromUnixSeconds(1729238400);

NodeInfoPtr Worker(const std::string& address, cluster::NodeState state,
                   absl::Duration heartbeat_age) {
  auto node = std::make_shared<NodeInfo>();
  node->address = address;
  node->role = cluster::NodeRole::kWorker;
  node->state = state;
  node->reason = "heartbeat NORMAL";
  node->state_since = absl::FromUnixSeconds(1729238000);
  node->incarnation = {42, 1729238400123, 23817};
  node->paths = {absl::StrCat("/nodes/worker/", address)};
  node->heartbeat.set_cpu_usage(0.25);
  node->heartbeat.set_memory_usage(0.5);
  node->heartbeat.set_process_id(23817);
  node->has_heartbeat = true;
  node->last_data_change = kNow - heartbeat_age;
  node->groups = {"default", "etl"};
  return node;
}

// The nodes as the cache answers them, parsed back by the receiving side.
v1::GetWorkerGroupResponse FromCache(NodeBytesCache* cache, const std::vector<NodeInfoPtr>& nodes,
                                     absl::Time now, bool basic) {
  std::vector<const NodeInfoPtr*> pointers;
  for (const NodeInfoPtr& node : nodes) pointers.push_back(&node);
  v1::GetWorkerGroupResponse sent;
  sent.mutable_group()->set_name("etl");
  cache->Append(pointers, now, basic, v1::GetWorkerGroupResponse::kWorkersFieldNumber,
                sent.GetReflection()->MutableUnknownFields(&sent));
  v1::GetWorkerGroupResponse received;
  EXPECT_TRUE(received.ParseFromString(sent.SerializeAsString()));
  return received;
}

// The same answer built message by message, as before the cache.
v1::GetWorkerGroupResponse Built(const std::vector<NodeInfoPtr>& nodes, absl::Time now,
                                 bool basic) {
  v1::GetWorkerGroupResponse response;
  response.mutable_group()->set_name("etl");
  NodeDetail detail;
  detail.basic = basic;
  for (const NodeInfoPtr& node : nodes) FillNode(*node, now, detail, response.add_workers());
  return response;
}

MATCHER_P(EqualsProto, expected, "") {
  std::string diff;
  MessageDifferencer differencer;
  differencer.ReportDifferencesToString(&diff);
  if (differencer.Compare(expected, arg)) return true;
  *result_listener << diff;
  return false;
}

TEST(NodeBytesCacheTest, AnswersParseToTheMessagesFillNodeBuilds) {
  const std::vector<NodeInfoPtr> nodes = {
      Worker("10.0.0.1:1234", cluster::NodeState::kRunning, absl::Seconds(3)),
      Worker("10.0.0.2:1234", cluster::NodeState::kOverload, absl::Milliseconds(1500)),
      Worker("10.0.0.3:1234", cluster::NodeState::kFault, absl::Seconds(95)),
      // The edges of heartbeat_age, which the cache writes itself: none yet, a change stamped
      // after `now` (shown as 0), no data change ever (an infinite age: an empty Duration), and
      // one that needs every byte of a Duration's seconds.
      Worker("10.0.0.4:1234", cluster::NodeState::kRunning, absl::ZeroDuration()),
      Worker("10.0.0.5:1234", cluster::NodeState::kRunning, -absl::Seconds(2)),
      Worker("10.0.0.6:1234", cluster::NodeState::kRegistering, absl::InfiniteDuration()),
      Worker("10.0.0.7:1234", cluster::NodeState::kFault, absl::Hours(24 * 365 * 200))};
  NodeBytesCache cache;
  for (bool basic : {false, true}) {
    // The first call fills the cache, the second is served from it; a later `now` changes
    // heartbeat_age (FULL) and nothing else.
    for (absl::Time now : {kNow, kNow, kNow + absl::Seconds(7)}) {
      const v1::GetWorkerGroupResponse cached = FromCache(&cache, nodes, now, basic);
      EXPECT_THAT(cached, EqualsProto(Built(nodes, now, basic))) << "basic " << basic;
    }
  }
  const v1::GetWorkerGroupResponse later =
      FromCache(&cache, nodes, kNow + absl::Seconds(7), /*basic=*/false);
  ASSERT_EQ(later.workers_size(), 7);
  EXPECT_EQ(later.workers(0).heartbeat_age().seconds(), 10);  // 3 s old at kNow, 7 s on
  EXPECT_EQ(later.workers(1).heartbeat_age().nanos(), 500000000);
  EXPECT_EQ(later.workers(2).state(), v1::FAULT);
  EXPECT_EQ(later.workers(2).heartbeat().process_id(), 23817);
  EXPECT_EQ(later.workers(4).heartbeat_age().seconds(), 5);  // 2 s in the future at kNow
  EXPECT_TRUE(later.workers(5).has_heartbeat_age());
  EXPECT_EQ(later.workers(5).heartbeat_age().ByteSizeLong(), 0u);
  EXPECT_EQ(cache.size(), 7u);
}

TEST(NodeBytesCacheTest, AChangedNodeIsAnsweredWithItsNewFields) {
  NodeBytesCache cache;
  const NodeInfoPtr before =
      Worker("10.0.0.1:1234", cluster::NodeState::kRunning, absl::Seconds(1));
  EXPECT_EQ(FromCache(&cache, {before}, kNow, false).workers(0).state(), v1::RUNNING);
  EXPECT_EQ(FromCache(&cache, {before}, kNow, true).workers(0).state(), v1::RUNNING);
  // A heartbeat publishes a new NodeInfo for the node (views never change one in place).
  auto after = std::make_shared<NodeInfo>(*before);
  after->state = cluster::NodeState::kOverload;
  after->reason = "heartbeat BUSY";
  after->drained = true;
  const v1::GetWorkerGroupResponse full = FromCache(&cache, {after}, kNow, false);
  EXPECT_EQ(full.workers(0).state(), v1::OVERLOAD);
  EXPECT_EQ(full.workers(0).reason(), "heartbeat BUSY");
  const v1::GetWorkerGroupResponse basic = FromCache(&cache, {after}, kNow, true);
  EXPECT_EQ(basic.workers(0).state(), v1::OVERLOAD);
  EXPECT_TRUE(basic.workers(0).drained());
  // The old version, still held by an older view, still answers as it was.
  EXPECT_EQ(FromCache(&cache, {before}, kNow, false).workers(0).state(), v1::RUNNING);
}

TEST(NodeBytesCacheTest, NodesNoViewHoldsAreSwept) {
  NodeBytesCache cache;
  const NodeInfoPtr kept = Worker("10.0.0.1:1234", cluster::NodeState::kRunning, absl::Seconds(1));
  FromCache(&cache, {kept}, kNow, true);
  // 3000 node versions, each dropped by its "view" right after its answer.
  for (int i = 0; i < 3000; ++i) {
    FromCache(&cache,
              {Worker(absl::StrCat("10.0.1.", i % 250, ":1234"), cluster::NodeState::kRunning,
                      absl::Seconds(1))},
              kNow, true);
  }
  EXPECT_LT(cache.size(), 2048u);  // swept at least once (1024 entries, then twice the rest)
  EXPECT_EQ(FromCache(&cache, {kept}, kNow, true).workers(0).address(), "10.0.0.1:1234");
}

}  // namespace
}  // namespace roster::server
