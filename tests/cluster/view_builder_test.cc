// BuildNextView: the next view from the previous one and a batch of changes, and the change
// list watchers receive.
#include "cluster/view_builder.h"

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cluster/worker_cluster.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace roster::cluster {
namespace {

using ::testing::ElementsAre;
using Kind = ClusterChange::Kind;

NodeInfoPtr Node(std::string address, NodeState state = NodeState::kRunning,
                 std::vector<std::string> groups = {"default"}, double cpu = 0.1,
                 NodeRole role = NodeRole::kWorker) {
  auto node = std::make_shared<NodeInfo>();
  node->address = std::move(address);
  node->role = role;
  node->state = state;
  node->groups = std::move(groups);
  node->heartbeat.set_cpu_usage(cpu);
  return node;
}

std::vector<std::string> Addresses(const NodeList& nodes) {
  std::vector<std::string> out;
  for (const NodeInfoPtr& node : nodes) out.push_back(node->address);
  return out;
}

std::vector<Kind> Kinds(const ChangeBatch& batch) {
  std::vector<Kind> out;
  for (const ClusterChange& change : batch) out.push_back(change.kind);
  return out;
}

// Slots by address over every master, counting its calls.
struct CountingSlots {
  int calls = 0;
  SlotFunction function() {
    return [this](const NodeList& masters) {
      ++calls;
      SlotAssignment slots;
      for (const NodeInfoPtr& master : masters) slots.masters.push_back(master->address);
      slots.epoch = masters.size();
      return slots;
    };
  }
};

TEST(BuildNextViewTest, ListsEveryObservableChangeAndSharesTheRest) {
  ClusterView previous;
  previous.version = 7;
  previous.synced = true;
  previous.masters = {Node("m:1", NodeState::kRunning, {}, 0, NodeRole::kMaster)};
  previous.workers = {Node("w:1"), Node("w:2")};
  previous.groups = WorkerCluster::BuildGroups(previous.workers);
  CountingSlots slots;
  previous.slots = slots.function()(previous.masters);

  ViewChanges changes;
  changes.workers = {{previous.workers[0], Node("w:1", NodeState::kOverload)},
                     {nullptr, Node("w:3")}};
  slots.calls = 0;
  BuiltView built = BuildNextView(previous, changes, slots.function());
  EXPECT_THAT(Kinds(built.batch), ElementsAre(Kind::kNodeUpdated, Kind::kNodeAdded));
  EXPECT_TRUE(built.batch[0].state_changed);
  // The transition, for the caller to log once the batch is delivered; a join is none.
  ASSERT_EQ(built.transitions.size(), 1u);
  EXPECT_EQ(built.transitions[0].before, previous.workers[0]);
  EXPECT_EQ(built.transitions[0].after->state, NodeState::kOverload);
  EXPECT_EQ(built.view->version, 7u) << "the caller stamps the version";
  EXPECT_EQ(built.view->masters, previous.masters);
  EXPECT_THAT(Addresses(built.view->workers), ElementsAre("w:1", "w:2", "w:3"));
  EXPECT_THAT(Addresses(built.view->groups.at("default").members),
              ElementsAre("w:1", "w:2", "w:3"));
  EXPECT_EQ(built.view->groups.at("default").selectable, 2);

  // No master changed: the slot function is not called and the slots are the previous ones.
  EXPECT_EQ(slots.calls, 0);
  EXPECT_EQ(built.view->slots.masters, previous.slots.masters);
}

TEST(BuildNextViewTest, ALoadOnlyHeartbeatIsNotAStateChange) {
  ClusterView previous;
  previous.workers = {Node("w:1", NodeState::kRunning, {"default", "etl"}, 0.1)};
  previous.groups = WorkerCluster::BuildGroups(previous.workers);
  ViewChanges changes;
  NodeInfoPtr busier = Node("w:1", NodeState::kRunning, {"default", "etl"}, 0.9);
  changes.workers = {{previous.workers[0], busier}};
  BuiltView built = BuildNextView(previous, changes, CountingSlots().function());
  ASSERT_THAT(Kinds(built.batch), ElementsAre(Kind::kNodeUpdated));
  EXPECT_FALSE(built.batch[0].state_changed);
  EXPECT_TRUE(built.transitions.empty());
  EXPECT_EQ(built.view->groups.at("etl").members[0], busier) << "groups point at the new node";
}

TEST(BuildNextViewTest, MastersRecomputeSlotsAndTheLeaderAndSyncAreListed) {
  ClusterView previous;
  CountingSlots slots;
  ViewChanges changes;
  changes.masters = {{nullptr, Node("m:2", NodeState::kRunning, {}, 0, NodeRole::kMaster)},
                     {nullptr, Node("m:1", NodeState::kRunning, {}, 0, NodeRole::kMaster)}};
  changes.leader.present = true;
  changes.leader.address = "m:1";
  changes.leader.fencing_token = 42;
  changes.first_sync_done = true;
  BuiltView built = BuildNextView(previous, changes, slots.function());
  EXPECT_EQ(slots.calls, 1);
  EXPECT_THAT(built.view->slots.masters, ElementsAre("m:1", "m:2"));
  EXPECT_THAT(Kinds(built.batch),
              ElementsAre(Kind::kNodeAdded, Kind::kNodeAdded, Kind::kSlotsChanged,
                          Kind::kLeaderChanged, Kind::kSynced));
  EXPECT_TRUE(built.view->synced);
  EXPECT_EQ(built.view->leader.fencing_token, 42);
}

TEST(BuildNextViewTest, RejectedZnodesAreListedOnlyWhenTheyDiffer) {
  ClusterView previous;
  previous.rejected = {{"/nodes/worker/x", "name 'x' is not host:port"}};
  ViewChanges same;
  same.rejected = previous.rejected;
  EXPECT_TRUE(same.AnyChange(previous));
  EXPECT_TRUE(BuildNextView(previous, same, CountingSlots().function()).batch.empty());

  ViewChanges different;
  different.rejected = std::vector<RejectedZnode>{};
  BuiltView built = BuildNextView(previous, different, CountingSlots().function());
  EXPECT_THAT(Kinds(built.batch), ElementsAre(Kind::kRejectedChanged));
  EXPECT_TRUE(built.view->rejected.empty());
}

TEST(BuildNextViewTest, ADefinedGroupIsShownEmptyAndDroppedWhenUndefined) {
  ClusterView previous;
  previous.workers = {Node("w:1")};
  previous.groups = WorkerCluster::BuildGroups(previous.workers);
  ViewChanges define;
  define.defined_groups = {"spark"};
  define.defined_groups_changed = true;
  EXPECT_TRUE(define.AnyChange(previous));
  BuiltView built = BuildNextView(previous, define, CountingSlots().function());
  ASSERT_NE(built.view->FindGroup("spark"), nullptr);
  EXPECT_TRUE(built.view->FindGroup("spark")->members.empty());
  // No node moved, yet the view differs: its batch says so, or it would not be published.
  EXPECT_THAT(Kinds(built.batch), ElementsAre(Kind::kGroupsChanged));

  ViewChanges undefine;
  undefine.defined_groups_changed = true;
  BuiltView after = BuildNextView(*built.view, undefine, CountingSlots().function());
  EXPECT_EQ(after.view->FindGroup("spark"), nullptr);
  EXPECT_THAT(Kinds(after.batch), ElementsAre(Kind::kGroupsChanged));

  // The same groups defined again: nothing to tell.
  ViewChanges again;
  again.defined_groups_changed = true;
  EXPECT_TRUE(BuildNextView(*after.view, again, CountingSlots().function()).batch.empty());
}

TEST(ViewChangesTest, OnlyLoadFiguresOfNodesThatStayWhatTheyWereAreLoadOnly) {
  ClusterView previous;
  previous.workers = {Node("a:1"), Node("b:1")};
  auto changes_of = [](NodeInfoPtr before, NodeInfoPtr after) {
    ViewChanges changes;
    changes.workers = {NodeChange{std::move(before), std::move(after)}};
    return changes;
  };
  EXPECT_TRUE(changes_of(Node("a:1"), Node("a:1", NodeState::kRunning, {"default"}, 0.9))
                  .LoadOnly(previous));
  // A state, a group, an arrival or a departure is not.
  EXPECT_FALSE(changes_of(Node("a:1"), Node("a:1", NodeState::kOverload)).LoadOnly(previous));
  EXPECT_FALSE(
      changes_of(Node("a:1"), Node("a:1", NodeState::kRunning, {"etl"})).LoadOnly(previous));
  EXPECT_FALSE(changes_of(nullptr, Node("c:1")).LoadOnly(previous));
  EXPECT_FALSE(changes_of(Node("b:1"), nullptr).LoadOnly(previous));
  // Nor anything beside the nodes: a new leader, the first sync.
  ViewChanges leader = changes_of(Node("a:1"), Node("a:1"));
  leader.leader.present = true;
  leader.leader.address = "m:1";
  EXPECT_FALSE(leader.LoadOnly(previous));
  ViewChanges sync = changes_of(Node("a:1"), Node("a:1"));
  sync.first_sync_done = true;
  EXPECT_FALSE(sync.LoadOnly(previous));
}

TEST(ViewChangesTest, HeldChangesGoFirstSoTheLaterChangeOfANodeWins) {
  ClusterView previous;
  previous.workers = {Node("a:1"), Node("b:1")};
  NodeInfoPtr a_held = Node("a:1", NodeState::kRunning, {"default"}, 0.5);
  NodeInfoPtr b_held = Node("b:1", NodeState::kRunning, {"default"}, 0.6);
  NodeInfoPtr a_now = Node("a:1", NodeState::kOverload);
  ViewChanges held;
  held.workers = {NodeChange{previous.workers[0], a_held}, NodeChange{previous.workers[1], b_held}};
  ViewChanges now;
  now.workers = {NodeChange{a_held, a_now}};
  now.PrependNodeChanges(std::move(held));
  const NodeList workers = previous.workers.Apply(now.workers);
  ASSERT_EQ(workers.size(), 2u);
  EXPECT_EQ(workers[0], a_now);
  EXPECT_EQ(workers[1], b_held);
}

// A synced view of 10,000 RUNNING workers, each in "default" and one of g0..g3 (round-robin).
ClusterView TenThousandWorkers() {
  ClusterView view;
  view.synced = true;
  std::vector<NodeInfoPtr> workers;
  for (int i = 0; i < 10000; ++i) {
    workers.push_back(Node(absl::StrCat("w", 10000 + i, ":1234"), NodeState::kRunning,
                           {"default", absl::StrCat("g", i % 4)}));
  }
  view.workers = NodeList(std::move(workers));
  view.groups = WorkerCluster::BuildGroups(view.workers);
  return view;
}

// A heartbeat that moved one worker's load, among 10,000 in four groups: the next view copies
// one chunk of the worker list and one of its group's member list, and shares the rest.
TEST(BuildNextViewTest, ALoadOnlyChangeCopiesOnlyTheChunksItFallsIn) {
  const ClusterView previous = TenThousandWorkers();
  ViewChanges changes;
  const NodeInfoPtr& before = previous.workers[4321];  // in group g1
  NodeInfoPtr after = Node(before->address, NodeState::kRunning, before->groups.get(), 0.9);
  changes.workers = {{before, after}};
  CountingSlots slots;
  BuiltView built = BuildNextView(previous, changes, slots.function());

  const ClusterView& next = *built.view;
  EXPECT_EQ(next.workers[4321], after);
  EXPECT_EQ(next.workers.SharedChunks(previous.workers), previous.workers.chunk_count() - 1);
  for (const char* name : {"default", "g1"}) {
    const NodeList& members = next.groups.at(name).members;
    EXPECT_EQ(members.FindSorted(after->address), after) << name;
    EXPECT_EQ(members.SharedChunks(previous.groups.at(name).members), members.chunk_count() - 1)
        << name;
  }
  for (const char* name : {"g0", "g2", "g3"}) {
    EXPECT_EQ(next.groups.at(name).members.SharedChunks(previous.groups.at(name).members),
              previous.groups.at(name).members.chunk_count())
        << name << " is untouched";
  }
}

TEST(BuildNextViewTest, NothingChangedIsNoChange) {
  ClusterView previous;
  previous.synced = true;
  ViewChanges none;
  none.first_sync_done = true;
  EXPECT_FALSE(none.AnyChange(previous));
}

// Updates `groups` (of `workers`, `defined`) over 300 random batches of joins, leaves, state,
// drain, group and load changes, each worker's groups one of `group_sets` (two changes of one
// worker in a batch included, as a held change and a later one are), and checks that each
// update equals the groups rebuilt from every worker and never has to fall back to a rebuild.
// `every_worker`, if set, is a group every worker is in: its members must be the workers' own
// list after each batch, never a copy.
void CheckUpdatesMatchRebuilds(uint32_t seed,
                               const std::vector<std::vector<std::string>>& group_sets,
                               const char* every_worker) {
  std::mt19937 random(seed);
  const std::vector<std::string> defined = {"empty", "g0"};
  const NodeState states[] = {NodeState::kRunning, NodeState::kOverload, NodeState::kFault,
                              NodeState::kOffline};
  auto random_node = [&](std::string address) {
    NodeInfoPtr node = Node(std::move(address), states[random() % 4],
                            group_sets[random() % group_sets.size()], (random() % 100) / 100.0);
    std::const_pointer_cast<NodeInfo>(node)->drained = random() % 5 == 0;
    return node;
  };
  std::vector<NodeInfoPtr> initial;
  for (int i = 0; i < 300; ++i) initial.push_back(random_node(absl::StrCat("w", 1000 + i, ":1")));
  NodeList workers(std::move(initial));
  WorkerCluster::GroupMap groups = WorkerCluster::BuildGroups(workers, defined);
  int next_address = 2000;
  for (int batch = 0; batch < 300; ++batch) {
    std::vector<NodeChange> changes;
    std::map<std::string, NodeInfoPtr> latest;  // what this batch made of each worker so far
    auto current = [&](const std::string& address) {
      auto it = latest.find(address);
      return it != latest.end() ? it->second : workers.FindSorted(address);
    };
    const int count = 1 + random() % 8;
    for (int c = 0; c < count; ++c) {
      const int kind = random() % 6;
      if (kind == 0 || workers.size() == 0) {  // a join
        NodeInfoPtr node = random_node(absl::StrCat("w", next_address++, ":1"));
        changes.push_back({nullptr, node});
        latest[node->address] = node;
        continue;
      }
      const std::string address = workers[random() % workers.size()]->address;
      NodeInfoPtr before = current(address);
      if (before == nullptr) continue;  // left earlier in this batch
      if (kind == 1) {                  // a leave
        changes.push_back({before, nullptr});
        latest[address] = nullptr;
        continue;
      }
      auto after = std::make_shared<NodeInfo>(*before);
      if (kind == 2) after->state = states[random() % 4];
      if (kind == 3) after->drained = !after->drained;
      if (kind == 4) after->groups = group_sets[random() % group_sets.size()];
      if (kind == 5) after->heartbeat.set_cpu_usage((random() % 100) / 100.0);
      changes.push_back({before, after});
      latest[address] = after;
    }
    NodeList next = workers.Apply(changes);
    std::optional<WorkerCluster::GroupMap> updated =
        WorkerCluster::UpdateGroups(groups, workers, changes, next, defined);
    ASSERT_TRUE(updated.has_value()) << "batch " << batch;
    workers = std::move(next);
    const WorkerCluster::GroupMap rebuilt = WorkerCluster::BuildGroups(workers, defined);
    ASSERT_EQ(updated->size(), rebuilt.size()) << "batch " << batch;
    for (const auto& [name, group] : rebuilt) {
      auto it = updated->find(name);
      ASSERT_NE(it, updated->end()) << name << ", batch " << batch;
      EXPECT_EQ(it->second.name, name);
      EXPECT_EQ(it->second.members, group.members) << name << ", batch " << batch;
      EXPECT_EQ(it->second.selectable, group.selectable) << name << ", batch " << batch;
      EXPECT_EQ(it->second.count_by_state, group.count_by_state) << name << ", batch " << batch;
    }
    if (every_worker != nullptr) {
      EXPECT_TRUE(updated->at(every_worker).members.SameChunksAs(workers)) << "batch " << batch;
      EXPECT_TRUE(rebuilt.at(every_worker).members.SameChunksAs(workers)) << "batch " << batch;
    }
    groups = *std::move(updated);
  }
}

TEST(UpdateGroupsTest, MatchesARebuildOverRandomBatches) {
  CheckUpdatesMatchRebuilds(
      20261203, {{"default"}, {"default", "g0"}, {"g1"}, {"g0", "g2"}, {"g3"}}, nullptr);
}

// As DolphinScheduler's "default" is unless the membership defines its own: every worker in it.
// Its members stay the workers' list itself, batch after batch, as a rebuild makes them.
TEST(UpdateGroupsTest, AGroupOfEveryWorkerIsTheWorkersListItself) {
  CheckUpdatesMatchRebuilds(
      20261204, {{"default"}, {"default", "g0"}, {"default", "g1"}, {"default", "g3"}}, "default");
}

// A group that held every worker stops being the workers' list as soon as one worker is not in
// it: one leaves the group, or one joins the cluster outside it.
TEST(UpdateGroupsTest, AGroupMissingOneWorkerIsItsOwnList) {
  const NodeList workers({Node("a:1", NodeState::kRunning, {"default"}),
                          Node("b:1", NodeState::kRunning, {"default"}),
                          Node("c:1", NodeState::kRunning, {"default"})});
  const WorkerCluster::GroupMap groups = WorkerCluster::BuildGroups(workers);
  ASSERT_TRUE(groups.at("default").members.SameChunksAs(workers));

  const std::vector<std::vector<NodeChange>> batches = {
      // b leaves "default" for "g1", while a stays.
      {{workers[0], Node("a:1", NodeState::kOverload, {"default"})},
       {workers[1], Node("b:1", NodeState::kRunning, {"g1"})}},
      // d joins in "g1" only, while c moves its load.
      {{nullptr, Node("d:1", NodeState::kRunning, {"g1"})},
       {workers[2], Node("c:1", NodeState::kRunning, {"default"}, 0.5)}},
  };
  for (const std::vector<NodeChange>& changes : batches) {
    const NodeList next = workers.Apply(changes);
    std::optional<WorkerCluster::GroupMap> updated =
        WorkerCluster::UpdateGroups(groups, workers, changes, next, {});
    ASSERT_TRUE(updated.has_value());
    const NodeList& members = updated->at("default").members;
    EXPECT_EQ(members, WorkerCluster::BuildGroups(next).at("default").members);
    EXPECT_EQ(members.size(), next.size() - 1);
    EXPECT_FALSE(members.SameChunksAs(next));
  }
}

// A state change of one worker among 10,000 moves its groups' counts and copies one chunk of
// each of its groups' member lists: no rebuild.
TEST(BuildNextViewTest, AStateChangeUpdatesItsGroupsInPlace) {
  const ClusterView previous = TenThousandWorkers();
  ViewChanges changes;
  const NodeInfoPtr& before = previous.workers[4321];  // in group g1
  NodeInfoPtr after = Node(before->address, NodeState::kOverload, before->groups.get());
  changes.workers = {{before, after}};
  CountingSlots slots;
  BuiltView built = BuildNextView(previous, changes, slots.function());

  const ClusterView& next = *built.view;
  EXPECT_TRUE(next.groups.at("default").members.SameChunksAs(next.workers));
  for (const char* name : {"default", "g1"}) {
    const GroupView& group = next.groups.at(name);
    EXPECT_EQ(group.members.FindSorted(after->address), after) << name;
    EXPECT_EQ(group.members.SharedChunks(previous.groups.at(name).members),
              group.members.chunk_count() - 1)
        << name;
    EXPECT_EQ(group.selectable, previous.groups.at(name).selectable - 1) << name;
    EXPECT_EQ(group.count_by_state.at(NodeState::kOverload), 1) << name;
  }
  EXPECT_TRUE(next.groups.at("g0").members.SameChunksAs(previous.groups.at("g0").members));
}

}  // namespace
}  // namespace roster::cluster
