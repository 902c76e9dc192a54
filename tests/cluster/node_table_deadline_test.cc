// NodeTable::NextDeadline() (docs/states.md, "Timers"): the earliest moment a tick has
// something to do, kept in a queue that heartbeats move lazily. Checked against a reference model
// that recomputes every node's deadline from scratch after each random step, with the table
// ticked in full (Tick) or for its due nodes only (TickDue, the deadline timer's), and every
// node's state checked against the model's.
#include <algorithm>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "cluster/node_table.h"
#include "gtest/gtest.h"
#include "tests/cluster/cluster_test_util.h"

namespace roster::cluster {
namespace {

using registry::EventType;
using ::roster::testing::HeartbeatJson;
using ::roster::testing::NodeEvent;

constexpr char kWorkers[] = "/nodes/worker";
constexpr absl::Duration kTimeout = absl::Seconds(30);    // 3 intervals of 10 s (the defaults)
constexpr absl::Duration kProbation = absl::Seconds(20);  // 2 intervals
constexpr absl::Duration kRetention = absl::Seconds(90);

// The reference: what each node's next time-driven change is, from the rules in docs/states.md
// alone.
struct ModelNode {
  enum Phase { kRunning, kFault, kRecovering, kGone } phase = kRunning;
  absl::Time heard;        // last heartbeat or creation
  absl::Time phase_since;  // entered the phase

  absl::Time Deadline() const {
    switch (phase) {
      case kRunning:
        return heard + kTimeout;
      case kRecovering:
        return std::min(heard + kTimeout, phase_since + kProbation);
      case kFault:
        return absl::InfiniteFuture();
      case kGone:
        return phase_since + kRetention;
    }
    return absl::InfiniteFuture();
  }
};

class NodeTableDeadlineTest : public ::testing::Test {
 protected:
  NodeTableDeadlineTest() : table_(&options_) {
    options_.role = NodeRole::kWorker;
    options_.tombstone_retention = kRetention;
    options_.limits.max_clock_skew = absl::Hours(24 * 365 * 100);  // payload times are fixed
  }

  static std::string Path(int node) { return absl::StrCat(kWorkers, "/10.0.0.", node, ":1234"); }

  // A heartbeat (or the znode's creation) of `node`, as the registry reports it.
  void Heartbeat(int node) {
    const bool created = !model_.count(node) || model_[node].phase == ModelNode::kGone;
    if (created) czxid_[node] = ++zxid_;
    table_.Apply(kWorkers,
                 NodeEvent(created ? EventType::kAdded : EventType::kUpdated, Path(node),
                           HeartbeatJson("NORMAL"), czxid_[node], ++zxid_),
                 now_, now_);
    ModelNode& m = model_[node];
    if (created) {
      m = ModelNode{ModelNode::kRunning, now_, now_};
    } else if (m.phase == ModelNode::kFault) {
      m = ModelNode{ModelNode::kRecovering, now_, now_};
    } else {
      m.heard = now_;
    }
    Derive();
  }

  void Remove(int node) {
    table_.Apply(kWorkers, NodeEvent(EventType::kRemoved, Path(node), "", czxid_[node], ++zxid_),
                 now_, now_);
    model_[node] = ModelNode{ModelNode::kGone, now_, now_};
    Derive();
  }

  // Time passes by `d`, then the table is ticked (as the timer or the periodic tick does).
  void AdvanceAndTick(absl::Duration d) {
    now_ += d;
    std::vector<NodeChange> changes;
    if (due_only_) {
      table_.TickDue(now_, now_, &changes);
    } else {
      table_.Tick(now_, now_, &changes);
    }
    for (auto it = model_.begin(); it != model_.end();) {
      ModelNode& m = it->second;
      if (m.Deadline() > now_) {
        ++it;
        continue;
      }
      switch (m.phase) {
        case ModelNode::kRunning:
          m = ModelNode{ModelNode::kFault, m.heard, now_};
          break;
        case ModelNode::kRecovering:
          m = m.heard + kTimeout <= now_ ? ModelNode{ModelNode::kFault, m.heard, now_}
                                         : ModelNode{ModelNode::kRunning, m.heard, now_};
          break;
        case ModelNode::kGone:
          it = model_.erase(it);
          continue;
        case ModelNode::kFault:
          break;
      }
      ++it;
    }
  }

  void Derive() {
    std::vector<NodeChange> changes;
    table_.Derive(now_, now_, &changes);
  }

  // 20,000 random heartbeats, removals and ticks over 40 nodes from `seed`.
  void RunRandomSteps(uint32_t seed);

  // Every node the model knows has the state the model says, and no other node is left.
  void ExpectStatesMatchTheModel(int step) {
    for (const auto& [node, m] : model_) {
      const NodeInfoPtr info = table_.Find(absl::StrCat("10.0.0.", node, ":1234"));
      ASSERT_NE(info, nullptr) << "node " << node << " at step " << step;
      const NodeState expected = m.phase == ModelNode::kRunning      ? NodeState::kRunning
                                 : m.phase == ModelNode::kFault      ? NodeState::kFault
                                 : m.phase == ModelNode::kRecovering ? NodeState::kRecovering
                                                                     : NodeState::kOffline;
      EXPECT_EQ(info->state, expected) << "node " << node << " at step " << step;
    }
    EXPECT_EQ(table_.Snapshot().size(), model_.size()) << "step " << step;
  }

  absl::Time ModelNextDeadline() const {
    absl::Time next = absl::InfiniteFuture();
    for (const auto& [node, m] : model_) next = std::min(next, m.Deadline());
    return next;
  }

  bool due_only_ = false;
  NodeTableOptions options_;
  NodeTable table_;
  std::map<int, ModelNode> model_;
  std::map<int, int64_t> czxid_;
  int64_t zxid_ = 100;
  absl::Time now_ = absl::UnixEpoch() + absl::Hours(1);
};

TEST_F(NodeTableDeadlineTest, EmptyTableHasNoDeadline) {
  EXPECT_EQ(table_.NextDeadline(), absl::InfiniteFuture());
}

TEST_F(NodeTableDeadlineTest, TheOldestSilenceIsNextAndAHeartbeatHandsOverToTheNext) {
  const absl::Time start = now_;
  Heartbeat(1);
  AdvanceAndTick(absl::Seconds(2));
  Heartbeat(2);
  AdvanceAndTick(absl::Seconds(2));
  Heartbeat(3);
  EXPECT_EQ(table_.NextDeadline(), start + absl::Seconds(30));
  AdvanceAndTick(absl::Seconds(1));
  Heartbeat(1);  // node 1 heartbeats at 5 s: node 2 (heard at 2 s) is next
  EXPECT_EQ(table_.NextDeadline(), start + absl::Seconds(32));
  Remove(2);  // a removal: its tombstone expires at 5 s + 90 s, after the others' timeouts
  EXPECT_EQ(table_.NextDeadline(), start + absl::Seconds(34));
}

TEST_F(NodeTableDeadlineTest, MatchesTheModelThroughRandomHeartbeatsRemovalsAndTicks) {
  // The TickDue run goes on from the table and the model the Tick run left.
  for (const bool due_only : {false, true}) {
    SCOPED_TRACE(due_only ? "TickDue" : "Tick");
    due_only_ = due_only;
    RunRandomSteps(20261203);
  }
}

void NodeTableDeadlineTest::RunRandomSteps(uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> node(1, 40);
  std::uniform_int_distribution<int> action(0, 9);
  std::uniform_int_distribution<int> millis(1, 4000);
  for (int step = 0; step < 20000; ++step) {
    const int n = node(rng);
    const int a = action(rng);
    if (a < 6) {
      Heartbeat(n);
    } else if (a < 7) {
      if (model_.count(n) && model_[n].phase != ModelNode::kGone) Remove(n);
    } else {
      AdvanceAndTick(absl::Milliseconds(millis(rng)));
    }
    ASSERT_EQ(table_.NextDeadline(), ModelNextDeadline()) << "step " << step;
    if (step % 100 == 0) ExpectStatesMatchTheModel(step);
  }
}

}  // namespace
}  // namespace roster::cluster
