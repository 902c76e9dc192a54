// ServerMetrics: what the gRPC layer counts, exported by the daemon's /metrics page next to
// ClusterManager's metrics: RPCs by method and code, unary RPC latency by method and code, open
// watch streams and how deep their queues got, watch streams told to resync, and sidecar
// registrations.
//
// Owned by the Daemon and shared by the services; tests read it to check behaviour that has
// no other outside view (e.g. that a watch queue never grew past its bound).
//
// Thread-safety: thread-safe.
#pragma once

#include <grpcpp/support/status.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "util/metrics.h"

namespace roster::server {

// "OK", "NOT_FOUND", ... as gRPC spells the codes.
absl::string_view GrpcCodeName(grpc::StatusCode code);

class ServerMetrics {
 public:
  // One finished RPC. `method` is "Service/Method", e.g. "Roster/GetNode".
  void CountRpc(absl::string_view method, grpc::StatusCode code);
  int64_t rpcs(absl::string_view method, grpc::StatusCode code) const;
  // One finished unary RPC took `seconds` (server/rpc_latency_interceptor.h). At most
  // kMaxTimedMethods method names are kept; later ones count as method "other", so a client
  // calling made-up methods cannot grow the page without bound.
  void ObserveRpcLatency(absl::string_view method, grpc::StatusCode code, double seconds);
  static constexpr size_t kMaxTimedMethods = 64;
  // The latency histogram of (method, code); an empty snapshot when none was observed.
  Histogram::Snapshot rpc_latency(absl::string_view method, grpc::StatusCode code) const;

  Gauge& watch_streams_open() { return watch_streams_open_; }
  Counter& watch_resyncs() { return watch_resyncs_; }
  Counter& watch_streams_refused() { return watch_streams_refused_; }
  Gauge& registrations() { return registrations_; }
  Counter& lease_expiries() { return lease_expiries_; }
  // Calls refused by the per-client rate limit (RESOURCE_EXHAUSTED).
  Counter& rate_limited() { return rate_limited_; }

  // A watch stream's queue reached `length` messages; keeps the maximum ever seen.
  void NoteWatchQueueLength(int64_t length);
  int64_t watch_queue_high_water() const { return watch_queue_high_water_.load(); }

  // Writes every metric above in Prometheus text format.
  void Write(PrometheusWriter* writer) const;

 private:
  mutable absl::Mutex mu_;
  std::map<std::pair<std::string, grpc::StatusCode>, int64_t> rpcs_ ABSL_GUARDED_BY(mu_);
  // Created under mu_, never removed: Observe() runs on the pointer after the lock.
  std::map<std::pair<std::string, grpc::StatusCode>, std::unique_ptr<Histogram>> latencies_
      ABSL_GUARDED_BY(mu_);
  std::set<std::string, std::less<>> timed_methods_ ABSL_GUARDED_BY(mu_);
  Gauge watch_streams_open_;
  Counter watch_resyncs_;
  Counter watch_streams_refused_;
  Gauge registrations_;
  Counter lease_expiries_;
  Counter rate_limited_;
  std::atomic<int64_t> watch_queue_high_water_{0};
};

}  // namespace roster::server
