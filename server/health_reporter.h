// HealthReporter: keeps gRPC's standard health service (grpc.health.v1.Health) in step with the
// cluster view. SERVING, for the server as a whole ("") and for "roster.v1.Roster", only while
// ClusterManager::freshness() says the registry was read fully, the session is CONNECTED and
// the view is not stale; NOT_SERVING otherwise. Re-evaluated every `interval` on its own
// SerialExecutor and written only on a change (each transition is logged).
//
// Thread-safety: thread-safe.
#pragma once

#include <grpcpp/health_check_service_interface.h>

#include <atomic>

#include "absl/time/time.h"
#include "cluster/cluster_manager.h"
#include "util/executor.h"

namespace roster::server {

class HealthReporter {
 public:
  // The service names whose status is reported.
  static constexpr const char* kServices[] = {"", "roster.v1.Roster"};

  // `cluster` must outlive the reporter; `health` (may be null: /healthz only) must outlive
  // Shutdown().
  HealthReporter(cluster::ClusterManager* cluster, grpc::HealthCheckServiceInterface* health,
                 absl::Duration interval);
  ~HealthReporter();  // Calls Shutdown().

  HealthReporter(const HealthReporter&) = delete;
  HealthReporter& operator=(const HealthReporter&) = delete;

  // Reports NOT_SERVING at once, then evaluates every interval.
  void Start();
  // Stops evaluating and reports NOT_SERVING for good (the health service refuses later
  // changes). Idempotent.
  void Shutdown();

  // The last status reported.
  bool serving() const { return serving_.load(); }

  // What freshness the daemon reports as SERVING.
  static bool ShouldServe(const cluster::Freshness& freshness);

 private:
  void Evaluate();
  void Schedule();

  cluster::ClusterManager* const cluster_;
  grpc::HealthCheckServiceInterface* const health_;
  const absl::Duration interval_;
  std::atomic<bool> serving_{false};
  bool reported_ = false;  // confined to executor_: a status was written at least once
  SerialExecutor executor_;
  std::atomic<bool> shut_down_{false};
};

}  // namespace roster::server
