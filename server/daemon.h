// The rosterd daemon, assembled: registry -> ClusterManager -> gRPC services (Roster,
// Registration, RosterAdmin, health, reflection) + the metrics HTTP server + the health
// updater. RunDaemon() is what main() calls; Daemon is the same thing in two phases, so tests
// run a whole daemon in-process.
//
// Start-up does not wait for the registry: the gRPC server answers at once, flagged stale,
// and health stays NOT_SERVING until the first full read.
//
// Shutdown order (docs/architecture.md, "Shutting down"): health NOT_SERVING; watch streams ended
// (UNAVAILABLE); the gRPC server stops accepting and drains in-flight calls, cancelling what is
// left after shutdown_grace_ms; the metrics server; the registration lease timers; ClusterManager;
// finally the registry, whose session closes (deleting the ephemerals rosterd created).
//
// Threads: gRPC's own; "health", "auth-exit" and "registration" SerialExecutors; the metrics
// server's; the cluster and registry executors.
//
// Thread-safety: Start() and Shutdown() may be called from any thread (Shutdown is idempotent
// and waits for everything to stop); the accessors are thread-safe once Start() returned OK.
#pragma once

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "cluster/cluster_manager.h"
#include "registry/registry.h"
#include "server/admin_service.h"
#include "server/auth_failure_exit.h"
#include "server/authz.h"
#include "server/daemon_options.h"
#include "server/health_reporter.h"
#include "server/http_server.h"
#include "server/rate_limiter.h"
#include "server/registration_service.h"
#include "server/roster_service.h"
#include "server/rpc_util.h"
#include "server/server_metrics.h"
#include "server/shadow_monitor.h"
#include "server/status_page.h"

namespace roster::server {

class Daemon {
 public:
  explicit Daemon(DaemonOptions options);  // No I/O, no threads.
  ~Daemon();                               // Calls Shutdown().

  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Starts everything; on failure stops what it started and returns why (naming the flag).
  // FailedPrecondition if called twice.
  absl::Status Start();
  // See the shutdown order above. Idempotent.
  void Shutdown();

  // Test seam: runs during Start(), right after the registry started and before anything
  // reads it (e.g. to disconnect a memory registry so the first full read waits).
  void SetRegistryStartedHookForTesting(std::function<void(registry::Registry*)> hook) {
    registry_started_hook_ = std::move(hook);
  }

  // Called (once, on a background thread) when rosterd should exit with a non-zero status: it
  // has been unable to read the registry with its credentials for longer than
  // exit_on_auth_failure_after_ms (AuthFailureExit). RunDaemon() then shuts down and returns
  // `status`. The handler must not block or call Shutdown(). Set before Start(); without one,
  // the request is only logged.
  void SetExitHandler(absl::AnyInvocable<void(absl::Status)> handler) {
    exit_handler_ = std::move(handler);
  }

  // After Start(): the bound gRPC port, its address ("127.0.0.1:PORT"), and the bound
  // metrics port (0 when disabled).
  int port() const { return port_; }
  std::string address() const;
  int metrics_port() const;
  const std::string& instance_id() const { return context_.instance_id; }
  // The health status reported now.
  bool serving() const;

  // For tests and the metrics page.
  registry::Registry* registry() { return registry_.get(); }
  cluster::ClusterManager* cluster() { return cluster_.get(); }
  ServerMetrics& metrics() { return metrics_; }
  RosterService* roster_service() { return roster_service_.get(); }
  // Prometheus text: the cluster's metrics, then the server's.
  std::string MetricsText() const;

 private:
  absl::Status StartLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status StartServer() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The Authorizer (admin token, access file) and the rate limiter, into context_.
  absl::Status StartAccessControl() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status WritePortFile() const;

  const DaemonOptions options_;
  std::function<void(registry::Registry*)> registry_started_hook_;
  absl::AnyInvocable<void(absl::Status)> exit_handler_;
  ServerMetrics metrics_;
  ServiceContext context_;
  int port_ = 0;

  absl::Mutex mu_;  // Serialises Start() and Shutdown().
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  // Declared in dependency order: each is destroyed before what it uses.
  std::unique_ptr<Authorizer> authorizer_;     // used by every service
  std::unique_ptr<RateLimiter> rate_limiter_;  // null: no rate limit
  std::unique_ptr<registry::Registry> registry_;
  std::unique_ptr<cluster::ClusterManager> cluster_;
  std::unique_ptr<ShadowMonitor> shadow_;  // null without --shadow_registry
  std::unique_ptr<RosterService> roster_service_;
  std::unique_ptr<RegistrationService> registration_service_;
  std::unique_ptr<AdminService> admin_service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<HealthReporter> health_;
  std::unique_ptr<AuthFailureExit> auth_failure_exit_;
  std::unique_ptr<StatusPage> status_page_;
  std::unique_ptr<HttpServer> http_;
};

// Blocks SIGTERM and SIGINT in the calling thread (threads started later inherit the mask).
// main() calls it first, before any thread exists.
void BlockTerminationSignals();

// Raises the soft limit on open files to the hard limit and returns the limit now in force.
// Every client connection and watch stream holds a socket: a restart under a reconnect storm
// of thousands of clients must not run out at the default soft limit of 1,024.
uint64_t RaiseOpenFileLimit();

// Runs rosterd until SIGTERM or SIGINT, then shuts down. Returns an error if start-up fails, or
// if rosterd stopped because it could not read the registry with its credentials for longer
// than options.exit_on_auth_failure_after_ms (main() exits non-zero then).
// Expects BlockTerminationSignals() to have run before any thread was started.
absl::Status RunDaemon(const DaemonOptions& options);

}  // namespace roster::server
