#include "server/health_reporter.h"

#include <glog/logging.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "registry/registry.h"

namespace roster::server {

HealthReporter::HealthReporter(cluster::ClusterManager* cluster,
                               grpc::HealthCheckServiceInterface* health, absl::Duration interval)
    : cluster_(cluster), health_(health), interval_(interval), executor_("health") {}

HealthReporter::~HealthReporter() { Shutdown(); }

bool HealthReporter::ShouldServe(const cluster::Freshness& freshness) {
  return freshness.ever_synced && freshness.session_state == registry::SessionState::kConnected &&
         !freshness.stale && freshness.access_problem.empty();
}

std::string HealthReporter::NotServingReason(const cluster::Freshness& freshness) {
  if (ShouldServe(freshness)) return "";
  if (!freshness.access_problem.empty()) return freshness.access_problem;
  if (freshness.session_state != registry::SessionState::kConnected) {
    return absl::StrCat("registry session ", registry::SessionStateName(freshness.session_state),
                        freshness.ever_synced ? "" : ", first full read pending");
  }
  if (!freshness.ever_synced) return "first full read of the registry pending";
  if (!freshness.self_preservation.empty()) return freshness.self_preservation;
  return "view stale: a re-read of the registry is pending";
}

std::string HealthReporter::reason() const {
  absl::MutexLock lock(&reason_mu_);
  return reason_;
}

void HealthReporter::Start() {
  if (health_ != nullptr) {
    // gRPC's default health service starts at SERVING for "": correct that before anything
    // could have asked (the server was built a moment ago).
    for (const char* service : kServices) health_->SetServingStatus(service, false);
  }
  executor_.Start();
  executor_.Post([this] {
    Evaluate();
    Schedule();
  });
}

void HealthReporter::Schedule() {
  // Until the first SERVING, every kColdStartInterval: a cold start is SERVING within that of
  // its first full read, not up to a whole interval later (docs/scale.md, "Cold start").
  const absl::Duration next = served_once_ ? interval_ : std::min(interval_, kColdStartInterval);
  executor_.PostAfter(next, [this] {
    Evaluate();
    Schedule();
  });
}

void HealthReporter::Evaluate() {
  const cluster::Freshness freshness = cluster_->freshness();
  const bool serving = ShouldServe(freshness);
  std::string reason = NotServingReason(freshness);
  const bool changed = !reported_ || serving != serving_.load();
  {
    absl::MutexLock lock(&reason_mu_);
    if (!changed && reason == reason_) return;
    reason_ = reason;
  }
  if (changed) {
    reported_ = true;
    served_once_ = served_once_ || serving;
    serving_.store(serving);
    if (health_ != nullptr) {
      for (const char* service : kServices) health_->SetServingStatus(service, serving);
    }
  }
  if (serving) {
    LOG(INFO) << "health: SERVING";
  } else if (!freshness.access_problem.empty()) {
    LOG(ERROR) << "health: NOT_SERVING: " << reason;
  } else {
    LOG(INFO) << "health: NOT_SERVING: " << reason;
  }
}

void HealthReporter::Shutdown() {
  if (shut_down_.exchange(true)) return;
  executor_.Shutdown();
  const bool was_serving = serving_.exchange(false);
  if (health_ != nullptr) {
    for (const char* service : kServices) health_->SetServingStatus(service, false);
    health_->Shutdown();  // NOT_SERVING for every service, and no later change
  }
  if (was_serving) LOG(INFO) << "health: NOT_SERVING (shutting down)";
}

}  // namespace roster::server
