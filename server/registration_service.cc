#include "server/registration_service.h"

#include <glog/logging.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "server/convert.h"
#include "server/status_util.h"
#include "util/log_escape.h"

namespace roster::server {
namespace {

using cluster::NodeRole;

constexpr absl::string_view kRegister = "Registration/RegisterNode";
constexpr absl::string_view kHeartbeat = "Registration/Heartbeat";
constexpr absl::string_view kDeregister = "Registration/DeregisterNode";
// Times a write or delete re-reads the znode after it changed under us.
constexpr int kAttempts = 3;

std::string RoleWord(NodeRole role) {
  switch (role) {
    case NodeRole::kMaster:
      return "master";
    case NodeRole::kWorker:
      return "worker";
    case NodeRole::kAlertServer:
      return "alert server";
  }
  return "node";
}

absl::Status WithContext(const absl::Status& status, absl::string_view context) {
  return absl::Status(status.code(), absl::StrCat(context, ": ", status.message()));
}

grpc::Status Unavailable(absl::string_view why) {
  return grpc::Status(grpc::StatusCode::UNAVAILABLE, std::string(why));
}

// 32 random bytes from OpenSSL's CSPRNG, as 64 hex digits.
std::string NewLeaseId() {
  unsigned char bytes[32];
  CHECK_EQ(RAND_bytes(bytes, sizeof(bytes)), 1) << "OpenSSL's random generator failed";
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(bytes), sizeof(bytes)));
}

bool LeaseMatches(const Sha256& hash, absl::string_view lease_id) {
  const Sha256 presented = HashToken(lease_id);
  return CRYPTO_memcmp(hash.data(), presented.data(), hash.size()) == 0;
}

}  // namespace

RegistrationService::RegistrationService(const ServiceContext* context,
                                         registry::Registry* registry, RegistrationOptions options)
    : context_(context),
      registry_(registry),
      options_(std::move(options)),
      // Lease deadlines are measured on the context's clock: their timers run on it too.
      executor_("registration", context->clock) {}

RegistrationService::~RegistrationService() { Shutdown(); }

void RegistrationService::Start() { executor_.Start(); }

void RegistrationService::Shutdown() { executor_.Shutdown(); }

void RegistrationService::PostOrFail(grpc::ServerUnaryReactor* reactor, absl::string_view method,
                                     absl::AnyInvocable<void() &&> task) {
  if (!executor_.Post(std::move(task))) {
    FinishRpc(*context_, reactor, method, Unavailable("rosterd is shutting down"));
  }
}

absl::StatusOr<std::string> RegistrationService::Payload(NodeRole role, const std::string& address,
                                                         v1::Heartbeat heartbeat) const {
  return RegistrationPayload(role, address, std::move(heartbeat), options_.heartbeat_limits,
                             context_->clock->WallNow());
}

absl::StatusOr<RegistrationService::Requester> RegistrationService::Admit(
    grpc::CallbackServerContext* call, grpc::ServerUnaryReactor* reactor, absl::string_view method,
    std::string lease_id) {
  absl::StatusOr<Caller> caller = AuthorizeCall(*context_, *call, kScopeRegister, method);
  if (!caller.ok()) {
    FinishRpc(*context_, reactor, method, ToGrpcStatus(caller.status()));
    return caller.status();
  }
  return Requester{*std::move(caller), call->peer(), std::move(lease_id)};
}

absl::Status RegistrationService::CheckCaps(const Caller& caller) const {
  if (static_cast<int>(entries_.size()) >= options_.max_registrations) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "this rosterd holds ", entries_.size(), " registrations, its limit (--max_registrations)"));
  }
  auto it = per_identity_.find(caller.identity);
  if (it != per_identity_.end() && it->second >= options_.max_registrations_per_identity) {
    return absl::ResourceExhaustedError(
        absl::StrCat("identity '", LogSafe(caller.identity, 256), "' holds ", it->second,
                     " registrations, the limit per identity (--max_registrations_per_identity)"));
  }
  return absl::OkStatus();
}

void RegistrationService::Erase(std::map<std::string, Entry>::iterator it) {
  auto owner = per_identity_.find(it->second.owner.identity);
  if (owner != per_identity_.end() && --owner->second <= 0) per_identity_.erase(owner);
  entries_.erase(it);
}

absl::StatusOr<RegistrationService::Entry*> RegistrationService::Owned(const std::string& address,
                                                                       const Requester& requester) {
  auto it = entries_.find(address);
  if (it == entries_.end()) {
    return absl::NotFoundError(absl::StrCat("no registration of '", address,
                                            "' (never registered, deregistered, its lease "
                                            "ended, or this rosterd restarted since): register "
                                            "again"));
  }
  Entry& entry = it->second;
  // Before the lease check: while it is being created, its owner has no lease id yet either.
  if (entry.phase != Phase::kActive) {
    return absl::AbortedError(
        absl::StrCat("a registration or deregistration of '", address, "' is under way; retry"));
  }
  if (!LeaseMatches(entry.lease_hash, requester.lease_id)) {
    return absl::PermissionDeniedError(absl::StrCat(
        "lease_id ", requester.lease_id.empty() ? "missing" : "wrong", " for '", address,
        "': only the holder of the lease id RegisterNode returned may heartbeat or deregister"));
  }
  return &entry;
}

grpc::ServerUnaryReactor* RegistrationService::RegisterNode(grpc::CallbackServerContext* call,
                                                            const v1::RegisterNodeRequest* request,
                                                            v1::RegisterNodeResponse* response) {
  grpc::ServerUnaryReactor* reactor = call->DefaultReactor();
  auto fail = [&](const absl::Status& status) {
    FinishRpc(*context_, reactor, kRegister, ToGrpcStatus(status));
    return reactor;
  };
  absl::StatusOr<Requester> requester = Admit(call, reactor, kRegister, request->lease_id());
  if (!requester.ok()) return reactor;
  absl::StatusOr<NodeRole> role = ToNodeRole("role", request->role());
  if (!role.ok()) return fail(role.status());
  absl::StatusOr<std::string> address = ParseAddressField("address", request->address());
  if (!address.ok()) return fail(address.status());
  absl::StatusOr<absl::Duration> lease =
      ToLease(*request, options_.default_lease, options_.min_lease, options_.max_lease);
  if (!lease.ok()) return fail(lease.status());
  absl::StatusOr<std::string> payload = Payload(*role, *address, request->heartbeat());
  if (!payload.ok()) return fail(payload.status());
  PostOrFail(
      reactor, kRegister,
      [this, reactor, response, role = *role, address = *std::move(address),
       payload = *std::move(payload), lease = *lease, requester = *std::move(requester)]() mutable {
        executor_.AssertCurrent();
        DoRegister(reactor, response, role, std::move(address), std::move(payload), lease,
                   std::move(requester));
      });
  return reactor;
}

void RegistrationService::DoRegister(grpc::ServerUnaryReactor* reactor,
                                     v1::RegisterNodeResponse* response, NodeRole role,
                                     std::string address, std::string payload, absl::Duration lease,
                                     Requester requester) {
  auto refuse = [&](grpc::StatusCode code, std::string message) {
    Audit("register", address, requester.caller, requester.peer,
          absl::Status(static_cast<absl::StatusCode>(code), message));
    FinishRpc(*context_, reactor, kRegister, grpc::Status(code, std::move(message)));
  };
  auto it = entries_.find(address);
  if (it != entries_.end()) {
    Entry& entry = it->second;
    // Only the lease's holder may renew it: anyone else would take the address over.
    if (requester.lease_id.empty() || !LeaseMatches(entry.lease_hash, requester.lease_id)) {
      return refuse(grpc::StatusCode::ALREADY_EXISTS,
                    absl::StrCat("'", address,
                                 "' is held by another registration through this "
                                 "rosterd, until its lease of ",
                                 absl::FormatDuration(entry.lease),
                                 " runs out without a heartbeat (to renew your own, send its "
                                 "lease_id)"));
    }
    if (entry.role != role) {
      return refuse(grpc::StatusCode::ALREADY_EXISTS,
                    absl::StrCat("'", address, "' is registered through this rosterd as a ",
                                 RoleWord(entry.role), "; deregister it first"));
    }
    if (entry.phase != Phase::kActive) {
      return refuse(grpc::StatusCode::ABORTED, absl::StrCat("a registration or deregistration of '",
                                                            address, "' is under way; retry"));
    }
    // Registering again: a new lease and heartbeat for the same registration.
    entry.lease = lease;
    entry.deadline = context_->clock->Now() + lease;
    response->set_lease_id(requester.lease_id);
  } else {
    if (absl::Status caps = CheckCaps(requester.caller); !caps.ok()) {
      return refuse(grpc::StatusCode::RESOURCE_EXHAUSTED, std::string(caps.message()));
    }
    // A lease-expired znode still being deleted is taken over rather than deleted.
    deleting_.erase(address);
    const std::string lease_id = NewLeaseId();
    Entry entry;
    entry.id = next_id_++;
    entry.role = role;
    entry.path = registry::JoinPath(options_.paths.RootOf(role), address);
    entry.lease = lease;
    entry.phase = Phase::kCreating;
    entry.lease_hash = HashToken(lease_id);
    entry.owner = requester.caller;
    entry.peer = requester.peer;
    ++per_identity_[entry.owner.identity];
    it = entries_.emplace(address, std::move(entry)).first;
    response->set_lease_id(lease_id);
  }
  response->set_path(it->second.path);
  const uint64_t id = it->second.id;
  WriteOwned(it->second.path, std::move(payload), kAttempts,
             [this, reactor, response, address, id](absl::Status status) mutable {
               PostOrFail(reactor, kRegister,
                          [this, reactor, response, address = std::move(address), id,
                           status = std::move(status)]() mutable {
                            executor_.AssertCurrent();
                            Written(reactor, kRegister, address, id, std::move(status),
                                    response->mutable_meta());
                          });
             });
}

grpc::ServerUnaryReactor* RegistrationService::Heartbeat(grpc::CallbackServerContext* call,
                                                         const v1::HeartbeatRequest* request,
                                                         v1::HeartbeatResponse* response) {
  grpc::ServerUnaryReactor* reactor = call->DefaultReactor();
  absl::StatusOr<Requester> requester = Admit(call, reactor, kHeartbeat, request->lease_id());
  if (!requester.ok()) return reactor;
  absl::StatusOr<std::string> address = ParseAddressField("address", request->address());
  if (!address.ok()) {
    FinishRpc(*context_, reactor, kHeartbeat, ToGrpcStatus(address.status()));
    return reactor;
  }
  PostOrFail(reactor, kHeartbeat,
             [this, reactor, response, address = *std::move(address),
              heartbeat = request->heartbeat(), requester = *std::move(requester)]() mutable {
               executor_.AssertCurrent();
               DoHeartbeat(reactor, response, std::move(address), std::move(heartbeat),
                           std::move(requester));
             });
  return reactor;
}

void RegistrationService::DoHeartbeat(grpc::ServerUnaryReactor* reactor,
                                      v1::HeartbeatResponse* response, std::string address,
                                      v1::Heartbeat heartbeat, Requester requester) {
  absl::StatusOr<Entry*> owned = Owned(address, requester);
  if (!owned.ok()) {
    if (absl::IsPermissionDenied(owned.status())) {
      Audit("forged-heartbeat", address, requester.caller, requester.peer, owned.status());
    }
    FinishRpc(*context_, reactor, kHeartbeat, ToGrpcStatus(owned.status()));
    return;
  }
  Entry& entry = **owned;
  absl::StatusOr<std::string> payload = Payload(entry.role, address, std::move(heartbeat));
  if (!payload.ok()) {
    FinishRpc(*context_, reactor, kHeartbeat, ToGrpcStatus(payload.status()));
    return;
  }
  // The process is alive: it asked. The lease runs from now even if this write fails.
  entry.deadline = context_->clock->Now() + entry.lease;
  const uint64_t id = entry.id;
  WriteOwned(entry.path, *std::move(payload), kAttempts,
             [this, reactor, response, address, id](absl::Status status) mutable {
               PostOrFail(reactor, kHeartbeat,
                          [this, reactor, response, address = std::move(address), id,
                           status = std::move(status)]() mutable {
                            executor_.AssertCurrent();
                            Written(reactor, kHeartbeat, address, id, std::move(status),
                                    response->mutable_meta());
                          });
             });
}

void RegistrationService::Written(grpc::ServerUnaryReactor* reactor, absl::string_view method,
                                  const std::string& address, uint64_t id, absl::Status status,
                                  v1::ViewMeta* meta) {
  const bool registering = method == kRegister;
  auto it = entries_.find(address);
  if (it == entries_.end() || it->second.id != id) {
    FinishRpc(*context_, reactor, method,
              grpc::Status(grpc::StatusCode::NOT_FOUND,
                           absl::StrCat("the registration of '", address,
                                        "' ended while its znode was being written")));
    return;
  }
  Entry& entry = it->second;
  const std::string what =
      absl::StrCat(registering ? "register " : "heartbeat of ", RoleWord(entry.role), " '", address,
                   "' at '", entry.path, "'");
  if (!status.ok()) {
    const bool lost = absl::IsAlreadyExists(status);
    if (lost || entry.phase == Phase::kCreating) {
      if (entry.phase == Phase::kActive) {
        executor_.Cancel(entry.timer);
        context_->metrics->registrations().Add(-1);
        LOG(WARNING) << what << ": the znode now belongs to another session; registration "
                     << "dropped";
      }
      if (registering) {
        Audit("register", address, entry.owner, entry.peer, status);
      }
      Erase(it);
    }
    if (lost) {
      FinishRpc(
          *context_, reactor, method,
          grpc::Status(registering ? grpc::StatusCode::ALREADY_EXISTS : grpc::StatusCode::NOT_FOUND,
                       absl::StrCat(what, ": ", status.message(),
                                    registering ? " (another process holds the address)"
                                                : "; the registration is gone")));
    } else {
      FinishRpc(*context_, reactor, method, ToGrpcStatus(WithContext(status, what)));
    }
    return;
  }
  if (entry.phase == Phase::kCreating) {
    entry.phase = Phase::kActive;
    entry.deadline = context_->clock->Now() + entry.lease;
    ArmLease(address, entry);
    context_->metrics->registrations().Add(1);
    LOG(INFO) << "registered " << RoleWord(entry.role) << " '" << address << "' at '" << entry.path
              << "' (lease " << absl::FormatDuration(entry.lease) << ")";
    Audit("register", address, entry.owner, entry.peer, absl::OkStatus());
  }
  FillMeta(*context_, context_->cluster->view()->version, meta);
  FinishRpc(*context_, reactor, method, grpc::Status::OK);
}

grpc::ServerUnaryReactor* RegistrationService::DeregisterNode(
    grpc::CallbackServerContext* call, const v1::DeregisterNodeRequest* request,
    v1::DeregisterNodeResponse* response) {
  grpc::ServerUnaryReactor* reactor = call->DefaultReactor();
  absl::StatusOr<Requester> requester = Admit(call, reactor, kDeregister, request->lease_id());
  if (!requester.ok()) return reactor;
  absl::StatusOr<std::string> address = ParseAddressField("address", request->address());
  if (!address.ok()) {
    FinishRpc(*context_, reactor, kDeregister, ToGrpcStatus(address.status()));
    return reactor;
  }
  PostOrFail(reactor, kDeregister,
             [this, reactor, response, address = *std::move(address),
              requester = *std::move(requester)]() mutable {
               executor_.AssertCurrent();
               DoDeregister(reactor, response, std::move(address), std::move(requester));
             });
  return reactor;
}

void RegistrationService::DoDeregister(grpc::ServerUnaryReactor* reactor,
                                       v1::DeregisterNodeResponse* response, std::string address,
                                       Requester requester) {
  absl::StatusOr<Entry*> owned = Owned(address, requester);
  if (!owned.ok()) {
    if (absl::IsPermissionDenied(owned.status())) {
      Audit("deregister", address, requester.caller, requester.peer, owned.status());
    }
    FinishRpc(*context_, reactor, kDeregister, ToGrpcStatus(owned.status()));
    return;
  }
  Entry& entry = **owned;
  entry.phase = Phase::kDeleting;
  executor_.Cancel(entry.timer);
  entry.timer = 0;
  const uint64_t id = entry.id;
  DeleteOwned(
      entry.path, kAttempts,
      [this, reactor, response, address, id, requester](absl::Status status) mutable {
        PostOrFail(reactor, kDeregister,
                   [this, reactor, response, address = std::move(address), id,
                    requester = std::move(requester), status = std::move(status)]() mutable {
                     executor_.AssertCurrent();
                     auto it = entries_.find(address);
                     if (it == entries_.end() || it->second.id != id) {
                       // Cannot happen (only this call ends a kDeleting entry); be safe.
                       FinishRpc(*context_, reactor, kDeregister, grpc::Status::OK);
                       return;
                     }
                     Entry& entry = it->second;
                     if (!status.ok()) {
                       // Still registered: the lease goes on, so a failed deregistration
                       // ends by expiry at the latest.
                       entry.phase = Phase::kActive;
                       ArmLease(address, entry);
                       FinishRpc(*context_, reactor, kDeregister,
                                 ToGrpcStatus(WithContext(
                                     status, absl::StrCat("deregister ", RoleWord(entry.role), " '",
                                                          address, "' at '", entry.path, "'"))));
                       return;
                     }
                     LOG(INFO) << "deregistered " << RoleWord(entry.role) << " '" << address
                               << "' ('" << entry.path << "' deleted)";
                     Audit("deregister", address, requester.caller, requester.peer, status);
                     Erase(it);
                     context_->metrics->registrations().Add(-1);
                     FillMeta(*context_, context_->cluster->view()->version,
                              response->mutable_meta());
                     FinishRpc(*context_, reactor, kDeregister, grpc::Status::OK);
                   });
      });
}

void RegistrationService::ArmLease(const std::string& address, Entry& entry) {
  const uint64_t id = entry.id;
  entry.timer = executor_.PostAfter(entry.deadline - context_->clock->Now(), [this, address, id] {
    executor_.AssertCurrent();
    OnLeaseTimer(address, id);
  });
}

void RegistrationService::OnLeaseTimer(const std::string& address, uint64_t id) {
  auto it = entries_.find(address);
  if (it == entries_.end() || it->second.id != id || it->second.phase != Phase::kActive) return;
  Entry& entry = it->second;
  entry.timer = 0;
  if (context_->clock->Now() < entry.deadline) {  // a heartbeat extended the lease
    ArmLease(address, entry);
    return;
  }
  LOG(INFO) << "registration of " << RoleWord(entry.role) << " '" << address
            << "' expired: no heartbeat within its lease of " << absl::FormatDuration(entry.lease)
            << "; deleting '" << entry.path << "'";
  context_->metrics->lease_expiries().Increment();
  context_->metrics->registrations().Add(-1);
  Audit("lease-expired", address, entry.owner, entry.peer, absl::OkStatus());
  std::string path = std::move(entry.path);
  Erase(it);
  deleting_[address] = id;
  DeleteExpired(address, std::move(path), id, options_.delete_retries);
}

void RegistrationService::DeleteExpired(std::string address, std::string path, uint64_t id,
                                        int attempts_left) {
  DeleteOwned(path, kAttempts, [this, address, path, id, attempts_left](absl::Status status) {
    executor_.Post([this, address, path, id, attempts_left, status] {
      executor_.AssertCurrent();
      auto it = deleting_.find(address);
      if (it == deleting_.end() || it->second != id) return;  // registered again meanwhile
      if (status.ok() || attempts_left <= 1) {
        if (!status.ok()) {
          LOG(ERROR) << "gave up deleting '" << path << "' after its lease expired: " << status
                     << "; it stays until rosterd's registry session ends";
        }
        deleting_.erase(it);
        return;
      }
      LOG_EVERY_N(WARNING, 10) << "cannot delete '" << path << "' (lease expired) yet: " << status
                               << "; retrying";
      executor_.PostAfter(options_.delete_retry_interval, [this, address, path, id, attempts_left] {
        executor_.AssertCurrent();
        auto again = deleting_.find(address);
        if (again == deleting_.end() || again->second != id) return;
        DeleteExpired(address, path, id, attempts_left - 1);
      });
    });
  });
}

void RegistrationService::WriteOwned(std::string path, std::string payload, int attempts,
                                     Done done) {
  if (attempts <= 0) {
    std::move(done)(absl::AbortedError(
        absl::StrCat("'", path, "' kept changing while rosterd wrote it; retry")));
    return;
  }
  registry_->ExistsAsync(path, [this, path, payload, attempts, done = std::move(done)](
                                   absl::StatusOr<std::optional<registry::Stat>> stat) mutable {
    if (!stat.ok()) return std::move(done)(stat.status());
    if (!stat->has_value()) {
      registry::CreateOptions create;
      create.mode = registry::CreateMode::kEphemeral;
      create.create_parents = true;
      registry_->CreateAsync(path, payload, create,
                             [this, path, payload, attempts,
                              done = std::move(done)](absl::StatusOr<std::string> created) mutable {
                               if (absl::IsAlreadyExists(created.status())) {  // raced: look again
                                 return WriteOwned(std::move(path), std::move(payload),
                                                   attempts - 1, std::move(done));
                               }
                               std::move(done)(created.status());
                             });
      return;
    }
    const registry::Stat& found = **stat;
    if (found.ephemeral_owner != registry_->session().session_id) {
      return std::move(done)(absl::AlreadyExistsError(absl::StrFormat(
          "znode '%s' belongs to %s", path,
          found.ephemeral_owner == 0
              ? std::string("no session (it is persistent)")
              : absl::StrFormat("another registry session (0x%x); if that was a rosterd that "
                                "crashed, the znode goes when its session expires: retry",
                                found.ephemeral_owner))));
    }
    registry_->SetAsync(path, payload, found.version,
                        [this, path, payload, attempts,
                         done = std::move(done)](absl::StatusOr<registry::Stat> set) mutable {
                          if (absl::IsAborted(set.status()) || absl::IsNotFound(set.status())) {
                            return WriteOwned(std::move(path), std::move(payload), attempts - 1,
                                              std::move(done));
                          }
                          std::move(done)(set.status());
                        });
  });
}

void RegistrationService::DeleteOwned(std::string path, int attempts, Done done) {
  if (attempts <= 0) {
    std::move(done)(absl::AbortedError(
        absl::StrCat("'", path, "' kept changing while rosterd deleted it; retry")));
    return;
  }
  registry_->ExistsAsync(path, [this, path, attempts, done = std::move(done)](
                                   absl::StatusOr<std::optional<registry::Stat>> stat) mutable {
    if (!stat.ok()) return std::move(done)(stat.status());
    if (!stat->has_value()) return std::move(done)(absl::OkStatus());
    if ((*stat)->ephemeral_owner != registry_->session().session_id) {
      LOG(WARNING) << "not deleting '" << path << "': it belongs to another session";
      return std::move(done)(absl::OkStatus());
    }
    registry_->DeleteAsync(
        path, (*stat)->version,
        [this, path, attempts, done = std::move(done)](absl::Status status) mutable {
          if (absl::IsAborted(status)) {
            return DeleteOwned(std::move(path), attempts - 1, std::move(done));
          }
          if (absl::IsNotFound(status)) status = absl::OkStatus();
          std::move(done)(std::move(status));
        });
  });
}

}  // namespace roster::server
