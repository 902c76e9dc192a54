// roster.v1.RosterAdmin: drain, undrain, accepting held losses, and who may call them.
#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/admin_service.h"
#include "tests/server/server_test_env.h"
#include "tests/testing/eventually.h"
#include "tests/testing/temp_dir.h"

namespace roster::testing {
namespace {

using cluster::NodeRole;
using cluster::NodeState;
using ::testing::HasSubstr;

class AdminTest : public ServerTest {
 protected:
  grpc::Status Drain(absl::string_view address, absl::string_view reason,
                     v1::DrainNodeResponse* response = nullptr,
                     absl::string_view authorization = "") {
    CallContext context;
    if (!authorization.empty()) {
      context.AddMetadata("authorization", std::string(authorization));
    }
    v1::DrainNodeRequest request;
    request.set_address(std::string(address));
    request.set_reason(std::string(reason));
    v1::DrainNodeResponse ignored;
    return admin_->DrainNode(&context, request, response ? response : &ignored);
  }
  grpc::Status Undrain(absl::string_view address, v1::UndrainNodeResponse* response = nullptr) {
    CallContext context;
    v1::UndrainNodeRequest request;
    request.set_address(std::string(address));
    v1::UndrainNodeResponse ignored;
    return admin_->UndrainNode(&context, request, response ? response : &ignored);
  }
};

TEST_F(AdminTest, DrainAndUndrainFromLoopbackWithoutAToken) {
  StartDaemon();
  AddWorker("10.0.0.21:1234");
  ASSERT_EVENTUALLY(InState(NodeRole::kWorker, "10.0.0.21:1234", NodeState::kRunning));

  v1::DrainNodeResponse drained;
  ASSERT_THAT(Drain("10.0.0.21:1234", "kernel upgrade", &drained), GrpcOk());
  ExpectFreshMeta(drained.meta());
  // The answer shows the node as the view shows it once the drain is visible.
  EXPECT_EQ(drained.node().address(), "10.0.0.21:1234");
  EXPECT_TRUE(drained.node().drained());
  EXPECT_EQ(drained.node().drain_reason(), "kernel upgrade");
  EXPECT_EQ(drained.node().state(), v1::OFFLINE);
  EXPECT_TRUE(Find(NodeRole::kWorker, "10.0.0.21:1234")->drained);

  v1::UndrainNodeResponse undrained;
  ASSERT_THAT(Undrain("10.0.0.21:1234", &undrained), GrpcOk());
  ExpectFreshMeta(undrained.meta());
  EXPECT_FALSE(undrained.node().drained());
  EXPECT_EQ(daemon_->metrics().rpcs("RosterAdmin/DrainNode", grpc::StatusCode::OK), 1);
}

TEST_F(AdminTest, BadRequests) {
  StartDaemon();
  EXPECT_THAT(Drain("10.9.9.9:1", "why"),
              GrpcIs(grpc::StatusCode::NOT_FOUND, HasSubstr("10.9.9.9:1")));
  EXPECT_THAT(Drain("nonsense", "why"),
              GrpcIs(grpc::StatusCode::INVALID_ARGUMENT, HasSubstr("address: ")));
  EXPECT_THAT(Drain("10.9.9.9:1", ""),
              GrpcIs(grpc::StatusCode::INVALID_ARGUMENT, HasSubstr("reason: is required")));
  EXPECT_THAT(Drain("10.9.9.9:1", std::string(1025, 'x')),
              GrpcIs(grpc::StatusCode::INVALID_ARGUMENT, HasSubstr("1025")));
  EXPECT_THAT(Undrain(""), GrpcIs(grpc::StatusCode::INVALID_ARGUMENT, HasSubstr("address: ")));
}

TEST_F(AdminTest, ATokenIsRequiredWhenConfigured) {
  TempDir dir("admin_token");
  WriteSecretFileOrDie(dir.Child("token"), "s3cret-token\n");
  options_.admin_token_file = dir.Child("token");
  StartDaemon();
  AddWorker("10.0.0.21:1234");
  ASSERT_EVENTUALLY(InState(NodeRole::kWorker, "10.0.0.21:1234", NodeState::kRunning));

  EXPECT_THAT(Drain("10.0.0.21:1234", "why"),
              GrpcIs(grpc::StatusCode::UNAUTHENTICATED, HasSubstr("Bearer")));
  EXPECT_THAT(Drain("10.0.0.21:1234", "why", nullptr, "Basic czNjcmV0"),
              GrpcIs(grpc::StatusCode::UNAUTHENTICATED, HasSubstr("Bearer")));
  const grpc::Status wrong = Drain("10.0.0.21:1234", "why", nullptr, "Bearer s3cret-tokem");
  EXPECT_THAT(wrong, GrpcIs(grpc::StatusCode::PERMISSION_DENIED, HasSubstr("wrong")));
  EXPECT_THAT(wrong.error_message(), ::testing::Not(HasSubstr("s3cret")));
  EXPECT_THAT(Drain("10.0.0.21:1234", "why", nullptr, "Bearer s3cret-token-longer"),
              GrpcIs(grpc::StatusCode::PERMISSION_DENIED, HasSubstr("wrong")));
  EXPECT_FALSE(Find(NodeRole::kWorker, "10.0.0.21:1234")->drained);
  EXPECT_THAT(Drain("10.0.0.21:1234", "why", nullptr, "Bearer s3cret-token"), GrpcOk());
  EXPECT_TRUE(Find(NodeRole::kWorker, "10.0.0.21:1234")->drained);
}

TEST_F(AdminTest, AcceptHeldLossesPublishesWhatSelfPreservationHolds) {
  StartDaemon();
  const std::vector<std::string> etl = {"10.0.0.21:1234", "10.0.0.22:1234", "10.0.0.23:1234",
                                        "10.0.0.24:1234"};
  for (const std::string& address : etl) AddWorker(address, "NORMAL", "etl");
  auto all_in = [&](NodeState state) {
    for (const std::string& address : etl) {
      if (!InState(NodeRole::kWorker, address, state)) return false;
    }
    return true;
  };
  ASSERT_EVENTUALLY(all_in(NodeState::kRunning));
  auto held = [&] {
    int n = 0;
    for (const std::string& address : etl) {
      cluster::NodeInfoPtr node = Find(NodeRole::kWorker, address);
      n += node != nullptr && absl::StrContains(node->reason, "held by self-preservation");
    }
    return n;
  };

  // The whole group vanishes at once: more than 70% of it, so rosterd holds the losses.
  for (const std::string& address : etl) RemoveNode(kWorkers, address);
  ASSERT_EVENTUALLY(held() > 0 && held() + static_cast<int>(std::count_if(
                                               etl.begin(), etl.end(),
                                               [&](const std::string& address) {
                                                 return InState(NodeRole::kWorker, address,
                                                                NodeState::kOffline);
                                               })) ==
                                      4);
  const int held_before = held();

  v1::AcceptHeldLossesRequest request;
  v1::AcceptHeldLossesResponse response;
  {
    CallContext context;
    EXPECT_THAT(admin_->AcceptHeldLosses(&context, request, &response),
                GrpcIs(grpc::StatusCode::INVALID_ARGUMENT, HasSubstr("reason: is required")));
  }
  EXPECT_EQ(held(), held_before) << "a refused request accepts nothing";

  request.set_reason("rack 4 lost power");
  {
    CallContext context;
    ASSERT_THAT(admin_->AcceptHeldLosses(&context, request, &response), GrpcOk());
  }
  EXPECT_EQ(response.accepted(), held_before);
  ExpectFreshMeta(response.meta());
  EXPECT_TRUE(response.meta().self_preservation().empty()) << response.meta().self_preservation();
  // The answer comes once the view shows the losses.
  EXPECT_EQ(held(), 0);
  EXPECT_TRUE(all_in(NodeState::kOffline));
  {
    CallContext context;
    ASSERT_THAT(admin_->AcceptHeldLosses(&context, request, &response), GrpcOk());
  }
  EXPECT_EQ(response.accepted(), 0) << "nothing is held any more";
}

TEST_F(AdminTest, EmptyTokenFileFailsTheStart) {
  TempDir dir("admin_token");
  WriteSecretFileOrDie(dir.Child("token"), "\n");
  options_.admin_token_file = dir.Child("token");
  server::Daemon daemon(options_);
  const absl::Status status = daemon.Start();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("--admin_token_file"));
}

TEST(AdminAuthTest, LoopbackPeers) {
  for (const char* peer : {"ipv4:127.0.0.1:41234", "ipv4:127.1.2.3:5", "ipv6:[::1]:41234",
                           "ipv6:[::ffff:127.0.0.1]:80", "unix:/tmp/rosterd.sock"}) {
    EXPECT_TRUE(server::IsLoopbackPeer(peer)) << peer;
  }
  for (const char* peer : {"ipv4:10.0.0.5:41234", "ipv6:[2001:db8::1]:80", "ipv4:128.0.0.1:1"}) {
    EXPECT_FALSE(server::IsLoopbackPeer(peer)) << peer;
  }
}

}  // namespace
}  // namespace roster::testing
