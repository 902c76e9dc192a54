#include "server/health_reporter.h"

#include <glog/logging.h>

#include "registry/registry.h"

namespace roster::server {

HealthReporter::HealthReporter(cluster::ClusterManager* cluster,
                               grpc::HealthCheckServiceInterface* health, absl::Duration interval)
    : cluster_(cluster), health_(health), interval_(interval), executor_("health") {}

HealthReporter::~HealthReporter() { Shutdown(); }

bool HealthReporter::ShouldServe(const cluster::Freshness& freshness) {
  return freshness.ever_synced && freshness.session_state == registry::SessionState::kConnected &&
         !freshness.stale;
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
  executor_.PostAfter(interval_, [this] {
    Evaluate();
    Schedule();
  });
}

void HealthReporter::Evaluate() {
  const cluster::Freshness freshness = cluster_->freshness();
  const bool serving = ShouldServe(freshness);
  if (reported_ && serving == serving_.load()) return;
  reported_ = true;
  serving_.store(serving);
  if (health_ != nullptr) {
    for (const char* service : kServices) health_->SetServingStatus(service, serving);
  }
  LOG(INFO) << "health: " << (serving ? "SERVING" : "NOT_SERVING") << " (session "
            << registry::SessionStateName(freshness.session_state)
            << (freshness.ever_synced ? "" : ", first full read pending")
            << (freshness.stale ? ", view stale" : "")
            << (freshness.self_preservation.empty() ? "" : "; ") << freshness.self_preservation
            << ")";
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
