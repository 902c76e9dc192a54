#include "server/auth_failure_exit.h"

#include <glog/logging.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "registry/registry.h"

namespace roster::server {

AuthFailureExit::AuthFailureExit(cluster::ClusterManager* cluster, AuthFailureExitOptions options,
                                 ExitCallback exit)
    : cluster_(cluster),
      options_(options),
      exit_(std::move(exit)),
      executor_("auth-exit", options_.clock) {}

AuthFailureExit::~AuthFailureExit() { Shutdown(); }

absl::Status AuthFailureExit::Check(const cluster::Freshness& freshness,
                                    absl::Duration exit_after) {
  if (exit_after <= absl::ZeroDuration() || freshness.access_problem.empty() ||
      freshness.access_problem_for < exit_after) {
    return absl::OkStatus();
  }
  const std::string message = absl::StrCat(
      freshness.access_problem, "; unresolved for ",
      absl::FormatDuration(absl::Trunc(freshness.access_problem_for, absl::Milliseconds(1))),
      " (--exit_on_auth_failure_after_ms=", absl::ToInt64Milliseconds(exit_after),
      "): exiting so that the supervisor restarts rosterd");
  if (freshness.session_state == registry::SessionState::kAuthFailed) {
    return absl::UnauthenticatedError(message);
  }
  return absl::PermissionDeniedError(message);
}

void AuthFailureExit::Start() {
  if (options_.exit_after <= absl::ZeroDuration() || started_.exchange(true)) return;
  executor_.Start();
  executor_.Post([this] {
    Evaluate();
    Schedule();
  });
}

void AuthFailureExit::Schedule() {
  if (exited_) return;
  executor_.PostAfter(options_.interval, [this] {
    Evaluate();
    Schedule();
  });
}

void AuthFailureExit::Evaluate() {
  if (exited_) return;
  const cluster::Freshness freshness = cluster_->freshness();
  if (freshness.access_problem.empty()) {
    if (warned_) LOG(INFO) << "the registry can be read again: rosterd will not exit";
    warned_ = false;
    return;
  }
  if (!warned_) {
    warned_ = true;
    LOG(ERROR) << "rosterd cannot read the registry with its credentials; it exits in "
               << absl::FormatDuration(options_.exit_after - freshness.access_problem_for)
               << " unless that is fixed (--exit_on_auth_failure_after_ms="
               << absl::ToInt64Milliseconds(options_.exit_after) << ", 0 to never exit)";
  }
  absl::Status status = Check(freshness, options_.exit_after);
  if (status.ok()) return;
  exited_ = true;
  LOG(ERROR) << status.message();
  exit_(std::move(status));
}

void AuthFailureExit::Shutdown() {
  if (shut_down_.exchange(true)) return;
  executor_.Shutdown();
}

}  // namespace roster::server
