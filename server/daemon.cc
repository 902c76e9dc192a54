#include "server/daemon.h"

#include <glog/logging.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cluster/ds_version.h"
#include "cluster/dsdb/ds_database_group_source.h"
#include "grpc/health/v1/health.pb.h"
#include "registry/registry_factory.h"
#include "server/rpc_latency_interceptor.h"
#include "server/tls.h"
#include "util/secret_file.h"
#include "util/status_macros.h"

namespace roster::server {
namespace {

std::string NewInstanceId() {
  absl::BitGen gen;
  return absl::StrFormat("%016x", absl::Uniform<uint64_t>(gen));
}

cluster::ClusterOptions ClusterOptionsFrom(const DaemonOptions& o) {
  cluster::ClusterOptions c;
  c.paths.masters = o.masters_path;
  c.paths.workers = o.workers_path;
  c.paths.alert_servers = o.alert_servers_path;
  c.paths.coordinator = o.coordinator_path;
  c.paths.drains = o.drains_path;
  c.watch_fanout_max_batches = static_cast<size_t>(o.watch_fanout_max_batches);
  c.timing.heartbeat_interval = absl::Milliseconds(o.heartbeat_interval_ms);
  c.timing.missed_heartbeats = o.missed_heartbeats;
  c.publish_window = absl::Milliseconds(o.publish_window_ms);
  c.timing.probation_intervals = o.probation_intervals;
  c.heartbeat_limits.max_payload_bytes = static_cast<size_t>(o.max_heartbeat_bytes);
  c.heartbeat_limits.max_clock_skew = absl::Milliseconds(o.max_clock_skew_ms);
  c.overload_cpu_usage = o.overload_cpu_usage;
  c.overload_memory_usage = o.overload_memory_usage;
  c.tombstone_retention = absl::Milliseconds(o.tombstone_retention_ms);
  c.worker_group_file = o.worker_group_file;
  c.group_file_poll_interval = absl::Milliseconds(o.worker_group_file_poll_interval_ms);
  // Validate() checked both.
  c.dolphinscheduler_version = cluster::ParseDsVersion(o.dolphinscheduler_version).value();
  if (!o.slot_policy.empty()) c.slot_policy = cluster::ParseSlotPolicy(o.slot_policy).value();
  c.resync_interval = absl::Milliseconds(o.resync_interval_ms);
  c.staleness_bound = absl::Milliseconds(o.effective_staleness_bound_ms());
  c.self_preservation.fraction = o.self_preservation_fraction;
  c.self_preservation.window = absl::Milliseconds(o.self_preservation_window_ms);
  c.self_preservation.min_nodes = o.self_preservation_min_nodes;
  c.self_preservation.max_hold = absl::Milliseconds(o.self_preservation_max_hold_ms);
  // Long enough for a tick and a slow round trip, short enough that a partition the ZooKeeper
  // client has not noticed yet never times a node out (see ClusterOptions::contact_grace).
  c.contact_grace = std::min(2 * c.tick_interval, c.timing.heartbeat_timeout() / 2);
  return c;
}

}  // namespace

Daemon::Daemon(DaemonOptions options) : options_(std::move(options)) {
  context_.metrics = &metrics_;
  context_.clock = Clock::Real();
}

Daemon::~Daemon() { Shutdown(); }

absl::Status Daemon::Start() {
  absl::Status status;
  {
    absl::MutexLock lock(&mu_);
    if (started_) return absl::FailedPreconditionError("the daemon was started already");
    started_ = true;
    if (shut_down_) return absl::FailedPreconditionError("the daemon was shut down");
    status = StartLocked();
  }
  if (!status.ok()) {
    LOG(ERROR) << "rosterd failed to start: " << status;
    Shutdown();  // stops whatever had started
  }
  return status;
}

absl::Status Daemon::StartAccessControl() {
  AuthorizerOptions authz;
  if (!options_.admin_token_file.empty()) {
    // Refused when others can read it; `cred:NAME` reads a systemd credential.
    ASSIGN_OR_RETURN(authz.admin_token,
                     ReadSecretLine("admin_token_file", options_.admin_token_file));
  }
  authz.access_file = options_.access_file;
  authz.allow_unauthenticated_read = options_.allow_unauthenticated_read;
  authz.allow_loopback_writes = options_.allow_loopback_writes;
  authz.poll_interval = absl::Milliseconds(options_.access_file_poll_interval_ms);
  authz.clock = context_.clock;
  authorizer_ = std::make_unique<Authorizer>(std::move(authz));
  RETURN_IF_ERROR(authorizer_->Start());
  context_.authorizer = authorizer_.get();
  if (options_.max_requests_per_second_per_client > 0) {
    rate_limiter_ =
        std::make_unique<RateLimiter>(options_.max_requests_per_second_per_client, context_.clock);
    context_.rate_limiter = rate_limiter_.get();
  }
  return absl::OkStatus();
}

absl::Status Daemon::StartLocked() {
  RETURN_IF_ERROR(options_.Validate());
  context_.instance_id = NewInstanceId();
  RETURN_IF_ERROR(StartAccessControl());

  ASSIGN_OR_RETURN(const registry::RegistryUri uri, registry::ParseRegistryUri(options_.registry));
  registry::RegistryOptions registry_options;
  registry_options.session_timeout = absl::Milliseconds(options_.zk_session_timeout_ms);
  registry_options.operation_timeout = absl::Milliseconds(options_.zk_operation_timeout_ms);
  registry_options.max_reconnect_watches = options_.zk_max_reconnect_watches;
  registry_options.digest_file = options_.zk_digest_file;
  registry_options.jdbc_password_file = options_.jdbc_registry_password_file;
  registry_options.jdbc_poll_interval = absl::Milliseconds(options_.jdbc_registry_poll_interval_ms);
  registry_options.jdbc_full_read_interval =
      absl::Milliseconds(options_.jdbc_registry_full_read_interval_ms);
  ASSIGN_OR_RETURN(registry_, registry::NewRegistry(options_.registry, registry_options));
  // Connecting goes on in the background: health says NOT_SERVING until the first full read.
  RETURN_IF_ERROR(registry_->Start());
  if (registry_started_hook_) registry_started_hook_(registry_.get());

  cluster::ClusterOptions cluster_options = ClusterOptionsFrom(options_);
  cluster_options.clock = context_.clock;
  cluster_ = std::make_unique<cluster::ClusterManager>(registry_.get(), cluster_options);
  context_.cluster = cluster_.get();
  if (!options_.worker_group_db_uri.empty()) {
    cluster::dsdb::DsDatabaseGroupSourceOptions db;
    db.uri = options_.worker_group_db_uri;
    db.password_file = options_.worker_group_db_password_file;
    db.allow_shared_password_file = options_.worker_group_db_allow_shared_password_file;
    db.poll_interval = absl::Milliseconds(options_.worker_group_db_poll_interval_ms);
    db.connect_timeout = absl::Milliseconds(options_.worker_group_db_connect_timeout_ms);
    db.query_timeout = absl::Milliseconds(options_.worker_group_db_query_timeout_ms);
    db.clock = context_.clock;
    ASSIGN_OR_RETURN(std::unique_ptr<cluster::dsdb::DsDatabaseGroupSource> source,
                     cluster::dsdb::DsDatabaseGroupSource::Create(std::move(db)));
    cluster_->AddGroupSource(std::move(source));
  }
  RETURN_IF_ERROR(cluster_->Start());
  if (!options_.shadow_registry.empty()) {
    ShadowMonitorOptions shadow;
    shadow.uri = options_.shadow_registry;
    shadow.registry = registry_options;
    shadow.cluster = cluster_options;
    shadow.compare_interval = absl::Milliseconds(options_.shadow_compare_interval_ms);
    shadow.grace = absl::Milliseconds(options_.shadow_grace_ms);
    shadow.clock = context_.clock;
    ASSIGN_OR_RETURN(shadow_, ShadowMonitor::Create(std::move(shadow), cluster_.get()));
    RETURN_IF_ERROR(shadow_->Start());
    context_.shadow = shadow_.get();
  }

  RosterServiceOptions roster_options;
  roster_options.watch_buffer_messages = static_cast<size_t>(options_.watch_buffer_messages);
  roster_options.max_watch_streams = options_.max_watch_streams;
  roster_options.max_watch_streams_per_client = options_.max_watch_streams_per_client;
  roster_service_ = std::make_unique<RosterService>(&context_, roster_options);
  RegistrationOptions registration_options;
  registration_options.paths = cluster_options.paths;
  registration_options.heartbeat_limits = cluster_options.heartbeat_limits;
  registration_options.max_registrations = options_.max_registrations;
  registration_options.max_registrations_per_identity = options_.max_registrations_per_identity;
  registration_service_ =
      std::make_unique<RegistrationService>(&context_, registry_.get(), registration_options);
  registration_service_->Start();
  admin_service_ = std::make_unique<AdminService>(&context_);

  RETURN_IF_ERROR(StartServer());
  health_ = std::make_unique<HealthReporter>(cluster_.get(), server_->GetHealthCheckService(),
                                             absl::Milliseconds(options_.health_check_interval_ms));
  health_->Start();
  AuthFailureExitOptions exit_options;
  exit_options.exit_after = absl::Milliseconds(options_.exit_on_auth_failure_after_ms);
  exit_options.interval = absl::Milliseconds(options_.health_check_interval_ms);
  exit_options.clock = context_.clock;
  auth_failure_exit_ =
      std::make_unique<AuthFailureExit>(cluster_.get(), exit_options, [this](absl::Status status) {
        if (exit_handler_) exit_handler_(std::move(status));
      });
  auth_failure_exit_->Start();

  if (!options_.metrics_listen.empty()) {
    HttpServerOptions http_options;
    http_options.listen = options_.metrics_listen;
    http_ = std::make_unique<HttpServer>(http_options);
    http_->Handle("/metrics", [this](const HttpRequest&) {
      HttpResponse response;
      response.content_type = "text/plain; version=0.0.4; charset=utf-8";
      response.body = MetricsText();
      return response;
    });
    http_->Handle("/healthz", [this](const HttpRequest&) {
      return HealthzResponse({serving(), health_ != nullptr ? health_->reason() : ""});
    });
    status_page_ = std::make_unique<StatusPage>(&context_, StatusPageOptions());
    status_page_->Register(http_.get());  // "/", "/api/...", "/readyz"
    RETURN_IF_ERROR(http_->Start());
  }
  RETURN_IF_ERROR(WritePortFile());
  LOG(INFO) << "rosterd serving gRPC on " << address()
            << (options_.tls_cert_file.empty()        ? " in plaintext"
                : options_.tls_client_ca_file.empty() ? " over TLS"
                                                      : " over mTLS")
            << " (instance " << context_.instance_id << "), registry " << uri.ToString()
            << (http_ != nullptr ? absl::StrCat(", status page and metrics on http://",
                                                options_.metrics_listen.substr(
                                                    0, options_.metrics_listen.rfind(':')),
                                                ":", http_->port(), "/")
                                 : std::string(", HTTP (metrics, status page) disabled"));
  return absl::OkStatus();
}

absl::Status Daemon::StartServer() {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  // Keeps our compiled grpc/health/v1/health.proto linked in, so reflection can describe the
  // built-in health service (docs/building.md, "gRPC reflection and health").
  (void)grpc::health::v1::HealthCheckRequest::descriptor();

  ServerTlsOptions tls;
  tls.cert_file = options_.tls_cert_file;
  tls.key_file = options_.tls_key_file;
  tls.client_ca_file = options_.tls_client_ca_file;
  tls.refresh_interval = absl::Seconds(options_.tls_refresh_interval_s);
  RETURN_IF_ERROR(ValidateServerTls(&tls));
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options_.listen, MakeServerCredentials(tls), &port_);
  builder.RegisterService(roster_service_.get());
  builder.RegisterService(registration_service_.get());
  builder.RegisterService(admin_service_.get());
  builder.SetMaxReceiveMessageSize(static_cast<int>(options_.max_request_bytes));
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(NewRpcLatencyInterceptorFactory(&metrics_));
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  // Limits a client cannot exceed however it behaves: calls in flight per connection, and
  // the memory gRPC may spend on all of them (docs/security.md, "Limits").
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS,
                             options_.max_concurrent_streams_per_connection);
  grpc::ResourceQuota quota("rosterd");
  quota.Resize(static_cast<size_t>(options_.grpc_memory_quota_bytes));
  builder.SetResourceQuota(quota);
  // Keepalive: find dead peers of long watch streams within ~80 s, and let clients ping every
  // 10 s without being told to calm down.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 60000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10000);
  // A connection whose HTTP/2 (or TLS) handshake has not finished within 10 s is closed; gRPC's
  // default is 120 s. Clients that give up on slow handshakes and retry on new connections
  // would otherwise leave a socket each behind for two minutes, and a reconnect storm could
  // exhaust rosterd's descriptors (docs/architecture.md, "Watch streams, restarts and many
  // clients").
  builder.AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS, 10000);
  // Two daemons must not share a port silently (gRPC sets SO_REUSEPORT by default).
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || (port_ == 0 && !absl::StartsWith(options_.listen, "unix:"))) {
    server_.reset();
    return absl::UnavailableError(absl::StrCat("cannot listen on '", options_.listen,
                                               "' (--listen): the address is malformed, in use, "
                                               "or not local (see the log above)"));
  }
  return absl::OkStatus();
}

absl::Status Daemon::WritePortFile() const {
  if (options_.port_file.empty()) return absl::OkStatus();
  const std::string temporary = options_.port_file + ".tmp";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << port_ << "\n";
    out.close();
    if (!out) {
      return absl::UnavailableError(absl::StrCat("cannot write --port_file=", options_.port_file,
                                                 ": ", std::strerror(errno)));
    }
  }
  // Renamed into place, so a reader never sees a half-written port.
  if (std::rename(temporary.c_str(), options_.port_file.c_str()) != 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot write --port_file=", options_.port_file, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

void Daemon::Shutdown() {
  absl::MutexLock lock(&mu_);
  if (shut_down_) return;
  shut_down_ = true;
  if (!started_) return;
  LOG(INFO) << "rosterd shutting down (grace " << options_.shutdown_grace_ms << " ms)";
  // 1. Tell load balancers and clients first.
  if (auth_failure_exit_ != nullptr) auth_failure_exit_->Shutdown();
  if (health_ != nullptr) health_->Shutdown();
  // 2. End the long-lived streams, then stop accepting and drain the calls in flight;
  //    whatever is left at the deadline is cancelled.
  if (roster_service_ != nullptr) roster_service_->EndWatches();
  if (server_ != nullptr) {
    server_->Shutdown(std::chrono::system_clock::now() +
                      std::chrono::milliseconds(options_.shutdown_grace_ms));
    server_->Wait();
  }
  // 3. The rest, each after what depends on it.
  if (http_ != nullptr) http_->Shutdown();
  if (registration_service_ != nullptr) registration_service_->Shutdown();
  if (authorizer_ != nullptr) authorizer_->Shutdown();
  if (shadow_ != nullptr) shadow_->Shutdown();  // reads cluster_: stopped first
  if (cluster_ != nullptr) cluster_->Shutdown();
  if (registry_ != nullptr) registry_->Shutdown();  // closes the session: our ephemerals go
  LOG(INFO) << "rosterd stopped";
}

std::string Daemon::address() const {
  if (absl::StartsWith(options_.listen, "unix:")) return options_.listen;
  return absl::StrCat(options_.listen.substr(0, options_.listen.rfind(':')), ":", port_);
}

int Daemon::metrics_port() const { return http_ != nullptr ? http_->port() : 0; }

bool Daemon::serving() const { return health_ != nullptr && health_->serving(); }

std::string Daemon::MetricsText() const {
  PrometheusWriter writer;
  writer.Family("roster_info", "gauge", "This daemon run.");
  writer.Sample("roster_info", {{"instance_id", context_.instance_id}}, 1);
  writer.Family("roster_serving", "gauge", "1 while health reports SERVING.");
  writer.Sample("roster_serving", serving() ? 1 : 0);
  if (cluster_ != nullptr) cluster_->WriteMetrics(&writer);
  if (shadow_ != nullptr) shadow_->WriteMetrics(&writer);
  metrics_.Write(&writer);
  return writer.text();
}

void BlockTerminationSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
}

uint64_t RaiseOpenFileLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  if (limit.rlim_cur < limit.rlim_max) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  }
  return limit.rlim_cur;
}

namespace {
struct ExitRequest {
  absl::Mutex mu;
  absl::Status status ABSL_GUARDED_BY(mu);
};
}  // namespace

absl::Status RunDaemon(const DaemonOptions& options) {
  // Normally done by main() already; harmless again. Only threads started after this inherit
  // the mask, which is why main() does it before anything else.
  BlockTerminationSignals();
  Daemon daemon(options);
  // The exit request wakes the sigwait() below like a SIGTERM does; the status says which.
  auto exit_request = std::make_shared<ExitRequest>();
  daemon.SetExitHandler([exit_request](absl::Status status) {
    {
      absl::MutexLock lock(&exit_request->mu);
      exit_request->status = std::move(status);
    }
    kill(getpid(), SIGTERM);
  });
  RETURN_IF_ERROR(daemon.Start());
  std::cout << "rosterd listening on " << daemon.address() << std::endl;
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  int signal_number = 0;
  while (sigwait(&signals, &signal_number) != 0) {
  }
  absl::Status exit_status;
  {
    absl::MutexLock lock(&exit_request->mu);
    exit_status = exit_request->status;
  }
  if (exit_status.ok()) LOG(INFO) << "received " << strsignal(signal_number);
  daemon.Shutdown();
  return exit_status;
}

}  // namespace roster::server
