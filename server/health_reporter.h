// HealthReporter: keeps gRPC's standard health service (grpc.health.v1.Health) in step with the
// cluster view. SERVING, for the server as a whole ("") and for "roster.v1.Roster", only while
// ClusterManager::freshness() says the registry was read fully, the session is CONNECTED, the
// view is not stale and rosterd can read the registry with its credentials (no access
// problem); NOT_SERVING otherwise, with the reason (reason(), GET /healthz). Re-evaluated every
// `interval` (every kColdStartInterval until the first SERVING) on its own SerialExecutor and
// written only on a change (each transition, and each new reason, is logged once).
//
// Thread-safety: thread-safe.
#pragma once

#include <grpcpp/health_check_service_interface.h>

#include <atomic>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "cluster/cluster_manager.h"
#include "util/executor.h"

namespace roster::server {

class HealthReporter {
 public:
  // How often the status is evaluated before the first SERVING (then every `interval`).
  static constexpr absl::Duration kColdStartInterval = absl::Milliseconds(10);
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

  // Why the daemon is NOT_SERVING now ("" while SERVING or before the first evaluation).
  std::string reason() const;

  // What freshness the daemon reports as SERVING.
  static bool ShouldServe(const cluster::Freshness& freshness);
  // Why `freshness` is not served: the access problem first (it names the flag to fix), then
  // the session, the first full read, staleness. "" when ShouldServe().
  static std::string NotServingReason(const cluster::Freshness& freshness);

 private:
  void Evaluate();
  void Schedule();

  cluster::ClusterManager* const cluster_;
  grpc::HealthCheckServiceInterface* const health_;
  const absl::Duration interval_;
  std::atomic<bool> serving_{false};
  bool reported_ = false;     // confined to executor_: a status was written at least once
  bool served_once_ = false;  // confined to executor_: SERVING was reported at least once
  mutable absl::Mutex reason_mu_;
  std::string reason_ ABSL_GUARDED_BY(reason_mu_);
  SerialExecutor executor_;
  std::atomic<bool> shut_down_{false};
};

}  // namespace roster::server
