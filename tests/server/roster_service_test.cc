// roster.v1.Roster's unary RPCs against an in-process daemon: happy paths, the error codes
// and messages a scheduler master acts on, and the ViewMeta every answer carries.
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/server_test_env.h"
#include "tests/testing/eventually.h"

namespace roster::testing {
namespace {

using cluster::NodeRole;
using cluster::NodeState;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

class RosterServiceTest : public ServerTest {
 protected:
  void SetUp() override {
    ServerTest::SetUp();
    StartDaemon();
  }

  // Two masters, three workers (two in "etl"), one alert server, a leader.
  void AddCluster() {
    AddMaster("10.0.0.1:5678");
    AddMaster("10.0.0.2:5678");
    AddWorker("10.0.0.21:1234", "NORMAL", "etl");
    AddWorker("10.0.0.22:1234", "NORMAL", "etl");
    AddWorker("10.0.0.23:1234");
    AddNode(kAlertServers, "10.0.0.31:50052", HeartbeatJson("NORMAL"));
    SetLeader("10.0.0.1:5678");
    ASSERT_EVENTUALLY(InState(NodeRole::kWorker, "10.0.0.23:1234", NodeState::kRunning) &&
                      InState(NodeRole::kWorker, "10.0.0.22:1234", NodeState::kRunning) &&
                      InState(NodeRole::kWorker, "10.0.0.21:1234", NodeState::kRunning) &&
                      InState(NodeRole::kMaster, "10.0.0.2:5678", NodeState::kRunning) &&
                      InState(NodeRole::kMaster, "10.0.0.1:5678", NodeState::kRunning) &&
                      Find(NodeRole::kAlertServer, "10.0.0.31:50052") != nullptr &&
                      daemon_->cluster()->view()->leader.present);
  }
};

std::vector<std::string> Addresses(const google::protobuf::RepeatedPtrField<v1::Node>& nodes) {
  std::vector<std::string> out;
  for (const v1::Node& node : nodes) out.push_back(node.address());
  return out;
}

TEST_F(RosterServiceTest, GetClusterViewReturnsEverythingWithMeta) {
  AddCluster();
  CallContext context;
  v1::GetClusterViewResponse response;
  ASSERT_THAT(roster_->GetClusterView(&context, {}, &response), GrpcOk());
  ExpectFreshMeta(response.meta());
  EXPECT_THAT(Addresses(response.masters()), ElementsAre("10.0.0.1:5678", "10.0.0.2:5678"));
  EXPECT_THAT(Addresses(response.workers()),
              ElementsAre("10.0.0.21:1234", "10.0.0.22:1234", "10.0.0.23:1234"));
  EXPECT_THAT(Addresses(response.alert_servers()), ElementsAre("10.0.0.31:50052"));
  EXPECT_EQ(response.slots().masters_size(), 2);
  EXPECT_NE(response.slots().epoch(), 0u);
  EXPECT_EQ(response.leader().address(), "10.0.0.1:5678");
  EXPECT_GT(response.leader().fencing_token(), 0);
  ASSERT_GE(response.groups_size(), 2);
  // Nodes carry their heartbeat, how old it is, and (masters) their slot.
  const v1::Node& master = response.masters(1);
  EXPECT_EQ(master.role(), v1::MASTER);
  EXPECT_EQ(master.state(), v1::RUNNING);
  EXPECT_TRUE(master.has_slot());
  EXPECT_EQ(master.slot(), 1);
  EXPECT_EQ(master.heartbeat().process_id(), 23817);
  EXPECT_GE(master.heartbeat_age().seconds(), 0);
  EXPECT_LT(master.heartbeat_age().seconds(), 60);
  EXPECT_GT(master.state_since().seconds(), 0);
  EXPECT_GT(master.incarnation().czxid(), 0);
  EXPECT_THAT(master.paths(), ElementsAre("/nodes/master/10.0.0.2:5678"));
  EXPECT_THAT(response.workers(0).groups(), ElementsAre("default", "etl"));
  EXPECT_THAT(response.workers(0).history(), IsEmpty());  // GetNode only
}

TEST_F(RosterServiceTest, ListMastersWithSlots) {
  AddCluster();
  CallContext context;
  v1::ListNodesResponse response;
  ASSERT_THAT(roster_->ListMasters(&context, {}, &response), GrpcOk());
  ExpectFreshMeta(response.meta());
  ASSERT_EQ(response.nodes_size(), 2);
  EXPECT_EQ(response.nodes(0).slot(), 0);
  EXPECT_EQ(response.nodes(1).slot(), 1);
}

TEST_F(RosterServiceTest, ListWorkersByGroupAndState) {
  AddCluster();
  SetPayload(kWorkers, "10.0.0.22:1234",
             HeartbeatJson("BUSY", 1729238400123, 23817, 1729238650456, 0.2, 0.3, "etl"));
  ASSERT_EVENTUALLY(InState(NodeRole::kWorker, "10.0.0.22:1234", NodeState::kOverload));

  {
    CallContext context;
    v1::ListNodesResponse response;
    ASSERT_THAT(roster_->ListWorkers(&context, {}, &response), GrpcOk());
    ExpectFreshMeta(response.meta());
    EXPECT_EQ(response.nodes_size(), 3);
  }
  {
    CallContext context;
    v1::ListWorkersRequest request;
    request.set_group("etl");
    request.add_states(v1::RUNNING);
    v1::ListNodesResponse response;
    ASSERT_THAT(roster_->ListWorkers(&context, request, &response), GrpcOk());
    EXPECT_THAT(Addresses(response.nodes()), ElementsAre("10.0.0.21:1234"));
  }
  {
    CallContext context;
    v1::ListWorkersRequest request;
    request.set_group("nope");
    v1::ListNodesResponse response;
    EXPECT_THAT(roster_->ListWorkers(&context, request, &response),
                GrpcIs(grpc::StatusCode::NOT_FOUND,
                       AllOf(HasSubstr("no worker group 'nope'"), HasSubstr("etl"))));
  }
  {
    CallContext context;
    v1::ListWorkersRequest request;
    request.set_group("a/b");
    v1::ListNodesResponse response;
    EXPECT_THAT(roster_->ListWorkers(&context, request, &response),
                GrpcIs(grpc::StatusCode::INVALID_ARGUMENT, HasSubstr("group: ")));
  }
  {
    CallContext context;
    v1::ListWorkersRequest request;
    request.add_states(static_cast<v1::NodeState>(42));
    v1::ListNodesResponse response;
    EXPECT_THAT(
        roster_->ListWorkers(&context, request, &response),
        GrpcIs(grpc::StatusCode::INVALID_ARGUMENT, HasSubstr("states[0]: 42 is not a NodeState")));
  }
}

TEST_F(RosterServiceTest, GroupsAndOneGroup) {
  AddCluster();
  SetPayload(kWorkers, "10.0.0.22:1234",
             HeartbeatJson("BUSY", 1729238400123, 23817, 1729238650456, 0.2, 0.3, "etl"));
  ASSERT_EVENTUALLY(InState(NodeRole::kWorker, "10.0.0.22:1234", NodeState::kOverload));
  {
    CallContext context;
    v1::ListGroupsResponse response;
    ASSERT_THAT(roster_->ListGroups(&context, {}, &response), GrpcOk());
    ExpectFreshMeta(response.meta());
    ASSERT_EQ(response.groups_size(), 2);
    EXPECT_EQ(response.groups(0).name(), "default");
    EXPECT_EQ(response.groups(0).members(), 3);
    EXPECT_EQ(response.groups(1).name(), "etl");
    EXPECT_EQ(response.groups(1).members(), 2);
    EXPECT_EQ(response.groups(1).selectable(), 1);
    EXPECT_EQ(response.groups(1).by_state().at("OVERLOAD"), 1);
  }
  {
    CallContext context;
    v1::GetWorkerGroupRequest request;
    request.set_name("etl");
    request.set_selectable_only(true);
    v1::GetWorkerGroupResponse response;
    ASSERT_THAT(roster_->GetWorkerGroup(&context, request, &response), GrpcOk());
    ExpectFreshMeta(response.meta());
    EXPECT_EQ(response.group().members(), 2);
    EXPECT_THAT(Addresses(response.workers()), ElementsAre("10.0.0.21:1234"));
  }
  {
    // The BASIC view: what a dispatcher needs, without the heartbeat, incarnation and reason.
    CallContext context;
    v1::GetWorkerGroupRequest request;
    request.set_name("etl");
    request.set_view(v1::NODE_VIEW_BASIC);
    v1::GetWorkerGroupResponse response;
    ASSERT_THAT(roster_->GetWorkerGroup(&context, request, &response), GrpcOk());
    ASSERT_EQ(response.workers_size(), 2);
    const v1::Node& busy = response.workers(1);
    EXPECT_EQ(busy.address(), "10.0.0.22:1234");
    EXPECT_EQ(busy.state(), v1::OVERLOAD);
    EXPECT_THAT(busy.groups(), ElementsAre("default", "etl"));
    EXPECT_FALSE(busy.has_heartbeat());
    EXPECT_FALSE(busy.has_incarnation());
    EXPECT_TRUE(busy.reason().empty());
    const size_t basic_bytes = response.ByteSizeLong();
    request.set_view(v1::NODE_VIEW_FULL);
    CallContext full_context;
    ASSERT_THAT(roster_->GetWorkerGroup(&full_context, request, &response), GrpcOk());
    EXPECT_TRUE(response.workers(1).has_heartbeat());
    EXPECT_LT(2 * basic_bytes, response.ByteSizeLong());
    request.set_view(static_cast<v1::NodeView>(42));
    CallContext bad_context;
    EXPECT_THAT(roster_->GetWorkerGroup(&bad_context, request, &response),
                GrpcIs(grpc::StatusCode::INVALID_ARGUMENT, HasSubstr("view: 42")));
  }
  {
    CallContext context;
    v1::GetWorkerGroupRequest request;
    request.set_name("ingest");
    v1::GetWorkerGroupResponse response;
    EXPECT_THAT(roster_->GetWorkerGroup(&context, request, &response),
                GrpcIs(grpc::StatusCode::NOT_FOUND, HasSubstr("no worker group 'ingest'")));
  }
  {
    CallContext context;
    v1::GetWorkerGroupResponse response;
    EXPECT_THAT(roster_->GetWorkerGroup(&context, {}, &response),
                GrpcIs(grpc::StatusCode::INVALID_ARGUMENT, HasSubstr("name: is required")));
  }
}

TEST_F(RosterServiceTest, GetNodeWithHistory) {
  AddCluster();
  SetPayload(kWorkers, "10.0.0.23:1234", HeartbeatJson("BUSY"));
  ASSERT_EVENTUALLY(InState(NodeRole::kWorker, "10.0.0.23:1234", NodeState::kOverload));
  CallContext context;
  v1::GetNodeRequest request;
  request.set_address("10.0.0.23:1234");
  v1::GetNodeResponse response;
  ASSERT_THAT(roster_->GetNode(&context, request, &response), GrpcOk());
  ExpectFreshMeta(response.meta());
  EXPECT_EQ(response.node().state(), v1::OVERLOAD);
  EXPECT_EQ(response.node().heartbeat().server_status(), v1::Heartbeat::BUSY);
  ASSERT_GE(response.node().history_size(), 2);
  EXPECT_EQ(response.node().history(response.node().history_size() - 1).to(), v1::OVERLOAD);
  EXPECT_FALSE(response.node().history(0).cause().empty());
}

TEST_F(RosterServiceTest, GetNodeErrors) {
  {
    CallContext context;
    v1::GetNodeRequest request;
    request.set_address("10.9.9.9:1");
    v1::GetNodeResponse response;
    EXPECT_THAT(roster_->GetNode(&context, request, &response),
                GrpcIs(grpc::StatusCode::NOT_FOUND, HasSubstr("no node '10.9.9.9:1'")));
  }
  for (const char* bad : {"", "no-port", "host:0", "host:99999", "a b:12"}) {
    CallContext context;
    v1::GetNodeRequest request;
    request.set_address(bad);
    v1::GetNodeResponse response;
    EXPECT_THAT(roster_->GetNode(&context, request, &response),
                GrpcIs(grpc::StatusCode::INVALID_ARGUMENT, HasSubstr("address: ")))
        << "'" << bad << "'";
  }
}

TEST_F(RosterServiceTest, SelectWorkerRoundRobinAndExplain) {
  AddCluster();
  std::set<std::string> picked;
  for (int i = 0; i < 4; ++i) {
    CallContext context;
    v1::SelectWorkerRequest request;
    request.set_group("etl");  // UNSPECIFIED strategy: ROUND_ROBIN
    v1::SelectWorkerResponse response;
    ASSERT_THAT(roster_->SelectWorker(&context, request, &response), GrpcOk());
    ExpectFreshMeta(response.meta());
    EXPECT_EQ(response.worker().role(), v1::WORKER);
    EXPECT_THAT(response.candidates(), IsEmpty());
    picked.insert(response.worker().address());
  }
  EXPECT_THAT(picked, ElementsAre("10.0.0.21:1234", "10.0.0.22:1234"));

  CallContext context;
  v1::SelectWorkerRequest request;  // empty group: "default"
  request.set_strategy(v1::LOWER_WEIGHT);
  request.add_exclude("10.0.0.21:1234");
  request.set_explain(true);
  v1::SelectWorkerResponse response;
  ASSERT_THAT(roster_->SelectWorker(&context, request, &response), GrpcOk());
  EXPECT_NE(response.worker().address(), "10.0.0.21:1234");
  ASSERT_EQ(response.candidates_size(), 3);
  EXPECT_EQ(response.candidates(0).address(), "10.0.0.21:1234");
  EXPECT_FALSE(response.candidates(0).eligible());
  EXPECT_THAT(response.candidates(0).skipped(), HasSubstr("excluded"));
  EXPECT_TRUE(response.candidates(1).eligible());
}

// SelectWorker's worker comes from the node bytes GetWorkerGroup serves (server/answer_cache.h):
// every field FillNode fills, and a heartbeat age of its own call.
TEST_F(RosterServiceTest, SelectWorkerAnswersTheWorkerAsGetWorkerGroupDoes) {
  AddCluster();
  CallContext select_context;
  v1::SelectWorkerRequest select;
  select.set_group("etl");
  v1::SelectWorkerResponse selected;
  ASSERT_THAT(roster_->SelectWorker(&select_context, select, &selected), GrpcOk());
  ASSERT_TRUE(selected.has_worker());
  EXPECT_TRUE(selected.worker().has_heartbeat_age());
  EXPECT_TRUE(selected.worker().has_heartbeat());
  EXPECT_EQ(selected.worker().state(), v1::RUNNING);

  CallContext group_context;
  v1::GetWorkerGroupRequest group;
  group.set_name("etl");
  v1::GetWorkerGroupResponse listed;
  ASSERT_THAT(roster_->GetWorkerGroup(&group_context, group, &listed), GrpcOk());
  ASSERT_EQ(listed.meta().version(), selected.meta().version());
  const v1::Node* same = nullptr;
  for (const v1::Node& worker : listed.workers()) {
    if (worker.address() == selected.worker().address()) same = &worker;
  }
  ASSERT_NE(same, nullptr) << selected.worker().address();
  v1::Node expected = *same;
  v1::Node answered = selected.worker();
  expected.clear_heartbeat_age();  // each call's own
  answered.clear_heartbeat_age();
  EXPECT_EQ(answered.SerializeAsString(), expected.SerializeAsString())
      << answered.DebugString() << "\nvs\n"
      << expected.DebugString();

  // The BASIC view, as GetWorkerGroup's BASIC answer has the same worker.
  select.set_view(v1::NODE_VIEW_BASIC);
  group.set_view(v1::NODE_VIEW_BASIC);
  CallContext basic_select_context, basic_group_context;
  v1::SelectWorkerResponse basic;
  ASSERT_THAT(roster_->SelectWorker(&basic_select_context, select, &basic), GrpcOk());
  v1::GetWorkerGroupResponse basic_listed;
  ASSERT_THAT(roster_->GetWorkerGroup(&basic_group_context, group, &basic_listed), GrpcOk());
  EXPECT_FALSE(basic.worker().has_heartbeat());
  EXPECT_FALSE(basic.worker().has_heartbeat_age());
  bool found = false;
  for (const v1::Node& worker : basic_listed.workers()) {
    if (worker.address() != basic.worker().address()) continue;
    found = true;
    EXPECT_EQ(basic.worker().SerializeAsString(), worker.SerializeAsString());
  }
  EXPECT_TRUE(found) << basic.worker().address();

  select.set_view(static_cast<v1::NodeView>(7));
  CallContext bad_context;
  v1::SelectWorkerResponse refused;
  EXPECT_THAT(roster_->SelectWorker(&bad_context, select, &refused),
              GrpcIs(grpc::StatusCode::INVALID_ARGUMENT, HasSubstr("view: 7 is not a NodeView")));
}

TEST_F(RosterServiceTest, SelectWorkerErrorsSayWhy) {
  AddCluster();
  for (const char* address : {"10.0.0.21:1234", "10.0.0.22:1234"}) {
    SetPayload(kWorkers, address,
               HeartbeatJson("BUSY", 1729238400123, 23817, 1729238650456, 0.2, 0.3, "etl"));
  }
  ASSERT_EVENTUALLY(InState(NodeRole::kWorker, "10.0.0.21:1234", NodeState::kOverload) &&
                    InState(NodeRole::kWorker, "10.0.0.22:1234", NodeState::kOverload));
  auto select = [&](const v1::SelectWorkerRequest& request) {
    CallContext context;
    v1::SelectWorkerResponse response;
    return roster_->SelectWorker(&context, request, &response);
  };
  v1::SelectWorkerRequest request;
  request.set_group("etl");
  EXPECT_THAT(select(request), GrpcIs(grpc::StatusCode::UNAVAILABLE,
                                      AllOf(HasSubstr("etl"), HasSubstr("OVERLOAD"))));
  request.set_allow_overload(true);
  EXPECT_THAT(select(request), GrpcOk());

  v1::SelectWorkerRequest unknown;
  unknown.set_group("ingest");
  EXPECT_THAT(select(unknown), GrpcIs(grpc::StatusCode::NOT_FOUND, HasSubstr("ingest")));

  v1::SelectWorkerRequest bad_group;
  bad_group.set_group("..");
  EXPECT_THAT(select(bad_group), GrpcIs(grpc::StatusCode::INVALID_ARGUMENT, HasSubstr("group")));

  v1::SelectWorkerRequest bad_strategy;
  bad_strategy.set_strategy(static_cast<v1::SelectionStrategy>(99));
  EXPECT_THAT(select(bad_strategy), GrpcIs(grpc::StatusCode::INVALID_ARGUMENT,
                                           HasSubstr("strategy: 99 is not a SelectionStrategy")));

  v1::SelectWorkerRequest bad_exclude;
  bad_exclude.add_exclude("10.0.0.21:1234");
  bad_exclude.add_exclude("nonsense");
  EXPECT_THAT(select(bad_exclude),
              GrpcIs(grpc::StatusCode::INVALID_ARGUMENT, HasSubstr("exclude[1]: ")));

  v1::SelectWorkerRequest too_many;
  for (int i = 0; i < 1001; ++i) too_many.add_exclude(absl::StrCat("10.1.0.1:", 1000 + i));
  EXPECT_THAT(select(too_many),
              GrpcIs(grpc::StatusCode::INVALID_ARGUMENT, HasSubstr("exclude: 1001 addresses")));
}

TEST_F(RosterServiceTest, GetMasterSlot) {
  AddCluster();
  auto slot = [&](const v1::GetMasterSlotRequest& request, v1::GetMasterSlotResponse* response) {
    CallContext context;
    return roster_->GetMasterSlot(&context, request, response);
  };
  v1::GetMasterSlotRequest request;
  request.set_address("10.0.0.2:5678");
  v1::GetMasterSlotResponse response;
  ASSERT_THAT(slot(request, &response), GrpcOk());
  ExpectFreshMeta(response.meta());
  EXPECT_EQ(response.slot(), 1);
  EXPECT_EQ(response.total(), 2);
  EXPECT_EQ(response.epoch(), daemon_->cluster()->view()->slots.epoch);

  // The current incarnation may ask; an older one may not.
  request.set_startup_time_ms(1729238400123);
  request.set_process_id(23817);
  EXPECT_THAT(slot(request, &response), GrpcOk());
  request.set_startup_time_ms(1729238400000);
  EXPECT_THAT(slot(request, &response),
              GrpcIs(grpc::StatusCode::FAILED_PRECONDITION, HasSubstr("stale incarnation")));
  request.clear_process_id();
  EXPECT_THAT(slot(request, &response),
              GrpcIs(grpc::StatusCode::INVALID_ARGUMENT, HasSubstr("process_id")));

  v1::GetMasterSlotRequest unregistered;
  unregistered.set_address("10.0.0.9:5678");
  EXPECT_THAT(slot(unregistered, &response),
              GrpcIs(grpc::StatusCode::FAILED_PRECONDITION, HasSubstr("not registered")));

  // A master whose heartbeat cannot be used is FAULT and holds no slot.
  SetPayload(kMasters, "10.0.0.2:5678", "this is not JSON");
  ASSERT_EVENTUALLY(InState(NodeRole::kMaster, "10.0.0.2:5678", NodeState::kFault));
  v1::GetMasterSlotRequest fault;
  fault.set_address("10.0.0.2:5678");
  EXPECT_THAT(slot(fault, &response),
              GrpcIs(grpc::StatusCode::FAILED_PRECONDITION,
                     AllOf(HasSubstr("holds no slot"), HasSubstr("FAULT"))));

  v1::GetMasterSlotRequest bad;
  bad.set_address("10.0.0.2");
  EXPECT_THAT(slot(bad, &response),
              GrpcIs(grpc::StatusCode::INVALID_ARGUMENT, HasSubstr("address: ")));
}

TEST_F(RosterServiceTest, GetLeader) {
  AddMaster("10.0.0.1:5678");
  ASSERT_EVENTUALLY(InState(NodeRole::kMaster, "10.0.0.1:5678", NodeState::kRunning));
  {
    CallContext context;
    v1::GetLeaderResponse response;
    EXPECT_THAT(roster_->GetLeader(&context, {}, &response),
                GrpcIs(grpc::StatusCode::NOT_FOUND, HasSubstr("coordinator")));
  }
  SetLeader("10.0.0.1:5678");
  ASSERT_EVENTUALLY(daemon_->cluster()->view()->leader.present);
  CallContext context;
  v1::GetLeaderResponse response;
  ASSERT_THAT(roster_->GetLeader(&context, {}, &response), GrpcOk());
  ExpectFreshMeta(response.meta());
  EXPECT_EQ(response.leader().address(), "10.0.0.1:5678");
  EXPECT_EQ(response.leader().fencing_token(), daemon_->cluster()->view()->leader.fencing_token);
  EXPECT_GT(response.leader().since().seconds(), 0);
  EXPECT_EQ(response.master().address(), "10.0.0.1:5678");
  EXPECT_EQ(response.master().slot(), 0);
}

TEST_F(RosterServiceTest, PingAndCountedRpcs) {
  CallContext context;
  v1::PingResponse response;
  EXPECT_THAT(roster_->Ping(&context, {}, &response), GrpcOk());
  EXPECT_EQ(response.payload(), "");
  EXPECT_EQ(daemon_->metrics().rpcs("Roster/Ping", grpc::StatusCode::OK), 1);

  // An answer of a given size, the baseline of the benchmarks' sized calls.
  v1::PingRequest sized;
  sized.set_response_bytes(441);
  CallContext sized_context;
  ASSERT_THAT(roster_->Ping(&sized_context, sized, &response), GrpcOk());
  EXPECT_EQ(response.payload(), std::string(441, '\0'));
  for (int bad : {-1, 65537}) {
    sized.set_response_bytes(bad);
    CallContext bad_context;
    EXPECT_THAT(roster_->Ping(&bad_context, sized, &response),
                GrpcIs(grpc::StatusCode::INVALID_ARGUMENT,
                       HasSubstr(absl::StrCat("response_bytes: ", bad, " is not in [0, 65536]"))));
  }
}

}  // namespace
}  // namespace roster::testing
