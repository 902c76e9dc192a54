#include "server/flags.h"

#include <fnmatch.h>
#include <gflags/gflags.h>

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "server/daemon_options.h"

namespace {
// Every flag's default is the options struct's: one default per setting.
const roster::server::DaemonOptions kDefaults;
}  // namespace

// Registry.
DEFINE_string(registry, kDefaults.registry.c_str(),
              "The registry: zk://host:port[,host:port...][/chroot] for ZooKeeper (e.g. "
              "zk://127.0.0.1:2181/dolphinscheduler), etcd://host:port[,host:port...]/prefix "
              "for etcd, jdbc:postgresql://user@host[:port]/db or jdbc:mysql://... for "
              "DolphinScheduler 3.3's JDBC registry (read-only; password in "
              "--jdbc_registry_password_file), or memory://[name] for the embedded in-memory "
              "registry. Never put credentials here: see --zk_digest_file.");
DEFINE_int64(zk_session_timeout_ms, kDefaults.zk_session_timeout_ms,
             "ZooKeeper session timeout requested, in milliseconds (the server bounds it).");
DEFINE_int64(zk_operation_timeout_ms, kDefaults.zk_operation_timeout_ms,
             "A registry operation not answered within this many milliseconds fails.");
DEFINE_int32(zk_max_reconnect_watches, kDefaults.zk_max_reconnect_watches,
             "ZooKeeper watches above which a lost connection drops them locally, and the re-read "
             "after the reconnect arms them again (the C client re-registers every watch in one "
             "request, which the server refuses past jute.maxbuffer, 1 MiB: ~14-22k "
             "DolphinScheduler nodes). 0: always drop; -1: never.");
DEFINE_string(zk_digest_file, kDefaults.zk_digest_file.c_str(),
              "A file whose first line is the ZooKeeper digest credentials 'user:password' "
              "(DolphinScheduler's registry.zookeeper.digest). Never logged.");
DEFINE_string(jdbc_registry_password_file, kDefaults.jdbc_registry_password_file.c_str(),
              "With --registry=jdbc:postgresql://user@host:port/db or jdbc:mysql://...: a file "
              "whose first line is the database password (mode 0600, or cred:NAME). Never "
              "logged; never in the URI.");
DEFINE_int64(jdbc_registry_poll_interval_ms, kDefaults.jdbc_registry_poll_interval_ms,
             "JDBC registry: how often DolphinScheduler's t_ds_jdbc_registry_data_change_event "
             "is polled for new events, in milliseconds.");
DEFINE_int64(jdbc_registry_full_read_interval_ms, kDefaults.jdbc_registry_full_read_interval_ms,
             "JDBC registry: how often all of t_ds_jdbc_registry_data is re-read, in "
             "milliseconds: DolphinScheduler removes a dead server's rows without a change "
             "event, so this bounds how late such a removal is seen.");
DEFINE_string(shadow_registry, kDefaults.shadow_registry.c_str(),
              "Shadow mode, for registry migrations: a second registry URI (any --registry "
              "form) read alongside --registry. Every difference between the two (a node in "
              "one only, different heartbeat content, a different state) is logged, counted in "
              "roster_shadow_divergences, and listed by `rosterctl diff`. Answers still come "
              "from --registry alone.");
DEFINE_int64(shadow_compare_interval_ms, kDefaults.shadow_compare_interval_ms,
             "Shadow mode: how often the two registries' views are compared, in milliseconds.");
DEFINE_int64(shadow_grace_ms, kDefaults.shadow_grace_ms,
             "Shadow mode: how long a difference must last to count as a divergence, in "
             "milliseconds (the registries see one write at different moments; a JDBC "
             "registry polls).");
DEFINE_int64(exit_on_auth_failure_after_ms, kDefaults.exit_on_auth_failure_after_ms,
             "rosterd exits with a non-zero status, for its supervisor to restart it, once it "
             "has been unable to read the registry with its credentials for this many "
             "milliseconds (ZooKeeper AUTH_FAILED, or NOAUTH on a layout root: see "
             "--zk_digest_file). Until then health is NOT_SERVING and selection, slot and "
             "leader answers are refused. 0: never exit.");

// Serving.
DEFINE_string(listen, kDefaults.listen.c_str(),
              "gRPC address: host:port, [::1]:port or unix:/path. Port 0 picks a free port "
              "(printed, and written to --port_file).");
DEFINE_string(port_file, kDefaults.port_file.c_str(),
              "If set, the bound gRPC port is written to this file once rosterd serves.");
DEFINE_string(metrics_listen, kDefaults.metrics_listen.c_str(),
              "HTTP address for GET /metrics (Prometheus) and GET /healthz; empty disables.");
DEFINE_string(admin_token_file, kDefaults.admin_token_file.c_str(),
              "A file holding the token RosterAdmin calls must send as 'authorization: Bearer "
              "<token>'. Without it, only loopback clients may call RosterAdmin.");
// Security (docs/security.md).
DEFINE_string(tls_cert_file, kDefaults.tls_cert_file.c_str(),
              "PEM certificate chain of the gRPC server (leaf first). With --tls_key_file: gRPC "
              "over TLS. Re-read when it changes (see --tls_refresh_interval_s).");
DEFINE_string(tls_key_file, kDefaults.tls_key_file.c_str(),
              "PEM private key of --tls_cert_file: mode 0600, or cred:NAME for a systemd "
              "credential. Never logged.");
DEFINE_string(tls_client_ca_file, kDefaults.tls_client_ca_file.c_str(),
              "PEM CA bundle for client certificates: set, every client must present a "
              "certificate it signed (mTLS); its name (CN or SAN) is the caller's identity in "
              "--access_file.");
DEFINE_int64(tls_refresh_interval_s, kDefaults.tls_refresh_interval_s,
             "How often the TLS files are checked for a change, in seconds (no restart needed).");
DEFINE_bool(allow_plaintext_listen, kDefaults.allow_plaintext_listen,
            "Serve plaintext gRPC on a --listen address other machines can reach. Without it "
            "rosterd refuses to start with a non-loopback --listen and no TLS.");
DEFINE_string(access_file, kDefaults.access_file.c_str(),
              "Who may call what: lines 'cert NAME SCOPES' (a client certificate's CN or SAN) "
              "and 'token NAME sha256:HEX SCOPES' (a bearer token's SHA-256), SCOPES being "
              "read,register,admin. Mode 0600 or cred:NAME; re-read when it changes.");
DEFINE_int64(access_file_poll_interval_ms, kDefaults.access_file_poll_interval_ms,
             "How often --access_file is checked for a change, in milliseconds.");
DEFINE_bool(allow_unauthenticated_read, kDefaults.allow_unauthenticated_read,
            "Callers without an identity may read (Roster lookups and WatchCluster). Off: "
            "reads need the read scope too.");
DEFINE_bool(allow_loopback_writes, kDefaults.allow_loopback_writes,
            "Compatibility with roster before scopes: callers on loopback without an identity "
            "may also register nodes and drain/undrain. Off by default: writes need an "
            "identity with the register or admin scope.");
DEFINE_int32(max_registrations, kDefaults.max_registrations,
             "Sidecar registrations (roster.v1.Registration) held at once; more are refused "
             "with RESOURCE_EXHAUSTED.");
DEFINE_int32(max_registrations_per_identity, kDefaults.max_registrations_per_identity,
             "Sidecar registrations one caller identity may hold at once.");
DEFINE_int64(max_request_bytes, kDefaults.max_request_bytes,
             "Largest request message accepted, in bytes (larger: RESOURCE_EXHAUSTED).");
DEFINE_int32(max_watch_streams, kDefaults.max_watch_streams,
             "Concurrent WatchCluster streams; more are refused with RESOURCE_EXHAUSTED.");
DEFINE_int32(max_watch_streams_per_client, kDefaults.max_watch_streams_per_client,
             "WatchCluster streams one client may hold (counted per identity, or per IP address "
             "for callers without one); more are refused with RESOURCE_EXHAUSTED. 0: no limit.");
DEFINE_int32(max_concurrent_streams_per_connection, kDefaults.max_concurrent_streams_per_connection,
             "Calls in flight (watch streams included) one client connection may hold; the "
             "client queues those beyond (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS).");
DEFINE_int64(grpc_memory_quota_bytes, kDefaults.grpc_memory_quota_bytes,
             "Memory gRPC may use for connections and calls, in bytes (a grpc::ResourceQuota); "
             "beyond it, new connections and calls are refused.");
DEFINE_double(max_requests_per_second_per_client, kDefaults.max_requests_per_second_per_client,
              "Calls a second one client may make (counted per identity, or per IP address "
              "for callers without one), in bursts of one second's worth; beyond, "
              "RESOURCE_EXHAUSTED. 0: no limit.");
DEFINE_int32(watch_buffer_messages, kDefaults.watch_buffer_messages,
             "Messages queued per watch stream for a slow reader before it is told to resync.");
DEFINE_int32(watch_fanout_max_batches, kDefaults.watch_fanout_max_batches,
             "Change batches that may wait for the watch fan-out thread; beyond, every watch "
             "stream is told to resync.");
DEFINE_int64(shutdown_grace_ms, kDefaults.shutdown_grace_ms,
             "On SIGTERM, in-flight calls get this many milliseconds to finish.");
DEFINE_int64(health_check_interval_ms, kDefaults.health_check_interval_ms,
             "How often, in milliseconds, the health status is re-evaluated.");

// Registry layout.
DEFINE_string(masters_path, kDefaults.masters_path.c_str(),
              "Masters' ephemeral znodes, within the chroot.");
DEFINE_string(workers_path, kDefaults.workers_path.c_str(),
              "Workers' ephemeral znodes, within the chroot.");
DEFINE_string(alert_servers_path, kDefaults.alert_servers_path.c_str(),
              "Alert servers' ephemeral znodes, within the chroot.");
DEFINE_string(coordinator_path, kDefaults.coordinator_path.c_str(),
              "The leader's coordinator znode, within the chroot.");
DEFINE_string(drains_path, kDefaults.drains_path.c_str(),
              "roster's drain records, within the chroot.");

// Liveness.
DEFINE_int64(heartbeat_interval_ms, kDefaults.heartbeat_interval_ms,
             "How often nodes write their heartbeat, in milliseconds (DolphinScheduler: 10 s).");
DEFINE_int32(missed_heartbeats, kDefaults.missed_heartbeats,
             "A node is FAULT after this many heartbeat intervals without a znode data change.");
DEFINE_int32(probation_intervals, kDefaults.probation_intervals,
             "A RECOVERING node becomes RUNNING after this many heartbeat intervals.");
DEFINE_int64(publish_window_ms, kDefaults.publish_window_ms,
             "Heartbeats that change only load figures are published at most once per this many "
             "milliseconds (state changes at once); 0: every change at once.");
DEFINE_int64(tombstone_retention_ms, kDefaults.tombstone_retention_ms,
             "How long OFFLINE nodes stay visible after their znode is gone, in milliseconds.");
DEFINE_int64(max_heartbeat_bytes, kDefaults.max_heartbeat_bytes,
             "Larger heartbeat payloads are rejected, in bytes.");
DEFINE_int64(max_clock_skew_ms, kDefaults.max_clock_skew_ms,
             "Heartbeat times further ahead of the registry server's clock when the znode was "
             "written (its mtime) are rejected, in ms; never compared with rosterd's own clock.");
DEFINE_double(overload_cpu_usage, kDefaults.overload_cpu_usage,
              "A heartbeat over this CPU usage (a fraction, 0..1) counts as OVERLOAD; 0 "
              "disables.");
DEFINE_double(overload_memory_usage, kDefaults.overload_memory_usage,
              "A heartbeat over this memory usage (a fraction, 0..1) counts as OVERLOAD; 0 "
              "disables.");
DEFINE_string(worker_group_file, kDefaults.worker_group_file.c_str(),
              "Optional static worker-group mapping file (group -> worker addresses).");

DEFINE_int64(worker_group_file_poll_interval_ms, kDefaults.worker_group_file_poll_interval_ms,
             "How often --worker_group_file is checked for a change, in milliseconds.");

// DolphinScheduler.
DEFINE_string(dolphinscheduler_version, kDefaults.dolphinscheduler_version.c_str(),
              "The DolphinScheduler release to answer as: auto (detect it from the registry), "
              "2.0, 3.0, 3.1.0, 3.1, 3.2.0, 3.2.1, 3.2.2, 3.2 (= 3.2.2), 3.3, or a patch release "
              "such as 3.1.9. It decides the heartbeat format, where worker groups live, the "
              "slot rule, the selection strategies and the coordinator.");
DEFINE_string(slot_policy, kDefaults.slot_policy.c_str(),
              "Overrides the release's slot rule: stable (live masters by address, a busy "
              "master keeps its slot), dolphinscheduler-3.1, dolphinscheduler-3.2.0, "
              "dolphinscheduler-3.2.1, dolphinscheduler-3.2.2, dolphinscheduler-3.3. Empty: the "
              "release's.");
DEFINE_string(worker_group_db_uri, kDefaults.worker_group_db_uri.c_str(),
              "DolphinScheduler's database, for its worker groups (t_ds_worker_group): "
              "postgresql://user@host:port/db or mysql://user@host:port/db. No password here: "
              "see --worker_group_db_password_file.");
DEFINE_string(worker_group_db_password_file, kDefaults.worker_group_db_password_file.c_str(),
              "A file whose first line is the database password (mode 0600, or cred:NAME), read "
              "again at each connection. Never logged.");
DEFINE_bool(worker_group_db_allow_shared_password_file,
            kDefaults.worker_group_db_allow_shared_password_file,
            "Accept a password file that group or others can read (Kubernetes secrets are "
            "mounted 0644 by default).");
DEFINE_int64(worker_group_db_poll_interval_ms, kDefaults.worker_group_db_poll_interval_ms,
             "How often the worker groups are read from the database, in milliseconds "
             "(DolphinScheduler: 10 s).");
DEFINE_int64(worker_group_db_connect_timeout_ms, kDefaults.worker_group_db_connect_timeout_ms,
             "Bound on connecting to the database, in milliseconds.");
DEFINE_int64(worker_group_db_query_timeout_ms, kDefaults.worker_group_db_query_timeout_ms,
             "Bound on reading the worker groups, in milliseconds.");

// Consistency.
DEFINE_int64(resync_interval_ms, kDefaults.resync_interval_ms,
             "Period of the full re-read of the registry, in milliseconds (jittered).");
DEFINE_int64(staleness_bound_ms, kDefaults.staleness_bound_ms,
             "Slot and leader answers are refused once the view has been stale this long, in "
             "milliseconds; 0 means 2/3 of --zk_session_timeout_ms.");
DEFINE_double(self_preservation_fraction, kDefaults.self_preservation_fraction,
              "Self-preservation: when more than this share of a worker group, of all workers "
              "or of all masters goes FAULT or OFFLINE within --self_preservation_window_ms, "
              "rosterd suspects its own view: it keeps their last good state, flags answers "
              "stale and refuses slot and leader answers. 0 disables.");
DEFINE_int64(self_preservation_window_ms, kDefaults.self_preservation_window_ms,
             "Self-preservation: losses this close together, in milliseconds, count as one wave.");
DEFINE_int32(self_preservation_min_nodes, kDefaults.self_preservation_min_nodes,
             "Self-preservation: groups (and roles) with fewer nodes never trigger it.");
DEFINE_int64(self_preservation_max_hold_ms, kDefaults.self_preservation_max_hold_ms,
             "Self-preservation: a held node whose loss persists this long, in milliseconds, is "
             "accepted as lost (rosterd never refuses forever on a real outage).");

namespace roster::server {

absl::StatusOr<DaemonOptions> DaemonOptionsFromFlags() {
  DaemonOptions options;
  options.registry = FLAGS_registry;
  options.zk_session_timeout_ms = FLAGS_zk_session_timeout_ms;
  options.zk_operation_timeout_ms = FLAGS_zk_operation_timeout_ms;
  options.zk_max_reconnect_watches = FLAGS_zk_max_reconnect_watches;
  options.zk_digest_file = FLAGS_zk_digest_file;
  options.jdbc_registry_password_file = FLAGS_jdbc_registry_password_file;
  options.jdbc_registry_poll_interval_ms = FLAGS_jdbc_registry_poll_interval_ms;
  options.jdbc_registry_full_read_interval_ms = FLAGS_jdbc_registry_full_read_interval_ms;
  options.shadow_registry = FLAGS_shadow_registry;
  options.shadow_compare_interval_ms = FLAGS_shadow_compare_interval_ms;
  options.shadow_grace_ms = FLAGS_shadow_grace_ms;
  options.exit_on_auth_failure_after_ms = FLAGS_exit_on_auth_failure_after_ms;
  options.listen = FLAGS_listen;
  options.port_file = FLAGS_port_file;
  options.metrics_listen = FLAGS_metrics_listen;
  options.admin_token_file = FLAGS_admin_token_file;
  options.tls_cert_file = FLAGS_tls_cert_file;
  options.tls_key_file = FLAGS_tls_key_file;
  options.tls_client_ca_file = FLAGS_tls_client_ca_file;
  options.tls_refresh_interval_s = FLAGS_tls_refresh_interval_s;
  options.allow_plaintext_listen = FLAGS_allow_plaintext_listen;
  options.access_file = FLAGS_access_file;
  options.access_file_poll_interval_ms = FLAGS_access_file_poll_interval_ms;
  options.allow_unauthenticated_read = FLAGS_allow_unauthenticated_read;
  options.allow_loopback_writes = FLAGS_allow_loopback_writes;
  options.max_registrations = FLAGS_max_registrations;
  options.max_registrations_per_identity = FLAGS_max_registrations_per_identity;
  options.max_request_bytes = FLAGS_max_request_bytes;
  options.max_watch_streams = FLAGS_max_watch_streams;
  options.max_watch_streams_per_client = FLAGS_max_watch_streams_per_client;
  options.max_concurrent_streams_per_connection = FLAGS_max_concurrent_streams_per_connection;
  options.grpc_memory_quota_bytes = FLAGS_grpc_memory_quota_bytes;
  options.max_requests_per_second_per_client = FLAGS_max_requests_per_second_per_client;
  options.watch_buffer_messages = FLAGS_watch_buffer_messages;
  options.watch_fanout_max_batches = FLAGS_watch_fanout_max_batches;
  options.shutdown_grace_ms = FLAGS_shutdown_grace_ms;
  options.health_check_interval_ms = FLAGS_health_check_interval_ms;
  options.masters_path = FLAGS_masters_path;
  options.workers_path = FLAGS_workers_path;
  options.alert_servers_path = FLAGS_alert_servers_path;
  options.coordinator_path = FLAGS_coordinator_path;
  options.drains_path = FLAGS_drains_path;
  options.heartbeat_interval_ms = FLAGS_heartbeat_interval_ms;
  options.missed_heartbeats = FLAGS_missed_heartbeats;
  options.probation_intervals = FLAGS_probation_intervals;
  options.publish_window_ms = FLAGS_publish_window_ms;
  options.tombstone_retention_ms = FLAGS_tombstone_retention_ms;
  options.max_heartbeat_bytes = FLAGS_max_heartbeat_bytes;
  options.max_clock_skew_ms = FLAGS_max_clock_skew_ms;
  options.overload_cpu_usage = FLAGS_overload_cpu_usage;
  options.overload_memory_usage = FLAGS_overload_memory_usage;
  options.worker_group_file = FLAGS_worker_group_file;
  options.worker_group_file_poll_interval_ms = FLAGS_worker_group_file_poll_interval_ms;
  options.dolphinscheduler_version = FLAGS_dolphinscheduler_version;
  options.slot_policy = FLAGS_slot_policy;
  options.worker_group_db_uri = FLAGS_worker_group_db_uri;
  options.worker_group_db_password_file = FLAGS_worker_group_db_password_file;
  options.worker_group_db_allow_shared_password_file =
      FLAGS_worker_group_db_allow_shared_password_file;
  options.worker_group_db_poll_interval_ms = FLAGS_worker_group_db_poll_interval_ms;
  options.worker_group_db_connect_timeout_ms = FLAGS_worker_group_db_connect_timeout_ms;
  options.worker_group_db_query_timeout_ms = FLAGS_worker_group_db_query_timeout_ms;
  options.resync_interval_ms = FLAGS_resync_interval_ms;
  options.staleness_bound_ms = FLAGS_staleness_bound_ms;
  options.self_preservation_fraction = FLAGS_self_preservation_fraction;
  options.self_preservation_window_ms = FLAGS_self_preservation_window_ms;
  options.self_preservation_min_nodes = FLAGS_self_preservation_min_nodes;
  options.self_preservation_max_hold_ms = FLAGS_self_preservation_max_hold_ms;
  if (absl::Status status = options.Validate(); !status.ok()) return status;
  return options;
}

namespace {

// gflags follows nested --flagfile lines without a bound; so far, and no further.
constexpr int kMaxFlagfileDepth = 8;

struct FlagfileChecker {
  std::string program;       // args[0]
  std::string program_base;  // its base name
  std::vector<std::string> undefok;

  // A flagfile section applies to this program when one of its header's globs matches the
  // program's path or base name (gflags: fnmatch with FNM_PATHNAME on both).
  bool SectionApplies(absl::string_view header) const {
    for (absl::string_view glob : absl::StrSplit(header, ' ', absl::SkipEmpty())) {
      const std::string pattern(glob);
      if (fnmatch(pattern.c_str(), program.c_str(), FNM_PATHNAME) == 0 ||
          fnmatch(pattern.c_str(), program_base.c_str(), FNM_PATHNAME) == 0) {
        return true;
      }
    }
    return false;
  }

  // Checks one flag line, `line` without its leading dashes: "" when gflags applies it.
  std::string ProblemWith(absl::string_view line) const {
    const size_t equals = line.find('=');
    const std::string name(line.substr(0, equals));
    const bool has_value = equals != absl::string_view::npos;
    for (const std::string& allowed : undefok) {
      if (name == allowed) return "";
    }
    gflags::CommandLineFlagInfo info;
    if (gflags::GetCommandLineFlagInfo(name.c_str(), &info)) {
      if (has_value || info.type == "bool") return "";
      return absl::StrCat("--", name, " has no value (write --", name, "=VALUE)");
    }
    // --nofoo sets the boolean foo to false.
    if (absl::StartsWith(name, "no") && !has_value &&
        gflags::GetCommandLineFlagInfo(name.c_str() + 2, &info) && info.type == "bool") {
      return "";
    }
    return absl::StrCat("--", name, " is not a flag of ", program_base,
                        name == absl::StripTrailingAsciiWhitespace(name)
                            ? " (--helpfull lists them)"
                            : " (the name ends in white space)");
  }

  absl::Status CheckFile(const std::string& path, int depth) const {
    if (depth > kMaxFlagfileDepth) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": flagfiles nested more than ", kMaxFlagfileDepth, " deep"));
    }
    std::ifstream in(path);
    if (!in) return absl::InvalidArgumentError(absl::StrCat(path, ": cannot be read"));
    std::stringstream contents;
    contents << in.rdbuf();
    bool applies = true;
    bool in_header = false;
    int number = 0;
    for (absl::string_view line : absl::StrSplit(contents.str(), '\n')) {
      ++number;
      line = absl::StripLeadingAsciiWhitespace(line);
      if (absl::EndsWith(line, "\r")) line.remove_suffix(1);
      if (line.empty() || line[0] == '#') continue;
      if (line[0] != '-') {
        // A header line of program-name globs; consecutive header lines form one header.
        if (!in_header) applies = false;
        in_header = true;
        applies = applies || SectionApplies(line);
        continue;
      }
      in_header = false;
      if (!applies) continue;
      line.remove_prefix(absl::StartsWith(line, "--") ? 2 : 1);
      if (std::string problem = ProblemWith(line); !problem.empty()) {
        return absl::InvalidArgumentError(absl::StrCat(path, ":", number, ": ", problem));
      }
      if (absl::ConsumePrefix(&line, "flagfile=")) {
        for (absl::string_view nested : absl::StrSplit(line, ',', absl::SkipEmpty())) {
          if (absl::Status status = CheckFile(std::string(nested), depth + 1); !status.ok()) {
            return status;
          }
        }
      }
    }
    return absl::OkStatus();
  }
};

// The values of --flagfile on a command line: --flagfile=A,B or --flagfile A, with one or two
// dashes, up to a lone "--".
std::vector<std::string> FlagfilesOf(const std::vector<std::string>& args) {
  std::vector<std::string> files;
  for (size_t i = 1; i < args.size(); ++i) {
    absl::string_view arg = args[i];
    if (arg == "--") break;
    if (!absl::ConsumePrefix(&arg, "-")) continue;
    absl::ConsumePrefix(&arg, "-");
    absl::string_view value;
    if (absl::ConsumePrefix(&arg, "flagfile=")) {
      value = arg;
    } else if (arg == "flagfile" && i + 1 < args.size()) {
      value = args[++i];
    } else {
      continue;
    }
    for (absl::string_view file : absl::StrSplit(value, ',', absl::SkipEmpty())) {
      files.emplace_back(file);
    }
  }
  return files;
}

}  // namespace

absl::Status CheckFlagfiles(const std::vector<std::string>& args) {
  FlagfileChecker checker;
  checker.program = args.empty() ? "" : args[0];
  const size_t slash = checker.program.rfind('/');
  checker.program_base =
      slash == std::string::npos ? checker.program : checker.program.substr(slash + 1);
  std::string undefok;
  if (gflags::GetCommandLineOption("undefok", &undefok)) {
    checker.undefok = absl::StrSplit(undefok, ',', absl::SkipEmpty());
  }
  for (const std::string& file : FlagfilesOf(args)) {
    if (absl::Status status = checker.CheckFile(file, 0); !status.ok()) return status;
  }
  return absl::OkStatus();
}

}  // namespace roster::server
