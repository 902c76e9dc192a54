// The simulator against a real ZooKeeper server (Debian's package, started by the fixture):
// the chroot is created, every node has its own session so killing one removes only its
// znode, and digest credentials give creator-only ACLs, as DolphinScheduler does.
#include <memory>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
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

}  // namespace
}  // namespace roster::sim
