// RegistrationService: roster.v1.Registration, the sidecar registration for processes that do
// not speak ZooKeeper. rosterd writes their ephemeral znode in DolphinScheduler's layout
// ({masters|workers|alert_servers}/{host}:{port}, current layout) and format (EncodeHeartbeat)
// under its own registry session, rewrites it on every heartbeat, and deletes it on
// deregistration or when no heartbeat arrives within the registration's lease (as ZooKeeper
// would when a session ends).
//
// Every registry call is asynchronous and the reactor is finished from its callback: no gRPC
// thread waits. Bookkeeping (address -> registration, lease timers) is confined to the
// service's own SerialExecutor (ABSL_GUARDED_BY(executor_)). A znode is "ours" when its ephemeral
// owner is the registry's current session: the registry re-creates its ephemerals after a session
// expiry (registry.h), so a registration survives an expiry unchanged; one whose znode was lost to
// another session meanwhile is dropped (the next heartbeat gets NOT_FOUND). Writes and deletes
// check the owner first, so rosterd never overwrites or deletes another process's znode.
//
// Ownership (docs/security.md): every call needs the register scope. RegisterNode returns a
// lease id, 32 random bytes as hex, of which only the SHA-256 is kept; Heartbeat and
// DeregisterNode must present it (compared in constant time), else PERMISSION_DENIED. An
// address held by another registration here, or by another ZooKeeper session, is refused with
// ALREADY_EXISTS. Registrations are capped in all and per identity. Every registration,
// deregistration and lease expiry is written to the audit log.
//
// Thread-safety: thread-safe. Handlers run on gRPC threads and post to the executor.
#pragma once

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "cluster/heartbeat_codec.h"
#include "cluster/layout.h"
#include "registry/registry.h"
#include "roster/v1/roster.grpc.pb.h"
#include "server/rpc_util.h"
#include "util/executor.h"

namespace roster::server {

struct RegistrationOptions {
  cluster::ClusterPaths paths;
  cluster::HeartbeatLimits heartbeat_limits;
  absl::Duration default_lease = absl::Seconds(30);
  absl::Duration min_lease = absl::Seconds(1);
  absl::Duration max_lease = absl::Minutes(10);
  // A lease-expiry delete that fails (e.g. the session is suspended) is retried this often.
  absl::Duration delete_retry_interval = absl::Seconds(1);
  int delete_retries = 60;
  // Registrations held at once (RESOURCE_EXHAUSTED beyond), in all and per caller identity.
  int max_registrations = 10000;
  int max_registrations_per_identity = 1000;
};

class RegistrationService final : public v1::Registration::CallbackService {
 public:
  // `context` and `registry` must outlive the service; the registry's callbacks must have
  // finished (Registry::Shutdown) before the service is destroyed.
  RegistrationService(const ServiceContext* context, registry::Registry* registry,
                      RegistrationOptions options);
  ~RegistrationService() override;  // Calls Shutdown().

  RegistrationService(const RegistrationService&) = delete;
  RegistrationService& operator=(const RegistrationService&) = delete;

  // Starts the executor (lease timers).
  void Start();
  // Stops the lease timers and joins the executor; later calls get UNAVAILABLE. The znodes
  // stay until the registry session closes (Registry::Shutdown deletes them). Call after the
  // gRPC server has shut down. Idempotent.
  void Shutdown();

  grpc::ServerUnaryReactor* RegisterNode(grpc::CallbackServerContext* call,
                                         const v1::RegisterNodeRequest* request,
                                         v1::RegisterNodeResponse* response) override;
  grpc::ServerUnaryReactor* Heartbeat(grpc::CallbackServerContext* call,
                                      const v1::HeartbeatRequest* request,
                                      v1::HeartbeatResponse* response) override;
  grpc::ServerUnaryReactor* DeregisterNode(grpc::CallbackServerContext* call,
                                           const v1::DeregisterNodeRequest* request,
                                           v1::DeregisterNodeResponse* response) override;

 private:
  enum class Phase { kCreating, kActive, kDeleting };
  struct Entry {
    uint64_t id = 0;  // tells a re-registration apart from the one a callback was for
    cluster::NodeRole role = cluster::NodeRole::kWorker;
    std::string path;
    absl::Duration lease;
    absl::Time deadline;  // on context->clock
    SerialExecutor::TimerId timer = 0;
    Phase phase = Phase::kCreating;
    Sha256 lease_hash{};  // of the lease id handed out; the id itself is not kept
    Caller owner;         // who registered it, for the caps and the audit log
    std::string peer;
  };
  // What a request brings: who sent it, from where, and the lease id it presents.
  struct Requester {
    Caller caller;
    std::string peer;
    std::string lease_id;
  };
  using Done = absl::AnyInvocable<void(absl::Status) &&>;

  // Executor side of the three RPCs.
  void DoRegister(grpc::ServerUnaryReactor* reactor, v1::RegisterNodeResponse* response,
                  cluster::NodeRole role, std::string address, std::string payload,
                  absl::Duration lease, Requester requester)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor_);
  void DoHeartbeat(grpc::ServerUnaryReactor* reactor, v1::HeartbeatResponse* response,
                   std::string address, v1::Heartbeat heartbeat, Requester requester)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor_);
  void DoDeregister(grpc::ServerUnaryReactor* reactor, v1::DeregisterNodeResponse* response,
                    std::string address, Requester requester)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor_);
  // The registration of `address` that `requester` may use (its lease id matches), else the
  // status to answer with (NOT_FOUND, PERMISSION_DENIED, ABORTED while it changes).
  absl::StatusOr<Entry*> Owned(const std::string& address, const Requester& requester)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor_);
  // RESOURCE_EXHAUSTED when `caller` may not take one more registration.
  absl::Status CheckCaps(const Caller& caller) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor_);
  // Drops `it` from entries_ and the owner's count.
  void Erase(std::map<std::string, Entry>::iterator it) ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor_);
  // The caller if it has the register scope, else finishes the call and returns an error.
  absl::StatusOr<Requester> Admit(grpc::CallbackServerContext* call,
                                  grpc::ServerUnaryReactor* reactor, absl::string_view method,
                                  std::string lease_id);
  // After a write of `address`'s entry `id` completed.
  void Written(grpc::ServerUnaryReactor* reactor, absl::string_view method,
               const std::string& address, uint64_t id, absl::Status status, v1::ViewMeta* meta)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor_);

  void ArmLease(const std::string& address, Entry& entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor_);
  void OnLeaseTimer(const std::string& address, uint64_t id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor_);
  // Deletes `path` if it is ours, retrying failures; gives up if `address` is registered again.
  void DeleteExpired(std::string address, std::string path, uint64_t id, int attempts_left)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor_);

  // Registry side (callbacks on the registry executor; `done` runs there too).
  // Writes `payload` to `path`: sets it if it is our ephemeral, creates it if missing;
  // AlreadyExists if another session holds it.
  void WriteOwned(std::string path, std::string payload, int attempts, Done done);
  // Deletes `path` if it is our ephemeral; OK if it is missing or not ours.
  void DeleteOwned(std::string path, int attempts, Done done);

  // Runs `task` on the executor, or finishes the call with UNAVAILABLE if it is shut down.
  void PostOrFail(grpc::ServerUnaryReactor* reactor, absl::string_view method,
                  absl::AnyInvocable<void() &&> task);
  // Normalises and checks a heartbeat for `role` at `address`; returns the znode payload.
  absl::StatusOr<std::string> Payload(cluster::NodeRole role, const std::string& address,
                                      v1::Heartbeat heartbeat) const;

  const ServiceContext* const context_;
  registry::Registry* const registry_;
  const RegistrationOptions options_;

  // Confined to executor_.
  std::map<std::string, Entry> entries_ ABSL_GUARDED_BY(executor_);  // by address
  // Lease-expired znodes still to delete, by address.
  std::map<std::string, uint64_t> deleting_ ABSL_GUARDED_BY(executor_);
  // Registrations (entries_) per owner identity.
  std::map<std::string, int> per_identity_ ABSL_GUARDED_BY(executor_);
  uint64_t next_id_ ABSL_GUARDED_BY(executor_) = 1;

  SerialExecutor executor_;
};

}  // namespace roster::server
