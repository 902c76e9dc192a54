// The daemon as a whole: health follows the first full read and the session; reflection
// lists and describes every service; the request size limit; shutdown drains in-flight calls;
// the metrics page; the port file; option checking.
#include <fstream>
#include <string>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/server_test_env.h"
#include "tests/testing/eventually.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace roster::testing {
namespace {

using grpc::health::v1::HealthCheckResponse;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::IsSupersetOf;

class DaemonTest : public ServerTest {};

bool Serving(const std::shared_ptr<grpc::Channel>& channel, const std::string& service) {
  const HealthAnswer answer = CheckHealth(channel, service);
  return answer.status.ok() && answer.serving == HealthCheckResponse::SERVING;
}

bool NotServing(const std::shared_ptr<grpc::Channel>& channel, const std::string& service) {
  const HealthAnswer answer = CheckHealth(channel, service);
  return answer.status.ok() && answer.serving == HealthCheckResponse::NOT_SERVING;
}

TEST_F(DaemonTest, HealthIsNotServingUntilTheFirstFullReadAndWhileTheSessionIsLost) {
  AddWorker("10.0.0.21:1234");
  CreateDaemon();
  // The registry connects, then loses its connection before anything was read.
  registry::MemoryRegistry* memory = nullptr;
  daemon_->SetRegistryStartedHookForTesting([&memory](registry::Registry* registry) {
    memory = dynamic_cast<registry::MemoryRegistry*>(registry);
    ASSERT_NE(memory, nullptr);
    ASSERT_OK(memory->WaitConnected(absl::Seconds(10)));
    memory->Disconnect();
  });
  StartCreatedDaemon(/*wait_until_serving=*/false);
  ASSERT_NE(memory, nullptr);

  EXPECT_TRUE(NotServing(channel_, ""));
  EXPECT_TRUE(NotServing(channel_, "roster.v1.Roster"));
  ASSERT_OK_AND_ASSIGN(auto healthz, HttpGet(daemon_->metrics_port(), "/healthz"));
  EXPECT_EQ(healthz.first, 503);
  EXPECT_THAT(healthz.second, ::testing::StartsWith("NOT_SERVING\n"));
  {
    // Lookups answer, flagged; authority answers are refused.
    CallContext context;
    v1::GetClusterViewResponse view;
    ASSERT_THAT(roster_->GetClusterView(&context, {}, &view), GrpcOk());
    EXPECT_TRUE(view.meta().syncing());
    EXPECT_TRUE(view.meta().stale());
    EXPECT_EQ(view.meta().session_state(), v1::SUSPENDED);
    EXPECT_EQ(view.workers_size(), 0);
    CallContext slot_context;
    v1::GetMasterSlotRequest request;
    request.set_address("10.0.0.1:5678");
    v1::GetMasterSlotResponse slot;
    EXPECT_THAT(roster_->GetMasterSlot(&slot_context, request, &slot),
                GrpcIs(grpc::StatusCode::UNAVAILABLE, HasSubstr("not been read fully")));
  }

  memory->Reconnect();
  ASSERT_EVENTUALLY(Serving(channel_, "") && Serving(channel_, "roster.v1.Roster"));
  ASSERT_OK_AND_ASSIGN(healthz, HttpGet(daemon_->metrics_port(), "/healthz"));
  EXPECT_EQ(healthz.first, 200);
  EXPECT_EQ(healthz.second, "SERVING\n");

  memory->Disconnect();
  ASSERT_EVENTUALLY(NotServing(channel_, "") && NotServing(channel_, "roster.v1.Roster"));
  memory->Reconnect();
  ASSERT_EVENTUALLY(Serving(channel_, ""));

  EXPECT_EQ(CheckHealth(channel_, "no.such.Service").status.error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(DaemonTest, ReflectionListsAndDescribesEveryService) {
  StartDaemon();
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> services, ListServices(channel_));
  EXPECT_THAT(services,
              IsSupersetOf({"roster.v1.Roster", "roster.v1.RosterAdmin", "roster.v1.Registration",
                            "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"}));
  // The health service can be described too (our compiled copy of health.proto).
  ASSERT_OK_AND_ASSIGN(google::protobuf::FileDescriptorProto health,
                       FileContainingSymbol(channel_, "grpc.health.v1.Health"));
  EXPECT_EQ(health.name(), "grpc/health/v1/health.proto");
  ASSERT_EQ(health.service_size(), 1);
  EXPECT_EQ(health.service(0).name(), "Health");
  EXPECT_EQ(health.service(0).method(0).name(), "Check");
  ASSERT_OK_AND_ASSIGN(google::protobuf::FileDescriptorProto roster,
                       FileContainingSymbol(channel_, "roster.v1.Roster"));
  EXPECT_EQ(roster.name(), "roster/v1/roster.proto");
  EXPECT_EQ(roster.package(), "roster.v1");
}

TEST_F(DaemonTest, OversizedRequestsAreRefused) {
  options_.max_request_bytes = 64 * 1024;
  StartDaemon();
  CallContext context;
  v1::GetNodeRequest request;
  request.set_address(std::string(100 * 1024, 'a'));
  v1::GetNodeResponse response;
  EXPECT_THAT(roster_->GetNode(&context, request, &response),
              GrpcIs(grpc::StatusCode::RESOURCE_EXHAUSTED, HasSubstr("")));
  CallContext ping_context;
  v1::PingResponse pong;
  EXPECT_THAT(roster_->Ping(&ping_context, {}, &pong), GrpcOk());
}

TEST_F(DaemonTest, ShutdownDrainsCallsInFlight) {
  options_.shutdown_grace_ms = 60000;
  StartDaemon();
  // Hold the daemon's registry executor inside a listener of ours: a RegisterNode call then
  // stays in flight (its registry callback cannot run) until we let go.
  absl::Notification blocked;
  absl::Notification release;
  ASSERT_OK_AND_ASSIGN(
      std::unique_ptr<registry::Subscription> hold,
      daemon_->registry()->Subscribe("/hold", {}, [&](const registry::RegistryEvent& event) {
        if (event.type == registry::EventType::kAdded && event.path == "/hold/now") {
          blocked.Notify();
          release.WaitForNotification();
        }
      }));
  registry::CreateOptions parents;
  parents.create_parents = true;
  ASSERT_OK(writer_->Create("/hold/now", "", parents));
  blocked.WaitForNotification();

  v1::RegisterNodeRequest request;
  request.set_role(v1::WORKER);
  request.set_address("10.0.0.49:1234");
  v1::RegisterNodeResponse response;
  grpc::Status call_status;
  absl::Notification call_done;
  CallContext context(absl::Seconds(60));
  registration_->async()->RegisterNode(&context, &request, &response, [&](grpc::Status status) {
    call_status = std::move(status);
    call_done.Notify();
  });
  // It is in flight once deregistering the address is refused as "under way" (a probe that,
  // unlike a second registration, can never become the call in flight itself).
  ASSERT_EVENTUALLY([&] {
    CallContext probe(absl::Seconds(5));
    v1::DeregisterNodeRequest deregister;
    deregister.set_address(request.address());
    v1::DeregisterNodeResponse ignored;
    return registration_->DeregisterNode(&probe, deregister, &ignored).error_code() ==
           grpc::StatusCode::ABORTED;
  }());
  EXPECT_FALSE(call_done.HasBeenNotified());

  std::thread shutdown([this] { daemon_->Shutdown(); });
  // Shutting down: health says so, and new calls are refused ...
  ASSERT_EVENTUALLY(!daemon_->serving());
  ASSERT_EVENTUALLY([&] {
    CallContext ping_context(absl::Seconds(2));
    v1::PingResponse pong;
    return !roster_->Ping(&ping_context, {}, &pong).ok();
  }());
  // ... but the call in flight is not cut off.
  EXPECT_FALSE(call_done.HasBeenNotified());
  release.Notify();
  call_done.WaitForNotification();
  EXPECT_THAT(call_status, GrpcOk());
  EXPECT_EQ(response.path(), "/nodes/worker/10.0.0.49:1234");
  shutdown.join();
  hold.reset();
}

TEST_F(DaemonTest, MetricsPageAndPortFile) {
  TempDir dir("daemon_test");
  options_.port_file = dir.Child("port");
  StartDaemon();
  std::ifstream in(options_.port_file);
  int port_in_file = 0;
  in >> port_in_file;
  EXPECT_EQ(port_in_file, daemon_->port());
  EXPECT_GT(daemon_->port(), 0);

  CallContext context;
  v1::PingResponse pong;
  ASSERT_THAT(roster_->Ping(&context, {}, &pong), GrpcOk());
  ASSERT_OK_AND_ASSIGN(auto metrics, HttpGet(daemon_->metrics_port(), "/metrics"));
  EXPECT_EQ(metrics.first, 200);
  EXPECT_THAT(metrics.second, HasSubstr("roster_rpcs_total{method=\"Roster/Ping\",code=\"OK\"} 1"));
  EXPECT_THAT(metrics.second, HasSubstr("roster_view_version "));
  EXPECT_THAT(metrics.second, HasSubstr("roster_watch_streams_open 0"));
  EXPECT_THAT(metrics.second, HasSubstr("roster_registrations 0"));
  EXPECT_THAT(metrics.second, HasSubstr("roster_serving 1"));
  EXPECT_THAT(metrics.second, HasSubstr(daemon_->instance_id()));
  ASSERT_OK_AND_ASSIGN(auto missing, HttpGet(daemon_->metrics_port(), "/nope"));
  EXPECT_EQ(missing.first, 404);
}

TEST_F(DaemonTest, APortInUseFailsTheStart) {
  StartDaemon();
  server::DaemonOptions second = options_;
  second.listen = daemon_->address();
  second.metrics_listen = "";
  server::Daemon other(second);
  const absl::Status status = other.Start();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(status.message()), HasSubstr("--listen"));
}

TEST(DaemonOptionsTest, BadValuesNameTheFlag) {
  auto message = [](auto change) {
    server::DaemonOptions options;
    change(options);
    return std::string(options.Validate().message());
  };
  EXPECT_EQ(message([](server::DaemonOptions&) {}), "");
  EXPECT_EQ(message([](server::DaemonOptions& o) { o.missed_heartbeats = 0; }),
            "--missed_heartbeats=0: must be in [1, 100]");
  EXPECT_THAT(message([](server::DaemonOptions& o) { o.registry = "http://x"; }),
              HasSubstr("--registry: "));
  EXPECT_THAT(message([](server::DaemonOptions& o) { o.overload_cpu_usage = 1.5; }),
              HasSubstr("--overload_cpu_usage=1.5: must be a fraction"));
  EXPECT_THAT(message([](server::DaemonOptions& o) { o.masters_path = "nodes"; }),
              HasSubstr("--masters_path"));
  EXPECT_THAT(message([](server::DaemonOptions& o) { o.watch_buffer_messages = 0; }),
              HasSubstr("--watch_buffer_messages=0"));
  EXPECT_THAT(message([](server::DaemonOptions& o) { o.listen = ""; }), HasSubstr("--listen"));
  server::DaemonOptions defaults;
  EXPECT_EQ(defaults.effective_staleness_bound_ms(), 20000);
}

}  // namespace
}  // namespace roster::testing
