// RosterClient and WatchFollower against a scripted fake rosterd (tests/client/
// fake_roster_server.h) on a loopback port: retries, deadlines, staleness tracking, the admin
// token, status mapping, and watch streams.
#include "client/roster_client.h"

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/watch_follower.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/client/fake_roster_server.h"
#include "tests/testing/eventually.h"
#include "tests/testing/status_matchers.h"

namespace roster::client {
namespace {

namespace v1 = ::roster::v1;
using ::roster::testing::Error;
using ::roster::testing::FakeRoster;
using ::roster::testing::FakeRosterServer;
using ::roster::testing::Hold;
using ::roster::testing::Meta;
using ::roster::testing::Ok;
using ::roster::testing::StatusIs;
using ::roster::testing::StreamScript;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

v1::GetLeaderResponse Leader(const std::string& instance, uint64_t version) {
  v1::GetLeaderResponse response;
  *response.mutable_meta() = Meta(instance, version);
  response.mutable_leader()->set_address("10.0.0.1:5678");
  response.mutable_leader()->set_fencing_token(42);
  return response;
}

class RosterClientTest : public ::testing::Test {
 protected:
  // Short backoffs keep the tests fast; the logic is the same.
  ClientOptions Options() {
    ClientOptions options;
    options.target = server_.target();
    options.deadline = absl::Seconds(10);
    options.initial_backoff = absl::Milliseconds(1);
    options.max_backoff = absl::Milliseconds(5);
    return options;
  }

  std::unique_ptr<RosterClient> NewClient(ClientOptions options) {
    auto client = RosterClient::Create(std::move(options));
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? *std::move(client) : nullptr;
  }

  FakeRosterServer server_;
};

TEST_F(RosterClientTest, RetriesUnavailableThenSucceeds) {
  auto& method = server_.roster().get_leader;
  method.Push(Error(grpc::StatusCode::UNAVAILABLE, "starting"));
  method.Push(Error(grpc::StatusCode::UNAVAILABLE, "starting"));
  method.Push(Ok(Leader("i1", 5)));
  auto client = NewClient(Options());

  auto leader = client->GetLeader();
  ASSERT_OK(leader.status());
  EXPECT_EQ(leader->leader().fencing_token(), 42);
  EXPECT_EQ(method.calls(), 3);
  EXPECT_EQ(client->last_seen().instance_id, "i1");
  EXPECT_EQ(client->last_seen().version, 5u);
}

TEST_F(RosterClientTest, GivesUpAfterMaxAttempts) {
  server_.roster().get_leader.SetDefault(Error(grpc::StatusCode::UNAVAILABLE, "registry lost"));
  auto client = NewClient(Options());

  EXPECT_THAT(client->GetLeader(),
              StatusIs(absl::StatusCode::kUnavailable,
                       AllOf(HasSubstr("registry lost"), HasSubstr("gave up after 4 attempts"))));
  EXPECT_EQ(server_.roster().get_leader.calls(), 4);
}

TEST_F(RosterClientTest, OtherErrorsAreNotRetriedAndKeepCodeAndMessage) {
  server_.roster().get_master_slot.SetDefault(
      Error(grpc::StatusCode::FAILED_PRECONDITION, "master '10.0.0.1:5678' is not registered"));
  auto client = NewClient(Options());

  v1::GetMasterSlotRequest request;
  request.set_address("10.0.0.1:5678");
  auto slot = client->GetMasterSlot(request);
  EXPECT_EQ(slot.status(),
            absl::FailedPreconditionError("master '10.0.0.1:5678' is not registered"));
  EXPECT_EQ(server_.roster().get_master_slot.calls(), 1);
  EXPECT_EQ(server_.roster().get_master_slot.requests()[0].address(), "10.0.0.1:5678");
}

TEST_F(RosterClientTest, RegisterAndDeregisterAreNeverRetried) {
  auto& reg = server_.registration();
  reg.register_node.Push(Error(grpc::StatusCode::UNAVAILABLE, "lost the answer"));
  reg.register_node.Push(Ok(v1::RegisterNodeResponse()));
  reg.deregister_node.Push(Error(grpc::StatusCode::UNAVAILABLE, "lost the answer"));
  reg.deregister_node.Push(Ok(v1::DeregisterNodeResponse()));
  auto client = NewClient(Options());

  EXPECT_THAT(client->RegisterNode(v1::RegisterNodeRequest()),
              StatusIs(absl::StatusCode::kUnavailable, "lost the answer"));
  EXPECT_EQ(reg.register_node.calls(), 1);
  EXPECT_THAT(client->DeregisterNode(v1::DeregisterNodeRequest()),
              StatusIs(absl::StatusCode::kUnavailable, "lost the answer"));
  EXPECT_EQ(reg.deregister_node.calls(), 1);
}

TEST_F(RosterClientTest, HeartbeatDrainAndUndrainAreRetried) {
  server_.registration().heartbeat.Push(Error(grpc::StatusCode::UNAVAILABLE, "x"));
  server_.registration().heartbeat.Push(Ok(v1::HeartbeatResponse()));
  server_.admin().drain_node.Push(Error(grpc::StatusCode::UNAVAILABLE, "x"));
  server_.admin().drain_node.Push(Ok(v1::DrainNodeResponse()));
  server_.admin().undrain_node.Push(Error(grpc::StatusCode::UNAVAILABLE, "x"));
  server_.admin().undrain_node.Push(Ok(v1::UndrainNodeResponse()));
  auto client = NewClient(Options());

  EXPECT_OK(client->Heartbeat(v1::HeartbeatRequest()).status());
  EXPECT_OK(client->DrainNode(v1::DrainNodeRequest()).status());
  EXPECT_OK(client->UndrainNode(v1::UndrainNodeRequest()).status());
  EXPECT_EQ(server_.registration().heartbeat.calls(), 2);
  EXPECT_EQ(server_.admin().drain_node.calls(), 2);
  EXPECT_EQ(server_.admin().undrain_node.calls(), 2);
}

TEST_F(RosterClientTest, OlderAnswerIsRetriedUntilAFreshOneArrives) {
  auto& method = server_.roster().get_leader;
  method.Push(Ok(Leader("i1", 10)));
  method.Push(Ok(Leader("i1", 7)));  // a lagging replica
  method.Push(Ok(Leader("i1", 11)));
  auto client = NewClient(Options());

  ASSERT_OK(client->GetLeader().status());
  auto leader = client->GetLeader();
  ASSERT_OK(leader.status());
  EXPECT_EQ(leader->meta().version(), 11u);
  EXPECT_EQ(method.calls(), 3);
  EXPECT_EQ(client->last_seen().version, 11u);
}

TEST_F(RosterClientTest, PersistentlyOlderAnswerIsAborted) {
  auto& method = server_.roster().get_leader;
  method.Push(Ok(Leader("i1", 10)));
  method.SetDefault(Ok(Leader("i1", 9)));
  auto client = NewClient(Options());

  ASSERT_OK(client->GetLeader().status());
  EXPECT_THAT(client->GetLeader(),
              StatusIs(absl::StatusCode::kAborted,
                       HasSubstr("answer from view version 9 is older than version 10 already "
                                 "seen")));
  EXPECT_EQ(method.calls(), 1 + 4);
  EXPECT_EQ(client->last_seen().version, 10u);  // the refused answers changed nothing
}

TEST_F(RosterClientTest, EqualVersionIsFresh) {
  auto& method = server_.roster().get_leader;
  method.SetDefault(Ok(Leader("i1", 10)));
  auto client = NewClient(Options());

  ASSERT_OK(client->GetLeader().status());
  ASSERT_OK(client->GetLeader().status());
  EXPECT_EQ(method.calls(), 2);
}

TEST_F(RosterClientTest, NewInstanceResetsTracking) {
  auto& method = server_.roster().get_leader;
  method.Push(Ok(Leader("before-restart", 1000)));
  method.Push(Ok(Leader("after-restart", 3)));  // lower, but from a new rosterd run
  method.SetDefault(Ok(Leader("after-restart", 2)));
  auto client = NewClient(Options());

  ASSERT_OK(client->GetLeader().status());
  auto leader = client->GetLeader();
  ASSERT_OK(leader.status());
  EXPECT_EQ(leader->meta().version(), 3u);
  EXPECT_EQ(client->last_seen().instance_id, "after-restart");
  EXPECT_EQ(client->last_seen().version, 3u);
  // Versions are compared within the new instance from now on.
  EXPECT_THAT(client->GetLeader(),
              StatusIs(absl::StatusCode::kAborted, HasSubstr("version 2 is older than version 3")));
}

TEST_F(RosterClientTest, TrackingIsSharedAcrossMethods) {
  server_.roster().get_leader.Push(Ok(Leader("i1", 10)));
  v1::ListNodesResponse old_masters;
  *old_masters.mutable_meta() = Meta("i1", 8);
  server_.roster().list_masters.SetDefault(Ok(old_masters));
  auto client = NewClient(Options());

  ASSERT_OK(client->GetLeader().status());
  EXPECT_THAT(client->ListMasters(), StatusIs(absl::StatusCode::kAborted));
}

TEST_F(RosterClientTest, CallExceedingTheDeadlineIsNotRetried) {
  server_.roster().get_leader.SetDefault(Hold());
  ClientOptions options = Options();
  options.deadline = absl::Milliseconds(300);
  auto client = NewClient(options);

  const absl::Time start = absl::Now();
  EXPECT_THAT(client->GetLeader(), StatusIs(absl::StatusCode::kDeadlineExceeded));
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_EQ(server_.roster().get_leader.calls(), 1);
}

TEST_F(RosterClientTest, NeverWaitsPastTheDeadline) {
  server_.roster().get_leader.SetDefault(Error(grpc::StatusCode::UNAVAILABLE, "down"));
  ClientOptions options = Options();
  options.deadline = absl::Milliseconds(500);
  options.initial_backoff = absl::Seconds(30);  // a retry would have to wait past the deadline
  options.max_backoff = absl::Seconds(30);
  auto client = NewClient(options);

  const absl::Time start = absl::Now();
  EXPECT_THAT(client->GetLeader(), StatusIs(absl::StatusCode::kUnavailable, HasSubstr("deadline")));
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  EXPECT_EQ(server_.roster().get_leader.calls(), 1);
}

TEST_F(RosterClientTest, AdminTokenGoesWithAdminCallsOnly) {
  server_.admin().drain_node.SetDefault(Ok(v1::DrainNodeResponse()));
  server_.roster().get_leader.SetDefault(Ok(Leader("i1", 1)));
  ClientOptions options = Options();
  options.admin_token = "s3cret";
  auto client = NewClient(options);

  v1::DrainNodeRequest drain;
  drain.set_address("10.0.0.2:1234");
  drain.set_reason("disk replacement");
  ASSERT_OK(client->DrainNode(drain).status());
  ASSERT_OK(client->GetLeader().status());
  EXPECT_THAT(server_.admin().drain_node.authorizations(), ElementsAre("Bearer s3cret"));
  EXPECT_THAT(server_.roster().get_leader.authorizations(), ElementsAre(""));
  EXPECT_EQ(server_.admin().drain_node.requests()[0].reason(), "disk replacement");
}

TEST_F(RosterClientTest, PingHasNoViewAndIsNotTracked) {
  server_.roster().ping.SetDefault(Ok(v1::PingResponse()));
  auto client = NewClient(Options());
  ASSERT_OK(client->Ping().status());
  EXPECT_EQ(client->last_seen().instance_id, "");
}

TEST(RosterClientNoServerTest, UnreachableTargetIsUnavailable) {
  ClientOptions options;
  options.target = "127.0.0.1:1";  // nothing listens there
  options.initial_backoff = absl::Milliseconds(1);
  options.max_backoff = absl::Milliseconds(5);
  auto client = RosterClient::Create(options);
  ASSERT_OK(client.status());
  EXPECT_THAT((*client)->GetLeader(), StatusIs(absl::StatusCode::kUnavailable));
}

TEST(RosterClientNoServerTest, CreateRejectsBadOptions) {
  ClientOptions options;
  EXPECT_THAT(RosterClient::Create(options),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("target")));
  options.target = "127.0.0.1:9090";
  options.deadline = absl::ZeroDuration();
  EXPECT_THAT(RosterClient::Create(options),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("deadline")));
  options.deadline = absl::Seconds(1);
  options.max_attempts = 0;
  EXPECT_THAT(RosterClient::Create(options),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("max_attempts")));
  options.max_attempts = 3;
  options.initial_backoff = absl::Seconds(2);
  options.max_backoff = absl::Seconds(1);
  EXPECT_THAT(RosterClient::Create(options),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("backoff")));
}

TEST(RosterClientNoServerTest, CreateChecksTheTlsOptions) {
  ClientOptions options;
  options.target = "127.0.0.1:9090";
  options.tls_cert_file = "/nonexistent/client.crt";
  options.tls_key_file = "/nonexistent/client.key";
  EXPECT_THAT(RosterClient::Create(options),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("need tls_ca_file")));
  options.tls_ca_file = "/nonexistent/ca.crt";
  EXPECT_THAT(RosterClient::Create(options),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("cannot read tls_ca_file '/nonexistent/ca.crt'")));
  options.tls_key_file.clear();
  EXPECT_THAT(RosterClient::Create(options),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("go together")));
}

TEST(FromGrpcStatusTest, KeepsCodeAndMessage) {
  EXPECT_OK(FromGrpcStatus(grpc::Status::OK));
  EXPECT_EQ(FromGrpcStatus(grpc::Status(grpc::StatusCode::NOT_FOUND, "no group 'etl'")),
            absl::NotFoundError("no group 'etl'"));
  EXPECT_EQ(FromGrpcStatus(grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "token")),
            absl::UnauthenticatedError("token"));
}

// --- Watch ------------------------------------------------------------------------------------

v1::WatchClusterResponse Snapshot(const std::string& instance, uint64_t version) {
  v1::WatchClusterResponse message;
  *message.mutable_meta() = Meta(instance, version);
  *message.mutable_snapshot()->mutable_meta() = Meta(instance, version);
  message.mutable_snapshot()->add_masters()->set_address("10.0.0.1:5678");
  return message;
}

v1::WatchClusterResponse Event(const std::string& instance, uint64_t version) {
  v1::WatchClusterResponse message;
  *message.mutable_meta() = Meta(instance, version);
  message.mutable_event()->set_version(version);
  message.mutable_event()->set_kind(v1::ClusterEvent::NODE_UPDATED);
  message.mutable_event()->mutable_node()->set_address("10.0.0.2:1234");
  return message;
}

v1::WatchClusterResponse Resync(const std::string& instance, uint64_t version) {
  v1::WatchClusterResponse message;
  *message.mutable_meta() = Meta(instance, version);
  message.set_resync_required("reader too slow");
  return message;
}

TEST_F(RosterClientTest, WatchDeliversMessagesThenEnds) {
  server_.roster().PushStream({{Snapshot("i1", 5), Event("i1", 6)}, grpc::Status::OK, false});
  auto client = NewClient(Options());
  v1::WatchFilter filter;
  filter.set_state_changes_only(true);
  auto stream = client->Watch(0, filter);

  v1::WatchClusterResponse message;
  ASSERT_THAT(stream->Next(&message), ::roster::testing::IsOkAndHolds(true));
  EXPECT_TRUE(message.has_snapshot());
  ASSERT_THAT(stream->Next(&message), ::roster::testing::IsOkAndHolds(true));
  EXPECT_EQ(message.event().version(), 6u);
  EXPECT_THAT(stream->Next(&message), ::roster::testing::IsOkAndHolds(false));
  EXPECT_THAT(stream->Next(&message), ::roster::testing::IsOkAndHolds(false));
  ASSERT_EQ(server_.roster().watch_requests().size(), 1u);
  EXPECT_TRUE(server_.roster().watch_requests()[0].filter().state_changes_only());
}

TEST_F(RosterClientTest, WatchReportsTheServersError) {
  server_.roster().PushStream(
      {{Event("i1", 6)}, grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "bad group"), false});
  auto client = NewClient(Options());
  auto stream = client->Watch(5);
  v1::WatchClusterResponse message;
  ASSERT_THAT(stream->Next(&message), ::roster::testing::IsOkAndHolds(true));
  EXPECT_THAT(stream->Next(&message), StatusIs(absl::StatusCode::kInvalidArgument, "bad group"));
  EXPECT_EQ(server_.roster().watch_requests()[0].from_version(), 5u);
}

TEST_F(RosterClientTest, CancelUnblocksNext) {
  server_.roster().PushStream({{}, grpc::Status::OK, /*hold=*/true});
  auto client = NewClient(Options());
  auto stream = client->Watch(0);

  absl::StatusOr<bool> result;
  std::thread reader([&] {
    v1::WatchClusterResponse message;
    result = stream->Next(&message);
  });
  EXPECT_EVENTUALLY(server_.roster().watch_requests().size() == 1u);
  stream->Cancel();
  reader.join();
  EXPECT_THAT(result, StatusIs(absl::StatusCode::kCancelled));
}

TEST_F(RosterClientTest, DestroyingAnOpenStreamCancelsIt) {
  server_.roster().PushStream({{Snapshot("i1", 1)}, grpc::Status::OK, /*hold=*/true});
  auto client = NewClient(Options());
  auto stream = client->Watch(0);
  v1::WatchClusterResponse message;
  ASSERT_THAT(stream->Next(&message), ::roster::testing::IsOkAndHolds(true));
  EXPECT_EQ(server_.roster().stream_cancels(), 0);
  stream.reset();  // must not hang
  ASSERT_EVENTUALLY(server_.roster().stream_cancels() == 1) << "the server saw the cancel";
}

TEST_F(RosterClientTest, FollowerResumesAfterResyncFailureAndRestart) {
  FakeRoster& roster = server_.roster();
  // 1: a snapshot and an event, then the reader is told to resync.
  roster.PushStream({{Snapshot("i1", 5), Event("i1", 6), Resync("i1", 9)}, grpc::Status::OK});
  // 2: resumed after 6; one event, then rosterd goes away.
  roster.PushStream(
      {{Event("i1", 7)}, grpc::Status(grpc::StatusCode::UNAVAILABLE, "shutting down"), false});
  // 3: resumed after 7, but rosterd restarted: its versions mean nothing here.
  roster.PushStream({{Event("i2", 3)}, grpc::Status::OK, false});
  // 4: from a snapshot of the new instance.
  roster.PushStream({{Snapshot("i2", 4), Event("i2", 5)}, grpc::Status::OK, /*hold=*/true});
  auto client = NewClient(Options());

  std::vector<std::pair<uint64_t, absl::StatusCode>> resumes;
  WatchFollowerOptions options;
  options.on_resume = [&](uint64_t from, const absl::Status& why) {
    resumes.emplace_back(from, why.code());
  };
  WatchFollower follower(client.get(), 0, v1::WatchFilter(), options);

  std::vector<std::string> seen;
  v1::WatchClusterResponse message;
  for (int i = 0; i < 5; ++i) {
    ASSERT_OK(follower.Next(&message));
    seen.push_back(absl::StrCat(message.has_snapshot() ? "snapshot " : "event ",
                                message.meta().instance_id(), " ", message.meta().version()));
  }
  EXPECT_THAT(seen, ElementsAre("snapshot i1 5", "event i1 6", "event i1 7", "snapshot i2 4",
                                "event i2 5"));
  EXPECT_EQ(follower.last_version(), 5u);
  std::vector<uint64_t> from_versions;
  for (const auto& request : roster.watch_requests())
    from_versions.push_back(request.from_version());
  EXPECT_THAT(from_versions, ElementsAre(0u, 6u, 7u, 0u));
  // Each resumed version names the instance it belongs to; a snapshot request names none.
  std::vector<std::string> instances;
  for (const auto& request : roster.watch_requests()) instances.push_back(request.instance_id());
  EXPECT_THAT(instances, ElementsAre("", "i1", "i1", ""));
  EXPECT_EQ(resumes.size(), 3u);
  follower.Cancel();
  EXPECT_THAT(follower.Next(&message), StatusIs(absl::StatusCode::kCancelled));
}

TEST_F(RosterClientTest, FollowerTakesARestartedRosterdsSnapshotAsANewStart) {
  FakeRoster& roster = server_.roster();
  roster.PushStream(
      {{Snapshot("i1", 5), Event("i1", 6)}, grpc::Status(grpc::StatusCode::UNAVAILABLE, "gone")});
  // A restarted rosterd that honours instance_id: a snapshot of its own run, whose versions
  // start low again.
  roster.PushStream({{Snapshot("i2", 2), Event("i2", 3)}, grpc::Status::OK, /*hold=*/true});
  auto client = NewClient(Options());
  WatchFollower follower(client.get(), 0, v1::WatchFilter());
  std::vector<std::string> seen;
  v1::WatchClusterResponse message;
  for (int i = 0; i < 4; ++i) {
    ASSERT_OK(follower.Next(&message));
    seen.push_back(absl::StrCat(message.has_snapshot() ? "snapshot " : "event ",
                                message.meta().instance_id(), " ", message.meta().version()));
  }
  EXPECT_THAT(seen, ElementsAre("snapshot i1 5", "event i1 6", "snapshot i2 2", "event i2 3"));
  EXPECT_EQ(follower.instance_id(), "i2");
  EXPECT_EQ(follower.last_version(), 3u);
  ASSERT_EQ(roster.watch_requests().size(), 2u);
  EXPECT_EQ(roster.watch_requests()[1].from_version(), 6u);
  EXPECT_EQ(roster.watch_requests()[1].instance_id(), "i1");
  follower.Cancel();
}

TEST_F(RosterClientTest, FollowerReturnsErrorsItCannotFix) {
  server_.roster().PushStream(
      {{}, grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "not allowed"), false});
  auto client = NewClient(Options());
  WatchFollower follower(client.get(), 0, v1::WatchFilter());
  v1::WatchClusterResponse message;
  EXPECT_THAT(follower.Next(&message),
              StatusIs(absl::StatusCode::kPermissionDenied, "not allowed"));
}

TEST_F(RosterClientTest, FollowerGivesUpAfterConsecutiveFailures) {
  // Every stream ends at once with UNAVAILABLE (the fake's default).
  auto client = NewClient(Options());
  WatchFollowerOptions options;
  options.max_consecutive_failures = 3;
  WatchFollower follower(client.get(), 0, v1::WatchFilter(), options);
  v1::WatchClusterResponse message;
  EXPECT_THAT(follower.Next(&message),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("gave up after 3")));
  EXPECT_EQ(server_.roster().watch_requests().size(), 3u);
}

TEST_F(RosterClientTest, FollowerCancelUnblocksNext) {
  server_.roster().PushStream({{}, grpc::Status::OK, /*hold=*/true});
  auto client = NewClient(Options());
  WatchFollower follower(client.get(), 0, v1::WatchFilter());
  absl::Status result;
  std::thread reader([&] {
    v1::WatchClusterResponse message;
    result = follower.Next(&message);
  });
  EXPECT_EVENTUALLY(server_.roster().watch_requests().size() == 1u);
  follower.Cancel();
  reader.join();
  EXPECT_THAT(result, StatusIs(absl::StatusCode::kCancelled));
}

}  // namespace
}  // namespace roster::client

namespace roster::client {
namespace {

using ::roster::testing::Error;
using ::roster::testing::FakeRosterServer;
using ::roster::testing::Meta;
using ::roster::testing::Ok;
using ::roster::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class RosterClientPagingTest : public ::testing::Test {
 protected:
  std::unique_ptr<RosterClient> NewClient() {
    ClientOptions options;
    options.target = server_.target();
    options.deadline = absl::Seconds(10);
    options.initial_backoff = absl::Milliseconds(1);
    options.max_backoff = absl::Milliseconds(5);
    auto client = RosterClient::Create(std::move(options));
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? *std::move(client) : nullptr;
  }

  FakeRosterServer server_;
};

v1::ListNodesResponse NodesPage(uint64_t version, std::vector<std::string> addresses,
                                const std::string& next) {
  v1::ListNodesResponse page;
  *page.mutable_meta() = Meta("i1", version);
  for (const std::string& address : addresses) page.add_nodes()->set_address(address);
  page.set_next_page_token(next);
  return page;
}

std::vector<std::string> Addresses(const google::protobuf::RepeatedPtrField<v1::Node>& nodes) {
  std::vector<std::string> out;
  for (const v1::Node& node : nodes) out.push_back(node.address());
  return out;
}

TEST_F(RosterClientPagingTest, ListWorkersFollowsNextPageTokenToTheEnd) {
  auto& method = server_.roster().list_workers;
  method.Push(Ok(NodesPage(5, {"10.0.0.1:1", "10.0.0.2:1"}, "t1")));
  method.Push(Error(grpc::StatusCode::UNAVAILABLE, "restarting"));  // a page is retried
  method.Push(Ok(NodesPage(6, {"10.0.0.3:1"}, "t2")));
  method.Push(Ok(NodesPage(7, {"10.0.0.4:1"}, "")));
  auto client = NewClient();

  v1::ListWorkersRequest request;
  request.set_group("etl");
  request.set_page_size(2);
  auto whole = client->ListWorkers(request);
  ASSERT_OK(whole.status());
  EXPECT_THAT(Addresses(whole->nodes()),
              ElementsAre("10.0.0.1:1", "10.0.0.2:1", "10.0.0.3:1", "10.0.0.4:1"));
  EXPECT_EQ(whole->meta().version(), 7u);  // the last page's
  EXPECT_TRUE(whole->next_page_token().empty());
  const std::vector<v1::ListWorkersRequest> requests = method.requests();
  ASSERT_EQ(requests.size(), 4u);
  std::vector<std::string> tokens;
  for (const v1::ListWorkersRequest& sent : requests) {
    tokens.push_back(sent.page_token());
    EXPECT_EQ(sent.group(), "etl");  // the filters on every page
    EXPECT_EQ(sent.page_size(), 2);
  }
  EXPECT_THAT(tokens, ElementsAre("", "t1", "t1", "t2"));
}

TEST_F(RosterClientPagingTest, GetWorkerGroupAndClusterViewMergePages) {
  v1::GetWorkerGroupResponse first;
  *first.mutable_meta() = Meta("i1", 3);
  first.mutable_group()->set_members(2);
  first.add_workers()->set_address("10.0.0.1:1");
  first.set_next_page_token("g1");
  v1::GetWorkerGroupResponse last;
  *last.mutable_meta() = Meta("i1", 4);
  last.mutable_group()->set_members(3);
  last.add_workers()->set_address("10.0.0.3:1");
  server_.roster().get_worker_group.Push(Ok(first));
  server_.roster().get_worker_group.Push(Ok(last));

  v1::GetClusterViewResponse view_first;
  *view_first.mutable_meta() = Meta("i1", 4);
  view_first.add_masters()->set_address("10.0.0.9:5");
  view_first.add_groups()->set_name("default");
  view_first.set_next_page_token("c1");
  v1::GetClusterViewResponse view_last;
  *view_last.mutable_meta() = Meta("i1", 4);
  view_last.add_workers()->set_address("10.0.0.1:1");
  view_last.add_alert_servers()->set_address("10.0.0.7:2");
  server_.roster().get_cluster_view.Push(Ok(view_first));
  server_.roster().get_cluster_view.Push(Ok(view_last));
  auto client = NewClient();

  v1::GetWorkerGroupRequest request;
  request.set_name("etl");
  auto group = client->GetWorkerGroup(request);
  ASSERT_OK(group.status());
  EXPECT_THAT(Addresses(group->workers()), ElementsAre("10.0.0.1:1", "10.0.0.3:1"));
  EXPECT_EQ(group->group().members(), 3);  // the newest counts
  EXPECT_EQ(server_.roster().get_worker_group.requests()[1].page_token(), "g1");

  auto view = client->GetClusterView();
  ASSERT_OK(view.status());
  EXPECT_THAT(Addresses(view->masters()), ElementsAre("10.0.0.9:5"));
  EXPECT_THAT(Addresses(view->workers()), ElementsAre("10.0.0.1:1"));
  EXPECT_THAT(Addresses(view->alert_servers()), ElementsAre("10.0.0.7:2"));
  EXPECT_EQ(view->groups_size(), 1);  // from the first page
}

TEST_F(RosterClientPagingTest, AServerRepeatingItsTokenIsAnErrorNotALoop) {
  auto& method = server_.roster().list_workers;
  method.Push(Ok(NodesPage(5, {"10.0.0.1:1"}, "same")));
  method.SetDefault(Ok(NodesPage(5, {"10.0.0.1:1"}, "same")));
  auto client = NewClient();
  EXPECT_THAT(client->ListWorkers(),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("would never end")));
  EXPECT_EQ(method.calls(), 2);
}

TEST_F(RosterClientPagingTest, AFailedPageFailsTheListing) {
  auto& method = server_.roster().list_workers;
  method.Push(Ok(NodesPage(5, {"10.0.0.1:1"}, "t1")));
  method.Push(Error(grpc::StatusCode::INVALID_ARGUMENT, "page_token: was issued for ..."));
  auto client = NewClient();
  EXPECT_THAT(client->ListWorkers(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("page_token: ")));
}

}  // namespace
}  // namespace roster::client
