// rosterd on DolphinScheduler 3.3's JDBC registry answers as rosterd on ZooKeeper.
//
// One DS 3.3 cluster (3 masters, 2 workers, an alert server; golden payloads of
// tests/data/dolphinscheduler/3.3/) is written twice, the way DS 3.3 writes each registry:
// ephemeral znodes under /dolphinscheduler in a real ZooKeeper, and rows plus change events in
// DS's own JDBC registry tables (tests/data/dolphinscheduler/schema/*/jdbc_registry_dev.sql) in
// a real PostgreSQL or MariaDB (tests/registry/ds_jdbc_writer.h). Two rosterd daemons read one
// each; their views, heartbeats and slot answers must be equal, and equal to what DS 3.3
// computes by hand: masters in address order with the BUSY one excluded
// (docs/dolphinscheduler.md), BUSY nodes OVERLOAD. A heartbeat and a graceful stop written
// afterwards reach both.
#include <sys/stat.h>

#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "registry/registry_factory.h"
#include "tests/e2e/e2e_env.h"
#include "tests/registry/ds_jdbc_writer.h"
#include "tests/server/server_test_env.h"
#include "tests/testing/eventually.h"
#include "tests/testing/mariadb_server.h"
#include "tests/testing/postgres_server.h"
#include "tests/testing/status_matchers.h"

namespace roster::testing {
namespace {

using ::testing::HasSubstr;

constexpr char kPassword[] = "ds-jdbc-secret";
constexpr char kM1[] = "10.0.0.1:5678";
constexpr char kM2[] = "10.0.0.2:5678";
constexpr char kM3[] = "10.0.0.3:5678";
constexpr char kW1[] = "10.0.0.21:1234";
constexpr char kW2[] = "10.0.0.22:1234";
constexpr char kAlert[] = "10.0.0.31:50052";

std::string ReadGolden(const std::string& file) {
  const std::string path = absl::StrCat(ROSTER_TEST_DATA_DIR, "/dolphinscheduler/3.3/", file);
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_FALSE(text.empty()) << "cannot read " << path;
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return text;
}

// Replaces the value of the top-level JSON field `key` (up to the next ',' or '}').
std::string SetJsonField(std::string json, const std::string& key, const std::string& raw_value) {
  const std::string needle = absl::StrCat("\"", key, "\":");
  const size_t at = json.find(needle);
  EXPECT_NE(at, std::string::npos) << key << " not in " << json;
  if (at == std::string::npos) return json;
  const size_t begin = at + needle.size();
  const size_t end = json.find_first_of(",}", begin);
  return json.replace(begin, end - begin, raw_value);
}

// A golden 3.3 payload with this node's address, times and status.
std::string Payload(const std::string& file, const std::string& address, int64_t startup_ms,
                    const std::string& status) {
  std::string payload = ReadGolden(file);
  const std::vector<std::string> host_port = absl::StrSplit(address, ':');
  payload = SetJsonField(payload, "startupTime", absl::StrCat(startup_ms));
  payload = SetJsonField(payload, "reportTime", absl::StrCat(absl::ToUnixMillis(absl::Now())));
  payload = SetJsonField(payload, "host", absl::StrCat("\"", host_port[0], "\""));
  payload = SetJsonField(payload, "port", host_port[1]);
  return SetJsonField(payload, "serverStatus", absl::StrCat("\"", status, "\""));
}

template <typename Server>
std::unique_ptr<Server> NewServer();
template <>
std::unique_ptr<PostgresServer> NewServer() {
  PostgresServerOptions options;
  options.password = kPassword;
  return std::make_unique<PostgresServer>(options);
}
template <>
std::unique_ptr<MariaDbServer> NewServer() {
  MariaDbServerOptions options;
  options.password = kPassword;
  return std::make_unique<MariaDbServer>(options);
}
template <typename Server>
constexpr const char* SchemaDir() {
  return std::is_same_v<Server, PostgresServer> ? "postgresql" : "mysql";
}

// address -> "STATE heartbeat-as-text", per role, from a daemon's view.
using Answers = std::map<std::string, std::string>;

template <typename Server>
class JdbcRegistryE2eTest : public E2eTest {
 protected:
  void SetUp() override {
    E2eTest::SetUp();
    db_ = NewServer<Server>();
    ASSERT_OK(db_->Start());
    ASSERT_OK(db_->ExecuteFile(absl::StrCat(ROSTER_TEST_DATA_DIR, "/dolphinscheduler/schema/",
                                            SchemaDir<Server>(), "/jdbc_registry_dev.sql")));
    writer_ = std::make_unique<DsJdbcWriter<Server>>(db_.get());
    password_file_ = dir_.Child("db-password");
    WriteFileOrDie(password_file_, absl::StrCat(kPassword, "\n"));
    ASSERT_EQ(chmod(password_file_.c_str(), 0600), 0);
    absl::StatusOr<std::unique_ptr<registry::Registry>> root =
        registry::NewRegistry(absl::StrCat("zk://", zk_->ConnectString(), "/"), {});
    ASSERT_OK(root.status());
    ASSERT_OK((*root)->Start());
    ASSERT_OK((*root)->WaitConnected(kReactTimeout));
    ASSERT_OK((*root)->Create(kChroot, "").status());
  }

  void TearDown() override {
    daemons_.clear();
    for (auto& [address, session] : sessions_) session->Shutdown();
    sessions_.clear();
    E2eTest::TearDown();
  }

  // The node registers in both registries, as a DS 3.3 server configured for each would:
  // an ephemeral znode of its own session; an EPHEMERAL row of its own JDBC client.
  void Register(const std::string& path, const std::string& address, const std::string& payload) {
    registry::RegistryOptions options;
    options.session_timeout = absl::Seconds(30);
    absl::StatusOr<std::unique_ptr<registry::Registry>> session =
        registry::NewRegistry(RegistryUri(), options);
    ASSERT_OK(session.status());
    ASSERT_OK((*session)->Start());
    ASSERT_OK((*session)->WaitConnected(kReactTimeout));
    registry::CreateOptions create;
    create.mode = registry::CreateMode::kEphemeral;
    create.create_parents = true;
    ASSERT_OK((*session)->Create(path, payload, create).status());
    sessions_[address] = *std::move(session);
    payloads_[address] = payload;
    const int64_t client = 1730000000000 + static_cast<int64_t>(clients_.size());
    clients_[address] = client;
    ASSERT_OK(writer_->RegisterClient(client, absl::StrCat(address, "_1")));
    ASSERT_OK(writer_->Put(client, path, payload, /*ephemeral=*/true));
  }

  // A heartbeat: the znode's data and the row (with its UPDATE event).
  void Beat(const std::string& path, const std::string& address, const std::string& payload) {
    ASSERT_OK(sessions_[address]->Set(path, payload).status());
    ASSERT_OK(writer_->Put(clients_[address], path, payload, /*ephemeral=*/true));
  }

  // A graceful stop: DS's registry close deletes its key (and its client's rows).
  void Stop(const std::string& path, const std::string& address) {
    sessions_[address]->Shutdown();
    ASSERT_OK(writer_->Delete(path));
    ASSERT_OK(writer_->PurgeClient(clients_[address]));
  }

  void WriteCluster() {
    const int64_t now_ms = absl::ToUnixMillis(absl::Now());
    const std::string m = "/nodes/master/", w = "/nodes/worker/";
    Register(m + kM1, kM1, Payload("master.json", kM1, now_ms - 600000, "NORMAL"));
    Register(m + kM2, kM2, Payload("master.json", kM2, now_ms - 300000, "NORMAL"));
    Register(m + kM3, kM3, Payload("master.json", kM3, now_ms - 1000, "BUSY"));
    Register(w + kW1, kW1, Payload("worker.json", kW1, now_ms - 600000, "BUSY"));
    Register(w + kW2, kW2, Payload("worker.json", kW2, now_ms - 600000, "NORMAL"));
    Register("/nodes/alert-server/" + std::string(kAlert), kAlert,
             Payload("alert-server.json", kAlert, now_ms - 600000, "NORMAL"));
  }

  std::vector<std::string> Flags() const {
    return {"--dolphinscheduler_version=3.3", "--slot_policy=", "--heartbeat_interval_ms=600000"};
  }

  RosterdProcess* StartOnJdbc() {
    std::vector<std::string> flags = Flags();
    flags.push_back(absl::StrCat("--registry=jdbc:", db_->Uri()));
    flags.push_back("--jdbc_registry_password_file=" + password_file_);
    flags.push_back("--jdbc_registry_poll_interval_ms=100");
    flags.push_back("--jdbc_registry_full_read_interval_ms=1000");
    return StartRosterd(flags);
  }

  // Every node of the daemon's view: "ROLE address" -> "STATE heartbeat".
  static Answers Read(RosterdProcess* daemon) {
    Answers answers;
    absl::StatusOr<v1::GetClusterViewResponse> view = daemon->View();
    if (!view.ok() || view->meta().syncing()) return answers;
    const std::pair<const char*, const google::protobuf::RepeatedPtrField<v1::Node>*> roles[] = {
        {"MASTER", &view->masters()},
        {"WORKER", &view->workers()},
        {"ALERT", &view->alert_servers()}};
    for (const auto& [role, nodes] : roles) {
      for (const v1::Node& node : *nodes) {
        answers[absl::StrCat(role, " ", node.address())] = absl::StrCat(
            v1::NodeState_Name(node.state()), " ", node.heartbeat().ShortDebugString());
      }
    }
    return answers;
  }

  static std::map<std::string, std::string> States(const Answers& answers) {
    std::map<std::string, std::string> states;
    for (const auto& [node, answer] : answers) states[node] = answer.substr(0, answer.find(' '));
    return states;
  }

  std::unique_ptr<Server> db_;
  std::unique_ptr<DsJdbcWriter<Server>> writer_;
  std::string password_file_;
  std::map<std::string, std::unique_ptr<registry::Registry>> sessions_;
  std::map<std::string, int64_t> clients_;
  std::map<std::string, std::string> payloads_;  // as registered
};

using Servers = ::testing::Types<PostgresServer, MariaDbServer>;
TYPED_TEST_SUITE(JdbcRegistryE2eTest, Servers);

TYPED_TEST(JdbcRegistryE2eTest, AnswersAsOnZooKeeper) {
  ASSERT_NO_FATAL_FAILURE(this->WriteCluster());
  RosterdProcess* zk = this->StartRosterd(this->Flags());
  RosterdProcess* jdbc = this->StartOnJdbc();
  ASSERT_NE(zk, nullptr);
  ASSERT_NE(jdbc, nullptr);

  // Worked by hand: BUSY is OVERLOAD, every other node RUNNING.
  const std::map<std::string, std::string> expected = {
      {absl::StrCat("MASTER ", kM1), "RUNNING"},  {absl::StrCat("MASTER ", kM2), "RUNNING"},
      {absl::StrCat("MASTER ", kM3), "OVERLOAD"}, {absl::StrCat("WORKER ", kW1), "OVERLOAD"},
      {absl::StrCat("WORKER ", kW2), "RUNNING"},  {absl::StrCat("ALERT ", kAlert), "RUNNING"}};
  ASSERT_EVENTUALLY_WITHIN(kReactTimeout, this->States(this->Read(zk)) == expected)
      << ::testing::PrintToString(this->Read(zk));
  ASSERT_EVENTUALLY_WITHIN(kReactTimeout, this->States(this->Read(jdbc)) == expected)
      << ::testing::PrintToString(this->Read(jdbc)) << jdbc->LogTail();
  // The same heartbeats, field by field.
  EXPECT_EQ(this->Read(jdbc), this->Read(zk));

  // Slots as DS 3.3 computes them: NORMAL masters in address order; the BUSY one has none.
  for (RosterdProcess* daemon : {zk, jdbc}) {
    SCOPED_TRACE(daemon == zk ? "zookeeper" : "jdbc");
    int slot = 0;
    for (const char* master : {kM1, kM2}) {
      v1::GetMasterSlotResponse response;
      const grpc::Status status = this->Slot(master, &response, daemon);
      ASSERT_TRUE(status.ok()) << master << ": " << status.error_message();
      EXPECT_EQ(response.slot(), slot++) << master;
      EXPECT_EQ(response.total(), 2) << master;
    }
    v1::GetMasterSlotResponse busy;
    EXPECT_EQ(this->Slot(kM3, &busy, daemon).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
    v1::GetLeaderResponse leader_zk, leader_jdbc;
    EXPECT_EQ(this->Leader(&leader_zk, zk).error_code(),
              this->Leader(&leader_jdbc, jdbc).error_code());
  }

  // W1 reports NORMAL; W2 stops gracefully. Both daemons see both.
  const int64_t now_ms = absl::ToUnixMillis(absl::Now());
  ASSERT_NO_FATAL_FAILURE(this->Beat(absl::StrCat("/nodes/worker/", kW1), kW1,
                                     Payload("worker.json", kW1, now_ms - 600000, "NORMAL")));
  ASSERT_NO_FATAL_FAILURE(this->Stop(absl::StrCat("/nodes/worker/", kW2), kW2));
  for (RosterdProcess* daemon : {zk, jdbc}) {
    SCOPED_TRACE(daemon == zk ? "zookeeper" : "jdbc");
    const auto moved = [&] {
      std::map<std::string, std::string> states = this->States(this->Read(daemon));
      return states[absl::StrCat("WORKER ", kW1)] == "RUNNING" &&
             states[absl::StrCat("WORKER ", kW2)] == "OFFLINE";
    };
    ASSERT_EVENTUALLY_WITHIN(kReactTimeout, moved())
        << ::testing::PrintToString(this->Read(daemon));
  }
  EXPECT_EQ(this->Read(jdbc), this->Read(zk));
}

// A migration ZooKeeper -> JDBC in shadow mode: rosterd answers from ZooKeeper and compares
// with the JDBC registry. The same cluster in both: `rosterctl diff` says so. A worker DS
// removed from the JDBC tables only: `rosterctl diff` lists it, until it is back.
TYPED_TEST(JdbcRegistryE2eTest, ShadowModeComparesZooKeeperWithTheJdbcRegistry) {
  ASSERT_NO_FATAL_FAILURE(this->WriteCluster());
  std::vector<std::string> flags = this->Flags();
  flags.push_back(absl::StrCat("--shadow_registry=jdbc:", this->db_->Uri()));
  flags.push_back("--jdbc_registry_password_file=" + this->password_file_);
  flags.push_back("--jdbc_registry_poll_interval_ms=100");
  flags.push_back("--shadow_compare_interval_ms=100");
  flags.push_back("--shadow_grace_ms=1000");
  RosterdProcess* daemon = this->StartRosterd(flags);
  ASSERT_NE(daemon, nullptr);
  const auto diff = [&] {
    return RunRosterctl(this->dir_.path(), {"--target=" + daemon->target(), "diff"});
  };
  ASSERT_EVENTUALLY_WITHIN(kReactTimeout, absl::StrContains(diff().out, "no divergence"))
      << diff().out << diff().err << daemon->LogTail();
  CliResult same = diff();
  EXPECT_EQ(same.exit_code, 0) << same.err;
  EXPECT_THAT(same.out, HasSubstr(absl::StrCat("shadow registry jdbc:", this->db_->Uri())));

  const std::string w2 = absl::StrCat("/nodes/worker/", kW2);
  ASSERT_OK(this->writer_->Delete(w2));
  ASSERT_EVENTUALLY_WITHIN(kReactTimeout, absl::StrContains(diff().out, "1 divergence(s)"))
      << diff().out << diff().err;
  CliResult planted = diff();
  EXPECT_THAT(planted.out, HasSubstr(kW2));
  EXPECT_THAT(planted.out, HasSubstr("ONLY_IN_PRIMARY"));
  EXPECT_THAT(planted.out, HasSubstr("RUNNING in primary, absent in shadow"));

  // Back, as it was registered (the znode's payload).
  ASSERT_OK(this->writer_->Put(this->clients_[kW2], w2, this->payloads_[kW2], /*ephemeral=*/true));
  ASSERT_EVENTUALLY_WITHIN(kReactTimeout, absl::StrContains(diff().out, "no divergence"))
      << diff().out << diff().err;
}

}  // namespace
}  // namespace roster::testing
