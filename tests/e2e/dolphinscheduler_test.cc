// End to end, each DolphinScheduler release answered as that release computes: the test writes
// a release's own heartbeat payloads (the golden files in tests/data/dolphinscheduler/{release}/)
// in that release's registry layout into a real ZooKeeper, each node in its own ephemeral session
// as DS does, puts the worker groups of 3.1.1+ in DS's table `t_ds_worker_group` in a real
// PostgreSQL (MariaDB for 3.2.1) loaded with DS's schema, and starts rosterd on them. rosterd's
// detected release, master slots, worker groups, default selection rule, leader and node states
// must equal what that DS release computes (worked by hand below, per release).
//
// Masters (all releases): M1 = 10.0.0.1:5678 started first (older), M2 = 10.0.0.2:5678 started
// later (newer). From 3.2.0 on a third master M3 = 10.0.0.3:5678, the newest of all, writes the
// status that release leaves out of the slots (3.2.0: ABNORMAL; 3.2.1 - 3.3: BUSY).
//
// Slots worked by hand:
// - 2.0 - 3.2.1: the slot is the index in MasterPriorityQueue's heap array
//   (queue/MasterPriorityQueue.java @ 3.0.6-release and 3.1.9-release: comparator
//   `o2.getCreateTime().compareTo(o1.getCreateTime())`, newest at the root). 3.2.0 / 3.2.1 filter
//   ABNORMAL / BUSY masters out before the heap (registry/MasterSlotManager.java @ 3.2.0-release,
//   3.2.1-release, SlotChangeListener.notify). With two masters in the heap the HashMap order
//   does not matter: whichever is offered first, the newer one ends at index 0 (the second
//   sifts up past the first exactly when it is newer). So M2 = 0, M1 = 1.
//   2.0.9-release is different (roster models it with 3.1's rule: docs/dolphinscheduler.md) but
//   gives the same here: its comparator (service/queue/MasterPriorityQueue.java) never returns a
//   negative value, so the heap keeps insertion order, which is the HashMap<String, String>
//   order of the znode names (service/registry/RegistryClient.java getServerMaps). Java's
//   String.hashCode: "10.0.0.1:5678" = 0x9e0b4996, spread h ^ h >>> 16 = 0x9e0bd79d, bucket
//   (of 16) 13; "10.0.0.2:5678" = 0x9fc02235 -> 0x9fc0bdf5, bucket 5. Bucket 5 comes first:
//   M2 = 0, M1 = 1 (and the hosts differ, so 2.0's by-host index is unambiguous).
// - 3.2.2: non-BUSY masters sorted by startupTime descending (MasterSlotManager.java,
//   MasterPriorityQueue.getOrderedElements @ 3.2.2-release): M2 = 0, M1 = 1.
// - 3.3: NORMAL masters (cluster/MasterClusters.java getNormalServers @ dev) by address, the
//   upstream fix (#17233) of DS #17232 that roster's 3.3 follows: M1 = 0, M2 = 1. The dev
//   snapshot of October 2024 (7e0095dca198) still lists them in ConcurrentHashMap order
//   (bucket 5 before 13, as above) and would answer M2 = 0, M1 = 1.
// In every release the excluded M3 has no slot (FAILED_PRECONDITION) and the total is 2.
//
// Workers: W1 = 10.0.0.21:1234 writes the golden payload as it is (BUSY or ABNORMAL in some
// releases), W2 = 10.0.0.22:1234 the same with a NORMAL status. Groups: up to 3.1.0 the path
// segment (W1 in etl, W2 in spark; `default` every worker); 3.1.1+ the rows etl = W1, spark = W2
// and default = W2: 3.1.1 - 3.2.2 let the row replace "every worker"
// (registry/ServerNodeManager.java updateWorkerGroupMappings), 3.3 ignores it
// (cluster/WorkerClusters.java @ dev).
//
// Selection: a request naming no strategy gets the release's default (LowerWeightRoundRobin up
// to 3.2.2, DynamicWeightedRoundRobin in 3.3). For 3.1.9, 3.2.1, 3.2.2 and 3.3 a scenario of
// tests/data/dolphinscheduler/selection/ (sequences DS's own selector classes computed) is
// registered as three more workers in group "lw", and rosterd's picks must repeat DS's. 3.2.1
// reuses 3.2.2's sequence: dispatch/host/{LowerWeightHostManager,assign/HostWeight,
// assign/LowerWeightRoundRobin,assign/AbstractSelector}.java are identical on 3.2.1-release
// and 3.2.2-release.
#include <grpcpp/grpcpp.h>
#include <sys/stat.h>

#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "registry/registry_factory.h"
#include "tests/e2e/e2e_env.h"
#include "tests/server/server_test_env.h"
#include "tests/testing/eventually.h"
#include "tests/testing/mariadb_server.h"
#include "tests/testing/postgres_server.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace roster::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kPassword[] = "ds-secret";
constexpr char kM1[] = "10.0.0.1:5678";
constexpr char kM2[] = "10.0.0.2:5678";
constexpr char kM3[] = "10.0.0.3:5678";
constexpr char kW1[] = "10.0.0.21:1234";
constexpr char kW2[] = "10.0.0.22:1234";
constexpr char kAlert[] = "10.0.0.31:50052";

enum class GroupDb { kNone, kPostgres, kMariaDb };

struct Release {
  std::string test_name;  // gtest parameter name
  std::string flag;       // --dolphinscheduler_version
  std::string profile;    // ViewMeta.dolphinscheduler.version
  std::string data_dir;   // tests/data/dolphinscheduler/{data_dir}/
  bool text = false;      // 2.0 / 3.0 comma-separated payloads (master.txt, worker.txt)
  bool group_paths = false;
  GroupDb db = GroupDb::kNone;
  std::string schema;           // schema/{postgresql,mysql}/{schema}.sql
  std::string excluded_status;  // M3's status, "" when every master gets a slot
  bool heap_order = true;       // else by address (3.3)
  bool default_row_replaces = false;
  bool alert_servers = false;
  bool coordinator = false;
  std::string default_rule;  // SelectWorkerResponse.rule with no strategy starts with this
  // A scenario of tests/data/dolphinscheduler/selection/{file} whose workers are registered in
  // group "lw" and whose LOWER_WEIGHT picks rosterd must repeat; "" for none.
  std::string selection_file;
  std::string selection_scenario;
  v1::SelectionStrategy selection_strategy = v1::SELECTION_STRATEGY_UNSPECIFIED;
};

// A scenario of the DS-computed selection sequences (selection/README.md): each worker's
// address and heartbeat values, and the picks as last octets.
struct Scenario {
  struct Worker {
    std::string address;
    std::map<std::string, std::string> values;  // cpu=0.1 memory=0.2 ...
  };
  std::vector<Worker> workers;
  std::vector<std::string> picks;
};

Scenario ReadScenario(const std::string& file, const std::string& name) {
  const std::string path = absl::StrCat(ROSTER_TEST_DATA_DIR, "/dolphinscheduler/selection/", file);
  std::ifstream in(path);
  Scenario scenario;
  bool inside = false;
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> words = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (words.empty()) continue;
    if (words[0] == "scenario") inside = words.size() == 2 && words[1] == name;
    if (!inside) continue;
    if (words[0] == "worker" && words.size() > 1) {
      Scenario::Worker worker;
      worker.address = words[1];
      for (size_t i = 2; i < words.size(); ++i) {
        std::pair<std::string, std::string> kv = absl::StrSplit(words[i], '=');
        worker.values[kv.first] = kv.second;
      }
      scenario.workers.push_back(std::move(worker));
    }
    if (words[0] == "picks") scenario.picks.assign(words.begin() + 1, words.end());
  }
  EXPECT_FALSE(scenario.workers.empty() || scenario.picks.empty())
      << "no scenario " << name << " in " << path;
  return scenario;
}

// gtest prints the parameter of a failing case with this.
void PrintTo(const Release& release, std::ostream* out) { *out << "DS " << release.flag; }

std::vector<Release> Releases() {
  const std::string kLower = "LowerWeightRoundRobin";
  // Columns in Release's order: names; text, group_paths, db, schema; excluded_status,
  // heap_order, default_row_replaces, alert_servers, coordinator; default_rule and the
  // selection scenario.
  return {
      {"v2_0", "2.0", "2.0", "2.0", true, true, GroupDb::kNone, "", "", true, false, false, false,
       kLower, "", "", v1::SELECTION_STRATEGY_UNSPECIFIED},
      {"v3_0", "3.0", "3.0", "3.0", true, true, GroupDb::kNone, "", "", true, false, false, false,
       kLower, "", "", v1::SELECTION_STRATEGY_UNSPECIFIED},
      {"v3_1_0", "3.1.0", "3.1.0", "3.1", false, true, GroupDb::kNone, "", "", true, false, false,
       false, kLower, "", "", v1::SELECTION_STRATEGY_UNSPECIFIED},
      {"v3_1_9", "3.1", "3.1", "3.1", false, false, GroupDb::kPostgres, "3.1.1", "", true, true,
       false, false, kLower, "lower_weight_3.1.9.txt", "lower_weight_3.1.9", v1::LOWER_WEIGHT},
      {"v3_2_0", "3.2.0", "3.2.0", "3.2.0", false, false, GroupDb::kPostgres, "3.2.2", "ABNORMAL",
       true, true, true, false, kLower, "", "", v1::SELECTION_STRATEGY_UNSPECIFIED},
      {"v3_2_1", "3.2.1", "3.2.1", "3.2.1", false, false, GroupDb::kMariaDb, "3.2.2", "BUSY", true,
       true, true, false, kLower, "host_selectors_3.2.2.txt", "lower_weight_3.2.2",
       v1::LOWER_WEIGHT},
      {"v3_2_2", "3.2.2", "3.2.2", "3.2.2", false, false, GroupDb::kPostgres, "3.2.2", "BUSY", true,
       true, true, false, kLower, "host_selectors_3.2.2.txt", "lower_weight_3.2.2",
       v1::LOWER_WEIGHT},
      {"v3_3", "3.3", "3.3", "3.3", false, false, GroupDb::kPostgres, "dev", "BUSY", false, false,
       true, true, "DynamicWeightedRoundRobin", "load_balancers_dev.txt",
       "dynamic_weighted_round_robin_dev", v1::DYNAMIC_WEIGHTED_ROUND_ROBIN},
  };
}

std::string ReadGolden(const std::string& release_dir, const std::string& file) {
  const std::string path =
      absl::StrCat(ROSTER_TEST_DATA_DIR, "/dolphinscheduler/", release_dir, "/", file);
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_FALSE(text.empty()) << "cannot read " << path;
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return text;
}

// Replaces the value of the top-level JSON field `key` (up to the next ',' or '}') with
// `raw_value`; the field must be present.
std::string SetJsonField(std::string json, const std::string& key, const std::string& raw_value) {
  const std::string needle = absl::StrCat("\"", key, "\":");
  const size_t at = json.find(needle);
  EXPECT_NE(at, std::string::npos) << key << " not in " << json;
  if (at == std::string::npos) return json;
  const size_t begin = at + needle.size();
  const size_t end = json.find_first_of(",}", begin);
  return json.replace(begin, end - begin, raw_value);
}

// A golden payload with this node's times, address and (JSON) status. The golden files' own
// startupTime and reportTime are 1729238400123 and 1729238650456 in every release.
std::string Payload(const Release& release, const std::string& file, const std::string& address,
                    int64_t startup_ms, const std::string& status = "") {
  std::string payload = ReadGolden(release.data_dir, file);
  const int64_t now_ms = absl::ToUnixMillis(absl::Now());
  if (release.text) {
    return absl::StrReplaceAll(payload, {{"1729238400123", absl::StrCat(startup_ms)},
                                         {"1729238650456", absl::StrCat(now_ms)}});
  }
  payload = SetJsonField(payload, "startupTime", absl::StrCat(startup_ms));
  payload = SetJsonField(payload, "reportTime", absl::StrCat(now_ms));
  if (absl::StrContains(payload, "\"host\":")) {  // 3.2.0+: DS takes the address from here
    const std::vector<std::string> host_port = absl::StrSplit(address, ':');
    payload = SetJsonField(payload, "host", absl::StrCat("\"", host_port[0], "\""));
    payload = SetJsonField(payload, "port", host_port[1]);
  }
  // 3.1 masters write no status.
  if (!status.empty() && absl::StrContains(payload, "\"serverStatus\":")) {
    payload = SetJsonField(payload, "serverStatus", status);
  }
  return payload;
}

class DolphinSchedulerE2eTest : public E2eTest, public ::testing::WithParamInterface<Release> {
 protected:
  // One PostgreSQL and one MariaDB for the whole suite, started on first use; each case
  // reloads DS's table (the schema files drop it first).
  static void TearDownTestSuite() {
    postgres_.reset();
    mariadb_.reset();
  }

  void TearDown() override {
    daemons_.clear();
    sessions_.clear();
    E2eTest::TearDown();
  }

  // A ZooKeeper session of the node's own creating its ephemeral znode (and, for the 3.3
  // coordinator, the coordinator znode in the same session).
  registry::Registry* Register(const std::string& path, const std::string& payload) {
    registry::RegistryOptions options;
    options.session_timeout = absl::Seconds(30);
    absl::StatusOr<std::unique_ptr<registry::Registry>> session =
        registry::NewRegistry(RegistryUri(), options);
    EXPECT_TRUE(session.ok()) << session.status();
    if (!session.ok()) return nullptr;
    absl::Status status = (*session)->Start();
    if (status.ok()) status = (*session)->WaitConnected(kReactTimeout);
    EXPECT_TRUE(status.ok()) << status;
    registry::CreateOptions create;
    create.mode = registry::CreateMode::kEphemeral;
    create.create_parents = true;
    absl::StatusOr<std::string> created = (*session)->Create(path, payload, create);
    EXPECT_TRUE(created.ok()) << path << ": " << created.status();
    sessions_.push_back(*std::move(session));
    return sessions_.back().get();
  }

  // Loads DS's table into the release's database and fills the groups; returns the rosterd
  // flags that read them.
  std::vector<std::string> LoadGroups(const Release& release) {
    if (release.db == GroupDb::kNone) return {};
    std::string rows =
        absl::StrCat("INSERT INTO t_ds_worker_group (name, addr_list) VALUES ('etl', '", kW1,
                     "'), ('spark', '", kW2, "'), ('default', '", kW2, "')");
    if (!release.selection_scenario.empty()) {
      std::vector<std::string> addresses;
      for (const Scenario::Worker& worker : scenario_.workers) addresses.push_back(worker.address);
      absl::StrAppend(&rows, ", ('lw', '", absl::StrJoin(addresses, ","), "')");
    }
    std::string uri;
    if (release.db == GroupDb::kPostgres) {
      if (postgres_ == nullptr) {
        PostgresServerOptions options;
        options.password = kPassword;
        postgres_ = std::make_unique<PostgresServer>(options);
        EXPECT_OK(postgres_->Start());
      }
      EXPECT_OK(postgres_->ExecuteFile(absl::StrCat(
          ROSTER_TEST_DATA_DIR, "/dolphinscheduler/schema/postgresql/", release.schema, ".sql")));
      EXPECT_OK(postgres_->Execute(rows));
      uri = postgres_->Uri();
    } else {
      if (mariadb_ == nullptr) {
        MariaDbServerOptions options;
        options.password = kPassword;
        mariadb_ = std::make_unique<MariaDbServer>(options);
        EXPECT_OK(mariadb_->Start());
      }
      EXPECT_OK(mariadb_->ExecuteFile(absl::StrCat(
          ROSTER_TEST_DATA_DIR, "/dolphinscheduler/schema/mysql/", release.schema, ".sql")));
      EXPECT_OK(mariadb_->Execute(rows));
      uri = mariadb_->Uri();
    }
    const std::string password_file = dir_.Child("db-password");
    WriteFileOrDie(password_file, absl::StrCat(kPassword, "\n"));
    EXPECT_EQ(chmod(password_file.c_str(), 0600), 0);
    return {"--worker_group_db_uri=" + uri, "--worker_group_db_password_file=" + password_file};
  }

  // The release's worker payload carrying a selection scenario's values, NORMAL.
  static std::string ScenarioPayload(const Release& release, const std::string& worker_file,
                                     const Scenario::Worker& worker, int64_t now_ms,
                                     const std::string& normal) {
    const auto uptime = worker.values.find("uptime_ms");
    std::string payload = Payload(
        release, worker_file, worker.address,
        now_ms - (uptime == worker.values.end() ? 3600000 : std::stoll(uptime->second)), normal);
    const std::map<std::string, std::string> kFields = {
        {"cpu", "cpuUsage"},
        {"memory", "memoryUsage"},
        {"loadAverage", "loadAverage"},
        {"disk", "diskUsage"},
        {"workerWaitingTaskCount", "workerWaitingTaskCount"},
        {"threadPoolUsage", "threadPoolUsage"},
        {"workerHostWeight", "workerHostWeight"},
    };
    for (const auto& [key, value] : worker.values) {
      if (key == "uptime_ms" || key == "weight") continue;  // startupTime; DS's output
      const auto field = kFields.find(key);
      EXPECT_NE(field, kFields.end()) << "unknown scenario value " << key;
      if (field == kFields.end()) continue;
      // 3.2.1 and 3.2.2 write threadPoolUsage as a task count (WorkerHeartBeatTask.java).
      const bool count =
          key == "threadPoolUsage" && (release.data_dir == "3.2.1" || release.data_dir == "3.2.2");
      payload = SetJsonField(payload, field->second,
                             count ? absl::StrCat(static_cast<int>(std::stod(value))) : value);
    }
    return payload;
  }

  // Writes the release's cluster into ZooKeeper, under the namespace DS creates at start-up.
  void WriteCluster(const Release& release) {
    {
      absl::StatusOr<std::unique_ptr<registry::Registry>> root =
          registry::NewRegistry(absl::StrCat("zk://", zk_->ConnectString(), "/"), {});
      ASSERT_OK(root.status());
      ASSERT_OK((*root)->Start());
      ASSERT_OK((*root)->WaitConnected(kReactTimeout));
      ASSERT_OK((*root)->Create(kChroot, "").status());
    }
    const int64_t now_ms = absl::ToUnixMillis(absl::Now());
    const std::string master = release.text ? "master.txt" : "master.json";
    const std::string worker_file = release.text ? "worker.txt" : "worker.json";
    // The NORMAL status of the release's JSON, for payloads whose golden status is not.
    const std::string normal = release.text ? "" : (release.data_dir == "3.1" ? "0" : "\"NORMAL\"");
    registry::Registry* m1 = Register(absl::StrCat("/nodes/master/", kM1),
                                      Payload(release, master, kM1, now_ms - 600000, normal));
    Register(absl::StrCat("/nodes/master/", kM2),
             Payload(release, master, kM2, now_ms - 300000, normal));
    if (!release.excluded_status.empty()) {
      Register(absl::StrCat("/nodes/master/", kM3),
               Payload(release, master, kM3, now_ms - 1000,
                       absl::StrCat("\"", release.excluded_status, "\"")));
    }
    const std::string w1_dir = release.group_paths ? "/nodes/worker/etl/" : "/nodes/worker/";
    const std::string w2_dir = release.group_paths ? "/nodes/worker/spark/" : "/nodes/worker/";
    Register(w1_dir + kW1, Payload(release, worker_file, kW1, now_ms - 600000));
    Register(w2_dir + kW2, Payload(release, worker_file, kW2, now_ms - 600000, normal));
    for (const Scenario::Worker& worker : scenario_.workers) {
      Register(absl::StrCat("/nodes/worker/", worker.address),
               ScenarioPayload(release, worker_file, worker, now_ms, normal));
    }
    if (release.alert_servers) {
      Register(absl::StrCat("/nodes/alert-server/", kAlert),
               Payload(release, "alert-server.json", kAlert, now_ms - 600000));
    }
    if (release.coordinator && m1 != nullptr) {
      registry::CreateOptions create;
      create.mode = registry::CreateMode::kEphemeral;
      EXPECT_OK(m1->Create("/nodes/master-coordinator", kM1, create));
    }
  }

  // Waits until `daemon` has read everything: every node, the release, fresh groups.
  void WaitRead(RosterdProcess* daemon, const Release& release) {
    const int masters = release.excluded_status.empty() ? 2 : 3;
    std::string last;
    const bool read = WaitFor(
        [&] {
          absl::StatusOr<v1::GetClusterViewResponse> view = daemon->View();
          if (!view.ok()) return false;
          last = view->ShortDebugString();
          bool fresh = !view->meta().syncing() && !view->meta().stale();
          for (const v1::GroupSource& source : view->meta().group_sources()) {
            fresh = fresh && !source.stale();
          }
          for (const auto* nodes : {&view->masters(), &view->workers(), &view->alert_servers()}) {
            for (const v1::Node& node : *nodes) {
              fresh = fresh && node.state() != v1::REGISTERING && node.has_heartbeat();
            }
          }
          return fresh && view->masters_size() == masters &&
                 view->workers_size() == 2 + static_cast<int>(scenario_.workers.size()) &&
                 view->alert_servers_size() == (release.alert_servers ? 1 : 0) &&
                 view->meta().dolphinscheduler().version() == release.profile;
        },
        kReactTimeout);
    ASSERT_TRUE(read) << "never read the " << release.profile << " cluster; last view: " << last
                      << "\n"
                      << daemon->LogTail();
  }

  void CheckSlots(RosterdProcess* daemon, const Release& release) {
    // See the file comment for the hand-worked order.
    const std::vector<std::string> order = release.heap_order ? std::vector<std::string>{kM2, kM1}
                                                              : std::vector<std::string>{kM1, kM2};
    for (int i = 0; i < 2; ++i) {
      v1::GetMasterSlotResponse slot;
      const grpc::Status status = Slot(order[i], &slot, daemon);
      ASSERT_TRUE(status.ok()) << order[i] << ": " << status.error_message();
      EXPECT_EQ(slot.slot(), i) << order[i];
      EXPECT_EQ(slot.total(), 2) << order[i];
    }
    if (!release.excluded_status.empty()) {
      v1::GetMasterSlotResponse slot;
      EXPECT_EQ(Slot(kM3, &slot, daemon).error_code(), grpc::StatusCode::FAILED_PRECONDITION)
          << "a " << release.excluded_status << " master has no slot in " << release.profile;
    }
  }

  std::vector<std::string> Group(RosterdProcess* daemon, const std::string& name) {
    CallContext context(absl::Seconds(5));
    v1::GetWorkerGroupRequest request;
    request.set_name(name);
    v1::GetWorkerGroupResponse response;
    const grpc::Status status = daemon->roster().GetWorkerGroup(&context, request, &response);
    EXPECT_TRUE(status.ok()) << name << ": " << status.error_message();
    return Addresses(response.workers());
  }

  void CheckGroups(RosterdProcess* daemon, const Release& release) {
    EXPECT_THAT(Group(daemon, "etl"), ElementsAre(kW1));
    EXPECT_THAT(Group(daemon, "spark"), ElementsAre(kW2));
    if (release.default_row_replaces) {
      EXPECT_THAT(Group(daemon, "default"), ElementsAre(kW2));
    } else {
      // Every worker.
      std::vector<std::string> all = {kW1, kW2};
      for (const Scenario::Worker& worker : scenario_.workers) all.push_back(worker.address);
      EXPECT_THAT(Group(daemon, "default"), ::testing::UnorderedElementsAreArray(all));
    }
  }

  void CheckSelection(RosterdProcess* daemon, const Release& release) {
    CallContext context(absl::Seconds(5));
    v1::SelectWorkerRequest request;
    request.set_group("spark");
    request.set_allow_overload(true);
    v1::SelectWorkerResponse response;
    const grpc::Status status = daemon->roster().SelectWorker(&context, request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(response.worker().address(), kW2);
    EXPECT_THAT(response.rule(), ::testing::StartsWith(release.default_rule));
  }

  // LOWER_WEIGHT picks in group "lw" equal the sequence DS's own classes computed. Runs before
  // any other LOWER_WEIGHT selection of these workers on `daemon`.
  void CheckSelectionSequence(RosterdProcess* daemon, v1::SelectionStrategy strategy) {
    if (scenario_.picks.empty()) return;
    std::vector<std::string> picks;
    for (size_t i = 0; i < scenario_.picks.size(); ++i) {
      CallContext context(absl::Seconds(5));
      v1::SelectWorkerRequest request;
      request.set_group("lw");
      request.set_strategy(strategy);
      v1::SelectWorkerResponse response;
      const grpc::Status status = daemon->roster().SelectWorker(&context, request, &response);
      ASSERT_TRUE(status.ok()) << status.error_message();
      const std::string& address = response.worker().address();
      // The last octet of "10.0.0.N:1234", as the scenario names picks.
      const size_t dot = address.rfind('.');
      picks.push_back(address.substr(dot + 1, address.find(':') - dot - 1));
    }
    EXPECT_EQ(picks, scenario_.picks);
  }

  void CheckLeader(RosterdProcess* daemon, const Release& release) {
    v1::GetLeaderResponse leader;
    const grpc::Status status = Leader(&leader, daemon);
    if (!release.coordinator) {
      EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
      EXPECT_THAT(status.error_message(), HasSubstr("has no coordinator"));
      return;
    }
    ASSERT_TRUE(status.ok()) << status.error_message();
    std::unique_ptr<registry::Registry> observer = Observer();
    ASSERT_NE(observer, nullptr);
    ASSERT_OK_AND_ASSIGN(registry::Node znode, observer->Get("/nodes/master-coordinator"));
    EXPECT_EQ(leader.leader().address(), kM1);
    EXPECT_EQ(leader.leader().fencing_token(), znode.stat.czxid);
    EXPECT_TRUE(leader.leader().valid()) << leader.leader().problem();
  }

  void CheckNoFault(RosterdProcess* daemon) {
    ASSERT_OK_AND_ASSIGN(v1::GetClusterViewResponse view, daemon->View());
    for (const auto* nodes : {&view.masters(), &view.workers(), &view.alert_servers()}) {
      for (const v1::Node& node : *nodes) {
        EXPECT_TRUE(node.state() == v1::RUNNING || node.state() == v1::OVERLOAD)
            << node.address() << " is " << v1::NodeState_Name(node.state()) << ": "
            << node.reason();
      }
    }
  }

  static std::unique_ptr<PostgresServer> postgres_;
  static std::unique_ptr<MariaDbServer> mariadb_;
  std::vector<std::unique_ptr<registry::Registry>> sessions_;
  Scenario scenario_;
};

std::unique_ptr<PostgresServer> DolphinSchedulerE2eTest::postgres_;
std::unique_ptr<MariaDbServer> DolphinSchedulerE2eTest::mariadb_;

TEST_P(DolphinSchedulerE2eTest, AnswersAsTheReleaseComputes) {
  const Release& release = GetParam();
  if (!release.selection_scenario.empty()) {
    scenario_ = ReadScenario(release.selection_file, release.selection_scenario);
  }
  const std::vector<std::string> db_flags = LoadGroups(release);
  ASSERT_FALSE(HasFailure());
  ASSERT_NO_FATAL_FAILURE(WriteCluster(release));
  ASSERT_FALSE(HasFailure());

  // Silence never matters here: the nodes write once, as within one DS heartbeat interval.
  std::vector<std::string> flags = {"--slot_policy=", "--heartbeat_interval_ms=600000"};
  flags.insert(flags.end(), db_flags.begin(), db_flags.end());
  std::vector<std::string> detecting = flags;
  detecting.push_back("--dolphinscheduler_version=auto");
  std::vector<std::string> named = flags;
  named.push_back("--dolphinscheduler_version=" + release.flag);
  RosterdProcess* detected = StartRosterd(detecting);
  RosterdProcess* configured = StartRosterd(named);
  ASSERT_NE(detected, nullptr);
  ASSERT_NE(configured, nullptr);

  for (RosterdProcess* daemon : {detected, configured}) {
    SCOPED_TRACE(daemon == detected ? "--dolphinscheduler_version=auto"
                                    : "--dolphinscheduler_version=" + release.flag);
    ASSERT_NO_FATAL_FAILURE(WaitRead(daemon, release));
    ASSERT_OK_AND_ASSIGN(v1::GetClusterViewResponse view, daemon->View());
    EXPECT_EQ(view.meta().dolphinscheduler().detected(), daemon == detected)
        << view.meta().dolphinscheduler().reason();
    EXPECT_FALSE(view.meta().dolphinscheduler().mixed()) << view.meta().dolphinscheduler().reason();
    CheckNoFault(daemon);
    CheckSelectionSequence(daemon, release.selection_strategy);
    CheckSlots(daemon, release);
    CheckGroups(daemon, release);
    CheckSelection(daemon, release);
    CheckLeader(daemon, release);
  }
}

INSTANTIATE_TEST_SUITE_P(Releases, DolphinSchedulerE2eTest, ::testing::ValuesIn(Releases()),
                         [](const ::testing::TestParamInfo<Release>& info) {
                           return info.param.test_name;
                         });

}  // namespace
}  // namespace roster::testing
