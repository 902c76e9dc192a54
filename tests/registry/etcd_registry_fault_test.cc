// EtcdRegistry through etcd faults (label `fault`): a connection cut while others write (the
// watch resumes at the next revision, so what was missed arrives as events), the same with the
// history compacted meanwhile (a full re-read finds it, as corrections), a server killed with
// SIGKILL and started again on its data, and a three-member cluster losing its leader.

#include <functional>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "registry/registry.h"
#include "registry/registry_factory.h"
#include "tests/registry/event_recorder.h"
#include "tests/testing/etcd_server.h"
#include "tests/testing/eventually.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/tcp_proxy.h"

namespace roster::testing {
namespace {

using registry::CreateMode;
using registry::CreateOptions;
using registry::EventType;
using registry::Registry;
using registry::RegistryEvent;
using registry::SessionEventType;
using ::testing::IsEmpty;

CreateOptions Ephemeral() {
  CreateOptions options;
  options.mode = CreateMode::kEphemeral;
  return options;
}

class EtcdFaultTest : public ::testing::Test {
 protected:
  void TearDown() override {
    for (auto& registry : registries_) registry->Shutdown();
    registries_.clear();
  }

  Registry* Connect(const std::string& endpoints, const std::string& name) {
    registry::RegistryOptions options;
    options.name = name;
    options.session_timeout = absl::Seconds(10);
    absl::StatusOr<std::unique_ptr<Registry>> created =
        registry::NewRegistry(absl::StrCat("etcd://", endpoints), options);
    if (!created.ok()) {
      ADD_FAILURE() << created.status();
      return nullptr;
    }
    registries_.push_back(*std::move(created));
    Registry* r = registries_.back().get();
    EXPECT_OK(r->Start());
    EXPECT_OK(r->WaitConnected(kDefaultEventuallyTimeout));
    return r;
  }

  // The last event the recorder got for `path` other than kSynced.
  static RegistryEvent LastChange(const EventRecorder& recorder, const std::string& path) {
    RegistryEvent last;
    for (const RegistryEvent& event : recorder.Events()) {
      if (event.type != EventType::kSynced && event.path == path) last = event;
    }
    return last;
  }

  std::vector<std::unique_ptr<Registry>> registries_;
};

// Cuts `reader` off (through `proxy`), lets `writer` add, change and remove nodes under /svc,
// runs `while_cut` and heals. Returns once the reader is back and has re-read everything.
void WriteWhileCut(TcpProxy* proxy, Registry* reader, Registry* writer, SessionRecorder* sessions,
                   EventRecorder* recorder, const std::function<void()>& while_cut) {
  const int synced = recorder->Synced();
  proxy->SetReset(true);
  ASSERT_EVENTUALLY(sessions->Saw(SessionEventType::kSuspended));
  ASSERT_OK(writer->Create("/svc/new", "n"));
  ASSERT_OK(writer->Set("/svc/old", "o2"));
  ASSERT_OK(writer->Delete("/svc/gone"));
  while_cut();
  proxy->SetReset(false);
  ASSERT_EVENTUALLY(sessions->Saw(SessionEventType::kReconnected));
  ASSERT_EVENTUALLY(recorder->Synced() > synced);
  EXPECT_FALSE(sessions->Saw(SessionEventType::kExpired));
  EXPECT_EQ(recorder->View(),
            (std::map<std::string, std::string>{{"/svc/new", "n"}, {"/svc/old", "o2"}}));
  EXPECT_THAT(recorder->Violations(), IsEmpty());
  (void)reader;
}

class EtcdProxyFaultTest : public EtcdFaultTest {
 protected:
  void SetUp() override {
    ASSERT_OK(server_.Start());
    TcpProxyOptions options;
    options.upstream_port = server_.client_port();
    options.name = "etcd-client";
    proxy_ = std::make_unique<TcpProxy>(options);
    ASSERT_OK(proxy_->Start());
    writer_ = Connect(server_.Endpoint(), "writer");
    reader_ = Connect(absl::StrCat("127.0.0.1:", proxy_->port()), "reader");
    ASSERT_NE(writer_, nullptr);
    ASSERT_NE(reader_, nullptr);
    ASSERT_OK(writer_->Create("/svc", ""));
    ASSERT_OK(writer_->Create("/svc/old", "o1"));
    ASSERT_OK(writer_->Create("/svc/gone", "g"));
    session_handle_ = reader_->WatchSession(sessions_.Listener());
    ASSERT_OK_AND_ASSIGN(subscription_, reader_->Subscribe("/svc", {}, recorder_.Listener()));
    ASSERT_EVENTUALLY(recorder_.Synced() >= 1);
  }

  void TearDown() override {
    subscription_.reset();
    session_handle_.reset();
    EtcdFaultTest::TearDown();
    proxy_.reset();
  }

  EtcdServer server_;
  std::unique_ptr<TcpProxy> proxy_;
  Registry* writer_ = nullptr;
  Registry* reader_ = nullptr;
  SessionRecorder sessions_;
  EventRecorder recorder_;
  std::unique_ptr<registry::ListenerHandle> session_handle_;
  std::unique_ptr<registry::Subscription> subscription_;
};

TEST_F(EtcdProxyFaultTest, AResumedWatchReportsWhatWasMissedAsEvents) {
  WriteWhileCut(proxy_.get(), reader_, writer_, &sessions_, &recorder_, [] {});
  // The watch resumed at the revision after the last one it delivered: the changes made
  // while the reader was cut off arrive as the events they are, not as corrections.
  for (const char* path : {"/svc/new", "/svc/old", "/svc/gone"}) {
    EXPECT_FALSE(LastChange(recorder_, path).from_resync) << path;
  }
  EXPECT_EQ(Describe(LastChange(recorder_, "/svc/gone")), "REMOVED /svc/gone=g");
  EXPECT_EQ(Describe(LastChange(recorder_, "/svc/old")), "UPDATED /svc/old=o2");
}

TEST_F(EtcdProxyFaultTest, ACompactedRevisionFallsBackToAFullReread) {
  WriteWhileCut(proxy_.get(), reader_, writer_, &sessions_, &recorder_, [&] {
    ASSERT_OK_AND_ASSIGN(EtcdServer::Status status, server_.GetStatus());
    ASSERT_OK(server_.Compact(status.revision));
  });
  // The history the watch would have replayed is gone: the full re-read found the changes.
  for (const char* path : {"/svc/new", "/svc/old", "/svc/gone"}) {
    EXPECT_TRUE(LastChange(recorder_, path).from_resync) << Describe(LastChange(recorder_, path));
  }
  // And the watch goes on from the present.
  ASSERT_OK(writer_->Set("/svc/new", "n2"));
  ASSERT_EVENTUALLY(recorder_.View().at("/svc/new") == "n2");
  EXPECT_FALSE(LastChange(recorder_, "/svc/new").from_resync);
}

TEST_F(EtcdFaultTest, AKilledServerComesBackWithTheLeaseAndTheView) {
  EtcdServer server;
  ASSERT_OK(server.Start());
  Registry* r = Connect(server.Endpoint(), "survivor");
  ASSERT_NE(r, nullptr);
  SessionRecorder sessions;
  auto session_handle = r->WatchSession(sessions.Listener());
  ASSERT_OK(r->Create("/svc", ""));
  ASSERT_OK(r->Create("/svc/me", "a", Ephemeral()));
  EventRecorder recorder;
  ASSERT_OK_AND_ASSIGN(auto subscription, r->Subscribe("/svc", {}, recorder.Listener()));
  ASSERT_EVENTUALLY(recorder.Synced() >= 1);
  const registry::SessionInfo before = r->session();

  ASSERT_OK(server.Kill());
  ASSERT_EVENTUALLY(sessions.Saw(SessionEventType::kSuspended));
  ASSERT_OK(server.Start());
  ASSERT_EVENTUALLY(sessions.Saw(SessionEventType::kReconnected) && recorder.Synced() >= 2);
  // etcd keeps leases on disk and renews them when a leader takes over: same session.
  EXPECT_FALSE(sessions.Saw(SessionEventType::kExpired));
  EXPECT_EQ(r->session().session_id, before.session_id);
  ASSERT_OK_AND_ASSIGN(registry::Node me, r->Get("/svc/me"));
  EXPECT_EQ(me.stat.ephemeral_owner, before.session_id);
  ASSERT_OK(r->Create("/svc/after", "b"));
  ASSERT_EVENTUALLY(recorder.HasEvent(EventType::kAdded, "/svc/after"));
  EXPECT_FALSE(recorder.HasEvent(EventType::kRemoved, "/svc/me"));
  EXPECT_THAT(recorder.Violations(), IsEmpty());
  subscription.reset();
  session_handle.reset();
  TearDown();
}

TEST_F(EtcdFaultTest, AClusterLosingItsLeaderKeepsTheSession) {
  EtcdCluster cluster(3);
  ASSERT_OK(cluster.Start());
  Registry* r = Connect(cluster.Endpoints(), "member");
  Registry* observer = Connect(cluster.Endpoints(), "observer");
  ASSERT_NE(r, nullptr);
  ASSERT_NE(observer, nullptr);
  SessionRecorder sessions;
  auto session_handle = r->WatchSession(sessions.Listener());
  ASSERT_OK(r->Create("/svc", ""));
  ASSERT_OK(r->Create("/svc/me", "a", Ephemeral()));
  EventRecorder recorder;
  ASSERT_OK_AND_ASSIGN(auto subscription, observer->Subscribe("/svc", {}, recorder.Listener()));
  ASSERT_EVENTUALLY(recorder.Synced() >= 1);
  const registry::SessionInfo before = r->session();

  ASSERT_OK_AND_ASSIGN(int leader, cluster.LeaderIndex());
  ASSERT_OK(cluster.member(leader).Kill());
  // The two others elect a new leader; writes go through again.
  ASSERT_EVENTUALLY(r->Create("/svc/after", "b").ok());
  ASSERT_EVENTUALLY(recorder.HasEvent(EventType::kAdded, "/svc/after"));
  EXPECT_FALSE(sessions.Saw(SessionEventType::kExpired));
  EXPECT_EQ(r->session().session_id, before.session_id);
  ASSERT_OK_AND_ASSIGN(registry::Node me, observer->Get("/svc/me"));
  EXPECT_EQ(me.stat.ephemeral_owner, before.session_id);
  EXPECT_FALSE(recorder.HasEvent(EventType::kRemoved, "/svc/me"));
  EXPECT_THAT(recorder.Violations(), IsEmpty());
  subscription.reset();
  session_handle.reset();
  TearDown();
}

}  // namespace
}  // namespace roster::testing
