// The simulator against a real ZooKeeper server (Debian's package, started by the fixture):
// the chroot is created, every node has its own session so killing one removes only its
// znode, digest credentials give creator-only ACLs, as DolphinScheduler does, and thousands
// of nodes share a few sessions and heartbeat at a steady pace.
#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "cluster/heartbeat_codec.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "registry/registry_factory.h"
#include "sim/simulator.h"
#include "tests/testing/eventually.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/zookeeper_server.h"

namespace roster::sim {
namespace {

using ::roster::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::StartsWith;

class SimulatorZooKeeperTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_OK(server_.Start()); }

  std::string Uri() const { return absl::StrCat("zk://", server_.ConnectString(), "/ds"); }

  std::unique_ptr<registry::Registry> Observer(const std::string& digest) {
    registry::RegistryOptions options;
    options.session_timeout = absl::Seconds(10);
    options.digest = digest;
    auto registry = registry::NewRegistry(Uri(), options);
    EXPECT_OK(registry.status());
    if (!registry.ok()) return nullptr;
    EXPECT_OK((*registry)->Start());
    EXPECT_OK((*registry)->WaitConnected(absl::Seconds(30)));
    return *std::move(registry);
  }

  SimulatorOptions Options() {
    SimulatorOptions options;
    options.registry_uri = Uri();
    options.masters = 2;
    options.workers = 3;
    options.session_timeout = absl::Seconds(10);
    options.heartbeat_interval = absl::Milliseconds(100);
    return options;
  }

  roster::testing::ZooKeeperServer server_;
};

TEST_F(SimulatorZooKeeperTest, OneSessionPerNode) {
  Simulator sim(Options());
  ASSERT_OK(sim.Start());
  auto observer = Observer("");
  ASSERT_NE(observer, nullptr);

  auto workers = observer->GetChildren("/nodes/worker");
  ASSERT_OK(workers.status());
  EXPECT_THAT(workers->names, ElementsAre("127.0.0.1:5680", "127.0.0.1:5681", "127.0.0.1:5682"));
  std::set<int64_t> owners;
  for (const std::string& name : workers->names) {
    auto node = observer->Get("/nodes/worker/" + name);
    ASSERT_OK(node.status());
    owners.insert(node->stat.ephemeral_owner);
    EXPECT_OK(cluster::ParseHeartbeat(cluster::NodeRole::kWorker, node->data,
                                      cluster::HeartbeatLimits(), absl::Now())
                  .status());
  }
  EXPECT_EQ(owners.size(), 3u);
  EXPECT_EQ(observer->Get("/nodes/master-coordinator")->data, "127.0.0.1:5678");

  // Closing one node's session removes its znode only (and, for the leader, the coordinator).
  EXPECT_EQ(sim.Execute("kill 127.0.0.1:5678"), "ok kill 127.0.0.1:5678");
  ASSERT_EVENTUALLY(!observer->Exists("/nodes/master/127.0.0.1:5678")->has_value());
  EXPECT_FALSE(observer->Exists("/nodes/master-coordinator")->has_value());
  EXPECT_THAT(observer->GetChildren("/nodes/master")->names, ElementsAre("127.0.0.1:5679"));
  EXPECT_EQ(observer->GetChildren("/nodes/worker")->names.size(), 3u);

  EXPECT_THAT(sim.Execute("start 127.0.0.1:5678"), StartsWith("ok start"));
  EXPECT_TRUE(observer->Exists("/nodes/master/127.0.0.1:5678")->has_value());
  observer->Shutdown();
}

TEST_F(SimulatorZooKeeperTest, DigestGivesCreatorOnlyAcls) {
  roster::testing::TempDir dir("roster-sim-digest");
  const std::string digest_file = dir.Child("digest");
  roster::testing::WriteSecretFileOrDie(digest_file, "dolphin:s3cret\n");
  SimulatorOptions options = Options();
  options.digest_file = digest_file;
  Simulator sim(options);
  ASSERT_OK(sim.Start());

  auto authorised = Observer("dolphin:s3cret");
  ASSERT_NE(authorised, nullptr);
  EXPECT_OK(authorised->Get("/nodes/worker/127.0.0.1:5680").status());
  auto stranger = Observer("someone:else");
  ASSERT_NE(stranger, nullptr);
  EXPECT_THAT(stranger->Get("/nodes/worker/127.0.0.1:5680"),
              StatusIs(absl::StatusCode::kPermissionDenied));
  authorised->Shutdown();
  stranger->Shutdown();
}

TEST_F(SimulatorZooKeeperTest, ThousandsOfNodesOnFourSessions) {
  constexpr int kMasters = 10;
  constexpr int kWorkers = 2000;
  SimulatorOptions options = Options();
  options.masters = kMasters;
  options.workers = kWorkers;
  options.nodes_per_session = 503;  // 2,010 nodes: blocks of 503, 503, 503 and 501
  options.heartbeat_interval = absl::Seconds(2);
  Simulator sim(options);
  ASSERT_OK(sim.Start());
  auto observer = Observer("");
  ASSERT_NE(observer, nullptr);

  // Every worker is there, at the ports after the masters'.
  std::set<std::string> expected;
  for (int i = 0; i < kWorkers; ++i)
    expected.insert(absl::StrCat("127.0.0.1:", 5678 + kMasters + i));
  auto listed = observer->GetChildren("/nodes/worker");
  ASSERT_OK(listed.status());
  EXPECT_EQ(std::set<std::string>(listed->names.begin(), listed->names.end()), expected);
  EXPECT_EQ(observer->GetChildren("/nodes/master")->names.size(), size_t{kMasters});

  // Four sessions own them all, and every node heartbeats (its data version moves past the
  // create's 0).
  std::vector<std::string> paths;
  for (int i = 0; i < kMasters; ++i)
    paths.push_back(absl::StrCat("/nodes/master/127.0.0.1:", 5678 + i));
  for (const std::string& name : expected) paths.push_back("/nodes/worker/" + name);
  auto all_heartbeated = [&]() {
    for (const std::string& path : paths) {
      auto stat = observer->Exists(path);
      if (!stat.ok() || !stat->has_value() || (*stat)->version < 2) return false;
    }
    return true;
  };
  ASSERT_EVENTUALLY(all_heartbeated());
  std::set<int64_t> owners;
  std::map<int64_t, int> writes_per_100ms;
  for (const std::string& path : paths) {
    auto stat = observer->Exists(path);
    ASSERT_OK(stat.status());
    ASSERT_TRUE(stat->has_value()) << path;
    owners.insert((*stat)->ephemeral_owner);
    ++writes_per_100ms[(*stat)->mtime_ms / 100];
  }
  EXPECT_EQ(owners.size(), 4u);
  // Paced, not bursty: the last writes spread over the 2 s interval (evenly, ~5% in each
  // 100 ms), where a burst of all of them (a few hundred ms here) puts a third or more in one
  // 100 ms. The bound leaves room for a stalled heartbeat thread on a loaded machine.
  int busiest = 0;
  for (const auto& [bucket, count] : writes_per_100ms) busiest = std::max(busiest, count);
  EXPECT_LT(busiest, static_cast<int>(paths.size()) / 5)
      << "the heartbeats came in bursts: " << busiest << " of " << paths.size()
      << " nodes last wrote within the same 100 ms";

  // Killing one node of a shared session removes its znode alone.
  EXPECT_EQ(sim.Execute("kill 127.0.0.1:5700"), "ok kill 127.0.0.1:5700");
  EXPECT_FALSE(observer->Exists("/nodes/worker/127.0.0.1:5700")->has_value());
  EXPECT_EQ(observer->GetChildren("/nodes/worker")->names.size(), size_t{kWorkers - 1});
  EXPECT_TRUE(observer->Exists("/nodes/worker/127.0.0.1:5699")->has_value());
  EXPECT_TRUE(observer->Exists("/nodes/worker/127.0.0.1:5701")->has_value());
  observer->Shutdown();
}

}  // namespace
}  // namespace roster::sim
