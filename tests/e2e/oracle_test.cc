// The oracle (tests/e2e/oracle.h) on hand-made inputs: it must report every kind of
// disagreement it exists to catch, and only those, before a fault test may trust a
// "consistent". ReadZooKeeper() is checked on a memory:// registry laid out by hand.
#include "tests/e2e/oracle.h"

#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "registry/registry_factory.h"
#include "tests/testing/status_matchers.h"

namespace roster::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Pair;
using ::testing::SizeIs;

constexpr char kMaster[] = "127.0.0.1:5678";
constexpr char kWorker[] = "127.0.0.1:1234";

// ZooKeeper: one master (czxid 0x10), one worker (0x11), the master holding the coordinator
// znode (0x12).
RegistryFacts Facts() {
  RegistryFacts facts;
  facts.nodes[absl::StrCat("master ", kMaster)] = {0x10};
  facts.nodes[absl::StrCat("worker ", kWorker)] = {0x11};
  facts.coordinator = RegistryFacts::Coordinator{kMaster, 0x12};
  return facts;
}

v1::Node* AddNode(google::protobuf::RepeatedPtrField<v1::Node>* nodes, const std::string& address,
                  int64_t czxid, v1::NodeState state = v1::RUNNING) {
  v1::Node* node = nodes->Add();
  node->set_address(address);
  node->set_state(state);
  node->mutable_incarnation()->set_czxid(czxid);
  return node;
}

// rosterd agreeing with Facts().
v1::GetClusterViewResponse View() {
  v1::GetClusterViewResponse view;
  view.mutable_meta()->set_version(7);
  AddNode(view.mutable_masters(), kMaster, 0x10);
  AddNode(view.mutable_workers(), kWorker, 0x11);
  view.mutable_leader()->set_address(kMaster);
  view.mutable_leader()->set_fencing_token(0x12);
  return view;
}

OracleResult Diff(const v1::GetClusterViewResponse& view, const RegistryFacts& facts = Facts()) {
  return ZooKeeperOracle::Diff(facts, view, facts, OracleOptions());
}

TEST(OracleDiffTest, AgreementIsConsistent) {
  const OracleResult result = Diff(View());
  EXPECT_TRUE(result.Consistent()) << result;
  EXPECT_EQ(result.znodes, 2);
  EXPECT_EQ(result.reported_live, 2);
  EXPECT_EQ(result.view_version, 7u);
  EXPECT_THAT(result.ToString(), HasSubstr("consistent"));
}

TEST(OracleDiffTest, ANodeAbsentOrOfflineInTheViewIsLost) {
  v1::GetClusterViewResponse absent = View();
  absent.clear_workers();
  OracleResult result = Diff(absent);
  EXPECT_FALSE(result.Consistent());
  EXPECT_THAT(result.lost, ElementsAre(HasSubstr("worker 127.0.0.1:1234: znode czxid 0x11; "
                                                 "rosterd: absent")));
  EXPECT_THAT(result.ghost, IsEmpty());

  v1::GetClusterViewResponse offline = View();
  offline.mutable_workers(0)->set_state(v1::OFFLINE);
  offline.mutable_workers(0)->set_reason("znode removed");
  result = Diff(offline);
  EXPECT_THAT(result.lost, ElementsAre(HasSubstr("rosterd: OFFLINE czxid 0x11 'znode removed'")));
  EXPECT_THAT(result.ToString(), HasSubstr("INCONSISTENT"));
  EXPECT_THAT(result.ToString(), HasSubstr("\n  lost: worker 127.0.0.1:1234"));
}

TEST(OracleDiffTest, EveryStateButOfflineIsLive) {
  for (v1::NodeState state :
       {v1::REGISTERING, v1::RUNNING, v1::OVERLOAD, v1::FAULT, v1::RECOVERING}) {
    v1::GetClusterViewResponse view = View();
    view.mutable_workers(0)->set_state(state);
    EXPECT_TRUE(Diff(view).Consistent()) << v1::NodeState_Name(state);
  }
}

TEST(OracleDiffTest, ALiveNodeWithoutAZnodeIsAGhost) {
  v1::GetClusterViewResponse view = View();
  AddNode(view.mutable_workers(), "127.0.0.1:1235", 0x20, v1::FAULT);
  // A tombstone is not a claim that the node is there.
  AddNode(view.mutable_workers(), "127.0.0.1:1236", 0x21, v1::OFFLINE);
  const OracleResult result = Diff(view);
  EXPECT_THAT(result.ghost,
              ElementsAre("worker 127.0.0.1:1235: no znode; rosterd: FAULT czxid 0x20"));
  EXPECT_THAT(result.lost, IsEmpty());
  EXPECT_EQ(result.reported_live, 3);
}

TEST(OracleDiffTest, AnotherCzxidIsAnIncarnationMismatch) {
  v1::GetClusterViewResponse view = View();
  view.mutable_masters(0)->mutable_incarnation()->set_czxid(0x9);
  const OracleResult result = Diff(view);
  EXPECT_THAT(result.incarnation,
              ElementsAre("master 127.0.0.1:5678: znode czxid 0x10; rosterd: RUNNING czxid 0x9"));
  EXPECT_THAT(result.lost, IsEmpty());
  EXPECT_FALSE(result.Consistent());
}

TEST(OracleDiffTest, TheSameAddressInAnotherRoleIsNotTheSameNode) {
  v1::GetClusterViewResponse view = View();
  view.clear_masters();
  AddNode(view.mutable_workers(), kMaster, 0x10);
  const OracleResult result = Diff(view);
  EXPECT_THAT(result.lost, ElementsAre(HasSubstr("master 127.0.0.1:5678")));
  EXPECT_THAT(result.ghost, ElementsAre(HasSubstr("worker 127.0.0.1:5678")));
}

TEST(OracleDiffTest, ALegacyWorkerMatchesAnyOfItsZnodes) {
  RegistryFacts facts = Facts();
  facts.nodes[absl::StrCat("worker ", kWorker)] = {0x11, 0x15};  // in two group directories
  v1::GetClusterViewResponse view = View();
  view.mutable_workers(0)->mutable_incarnation()->set_czxid(0x15);
  EXPECT_TRUE(Diff(view, facts).Consistent()) << Diff(view, facts);
  view.mutable_workers(0)->mutable_incarnation()->set_czxid(0x16);
  EXPECT_THAT(Diff(view, facts).incarnation, ElementsAre(HasSubstr("znode czxid 0x11,0x15")));
}

TEST(OracleDiffTest, WhatChangedBetweenTheReadsIsUnsettledNotJudged) {
  RegistryFacts after = Facts();
  after.nodes.erase(absl::StrCat("worker ", kWorker));  // the worker left during the check
  after.nodes[absl::StrCat("worker ", "127.0.0.1:1235")] = {0x30};  // another one came
  after.coordinator->czxid = 0x31;                                  // a new leader term
  const OracleResult result = ZooKeeperOracle::Diff(Facts(), View(), after, OracleOptions());
  EXPECT_THAT(result.unsettled, SizeIs(3)) << result;
  EXPECT_THAT(result.lost, IsEmpty());
  EXPECT_THAT(result.ghost, IsEmpty());
  EXPECT_THAT(result.leader, IsEmpty());
  EXPECT_FALSE(result.Consistent());
  // The same worker re-created between the reads (another czxid) is unsettled too.
  after = Facts();
  after.nodes[absl::StrCat("worker ", kWorker)] = {0x40};
  EXPECT_THAT(ZooKeeperOracle::Diff(Facts(), View(), after, OracleOptions()).unsettled,
              ElementsAre(HasSubstr("worker 127.0.0.1:1234")));
}

TEST(OracleDiffTest, TheLeaderIsTheCoordinatorZnode) {
  v1::GetClusterViewResponse view = View();
  view.mutable_leader()->set_fencing_token(0x11);
  EXPECT_THAT(Diff(view).leader,
              ElementsAre("coordinator znode names 127.0.0.1:5678 (czxid 0x12); rosterd reports "
                          "127.0.0.1:5678 token 0x11"));
  view = View();
  view.clear_leader();
  EXPECT_THAT(Diff(view).leader, ElementsAre(HasSubstr("rosterd reports no leader")));
  RegistryFacts no_coordinator = Facts();
  no_coordinator.coordinator.reset();
  EXPECT_THAT(Diff(View(), no_coordinator).leader,
              ElementsAre(HasSubstr("; no coordinator znode")));
  // Not compared when the release has no coordinator.
  OracleOptions options;
  options.check_leader = false;
  EXPECT_TRUE(ZooKeeperOracle::Diff(no_coordinator, View(), no_coordinator, options).Consistent());
}

TEST(OracleDiffTest, AFailedReadIsNoComparison) {
  OracleResult result;
  result.status = absl::UnavailableError("connection loss");
  EXPECT_FALSE(result.Consistent());
  EXPECT_THAT(result.ToString(), HasSubstr("no comparison: UNAVAILABLE: connection loss"));
}

TEST(OracleReadTest, ReadsBothLayoutsAndTheCoordinator) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<registry::Registry> zookeeper,
                       registry::NewRegistry("memory://", {}));
  ASSERT_OK(zookeeper->Start());
  ASSERT_OK(zookeeper->WaitConnected(absl::Seconds(10)));
  registry::CreateOptions ephemeral;
  ephemeral.mode = registry::CreateMode::kEphemeral;
  ephemeral.create_parents = true;
  registry::CreateOptions persistent;
  persistent.create_parents = true;
  ASSERT_OK_AND_ASSIGN(std::string master,
                       zookeeper->Create("/nodes/master/127.0.0.1:5678", "", ephemeral));
  ASSERT_OK(zookeeper->Create("/nodes/worker/127.0.0.1:1234", "", ephemeral).status());
  // The legacy layout: the same worker in two groups, another one in a group only.
  ASSERT_OK(zookeeper->Create("/nodes/worker/etl/127.0.0.1:1235", "", ephemeral).status());
  ASSERT_OK(zookeeper->Create("/nodes/worker/spark/127.0.0.1:1235", "", ephemeral).status());
  // Not nodes: a name without a port, a port out of range, a master "group".
  ASSERT_OK(zookeeper->Create("/nodes/worker/foo", "", ephemeral).status());
  ASSERT_OK(zookeeper->Create("/nodes/worker/127.0.0.1:70000", "", ephemeral).status());
  ASSERT_OK(zookeeper->Create("/nodes/master/etl/127.0.0.1:5679", "", persistent).status());
  ASSERT_OK(
      zookeeper->Create("/nodes/master-coordinator", "127.0.0.1:5678#1700000000000", ephemeral)
          .status());

  ZooKeeperOracle oracle(zookeeper.get());
  ASSERT_OK_AND_ASSIGN(RegistryFacts facts, oracle.ReadZooKeeper());
  ASSERT_OK_AND_ASSIGN(registry::Node master_znode, zookeeper->Get(master));
  ASSERT_OK_AND_ASSIGN(registry::Node etl, zookeeper->Get("/nodes/worker/etl/127.0.0.1:1235"));
  ASSERT_OK_AND_ASSIGN(registry::Node spark, zookeeper->Get("/nodes/worker/spark/127.0.0.1:1235"));
  ASSERT_OK_AND_ASSIGN(registry::Node coordinator, zookeeper->Get("/nodes/master-coordinator"));
  EXPECT_THAT(facts.nodes,
              ElementsAre(Pair("master 127.0.0.1:5678", ElementsAre(master_znode.stat.czxid)),
                          Pair("worker 127.0.0.1:1234", SizeIs(1)),
                          Pair("worker 127.0.0.1:1235",
                               ElementsAre(std::min(etl.stat.czxid, spark.stat.czxid),
                                           std::max(etl.stat.czxid, spark.stat.czxid)))));
  ASSERT_TRUE(facts.coordinator.has_value());
  EXPECT_EQ(facts.coordinator->address, "127.0.0.1:5678");
  EXPECT_EQ(facts.coordinator->czxid, coordinator.stat.czxid);

  // Nothing registered (no directories at all): no nodes, no coordinator, no error.
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<registry::Registry> empty,
                       registry::NewRegistry("memory://", {}));
  ASSERT_OK(empty->Start());
  ASSERT_OK(empty->WaitConnected(absl::Seconds(10)));
  ASSERT_OK_AND_ASSIGN(RegistryFacts none, ZooKeeperOracle(empty.get()).ReadZooKeeper());
  EXPECT_THAT(none.nodes, IsEmpty());
  EXPECT_FALSE(none.coordinator.has_value());
  empty->Shutdown();
  zookeeper->Shutdown();
}

}  // namespace
}  // namespace roster::testing
