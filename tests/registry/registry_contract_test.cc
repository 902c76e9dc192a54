// The registry contract: what every Registry implementation does, checked against each backend
// (see registry_contract_test.h). Scenarios assert what roster's cluster layer depends on.

#include "tests/registry/registry_contract_test.h"

#include <algorithm>
#include <atomic>
#include <functional>
#include <random>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "tests/registry/event_recorder.h"
#include "tests/testing/eventually.h"
#include "tests/testing/status_matchers.h"

namespace roster::testing {

using registry::Acl;
using registry::CreateMode;
using registry::CreateOptions;
using registry::EventType;
using registry::Registry;
using registry::RegistryEvent;
using registry::RegistryOptions;
using registry::SessionEventType;
using registry::SessionState;
using registry::SubscribeOptions;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

void RegistryContractTest::SetUp() {
  env_ = GetParam().make();
  env_->SetUp();
}

void RegistryContractTest::TearDown() {
  for (auto it = registries_.rbegin(); it != registries_.rend(); ++it) (*it)->Shutdown();
  registries_.clear();
  env_->TearDown();
}

Registry* RegistryContractTest::Connect(const std::string& name, RegistryOptions options) {
  options.name = name;
  options.session_timeout = env_->SessionTimeout();
  std::unique_ptr<Registry> registry = env_->NewRegistry(std::move(options));
  if (registry == nullptr) return nullptr;
  absl::Status started = registry->Start();
  if (started.ok()) started = registry->WaitConnected(kDefaultEventuallyTimeout);
  if (!started.ok()) {
    ADD_FAILURE() << "registry '" << name << "' did not connect: " << started;
    return nullptr;
  }
  registries_.push_back(std::move(registry));
  return registries_.back().get();
}

std::map<std::string, std::string> RegistryContractTest::FreshRead(Registry* registry,
                                                                   const std::string& root,
                                                                   int depth) {
  std::map<std::string, std::string> out;
  std::function<void(const std::string&, int)> walk = [&](const std::string& path, int level) {
    if (level >= depth) return;
    absl::StatusOr<registry::Children> children = registry->GetChildren(path);
    if (!children.ok()) return;
    for (const std::string& name : children->names) {
      const std::string child = registry::JoinPath(path, name);
      absl::StatusOr<registry::Node> node = registry->Get(child);
      if (!node.ok()) continue;
      out[child] = node->data;
      if (node->stat.ephemeral_owner == 0) walk(child, level + 1);
    }
  };
  walk(root, 0);
  return out;
}

std::string RegistryEnvName(const ::testing::TestParamInfo<RegistryEnvFactory>& info) {
  return info.param.name;
}

namespace {

// Where a subscription's view differs from a fresh read, with the events the subscription
// delivered for each such path: for a failure message.
std::string Difference(const EventRecorder& recorder,
                       const std::map<std::string, std::string>& fresh) {
  const std::map<std::string, std::string> view = recorder.View();
  std::set<std::string> paths;
  for (const auto& [path, data] : view) {
    auto it = fresh.find(path);
    if (it == fresh.end() || it->second != data) paths.insert(path);
  }
  for (const auto& [path, data] : fresh) {
    if (view.count(path) == 0) paths.insert(path);
  }
  std::string out;
  for (const std::string& path : paths) {
    auto in_view = view.find(path);
    auto in_fresh = fresh.find(path);
    absl::StrAppend(&out, "\n", path, ": view ", in_view == view.end() ? "(none)" : in_view->second,
                    ", fresh read ", in_fresh == fresh.end() ? "(none)" : in_fresh->second,
                    "; events:");
    for (const RegistryEvent& event : recorder.Events()) {
      if (event.path == path) absl::StrAppend(&out, " [", Describe(event), "]");
    }
  }
  return out;
}

CreateOptions Mode(CreateMode mode) {
  CreateOptions options;
  options.mode = mode;
  return options;
}

CreateOptions WithAcl(std::vector<Acl> acl) {
  CreateOptions options;
  options.acl = std::move(acl);
  return options;
}

RegistryOptions WithDigest(std::string digest) {
  RegistryOptions options;
  options.digest = std::move(digest);
  return options;
}

}  // namespace

// --- Operations -------------------------------------------------------------------------------

TEST_P(RegistryContractTest, CreateGetSetDeleteMaintainStats) {
  Registry* r = Connect("crud");
  ASSERT_NE(r, nullptr);

  ASSERT_THAT(r->Create("/a", "1"), IsOkAndHolds(std::string("/a")));
  ASSERT_OK_AND_ASSIGN(registry::Node created, r->Get("/a"));
  EXPECT_EQ(created.path, "/a");
  EXPECT_EQ(created.data, "1");
  EXPECT_GT(created.stat.czxid, 0);
  EXPECT_EQ(created.stat.mzxid, created.stat.czxid);
  EXPECT_EQ(created.stat.pzxid, created.stat.czxid);
  EXPECT_EQ(created.stat.version, 0);
  EXPECT_EQ(created.stat.cversion, 0);
  EXPECT_EQ(created.stat.data_length, 1);
  EXPECT_EQ(created.stat.num_children, 0);
  EXPECT_EQ(created.stat.ephemeral_owner, 0);
  if (env()->HasNodeTimes()) {
    EXPECT_GT(created.stat.ctime_ms, 0);
  } else {
    EXPECT_EQ(created.stat.ctime_ms, 0) << env()->Name() << " keeps no node times";
  }
  EXPECT_EQ(created.stat.mtime_ms, created.stat.ctime_ms);

  ASSERT_OK_AND_ASSIGN(registry::Stat set, r->Set("/a", "22", /*expected_version=*/0));
  EXPECT_EQ(set.czxid, created.stat.czxid);
  EXPECT_GT(set.mzxid, created.stat.mzxid);
  EXPECT_EQ(set.version, 1);
  EXPECT_EQ(set.data_length, 2);
  EXPECT_GE(set.mtime_ms, created.stat.mtime_ms);
  ASSERT_OK_AND_ASSIGN(registry::Node updated, r->Get("/a"));
  EXPECT_EQ(updated.data, "22");
  EXPECT_EQ(updated.stat, set);
  ASSERT_THAT(r->Exists("/a"), IsOkAndHolds(std::optional<registry::Stat>(set)));

  // Version checks.
  EXPECT_THAT(r->Set("/a", "x", /*expected_version=*/0), StatusIs(absl::StatusCode::kAborted));
  EXPECT_THAT(r->Delete("/a", /*expected_version=*/0), StatusIs(absl::StatusCode::kAborted));
  EXPECT_THAT(r->Get("/a"), IsOkAndHolds(::testing::Field(&registry::Node::data, "22")));
  EXPECT_THAT(r->Create("/a", "again"), StatusIs(absl::StatusCode::kAlreadyExists));
  ASSERT_OK(r->Delete("/a", /*expected_version=*/1));

  // Missing nodes.
  EXPECT_THAT(r->Get("/a"), StatusIs(absl::StatusCode::kNotFound, HasSubstr("/a")));
  EXPECT_THAT(r->Set("/a", "x"), StatusIs(absl::StatusCode::kNotFound, HasSubstr("/a")));
  EXPECT_THAT(r->Delete("/a"), StatusIs(absl::StatusCode::kNotFound, HasSubstr("/a")));
  EXPECT_THAT(r->GetChildren("/a"), StatusIs(absl::StatusCode::kNotFound, HasSubstr("/a")));
  EXPECT_THAT(r->Exists("/a"), IsOkAndHolds(std::optional<registry::Stat>()));
  EXPECT_THAT(r->Create("/missing/child", ""),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("/missing")));

  // A re-created node is a new incarnation.
  ASSERT_OK(r->Create("/a", "3"));
  ASSERT_OK_AND_ASSIGN(registry::Node again, r->Get("/a"));
  EXPECT_GT(again.stat.czxid, set.mzxid);
  EXPECT_EQ(again.stat.version, 0);
}

TEST_P(RegistryContractTest, ChildrenAreSortedAndMoveTheParentStat) {
  Registry* r = Connect("children");
  ASSERT_NE(r, nullptr);
  ASSERT_OK(r->Create("/p", "parent"));
  ASSERT_OK_AND_ASSIGN(registry::Node parent, r->Get("/p"));
  for (const char* name : {"c", "a", "b"}) ASSERT_OK(r->Create(absl::StrCat("/p/", name), ""));
  ASSERT_OK_AND_ASSIGN(registry::Node last, r->Get("/p/b"));

  ASSERT_OK_AND_ASSIGN(registry::Children children, r->GetChildren("/p"));
  EXPECT_THAT(children.names, ElementsAre("a", "b", "c"));
  EXPECT_EQ(children.stat.num_children, 3);
  EXPECT_EQ(children.stat.cversion, 3);
  EXPECT_EQ(children.stat.pzxid, last.stat.czxid);
  // Children changes do not touch the parent's data version.
  EXPECT_EQ(children.stat.mzxid, parent.stat.mzxid);
  EXPECT_EQ(children.stat.version, 0);

  ASSERT_OK(r->Delete("/p/a"));
  ASSERT_OK_AND_ASSIGN(children, r->GetChildren("/p"));
  EXPECT_THAT(children.names, ElementsAre("b", "c"));
  EXPECT_EQ(children.stat.num_children, 2);
  EXPECT_GT(children.stat.pzxid, last.stat.czxid);
  ASSERT_OK_AND_ASSIGN(registry::Children leaf, r->GetChildren("/p/c"));
  EXPECT_THAT(leaf.names, IsEmpty());
}

TEST_P(RegistryContractTest, SequentialNodesGetIncreasingTenDigitSuffixes) {
  Registry* r = Connect("sequential");
  ASSERT_NE(r, nullptr);
  ASSERT_OK(r->Create("/q", ""));
  EXPECT_THAT(r->Create("/q/n-", "", Mode(CreateMode::kPersistentSequential)),
              IsOkAndHolds(std::string("/q/n-0000000000")));
  EXPECT_THAT(r->Create("/q/n-", "", Mode(CreateMode::kEphemeralSequential)),
              IsOkAndHolds(std::string("/q/n-0000000001")));
  EXPECT_THAT(r->Create("/q/m-", "", Mode(CreateMode::kPersistentSequential)),
              IsOkAndHolds(std::string("/q/m-0000000002")));
  ASSERT_OK(r->Delete("/q/n-0000000000"));
  // The counter is the parent's cversion, which only creates advance: names never repeat.
  EXPECT_THAT(r->Create("/q/n-", "", Mode(CreateMode::kPersistentSequential)),
              IsOkAndHolds(std::string("/q/n-0000000003")));
  ASSERT_OK_AND_ASSIGN(registry::Node ephemeral, r->Get("/q/n-0000000001"));
  EXPECT_EQ(ephemeral.stat.ephemeral_owner, r->session().session_id);
}

TEST_P(RegistryContractTest, CreateParentsCreatesMissingAncestors) {
  Registry* r = Connect("parents");
  ASSERT_NE(r, nullptr);
  CreateOptions options = Mode(CreateMode::kEphemeral);
  options.create_parents = true;
  ASSERT_THAT(r->Create("/x/y/z", "leaf", options), IsOkAndHolds(std::string("/x/y/z")));
  ASSERT_OK_AND_ASSIGN(registry::Node x, r->Get("/x"));
  ASSERT_OK_AND_ASSIGN(registry::Node y, r->Get("/x/y"));
  ASSERT_OK_AND_ASSIGN(registry::Node z, r->Get("/x/y/z"));
  EXPECT_EQ(x.stat.ephemeral_owner, 0) << "ancestors are persistent";
  EXPECT_EQ(y.stat.ephemeral_owner, 0);
  EXPECT_NE(z.stat.ephemeral_owner, 0);
  EXPECT_EQ(z.data, "leaf");
  // Existing ancestors are fine.
  options.mode = CreateMode::kPersistent;
  EXPECT_OK(r->Create("/x/y/w", "", options));
}

TEST_P(RegistryContractTest, StructuralErrors) {
  Registry* r = Connect("errors");
  ASSERT_NE(r, nullptr);
  ASSERT_OK(r->Create("/d", ""));
  ASSERT_OK(r->Create("/d/child", ""));
  EXPECT_THAT(r->Delete("/d"), StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("/d")));
  ASSERT_OK(r->Create("/e", "", Mode(CreateMode::kEphemeral)));
  EXPECT_THAT(r->Create("/e/child", ""),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("/e")));
}

TEST_P(RegistryContractTest, InvalidPathsAreInvalidArgument) {
  Registry* r = Connect("paths");
  ASSERT_NE(r, nullptr);
  for (const char* path : {"", "a", "/a/", "/a//b", "/a/./b", "/a/../b"}) {
    EXPECT_THAT(r->Get(path), StatusIs(absl::StatusCode::kInvalidArgument)) << path;
    EXPECT_THAT(r->Create(path, ""), StatusIs(absl::StatusCode::kInvalidArgument)) << path;
    EXPECT_THAT(r->Subscribe(path, {}, [](const RegistryEvent&) {}),
                StatusIs(absl::StatusCode::kInvalidArgument))
        << path;
  }
  EXPECT_THAT(r->Get(std::string("/a\0b", 4)), StatusIs(absl::StatusCode::kInvalidArgument));
}

// --- Sessions and ephemerals ------------------------------------------------------------------

TEST_P(RegistryContractTest, EphemeralGoesWithItsSessionAndSubscribersSeeItsLastData) {
  Registry* owner = Connect("owner");
  Registry* watcher = Connect("watcher");
  ASSERT_NE(owner, nullptr);
  ASSERT_NE(watcher, nullptr);
  ASSERT_OK(owner->Create("/nodes", ""));
  ASSERT_OK(owner->Create("/nodes/10.0.0.1:5678", "hb-1", Mode(CreateMode::kEphemeral)));
  ASSERT_OK(owner->Set("/nodes/10.0.0.1:5678", "hb-2"));

  EventRecorder recorder;
  ASSERT_OK_AND_ASSIGN(auto subscription, watcher->Subscribe("/nodes", {}, recorder.Listener()));
  ASSERT_EVENTUALLY(recorder.Synced() >= 1);
  EXPECT_EQ(recorder.View(),
            (std::map<std::string, std::string>{{"/nodes/10.0.0.1:5678", "hb-2"}}));

  owner->Shutdown();
  ASSERT_EVENTUALLY(recorder.HasEvent(EventType::kRemoved, "/nodes/10.0.0.1:5678"));
  EXPECT_THAT(recorder.Changes(),
              ElementsAre("ADDED /nodes/10.0.0.1:5678=hb-2", "REMOVED /nodes/10.0.0.1:5678=hb-2"));
  EXPECT_THAT(watcher->Exists("/nodes/10.0.0.1:5678"),
              IsOkAndHolds(std::optional<registry::Stat>()));
  EXPECT_THAT(recorder.Violations(), IsEmpty());
}

TEST_P(RegistryContractTest, ServerRestartWithinSessionTimeoutKeepsSessionAndEphemerals) {
  Registry* r = Connect("survivor");
  ASSERT_NE(r, nullptr);
  SessionRecorder sessions;
  auto session_handle = r->WatchSession(sessions.Listener());
  ASSERT_OK(r->Create("/svc", ""));
  ASSERT_OK(r->Create("/svc/me", "a", Mode(CreateMode::kEphemeral)));
  ASSERT_OK(r->Create("/svc/other", "b"));
  EventRecorder recorder;
  ASSERT_OK_AND_ASSIGN(auto subscription, r->Subscribe("/svc", {}, recorder.Listener()));
  ASSERT_EVENTUALLY(recorder.Synced() >= 1);
  const registry::SessionInfo before = r->session();

  env()->StopServer();
  ASSERT_EVENTUALLY(sessions.Saw(SessionEventType::kSuspended));
  EXPECT_NE(r->session().state, SessionState::kConnected);
  env()->StartServer();
  ASSERT_EVENTUALLY(sessions.Saw(SessionEventType::kReconnected));
  // The re-read after the reconnect completes.
  ASSERT_EVENTUALLY(recorder.Synced() >= 2);

  EXPECT_FALSE(sessions.Saw(SessionEventType::kExpired));
  // Session events are numbered in order, and the session says which one was the last.
  const std::vector<registry::SessionEvent> events = sessions.Events();
  for (size_t i = 1; i < events.size(); ++i) {
    EXPECT_EQ(events[i].sequence, events[i - 1].sequence + 1);
  }
  EXPECT_EQ(r->session().events, events.back().sequence);
  EXPECT_GT(r->session().events, before.events);
  EXPECT_EQ(r->session().session, before.session);
  EXPECT_EQ(r->session().session_id, before.session_id);
  EXPECT_FALSE(recorder.HasEvent(EventType::kRemoved, "/svc/me"));
  EXPECT_FALSE(recorder.HasEvent(EventType::kRemoved, "/svc/other"));
  EXPECT_EQ(recorder.SnapshotView(),
            (std::map<std::string, std::string>{{"/svc/me", "a"}, {"/svc/other", "b"}}));
  ASSERT_OK_AND_ASSIGN(registry::Node me, r->Get("/svc/me"));
  EXPECT_EQ(me.stat.ephemeral_owner, before.session_id);
  EXPECT_THAT(recorder.Violations(), IsEmpty());
}

TEST_P(RegistryContractTest, SessionExpiryRecreatesEphemeralsInANewSession) {
  Registry* worker = Connect("worker");
  Registry* observer = Connect("observer");
  ASSERT_NE(worker, nullptr);
  ASSERT_NE(observer, nullptr);
  SessionRecorder sessions;
  auto session_handle = worker->WatchSession(sessions.Listener());
  ASSERT_OK(worker->Create("/e", ""));
  ASSERT_OK(worker->Create("/e/w", "d1", Mode(CreateMode::kEphemeral)));
  ASSERT_OK(worker->Set("/e/w", "d2"));
  ASSERT_OK(worker->Create("/e/persistent", "p"));
  ASSERT_OK_AND_ASSIGN(registry::Node old_node, worker->Get("/e/w"));

  EventRecorder own;
  EventRecorder other;
  ASSERT_OK_AND_ASSIGN(auto own_subscription, worker->Subscribe("/e", {}, own.Listener()));
  ASSERT_OK_AND_ASSIGN(auto other_subscription, observer->Subscribe("/e", {}, other.Listener()));
  ASSERT_EVENTUALLY(own.Synced() >= 1 && other.Synced() >= 1);
  const registry::SessionInfo before = worker->session();

  env()->ExpireSession(worker);
  auto new_session_connected = [&] {
    for (const registry::SessionEvent& event : sessions.Events()) {
      if (event.type == SessionEventType::kConnected && event.session > before.session) {
        return true;
      }
    }
    return false;
  };
  ASSERT_EVENTUALLY(new_session_connected());
  // ... kExpired (of the old session), then kConnected (of the new one).
  std::vector<registry::SessionEvent> events = sessions.Events();
  auto expired = std::find_if(events.begin(), events.end(), [](const auto& event) {
    return event.type == SessionEventType::kExpired;
  });
  ASSERT_NE(expired, events.end());
  EXPECT_EQ(expired->session, before.session);
  ASSERT_NE(expired + 1, events.end());
  EXPECT_EQ((expired + 1)->type, SessionEventType::kConnected);
  EXPECT_GT((expired + 1)->session, before.session);
  EXPECT_NE((expired + 1)->session_id, before.session_id);
  ASSERT_EVENTUALLY(worker->session().state == SessionState::kConnected);
  const registry::SessionInfo after = worker->session();
  EXPECT_GT(after.session, before.session);

  // Re-created with its last data, owned by the new session.
  ASSERT_EVENTUALLY(observer->Get("/e/w").ok());
  ASSERT_OK_AND_ASSIGN(registry::Node recreated, observer->Get("/e/w"));
  EXPECT_EQ(recreated.data, "d2");
  EXPECT_EQ(recreated.stat.ephemeral_owner, after.session_id);
  EXPECT_GT(recreated.stat.czxid, old_node.stat.czxid);

  // Both subscriptions converge on the new incarnation.
  const std::map<std::string, std::string> expected = {{"/e/persistent", "p"}, {"/e/w", "d2"}};
  ASSERT_EVENTUALLY(other.ViewEvents().count("/e/w") > 0 &&
                    other.ViewEvents().at("/e/w").stat.czxid == recreated.stat.czxid);
  EXPECT_EQ(other.View(), expected);
  // The worker's own subscription re-read everything in the new session.
  ASSERT_EVENTUALLY(own.LastSnapshot() != nullptr && own.LastSnapshot()->size() == 2 &&
                    own.LastSnapshot()->back().stat.czxid == recreated.stat.czxid);
  EXPECT_EQ(own.SnapshotView(), FreshRead(worker, "/e", 1));
  EXPECT_EQ(own.View(), expected);
  EXPECT_EQ(own.LastSnapshot()->back().session, after.session);
  EXPECT_THAT(own.Violations(), IsEmpty());
  EXPECT_THAT(other.Violations(), IsEmpty());
}

// --- Subscriptions ----------------------------------------------------------------------------

TEST_P(RegistryContractTest, SubscriptionReportsExistingNodesThenSyncedThenChanges) {
  Registry* r = Connect("subscriber");
  ASSERT_NE(r, nullptr);
  ASSERT_OK(r->Create("/s", ""));
  ASSERT_OK(r->Create("/s/a", "1"));
  ASSERT_OK(r->Create("/s/b", "2", Mode(CreateMode::kEphemeral)));

  EventRecorder recorder;
  ASSERT_OK_AND_ASSIGN(auto subscription, r->Subscribe("/s", {}, recorder.Listener()));
  ASSERT_EVENTUALLY(recorder.Synced() == 1);
  std::vector<RegistryEvent> events = recorder.Events();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(Describe(events[0]), "ADDED /s/a=1");
  EXPECT_EQ(Describe(events[1]), "ADDED /s/b=2");
  EXPECT_EQ(events[2].type, EventType::kSynced);
  EXPECT_EQ(events[2].path, "/s");
  ASSERT_NE(events[2].snapshot, nullptr);
  ASSERT_EQ(events[2].snapshot->size(), 2u);
  EXPECT_EQ(Describe((*events[2].snapshot)[0]), "ADDED /s/a=1");
  EXPECT_EQ(Describe((*events[2].snapshot)[1]), "ADDED /s/b=2");
  ASSERT_OK_AND_ASSIGN(registry::Node a, r->Get("/s/a"));
  EXPECT_EQ(events[0].stat, a.stat);
  for (const RegistryEvent& event : events) {
    EXPECT_EQ(event.session, r->session().session);
    EXPECT_FALSE(event.from_resync);
  }

  ASSERT_OK(r->Create("/s/c", "3"));
  ASSERT_EVENTUALLY(recorder.HasEvent(EventType::kAdded, "/s/c"));
  ASSERT_OK_AND_ASSIGN(registry::Stat a_stat, r->Set("/s/a", "1x"));
  ASSERT_EVENTUALLY(recorder.HasEvent(EventType::kUpdated, "/s/a"));
  ASSERT_OK(r->Delete("/s/b"));
  ASSERT_EVENTUALLY(recorder.HasEvent(EventType::kRemoved, "/s/b"));
  EXPECT_THAT(recorder.Changes(), ElementsAre("ADDED /s/a=1", "ADDED /s/b=2", "ADDED /s/c=3",
                                              "UPDATED /s/a=1x", "REMOVED /s/b=2"));
  EXPECT_EQ(recorder.ViewEvents().at("/s/a").stat, a_stat);
  for (const RegistryEvent& event : recorder.Events()) EXPECT_FALSE(event.from_resync);
  EXPECT_THAT(recorder.Violations(), IsEmpty());

  // Resync finds nothing to correct and repeats the snapshot.
  subscription->Resync();
  ASSERT_EVENTUALLY(recorder.Synced() == 2);
  EXPECT_EQ(recorder.SnapshotView(),
            (std::map<std::string, std::string>{{"/s/a", "1x"}, {"/s/c", "3"}}));
  EXPECT_EQ(recorder.Changes().size(), 5u);
  EXPECT_THAT(recorder.Violations(), IsEmpty());
}

TEST_P(RegistryContractTest, SubscriptionAtDepthTwoCoversTheLegacyWorkerLayout) {
  Registry* r = Connect("legacy");
  ASSERT_NE(r, nullptr);
  CreateOptions parents;
  parents.create_parents = true;
  ASSERT_OK(r->Create("/nodes/worker/default", "", parents));
  ASSERT_OK(r->Create("/nodes/worker/default/10.0.0.1:1234", "w1", Mode(CreateMode::kEphemeral)));
  ASSERT_OK(r->Create("/nodes/worker/etl", ""));

  EventRecorder recorder;
  SubscribeOptions options;
  options.max_depth = 2;
  ASSERT_OK_AND_ASSIGN(auto subscription,
                       r->Subscribe("/nodes/worker", options, recorder.Listener()));
  ASSERT_EVENTUALLY(recorder.Synced() == 1);
  EXPECT_EQ(recorder.SnapshotView(),
            (std::map<std::string, std::string>{{"/nodes/worker/default", ""},
                                                {"/nodes/worker/default/10.0.0.1:1234", "w1"},
                                                {"/nodes/worker/etl", ""}}));
  // The initial kAdded come in any order that puts parents first.
  std::vector<std::string> initial = recorder.Changes();
  ASSERT_EQ(initial.size(), 3u);
  EXPECT_LT(
      std::find(initial.begin(), initial.end(), "ADDED /nodes/worker/default="),
      std::find(initial.begin(), initial.end(), "ADDED /nodes/worker/default/10.0.0.1:1234=w1"));

  ASSERT_OK(r->Create("/nodes/worker/etl/10.0.0.2:1234", "w2", Mode(CreateMode::kEphemeral)));
  ASSERT_EVENTUALLY(recorder.HasEvent(EventType::kAdded, "/nodes/worker/etl/10.0.0.2:1234"));
  // Deeper than max_depth: not reported.
  ASSERT_OK(r->Create("/nodes/worker/etl/group-marker", ""));
  ASSERT_OK(r->Create("/nodes/worker/etl/group-marker/too-deep", "x"));
  ASSERT_EVENTUALLY(recorder.HasEvent(EventType::kAdded, "/nodes/worker/etl/group-marker"));
  ASSERT_OK(r->Delete("/nodes/worker/default/10.0.0.1:1234"));
  ASSERT_EVENTUALLY(recorder.HasEvent(EventType::kRemoved, "/nodes/worker/default/10.0.0.1:1234"));
  ASSERT_OK(r->Delete("/nodes/worker/default"));
  ASSERT_EVENTUALLY(recorder.HasEvent(EventType::kRemoved, "/nodes/worker/default"));

  std::vector<std::string> changes = recorder.Changes();
  changes.erase(changes.begin(), changes.begin() + 3);
  EXPECT_THAT(changes, ElementsAre("ADDED /nodes/worker/etl/10.0.0.2:1234=w2",
                                   "ADDED /nodes/worker/etl/group-marker=",
                                   "REMOVED /nodes/worker/default/10.0.0.1:1234=w1",
                                   "REMOVED /nodes/worker/default="));
  subscription->Resync();
  ASSERT_EVENTUALLY(recorder.Synced() == 2);
  EXPECT_EQ(recorder.SnapshotView(), FreshRead(r, "/nodes/worker", 2));
  EXPECT_THAT(recorder.Violations(), IsEmpty());
}

TEST_P(RegistryContractTest, IncludeRootFollowsTheRootThroughItsIncarnations) {
  Registry* r = Connect("root");
  ASSERT_NE(r, nullptr);
  EventRecorder recorder;
  SubscribeOptions options;
  options.include_root = true;
  ASSERT_OK_AND_ASSIGN(auto subscription, r->Subscribe("/r", options, recorder.Listener()));
  ASSERT_EVENTUALLY(recorder.Synced() == 1);
  ASSERT_NE(recorder.LastSnapshot(), nullptr);
  EXPECT_THAT(*recorder.LastSnapshot(), IsEmpty());

  ASSERT_OK(r->Create("/r", "v1"));
  ASSERT_EVENTUALLY(recorder.HasEvent(EventType::kAdded, "/r"));
  ASSERT_OK(r->Set("/r", "v1b"));
  ASSERT_EVENTUALLY(recorder.HasEvent(EventType::kUpdated, "/r"));
  ASSERT_OK(r->Create("/r/c", "child"));
  ASSERT_EVENTUALLY(recorder.HasEvent(EventType::kAdded, "/r/c"));
  ASSERT_OK_AND_ASSIGN(registry::Node first, r->Get("/r"));
  ASSERT_OK(r->Delete("/r/c"));
  ASSERT_OK(r->Delete("/r"));
  ASSERT_EVENTUALLY(recorder.HasEvent(EventType::kRemoved, "/r"));
  ASSERT_OK(r->Create("/r", "v2"));
  ASSERT_EVENTUALLY(recorder.View().count("/r") > 0);

  EXPECT_THAT(recorder.Changes(),
              ElementsAre("ADDED /r=v1", "UPDATED /r=v1b", "ADDED /r/c=child", "REMOVED /r/c=child",
                          "REMOVED /r=v1b", "ADDED /r=v2"));
  std::vector<RegistryEvent> events = recorder.Events();
  EXPECT_GT(events.back().stat.czxid, first.stat.czxid) << "a new incarnation";
  subscription->Resync();
  ASSERT_EVENTUALLY(recorder.Synced() == 2);
  EXPECT_EQ(recorder.SnapshotView(), (std::map<std::string, std::string>{{"/r", "v2"}}));
  EXPECT_THAT(recorder.Violations(), IsEmpty());
}

TEST_P(RegistryContractTest, RapidChurnConvergesAndResyncFindsNothingMissed) {
  Registry* writer = Connect("writer");
  Registry* reader = Connect("reader");
  ASSERT_NE(writer, nullptr);
  ASSERT_NE(reader, nullptr);
  ASSERT_OK(writer->Create("/churn", ""));
  std::map<std::string, std::string> model;
  for (int i = 0; i < 20; ++i) {
    const std::string path = absl::StrCat("/churn/n", i);
    ASSERT_OK(writer->Create(path, "seed"));
    model[path] = "seed";
  }
  EventRecorder recorder;
  ASSERT_OK_AND_ASSIGN(auto subscription, reader->Subscribe("/churn", {}, recorder.Listener()));
  ASSERT_EVENTUALLY(recorder.Synced() == 1);

  // 1,000 pipelined operations from one session (so applied in order): creates, deletes,
  // re-creates and updates over 100 names.
  std::mt19937 rng(20240613);
  std::atomic<int> pending{0};
  std::atomic<int> failures{0};
  auto count = [&](const absl::Status& status) {
    if (!status.ok()) {
      ++failures;
      ADD_FAILURE() << status;
    }
    --pending;
  };
  for (int i = 0; i < 1000; ++i) {
    const std::string path = absl::StrCat("/churn/n", rng() % 100);
    const std::string data = absl::StrCat("v", i);
    ++pending;
    if (model.count(path) == 0) {
      model[path] = data;
      const CreateMode mode = i % 2 == 0 ? CreateMode::kEphemeral : CreateMode::kPersistent;
      writer->CreateAsync(path, data, Mode(mode),
                          [&](absl::StatusOr<std::string> result) { count(result.status()); });
    } else if (rng() % 2 == 0) {
      model.erase(path);
      writer->DeleteAsync(path, Registry::kAnyVersion, [&](absl::Status s) { count(s); });
    } else {
      model[path] = data;
      writer->SetAsync(path, data, Registry::kAnyVersion,
                       [&](absl::StatusOr<registry::Stat> result) { count(result.status()); });
    }
  }
  ASSERT_EVENTUALLY(pending.load() == 0);
  ASSERT_EQ(failures.load(), 0);
  const std::map<std::string, std::string> fresh = FreshRead(reader, "/churn", 1);
  ASSERT_EQ(fresh, model);
  // The watches bring the view there on their own. The writes' acknowledgements and the fresh
  // read do not wait for the subscription's events: the last of them may still be on their way
  // (under ASan and a loaded machine the re-read below sometimes overtook one, and delivered it
  // as a correction).
  ASSERT_EVENTUALLY(recorder.View() == fresh) << Difference(recorder, fresh);

  subscription->Resync();
  ASSERT_EVENTUALLY(recorder.Synced() == 2);
  EXPECT_EQ(recorder.SnapshotView(), fresh);
  EXPECT_EQ(recorder.View(), fresh);
  // Watches alone kept the view right: the full re-read corrected nothing.
  for (const RegistryEvent& event : recorder.Events()) {
    EXPECT_FALSE(event.from_resync) << Describe(event);
  }
  EXPECT_THAT(recorder.Violations(), IsEmpty());
}

// --- Digest authentication ----------------------------------------------------------------------

// The etcd binary links these scenarios without instantiating them (etcd has no ACLs).
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(RegistryAclContractTest);

TEST_P(RegistryAclContractTest, DigestCredentialsGuardCreatorOnlyNodes) {
  Registry* alice = Connect("alice", WithDigest("alice:secret"));
  Registry* alice_again = Connect("alice-again", WithDigest("alice:secret"));
  Registry* mallory = Connect("mallory", WithDigest("mallory:wrong"));
  Registry* anonymous = Connect("anonymous");
  ASSERT_NE(alice, nullptr);
  ASSERT_NE(alice_again, nullptr);
  ASSERT_NE(mallory, nullptr);
  ASSERT_NE(anonymous, nullptr);

  // The parent is open (listable by all); the nodes get the default ACL: creator only.
  ASSERT_OK(alice->Create("/secure", "", WithAcl(Acl::Open())));
  ASSERT_OK(alice->Create("/secure/n1", "payload"));
  ASSERT_OK_AND_ASSIGN(registry::Node n1, alice->Get("/secure/n1"));

  EXPECT_THAT(alice_again->Get("/secure/n1"),
              IsOkAndHolds(::testing::Field(&registry::Node::data, "payload")));
  for (Registry* outsider : {mallory, anonymous}) {
    EXPECT_THAT(outsider->Get("/secure/n1"),
                StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("/secure/n1")));
    EXPECT_THAT(outsider->Set("/secure/n1", "x"),
                StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("/secure/n1")));
    // exists() needs no permission.
    EXPECT_THAT(outsider->Exists("/secure/n1"),
                IsOkAndHolds(std::optional<registry::Stat>(n1.stat)));
  }
  // "auth" ACLs need credentials.
  CreateOptions creator_only = WithAcl(Acl::CreatorAll());
  EXPECT_THAT(anonymous->Create("/secure/anon", "", creator_only),
              StatusIs(absl::StatusCode::kInvalidArgument));

  EventRecorder trusted;
  EventRecorder denied;
  EventRecorder anon;
  ASSERT_OK_AND_ASSIGN(auto trusted_sub, alice_again->Subscribe("/secure", {}, trusted.Listener()));
  ASSERT_OK_AND_ASSIGN(auto denied_sub, mallory->Subscribe("/secure", {}, denied.Listener()));
  ASSERT_OK_AND_ASSIGN(auto anon_sub, anonymous->Subscribe("/secure", {}, anon.Listener()));
  ASSERT_EVENTUALLY(trusted.Synced() >= 1 && denied.Synced() >= 1 && anon.Synced() >= 1);
  EXPECT_EQ(trusted.View(), (std::map<std::string, std::string>{{"/secure/n1", "payload"}}));
  for (EventRecorder* recorder : {&denied, &anon}) {
    // Reported, never skipped: the node exists but cannot be read.
    ASSERT_NE(recorder->LastSnapshot(), nullptr);
    ASSERT_EQ(recorder->LastSnapshot()->size(), 1u);
    const RegistryEvent& node = recorder->LastSnapshot()->front();
    EXPECT_EQ(node.path, "/secure/n1");
    EXPECT_EQ(node.read_error.code(), absl::StatusCode::kPermissionDenied);
    EXPECT_EQ(node.stat.czxid, n1.stat.czxid);
    EXPECT_EQ(node.data, "");
  }

  // Membership changes reach the unreadable view through the (readable) parent's listing.
  // ZooKeeper sends no notification about a node the session may not read, so a data change
  // of an unreadable node shows only in a full re-read: kUpdated with the new stat.
  ASSERT_OK_AND_ASSIGN(registry::Stat updated, alice->Set("/secure/n1", "payload-2"));
  ASSERT_OK(alice->Create("/secure/n2", "second"));
  ASSERT_OK(alice->Create("/secure/gone", "soon"));
  for (EventRecorder* recorder : {&denied, &anon}) {
    ASSERT_EVENTUALLY(recorder->ViewEvents().count("/secure/gone") > 0)
        << absl::StrJoin(recorder->Changes(), ", ");
  }
  ASSERT_OK(alice->Delete("/secure/gone"));
  denied_sub->Resync();
  anon_sub->Resync();
  for (EventRecorder* recorder : {&denied, &anon}) {
    ASSERT_EVENTUALLY(recorder->Synced() >= 2 &&
                      recorder->HasEvent(EventType::kRemoved, "/secure/gone") &&
                      recorder->ViewEvents().at("/secure/n1").stat.mzxid == updated.mzxid)
        << absl::StrJoin(recorder->Changes(), ", ");
    EXPECT_EQ(recorder->ViewEvents().at("/secure/n2").read_error.code(),
              absl::StatusCode::kPermissionDenied);
    EXPECT_EQ(recorder->ViewEvents().at("/secure/n1").read_error.code(),
              absl::StatusCode::kPermissionDenied);
    EXPECT_EQ(recorder->View(),
              (std::map<std::string, std::string>{{"/secure/n1", ""}, {"/secure/n2", ""}}));
    EXPECT_THAT(recorder->Violations(), IsEmpty());
  }
  ASSERT_EVENTUALLY(trusted.View() == (std::map<std::string, std::string>{
                                          {"/secure/n1", "payload-2"}, {"/secure/n2", "second"}}));
  EXPECT_THAT(trusted.Violations(), IsEmpty());
}

// The last kSynced a recorder received (type kSynced with a null snapshot when none came).
RegistryEvent LastSynced(const EventRecorder& recorder) {
  RegistryEvent last;
  last.type = EventType::kSynced;
  for (const RegistryEvent& event : recorder.Events()) {
    if (event.type == EventType::kSynced) last = event;
  }
  return last;
}

// DolphinScheduler with a digest (ZookeeperRegistry.java @ 3.2.2-release: CREATOR_ALL_ACL for
// every path, parents included) leaves the layout roots themselves unreadable to a session with
// other credentials. Such a root lists nothing, which must never pass for "no nodes": the
// kSynced says the root could not be listed, round after round, until it can.
TEST_P(RegistryAclContractTest, ARootThatCannotBeListedIsReportedWithTheSync) {
  Registry* writer = Connect("writer", WithDigest("dolphin:right"));
  Registry* reader = Connect("reader", WithDigest("dolphin:wrong"));
  ASSERT_NE(writer, nullptr);
  ASSERT_NE(reader, nullptr);
  CreateOptions tree;  // the registry's default ACL with a digest: creator only
  tree.mode = CreateMode::kEphemeral;
  tree.create_parents = true;
  ASSERT_OK(writer->Create("/ds/nodes/master/10.0.0.1:5678", "{}", tree));

  EventRecorder denied;
  ASSERT_OK_AND_ASSIGN(auto denied_sub,
                       reader->Subscribe("/ds/nodes/master", {}, denied.Listener()));
  ASSERT_EVENTUALLY(denied.Synced() >= 1);
  RegistryEvent synced = LastSynced(denied);
  EXPECT_THAT(synced.read_error,
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("/ds/nodes/master")));
  ASSERT_NE(synced.snapshot, nullptr);
  EXPECT_THAT(*synced.snapshot, IsEmpty());
  denied_sub->Resync();
  ASSERT_EVENTUALLY(denied.Synced() >= 2);
  EXPECT_EQ(LastSynced(denied).read_error.code(), absl::StatusCode::kPermissionDenied)
      << "every round that cannot list the root says so";

  EventRecorder trusted;
  ASSERT_OK_AND_ASSIGN(auto trusted_sub,
                       writer->Subscribe("/ds/nodes/master", {}, trusted.Listener()));
  ASSERT_EVENTUALLY(trusted.Synced() >= 1);
  EXPECT_OK(LastSynced(trusted).read_error);
  EXPECT_EQ(trusted.View(),
            (std::map<std::string, std::string>{{"/ds/nodes/master/10.0.0.1:5678", "{}"}}));

  // The root re-created open: the next round lists it, and the error is gone.
  ASSERT_OK(writer->Delete("/ds/nodes/master/10.0.0.1:5678"));
  ASSERT_OK(writer->Delete("/ds/nodes/master"));
  ASSERT_OK(writer->Create("/ds/nodes/master", "", WithAcl(Acl::Open())));
  ASSERT_OK(writer->Create("/ds/nodes/master/10.0.0.2:5678", "{}", WithAcl(Acl::Open())));
  denied_sub->Resync();
  ASSERT_EVENTUALLY(denied.Synced() >= 3 && LastSynced(denied).read_error.ok())
      << LastSynced(denied).read_error;
  EXPECT_EQ(denied.SnapshotView(),
            (std::map<std::string, std::string>{{"/ds/nodes/master/10.0.0.2:5678", "{}"}}));
  EXPECT_THAT(denied.Violations(), IsEmpty());
}

// rosterd started before DolphinScheduler: the root does not exist at the first read, and
// appears later, unreadable. No watch tells a session about a node it may not read, so the
// next full read is what finds it (rosterd's periodic resync).
TEST_P(RegistryAclContractTest, ARootCreatedUnreadableLaterIsReportedByTheNextFullRead) {
  Registry* writer = Connect("writer", WithDigest("dolphin:right"));
  Registry* reader = Connect("reader", WithDigest("dolphin:wrong"));
  ASSERT_NE(writer, nullptr);
  ASSERT_NE(reader, nullptr);
  EventRecorder denied;
  ASSERT_OK_AND_ASSIGN(auto denied_sub,
                       reader->Subscribe("/late/nodes/master", {}, denied.Listener()));
  ASSERT_EVENTUALLY(denied.Synced() >= 1);
  EXPECT_OK(LastSynced(denied).read_error) << "a missing root is no error";

  CreateOptions tree;
  tree.mode = CreateMode::kEphemeral;
  tree.create_parents = true;
  ASSERT_OK(writer->Create("/late/nodes/master/10.0.0.1:5678", "{}", tree));
  denied_sub->Resync();
  ASSERT_EVENTUALLY(denied.Synced() >= 2);
  EXPECT_THAT(LastSynced(denied).read_error,
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("/late/nodes/master")));
  EXPECT_THAT(denied.Violations(), IsEmpty());
}

// --- Handles and shutdown ---------------------------------------------------------------------

TEST_P(RegistryContractTest, DestroyingASubscriptionStopsItsEvents) {
  Registry* r = Connect("unsubscribe");
  ASSERT_NE(r, nullptr);
  ASSERT_OK(r->Create("/u", ""));
  EventRecorder gone;
  EventRecorder barrier;
  ASSERT_OK_AND_ASSIGN(auto subscription, r->Subscribe("/u", {}, gone.Listener()));
  ASSERT_OK_AND_ASSIGN(auto barrier_sub, r->Subscribe("/u", {}, barrier.Listener()));
  ASSERT_EVENTUALLY(gone.Synced() == 1 && barrier.Synced() == 1);
  subscription.reset();
  const size_t seen = gone.EventCount();
  ASSERT_OK(r->Create("/u/after", "x"));
  ASSERT_EVENTUALLY(barrier.HasEvent(EventType::kAdded, "/u/after"));
  EXPECT_EQ(gone.EventCount(), seen);
}

TEST_P(RegistryContractTest, AListenerMayDestroyItsOwnSubscription) {
  Registry* r = Connect("self-destroy");
  ASSERT_NE(r, nullptr);
  ASSERT_OK(r->Create("/v", ""));
  ASSERT_OK(r->Create("/v/a", ""));
  ASSERT_OK(r->Create("/v/b", ""));
  std::atomic<int> calls{0};
  std::unique_ptr<registry::Subscription> subscription;
  absl::Notification subscribed;
  EventRecorder barrier;
  ASSERT_OK_AND_ASSIGN(auto barrier_sub, r->Subscribe("/v", {}, barrier.Listener()));
  ASSERT_OK_AND_ASSIGN(subscription, r->Subscribe("/v", {}, [&](const RegistryEvent&) {
    subscribed.WaitForNotification();
    subscription.reset();  // from inside the listener
    ++calls;
  }));
  subscribed.Notify();
  ASSERT_EVENTUALLY(calls.load() >= 1 && barrier.Synced() == 1);
  ASSERT_OK(r->Create("/v/c", ""));
  ASSERT_EVENTUALLY(barrier.HasEvent(EventType::kAdded, "/v/c"));
  EXPECT_EQ(calls.load(), 1);
}

TEST_P(RegistryContractTest, OperationsAfterShutdownFailAndHandlesStaySafe) {
  std::unique_ptr<Registry> r = env()->NewRegistry();
  ASSERT_NE(r, nullptr);
  ASSERT_OK(r->Start());
  ASSERT_OK(r->WaitConnected(kDefaultEventuallyTimeout));
  ASSERT_OK(r->Create("/z", ""));
  EventRecorder recorder;
  SessionRecorder sessions;
  ASSERT_OK_AND_ASSIGN(auto subscription, r->Subscribe("/z", {}, recorder.Listener()));
  auto session_handle = r->WatchSession(sessions.Listener());
  ASSERT_EVENTUALLY(recorder.Synced() == 1);

  r->Shutdown();
  r->Shutdown();  // idempotent
  EXPECT_EQ(r->session().state, SessionState::kClosed);
  EXPECT_THAT(r->Get("/z"),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("shut down")));
  EXPECT_THAT(r->Create("/z/x", ""), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(r->Start(), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(r->Subscribe("/z", {}, [](const RegistryEvent&) {}),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(r->WaitConnected(absl::Seconds(1)), StatusIs(absl::StatusCode::kFailedPrecondition));
  bool called = false;
  r->SetAsync("/z", "x", Registry::kAnyVersion, [&](absl::StatusOr<registry::Stat> result) {
    called = true;
    EXPECT_THAT(result, StatusIs(absl::StatusCode::kFailedPrecondition));
  });
  EXPECT_TRUE(called) << "done runs inline after Shutdown()";

  subscription->Resync();  // harmless
  subscription.reset();    // after Shutdown
  r.reset();               // the session handle outlives the registry
  session_handle.reset();
  EXPECT_THAT(recorder.Violations(), IsEmpty());
}

}  // namespace roster::testing
