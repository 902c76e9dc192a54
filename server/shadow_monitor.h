// ShadowMonitor: shadow mode (--shadow_registry), for registry migrations. A second registry is
// read alongside the primary through the same cluster code (a second, read-only
// ClusterManager: no drains, no registrations, no group sources), and its view is compared
// with the primary's every compare interval (cluster/shadow_diff.h). Answers still come from
// the primary alone.
//
// A difference becomes a divergence once it has lasted `grace`: the two registries see one
// write at different moments (a JDBC registry polls), which is not a divergence. Each new
// divergence is logged (at most max_log_lines_per_minute lines, then a count of the lines
// left out) and counted in roster_shadow_divergences_total{kind}; the current ones are the
// gauge roster_shadow_divergences{kind} and `rosterctl diff` (RosterAdmin.GetShadowDiff).
//
// Thread-safety: thread-safe. Comparisons run on the monitor's own executor.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "cluster/cluster_manager.h"
#include "cluster/shadow_diff.h"
#include "registry/registry.h"
#include "registry/registry_options.h"
#include "util/clock.h"
#include "util/executor.h"
#include "util/metrics.h"

namespace roster::server {

struct ShadowMonitorOptions {
  std::string uri;  // the shadow registry (any --registry form)
  // As the primary's: same credentials files, timeouts and layout.
  registry::RegistryOptions registry;
  cluster::ClusterOptions cluster;
  absl::Duration compare_interval = absl::Seconds(1);
  absl::Duration grace = absl::Seconds(5);
  int max_log_lines_per_minute = 20;
  Clock* clock = Clock::Real();  // not owned
};

// One divergence as reported: since when (wall clock) it has been seen.
struct ShadowReportEntry {
  cluster::ShadowDivergence divergence;
  absl::Time since;
};

struct ShadowReport {
  std::string uri;        // the shadow registry, as parsed (no credentials)
  bool compared = false;  // false until both views have been read once
  std::string not_compared_reason;
  absl::Time compared_at;  // wall clock of the last comparison
  uint64_t primary_version = 0;
  uint64_t shadow_version = 0;
  std::vector<ShadowReportEntry> divergences;  // sorted by role, address, kind
};

class ShadowMonitor {
 public:
  // Builds (not starts) the shadow registry and its cluster manager. `primary` must outlive the
  // monitor. InvalidArgument for a bad URI.
  static absl::StatusOr<std::unique_ptr<ShadowMonitor>> Create(
      ShadowMonitorOptions options, const cluster::ClusterManager* primary);
  ~ShadowMonitor();

  absl::Status Start();
  // Stops comparing, then shuts the shadow cluster manager and registry down. Idempotent.
  void Shutdown();

  ShadowReport Report() const;
  void WriteMetrics(PrometheusWriter* writer) const;

 private:
  ShadowMonitor(ShadowMonitorOptions options, const cluster::ClusterManager* primary);
  void Compare();  // on executor_
  void Log(const std::string& line);

  const ShadowMonitorOptions options_;
  const cluster::ClusterManager* const primary_;
  std::string uri_text_;
  std::unique_ptr<registry::Registry> registry_;
  std::unique_ptr<cluster::ClusterManager> cluster_;

  // Comparison state, on executor_.
  std::map<std::string, absl::Time> first_seen_;  // Key() -> monotonic time first seen
  std::map<std::string, absl::Time> first_seen_wall_;
  absl::Time log_window_start_;
  int log_lines_in_window_ = 0;
  int log_lines_dropped_ = 0;

  mutable absl::Mutex mu_;
  ShadowReport report_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int64_t> totals_ ABSL_GUARDED_BY(mu_);  // kind -> count
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;

  SerialExecutor executor_;
};

}  // namespace roster::server
