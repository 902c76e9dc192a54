// AIP-158 pagination of ListWorkers, GetWorkerGroup and GetClusterView against an in-process
// daemon: every node once, in address order, to an empty next_page_token; tokens refused when
// malformed or replayed with other filters; a listing continued across view changes.
#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/convert.h"
#include "tests/server/server_test_env.h"
#include "tests/testing/eventually.h"

namespace roster::testing {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

constexpr int kGroupSize = 250;

std::vector<std::string> Addresses(const google::protobuf::RepeatedPtrField<v1::Node>& nodes) {
  std::vector<std::string> out;
  for (const v1::Node& node : nodes) out.push_back(node.address());
  return out;
}

class PaginationTest : public ServerTest {
 protected:
  void SetUp() override {
    ServerTest::SetUp();
    StartDaemon();
  }

  // kGroupSize workers in group "big", plus one outside it; returns the group's addresses
  // sorted as strings (the order pages follow), computed here, not by the daemon.
  std::vector<std::string> AddBigGroup() {
    std::vector<std::string> addresses;
    for (int i = 0; i < kGroupSize; ++i) {
      // Numeric and string order differ (10.1.0.9 < 10.1.0.10 numerically only).
      addresses.push_back(absl::StrCat("10.1.", i / 100, ".", i % 100, ":1234"));
      AddWorker(addresses.back(), "NORMAL", "big");
    }
    AddWorker("10.9.0.1:1234", "NORMAL", "small");
    std::sort(addresses.begin(), addresses.end());
    return addresses;
  }

  bool BigGroupRunning(int members) const {
    const cluster::ClusterViewPtr view = daemon_->cluster()->view();
    const cluster::GroupView* group = view->FindGroup("big");
    return group != nullptr && static_cast<int>(group->members.size()) == members &&
           group->selectable == members;
  }

  grpc::Status GetGroupPage(const v1::GetWorkerGroupRequest& request,
                            v1::GetWorkerGroupResponse* response) {
    CallContext context;
    response->Clear();
    return roster_->GetWorkerGroup(&context, request, response);
  }
};

TEST_F(PaginationTest, GetWorkerGroupPagesEveryWorkerOnceInAddressOrder) {
  const std::vector<std::string> expected = AddBigGroup();
  ASSERT_EVENTUALLY(BigGroupRunning(kGroupSize));

  v1::GetWorkerGroupRequest request;
  request.set_name("big");
  request.set_page_size(100);
  std::vector<std::string> seen;
  std::vector<int> page_sizes;
  for (int pages = 0; pages < 10; ++pages) {
    v1::GetWorkerGroupResponse response;
    ASSERT_THAT(GetGroupPage(request, &response), GrpcOk());
    EXPECT_EQ(response.group().name(), "big");  // on every page
    EXPECT_EQ(response.group().members(), kGroupSize);
    page_sizes.push_back(response.workers_size());
    for (const std::string& address : Addresses(response.workers())) seen.push_back(address);
    if (response.next_page_token().empty()) break;
    request.set_page_token(response.next_page_token());
  }
  EXPECT_THAT(page_sizes, ElementsAre(100, 100, 50));
  EXPECT_THAT(seen, ElementsAreArray(expected));

  // page_size 0: the default (1000) holds the whole group in one page.
  v1::GetWorkerGroupRequest whole;
  whole.set_name("big");
  v1::GetWorkerGroupResponse response;
  ASSERT_THAT(GetGroupPage(whole, &response), GrpcOk());
  EXPECT_THAT(Addresses(response.workers()), ElementsAreArray(expected));
  EXPECT_THAT(response.next_page_token(), IsEmpty());

  // A page that ends exactly at the last worker says so: no token for an empty page.
  whole.set_page_size(kGroupSize);
  ASSERT_THAT(GetGroupPage(whole, &response), GrpcOk());
  EXPECT_EQ(response.workers_size(), kGroupSize);
  EXPECT_THAT(response.next_page_token(), IsEmpty());
}

TEST_F(PaginationTest, ListWorkersPagesWithItsFilters) {
  const std::vector<std::string> expected = AddBigGroup();
  ASSERT_EVENTUALLY(BigGroupRunning(kGroupSize));

  v1::ListWorkersRequest request;
  request.set_group("big");
  request.add_states(v1::RUNNING);
  request.set_page_size(64);
  std::vector<std::string> seen;
  int pages = 0;
  for (; pages < 10; ++pages) {
    CallContext context;
    v1::ListNodesResponse response;
    ASSERT_THAT(roster_->ListWorkers(&context, request, &response), GrpcOk());
    for (const std::string& address : Addresses(response.nodes())) seen.push_back(address);
    if (response.next_page_token().empty()) break;
    request.set_page_token(response.next_page_token());
  }
  EXPECT_EQ(pages + 1, 4);  // 64 + 64 + 64 + 58
  EXPECT_THAT(seen, ElementsAreArray(expected));
}

TEST_F(PaginationTest, GetClusterViewPagesMastersThenWorkersThenAlertServers) {
  AddMaster("10.0.0.2:5678");
  AddMaster("10.0.0.1:5678");
  AddWorker("10.0.0.23:1234");
  AddWorker("10.0.0.21:1234");
  AddWorker("10.0.0.22:1234");
  AddNode(kAlertServers, "10.0.0.31:50052", HeartbeatJson("NORMAL"));
  ASSERT_EVENTUALLY(daemon_->cluster()->view()->masters.size() == 2 &&
                    daemon_->cluster()->view()->workers.size() == 3 &&
                    daemon_->cluster()->view()->alert_servers.size() == 1);

  v1::GetClusterViewRequest request;
  request.set_page_size(4);
  CallContext first_context;
  v1::GetClusterViewResponse first;
  ASSERT_THAT(roster_->GetClusterView(&first_context, request, &first), GrpcOk());
  EXPECT_THAT(Addresses(first.masters()), ElementsAre("10.0.0.1:5678", "10.0.0.2:5678"));
  EXPECT_THAT(Addresses(first.workers()), ElementsAre("10.0.0.21:1234", "10.0.0.22:1234"));
  EXPECT_THAT(first.alert_servers(), IsEmpty());
  EXPECT_THAT(first.groups(), Not(IsEmpty()));  // the first page carries the rest
  EXPECT_EQ(first.slots().masters_size(), 2);
  ASSERT_THAT(first.next_page_token(), Not(IsEmpty()));

  request.set_page_token(first.next_page_token());
  CallContext second_context;
  v1::GetClusterViewResponse second;
  ASSERT_THAT(roster_->GetClusterView(&second_context, request, &second), GrpcOk());
  EXPECT_THAT(second.masters(), IsEmpty());
  EXPECT_THAT(Addresses(second.workers()), ElementsAre("10.0.0.23:1234"));
  EXPECT_THAT(Addresses(second.alert_servers()), ElementsAre("10.0.0.31:50052"));
  EXPECT_THAT(second.groups(), IsEmpty());
  EXPECT_THAT(second.next_page_token(), IsEmpty());

  // A page boundary right after the masters: the next page starts with the first worker.
  request.set_page_size(2);
  request.clear_page_token();
  CallContext masters_context;
  ASSERT_THAT(roster_->GetClusterView(&masters_context, request, &first), GrpcOk());
  EXPECT_EQ(first.masters_size(), 2);
  EXPECT_THAT(first.workers(), IsEmpty());
  request.set_page_token(first.next_page_token());
  CallContext workers_context;
  second.Clear();
  ASSERT_THAT(roster_->GetClusterView(&workers_context, request, &second), GrpcOk());
  EXPECT_THAT(Addresses(second.workers()), ElementsAre("10.0.0.21:1234", "10.0.0.22:1234"));
}

TEST_F(PaginationTest, BadPageRequestsAreInvalidArgumentNamingTheField) {
  AddBigGroup();
  ASSERT_EVENTUALLY(BigGroupRunning(kGroupSize));
  v1::GetWorkerGroupRequest request;
  request.set_name("big");
  request.set_page_size(100);
  v1::GetWorkerGroupResponse response;
  ASSERT_THAT(GetGroupPage(request, &response), GrpcOk());
  const std::string token = response.next_page_token();
  ASSERT_THAT(token, Not(IsEmpty()));

  // The token of group "big" with group "small".
  v1::GetWorkerGroupRequest other = request;
  other.set_name("small");
  other.set_page_token(token);
  EXPECT_THAT(GetGroupPage(other, &response),
              GrpcIs(grpc::StatusCode::INVALID_ARGUMENT,
                     AllOf(HasSubstr("page_token: was issued for GetWorkerGroup(name=big"),
                           HasSubstr("not for GetWorkerGroup(name=small"))));
  // Same group, another view.
  other = request;
  other.set_view(v1::NODE_VIEW_BASIC);
  other.set_page_token(token);
  EXPECT_THAT(GetGroupPage(other, &response),
              GrpcIs(grpc::StatusCode::INVALID_ARGUMENT, HasSubstr("page_token: ")));
  // Another page size is fine (AIP-158).
  other = request;
  other.set_page_size(7);
  other.set_page_token(token);
  EXPECT_THAT(GetGroupPage(other, &response), GrpcOk());
  EXPECT_EQ(response.workers_size(), 7);
  // The token of another method.
  {
    CallContext context;
    v1::ListWorkersRequest list;
    list.set_group("big");
    list.set_page_token(token);
    v1::ListNodesResponse nodes;
    EXPECT_THAT(roster_->ListWorkers(&context, list, &nodes),
                GrpcIs(grpc::StatusCode::INVALID_ARGUMENT,
                       HasSubstr("page_token: was issued for GetWorkerGroup")));
  }
  // Garbage, base64 that is no token, a truncated token.
  for (const std::string& bad :
       {std::string("not a token!"), std::string("aGVsbG8"), token.substr(0, token.size() / 2)}) {
    other = request;
    other.set_page_token(bad);
    EXPECT_THAT(GetGroupPage(other, &response),
                GrpcIs(grpc::StatusCode::INVALID_ARGUMENT, HasSubstr("page_token: ")))
        << bad;
  }
  other = request;
  other.set_page_size(-1);
  EXPECT_THAT(GetGroupPage(other, &response),
              GrpcIs(grpc::StatusCode::INVALID_ARGUMENT, HasSubstr("page_size: -1")));
  {
    CallContext context;
    v1::GetClusterViewRequest view;
    view.set_page_token("%%%");
    v1::GetClusterViewResponse answer;
    EXPECT_THAT(roster_->GetClusterView(&context, view, &answer),
                GrpcIs(grpc::StatusCode::INVALID_ARGUMENT, HasSubstr("page_token: ")));
  }
}

// Pages are keyed by address: a token stays valid when the view moves on, the next page
// starts after the last address returned, in the view current then.
TEST_F(PaginationTest, ListingContinuesAcrossViewChangesByAddress) {
  std::vector<std::string> expected = AddBigGroup();
  ASSERT_EVENTUALLY(BigGroupRunning(kGroupSize));

  v1::GetWorkerGroupRequest request;
  request.set_name("big");
  request.set_page_size(100);
  v1::GetWorkerGroupResponse first;
  ASSERT_THAT(GetGroupPage(request, &first), GrpcOk());
  ASSERT_EQ(first.workers_size(), 100);
  const std::string last = first.workers(99).address();
  EXPECT_EQ(last, expected[99]);

  // One worker joins before the cursor (string order), one after it.
  const std::string before = "10.1.0.0:1000";  // sorts before every address of the group
  const std::string after = "10.1.9.9:1234";   // sorts after every address of the group
  ASSERT_LT(before, expected.front());
  ASSERT_GT(after, expected.back());
  AddWorker(before, "NORMAL", "big");
  AddWorker(after, "NORMAL", "big");
  ASSERT_EVENTUALLY(BigGroupRunning(kGroupSize + 2));

  std::vector<std::string> rest;
  request.set_page_token(first.next_page_token());
  uint64_t version = 0;
  for (int pages = 0; pages < 10; ++pages) {
    v1::GetWorkerGroupResponse response;
    ASSERT_THAT(GetGroupPage(request, &response), GrpcOk());
    version = response.meta().version();
    for (const std::string& address : Addresses(response.workers())) rest.push_back(address);
    if (response.next_page_token().empty()) break;
    request.set_page_token(response.next_page_token());
  }
  EXPECT_GT(version, first.meta().version());  // the view moved on; the token still served
  // Everything after `last`, in order, including the newcomer after it; not the one before.
  std::vector<std::string> want(expected.begin() + 100, expected.end());
  want.push_back(after);
  EXPECT_THAT(rest, ElementsAreArray(want));
}

}  // namespace
}  // namespace roster::testing

namespace roster::testing {
namespace {

// The answers' nodes are served as bytes cached per node version (server/answer_cache.h): a
// published change shows in the very next answer, in both views, and in every listing.
TEST_F(PaginationTest, CachedAnswersShowThePublishedChange) {
  AddWorker("10.0.0.21:1234", "NORMAL", "etl");
  AddWorker("10.0.0.22:1234", "NORMAL", "etl");
  ASSERT_EVENTUALLY(
      InState(cluster::NodeRole::kWorker, "10.0.0.22:1234", cluster::NodeState::kRunning) &&
      InState(cluster::NodeRole::kWorker, "10.0.0.21:1234", cluster::NodeState::kRunning));
  v1::GetWorkerGroupRequest full;
  full.set_name("etl");
  v1::GetWorkerGroupRequest basic = full;
  basic.set_view(v1::NODE_VIEW_BASIC);
  v1::GetWorkerGroupResponse response;
  for (const v1::GetWorkerGroupRequest* request : {&full, &basic, &full, &basic}) {
    ASSERT_THAT(GetGroupPage(*request, &response), GrpcOk());  // fills, then hits the cache
    ASSERT_EQ(response.workers_size(), 2);
    EXPECT_EQ(response.workers(1).state(), v1::RUNNING);
  }
  const uint64_t before = response.meta().version();

  SetPayload(kWorkers, "10.0.0.22:1234",
             HeartbeatJson("BUSY", 1729238400123, 23817, 1729238650456, 0.2, 0.3, "etl"));
  ASSERT_EVENTUALLY(
      InState(cluster::NodeRole::kWorker, "10.0.0.22:1234", cluster::NodeState::kOverload));
  for (const v1::GetWorkerGroupRequest* request : {&full, &basic}) {
    ASSERT_THAT(GetGroupPage(*request, &response), GrpcOk());
    EXPECT_GT(response.meta().version(), before);
    ASSERT_EQ(response.workers_size(), 2);
    EXPECT_EQ(response.workers(0).state(), v1::RUNNING);
    EXPECT_EQ(response.workers(1).state(), v1::OVERLOAD);
  }
  EXPECT_THAT(response.workers(1).reason(), IsEmpty());  // BASIC
  ASSERT_THAT(GetGroupPage(full, &response), GrpcOk());
  EXPECT_THAT(response.workers(1).reason(), HasSubstr("BUSY"));
  EXPECT_DOUBLE_EQ(response.workers(1).heartbeat().cpu_usage(), 0.2);
  {
    CallContext context;
    v1::ListWorkersRequest request;
    request.add_states(v1::OVERLOAD);
    v1::ListNodesResponse nodes;
    ASSERT_THAT(roster_->ListWorkers(&context, request, &nodes), GrpcOk());
    EXPECT_THAT(Addresses(nodes.nodes()), ElementsAre("10.0.0.22:1234"));
  }
  {
    CallContext context;
    v1::GetClusterViewResponse view;
    ASSERT_THAT(roster_->GetClusterView(&context, {}, &view), GrpcOk());
    ASSERT_EQ(view.workers_size(), 2);
    EXPECT_EQ(view.workers(1).state(), v1::OVERLOAD);
  }
}

}  // namespace
}  // namespace roster::testing

namespace roster::testing {
namespace {

// A served answer equals the one FillNode builds from the daemon's view (heartbeat_age aside:
// it is measured at each call), in both views.
TEST_F(PaginationTest, ServedAnswerEqualsAFreshlyBuiltOne) {
  AddBigGroup();
  ASSERT_EVENTUALLY(BigGroupRunning(kGroupSize));
  for (v1::NodeView node_view : {v1::NODE_VIEW_FULL, v1::NODE_VIEW_BASIC}) {
    for (int call = 0; call < 2; ++call) {  // the first fills the cache, the second hits it
      v1::GetWorkerGroupRequest request;
      request.set_name("big");
      request.set_view(node_view);
      v1::GetWorkerGroupResponse served;
      cluster::ClusterViewPtr view;
      // The answer and the view it came from (a late publish, e.g. of the DolphinScheduler
      // profile, makes another round).
      for (int attempt = 0; attempt < 20; ++attempt) {
        ASSERT_THAT(GetGroupPage(request, &served), GrpcOk());
        view = daemon_->cluster()->view();
        if (view->version == served.meta().version()) break;
      }
      ASSERT_EQ(view->version, served.meta().version());
      server::NodeDetail detail;
      detail.basic = node_view == v1::NODE_VIEW_BASIC;
      v1::GetWorkerGroupResponse built;
      for (const cluster::NodeInfoPtr& node : view->FindGroup("big")->members) {
        server::FillNode(*node, absl::Now(), detail, built.add_workers());
      }
      ASSERT_EQ(served.workers_size(), built.workers_size());
      for (int i = 0; i < built.workers_size(); ++i) {
        v1::Node want = built.workers(i);
        v1::Node got = served.workers(i);
        if (!detail.basic) {
          EXPECT_TRUE(got.has_heartbeat_age()) << got.address();
          want.clear_heartbeat_age();
          got.clear_heartbeat_age();
        }
        ASSERT_EQ(got.SerializeAsString(), want.SerializeAsString())
            << "served:\n"
            << got.DebugString() << "built:\n"
            << want.DebugString();
      }
    }
  }
}

}  // namespace
}  // namespace roster::testing
