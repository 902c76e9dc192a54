// ZooKeeperRegistry behaviour that only a real ZooKeeper shows (the shared behaviour is in the
// contract suite): the session-loss timer while the server is frozen, operation timeouts,
// the in-flight bound, chroot, and a 3-server ensemble losing its leader.
// Label `integration`: every test starts its own servers on free loopback ports.

#include "registry/zookeeper/zookeeper_registry.h"

#include <algorithm>
#include <atomic>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "glog/logging.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "registry/registry.h"
#include "registry/registry_factory.h"
#include "tests/registry/event_recorder.h"
#include "tests/registry/zookeeper_sessions_fixture.h"
#include "tests/testing/eventually.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/zookeeper_server.h"
#include "util/clock.h"

namespace roster::testing {
namespace {

using registry::CreateMode;
using registry::CreateOptions;
using registry::EventType;
using registry::Registry;
using registry::RegistryOptions;
using registry::SessionEventType;
using registry::SessionState;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

CreateOptions Ephemeral() {
  CreateOptions options;
  options.mode = CreateMode::kEphemeral;
  return options;
}

class ZooKeeperRegistryTest : public ZooKeeperSessionsTest {
 protected:
  FakeClock clock_;  // for registries that take it; they are shut down in TearDown
};

// The loss timer runs on the registry's injected clock: with a FakeClock, kLost comes when the
// test advances the clock by the negotiated timeout, long before that much real time passes.
TEST_F(ZooKeeperRegistryTest, TheLossTimerRunsOnTheInjectedClock) {
  ZooKeeperServer& server = StartServer();
  FakeClock& clock = clock_;
  RegistryOptions options = Options("worker", absl::Seconds(30));
  options.clock = &clock;
  Registry* worker = Open(server.ConnectString(), options);
  ASSERT_NE(worker, nullptr);
  SessionRecorder sessions;
  auto session_handle = worker->WatchSession(sessions.Listener());

  ASSERT_OK(server.Stop());  // the connection drops at once
  ASSERT_EVENTUALLY(sessions.Saw(SessionEventType::kSuspended));
  const absl::Time suspended_at = absl::Now();
  EXPECT_EQ(worker->session().state_since, clock.Now());
  clock.Advance(absl::Seconds(30) - absl::Nanoseconds(1));
  EXPECT_EQ(worker->session().state, SessionState::kSuspended);
  clock.Advance(absl::Nanoseconds(1));
  ASSERT_EVENTUALLY(sessions.Saw(SessionEventType::kLost));
  EXPECT_LT(absl::Now() - suspended_at, absl::Seconds(30)) << "driven by the fake clock";
  EXPECT_THAT(sessions.Types(),
              ::testing::ElementsAre(SessionEventType::kSuspended, SessionEventType::kLost));
  EXPECT_EQ(worker->session().state_since, clock.Now());
}

// The C client never gives up on a session by itself while the server does not answer: the
// registry's own timer reports kLost after the negotiated timeout. When the server comes back
// it normally expires the session at once; the registry starts a new one and re-creates its
// ephemerals before the subscriptions re-read. (Rarely the client's reconnect reaches the
// resumed server before its session expirer runs, and the server keeps the session: then
// kReconnected follows kLost, which the contract allows. Both paths must end with the
// ephemeral present, owned by the live session, and seen by the subscription.)
TEST_F(ZooKeeperRegistryTest, FrozenServerLosesTheSessionThenRecoversWithItsEphemerals) {
  ZooKeeperServer& server = StartServer();
  ASSERT_TRUE(server.running());
  Registry* worker = Open(server.ConnectString(), Options("worker", absl::Seconds(2)));
  ASSERT_NE(worker, nullptr);
  SessionRecorder sessions;
  auto session_handle = worker->WatchSession(sessions.Listener());
  ASSERT_OK(worker->Create("/nodes", ""));
  ASSERT_OK(worker->Create("/nodes/10.0.0.21:1234", "hb-1", Ephemeral()));
  ASSERT_OK(worker->Set("/nodes/10.0.0.21:1234", "hb-2"));
  ASSERT_OK_AND_ASSIGN(registry::Node before_node, worker->Get("/nodes/10.0.0.21:1234"));
  EventRecorder recorder;
  ASSERT_OK_AND_ASSIGN(auto subscription, worker->Subscribe("/nodes", {}, recorder.Listener()));
  ASSERT_EVENTUALLY(recorder.Synced() == 1);
  const registry::SessionInfo before = worker->session();

  ASSERT_OK(server.Pause());
  const absl::Time paused_at = absl::Now();
  ASSERT_EVENTUALLY(sessions.Saw(SessionEventType::kLost));
  // The connection loss takes 2/3 of the timeout to notice, kLost a full timeout more.
  EXPECT_GE(absl::Now() - paused_at, absl::Seconds(2));
  EXPECT_THAT(sessions.Types(),
              ::testing::ElementsAre(SessionEventType::kSuspended, SessionEventType::kLost));
  EXPECT_EQ(worker->session().state, SessionState::kLost);
  EXPECT_EQ(worker->session().session, before.session);

  ASSERT_OK(server.Resume());
  // The resumed server may accept the old session's reconnect and expire it a moment later
  // (its session expiry runs as it resumes): the first kReconnected is not necessarily the end.
  // Settled: connected, and the ephemeral is there, owned by the session the registry reports.
  registry::Node node;
  ASSERT_EVENTUALLY([&] {
    const registry::SessionInfo now = worker->session();
    absl::StatusOr<registry::Node> got = worker->Get("/nodes/10.0.0.21:1234");
    if (now.state != SessionState::kConnected || !got.ok()) return false;
    node = *std::move(got);
    return node.stat.ephemeral_owner == now.session_id;
  }());
  const registry::SessionInfo after = worker->session();
  EXPECT_EQ(node.data, "hb-2");
  std::vector<SessionEventType> types = sessions.Types();
  ASSERT_GE(types.size(), 3u);
  EXPECT_THAT(std::vector<SessionEventType>(types.begin(), types.begin() + 2),
              ::testing::ElementsAre(SessionEventType::kSuspended, SessionEventType::kLost));
  if (sessions.Saw(SessionEventType::kExpired)) {
    // Between kLost and the expiry, at most a reconnect the server then took back.
    EXPECT_THAT(std::vector<SessionEventType>(types.end() - 2, types.end()),
                ::testing::ElementsAre(SessionEventType::kExpired, SessionEventType::kConnected));
    for (size_t i = 2; i + 2 < types.size(); ++i) {
      EXPECT_THAT(types[i],
                  ::testing::AnyOf(SessionEventType::kReconnected, SessionEventType::kSuspended))
          << "event " << i;
    }
    EXPECT_EQ(after.session, before.session + 1);
    EXPECT_NE(after.session_id, before.session_id);
    // Re-created in the new session before kConnected, so the subscription's re-read found it.
    EXPECT_GT(node.stat.czxid, before_node.stat.czxid);
  } else {
    LOG(WARNING) << "the resumed server kept the session (the client reconnected first)";
    EXPECT_THAT(types, ::testing::ElementsAre(SessionEventType::kSuspended, SessionEventType::kLost,
                                              SessionEventType::kReconnected));
    EXPECT_EQ(after.session, before.session);
    EXPECT_EQ(node.stat.czxid, before_node.stat.czxid);
  }
  ASSERT_EVENTUALLY(recorder.Synced() >= 2 && recorder.LastSnapshot()->size() == 1 &&
                    recorder.LastSnapshot()->front().stat.czxid == node.stat.czxid);
  EXPECT_EQ(recorder.LastSnapshot()->front().session, after.session);
  EXPECT_EQ(recorder.View(),
            (std::map<std::string, std::string>{{"/nodes/10.0.0.21:1234", "hb-2"}}));
  EXPECT_THAT(recorder.Violations(), IsEmpty());
}

// An operation the server does not answer fails with DeadlineExceeded after the operation
// timeout, long before the C client notices the dead connection; its late answer is dropped.
TEST_F(ZooKeeperRegistryTest, UnansweredOperationsFailWithDeadlineExceeded) {
  ZooKeeperServer& server = StartServer();
  ASSERT_TRUE(server.running());
  RegistryOptions options = Options("timeouts", absl::Seconds(20));
  options.operation_timeout = absl::Milliseconds(800);
  Registry* r = Open(server.ConnectString(), options);
  ASSERT_NE(r, nullptr);
  ASSERT_OK(r->Create("/a", "x"));

  ASSERT_OK(server.Pause());
  std::atomic<int> calls{0};
  absl::Notification done;
  absl::Status result;
  const absl::Time start = absl::Now();
  r->GetAsync("/a", [&](absl::StatusOr<registry::Node> node) {
    if (calls.fetch_add(1) == 0) {
      result = node.status();
      done.Notify();
    }
  });
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  const absl::Duration elapsed = absl::Now() - start;
  EXPECT_THAT(result,
              StatusIs(absl::StatusCode::kDeadlineExceeded,
                       ::testing::AllOf(HasSubstr("get '/a'"), HasSubstr("operation timeout"))));
  EXPECT_GE(elapsed, absl::Milliseconds(700));
  EXPECT_LT(elapsed, absl::Seconds(5));
  // A synchronous write times out the same way.
  EXPECT_THAT(r->Set("/a", "y"), StatusIs(absl::StatusCode::kDeadlineExceeded, HasSubstr("/a")));

  ASSERT_OK(server.Resume());
  // The queued requests are answered now; their callbacks must not run a second time.
  ASSERT_EVENTUALLY(r->Get("/a").ok());
  ASSERT_OK(r->WaitConnected(kDefaultEventuallyTimeout));
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(r->session().state, SessionState::kConnected);
}

// With the server down, operations fail fast with Unavailable rather than waiting out the
// timeout, and the registry reconnects by itself when the server returns.
TEST_F(ZooKeeperRegistryTest, OperationsFailFastWhileTheServerIsDown) {
  ZooKeeperServer& server = StartServer();
  ASSERT_TRUE(server.running());
  RegistryOptions options = Options("down", absl::Seconds(20));
  options.operation_timeout = absl::Seconds(30);
  Registry* r = Open(server.ConnectString(), options);
  ASSERT_NE(r, nullptr);
  ASSERT_OK(server.Stop());
  ASSERT_EVENTUALLY(r->session().state == SessionState::kSuspended);
  const absl::Time start = absl::Now();
  EXPECT_THAT(r->Get("/"), StatusIs(absl::StatusCode::kUnavailable, HasSubstr("get '/'")));
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  ASSERT_OK(server.Start());
  ASSERT_OK(r->WaitConnected(kDefaultEventuallyTimeout));
  EXPECT_OK(r->Get("/").status());
}

// A registry started before its server connects once the server is up; operations issued
// before Start() wait for it rather than fail.
TEST_F(ZooKeeperRegistryTest, StartsBeforeTheServerAndQueuesEarlyOperations) {
  ZooKeeperServer& server = StartServer();
  ASSERT_OK(server.Stop());  // keeps its port
  absl::StatusOr<std::unique_ptr<Registry>> created =
      registry::NewRegistry(absl::StrCat("zk://", server.ConnectString()), Options("early"));
  ASSERT_OK(created.status());
  Registry* r = created->get();
  absl::Notification early_done;
  absl::Status early;
  r->ExistsAsync("/", [&](absl::StatusOr<std::optional<registry::Stat>> stat) {
    early = stat.status();
    early_done.Notify();
  });
  ASSERT_OK(r->Start());
  EXPECT_EQ(r->session().state, SessionState::kConnecting);
  ASSERT_OK(server.Start());
  ASSERT_OK(r->WaitConnected(kDefaultEventuallyTimeout));
  EXPECT_OK(r->Get("/").status());
  ASSERT_TRUE(early_done.WaitForNotificationWithTimeout(kDefaultEventuallyTimeout));
  // Sent while no server listened (Unavailable) or after the connection (OK): answered.
  EXPECT_TRUE(early.ok() || absl::IsUnavailable(early)) << early;
  r->Shutdown();
}

// A registry that is never started still answers every operation, at Shutdown() at the
// latest, and its destructor does not hang.
TEST_F(ZooKeeperRegistryTest, NeverStartedRegistryCancelsQueuedOperations) {
  absl::StatusOr<std::unique_ptr<Registry>> created =
      registry::NewRegistry("zk://127.0.0.1:1", Options("never-started"));
  ASSERT_OK(created.status());
  std::atomic<int> cancelled{0};
  for (int i = 0; i < 3; ++i) {
    (*created)->GetAsync("/a", [&](absl::StatusOr<registry::Node> node) {
      if (absl::IsCancelled(node.status())) ++cancelled;
    });
  }
  created->reset();  // Shutdown() in the destructor
  EXPECT_EQ(cancelled.load(), 3);
}

// 10,000 pipelined reads through a small in-flight bound: all succeed, answered in the order
// they were issued (the queue is FIFO and ZooKeeper answers a session in order).
TEST_F(ZooKeeperRegistryTest, ManyPipelinedReadsStayWithinTheInFlightBound) {
  ZooKeeperServer& server = StartServer();
  ASSERT_TRUE(server.running());
  RegistryOptions options = Options("pipeline");
  options.max_in_flight = 64;
  Registry* r = Open(server.ConnectString(), options);
  ASSERT_NE(r, nullptr);
  constexpr int kNodes = 100;
  constexpr int kReads = 10000;
  ASSERT_OK(r->Create("/p", ""));
  for (int i = 0; i < kNodes; ++i) ASSERT_OK(r->Create(absl::StrCat("/p/n", i), absl::StrCat(i)));

  absl::Mutex mu;
  std::vector<int> order;
  int failures = 0;
  int wrong_data = 0;
  order.reserve(kReads);
  for (int i = 0; i < kReads; ++i) {
    const int n = i % kNodes;
    r->GetAsync(absl::StrCat("/p/n", n), [&, i, n](absl::StatusOr<registry::Node> node) {
      absl::MutexLock lock(&mu);
      order.push_back(i);
      if (!node.ok()) {
        ++failures;
      } else if (node->data != absl::StrCat(n)) {
        ++wrong_data;
      }
    });
  }
  ASSERT_EVENTUALLY_WITHIN(absl::Seconds(60), [&] {
    absl::MutexLock lock(&mu);
    return order.size() == static_cast<size_t>(kReads);
  }());
  absl::MutexLock lock(&mu);
  EXPECT_EQ(failures, 0);
  EXPECT_EQ(wrong_data, 0);
  EXPECT_TRUE(std::is_sorted(order.begin(), order.end())) << "answers out of order";
}

// A chroot in the URI makes every path, result and watch event relative to it.
TEST_F(ZooKeeperRegistryTest, ChrootScopesPathsResultsAndWatchEvents) {
  ZooKeeperServer& server = StartServer();
  ASSERT_TRUE(server.running());
  Registry* root = Open(server.ConnectString(), Options("root"));
  ASSERT_NE(root, nullptr);
  ASSERT_OK(root->Create("/dolphinscheduler", ""));
  Registry* scoped = Open(server.ConnectString() + "/dolphinscheduler", Options("scoped"));
  ASSERT_NE(scoped, nullptr);

  EventRecorder recorder;
  CreateOptions with_parents = Ephemeral();
  with_parents.create_parents = true;
  ASSERT_OK_AND_ASSIGN(std::string created,
                       scoped->Create("/nodes/worker/10.0.0.21:1234", "hb", with_parents));
  EXPECT_EQ(created, "/nodes/worker/10.0.0.21:1234");
  ASSERT_OK_AND_ASSIGN(auto subscription,
                       scoped->Subscribe("/nodes/worker", {}, recorder.Listener()));
  ASSERT_EVENTUALLY(recorder.Synced() == 1);
  EXPECT_EQ(recorder.View(),
            (std::map<std::string, std::string>{{"/nodes/worker/10.0.0.21:1234", "hb"}}));

  // Seen from outside the chroot.
  ASSERT_OK_AND_ASSIGN(registry::Node node,
                       root->Get("/dolphinscheduler/nodes/worker/10.0.0.21:1234"));
  EXPECT_EQ(node.data, "hb");
  // Changes made outside reach the scoped subscription under scoped paths.
  ASSERT_OK(root->Create("/dolphinscheduler/nodes/worker/10.0.0.22:1234", "other"));
  ASSERT_EVENTUALLY(recorder.HasEvent(EventType::kAdded, "/nodes/worker/10.0.0.22:1234"));
  ASSERT_OK_AND_ASSIGN(registry::Children top, scoped->GetChildren("/"));
  EXPECT_THAT(top.names, ::testing::ElementsAre("nodes"));
  EXPECT_THAT(scoped->Get("/missing"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("get '/missing'")));
  EXPECT_THAT(recorder.Violations(), IsEmpty());
}

// A missing chroot cannot be created from inside it: the error says so, not "no node '/x'".
TEST_F(ZooKeeperRegistryTest, AMissingChrootIsNamedInTheError) {
  ZooKeeperServer& server = StartServer();
  ASSERT_TRUE(server.running());
  Registry* scoped = Open(server.ConnectString() + "/dolphinscheduler", Options("scoped"));
  ASSERT_NE(scoped, nullptr);
  CreateOptions with_parents = Ephemeral();
  with_parents.create_parents = true;
  EXPECT_THAT(scoped->Create("/nodes/worker/10.0.0.21:1234", "hb", with_parents),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("the chroot '/dolphinscheduler' does not exist")));
}

// A 3-server ensemble loses its leader: the ensemble re-elects, the registry keeps its session
// (reconnecting elsewhere if it was on the leader), and the subscription keeps reporting
// changes without ever reporting a live node as removed.
TEST_F(ZooKeeperRegistryTest, EnsembleSurvivesTheLossOfItsLeader) {
  ensemble_ = std::make_unique<ZooKeeperEnsemble>(3);
  ZooKeeperEnsemble& ensemble = *ensemble_;
  ASSERT_OK(ensemble.Start());
  Registry* watcher = Open(ensemble.ConnectString(), Options("watcher"));
  Registry* worker = Open(ensemble.ConnectString(), Options("worker"));
  ASSERT_NE(watcher, nullptr);
  ASSERT_NE(worker, nullptr);
  SessionRecorder sessions;
  auto session_handle = watcher->WatchSession(sessions.Listener());
  ASSERT_OK(worker->Create("/nodes", ""));
  for (int i = 0; i < 5; ++i) {
    ASSERT_OK(worker->Create(absl::StrCat("/nodes/10.0.0.", i, ":1234"), "hb", Ephemeral()));
  }
  EventRecorder recorder;
  ASSERT_OK_AND_ASSIGN(auto subscription, watcher->Subscribe("/nodes", {}, recorder.Listener()));
  ASSERT_EVENTUALLY(recorder.Synced() == 1);
  EXPECT_EQ(recorder.View().size(), 5u);
  const registry::SessionInfo watcher_before = watcher->session();
  const registry::SessionInfo worker_before = worker->session();

  ASSERT_OK_AND_ASSIGN(int leader, ensemble.LeaderIndex());
  ASSERT_OK(ensemble.member(leader).Kill());
  // A new leader among the two survivors.
  // One answer per check: a second query may find no leader again (an election in progress).
  absl::StatusOr<int> new_leader;
  ASSERT_EVENTUALLY((new_leader = ensemble.LeaderIndex()).ok() && *new_leader != leader);

  // Changes keep flowing: a write through the worker (retried while it fails over) shows up.
  ASSERT_EVENTUALLY(worker->Create("/nodes/10.0.0.9:1234", "late", Ephemeral()).ok() ||
                    worker->Exists("/nodes/10.0.0.9:1234").value_or(std::nullopt).has_value());
  ASSERT_OK(worker->Set("/nodes/10.0.0.1:1234", "hb-2"));
  ASSERT_EVENTUALLY(recorder.HasEvent(EventType::kAdded, "/nodes/10.0.0.9:1234") &&
                    recorder.View()["/nodes/10.0.0.1:1234"] == "hb-2");
  EXPECT_EQ(recorder.View().size(), 6u);
  for (const std::string& change : recorder.Changes()) {
    EXPECT_THAT(change, ::testing::Not(::testing::StartsWith("REMOVED"))) << "spurious removal";
  }
  // Same sessions: nothing expired.
  EXPECT_FALSE(sessions.Saw(SessionEventType::kExpired));
  EXPECT_EQ(watcher->session().session_id, watcher_before.session_id);
  EXPECT_EQ(worker->session().session_id, worker_before.session_id);
  EXPECT_THAT(recorder.Violations(), IsEmpty());
}

// A real AUTH_FAILED: a server with digest authentication disabled
// (zookeeper.DigestAuthenticationProvider.enabled=false) answers our addauth with AUTHFAILED
// and closes the connection. The C client reports the handshake first, so the session is
// announced CONNECTED and then, once the server has answered the addauth, AUTH_FAILED: terminal,
// every operation fails with Unauthenticated naming the flag to fix, and nothing reconnects.
TEST_F(ZooKeeperRegistryTest, ASchemeTheServerRejectsEndsTheSessionAsAuthFailed) {
  ZooKeeperServerOptions server_options;
  server_options.system_properties = {{"zookeeper.DigestAuthenticationProvider.enabled", "false"}};
  server_ = std::make_unique<ZooKeeperServer>(server_options);
  ASSERT_OK(server_->Start());
  // Without credentials the same server serves: the failure is the digest, not the server.
  Registry* anonymous = Open(server_->ConnectString(), Options("anonymous"));
  ASSERT_NE(anonymous, nullptr);
  ASSERT_OK(anonymous->Create("/probe", ""));

  RegistryOptions options = Options("digest");
  options.digest = "dolphin:s3cret";
  absl::StatusOr<std::unique_ptr<Registry>> created =
      registry::NewRegistry(absl::StrCat("zk://", server_->ConnectString()), options);
  ASSERT_OK(created.status());
  Registry* registry = created->get();
  registries_.push_back(*std::move(created));
  absl::Mutex mu;
  std::vector<std::pair<SessionEventType, absl::Time>> events;
  auto session_handle = registry->WatchSession([&](const registry::SessionEvent& event) {
    absl::MutexLock lock(&mu);
    events.emplace_back(event.type, absl::Now());
  });
  ASSERT_OK(registry->Start());
  ASSERT_EVENTUALLY(registry->session().state == SessionState::kAuthFailed);
  EXPECT_THAT(registry->WaitConnected(absl::Seconds(1)),
              StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_THAT(registry->Get("/probe"),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("--zk_digest_file")));
  absl::MutexLock lock(&mu);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().first, SessionEventType::kAuthFailed);
  if (events.size() == 2 && events.front().first == SessionEventType::kConnected) {
    std::cout << "[measured] connected_to_auth_failed_ms: "
              << absl::ToDoubleMilliseconds(events.back().second - events.front().second)
              << std::endl;
  }
  EXPECT_LE(events.size(), 2u) << "CONNECTED at most, then AUTH_FAILED; nothing after";
}

}  // namespace
}  // namespace roster::testing
