// What every service shares: the cluster it answers from, the daemon's identity and clock,
// and its metrics; plus the one way a unary RPC ends (counted, then finished).
//
// Thread-safety: ServiceContext is immutable after construction (the pointees are
// thread-safe); the functions are thread-safe.
#pragma once

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "cluster/cluster_manager.h"
#include "roster/v1/roster.pb.h"
#include "server/authz.h"
#include "server/rate_limiter.h"
#include "server/server_metrics.h"
#include "util/clock.h"

namespace roster::server {

class ShadowMonitor;  // server/shadow_monitor.h

struct ServiceContext {
  cluster::ClusterManager* cluster = nullptr;  // not owned
  ServerMetrics* metrics = nullptr;            // not owned
  std::string instance_id;                     // this daemon run, random at start-up
  Clock* clock = Clock::Real();                // the cluster's clock; not owned
  const Authorizer* authorizer = nullptr;      // not owned; null: every call is allowed
  RateLimiter* rate_limiter = nullptr;         // not owned; null: no rate limit
  ShadowMonitor* shadow = nullptr;             // not owned; null: no --shadow_registry
};

// What limits per client count under: the caller's identity, or its IP address when it has
// none ("ipv4:10.0.0.5:41234" -> "ipv4:10.0.0.5"; every Unix-socket caller is "unix").
std::string ClientKey(const Caller& caller, absl::string_view peer);

// The caller of `call`, if it may use `scope`; else the status to finish the call with (the
// refusal is logged, throttled, with the peer and the identity, never a token). Reads open to
// everyone (allow_unauthenticated_read) are allowed without looking at the credentials. A
// client over its rate (context.rate_limiter) gets RESOURCE_EXHAUSTED.
absl::StatusOr<Caller> AuthorizeCall(const ServiceContext& context,
                                     const grpc::ServerContextBase& call, Scope scope,
                                     absl::string_view method);

// ViewMeta for an answer computed from `snapshot`: its version and its freshness.
void FillMeta(const ServiceContext& context, const cluster::ViewSnapshot& snapshot,
              v1::ViewMeta* meta);
// ViewMeta for what is not an answer from one view (a watch message of `version`, the outcome
// of an operator call): that version, with the freshness as of now.
void FillMeta(const ServiceContext& context, uint64_t version, v1::ViewMeta* meta);

// The audit log: one line per registration, deregistration, lease expiry, drain and undrain,
// to the INFO log with the fixed prefix "AUDIT " (glog adds the time):
//   AUDIT drain node='10.0.0.5:1234' by='cert:ops-console' from='ipv4:10.1.2.3:50412'
//   result=OK reason='kernel upgrade'
// `detail` is client text (escaped here); never a token or a lease id.
void Audit(absl::string_view action, absl::string_view node, const Caller& caller,
           absl::string_view peer, const absl::Status& result, absl::string_view detail = "");

// Counts the call under `method` ("Roster/GetNode") and finishes it.
void FinishRpc(const ServiceContext& context, grpc::ServerUnaryReactor* reactor,
               absl::string_view method, const grpc::Status& status);

}  // namespace roster::server
