// rosterd on etcd, end to end: the same DolphinScheduler cluster (roster-sim writing DS 3.3's
// layout and heartbeats through the Registry API, as DS's own registry plugins lay them out)
// once into ZooKeeper and once into a real etcd, one rosterd on each
// (--registry=zk://... and --registry=etcd://.../dolphinscheduler). Both must give the same
// answers: the same nodes in the same states and groups, the same master slots and leader;
// and the etcd one must follow a node that leaves.

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/e2e_env.h"
#include "tests/testing/etcd_server.h"
#include "tests/testing/eventually.h"
#include "tests/testing/status_matchers.h"

namespace roster::testing {
namespace {

// What a scheduler asks of rosterd, one line per node ("worker 127.0.0.1:5681 RUNNING
// groups=default,etl slot=-"), plus the leader: everything that must not depend on the
// registry. Incarnations, reasons and times do (etcd revisions are no ZooKeeper zxids).
std::vector<std::string> Answers(const v1::GetClusterViewResponse& view) {
  std::vector<std::string> out;
  for (const auto* nodes : {&view.masters(), &view.workers(), &view.alert_servers()}) {
    for (const v1::Node& node : *nodes) {
      out.push_back(absl::StrCat(v1::NodeRole_Name(node.role()), " ", node.address(), " ",
                                 v1::NodeState_Name(node.state()),
                                 " groups=", absl::StrJoin(node.groups(), ","),
                                 " slot=", node.has_slot() ? absl::StrCat(node.slot()) : "-"));
    }
  }
  out.push_back(absl::StrCat("leader ", view.has_leader() ? view.leader().address() : "-"));
  std::sort(out.begin(), out.end());
  return out;
}

class EtcdE2eTest : public E2eTest {
 protected:
  void SetUp() override {
    E2eTest::SetUp();
    ASSERT_OK(etcd_.Start());
  }

  void TearDown() override {
    etcd_sim_.reset();
    E2eTest::TearDown();
  }

  std::string EtcdUri() const { return absl::StrCat("etcd://", etcd_.Endpoint(), kChroot); }

  // The flags of both simulators: DS 3.3's layout and heartbeats, fast heartbeats.
  static std::vector<std::string> SimFlags() {
    return {"--dolphinscheduler_version=3.3", "--groups=etl,spark"};
  }

  EtcdServer etcd_;
  std::unique_ptr<SimProcess> etcd_sim_;
};

TEST_F(EtcdE2eTest, RosterdOnEtcdAnswersAsOnZooKeeper) {
  ASSERT_NE(StartSim(3, 6, "etl,spark", SimFlags()), nullptr);
  // The same cluster into etcd: the simulator's flags as StartSim() sets them, another URI.
  std::vector<std::string> flags = {"--registry=" + EtcdUri(),
                                    "--masters=3",
                                    "--workers=6",
                                    "--groups=etl,spark",
                                    "--dolphinscheduler_version=roster",
                                    "--heartbeat_interval_ms=200",
                                    "--session_timeout_ms=6000"};
  for (const std::string& flag : SimFlags()) flags.push_back(flag);
  ASSERT_OK_AND_ASSIGN(etcd_sim_, SimProcess::Start(dir_.path(), flags));

  RosterdProcess* on_zk = StartRosterd({"--dolphinscheduler_version=3.3"});
  RosterdProcess* on_etcd =
      StartRosterd({"--registry=" + EtcdUri(), "--dolphinscheduler_version=3.3"});
  ASSERT_NE(on_zk, nullptr);
  ASSERT_NE(on_etcd, nullptr);
  ASSERT_TRUE(WaitSettled(on_zk, 3, 6));
  ASSERT_TRUE(WaitSettled(on_etcd, 3, 6));

  ASSERT_OK_AND_ASSIGN(v1::GetClusterViewResponse zk_view, on_zk->View());
  ASSERT_OK_AND_ASSIGN(v1::GetClusterViewResponse etcd_view, on_etcd->View());
  EXPECT_EQ(Answers(etcd_view), Answers(zk_view));
  // The simulator numbers its nodes from --base_port (5678): masters first, the first master
  // holds the coordinator znode.
  EXPECT_EQ(etcd_view.leader().address(), "127.0.0.1:5678");
  EXPECT_EQ(etcd_view.meta().dolphinscheduler().version(),
            zk_view.meta().dolphinscheduler().version());

  // A worker leaves (its session closes: the lease is revoked, its key goes).
  ASSERT_OK_AND_ASSIGN(std::vector<SimProcess::Node> nodes, etcd_sim_->List());
  const std::string leaving = nodes.back().address;
  ASSERT_OK(etcd_sim_->Command("kill " + leaving).status());
  ASSERT_OK(sim_->Command("kill " + leaving).status());
  auto gone = [&](RosterdProcess* daemon) {
    absl::StatusOr<v1::GetClusterViewResponse> view = daemon->View();
    if (!view.ok()) return false;
    const v1::Node* node = FindNode(*view, leaving);
    return node == nullptr || node->state() == v1::OFFLINE;
  };
  ASSERT_EVENTUALLY_WITHIN(kReactTimeout, gone(on_etcd) && gone(on_zk));
  ASSERT_EVENTUALLY_WITHIN(kReactTimeout, [&] {
    absl::StatusOr<v1::GetClusterViewResponse> a = on_zk->View();
    absl::StatusOr<v1::GetClusterViewResponse> b = on_etcd->View();
    return a.ok() && b.ok() && Answers(*a) == Answers(*b);
  }());
}

}  // namespace
}  // namespace roster::testing
