// roster.v1.Registration: rosterd registers processes that do not speak ZooKeeper, in the
// DolphinScheduler layout and format, under its own session; leases; ownership.
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/server_test_env.h"
#include "tests/testing/eventually.h"
#include "tests/testing/status_matchers.h"

namespace roster::testing {
namespace {

using cluster::NodeRole;
using cluster::NodeState;
using ::testing::HasSubstr;

v1::Heartbeat Heartbeat(v1::Heartbeat::ServerStatus status = v1::Heartbeat::NORMAL) {
  v1::Heartbeat heartbeat;
  heartbeat.set_server_status(status);
  heartbeat.set_process_id(4242);
  heartbeat.set_startup_time_ms(1729238400123);
  heartbeat.set_cpu_usage(0.1);
  heartbeat.set_memory_usage(0.2);
  return heartbeat;
}

class RegistrationTest : public ServerTest {
 protected:
  void SetUp() override {
    ServerTest::SetUp();
    StartDaemon();
  }

  grpc::Status Register(absl::string_view address, v1::NodeRole role = v1::WORKER,
                        absl::Duration lease = absl::ZeroDuration(),
                        v1::Heartbeat heartbeat = Heartbeat(),
                        v1::RegisterNodeResponse* response = nullptr) {
    v1::RegisterNodeRequest request;
    request.set_role(role);
    request.set_address(std::string(address));
    *request.mutable_heartbeat() = heartbeat;
    if (lease != absl::ZeroDuration()) {
      request.mutable_lease()->set_seconds(absl::ToInt64Seconds(lease));
      request.mutable_lease()->set_nanos(
          static_cast<int32_t>(absl::ToInt64Nanoseconds(lease % absl::Seconds(1))));
    }
    // As the owner of the address: its lease id, if it holds one (a renewal).
    if (auto it = leases_.find(std::string(address)); it != leases_.end()) {
      request.set_lease_id(it->second);
    }
    v1::RegisterNodeResponse ignored;
    if (response == nullptr) response = &ignored;
    CallContext context;
    grpc::Status status = registration_->RegisterNode(&context, request, response);
    if (status.ok()) leases_[std::string(address)] = response->lease_id();
    return status;
  }

  grpc::Status SendHeartbeat(absl::string_view address, v1::Heartbeat heartbeat = Heartbeat(),
                             v1::HeartbeatResponse* response = nullptr) {
    v1::HeartbeatRequest request;
    request.set_address(std::string(address));
    *request.mutable_heartbeat() = heartbeat;
    request.set_lease_id(leases_[std::string(address)]);
    v1::HeartbeatResponse ignored;
    CallContext context;
    return registration_->Heartbeat(&context, request, response ? response : &ignored);
  }

  grpc::Status Deregister(absl::string_view address) {
    v1::DeregisterNodeRequest request;
    request.set_address(std::string(address));
    request.set_lease_id(leases_[std::string(address)]);
    v1::DeregisterNodeResponse response;
    CallContext context;
    grpc::Status status = registration_->DeregisterNode(&context, request, &response);
    if (status.ok()) ExpectFreshMeta(response.meta());
    return status;
  }

  bool ZnodeExists(const std::string& path) {
    absl::StatusOr<std::optional<registry::Stat>> stat = writer_->Exists(path);
    return stat.ok() && stat->has_value();
  }
  int64_t OwnerOf(const std::string& path) {
    absl::StatusOr<std::optional<registry::Stat>> stat = writer_->Exists(path);
    return stat.ok() && stat->has_value() ? (*stat)->ephemeral_owner : 0;
  }

  // The lease id each address was last registered with (by this test, as its owner).
  std::map<std::string, std::string> leases_;
};

TEST_F(RegistrationTest, RegisterHeartbeatDeregister) {
  const std::string path = "/nodes/worker/10.0.0.41:1234";
  v1::RegisterNodeResponse registered;
  ASSERT_THAT(Register("10.0.0.41:1234", v1::WORKER, absl::Seconds(30), Heartbeat(), &registered),
              GrpcOk());
  EXPECT_EQ(registered.path(), path);
  EXPECT_EQ(registered.meta().instance_id(), daemon_->instance_id());
  EXPECT_EQ(daemon_->metrics().registrations().value(), 1);

  // The znode is rosterd's ephemeral, in DolphinScheduler's format.
  ASSERT_OK_AND_ASSIGN(registry::Node node, writer_->Get(path));
  EXPECT_EQ(node.stat.ephemeral_owner, daemon_->registry()->session().session_id);
  EXPECT_THAT(node.data, HasSubstr("\"processId\":4242"));
  EXPECT_THAT(node.data, HasSubstr("\"serverStatus\":\"NORMAL\""));
  EXPECT_THAT(node.data, HasSubstr("\"host\":\"10.0.0.41\""));
  EXPECT_THAT(node.data, HasSubstr("\"workerHostWeight\":100"));
  ASSERT_EVENTUALLY(InState(NodeRole::kWorker, "10.0.0.41:1234", NodeState::kRunning));

  v1::HeartbeatResponse beat;
  ASSERT_THAT(SendHeartbeat("10.0.0.41:1234", Heartbeat(v1::Heartbeat::BUSY), &beat), GrpcOk());
  EXPECT_EQ(beat.meta().instance_id(), daemon_->instance_id());
  ASSERT_EVENTUALLY(InState(NodeRole::kWorker, "10.0.0.41:1234", NodeState::kOverload));

  ASSERT_THAT(Deregister("10.0.0.41:1234"), GrpcOk());
  EXPECT_FALSE(ZnodeExists(path));
  EXPECT_EQ(daemon_->metrics().registrations().value(), 0);
  ASSERT_EVENTUALLY(InState(NodeRole::kWorker, "10.0.0.41:1234", NodeState::kOffline));
  EXPECT_THAT(SendHeartbeat("10.0.0.41:1234"),
              GrpcIs(grpc::StatusCode::NOT_FOUND, HasSubstr("register again")));
  EXPECT_THAT(Deregister("10.0.0.41:1234"),
              GrpcIs(grpc::StatusCode::NOT_FOUND, HasSubstr("no registration")));
}

TEST_F(RegistrationTest, MastersAndAlertServersGoToTheirDirectories) {
  v1::RegisterNodeResponse master;
  ASSERT_THAT(Register("10.0.0.51:5678", v1::MASTER, absl::Seconds(30), Heartbeat(), &master),
              GrpcOk());
  EXPECT_EQ(master.path(), "/nodes/master/10.0.0.51:5678");
  v1::RegisterNodeResponse alert;
  ASSERT_THAT(Register("10.0.0.52:50052", v1::ALERT_SERVER, absl::Seconds(30), Heartbeat(), &alert),
              GrpcOk());
  EXPECT_EQ(alert.path(), "/nodes/alert-server/10.0.0.52:50052");
  ASSERT_EVENTUALLY(InState(NodeRole::kMaster, "10.0.0.51:5678", NodeState::kRunning));
  // The same address again in another role: refused; in the same role: a renewal.
  EXPECT_THAT(Register("10.0.0.51:5678", v1::WORKER),
              GrpcIs(grpc::StatusCode::ALREADY_EXISTS, HasSubstr("as a master")));
  EXPECT_THAT(Register("10.0.0.51:5678", v1::MASTER), GrpcOk());
  EXPECT_EQ(daemon_->metrics().registrations().value(), 2);
}

TEST_F(RegistrationTest, LeaseExpiryDeletesTheZnode) {
  const std::string path = "/nodes/worker/10.0.0.43:1234";
  ASSERT_THAT(Register("10.0.0.43:1234", v1::WORKER, absl::Seconds(1)), GrpcOk());
  ASSERT_TRUE(ZnodeExists(path));
  ASSERT_EVENTUALLY(!ZnodeExists(path));
  EXPECT_EQ(daemon_->metrics().lease_expiries().value(), 1);
  EXPECT_EQ(daemon_->metrics().registrations().value(), 0);
  EXPECT_THAT(SendHeartbeat("10.0.0.43:1234"),
              GrpcIs(grpc::StatusCode::NOT_FOUND, HasSubstr("lease")));
  ASSERT_EVENTUALLY(InState(NodeRole::kWorker, "10.0.0.43:1234", NodeState::kOffline));
}

TEST_F(RegistrationTest, HeartbeatsKeepTheLease) {
  const std::string path = "/nodes/worker/10.0.0.44:1234";
  ASSERT_THAT(Register("10.0.0.44:1234", v1::WORKER, absl::Seconds(1)), GrpcOk());
  // Heartbeat for three leases' worth of time: the znode must survive throughout.
  const absl::Time end = absl::Now() + absl::Seconds(3);
  int beats = 0;
  while (absl::Now() < end) {
    ASSERT_THAT(SendHeartbeat("10.0.0.44:1234"), GrpcOk()) << "after " << beats << " beats";
    ++beats;
  }
  EXPECT_TRUE(ZnodeExists(path));
  EXPECT_EQ(daemon_->metrics().lease_expiries().value(), 0);
  // Then silence: it expires.
  ASSERT_EVENTUALLY(!ZnodeExists(path));
}

TEST_F(RegistrationTest, AnAddressHeldByAnotherProcessIsRefused) {
  AddWorker("10.0.0.45:1234");  // the writer's own session
  EXPECT_THAT(Register("10.0.0.45:1234"),
              GrpcIs(grpc::StatusCode::ALREADY_EXISTS, HasSubstr("another process")));
  // And never overwritten.
  ASSERT_OK_AND_ASSIGN(registry::Node node, writer_->Get("/nodes/worker/10.0.0.45:1234"));
  EXPECT_THAT(node.data, HasSubstr("23817"));
  EXPECT_THAT(SendHeartbeat("10.0.0.45:1234"), GrpcIs(grpc::StatusCode::NOT_FOUND, HasSubstr("")));
  EXPECT_EQ(daemon_->metrics().registrations().value(), 0);
}

class RegistrationLimitsTest : public RegistrationTest {
 protected:
  void SetUp() override {
    ServerTest::SetUp();
    options_.max_registrations = 2;
    StartDaemon();
  }
};

TEST_F(RegistrationLimitsTest, LeasesOwnRegistrationsAndTheTotalIsCapped) {
  ASSERT_THAT(Register("10.0.0.61:1234"), GrpcOk());
  const std::string lease = leases_["10.0.0.61:1234"];
  EXPECT_EQ(lease.size(), 64u);
  ASSERT_THAT(Register("10.0.0.62:1234"), GrpcOk());
  EXPECT_NE(leases_["10.0.0.62:1234"], lease);
  EXPECT_THAT(Register("10.0.0.63:1234"),
              GrpcIs(grpc::StatusCode::RESOURCE_EXHAUSTED, HasSubstr("--max_registrations")));

  // Without the lease id: no heartbeat, no deregistration, no renewal (a takeover).
  leases_["10.0.0.61:1234"] = std::string(64, 'f');
  EXPECT_THAT(SendHeartbeat("10.0.0.61:1234"),
              GrpcIs(grpc::StatusCode::PERMISSION_DENIED, HasSubstr("lease_id wrong")));
  EXPECT_THAT(Deregister("10.0.0.61:1234"),
              GrpcIs(grpc::StatusCode::PERMISSION_DENIED, HasSubstr("lease_id")));
  EXPECT_THAT(Register("10.0.0.61:1234"),
              GrpcIs(grpc::StatusCode::ALREADY_EXISTS, HasSubstr("another registration")));
  leases_.erase("10.0.0.61:1234");
  EXPECT_THAT(SendHeartbeat("10.0.0.61:1234"),
              GrpcIs(grpc::StatusCode::PERMISSION_DENIED, HasSubstr("lease_id missing")));
  EXPECT_THAT(Register("10.0.0.61:1234"),
              GrpcIs(grpc::StatusCode::ALREADY_EXISTS, HasSubstr("another registration")));
  EXPECT_TRUE(ZnodeExists("/nodes/worker/10.0.0.61:1234"));

  // The owner deregisters; the freed place takes a new registration.
  leases_["10.0.0.61:1234"] = lease;
  ASSERT_THAT(Deregister("10.0.0.61:1234"), GrpcOk());
  EXPECT_THAT(Register("10.0.0.63:1234"), GrpcOk());
}

TEST_F(RegistrationTest, BadRequests) {
  EXPECT_THAT(Register("10.0.0.46:1234", v1::NODE_ROLE_UNSPECIFIED),
              GrpcIs(grpc::StatusCode::INVALID_ARGUMENT, HasSubstr("role: is required")));
  EXPECT_THAT(Register("10.0.0.46:1234", static_cast<v1::NodeRole>(9)),
              GrpcIs(grpc::StatusCode::INVALID_ARGUMENT, HasSubstr("role: 9")));
  EXPECT_THAT(Register("10.0.0.46"),
              GrpcIs(grpc::StatusCode::INVALID_ARGUMENT, HasSubstr("address: ")));
  EXPECT_THAT(Register("10.0.0.46:1234", v1::WORKER, absl::Milliseconds(500)),
              GrpcIs(grpc::StatusCode::INVALID_ARGUMENT, HasSubstr("lease: 500ms is not in")));
  EXPECT_THAT(Register("10.0.0.46:1234", v1::WORKER, absl::Minutes(11)),
              GrpcIs(grpc::StatusCode::INVALID_ARGUMENT, HasSubstr("lease: ")));
  v1::Heartbeat bad = Heartbeat();
  bad.set_port(70000);  // a load figure out of range is only a warning
  EXPECT_THAT(Register("10.0.0.46:1234", v1::WORKER, absl::Seconds(30), bad),
              GrpcIs(grpc::StatusCode::INVALID_ARGUMENT, HasSubstr("heartbeat: ")));
  EXPECT_THAT(SendHeartbeat("nonsense"),
              GrpcIs(grpc::StatusCode::INVALID_ARGUMENT, HasSubstr("address: ")));
  ASSERT_THAT(Register("10.0.0.46:1234"), GrpcOk());
  EXPECT_THAT(SendHeartbeat("10.0.0.46:1234", bad),
              GrpcIs(grpc::StatusCode::INVALID_ARGUMENT, HasSubstr("heartbeat: ")));
}

TEST_F(RegistrationTest, SurvivesASessionExpiry) {
  const std::string path = "/nodes/worker/10.0.0.47:1234";
  ASSERT_THAT(Register("10.0.0.47:1234"), GrpcOk());
  const int64_t old_owner = OwnerOf(path);
  ASSERT_NE(old_owner, 0);
  auto* memory = dynamic_cast<registry::MemoryRegistry*>(daemon_->registry());
  ASSERT_NE(memory, nullptr);
  memory->ExpireSession();
  // The registry re-creates its ephemerals in the new session; the registration goes on.
  ASSERT_EVENTUALLY(OwnerOf(path) != 0 && OwnerOf(path) != old_owner);
  ASSERT_EVENTUALLY(daemon_->serving());
  ASSERT_THAT(SendHeartbeat("10.0.0.47:1234", Heartbeat(v1::Heartbeat::BUSY)), GrpcOk());
  ASSERT_OK_AND_ASSIGN(registry::Node node, writer_->Get(path));
  EXPECT_THAT(node.data, HasSubstr("BUSY"));
  EXPECT_EQ(node.stat.ephemeral_owner, daemon_->registry()->session().session_id);
}

TEST_F(RegistrationTest, ShutdownClosesTheSessionAndItsZnodes) {
  const std::string path = "/nodes/worker/10.0.0.48:1234";
  ASSERT_THAT(Register("10.0.0.48:1234"), GrpcOk());
  ASSERT_TRUE(ZnodeExists(path));
  StopDaemon();
  ASSERT_EVENTUALLY(!ZnodeExists(path));
}

}  // namespace
}  // namespace roster::testing
