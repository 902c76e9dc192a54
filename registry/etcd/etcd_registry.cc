#include "registry/etcd/etcd_registry.h"

#include <arpa/inet.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "glog/logging.h"
#include "registry/etcd/etcd_registry_impl.h"

namespace roster::registry {
namespace etcd_internal {
namespace {

// "ipv4:h1:p1,h2:p2" when every host is an IPv4 address (gRPC's pick_first fails over between
// them), "dns:///host:port" for one endpoint; InvalidArgument otherwise.
absl::StatusOr<std::string> ChannelTarget(const std::string& hosts) {
  std::vector<std::string> endpoints = absl::StrSplit(hosts, ',');
  if (endpoints.size() == 1) return absl::StrCat("dns:///", endpoints[0]);
  for (const std::string& endpoint : endpoints) {
    const std::string host = endpoint.substr(0, endpoint.rfind(':'));
    in_addr address;
    if (inet_pton(AF_INET, host.c_str(), &address) != 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "etcd endpoints '", hosts, "': several endpoints must all be IPv4 addresses ('", host,
          "' is not); give one DNS name that resolves to every member instead"));
    }
  }
  return absl::StrCat("ipv4:", hosts);
}

}  // namespace

std::string LeaseString(int64_t id) { return absl::StrCat("0x", absl::Hex(id)); }

// ---- Lifecycle ----

absl::Status EtcdRegistry::Start() {
  absl::MutexLock lock(&lifecycle_mu_);
  if (shut_down_.load()) return ShutDownError();
  if (started_.load()) return absl::OkStatus();
  executor_.AssertNotRunning();
  grpc::ChannelArguments args;
  // Reconnect quickly after a server restart; find a dead connection within seconds (etcd
  // refuses pings more often than every 5 s: --grpc-keepalive-min-time).
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
  args.SetInt(GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, -1);
  channel_ = grpc::CreateCustomChannel(target_, grpc::InsecureChannelCredentials(), args);
  kv_ = pb::KV::NewStub(channel_);
  lease_ = pb::Lease::NewStub(channel_);
  watch_ = pb::Watch::NewStub(channel_);
  LOG(INFO) << "registry '" << options_.name << "': connecting to etcd at '" << target_
            << "', key prefix '" << keys_.prefix() << "' (lease TTL " << ttl_seconds_ << " s)";
  generation_ = 1;
  executor_.Start();
  started_.store(true);
  executor_.Post([this] {
    executor_.AssertCurrent();
    OpenWatch();
    GrantLease();
  });
  return absl::OkStatus();
}

void EtcdRegistry::Shutdown() {
  CHECK(!executor_.IsCurrent()) << "Shutdown() of registry '" << options_.name
                                << "' from one of its own listeners or callbacks";
  absl::MutexLock lock(&lifecycle_mu_);
  if (shut_down_.exchange(true)) return;
  if (!started_.load()) executor_.Start();
  absl::Notification stepped;
  absl::Notification revoked;
  executor_.Post([this, &stepped, &revoked] {
    executor_.AssertCurrent();
    revoked_ = &revoked;
    Step(internal::SessionInput::kShutdown);
    if (!revoking_) {  // no lease to revoke
      revoked_ = nullptr;
      revoked.Notify();
    }
    stepped.Notify();
  });
  stepped.WaitForNotification();
  revoked.WaitForNotificationWithTimeout(kRevokeTimeout + absl::Milliseconds(500));
  executor_.Post([this] {
    executor_.AssertCurrent();
    revoked_ = nullptr;
  });
  calls_.CancelAllAndWait();
  session_listeners_.CancelAll();
  subscriptions_.CancelAll();
  executor_.Shutdown();
}

// Shutdown: ends the streams and revokes the lease, so that the ephemerals go at once.
void EtcdRegistry::CloseSession() {
  CancelLossTimer();
  if (keepalive_ != nullptr) keepalive_->Cancel();
  if (watch_stream_ != nullptr) watch_stream_->Cancel();
  keepalive_.reset();
  watch_stream_.reset();
  ++keepalive_epoch_;
  ++watch_epoch_;
  if (lease_id_ == 0 || lease_ == nullptr) return;
  pb::LeaseRevokeRequest request;
  request.set_id(lease_id_);
  LOG(INFO) << "registry '" << options_.name << "': revoking lease " << LeaseString(lease_id_);
  revoking_ = true;
  StartUnary<pb::LeaseRevokeRequest, pb::LeaseRevokeResponse>(
      &calls_, &executor_, kRevokeTimeout,
      [this](grpc::ClientContext* c, const pb::LeaseRevokeRequest* q, pb::LeaseRevokeResponse* r,
             std::function<void(grpc::Status)> f) { lease_->async()->LeaseRevoke(c, q, r, f); },
      std::move(request),
      [this](grpc::Status status, pb::LeaseRevokeResponse) {
        executor_.AssertCurrent();
        if (!status.ok()) {
          LOG(WARNING) << "registry '" << options_.name << "': revoking the lease failed ("
                       << status.error_message() << "); its keys go when it times out";
        }
        if (revoked_ != nullptr) revoked_->Notify();
        revoked_ = nullptr;
      });
}

// ---- Reads ----

void EtcdRegistry::Txn(pb::TxnRequest request,
                       absl::AnyInvocable<void(grpc::Status, pb::TxnResponse) &&> done) {
  txns_.Submit(std::move(request), std::move(done));
}

void EtcdRegistry::SendTxn(pb::TxnRequest request,
                           absl::AnyInvocable<void(grpc::Status, pb::TxnResponse) &&> done) {
  StartUnary<pb::TxnRequest, pb::TxnResponse>(
      &calls_, &executor_, options_.operation_timeout,
      [this](grpc::ClientContext* c, const pb::TxnRequest* q, pb::TxnResponse* r,
             std::function<void(grpc::Status)> f) { kv_->async()->Txn(c, q, r, f); },
      std::move(request), std::move(done));
}

void EtcdRegistry::ReadNode(const std::string& path, const char* op,
                            absl::AnyInvocable<void(absl::StatusOr<NodeRead>) &&> done) {
  if (closed()) return std::move(done)(ShutDownError());
  Txn(ReadNodeTxn(keys_, path), [this, path, op, done = std::move(done)](
                                    grpc::Status status, pb::TxnResponse response) mutable {
    executor_.AssertCurrent();
    if (!status.ok()) return std::move(done)(EtcdStatus(status, op, path));
    std::move(done)(ParseReadNode(keys_, path, op, response));
  });
}

void EtcdRegistry::GetData(const std::string& path, bool /*watch*/, Callback<Node> done) {
  executor_.AssertCurrent();
  ReadNode(path, "get", [done = std::move(done)](absl::StatusOr<NodeRead> read) mutable {
    if (!read.ok()) return std::move(done)(read.status());
    std::move(done)(std::move(read->node));
  });
}

void EtcdRegistry::GetChildren(const std::string& path, bool /*watch*/, Callback<Children> done) {
  executor_.AssertCurrent();
  ReadNode(path, "get children", [done = std::move(done)](absl::StatusOr<NodeRead> read) mutable {
    if (!read.ok()) return std::move(done)(read.status());
    Children children{std::move(read->children), read->node.stat};
    // A listing reflects every change up to the revision it was read at.
    children.stat.pzxid = read->revision;
    std::move(done)(std::move(children));
  });
}

void EtcdRegistry::Exists(const std::string& path, bool /*watch*/,
                          Callback<std::optional<Stat>> done) {
  executor_.AssertCurrent();
  ReadNode(path, "exists", [done = std::move(done)](absl::StatusOr<NodeRead> read) mutable {
    if (absl::IsNotFound(read.status())) return std::move(done)(std::optional<Stat>());
    if (!read.ok()) return std::move(done)(read.status());
    std::move(done)(std::optional<Stat>(read->node.stat));
  });
}

// ---- Writes ----

void EtcdRegistry::CreateAsync(std::string path, std::string data, CreateOptions options,
                               Callback<std::string> done) {
  OnExecutor(std::move(done), std::move(path),
             [this, data = std::move(data), options = std::move(options)](
                 std::string path, Callback<std::string> done) mutable {
               executor_.AssertCurrent();
               if (options.acl.has_value() && !(*options.acl == Acl::Open())) {
                 return std::move(done)(absl::InvalidArgumentError(absl::StrCat(
                     "create '", path,
                     "': etcd has no per-node ACLs; only the open ACL (world:anyone) can be "
                     "given")));
               }
               CreateCall call;
               call.path = std::move(path);
               call.data = std::move(data);
               call.mode = options.mode;
               call.create_parents = options.create_parents;
               call.done = std::move(done);
               SubmitCreate(std::move(call));
             });
}

void EtcdRegistry::SubmitCreate(CreateCall call) {
  if (closed()) return std::move(call.done)(ShutDownError());
  if (call.path == "/") {
    return std::move(call.done)(absl::AlreadyExistsError("create '/': node exists"));
  }
  const bool ephemeral =
      call.mode == CreateMode::kEphemeral || call.mode == CreateMode::kEphemeralSequential;
  if (ephemeral && lease_id_ == 0) {
    return std::move(call.done)(absl::UnavailableError(absl::StrCat(
        "create '", call.path, "': no etcd session (lease) yet for an ephemeral node")));
  }
  const bool sequential = call.mode == CreateMode::kPersistentSequential ||
                          call.mode == CreateMode::kEphemeralSequential;
  if (!sequential) return CreateWithSequence(std::move(call), -1);
  // The sequence is the parent's cversion: read it, then create on the condition that it has
  // not moved.
  pb::TxnRequest read;
  *read.add_success() = RangeOp(keys_.CounterKey(ParentPath(call.path)));
  Txn(std::move(read),
      [this, call = std::move(call)](grpc::Status status, pb::TxnResponse response) mutable {
        executor_.AssertCurrent();
        if (!status.ok()) return std::move(call.done)(EtcdStatus(status, "create", call.path));
        CreateWithSequence(std::move(call), CounterVersion(response, 0));
      });
}

void EtcdRegistry::CreateWithSequence(CreateCall call, int64_t sequence) {
  if (closed()) return std::move(call.done)(ShutDownError());
  const bool ephemeral =
      call.mode == CreateMode::kEphemeral || call.mode == CreateMode::kEphemeralSequential;
  const std::string name =
      sequence < 0 ? call.path : absl::StrFormat("%s%010d", call.path, sequence);
  CreateTxnOptions txn;
  txn.path = name;
  txn.data = call.data;
  txn.lease = ephemeral ? lease_id_ : 0;
  txn.sequence = sequence;
  txn.implicit_parent = call.implicit_parent;
  Txn(CreateTxn(keys_, txn), [this, call = std::move(call), sequence, name](
                                 grpc::Status status, pb::TxnResponse response) mutable {
    executor_.AssertCurrent();
    if (!status.ok()) return std::move(call.done)(EtcdStatus(status, "create", name));
    if (response.succeeded()) {
      if (call.track && call.mode == CreateMode::kEphemeral) {
        ephemerals_[name] = OwnedEphemeral{call.data, call.create_parents};
      }
      return std::move(call.done)(name);
    }
    CreateFailed(std::move(call), sequence, name, ParseCreateFailure(name, response));
  });
}

void EtcdRegistry::CreateFailed(CreateCall call, int64_t sequence, const std::string& name,
                                const CreateFailure& failure) {
  const std::string parent = ParentPath(name);
  const bool retry = --call.attempts_left > 0;
  if (sequence >= 0 && failure.counter_version != sequence && retry) {
    return CreateWithSequence(std::move(call), failure.counter_version);  // another create won
  }
  if (failure.exists) {
    return std::move(call.done)(
        absl::AlreadyExistsError(absl::StrCat("create '", name, "': node exists")));
  }
  if (failure.parent_lease != 0) {
    return std::move(call.done)(absl::FailedPreconditionError(absl::StrCat(
        "create '", name, "': the parent '", parent, "' is ephemeral and cannot have children")));
  }
  if (!failure.parent_exists && failure.parent_has_children && retry) {
    call.implicit_parent = true;
    return CreateWithSequence(std::move(call), sequence);
  }
  if (!failure.parent_exists && !failure.parent_has_children && call.create_parents && retry) {
    CreateCall parent_call;
    parent_call.path = parent;
    parent_call.create_parents = true;
    parent_call.track = false;
    parent_call.done = [this, call = std::move(call),
                        sequence](absl::StatusOr<std::string> created) mutable {
      executor_.AssertCurrent();
      if (!created.ok() && !absl::IsAlreadyExists(created.status())) {
        return std::move(call.done)(created.status());
      }
      CreateWithSequence(std::move(call), sequence);
    };
    return SubmitCreate(std::move(parent_call));
  }
  if (!failure.parent_exists) {
    return std::move(call.done)(absl::NotFoundError(
        absl::StrCat("create '", name, "': the parent '", parent, "' does not exist")));
  }
  std::move(call.done)(absl::AbortedError(
      absl::StrCat("create '", name, "': the tree changed under the transaction; try again")));
}

void EtcdRegistry::SetAsync(std::string path, std::string data, int32_t expected_version,
                            Callback<Stat> done) {
  OnExecutor(std::move(done), std::move(path),
             [this, data = std::move(data), expected_version](std::string path,
                                                              Callback<Stat> done) mutable {
               executor_.AssertCurrent();
               if (path == "/") {
                 return std::move(done)(absl::InvalidArgumentError(
                     "set '/': the root has no etcd key and holds no data"));
               }
               Txn(SetTxn(keys_, path, data, expected_version),
                   [this, path, data, done = std::move(done)](grpc::Status status,
                                                              pb::TxnResponse response) mutable {
                     executor_.AssertCurrent();
                     if (!status.ok()) return std::move(done)(EtcdStatus(status, "set", path));
                     absl::StatusOr<Stat> stat = ParseSet(keys_, path, response);
                     if (stat.ok()) {
                       if (auto it = ephemerals_.find(path); it != ephemerals_.end()) {
                         it->second.data = std::move(data);
                       }
                     }
                     std::move(done)(std::move(stat));
                   });
             });
}

void EtcdRegistry::DeleteAsync(std::string path, int32_t expected_version, DoneCallback done) {
  OnExecutor(std::move(done), std::move(path),
             [this, expected_version](std::string path, DoneCallback done) mutable {
               executor_.AssertCurrent();
               if (path == "/") {
                 return std::move(done)(absl::InvalidArgumentError("delete '/': not allowed"));
               }
               Txn(DeleteTxn(keys_, path, expected_version),
                   [this, path, done = std::move(done)](grpc::Status status,
                                                        pb::TxnResponse response) mutable {
                     executor_.AssertCurrent();
                     if (!status.ok()) {
                       return std::move(done)(EtcdStatus(status, "delete", path));
                     }
                     absl::Status result = ParseDelete(path, response);
                     if (result.ok() || absl::IsNotFound(result)) ephemerals_.erase(path);
                     std::move(done)(std::move(result));
                   });
             });
}

}  // namespace etcd_internal

absl::StatusOr<std::unique_ptr<Registry>> NewEtcdRegistry(const RegistryUri& uri,
                                                          RegistryOptions options) {
  if (!options.digest.empty()) {
    return absl::InvalidArgumentError(
        "etcd:// registries take no ZooKeeper digest credentials (--zk_digest_file): etcd has "
        "no per-node ACLs, and roster does not log in to etcd");
  }
  absl::StatusOr<std::string> target = etcd_internal::ChannelTarget(uri.hosts);
  if (!target.ok()) return target.status();
  return std::unique_ptr<Registry>(
      new etcd_internal::EtcdRegistry(*std::move(target), uri, std::move(options)));
}

}  // namespace roster::registry
