// RPC latency metrics: every unary call of every service is timed by method and status code
// (roster_rpc_duration_seconds), streams are not, and the method label cannot grow without
// bound. Read back from the daemon's metrics text as Prometheus parses it.
#include "server/server_metrics.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/rpc_latency_interceptor.h"
#include "tests/server/server_test_env.h"
#include "tests/testing/eventually.h"
#include "tests/testing/prometheus_text.h"
#include "tests/testing/status_matchers.h"

namespace roster::testing {
namespace {

TEST(ShortMethodNameTest, DropsThePackageAsRpcsTotalSpellsMethods) {
  EXPECT_EQ(server::ShortMethodName("/roster.v1.Roster/GetNode"), "Roster/GetNode");
  EXPECT_EQ(server::ShortMethodName("/grpc.health.v1.Health/Check"), "Health/Check");
  EXPECT_EQ(server::ShortMethodName("/Plain/Call"), "Plain/Call");
  EXPECT_EQ(server::ShortMethodName("nonsense"), "nonsense");
}

TEST(ServerMetricsTest, MethodsPastTheCapCountAsOther) {
  server::ServerMetrics metrics;
  const int extra = 6;
  for (size_t i = 0; i < server::ServerMetrics::kMaxTimedMethods + extra; ++i) {
    metrics.ObserveRpcLatency("Made/Up" + std::to_string(i), grpc::StatusCode::UNIMPLEMENTED,
                              0.001);
  }
  // A method seen before the cap keeps its own series.
  metrics.ObserveRpcLatency("Made/Up0", grpc::StatusCode::UNIMPLEMENTED, 0.001);
  PrometheusWriter writer;
  metrics.Write(&writer);
  ASSERT_OK_AND_ASSIGN(Exposition e, ParseExposition(writer.text()));
  EXPECT_EQ(e.Samples("roster_rpc_duration_seconds_count").size(),
            server::ServerMetrics::kMaxTimedMethods + 1);
  EXPECT_EQ(e.Value("roster_rpc_duration_seconds_count",
                    {{"method", "other"}, {"code", "UNIMPLEMENTED"}}),
            extra);
  EXPECT_EQ(e.Value("roster_rpc_duration_seconds_count",
                    {{"method", "Made/Up0"}, {"code", "UNIMPLEMENTED"}}),
            2);
}

class RpcLatencyTest : public ServerTest {};

TEST_F(RpcLatencyTest, EveryUnaryCallIsTimedByMethodAndCodeAndStreamsAreNot) {
  StartDaemon();
  const absl::Time before = absl::Now();
  {
    CallContext context;
    v1::PingResponse pong;
    ASSERT_THAT(roster_->Ping(&context, {}, &pong), GrpcOk());
  }
  {
    CallContext context;
    v1::GetNodeRequest request;
    request.set_address("10.9.9.9:1234");
    v1::GetNodeResponse response;
    EXPECT_EQ(roster_->GetNode(&context, request, &response).error_code(),
              grpc::StatusCode::NOT_FOUND);
  }
  const absl::Duration elapsed = absl::Now() - before;
  {
    WatchClient watch(roster_.get(), v1::WatchClusterRequest{});
    ASSERT_EVENTUALLY(watch.size() >= 1);
    watch.Cancel();
    ASSERT_EVENTUALLY(watch.done());
  }
  // The stream's end is counted by the service after the reactor finished.
  ASSERT_EVENTUALLY(daemon_->metrics().rpcs("Roster/WatchCluster", grpc::StatusCode::CANCELLED) +
                        daemon_->metrics().rpcs("Roster/WatchCluster", grpc::StatusCode::OK) >
                    0);

  ASSERT_OK_AND_ASSIGN(Exposition e, ParseExposition(daemon_->MetricsText()));
  const MetricFamily* family = e.Family("roster_rpc_duration_seconds");
  ASSERT_NE(family, nullptr);
  EXPECT_EQ(family->type, "histogram");
  const Labels ping = {{"method", "Roster/Ping"}, {"code", "OK"}};
  const Labels get_node = {{"method", "Roster/GetNode"}, {"code", "NOT_FOUND"}};
  EXPECT_EQ(e.Value("roster_rpc_duration_seconds_count", ping), 1);
  EXPECT_EQ(e.Value("roster_rpc_duration_seconds_count", get_node), 1);
  // Each call took more than nothing and less than the test's own measure around both.
  for (const Labels& series : {ping, get_node}) {
    const double sum = e.Value("roster_rpc_duration_seconds_sum", series).value_or(-1);
    EXPECT_GT(sum, 0);
    EXPECT_LT(sum, absl::ToDoubleSeconds(elapsed));
  }
  EXPECT_EQ(e.Sum("roster_rpc_duration_seconds_count", {{"method", "Roster/WatchCluster"}}), 0)
      << "a stream's length is the client's choice, not a latency";
}

}  // namespace
}  // namespace roster::testing
