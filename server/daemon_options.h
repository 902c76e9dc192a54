// DaemonOptions: every setting of rosterd, with its unit in its name. Filled from flags in
// exactly one place (DaemonOptionsFromFlags, server/flags.h); tests fill it directly.
//
// Thread-safety: a value type.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "cluster/cluster_manager.h"
#include "registry/registry_options.h"
#include "server/auth_failure_exit.h"

namespace roster::server {

namespace internal {
// The components' own defaults, which DaemonOptions and the flags repeat by reference only.
inline const cluster::ClusterOptions& ClusterDefaults() {
  static const cluster::ClusterOptions* const options = new cluster::ClusterOptions;
  return *options;
}
inline const registry::RegistryOptions& RegistryDefaults() {
  static const registry::RegistryOptions* const options = new registry::RegistryOptions;
  return *options;
}
inline int64_t Ms(absl::Duration d) { return absl::ToInt64Milliseconds(d); }
}  // namespace internal

struct DaemonOptions {
  // Registry: zk://h:p[,h:p]/chroot or memory://[name][/chroot].
  std::string registry = "memory://";
  int64_t zk_session_timeout_ms = internal::Ms(internal::RegistryDefaults().session_timeout);
  int64_t zk_operation_timeout_ms = internal::Ms(internal::RegistryDefaults().operation_timeout);
  int32_t zk_max_reconnect_watches = internal::RegistryDefaults().max_reconnect_watches;
  std::string zk_digest_file;  // first line "user:password"; never logged
  // JDBC registry (--registry=jdbc:postgresql://... or jdbc:mysql://...): the database password
  // file (mode 0600, or cred:NAME), the change-event poll and the full re-read intervals.
  std::string jdbc_registry_password_file;
  int64_t jdbc_registry_poll_interval_ms =
      internal::Ms(internal::RegistryDefaults().jdbc_poll_interval);
  int64_t jdbc_registry_full_read_interval_ms =
      internal::Ms(internal::RegistryDefaults().jdbc_full_read_interval);
  // Shadow mode: a second registry read alongside --registry, compared with it (same URI forms,
  // same credentials flags); empty: none.
  std::string shadow_registry;
  // How often the two views are compared, and how long a difference must last to count (the
  // registries see one write at different moments).
  int64_t shadow_compare_interval_ms = 1000;
  int64_t shadow_grace_ms = 5000;
  // rosterd exits (non-zero, for its supervisor to restart it) once it has been unable to read
  // the registry with its credentials for this long: ZooKeeper refused them (AUTH_FAILED), or
  // a layout root may not be listed (NOAUTH). 0: never exit (answers stay refused).
  int64_t exit_on_auth_failure_after_ms = internal::Ms(AuthFailureExitOptions().exit_after);

  // gRPC: "host:port" (port 0: pick a free one), "[::1]:port" or "unix:/path".
  std::string listen = "127.0.0.1:9090";
  // Where to write the bound gRPC port once serving; empty: nowhere.
  std::string port_file;

  // Registry layout, within the registry's chroot (DolphinScheduler's defaults).
  std::string masters_path = internal::ClusterDefaults().paths.masters;
  std::string workers_path = internal::ClusterDefaults().paths.workers;
  std::string alert_servers_path = internal::ClusterDefaults().paths.alert_servers;
  std::string coordinator_path = internal::ClusterDefaults().paths.coordinator;
  std::string drains_path = internal::ClusterDefaults().paths.drains;

  // Node liveness.
  int64_t heartbeat_interval_ms =
      internal::Ms(internal::ClusterDefaults().timing.heartbeat_interval);
  int32_t missed_heartbeats = internal::ClusterDefaults().timing.missed_heartbeats;
  int32_t probation_intervals = internal::ClusterDefaults().timing.probation_intervals;
  int64_t publish_window_ms = internal::Ms(internal::ClusterDefaults().publish_window);
  int64_t tombstone_retention_ms = internal::Ms(internal::ClusterDefaults().tombstone_retention);
  int64_t max_heartbeat_bytes =
      static_cast<int64_t>(internal::ClusterDefaults().heartbeat_limits.max_payload_bytes);
  int64_t max_clock_skew_ms =
      internal::Ms(internal::ClusterDefaults().heartbeat_limits.max_clock_skew);
  double overload_cpu_usage = internal::ClusterDefaults().overload_cpu_usage;  // 0 disables
  double overload_memory_usage = internal::ClusterDefaults().overload_memory_usage;
  std::string worker_group_file;
  int64_t worker_group_file_poll_interval_ms =
      internal::Ms(internal::ClusterDefaults().group_file_poll_interval);

  // DolphinScheduler (docs/dolphinscheduler.md): the release to answer as ("auto" detects it
  // from the registry), and an optional slot policy overriding the release's.
  std::string dolphinscheduler_version = "auto";
  std::string slot_policy;  // empty: the release's
  // Worker groups from DolphinScheduler's database (3.1.1 and later keep them only there):
  // postgresql://user@host:port/db or mysql://user@host:port/db; empty: not read.
  std::string worker_group_db_uri;
  std::string worker_group_db_password_file;  // mode 0600 unless allowed below
  bool worker_group_db_allow_shared_password_file = false;
  int64_t worker_group_db_poll_interval_ms = 10000;  // DolphinScheduler's own refresh
  int64_t worker_group_db_connect_timeout_ms = 5000;
  int64_t worker_group_db_query_timeout_ms = 5000;

  // Consistency.
  int64_t resync_interval_ms = internal::Ms(internal::ClusterDefaults().resync_interval);
  int64_t staleness_bound_ms = 0;  // 0: 2/3 of zk_session_timeout_ms
  // Self-preservation (docs/consistency.md): a group, all workers or all masters losing more
  // than this share (0 disables) within the window is held in its last good state, for at
  // most the maximum hold; populations smaller than the minimum never trigger.
  double self_preservation_fraction = internal::ClusterDefaults().self_preservation.fraction;
  int64_t self_preservation_window_ms =
      internal::Ms(internal::ClusterDefaults().self_preservation.window);
  int32_t self_preservation_min_nodes = internal::ClusterDefaults().self_preservation.min_nodes;
  int64_t self_preservation_max_hold_ms =
      internal::Ms(internal::ClusterDefaults().self_preservation.max_hold);

  // Serving.
  std::string admin_token_file;                   // empty: RosterAdmin from loopback only
  std::string metrics_listen = "127.0.0.1:9091";  // empty: no metrics server
  int64_t max_request_bytes = 1048576;
  int32_t max_watch_streams = 1024;
  int32_t max_watch_streams_per_client = 128;  // per identity, or per IP address; 0: no limit
  // HTTP/2 streams (calls in flight, watch streams included) one connection may hold; a client
  // queues those beyond.
  int32_t max_concurrent_streams_per_connection = 1000;
  // Memory gRPC may use for connections and calls (grpc::ResourceQuota); beyond it, new
  // connections and calls are refused.
  int64_t grpc_memory_quota_bytes = int64_t{1} << 30;
  // Calls a second one client (identity, or IP address) may make, bursts of a second's worth;
  // beyond, RESOURCE_EXHAUSTED. 0: no limit.
  double max_requests_per_second_per_client = 0;
  int32_t watch_buffer_messages = 4096;
  int32_t watch_fanout_max_batches = 4096;
  int64_t shutdown_grace_ms = 5000;
  int64_t health_check_interval_ms = 100;  // how often health follows the session

  // Security (docs/security.md). TLS on the gRPC listener: the server's certificate chain and
  // private key (PEM; the key mode 0600 or `cred:NAME`), re-read when they change. A client CA
  // bundle makes it mTLS: every client must present a certificate it signed.
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_client_ca_file;
  int64_t tls_refresh_interval_s = 30;
  // Plaintext gRPC is refused on a non-loopback --listen unless this says so.
  bool allow_plaintext_listen = false;
  // Who may call what (server/authz.h): identities (certificate names, hashed bearer tokens)
  // and their scopes, re-read when the file changes.
  std::string access_file;
  int64_t access_file_poll_interval_ms = 2000;
  // Callers without an identity may read (Roster lookups, WatchCluster).
  bool allow_unauthenticated_read = true;
  // Compatibility: callers on loopback without an identity may also register and drain, as
  // before roster had scopes. Off: writes always need an identity with the scope.
  bool allow_loopback_writes = false;
  // Sidecar registrations held at once: in all, and per caller identity.
  int32_t max_registrations = 10000;
  int32_t max_registrations_per_identity = 1000;

  // InvalidArgument naming the flag and the bad value ("--missed_heartbeats=0: must be in
  // [1, 100]"), for the first bad setting.
  absl::Status Validate() const;
  // The staleness bound in effect (resolving 0).
  int64_t effective_staleness_bound_ms() const {
    return staleness_bound_ms > 0 ? staleness_bound_ms : zk_session_timeout_ms * 2 / 3;
  }
};

}  // namespace roster::server
