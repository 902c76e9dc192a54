// rosterd's registry read with credentials ZooKeeper does not honour, against a real server:
// what the registry reports, and what the cluster layer answers from it.
//
//  - A tree DolphinScheduler wrote with a digest (ZookeeperRegistry.java @ 3.2.2-release:
//    CREATOR_ALL_ACL for every path, the layout roots included) read with another digest.
//    ZooKeeper's digest provider accepts any addauth, so the session is fine; every read of the
//    tree fails with NOAUTH. Without care, the view is empty and "synced", and a master asking
//    for its slot hears "not registered" with confidence.
//  - One znode with a creator-only ACL under a readable root: that node's problem only.
//  - A server that rejects the digest scheme (zookeeper.DigestAuthenticationProvider.enabled =
//    false): a real AUTH_FAILED session.
//
// Label `integration`: every test starts its own ZooKeeper server on a free loopback port.
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "cluster/cluster_manager.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "registry/registry.h"
#include "registry/registry_factory.h"
#include "tests/cluster/cluster_test_util.h"
#include "tests/registry/zookeeper_sessions_fixture.h"
#include "tests/testing/eventually.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/zookeeper_server.h"

namespace roster::testing {
namespace {

using cluster::ClusterManager;
using cluster::ClusterOptions;
using cluster::NodeInfoPtr;
using cluster::NodeState;
using cluster::ViewSnapshot;
using registry::Acl;
using registry::CreateMode;
using registry::CreateOptions;
using registry::Registry;
using registry::RegistryOptions;
using registry::SessionState;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr char kRight[] = "dolphin:right";
constexpr char kWrong[] = "dolphin:wrong";

class ZooKeeperAuthTest : public ZooKeeperSessionsTest {
 protected:
  void TearDown() override {
    managers_.clear();
    ZooKeeperSessionsTest::TearDown();
  }

  // A started registry on the server, under `chroot`, with `digest` ("" for none).
  Registry* Session(const std::string& name, const std::string& digest, const std::string& chroot,
                    bool wait = true) {
    RegistryOptions options = Options(name);
    options.digest = digest;
    return Open(server_->ConnectString() + chroot, std::move(options), wait);
  }

  // A DolphinScheduler process with `digest`: an ephemeral znode, parents created on the way,
  // all with the registry's default ACL (creator only, with a digest).
  void Register(Registry* session, const std::string& path, const std::string& payload,
                std::optional<std::vector<Acl>> acl = std::nullopt) {
    CreateOptions options;
    options.mode = CreateMode::kEphemeral;
    options.create_parents = true;
    options.acl = std::move(acl);
    ASSERT_OK(session->Create(path, payload, options));
  }

  ClusterManager* StartManager(Registry* registry) {
    ClusterOptions options;
    options.run_timers = false;
    options.heartbeat_limits.max_clock_skew = absl::Hours(24 * 365 * 100);
    options.slot_policy = cluster::SlotPolicy::kStable;
    managers_.push_back(std::make_unique<ClusterManager>(registry, options));
    EXPECT_OK(managers_.back()->Start());
    return managers_.back().get();
  }

  static NodeInfoPtr FindMaster(const ViewSnapshot& at, const std::string& address) {
    for (const NodeInfoPtr& node : at.view->masters) {
      if (node->address == address) return node;
    }
    return nullptr;
  }

  std::vector<std::unique_ptr<ClusterManager>> managers_;
};

TEST_F(ZooKeeperAuthTest, TheWrongDigestForDolphinSchedulersAclsRefusesEveryAuthorityAnswer) {
  StartServer();
  // DolphinScheduler's registry with registry.zookeeper.digest set: everything creator-only.
  Registry* scheduler = Session("scheduler", kRight, "");
  ASSERT_NE(scheduler, nullptr);
  Register(scheduler, "/dolphinscheduler/nodes/master/10.0.0.1:5678", HeartbeatJson("NORMAL"));
  Register(scheduler, "/dolphinscheduler/nodes/master/10.0.0.2:5678", HeartbeatJson("NORMAL"));
  Register(scheduler, "/dolphinscheduler/nodes/worker/10.0.0.3:1234", HeartbeatJson("NORMAL"));

  // The control: the right digest sees the cluster and answers.
  ClusterManager* trusted = StartManager(Session("trusted", kRight, "/dolphinscheduler"));
  ASSERT_EVENTUALLY(trusted->Snapshot().view->masters.size() == 2u && trusted->ready());
  ViewSnapshot good = trusted->Snapshot();
  EXPECT_THAT(good.freshness.access_problem, IsEmpty());
  ASSERT_OK_AND_ASSIGN(cluster::SlotAnswer slot,
                       trusted->GetMasterSlot(good, "10.0.0.2:5678", std::nullopt));
  EXPECT_EQ(slot.slot, 1);
  EXPECT_EQ(slot.total, 2);
  EXPECT_OK(trusted->SelectWorker(good, cluster::SelectRequest()).status());

  // The wrong digest: the session connects (any digest is accepted by addauth), every read of
  // the tree is NOAUTH. The first full read completes, empty.
  Registry* wrong = Session("wrong", kWrong, "/dolphinscheduler");
  ASSERT_NE(wrong, nullptr);
  EXPECT_EQ(wrong->session().state, SessionState::kConnected);
  ClusterManager* manager = StartManager(wrong);
  ASSERT_EVENTUALLY(manager->ready());
  const ViewSnapshot at = manager->Snapshot();
  EXPECT_THAT(at.view->masters, IsEmpty()) << "ZooKeeper shows nothing below an unreadable root";
  EXPECT_THAT(at.view->workers, IsEmpty());
  EXPECT_THAT(at.freshness.access_problem,
              AllOf(HasSubstr("'/nodes/master'"), HasSubstr("'/nodes/worker'"), HasSubstr("NOAUTH"),
                    HasSubstr("--zk_digest_file")));
  EXPECT_FALSE(at.freshness.authoritative);
  // Never "not registered", "no leader" or "no worker": refused, saying why.
  const auto refused = StatusIs(absl::StatusCode::kUnavailable,
                                AllOf(HasSubstr("NOAUTH"), HasSubstr("--zk_digest_file")));
  EXPECT_THAT(manager->GetMasterSlot(at, "10.0.0.1:5678", std::nullopt), refused);
  EXPECT_THAT(manager->GetLeader(at), refused);
  EXPECT_THAT(manager->SelectWorker(at, cluster::SelectRequest()), refused);

  // Still refused after the next full read: the problem does not fade with time.
  const int64_t reads = manager->resyncs();
  manager->ResyncNow();
  ASSERT_EVENTUALLY(manager->resyncs() > reads);
  EXPECT_THAT(manager->GetMasterSlot(manager->Snapshot(), "10.0.0.1:5678", std::nullopt), refused);
}

TEST_F(ZooKeeperAuthTest, OneUnreadableZnodeIsThatNodesProblemOnly) {
  StartServer();
  Registry* open = Session("open", "", "");
  ASSERT_NE(open, nullptr);
  CreateOptions parents;
  parents.create_parents = true;
  parents.acl = Acl::Open();
  ASSERT_OK(open->Create("/dolphinscheduler/nodes/master", "", parents));
  ASSERT_OK(open->Create("/dolphinscheduler/nodes/worker", "", parents));
  Register(open, "/dolphinscheduler/nodes/master/10.0.0.1:5678", HeartbeatJson("NORMAL"));
  Register(open, "/dolphinscheduler/nodes/worker/10.0.0.3:1234", HeartbeatJson("NORMAL"));
  Registry* secretive = Session("secretive", kRight, "");
  ASSERT_NE(secretive, nullptr);
  Register(secretive, "/dolphinscheduler/nodes/master/10.0.0.2:5678", HeartbeatJson("NORMAL"));

  ClusterManager* manager = StartManager(Session("rosterd", kWrong, "/dolphinscheduler"));
  ASSERT_EVENTUALLY(manager->ready() &&
                    FindMaster(manager->Snapshot(), "10.0.0.2:5678") != nullptr &&
                    FindMaster(manager->Snapshot(), "10.0.0.2:5678")->state == NodeState::kFault);
  const ViewSnapshot at = manager->Snapshot();
  EXPECT_THAT(at.freshness.access_problem, IsEmpty());
  EXPECT_TRUE(at.freshness.authoritative);
  const NodeInfoPtr unreadable = FindMaster(at, "10.0.0.2:5678");
  EXPECT_THAT(unreadable->reason,
              AllOf(HasSubstr("cannot read znode"), HasSubstr("/nodes/master/10.0.0.2:5678"),
                    HasSubstr("--zk_digest_file")));
  // The readable master holds the only slot; the unreadable one is told why it has none.
  ASSERT_OK_AND_ASSIGN(cluster::SlotAnswer slot,
                       manager->GetMasterSlot(at, "10.0.0.1:5678", std::nullopt));
  EXPECT_EQ(slot.slot, 0);
  EXPECT_EQ(slot.total, 1);
  EXPECT_THAT(manager->GetMasterSlot(at, "10.0.0.2:5678", std::nullopt),
              StatusIs(::testing::_, HasSubstr("FAULT")));
  EXPECT_OK(manager->SelectWorker(at, cluster::SelectRequest()).status());
}

TEST_F(ZooKeeperAuthTest, AnAuthFailedSessionRefusesEveryAuthorityAnswer) {
  ZooKeeperServerOptions options;
  options.system_properties = {{"zookeeper.DigestAuthenticationProvider.enabled", "false"}};
  StartServer(std::move(options));
  Registry* registry = Session("rosterd", kRight, "", /*wait=*/false);
  ASSERT_NE(registry, nullptr);
  ClusterManager* manager = StartManager(registry);
  ASSERT_EVENTUALLY(manager->Snapshot().freshness.session_state == SessionState::kAuthFailed);
  const ViewSnapshot at = manager->Snapshot();
  EXPECT_THAT(at.freshness.access_problem,
              AllOf(HasSubstr("AUTH_FAILED"), HasSubstr("--zk_digest_file")));
  EXPECT_FALSE(at.freshness.authoritative);
  const auto refused = StatusIs(absl::StatusCode::kUnavailable,
                                AllOf(HasSubstr("AUTH_FAILED"), HasSubstr("--zk_digest_file")));
  EXPECT_THAT(manager->GetMasterSlot(at, "10.0.0.1:5678", std::nullopt), refused);
  EXPECT_THAT(manager->GetLeader(at), refused);
  EXPECT_THAT(manager->SelectWorker(at, cluster::SelectRequest()), refused);
}

}  // namespace
}  // namespace roster::testing
