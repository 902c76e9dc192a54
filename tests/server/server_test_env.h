// The fixture of the server tests: a whole rosterd (server::Daemon) in-process, on a named
// memory:// registry, with a real gRPC server on a free loopback port (port 0) and the
// generated stubs as its client. Tests register scheduler nodes the way DolphinScheduler does:
// ephemeral znodes in its layout, holding heartbeat JSON, written through a MemoryRegistry
// session on the same named store.
//
// Also: a WatchCluster reader on its own thread, the standard health check and a reflection
// client without generated stubs (Debian ships neither: see server_test_env.cc), and an HTTP
// GET for the metrics server.
//
// Thread-safety: the fixture is used from the test's thread; WatchClient is thread-safe.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "cluster/node_info.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.pb.h"
#include "grpc/health/v1/health.pb.h"
#include "gtest/gtest.h"
#include "registry/memory/memory_registry.h"
#include "roster/v1/roster.grpc.pb.h"
#include "server/daemon.h"
#include "tests/cluster/cluster_test_util.h"

namespace roster::testing {

// A ClientContext with a deadline, so no test call can hang.
class CallContext : public grpc::ClientContext {
 public:
  explicit CallContext(absl::Duration timeout = absl::Seconds(20)) {
    set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  }
};

// Matches a grpc::Status with this code and a message matching `message`.
MATCHER_P2(GrpcIs, code, message, "") {
  *result_listener << "whose status is " << arg.error_code() << " \"" << arg.error_message()
                   << "\"";
  return arg.error_code() == code && ::testing::Matches(message)(arg.error_message());
}
MATCHER(GrpcOk, "") {
  *result_listener << "whose status is " << arg.error_code() << " \"" << arg.error_message()
                   << "\"";
  return arg.ok();
}

// Reads a WatchCluster stream on its own thread, keeping every message and the final status.
class WatchClient {
 public:
  // Starts the call at once. With `paused`, nothing is read until Resume(): the reader is as
  // slow as a reader can be.
  WatchClient(v1::Roster::Stub* stub, const v1::WatchClusterRequest& request, bool paused = false);
  ~WatchClient();  // Cancels the call and joins the thread.

  void Resume() { go_.Notify(); }
  void Cancel() { context_.TryCancel(); }

  std::vector<v1::WatchClusterResponse> messages() const;
  size_t size() const;
  bool done() const;
  grpc::Status status() const;
  // The events received so far (payload `event`), in order.
  std::vector<v1::ClusterEvent> events() const;

 private:
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReader<v1::WatchClusterResponse>> reader_;
  absl::Notification go_;
  mutable absl::Mutex mu_;
  std::vector<v1::WatchClusterResponse> messages_ ABSL_GUARDED_BY(mu_);
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

// grpc.health.v1.Health/Check through a generic stub (only the messages are compiled).
struct HealthAnswer {
  grpc::Status status;
  grpc::health::v1::HealthCheckResponse::ServingStatus serving =
      grpc::health::v1::HealthCheckResponse::UNKNOWN;
};
HealthAnswer CheckHealth(const std::shared_ptr<grpc::Channel>& channel, const std::string& service);

// Server reflection (v1alpha) through a generic stub and the descriptors that
// grpc++_reflection registers: the services listed, and the file defining a symbol.
absl::StatusOr<std::vector<std::string>> ListServices(
    const std::shared_ptr<grpc::Channel>& channel);
absl::StatusOr<google::protobuf::FileDescriptorProto> FileContainingSymbol(
    const std::shared_ptr<grpc::Channel>& channel, const std::string& symbol);

// GET http://127.0.0.1:port/path over HTTP/1.0: the status code and body.
absl::StatusOr<std::pair<int, std::string>> HttpGet(int port, const std::string& path);

class ServerTest : public ::testing::Test {
 protected:
  static constexpr char kMasters[] = "/nodes/master";
  static constexpr char kWorkers[] = "/nodes/worker";
  static constexpr char kAlertServers[] = "/nodes/alert-server";
  static constexpr char kCoordinator[] = "/nodes/master-coordinator";

  void SetUp() override;
  void TearDown() override;

  // Starts a daemon with options_ and connects the stubs; by default waits until it serves.
  void StartDaemon(bool wait_until_serving = true);
  // Creates the daemon without starting it (for hooks), then StartCreatedDaemon().
  void CreateDaemon();
  void StartCreatedDaemon(bool wait_until_serving = true);
  void StopDaemon();

  // Registers a node as DolphinScheduler does (ephemeral znode, heartbeat JSON payload).
  void AddNode(absl::string_view dir, absl::string_view address, const std::string& payload);
  void AddWorker(absl::string_view address, absl::string_view status = "NORMAL",
                 absl::string_view group = "");
  void AddMaster(absl::string_view address, absl::string_view status = "NORMAL");
  void SetPayload(absl::string_view dir, absl::string_view address, const std::string& payload);
  void RemoveNode(absl::string_view dir, absl::string_view address);
  void SetLeader(absl::string_view address);

  // The node as the daemon's view shows it now, or null.
  cluster::NodeInfoPtr Find(cluster::NodeRole role, absl::string_view address) const;
  bool InState(cluster::NodeRole role, absl::string_view address, cluster::NodeState state) const;
  uint64_t ViewVersion() const;

  // Checks the ViewMeta every response carries: this daemon, connected, synced, fresh.
  void ExpectFreshMeta(const v1::ViewMeta& meta) const;

  std::string store_name_;
  server::DaemonOptions options_;
  std::unique_ptr<registry::MemoryRegistry> writer_;
  std::unique_ptr<server::Daemon> daemon_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Roster::Stub> roster_;
  std::unique_ptr<v1::Registration::Stub> registration_;
  std::unique_ptr<v1::RosterAdmin::Stub> admin_;
};

}  // namespace roster::testing
