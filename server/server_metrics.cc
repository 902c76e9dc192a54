#include "server/server_metrics.h"

#include <utility>
#include <vector>

namespace roster::server {

absl::string_view GrpcCodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::CANCELLED:
      return "CANCELLED";
    case grpc::StatusCode::UNKNOWN:
      return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED:
      return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE:
      return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL:
      return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS:
      return "DATA_LOSS";
    default:
      return "UNKNOWN";
  }
}

void ServerMetrics::CountRpc(absl::string_view method, grpc::StatusCode code) {
  absl::MutexLock lock(&mu_);
  ++rpcs_[{std::string(method), code}];
}

int64_t ServerMetrics::rpcs(absl::string_view method, grpc::StatusCode code) const {
  absl::MutexLock lock(&mu_);
  auto it = rpcs_.find({std::string(method), code});
  return it == rpcs_.end() ? 0 : it->second;
}

void ServerMetrics::ObserveRpcLatency(absl::string_view method, grpc::StatusCode code,
                                      double seconds) {
  Histogram* histogram;
  {
    absl::MutexLock lock(&mu_);
    std::string name(method);
    if (timed_methods_.count(name) == 0) {
      if (timed_methods_.size() < kMaxTimedMethods) {
        timed_methods_.insert(name);
      } else {
        name = "other";
      }
    }
    std::unique_ptr<Histogram>& slot = latencies_[{std::move(name), code}];
    if (slot == nullptr) slot = std::make_unique<Histogram>(LatencyBucketsSeconds());
    histogram = slot.get();
  }
  histogram->Observe(seconds);
}

Histogram::Snapshot ServerMetrics::rpc_latency(absl::string_view method,
                                               grpc::StatusCode code) const {
  absl::MutexLock lock(&mu_);
  auto it = latencies_.find({std::string(method), code});
  return it == latencies_.end() ? Histogram::Snapshot{} : it->second->Read();
}

void ServerMetrics::NoteWatchQueueLength(int64_t length) {
  int64_t seen = watch_queue_high_water_.load();
  while (seen < length && !watch_queue_high_water_.compare_exchange_weak(seen, length)) {
  }
}

void ServerMetrics::Write(PrometheusWriter* w) const {
  std::map<std::pair<std::string, grpc::StatusCode>, int64_t> rpcs;
  std::vector<std::pair<std::pair<std::string, grpc::StatusCode>, Histogram::Snapshot>> latencies;
  {
    absl::MutexLock lock(&mu_);
    rpcs = rpcs_;
    for (const auto& [key, histogram] : latencies_) latencies.emplace_back(key, histogram->Read());
  }
  w->Family("roster_rpcs_total", "counter", "gRPC calls finished, by method and status code.");
  for (const auto& [key, count] : rpcs) {
    w->Sample("roster_rpcs_total",
              {{"method", key.first}, {"code", std::string(GrpcCodeName(key.second))}},
              static_cast<double>(count));
  }
  w->Family("roster_rpc_duration_seconds", "histogram",
            "Unary gRPC calls from arrival to status, by method and status code.");
  for (const auto& [key, snapshot] : latencies) {
    w->HistogramSamples("roster_rpc_duration_seconds",
                        {{"method", key.first}, {"code", std::string(GrpcCodeName(key.second))}},
                        snapshot);
  }
  w->Family("roster_watch_streams_open", "gauge", "WatchCluster streams open.");
  w->Sample("roster_watch_streams_open", static_cast<double>(watch_streams_open_.value()));
  w->Family("roster_watch_streams_refused_total", "counter",
            "WatchCluster streams refused because --max_watch_streams were open.");
  w->Sample("roster_watch_streams_refused_total",
            static_cast<double>(watch_streams_refused_.value()));
  w->Family("roster_watch_resyncs_total", "counter",
            "WatchCluster streams ended with resync_required because the reader fell behind.");
  w->Sample("roster_watch_resyncs_total", static_cast<double>(watch_resyncs_.value()));
  w->Family("roster_watch_queue_high_water", "gauge",
            "The most messages any watch stream had queued (bounded by --watch_buffer_messages).");
  w->Sample("roster_watch_queue_high_water", static_cast<double>(watch_queue_high_water_.load()));
  w->Family("roster_registrations", "gauge", "Sidecar registrations held by this daemon.");
  w->Sample("roster_registrations", static_cast<double>(registrations_.value()));
  w->Family("roster_registration_lease_expiries_total", "counter",
            "Sidecar registrations deleted because no heartbeat came within the lease.");
  w->Sample("roster_registration_lease_expiries_total",
            static_cast<double>(lease_expiries_.value()));
  w->Family("roster_rate_limited_calls_total", "counter",
            "Calls refused because their client was over --max_requests_per_second_per_client.");
  w->Sample("roster_rate_limited_calls_total", static_cast<double>(rate_limited_.value()));
}

}  // namespace roster::server
