#include "server/daemon_options.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "cluster/ds_version.h"
#include "cluster/layout.h"
#include "cluster/master_cluster.h"
#include "registry/registry_factory.h"
#include "server/tls.h"

namespace roster::server {
namespace {

absl::Status Bad(absl::string_view flag, absl::string_view value, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("--", flag, "=", value, ": ", why));
}

absl::Status InRange(absl::string_view flag, int64_t value, int64_t low, int64_t high) {
  if (value >= low && value <= high) return absl::OkStatus();
  return Bad(flag, absl::StrCat(value), absl::StrCat("must be in [", low, ", ", high, "]"));
}

}  // namespace

absl::Status DaemonOptions::Validate() const {
  if (absl::StatusOr<registry::RegistryUri> uri = registry::ParseRegistryUri(registry); !uri.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--registry: ", uri.status().message()));
  }
  if (!shadow_registry.empty()) {
    if (absl::StatusOr<registry::RegistryUri> uri = registry::ParseRegistryUri(shadow_registry);
        !uri.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--shadow_registry: ", uri.status().message()));
    }
  }
  if (listen.empty()) return Bad("listen", "", "an address is required, e.g. 127.0.0.1:9090");
  constexpr int64_t kHour = 3600000;
  const absl::Status checks[] = {
      InRange("zk_session_timeout_ms", zk_session_timeout_ms, 1000, kHour),
      InRange("zk_operation_timeout_ms", zk_operation_timeout_ms, 100, kHour),
      InRange("zk_max_reconnect_watches", zk_max_reconnect_watches, -1, 100000000),
      InRange("jdbc_registry_poll_interval_ms", jdbc_registry_poll_interval_ms, 10, kHour),
      InRange("jdbc_registry_full_read_interval_ms", jdbc_registry_full_read_interval_ms, 100,
              24 * kHour),
      InRange("shadow_compare_interval_ms", shadow_compare_interval_ms, 10, kHour),
      InRange("shadow_grace_ms", shadow_grace_ms, 0, kHour),
      InRange("exit_on_auth_failure_after_ms", exit_on_auth_failure_after_ms, 0, 24 * kHour),
      InRange("heartbeat_interval_ms", heartbeat_interval_ms, 100, kHour),
      InRange("missed_heartbeats", missed_heartbeats, 1, 100),
      InRange("probation_intervals", probation_intervals, 0, 100),
      InRange("publish_window_ms", publish_window_ms, 0, 1000),
      InRange("tombstone_retention_ms", tombstone_retention_ms, 0, 7 * 24 * kHour),
      InRange("max_heartbeat_bytes", max_heartbeat_bytes, 256, 1 << 20),
      InRange("max_clock_skew_ms", max_clock_skew_ms, 0, 365 * 24 * kHour),
      InRange("resync_interval_ms", resync_interval_ms, 1000, 24 * kHour),
      InRange("staleness_bound_ms", staleness_bound_ms, 0, kHour),
      InRange("self_preservation_window_ms", self_preservation_window_ms, 100, kHour),
      InRange("self_preservation_min_nodes", self_preservation_min_nodes, 2, 1000000),
      InRange("self_preservation_max_hold_ms", self_preservation_max_hold_ms, 0, 24 * kHour),
      InRange("max_request_bytes", max_request_bytes, 1024, 64 << 20),
      InRange("max_watch_streams", max_watch_streams, 1, 1000000),
      InRange("max_watch_streams_per_client", max_watch_streams_per_client, 0, 1000000),
      InRange("max_concurrent_streams_per_connection", max_concurrent_streams_per_connection, 1,
              1000000),
      InRange("grpc_memory_quota_bytes", grpc_memory_quota_bytes, 16 << 20, int64_t{1} << 40),
      InRange("watch_buffer_messages", watch_buffer_messages, 1, 1000000),
      InRange("watch_fanout_max_batches", watch_fanout_max_batches, 1, 1000000),
      InRange("shutdown_grace_ms", shutdown_grace_ms, 0, 600000),
      InRange("health_check_interval_ms", health_check_interval_ms, 10, 60000),
      InRange("worker_group_file_poll_interval_ms", worker_group_file_poll_interval_ms, 100, kHour),
      InRange("worker_group_db_poll_interval_ms", worker_group_db_poll_interval_ms, 100, kHour),
      InRange("worker_group_db_connect_timeout_ms", worker_group_db_connect_timeout_ms, 1000,
              600000),
      InRange("worker_group_db_query_timeout_ms", worker_group_db_query_timeout_ms, 100, 600000),
      InRange("tls_refresh_interval_s", tls_refresh_interval_s, 1, 24 * 3600),
      InRange("access_file_poll_interval_ms", access_file_poll_interval_ms, 100, kHour),
      InRange("max_registrations", max_registrations, 1, 10000000),
      InRange("max_registrations_per_identity", max_registrations_per_identity, 1, 10000000),
  };
  for (const absl::Status& status : checks) {
    if (!status.ok()) return status;
  }
  for (const auto& [flag, value] :
       {std::make_pair("overload_cpu_usage", overload_cpu_usage),
        std::make_pair("overload_memory_usage", overload_memory_usage),
        std::make_pair("self_preservation_fraction", self_preservation_fraction)}) {
    if (!std::isfinite(value) || value < 0 || value > 1) {
      return Bad(flag, absl::StrCat(value), "must be a fraction in [0, 1] (0 disables)");
    }
  }
  if (!std::isfinite(max_requests_per_second_per_client) ||
      max_requests_per_second_per_client < 0 || max_requests_per_second_per_client > 1e7) {
    return Bad("max_requests_per_second_per_client",
               absl::StrCat(max_requests_per_second_per_client),
               "must be in [0, 1e7] (0: no limit)");
  }
  if (absl::StatusOr<cluster::DsVersion> version =
          cluster::ParseDsVersion(dolphinscheduler_version);
      !version.ok()) {
    return absl::InvalidArgumentError(version.status().message());
  }
  if (!slot_policy.empty()) {
    if (absl::StatusOr<cluster::SlotPolicy> policy = cluster::ParseSlotPolicy(slot_policy);
        !policy.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--slot_policy: ", policy.status().message()));
    }
  }
  if (tls_cert_file.empty() && !allow_plaintext_listen && !IsLoopbackListenAddress(listen)) {
    return Bad("listen", listen,
               "plaintext gRPC on an address other machines can reach: give --tls_cert_file and "
               "--tls_key_file (and --tls_client_ca_file for mTLS), listen on loopback, or "
               "accept plaintext explicitly with --allow_plaintext_listen");
  }
  if (worker_group_db_uri.empty() && !worker_group_db_password_file.empty()) {
    return Bad("worker_group_db_password_file", worker_group_db_password_file,
               "needs --worker_group_db_uri");
  }
  cluster::ClusterPaths paths;
  paths.masters = masters_path;
  paths.workers = workers_path;
  paths.alert_servers = alert_servers_path;
  paths.coordinator = coordinator_path;
  paths.drains = drains_path;
  if (absl::Status status = paths.Validate(); !status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("registry paths (--masters_path, --workers_path, --alert_servers_path, "
                     "--coordinator_path, --drains_path): ",
                     status.message()));
  }
  return absl::OkStatus();
}

}  // namespace roster::server
