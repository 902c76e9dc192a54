#include "server/shadow_monitor.h"

#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "registry/registry_factory.h"
#include "util/status_macros.h"

namespace roster::server {
namespace {

using cluster::ShadowDivergence;

constexpr ShadowDivergence::Kind kKinds[] = {
    ShadowDivergence::Kind::kOnlyInPrimary, ShadowDivergence::Kind::kOnlyInShadow,
    ShadowDivergence::Kind::kState, ShadowDivergence::Kind::kHeartbeat};

std::string Describe(const ShadowDivergence& d) {
  return absl::StrCat(cluster::NodeRoleName(d.role), " ", d.address, " [",
                      cluster::ShadowDivergenceKindName(d.kind), "] ", d.detail);
}

}  // namespace

absl::StatusOr<std::unique_ptr<ShadowMonitor>> ShadowMonitor::Create(
    ShadowMonitorOptions options, const cluster::ClusterManager* primary) {
  ASSIGN_OR_RETURN(const registry::RegistryUri uri, registry::ParseRegistryUri(options.uri));
  registry::RegistryOptions registry_options = options.registry;
  registry_options.name = "shadow-registry";
  std::unique_ptr<ShadowMonitor> monitor(new ShadowMonitor(std::move(options), primary));
  monitor->uri_text_ = uri.ToString();
  ASSIGN_OR_RETURN(monitor->registry_,
                   registry::NewRegistry(monitor->options_.uri, std::move(registry_options)));
  monitor->cluster_ = std::make_unique<cluster::ClusterManager>(monitor->registry_.get(),
                                                                monitor->options_.cluster);
  absl::MutexLock lock(&monitor->mu_);
  monitor->report_.uri = monitor->uri_text_;
  monitor->report_.not_compared_reason = "not started";
  return monitor;
}

ShadowMonitor::ShadowMonitor(ShadowMonitorOptions options, const cluster::ClusterManager* primary)
    : options_(std::move(options)), primary_(primary), executor_("shadow", options_.clock) {}

ShadowMonitor::~ShadowMonitor() { Shutdown(); }

absl::Status ShadowMonitor::Start() {
  RETURN_IF_ERROR(registry_->Start());
  RETURN_IF_ERROR(cluster_->Start());
  executor_.Start();
  executor_.Post([this] { Compare(); });
  LOG(INFO) << "shadow mode: comparing the view of " << uri_text_ << " with the primary's every "
            << absl::FormatDuration(options_.compare_interval);
  return absl::OkStatus();
}

void ShadowMonitor::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) return;
    shut_down_ = true;
  }
  executor_.Shutdown();
  if (cluster_ != nullptr) cluster_->Shutdown();
  if (registry_ != nullptr) registry_->Shutdown();
}

void ShadowMonitor::Compare() {
  executor_.PostAfter(options_.compare_interval, [this] { Compare(); });
  const cluster::ClusterViewPtr primary = primary_->view();
  const cluster::ClusterViewPtr shadow = cluster_->view();
  const absl::Time now = options_.clock->Now();
  const absl::Time wall_now = options_.clock->WallNow();
  if (!primary->synced || !shadow->synced) {
    absl::MutexLock lock(&mu_);
    report_.compared = false;
    report_.not_compared_reason = !primary->synced ? "the primary registry is not read yet"
                                                   : "the shadow registry is not read yet";
    return;
  }
  std::vector<ShadowReportEntry> confirmed;
  std::set<std::string> current;
  for (ShadowDivergence& divergence : cluster::CompareViews(*primary, *shadow)) {
    const std::string key = divergence.Key();
    current.insert(key);
    const absl::Time since = first_seen_.emplace(key, now).first->second;
    const absl::Time since_wall = first_seen_wall_.emplace(key, wall_now).first->second;
    if (now - since >= options_.grace) confirmed.push_back({std::move(divergence), since_wall});
  }
  std::set<std::string> before;
  {
    absl::MutexLock lock(&mu_);
    for (const ShadowReportEntry& entry : report_.divergences)
      before.insert(entry.divergence.Key());
  }
  std::vector<std::string> lines;
  std::set<std::string> confirmed_keys;
  std::map<std::string, int64_t> new_by_kind;
  for (const ShadowReportEntry& entry : confirmed) {
    confirmed_keys.insert(entry.divergence.Key());
    if (before.count(entry.divergence.Key()) > 0) continue;
    ++new_by_kind[std::string(cluster::ShadowDivergenceKindName(entry.divergence.kind))];
    lines.push_back(absl::StrCat("shadow divergence: ", Describe(entry.divergence)));
  }
  for (const std::string& key : before) {
    if (confirmed_keys.count(key) == 0)
      lines.push_back(absl::StrCat("shadow divergence gone: ", key));
  }
  for (auto it = first_seen_.begin(); it != first_seen_.end();) {
    if (current.count(it->first) == 0) {
      first_seen_wall_.erase(it->first);
      it = first_seen_.erase(it);
    } else {
      ++it;
    }
  }
  {
    absl::MutexLock lock(&mu_);
    report_.compared = true;
    report_.not_compared_reason.clear();
    report_.compared_at = wall_now;
    report_.primary_version = primary->version;
    report_.shadow_version = shadow->version;
    report_.divergences = std::move(confirmed);
    for (const auto& [kind, count] : new_by_kind) totals_[kind] += count;
  }
  for (const std::string& line : lines) Log(line);
}

void ShadowMonitor::Log(const std::string& line) {
  const absl::Time now = options_.clock->Now();
  if (now - log_window_start_ >= absl::Minutes(1)) {
    if (log_lines_dropped_ > 0) {
      LOG(WARNING) << "shadow mode: " << log_lines_dropped_
                   << " divergence line(s) left out in the last minute (rosterctl diff lists "
                      "the current ones)";
    }
    log_window_start_ = now;
    log_lines_in_window_ = 0;
    log_lines_dropped_ = 0;
  }
  if (log_lines_in_window_ >= options_.max_log_lines_per_minute) {
    ++log_lines_dropped_;
    return;
  }
  ++log_lines_in_window_;
  LOG(WARNING) << line;
}

ShadowReport ShadowMonitor::Report() const {
  absl::MutexLock lock(&mu_);
  return report_;
}

void ShadowMonitor::WriteMetrics(PrometheusWriter* writer) const {
  absl::MutexLock lock(&mu_);
  std::map<std::string, int64_t> current;
  for (const ShadowReportEntry& entry : report_.divergences) {
    ++current[std::string(cluster::ShadowDivergenceKindName(entry.divergence.kind))];
  }
  writer->Family("roster_shadow_compared", "gauge",
                 "1 once the primary and shadow registries' views are both read and compared.");
  writer->Sample("roster_shadow_compared", report_.compared ? 1 : 0);
  writer->Family("roster_shadow_divergences", "gauge",
                 "Current differences between the primary and the shadow registry, by kind.");
  for (ShadowDivergence::Kind kind : kKinds) {
    const std::string name(cluster::ShadowDivergenceKindName(kind));
    writer->Sample("roster_shadow_divergences", {{"kind", name}}, current[name]);
  }
  writer->Family("roster_shadow_divergences_total", "counter",
                 "Divergences between the primary and the shadow registry seen so far, by kind.");
  for (ShadowDivergence::Kind kind : kKinds) {
    const std::string name(cluster::ShadowDivergenceKindName(kind));
    auto total = totals_.find(name);
    writer->Sample("roster_shadow_divergences_total", {{"kind", name}},
                   total == totals_.end() ? 0 : total->second);
  }
}

}  // namespace roster::server
