// SelfPreservation: which waves of losses make rosterd suspect its own view, what the view then
// shows, and how a hold ends (docs/consistency.md, "Clock safety and self-preservation").
//
// The harness plays the cluster manager: live node info as the tables would publish it, the
// detector between them and the view, and BuildNextView() making the next view.
#include "cluster/self_preservation.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cluster/master_cluster.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace roster::cluster {
namespace {

using ::testing::HasSubstr;

const absl::Time kStart = absl::UnixEpoch() + absl::Hours(1000);
const absl::Time kWall = absl::FromUnixSeconds(1767225600);

class Harness {
 public:
  explicit Harness(SelfPreservationOptions options) : detector_(options) {
    view_ = std::make_shared<ClusterView>();
  }

  // A node as the live tables first publish it (in the first, synced view).
  void Add(std::string address, NodeRole role, std::vector<std::string> groups = {}) {
    auto node = std::make_shared<NodeInfo>();
    node->address = address;
    node->role = role;
    node->state = NodeState::kRunning;
    node->reason = "heartbeat NORMAL";
    if (role == NodeRole::kWorker) {
      groups.push_back("default");
      std::sort(groups.begin(), groups.end());
      node->groups = std::move(groups);
    }
    Change(role, nullptr, node);
  }

  // The live tables move `address` to `state` for `reason` (drained when asked).
  void Set(absl::string_view address, NodeState state, std::string reason, bool drained = false) {
    NodeInfoPtr before = live_.at(std::string(address));
    auto after = std::make_shared<NodeInfo>(*before);
    after->state = state;
    after->reason = std::move(reason);
    after->drained = drained;
    Change(before->role, before, after);
  }

  // One batch: the detector rewrites the live changes, the view is built from them.
  void Publish(absl::Time now) {
    ViewChanges changes = std::move(pending_);
    pending_ = ViewChanges();
    changes.first_sync_done = true;
    if (detector_.Filter(*view_, now, kWall + (now - kStart), Lookup(), &changes)) {
      changes.self_preservation = detector_.status();
    }
    Apply(std::move(changes));
  }

  int AcceptAll() {
    ViewChanges changes;
    const int accepted = detector_.AcceptAll("operator", Lookup(), &changes);
    changes.self_preservation = detector_.status();
    Apply(std::move(changes));
    return accepted;
  }

  // What the view shows.
  NodeState Shown(absl::string_view address) const {
    NodeInfoPtr node = view_->FindAny(address);
    return node == nullptr ? static_cast<NodeState>(-1) : node->state;
  }
  std::string ShownReason(absl::string_view address) const {
    return view_->FindAny(address)->reason;
  }
  const ClusterView& view() const { return *view_; }
  const SelfPreservation& detector() const { return detector_; }

 private:
  void Change(NodeRole role, NodeInfoPtr before, NodeInfoPtr after) {
    live_[after->address] = after;
    (role == NodeRole::kMaster ? pending_.masters : pending_.workers)
        .push_back(NodeChange{std::move(before), std::move(after)});
  }

  LiveNodeLookup Lookup() {
    return [this](NodeRole, absl::string_view address) -> NodeInfoPtr {
      auto it = live_.find(std::string(address));
      return it == live_.end() ? nullptr : it->second;
    };
  }

  void Apply(ViewChanges changes) {
    changes.defined_groups_changed = true;
    BuiltView built = BuildNextView(*view_, std::move(changes), [](const auto& masters) {
      return MasterCluster::ComputeSlots(masters, SlotPolicy::kStable);
    });
    view_ = built.view;
  }

  SelfPreservation detector_;
  std::map<std::string, NodeInfoPtr> live_;
  ViewChanges pending_;
  ClusterViewPtr view_;
};

constexpr char kSilent[] = "no heartbeat for 30s (3 intervals of 10s)";

SelfPreservationOptions Defaults() {
  SelfPreservationOptions options;
  options.fraction = 0.5;
  options.window = absl::Seconds(30);
  options.min_nodes = 3;
  options.max_hold = absl::Minutes(2);
  return options;
}

// Four workers in group "etl", four more in "default" only; two masters.
void AddCluster(Harness* h) {
  for (const char* address :
       {"10.0.0.21:1234", "10.0.0.22:1234", "10.0.0.23:1234", "10.0.0.24:1234"}) {
    h->Add(address, NodeRole::kWorker, {"etl"});
  }
  for (const char* address :
       {"10.0.0.31:1234", "10.0.0.32:1234", "10.0.0.33:1234", "10.0.0.34:1234"}) {
    h->Add(address, NodeRole::kWorker);
  }
  h->Add("10.0.0.1:5678", NodeRole::kMaster);
  h->Add("10.0.0.2:5678", NodeRole::kMaster);
  h->Publish(kStart);
}

const char* const kEtl[] = {"10.0.0.21:1234", "10.0.0.22:1234", "10.0.0.23:1234", "10.0.0.24:1234"};

TEST(SelfPreservationTest, AWholeGroupFallingSilentAtOnceIsHeldInItsLastGoodState) {
  Harness h(Defaults());
  AddCluster(&h);
  for (const char* address : kEtl) h.Set(address, NodeState::kFault, kSilent);
  h.Publish(kStart + absl::Seconds(40));

  for (const char* address : kEtl) {
    EXPECT_EQ(h.Shown(address), NodeState::kRunning) << address;
    EXPECT_THAT(h.ShownReason(address), HasSubstr("held by self-preservation"));
    EXPECT_THAT(h.ShownReason(address), HasSubstr(kSilent)) << "says what rosterd sees";
  }
  EXPECT_EQ(h.view().FindGroup("etl")->selectable, 4) << "the group is not emptied";
  const SelfPreservationStatus& status = h.view().self_preservation;
  EXPECT_TRUE(status.active);
  EXPECT_EQ(status.held, 4);
  // 4 of 8 workers is not more than half: only the group's wave counts.
  EXPECT_THAT(status.reason, HasSubstr("4 of 4 workers of group 'etl' went FAULT or OFFLINE"));
  EXPECT_THAT(status.reason, HasSubstr("--self_preservation_max_hold_ms"));
}

TEST(SelfPreservationTest, ASingleFailureIsPublishedAtOnce) {
  Harness h(Defaults());
  AddCluster(&h);
  h.Set("10.0.0.21:1234", NodeState::kFault, kSilent);
  h.Publish(kStart + absl::Seconds(40));
  EXPECT_EQ(h.Shown("10.0.0.21:1234"), NodeState::kFault);
  EXPECT_EQ(h.ShownReason("10.0.0.21:1234"), kSilent);
  EXPECT_FALSE(h.view().self_preservation.active);

  // A second one of the group is still half of it, not more: published too.
  h.Set("10.0.0.22:1234", NodeState::kOffline, "znode deleted (session ended)");
  h.Publish(kStart + absl::Seconds(45));
  EXPECT_EQ(h.Shown("10.0.0.22:1234"), NodeState::kOffline);
  EXPECT_FALSE(h.view().self_preservation.active);
}

TEST(SelfPreservationTest, NodesLostEarlierInTheWindowAreHeldWithTheWave) {
  Harness h(Defaults());
  AddCluster(&h);
  // Silent nodes time out over one heartbeat interval, as their last writes were spread.
  h.Set(kEtl[0], NodeState::kFault, kSilent);
  h.Publish(kStart + absl::Seconds(40));
  h.Set(kEtl[1], NodeState::kFault, kSilent);
  h.Publish(kStart + absl::Seconds(44));
  ASSERT_EQ(h.Shown(kEtl[0]), NodeState::kFault);
  ASSERT_EQ(h.Shown(kEtl[1]), NodeState::kFault);

  h.Set(kEtl[2], NodeState::kFault, kSilent);
  h.Publish(kStart + absl::Seconds(48));
  for (const char* address : {kEtl[0], kEtl[1], kEtl[2]}) {
    EXPECT_EQ(h.Shown(address), NodeState::kRunning) << address;
  }
  EXPECT_EQ(h.Shown(kEtl[3]), NodeState::kRunning);
  EXPECT_EQ(h.view().self_preservation.held, 3);
  EXPECT_THAT(h.view().self_preservation.reason, HasSubstr("3 of 4 workers of group 'etl'"));

  // The last one follows: held as well, the episode goes on.
  h.Set(kEtl[3], NodeState::kFault, kSilent);
  h.Publish(kStart + absl::Seconds(52));
  EXPECT_EQ(h.Shown(kEtl[3]), NodeState::kRunning);
  EXPECT_EQ(h.view().self_preservation.held, 4);
}

TEST(SelfPreservationTest, LossesFurtherApartThanTheWindowAreNoWave) {
  Harness h(Defaults());
  AddCluster(&h);
  absl::Time now = kStart;
  for (const char* address : kEtl) {
    now += absl::Seconds(31);
    h.Set(address, NodeState::kFault, kSilent);
    h.Publish(now);
    EXPECT_EQ(h.Shown(address), NodeState::kFault) << address;
    EXPECT_FALSE(h.view().self_preservation.active);
  }
}

TEST(SelfPreservationTest, ANodeLostAgainCountsFromItsLatestLoss) {
  Harness h(Defaults());
  AddCluster(&h);
  h.Set(kEtl[0], NodeState::kFault, kSilent);
  h.Publish(kStart + absl::Seconds(40));
  h.Set(kEtl[0], NodeState::kRunning, "heartbeat NORMAL");
  h.Publish(kStart + absl::Seconds(41));
  h.Set(kEtl[0], NodeState::kFault, kSilent);
  h.Publish(kStart + absl::Seconds(60));
  ASSERT_EQ(h.Shown(kEtl[0]), NodeState::kFault);

  // 31 s after its first loss, 11 s after its second: still in the window, so two more make
  // three of the group's four.
  h.Set(kEtl[1], NodeState::kFault, kSilent);
  h.Set(kEtl[2], NodeState::kFault, kSilent);
  h.Publish(kStart + absl::Seconds(71));
  for (const char* address : {kEtl[0], kEtl[1], kEtl[2]}) {
    EXPECT_EQ(h.Shown(address), NodeState::kRunning) << address;
  }
  EXPECT_THAT(h.view().self_preservation.reason, HasSubstr("3 of 4 workers of group 'etl'"));
}

TEST(SelfPreservationTest, HoldsEndEachAtItsOwnMaximum) {
  Harness h(Defaults());
  AddCluster(&h);
  h.Set(kEtl[0], NodeState::kFault, kSilent);
  h.Set(kEtl[1], NodeState::kFault, kSilent);
  h.Set(kEtl[2], NodeState::kFault, kSilent);
  h.Publish(kStart + absl::Seconds(40));
  ASSERT_EQ(h.view().self_preservation.held, 3);
  h.Set(kEtl[3], NodeState::kFault, kSilent);
  h.Publish(kStart + absl::Seconds(70));  // joins the episode, held 30 s later than the rest
  ASSERT_EQ(h.view().self_preservation.held, 4);

  h.Publish(kStart + absl::Seconds(40) + absl::Minutes(2));
  for (const char* address : {kEtl[0], kEtl[1], kEtl[2]}) {
    EXPECT_EQ(h.Shown(address), NodeState::kFault) << address << " accepted as lost";
  }
  EXPECT_EQ(h.Shown(kEtl[3]), NodeState::kRunning) << "held for 90 s only";
  EXPECT_EQ(h.view().self_preservation.held, 1);

  h.Publish(kStart + absl::Seconds(70) + absl::Minutes(2));
  EXPECT_EQ(h.Shown(kEtl[3]), NodeState::kFault);
  EXPECT_FALSE(h.view().self_preservation.active);
}

TEST(SelfPreservationTest, SmallGroupsNeverTrigger) {
  Harness h(Defaults());
  h.Add("10.0.0.21:1234", NodeRole::kWorker, {"pair"});
  h.Add("10.0.0.22:1234", NodeRole::kWorker, {"pair"});
  for (const char* address :
       {"10.0.0.31:1234", "10.0.0.32:1234", "10.0.0.33:1234", "10.0.0.34:1234"}) {
    h.Add(address, NodeRole::kWorker);
  }
  h.Publish(kStart);
  // Both of a pair: 2 < 3 nodes, and 2 of 6 workers is no wave either.
  h.Set("10.0.0.21:1234", NodeState::kFault, kSilent);
  h.Set("10.0.0.22:1234", NodeState::kFault, kSilent);
  h.Publish(kStart + absl::Seconds(40));
  EXPECT_EQ(h.Shown("10.0.0.21:1234"), NodeState::kFault);
  EXPECT_EQ(h.Shown("10.0.0.22:1234"), NodeState::kFault);
  EXPECT_FALSE(h.view().self_preservation.active);
}

TEST(SelfPreservationTest, DrainsAreOperatorActionsNotLosses) {
  Harness h(Defaults());
  AddCluster(&h);
  for (const char* address : kEtl) {
    h.Set(address, NodeState::kOffline, "drained by operator: rack move", /*drained=*/true);
  }
  h.Publish(kStart + absl::Seconds(40));
  for (const char* address : kEtl) EXPECT_EQ(h.Shown(address), NodeState::kOffline);
  EXPECT_FALSE(h.view().self_preservation.active);
}

TEST(SelfPreservationTest, EndsWhenTheNodesComeBack) {
  Harness h(Defaults());
  AddCluster(&h);
  for (const char* address : kEtl) h.Set(address, NodeState::kFault, kSilent);
  h.Publish(kStart + absl::Seconds(40));
  ASSERT_TRUE(h.view().self_preservation.active);

  // While held, what rosterd sees changes nothing in the view.
  h.Set(kEtl[0], NodeState::kFault, "heartbeat rejected: port -1 is not in [1, 65535]");
  h.Publish(kStart + absl::Seconds(41));
  EXPECT_EQ(h.Shown(kEtl[0]), NodeState::kRunning);

  for (int i = 0; i < 3; ++i) h.Set(kEtl[i], NodeState::kRecovering, "heartbeat NORMAL");
  h.Publish(kStart + absl::Seconds(50));
  EXPECT_EQ(h.Shown(kEtl[0]), NodeState::kRecovering) << "the truth, once back";
  EXPECT_EQ(h.view().self_preservation.held, 1);
  EXPECT_TRUE(h.view().self_preservation.active);

  h.Set(kEtl[3], NodeState::kRecovering, "heartbeat NORMAL");
  h.Publish(kStart + absl::Seconds(51));
  EXPECT_EQ(h.Shown(kEtl[3]), NodeState::kRecovering);
  EXPECT_FALSE(h.view().self_preservation.active);
  EXPECT_EQ(h.view().self_preservation.reason, "");
}

TEST(SelfPreservationTest, AWaveThatPersistsIsAcceptedAfterTheMaximumHold) {
  Harness h(Defaults());
  AddCluster(&h);
  const absl::Time lost = kStart + absl::Seconds(40);
  for (const char* address : kEtl) h.Set(address, NodeState::kFault, kSilent);
  h.Publish(lost);

  h.Publish(lost + absl::Minutes(2) - absl::Milliseconds(1));
  EXPECT_EQ(h.Shown(kEtl[0]), NodeState::kRunning);
  EXPECT_TRUE(h.view().self_preservation.active);

  h.Publish(lost + absl::Minutes(2));
  for (const char* address : kEtl) {
    EXPECT_EQ(h.Shown(address), NodeState::kFault) << address;
    EXPECT_EQ(h.ShownReason(address), kSilent);
  }
  EXPECT_FALSE(h.view().self_preservation.active);
  EXPECT_EQ(h.view().FindGroup("etl")->selectable, 0);
}

TEST(SelfPreservationTest, AnOperatorCanAcceptTheLossesAtOnce) {
  Harness h(Defaults());
  AddCluster(&h);
  for (const char* address : kEtl) h.Set(address, NodeState::kFault, kSilent);
  h.Publish(kStart + absl::Seconds(40));
  EXPECT_EQ(h.AcceptAll(), 4);
  for (const char* address : kEtl) EXPECT_EQ(h.Shown(address), NodeState::kFault);
  EXPECT_FALSE(h.view().self_preservation.active);
  EXPECT_EQ(h.AcceptAll(), 0);
}

TEST(SelfPreservationTest, AllMastersLostKeepTheirSlots) {
  Harness h(Defaults());
  h.Add("10.0.0.1:5678", NodeRole::kMaster);
  h.Add("10.0.0.2:5678", NodeRole::kMaster);
  h.Add("10.0.0.3:5678", NodeRole::kMaster);
  h.Publish(kStart);
  ASSERT_EQ(h.view().slots.masters.size(), 3u);
  const uint64_t epoch = h.view().slots.epoch;

  // Every master fails the same check at once (the registry server's clock stepped back).
  for (const char* address : {"10.0.0.1:5678", "10.0.0.2:5678", "10.0.0.3:5678"}) {
    h.Set(address, NodeState::kFault,
          "heartbeat rejected: reportTime 1767236400000 (2026-01-01T03:00:00Z) is 3h ahead of "
          "the registry's clock when it was written");
  }
  h.Publish(kStart + absl::Seconds(10));
  EXPECT_EQ(h.view().slots.masters.size(), 3u) << "the assignment is not emptied";
  EXPECT_EQ(h.view().slots.epoch, epoch);
  EXPECT_THAT(h.view().self_preservation.reason, HasSubstr("3 of 3 masters"));
  EXPECT_THAT(h.view().self_preservation.reason, HasSubstr("is 3h ahead of the registry's clock"));
}

TEST(SelfPreservationTest, DisabledPublishesEveryLoss) {
  SelfPreservationOptions options = Defaults();
  options.fraction = 0;
  Harness h(options);
  AddCluster(&h);
  for (const char* address : kEtl) h.Set(address, NodeState::kFault, kSilent);
  h.Publish(kStart + absl::Seconds(40));
  for (const char* address : kEtl) EXPECT_EQ(h.Shown(address), NodeState::kFault);
  EXPECT_FALSE(h.view().self_preservation.active);
}

TEST(SelfPreservationTest, AHeldViewIsStaleAndNotAuthoritative) {
  Freshness f;
  f.ever_synced = true;
  f.stale = false;
  f.authoritative = true;
  SelfPreservationStatus inactive;
  ApplySelfPreservation(inactive, kStart, &f);
  EXPECT_TRUE(f.authoritative);
  EXPECT_FALSE(f.stale);

  SelfPreservationStatus held;
  held.active = true;
  held.held = 4;
  held.reason = "self-preservation: holding 4 node(s)";
  held.since = kStart;
  ApplySelfPreservation(held, kStart + absl::Seconds(7), &f);
  EXPECT_TRUE(f.stale);
  EXPECT_FALSE(f.authoritative);
  EXPECT_EQ(f.stale_for, absl::Seconds(7));
  EXPECT_EQ(f.self_preservation, held.reason);
}

}  // namespace
}  // namespace roster::cluster
