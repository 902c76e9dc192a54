// AuthFailureExit: ends rosterd when it has been unable to read the registry with its
// credentials for too long, so that a supervisor restarts it.
//
// ZooKeeper rejecting rosterd's credentials (session AUTH_FAILED, which no session recovers
// from) or a layout root rosterd may not list (NOAUTH: the wrong digest for DolphinScheduler's
// creator-only ACLs) leaves a daemon whose view may look empty while the cluster is not. The
// cluster layer then refuses selection, slot and leader answers and health is NOT_SERVING
// (cluster::Freshness::access_problem); this class adds the last step: once the problem has
// lasted `exit_after`, it calls `exit` (once) with the status rosterd should exit with. A
// problem that clears first is forgotten. Checked every `interval` on its own executor.
//
// Thread-safety: thread-safe. `exit` runs on the checker's thread; it must not block or call
// Shutdown().
#pragma once

#include <atomic>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "cluster/cluster_manager.h"
#include "cluster/freshness.h"
#include "util/clock.h"
#include "util/executor.h"

namespace roster::server {

struct AuthFailureExitOptions {
  // How long an access problem may last before rosterd exits; zero disables the exit.
  absl::Duration exit_after = absl::Seconds(60);
  // How often the problem is checked.
  absl::Duration interval = absl::Milliseconds(100);
  Clock* clock = Clock::Real();  // for the checks' timer; not owned
};

class AuthFailureExit {
 public:
  using ExitCallback = absl::AnyInvocable<void(absl::Status)>;

  // `cluster` must outlive Shutdown().
  AuthFailureExit(cluster::ClusterManager* cluster, AuthFailureExitOptions options,
                  ExitCallback exit);
  ~AuthFailureExit();  // Calls Shutdown().

  AuthFailureExit(const AuthFailureExit&) = delete;
  AuthFailureExit& operator=(const AuthFailureExit&) = delete;

  // Starts checking (does nothing when the exit is disabled).
  void Start();
  // Stops checking and joins the executor. Idempotent.
  void Shutdown();

  // The decision: OK, or the status to exit with once `freshness` has had an access problem
  // for `exit_after` (Unauthenticated for a refused session, PermissionDenied for an
  // unreadable layout), naming the problem, how long it lasted and the flag that bounds it.
  static absl::Status Check(const cluster::Freshness& freshness, absl::Duration exit_after);

 private:
  void Evaluate();
  void Schedule();

  cluster::ClusterManager* const cluster_;
  const AuthFailureExitOptions options_;
  ExitCallback exit_;
  SerialExecutor executor_;
  bool warned_ = false;  // confined to executor_: the pending exit was announced
  bool exited_ = false;  // confined to executor_: `exit_` was called
  std::atomic<bool> started_{false};
  std::atomic<bool> shut_down_{false};
};

}  // namespace roster::server
