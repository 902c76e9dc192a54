// MemoryRegistry beyond the contract suite: its fault hooks (FailNextOperation,
// DropNextWatchEvents, Disconnect/Reconnect, ExpireSession), the session-loss timer on an
// injected clock, chroots, named stores and the digest scheme.

#include "registry/memory/memory_registry.h"

#include <atomic>
#include <memory>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "registry/memory/memory_store_impl.h"
#include "registry/registry_factory.h"
#include "tests/registry/event_recorder.h"
#include "tests/testing/eventually.h"
#include "tests/testing/status_matchers.h"
#include "util/clock.h"

namespace roster::registry {
namespace {

using ::roster::testing::Describe;
using ::roster::testing::EventRecorder;
using ::roster::testing::SessionRecorder;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

CreateOptions Ephemeral() {
  CreateOptions options;
  options.mode = CreateMode::kEphemeral;
  return options;
}

class MemoryRegistryTest : public ::testing::Test {
 protected:
  // A started, connected registry on `store_`.
  MemoryRegistry* Connect(const std::string& name, RegistryOptions options = {},
                          const std::string& chroot = "") {
    options.name = name;
    registries_.push_back(std::make_unique<MemoryRegistry>(store_, chroot, std::move(options)));
    MemoryRegistry* registry = registries_.back().get();
    EXPECT_OK(registry->Start());
    EXPECT_OK(registry->WaitConnected(absl::Seconds(10)));
    return registry;
  }

  void TearDown() override {
    for (auto it = registries_.rbegin(); it != registries_.rend(); ++it) (*it)->Shutdown();
  }

  FakeClock clock_;  // outlives the registries that use it
  std::shared_ptr<MemoryStore> store_ = std::make_shared<MemoryStore>();
  std::vector<std::unique_ptr<MemoryRegistry>> registries_;
};

TEST_F(MemoryRegistryTest, StartDeliversConnectedAndOperationsNeedIt) {
  MemoryRegistry registry(store_, "", RegistryOptions());
  EXPECT_EQ(registry.session().state, SessionState::kConnecting);
  EXPECT_THAT(registry.Get("/"), ::roster::testing::StatusIs(absl::StatusCode::kFailedPrecondition,
                                                             HasSubstr("not started")));
  SessionRecorder sessions;
  auto handle = registry.WatchSession(sessions.Listener());
  ASSERT_OK(registry.Start());
  ASSERT_OK(registry.Start());  // once is enough
  ASSERT_EVENTUALLY(sessions.Events().size() == 1);
  const SessionEvent connected = sessions.Events()[0];
  EXPECT_EQ(connected.type, SessionEventType::kConnected);
  EXPECT_EQ(connected.session, 1u);
  EXPECT_EQ(connected.session_id, registry.session_id());
  EXPECT_EQ(connected.state, SessionState::kConnected);
  EXPECT_OK(registry.Get("/"));

  registry.Shutdown();
  ASSERT_EVENTUALLY(sessions.Saw(SessionEventType::kClosed));
  EXPECT_EQ(registry.session().state, SessionState::kClosed);
}

TEST_F(MemoryRegistryTest, SubscribeBeforeStartSyncsOnceConnected) {
  MemoryRegistry* writer = Connect("writer");
  ASSERT_OK(writer->Create("/early", ""));
  ASSERT_OK(writer->Create("/early/a", "1"));
  MemoryRegistry late(store_, "", RegistryOptions());
  EventRecorder recorder;
  ASSERT_OK_AND_ASSIGN(auto subscription, late.Subscribe("/early", {}, recorder.Listener()));
  ASSERT_OK(late.Start());
  ASSERT_EVENTUALLY(recorder.Synced() >= 1);
  EXPECT_EQ(recorder.SnapshotView(), (std::map<std::string, std::string>{{"/early/a", "1"}}));
  subscription.reset();
  late.Shutdown();
}

TEST_F(MemoryRegistryTest, FailNextOperationFailsExactlyOneOperation) {
  MemoryRegistry* r = Connect("fail");
  ASSERT_OK(r->Create("/f", "x"));
  r->FailNextOperation(absl::UnavailableError("injected"));
  EXPECT_THAT(r->Get("/f"),
              ::roster::testing::StatusIs(absl::StatusCode::kUnavailable, HasSubstr("injected")));
  EXPECT_OK(r->Get("/f"));
  r->FailNextOperation(absl::DeadlineExceededError("slow"));
  EXPECT_THAT(r->Set("/f", "y"), ::roster::testing::StatusIs(absl::StatusCode::kDeadlineExceeded));
  EXPECT_THAT(r->Get("/f"), ::roster::testing::IsOkAndHolds(::testing::Field(&Node::data, "x")))
      << "the failed Set changed nothing";
}

TEST_F(MemoryRegistryTest, AFailedRoundDeliversNoSyncedAndIsRetried) {
  MemoryRegistry* r = Connect("retry");
  ASSERT_OK(r->Create("/f", ""));
  ASSERT_OK(r->Create("/f/a", "1"));
  EventRecorder recorder;
  ASSERT_OK_AND_ASSIGN(auto subscription, r->Subscribe("/f", {}, recorder.Listener()));
  ASSERT_EVENTUALLY(recorder.Synced() == 1);

  // The round's first read (the listing) fails: no kSynced until the retry, after back-off.
  r->FailNextOperation(absl::UnavailableError("injected"));
  const absl::Time resync = absl::Now();
  subscription->Resync();
  ASSERT_EVENTUALLY(recorder.Synced() == 2);
  EXPECT_GE(absl::Now() - resync, absl::Milliseconds(90)) << "kSynced came before the retry";
  EXPECT_THAT(recorder.Changes(), ElementsAre("ADDED /f/a=1")) << "nothing removed";
  EXPECT_THAT(recorder.Violations(), IsEmpty());
}

TEST_F(MemoryRegistryTest, DroppedWatchEventsAreFoundByResyncAsCorrections) {
  MemoryRegistry* r = Connect("drop");
  ASSERT_OK(r->Create("/d", ""));
  ASSERT_OK(r->Create("/d/a", "1"));
  ASSERT_OK(r->Create("/d/b", "2"));
  EventRecorder recorder;
  ASSERT_OK_AND_ASSIGN(auto subscription, r->Subscribe("/d", {}, recorder.Listener()));
  ASSERT_EVENTUALLY(recorder.Synced() == 1);

  r->DropNextWatchEvents(1);  // the data watch of /d/a
  ASSERT_OK(r->Set("/d/a", "1x"));
  r->DropNextWatchEvents(1);  // the child watch of /d
  ASSERT_OK(r->Create("/d/c", "3"));
  subscription->Resync();
  ASSERT_EVENTUALLY(recorder.Synced() == 2);
  // The listing's watch was re-armed by the round; /d/b's deletion fires /d/b's data watch and
  // /d's child watch: drop both.
  r->DropNextWatchEvents(2);
  ASSERT_OK(r->Delete("/d/b"));
  subscription->Resync();
  ASSERT_EVENTUALLY(recorder.Synced() == 3);

  EXPECT_THAT(recorder.Changes(),
              ElementsAre("ADDED /d/a=1", "ADDED /d/b=2", "UPDATED /d/a=1x resync",
                          "ADDED /d/c=3 resync", "REMOVED /d/b=2 resync"));
  EXPECT_EQ(recorder.View(), (std::map<std::string, std::string>{{"/d/a", "1x"}, {"/d/c", "3"}}));
  EXPECT_THAT(recorder.Violations(), IsEmpty());
}

TEST_F(MemoryRegistryTest, DisconnectSuspendsAndReconnectCatchesUp) {
  MemoryRegistry* r = Connect("flaky");
  MemoryRegistry* other = Connect("other");
  ASSERT_OK(r->Create("/x", ""));
  ASSERT_OK(r->Create("/x/old", "o"));
  ASSERT_OK(r->Create("/x/mine", "m", Ephemeral()));
  SessionRecorder sessions;
  auto handle = r->WatchSession(sessions.Listener());
  EventRecorder recorder;
  ASSERT_OK_AND_ASSIGN(auto subscription, r->Subscribe("/x", {}, recorder.Listener()));
  ASSERT_EVENTUALLY(recorder.Synced() == 1);

  r->Disconnect();
  ASSERT_EVENTUALLY(sessions.Saw(SessionEventType::kSuspended));
  EXPECT_EQ(r->session().state, SessionState::kSuspended);
  EXPECT_THAT(r->Get("/x"), ::roster::testing::StatusIs(
                                absl::StatusCode::kUnavailable,
                                HasSubstr("registry 'flaky': not connected (session SUSPENDED)")));
  // Changes while disconnected: the watch events are lost.
  ASSERT_OK(other->Create("/x/new", "n"));
  ASSERT_OK(other->Delete("/x/old"));
  EXPECT_OK(other->Get("/x/mine")) << "the session is still alive on the server";

  r->Reconnect();
  ASSERT_EVENTUALLY(recorder.Synced() == 2);
  EXPECT_THAT(sessions.Types(),
              ElementsAre(SessionEventType::kSuspended, SessionEventType::kReconnected));
  EXPECT_EQ(r->session().session, 1u);
  EXPECT_THAT(recorder.Changes(), ElementsAre("ADDED /x/mine=m", "ADDED /x/old=o",
                                              "REMOVED /x/old=o resync", "ADDED /x/new=n resync"));
  EXPECT_THAT(recorder.Violations(), IsEmpty());
}

TEST_F(MemoryRegistryTest, SuspendedLongerThanTheSessionTimeoutIsLostThenExpires) {
  FakeClock& clock = clock_;
  RegistryOptions options;
  options.clock = &clock;
  options.session_timeout = absl::Seconds(2);
  MemoryRegistry* r = Connect("lost", options);
  MemoryRegistry* watcher = Connect("watcher");
  ASSERT_OK(r->Create("/l", ""));
  ASSERT_OK(r->Create("/l/e", "hb", Ephemeral()));
  SessionRecorder sessions;
  auto handle = r->WatchSession(sessions.Listener());
  EventRecorder recorder;
  ASSERT_OK_AND_ASSIGN(auto subscription, watcher->Subscribe("/l", {}, recorder.Listener()));
  ASSERT_EVENTUALLY(recorder.Synced() == 1);

  r->Disconnect();
  ASSERT_EVENTUALLY(sessions.Saw(SessionEventType::kSuspended));
  EXPECT_EQ(r->session().state_since, clock.Now());
  clock.Advance(absl::Seconds(2) - absl::Nanoseconds(1));
  // Just short of the timeout the loss timer (on this clock) is not due. r->Get() fails
  // (disconnected), but its answer comes through r's executor after any timer that was due.
  EXPECT_THAT(r->Get("/l/e"), ::roster::testing::StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_EQ(r->session().state, SessionState::kSuspended);
  ASSERT_OK(watcher->Get("/l/e")) << "the session still holds its ephemeral";
  // The timeout: the timer fires on the registry's executor.
  clock.Advance(absl::Nanoseconds(1));
  ASSERT_EVENTUALLY(r->session().state == SessionState::kLost);
  EXPECT_EQ(r->session().state_since, clock.Now());
  // The server expired the session: others see the ephemeral go.
  ASSERT_EVENTUALLY(recorder.HasEvent(EventType::kRemoved, "/l/e"));

  r->Reconnect();
  ASSERT_EVENTUALLY(sessions.Events().size() == 4);
  EXPECT_EQ(r->session().state, SessionState::kConnected);
  EXPECT_THAT(sessions.Types(),
              ElementsAre(SessionEventType::kSuspended, SessionEventType::kLost,
                          SessionEventType::kExpired, SessionEventType::kConnected));
  EXPECT_EQ(r->session().session, 2u);
  ASSERT_EVENTUALLY(recorder.View().count("/l/e") > 0);
  ASSERT_OK_AND_ASSIGN(Node recreated, watcher->Get("/l/e"));
  EXPECT_EQ(recreated.data, "hb");
  EXPECT_EQ(recreated.stat.ephemeral_owner, r->session_id());
}

TEST_F(MemoryRegistryTest, ExpiryWhileDisconnectedIsToldOnReconnect) {
  MemoryRegistry* r = Connect("away");
  MemoryRegistry* watcher = Connect("watcher");
  ASSERT_OK(r->Create("/w", "", Ephemeral()));
  SessionRecorder sessions;
  auto handle = r->WatchSession(sessions.Listener());
  r->Disconnect();
  store_->ExpireSession(r->session_id());
  EXPECT_THAT(watcher->Exists("/w"), ::roster::testing::IsOkAndHolds(std::optional<Stat>()));
  EXPECT_EQ(r->session().state, SessionState::kSuspended) << "the client cannot know yet";
  r->Reconnect();
  ASSERT_EVENTUALLY(sessions.Events().size() == 3);
  EXPECT_THAT(sessions.Types(),
              ElementsAre(SessionEventType::kSuspended, SessionEventType::kExpired,
                          SessionEventType::kConnected));
  EXPECT_OK(watcher->Get("/w"));
}

TEST_F(MemoryRegistryTest, OnlyPlainEphemeralsStillOwnedAreRecreated) {
  MemoryRegistry* r = Connect("owner");
  ASSERT_OK(r->Create("/k", ""));
  ASSERT_OK(r->Create("/k/kept", "1", Ephemeral()));
  ASSERT_OK(r->Create("/k/deleted", "2", Ephemeral()));
  ASSERT_OK(r->Delete("/k/deleted"));
  CreateOptions sequential;
  sequential.mode = CreateMode::kEphemeralSequential;
  ASSERT_OK_AND_ASSIGN(std::string seq, r->Create("/k/seq-", "3", sequential));
  const uint64_t before = r->session().session;
  r->ExpireSession();
  ASSERT_EVENTUALLY(r->session().session == before + 1);
  ASSERT_OK_AND_ASSIGN(Children children, r->GetChildren("/k"));
  EXPECT_THAT(children.names, ElementsAre("kept"));
  EXPECT_EQ(store_->NodeCount(), 2u);
}

TEST_F(MemoryRegistryTest, ChrootMakesPathsRelative) {
  MemoryRegistry* admin = Connect("admin");
  ASSERT_OK(admin->Create("/app", ""));
  MemoryRegistry* app = Connect("app", {}, "/app");
  EventRecorder recorder;
  ASSERT_OK_AND_ASSIGN(auto subscription, app->Subscribe("/", {}, recorder.Listener()));
  ASSERT_EVENTUALLY(recorder.Synced() == 1);

  EXPECT_THAT(app->Create("/x", "1"), ::roster::testing::IsOkAndHolds(std::string("/x")));
  CreateOptions sequential;
  sequential.mode = CreateMode::kPersistentSequential;
  EXPECT_THAT(app->Create("/s-", "", sequential),
              ::roster::testing::IsOkAndHolds(std::string("/s-0000000001")));
  ASSERT_OK_AND_ASSIGN(Node x, app->Get("/x"));
  EXPECT_EQ(x.path, "/x");
  EXPECT_THAT(admin->Get("/app/x"),
              ::roster::testing::IsOkAndHolds(::testing::Field(&Node::data, "1")));
  EXPECT_THAT(app->Get("/app"),
              ::roster::testing::StatusIs(absl::StatusCode::kNotFound, HasSubstr("'/app'")));
  ASSERT_EVENTUALLY(recorder.HasEvent(EventType::kAdded, "/x"));
  ASSERT_EVENTUALLY(recorder.HasEvent(EventType::kAdded, "/s-0000000001"));
}

TEST_F(MemoryRegistryTest, NamedStoresAreSharedAndUnnamedOnesPrivate) {
  // Named stores live until exit: a name of its own per run (--gtest_repeat).
  static int run = 0;
  const std::string uri = absl::StrCat("memory://memory-registry-test-shared-", run++);
  auto first = NewRegistry(uri, {});
  auto second = NewRegistry(uri, {});
  auto lonely = NewRegistry("memory://", {});
  ASSERT_OK(first.status());
  ASSERT_OK(second.status());
  ASSERT_OK(lonely.status());
  for (auto* r : {&*first, &*second, &*lonely}) ASSERT_OK((*r)->Start());
  ASSERT_OK((*first)->Create("/shared", "yes"));
  EXPECT_THAT((*second)->Get("/shared"),
              ::roster::testing::IsOkAndHolds(::testing::Field(&Node::data, "yes")));
  EXPECT_THAT((*lonely)->Get("/shared"), ::roster::testing::StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(MemoryRegistryTest, DigestIdsAreZooKeepers) {
  // base64(sha1("alice:secret")), as ZooKeeper's DigestAuthenticationProvider computes it.
  EXPECT_EQ(memory_internal::DigestId("alice:secret"), "alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E=");
  RegistryOptions bob_options;
  bob_options.digest = "bob:pw";
  MemoryRegistry* owner = Connect("owner");
  MemoryRegistry* bob = Connect("bob", bob_options);
  CreateOptions for_bob;
  for_bob.acl = std::vector<Acl>{Acl{Acl::kRead, "digest", memory_internal::DigestId("bob:pw")}};
  ASSERT_OK(owner->Create("/for-bob", "hi", for_bob));
  EXPECT_THAT(bob->Get("/for-bob"),
              ::roster::testing::IsOkAndHolds(::testing::Field(&Node::data, "hi")));
  EXPECT_THAT(bob->Set("/for-bob", "x"),
              ::roster::testing::StatusIs(absl::StatusCode::kPermissionDenied,
                                          HasSubstr("no WRITE permission")));
  EXPECT_THAT(owner->Get("/for-bob"),
              ::roster::testing::StatusIs(absl::StatusCode::kPermissionDenied,
                                          HasSubstr("check the registry digest credentials")));
}

TEST_F(MemoryRegistryTest, NoWatchNotificationAboutAnUnreadableNode) {
  RegistryOptions alice_options;
  alice_options.digest = "alice:secret";
  MemoryRegistry* alice = Connect("alice", alice_options);
  MemoryRegistry* outsider = Connect("outsider");
  CreateOptions open;
  open.acl = Acl::Open();
  ASSERT_OK(alice->Create("/acl", "", open));
  ASSERT_OK(alice->Create("/acl/secret", "1"));  // creator only
  EventRecorder recorder;
  ASSERT_OK_AND_ASSIGN(auto subscription, outsider->Subscribe("/acl", {}, recorder.Listener()));
  ASSERT_EVENTUALLY(recorder.Synced() == 1);

  ASSERT_OK_AND_ASSIGN(Stat updated, alice->Set("/acl/secret", "2"));
  ASSERT_OK(alice->Create("/acl/public", "p", open));  // a barrier the outsider does see
  ASSERT_EVENTUALLY(recorder.HasEvent(EventType::kAdded, "/acl/public"));
  EXPECT_FALSE(recorder.HasEvent(EventType::kUpdated, "/acl/secret"))
      << "the exists() watch on an unreadable node stays silent, as in ZooKeeper";

  subscription->Resync();
  ASSERT_EVENTUALLY(recorder.Synced() == 2);
  const RegistryEvent secret = recorder.ViewEvents().at("/acl/secret");
  EXPECT_EQ(secret.stat.mzxid, updated.mzxid);
  EXPECT_EQ(secret.read_error.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(Describe(recorder.Events().at(recorder.Events().size() - 2)),
            "UPDATED /acl/secret= resync error=PERMISSION_DENIED");
}

TEST_F(MemoryRegistryTest, TenThousandChildrenArePipelined) {
  RegistryOptions options;
  options.max_in_flight = 16;
  MemoryRegistry* writer = Connect("writer");
  MemoryRegistry* reader = Connect("reader", options);
  ASSERT_OK(writer->Create("/many", ""));
  std::atomic<int> pending{0};
  for (int i = 0; i < 10000; ++i) {
    ++pending;
    writer->CreateAsync(absl::StrCat("/many/n", i), absl::StrCat(i), Ephemeral(),
                        [&](absl::StatusOr<std::string> result) {
                          EXPECT_OK(result.status());
                          --pending;
                        });
  }
  ASSERT_EVENTUALLY(pending.load() == 0);
  EventRecorder recorder;
  ASSERT_OK_AND_ASSIGN(auto subscription, reader->Subscribe("/many", {}, recorder.Listener()));
  ASSERT_EVENTUALLY(recorder.Synced() == 1);
  ASSERT_EQ(recorder.LastSnapshot()->size(), 10000u);
  EXPECT_EQ(recorder.View().at("/many/n4242"), "4242");
  // The writer's exit removes them all.
  writer->Shutdown();
  ASSERT_EVENTUALLY(recorder.View().empty());
  EXPECT_THAT(recorder.Violations(), IsEmpty());
}

}  // namespace
}  // namespace roster::registry
