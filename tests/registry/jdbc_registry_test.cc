// JdbcRegistry against real PostgreSQL and MariaDB servers holding DolphinScheduler 3.3's JDBC
// registry tables, created with DS's own schema files
// (tests/data/dolphinscheduler/schema/*/jdbc_registry_dev.sql) and written the way DS's
// servers write them (tests/registry/ds_jdbc_writer.h). Every scenario runs on both databases.
//
// What the registry contract suite checks that cannot hold here (docs/registry-jdbc.md): writes
// (roster reads a DS JDBC registry, it does not write it), server-side session expiry of a
// client (DS's clients are DS's), ACLs, sequential nodes. The scenarios below are the contract's
// read side: a tree with parents, Stats, subscriptions (kAdded, kSynced, kUpdated, kRemoved
// with the last data), and the session states driven by the database's health.
#include <sys/stat.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "registry/registry.h"
#include "registry/registry_factory.h"
#include "tests/registry/ds_jdbc_writer.h"
#include "tests/registry/event_recorder.h"
#include "tests/testing/eventually.h"
#include "tests/testing/mariadb_server.h"
#include "tests/testing/ports.h"
#include "tests/testing/postgres_server.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace roster::testing {
namespace {

using registry::EventType;
using registry::SessionEventType;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kPassword[] = "Jdbc-4c1e7a-never-shown";
constexpr int64_t kMasterClient = 1730000000001;
constexpr int64_t kWorkerClient = 1730000000002;
constexpr int64_t kOtherWorkerClient = 1730000000003;

template <typename Server>
struct Database;

template <>
struct Database<PostgresServer> {
  static constexpr char kSchemaDir[] = "postgresql";
  static constexpr char kScheme[] = "postgresql";
  static std::unique_ptr<PostgresServer> New() {
    PostgresServerOptions options;
    options.password = kPassword;
    return std::make_unique<PostgresServer>(options);
  }
};

template <>
struct Database<MariaDbServer> {
  static constexpr char kSchemaDir[] = "mysql";
  static constexpr char kScheme[] = "mysql";
  static std::unique_ptr<MariaDbServer> New() {
    MariaDbServerOptions options;
    options.password = kPassword;
    return std::make_unique<MariaDbServer>(options);
  }
};

template <typename Server>
class JdbcRegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = Database<Server>::New();
    ASSERT_OK(server_->Start());
    ASSERT_OK(
        server_->ExecuteFile(absl::StrCat(ROSTER_TEST_DATA_DIR, "/dolphinscheduler/schema/",
                                          Database<Server>::kSchemaDir, "/jdbc_registry_dev.sql")));
    writer_ = std::make_unique<DsJdbcWriter<Server>>(server_.get());
    password_file_ = dir_.Child("password");
    WriteFileOrDie(password_file_, absl::StrCat(kPassword, "\n"));
    ASSERT_EQ(chmod(password_file_.c_str(), 0600), 0);
  }

  void TearDown() override {
    for (auto& registry : registries_) registry->Shutdown();
  }

  registry::RegistryOptions Options() {
    registry::RegistryOptions options;
    options.jdbc_password_file = password_file_;
    options.jdbc_poll_interval = absl::Milliseconds(50);
    options.jdbc_full_read_interval = absl::Milliseconds(500);
    options.operation_timeout = absl::Seconds(2);
    options.session_timeout = absl::Seconds(30);
    return options;
  }

  // "jdbc:postgresql://roster@127.0.0.1:PORT/dolphinscheduler".
  std::string Uri() const { return absl::StrCat("jdbc:", server_->Uri()); }

  registry::Registry* Open(registry::RegistryOptions options, const std::string& uri = "") {
    absl::StatusOr<std::unique_ptr<registry::Registry>> made =
        registry::NewRegistry(uri.empty() ? Uri() : uri, std::move(options));
    EXPECT_OK(made.status());
    if (!made.ok()) return nullptr;
    registries_.push_back(*std::move(made));
    return registries_.back().get();
  }

  // A started, connected registry.
  registry::Registry* Connect(registry::RegistryOptions options) {
    registry::Registry* r = Open(std::move(options));
    if (r == nullptr) return nullptr;
    EXPECT_OK(r->Start());
    EXPECT_OK(r->WaitConnected(absl::Seconds(20)));
    return r;
  }

  // A small DS 3.3 cluster: one master, two workers of two clients, one persistent key.
  void WriteCluster() {
    ASSERT_OK(writer_->RegisterClient(kMasterClient, "10.0.0.11_812"));
    ASSERT_OK(writer_->RegisterClient(kWorkerClient, "10.0.0.21_901"));
    ASSERT_OK(writer_->RegisterClient(kOtherWorkerClient, "10.0.0.22_902"));
    ASSERT_OK(writer_->Put(kMasterClient, "/nodes/master/10.0.0.11:5678", "m1", true));
    ASSERT_OK(writer_->Put(kWorkerClient, "/nodes/worker/10.0.0.21:1234", "w1", true));
    ASSERT_OK(writer_->Put(kOtherWorkerClient, "/nodes/worker/10.0.0.22:1234", "w2", true));
    ASSERT_OK(writer_->Put(kMasterClient, "/persistent/flag", "on", false));
  }

  TempDir dir_{"jdbc-registry-test"};
  std::string password_file_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<DsJdbcWriter<Server>> writer_;
  std::vector<std::unique_ptr<registry::Registry>> registries_;
};

using Servers = ::testing::Types<PostgresServer, MariaDbServer>;
TYPED_TEST_SUITE(JdbcRegistryTest, Servers);

TYPED_TEST(JdbcRegistryTest, RowsReadAsATreeWithParentsAndOwners) {
  this->WriteCluster();
  registry::Registry* r = this->Connect(this->Options());
  ASSERT_NE(r, nullptr);

  // DS stores no parent rows: "/nodes" and "/nodes/worker" exist as empty persistent nodes.
  ASSERT_OK_AND_ASSIGN(registry::Children top, r->GetChildren("/"));
  EXPECT_THAT(top.names, ElementsAre("nodes", "persistent"));
  ASSERT_OK_AND_ASSIGN(registry::Children nodes, r->GetChildren("/nodes"));
  EXPECT_THAT(nodes.names, ElementsAre("master", "worker"));
  ASSERT_OK_AND_ASSIGN(registry::Children workers, r->GetChildren("/nodes/worker"));
  EXPECT_THAT(workers.names, ElementsAre("10.0.0.21:1234", "10.0.0.22:1234"));
  ASSERT_OK_AND_ASSIGN(registry::Node parent, r->Get("/nodes/worker"));
  EXPECT_EQ(parent.data, "");
  EXPECT_EQ(parent.stat.ephemeral_owner, 0);

  ASSERT_OK_AND_ASSIGN(registry::Node master, r->Get("/nodes/master/10.0.0.11:5678"));
  EXPECT_EQ(master.data, "m1");
  ASSERT_OK_AND_ASSIGN(registry::Node w1, r->Get("/nodes/worker/10.0.0.21:1234"));
  ASSERT_OK_AND_ASSIGN(registry::Node w2, r->Get("/nodes/worker/10.0.0.22:1234"));
  ASSERT_OK_AND_ASSIGN(registry::Node flag, r->Get("/persistent/flag"));
  EXPECT_EQ(flag.data, "on");
  // EPHEMERAL rows are ephemeral nodes, one owner per DS client; PERSISTENT rows are not.
  EXPECT_NE(master.stat.ephemeral_owner, 0);
  EXPECT_NE(w1.stat.ephemeral_owner, 0);
  EXPECT_NE(w1.stat.ephemeral_owner, w2.stat.ephemeral_owner);
  EXPECT_NE(master.stat.ephemeral_owner, w1.stat.ephemeral_owner);
  EXPECT_EQ(flag.stat.ephemeral_owner, 0);

  EXPECT_THAT(r->Get("/nodes/worker/10.0.0.99:1234"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("10.0.0.99")));
  ASSERT_OK_AND_ASSIGN(std::optional<registry::Stat> none, r->Exists("/nodes/alert-server"));
  EXPECT_FALSE(none.has_value());
}

TYPED_TEST(JdbcRegistryTest, WritesAreUnimplementedAndTheTablesUntouched) {
  this->WriteCluster();
  registry::Registry* r = this->Connect(this->Options());
  ASSERT_NE(r, nullptr);
  EXPECT_THAT(r->Create("/nodes/master/10.0.0.12:5678", "x"),
              StatusIs(absl::StatusCode::kUnimplemented, HasSubstr("read-only")));
  EXPECT_THAT(r->Set("/nodes/master/10.0.0.11:5678", "x"),
              StatusIs(absl::StatusCode::kUnimplemented));
  EXPECT_THAT(r->Delete("/nodes/master/10.0.0.11:5678"),
              StatusIs(absl::StatusCode::kUnimplemented));
  ASSERT_OK_AND_ASSIGN(std::string rows,
                       this->server_->Execute("SELECT count(*) FROM t_ds_jdbc_registry_data"));
  EXPECT_EQ(absl::StripAsciiWhitespace(rows), "4");
}

TYPED_TEST(JdbcRegistryTest, SubscriptionFollowsChangeEvents) {
  this->WriteCluster();
  registry::Registry* r = this->Connect(this->Options());
  ASSERT_NE(r, nullptr);
  EventRecorder recorder;
  ASSERT_OK_AND_ASSIGN(
      auto subscription,
      r->Subscribe("/nodes/worker", registry::SubscribeOptions{}, recorder.Listener()));
  ASSERT_EVENTUALLY(recorder.Synced() >= 1);
  EXPECT_EQ(recorder.View(),
            (std::map<std::string, std::string>{{"/nodes/worker/10.0.0.21:1234", "w1"},
                                                {"/nodes/worker/10.0.0.22:1234", "w2"}}));

  // A new worker (ADD), a heartbeat (UPDATE), a graceful stop (DELETE), as DS writes them.
  ASSERT_OK(this->writer_->RegisterClient(1730000000004, "10.0.0.23_903"));
  ASSERT_OK(this->writer_->Put(1730000000004, "/nodes/worker/10.0.0.23:1234", "w3", true));
  ASSERT_EVENTUALLY(recorder.HasEvent(EventType::kAdded, "/nodes/worker/10.0.0.23:1234"));
  ASSERT_OK(this->writer_->Put(kWorkerClient, "/nodes/worker/10.0.0.21:1234", "w1-beat2", true));
  ASSERT_EVENTUALLY(recorder.View()["/nodes/worker/10.0.0.21:1234"] == "w1-beat2");
  ASSERT_OK(this->writer_->Delete("/nodes/worker/10.0.0.22:1234"));
  ASSERT_EVENTUALLY(recorder.HasEvent(EventType::kRemoved, "/nodes/worker/10.0.0.22:1234"));

  std::vector<std::string> changes = recorder.Changes();
  EXPECT_THAT(changes, ::testing::Contains("UPDATED /nodes/worker/10.0.0.21:1234=w1-beat2"));
  // The removal carries the last data, as a ZooKeeper subscription's does.
  EXPECT_THAT(changes, ::testing::Contains("REMOVED /nodes/worker/10.0.0.22:1234=w2"));
  EXPECT_THAT(recorder.Violations(), ::testing::IsEmpty());
}

// DS deletes a dead client's EPHEMERAL rows without a change event
// (JdbcRegistryServer.purgeDeadJdbcRegistryClient @ dev): only the full read finds it.
TYPED_TEST(JdbcRegistryTest, DeadClientPurgedWithoutEventsIsFoundByTheFullRead) {
  this->WriteCluster();
  registry::Registry* r = this->Connect(this->Options());
  ASSERT_NE(r, nullptr);
  EventRecorder recorder;
  ASSERT_OK_AND_ASSIGN(
      auto subscription,
      r->Subscribe("/nodes/worker", registry::SubscribeOptions{}, recorder.Listener()));
  ASSERT_EVENTUALLY(recorder.Synced() >= 1);
  ASSERT_OK_AND_ASSIGN(std::string before,
                       this->server_->Execute("SELECT count(*) FROM "
                                              "t_ds_jdbc_registry_data_change_event"));
  ASSERT_OK(this->writer_->PurgeClient(kOtherWorkerClient));
  ASSERT_OK_AND_ASSIGN(std::string after,
                       this->server_->Execute("SELECT count(*) FROM "
                                              "t_ds_jdbc_registry_data_change_event"));
  ASSERT_EQ(before, after) << "the purge must write no event for this test to mean anything";
  ASSERT_EVENTUALLY(recorder.HasEvent(EventType::kRemoved, "/nodes/worker/10.0.0.22:1234"));
  EXPECT_EQ(recorder.View(),
            (std::map<std::string, std::string>{{"/nodes/worker/10.0.0.21:1234", "w1"}}));
}

TYPED_TEST(JdbcRegistryTest, NotConnectedUntilTheDatabaseAnswers) {
  registry::RegistryOptions options = this->Options();
  options.operation_timeout = absl::Seconds(1);
  const std::string nowhere = absl::StrCat("jdbc:", Database<TypeParam>::kScheme,
                                           "://roster@127.0.0.1:", PickUnusedPort(), "/ds");
  registry::Registry* r = this->Open(options, nowhere);
  ASSERT_NE(r, nullptr);
  ASSERT_OK(r->Start());
  EXPECT_THAT(r->WaitConnected(absl::Milliseconds(300)),
              StatusIs(absl::StatusCode::kDeadlineExceeded));
  EXPECT_EQ(r->session().state, registry::SessionState::kConnecting);
  EXPECT_THAT(r->Get("/nodes"), StatusIs(absl::StatusCode::kUnavailable, HasSubstr("jdbc:")));
  r->Shutdown();
  EXPECT_EQ(r->session().state, registry::SessionState::kClosed);
  EXPECT_THAT(r->Get("/nodes"), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(r->Start(), StatusIs(absl::StatusCode::kFailedPrecondition));
}

// The session follows the database: down = kSuspended (reads fail), down for longer than the
// session timeout = kLost, back = kExpired then kConnected, with what changed meanwhile.
TYPED_TEST(JdbcRegistryTest, DatabaseOutageSuspendsLosesAndExpiresTheSession) {
  this->WriteCluster();
  registry::RegistryOptions options = this->Options();
  options.session_timeout = absl::Seconds(1);
  registry::Registry* r = this->Open(options);
  ASSERT_NE(r, nullptr);
  SessionRecorder sessions;
  auto watch = r->WatchSession(sessions.Listener());
  ASSERT_OK(r->Start());
  ASSERT_OK(r->WaitConnected(absl::Seconds(20)));
  EventRecorder recorder;
  ASSERT_OK_AND_ASSIGN(
      auto subscription,
      r->Subscribe("/nodes/worker", registry::SubscribeOptions{}, recorder.Listener()));
  ASSERT_EVENTUALLY(recorder.Synced() >= 1);

  ASSERT_OK(this->server_->Stop());
  ASSERT_EVENTUALLY(sessions.Saw(SessionEventType::kSuspended));
  EXPECT_THAT(r->Get("/nodes/worker"), StatusIs(absl::StatusCode::kUnavailable));
  ASSERT_EVENTUALLY(sessions.Saw(SessionEventType::kLost));
  ASSERT_OK(this->server_->Start());
  // A worker DS purges around the reconnect (no event): seen once the session is back.
  ASSERT_OK(this->writer_->PurgeClient(kOtherWorkerClient));
  ASSERT_EVENTUALLY(sessions.Saw(SessionEventType::kExpired));
  ASSERT_OK(r->WaitConnected(absl::Seconds(20)));
  EXPECT_THAT(sessions.Types(),
              ElementsAre(SessionEventType::kConnected, SessionEventType::kSuspended,
                          SessionEventType::kLost, SessionEventType::kExpired,
                          SessionEventType::kConnected));
  ASSERT_EVENTUALLY(!recorder.View().count("/nodes/worker/10.0.0.22:1234"));
  EXPECT_OK(r->Get("/nodes/worker/10.0.0.21:1234").status());
}

}  // namespace
}  // namespace roster::testing
