#include "registry/etcd/etcd_registry.h"

#include <arpa/inet.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"
#include "glog/logging.h"
#include "registry/etcd/etcd_keys.h"
#include "registry/etcd/etcd_rpc.h"
#include "registry/etcd/etcd_txn.h"
#include "registry/etcd/etcd_txn_queue.h"
#include "registry/internal/subscription_set.h"
#include "registry/internal/watch_backend.h"
#include "registry/zookeeper/session_state_machine.h"
#include "util/executor.h"

namespace roster::registry {
namespace {

namespace pb = etcdserverpb;

using KeepAliveStream = EtcdStream<pb::LeaseKeepAliveRequest, pb::LeaseKeepAliveResponse>;
using WatchStream = EtcdStream<pb::WatchRequest, pb::WatchResponse>;

// A stream that ended (server down, connection lost) is opened again after this back-off.
constexpr absl::Duration kReopenMin = absl::Milliseconds(100);
constexpr absl::Duration kReopenMax = absl::Seconds(2);
// Re-creating an ephemeral after an expiry retries with this back-off while the connection
// is down.
constexpr absl::Duration kRestoreBackoffMin = absl::Milliseconds(100);
constexpr absl::Duration kRestoreBackoffMax = absl::Seconds(2);
// How long Shutdown() waits for the lease to be revoked (its ephemerals deleted at once, as
// closing a ZooKeeper session does) before it gives up and lets the lease time out.
constexpr absl::Duration kRevokeTimeout = absl::Seconds(2);

std::string LeaseString(int64_t id) { return absl::StrCat("0x", absl::Hex(id)); }

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

class EtcdRegistry final : public Registry, private internal::WatchBackend {
 public:
  EtcdRegistry(std::string target, const RegistryUri& uri, RegistryOptions options)
      : target_(std::move(target)),
        keys_(uri.chroot),
        options_(std::move(options)),
        ttl_seconds_(std::max<int64_t>(
            2, absl::ToInt64Seconds(options_.session_timeout + absl::Milliseconds(999)))),
        executor_(options_.name, options_.clock),
        subscriptions_(&executor_, this, options_.max_in_flight),
        txns_(options_.max_in_flight,
              [this](pb::TxnRequest request,
                     absl::AnyInvocable<void(grpc::Status, pb::TxnResponse) &&> done) {
                executor_.AssertCurrent();
                SendTxn(std::move(request), std::move(done));
              }),
        session_(options_.clock->Now()) {
    session_.set_loss_timeout(absl::Seconds(ttl_seconds_));
    info_.state = session_.published();
    info_.state_since = session_.published_since();
  }

  ~EtcdRegistry() override { Shutdown(); }

  absl::Status Start() override;
  void Shutdown() override;

  SessionInfo session() const override {
    absl::MutexLock lock(&info_mu_);
    return info_;
  }

  std::unique_ptr<ListenerHandle> WatchSession(SessionListener listener) override {
    return session_listeners_.Add(std::move(listener));
  }

  absl::StatusOr<std::unique_ptr<Subscription>> Subscribe(std::string root,
                                                          SubscribeOptions options,
                                                          EventListener listener) override {
    if (shut_down_.load()) return ShutDownError();
    return subscriptions_.Subscribe(std::move(root), options, std::move(listener));
  }

  void GetAsync(std::string path, Callback<Node> done) override {
    OnExecutor(std::move(done), std::move(path), [this](std::string path, Callback<Node> done) {
      executor_.AssertCurrent();
      GetData(path, false, std::move(done));
    });
  }

  void GetChildrenAsync(std::string path, Callback<Children> done) override {
    OnExecutor(std::move(done), std::move(path), [this](std::string path, Callback<Children> done) {
      executor_.AssertCurrent();
      GetChildren(path, false, std::move(done));
    });
  }

  void ExistsAsync(std::string path, Callback<std::optional<Stat>> done) override {
    OnExecutor(std::move(done), std::move(path),
               [this](std::string path, Callback<std::optional<Stat>> done) {
                 executor_.AssertCurrent();
                 Exists(path, false, std::move(done));
               });
  }

  void CreateAsync(std::string path, std::string data, CreateOptions options,
                   Callback<std::string> done) override;
  void SetAsync(std::string path, std::string data, int32_t expected_version,
                Callback<Stat> done) override;
  void DeleteAsync(std::string path, int32_t expected_version, DoneCallback done) override;

 protected:
  bool OnExecutorThread() const override { return executor_.IsCurrent(); }

 private:
  // An ephemeral node this registry created: re-created in every new session.
  struct OwnedEphemeral {
    std::string data;
    bool create_parents = false;
  };

  absl::Status ShutDownError() const {
    return absl::FailedPreconditionError(
        absl::StrCat("registry '", options_.name, "' is shut down"));
  }

  // Runs `body(path, done)` on the executor once `path` is valid; else calls `done` with the
  // error (inline when shut down).
  template <typename Done, typename Body>
  void OnExecutor(Done done, std::string path, Body body) {
    if (shut_down_.load()) {
      std::move(done)(ShutDownError());
      return;
    }
    auto slot = std::make_shared<Done>(std::move(done));
    const bool posted =
        executor_.Post([this, slot, path = std::move(path), body = std::move(body)]() mutable {
          executor_.AssertCurrent();
          if (closed()) return std::move(*slot)(ShutDownError());
          if (absl::Status status = ValidatePath(path); !status.ok()) {
            return std::move(*slot)(std::move(status));
          }
          body(std::move(path), std::move(*slot));
        });
    if (!posted) std::move (*slot)(ShutDownError());
  }

  bool closed() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor_) {
    return session_.phase() == SessionPhase::kClosed;
  }

  // ---- internal::WatchBackend, and the reads behind Get/GetChildren/Exists ----

  void GetData(const std::string& path, bool watch, Callback<Node> done) override;
  void GetChildren(const std::string& path, bool watch, Callback<Children> done) override;
  void Exists(const std::string& path, bool watch, Callback<std::optional<Stat>> done) override;
  uint64_t CurrentSession() const override {
    executor_.AssertCurrent();
    return generation_;
  }

  // Reads a node (see etcd_txn.h); "op" names the operation in errors.
  void ReadNode(const std::string& path, const char* op,
                absl::AnyInvocable<void(absl::StatusOr<NodeRead>) &&> done)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor_);

  // Every operation is one transaction, through txns_ (ZooKeeper's order, etcd_txn_queue.h).
  void Txn(pb::TxnRequest request, absl::AnyInvocable<void(grpc::Status, pb::TxnResponse) &&> done)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor_);
  void SendTxn(pb::TxnRequest request,
               absl::AnyInvocable<void(grpc::Status, pb::TxnResponse) &&> done)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor_);

  // ---- Writes ----

  struct CreateCall {
    std::string path;  // as asked (the name prefix for sequential nodes)
    std::string data;
    CreateMode mode = CreateMode::kPersistent;
    bool create_parents = false;
    bool track = true;  // remember an ephemeral to re-create it after an expiry
    int attempts_left = 5;
    bool implicit_parent = false;  // the parent exists as the parent of other keys only
    Callback<std::string> done;
  };
  void SubmitCreate(CreateCall call) ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor_);
  void CreateWithSequence(CreateCall call, int64_t sequence)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor_);
  void CreateFailed(CreateCall call, int64_t sequence, const std::string& name,
                    const CreateFailure& failure) ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor_);

  // ---- Session: the lease, the keep-alive and watch streams ----

  void GrantLease() ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor_);
  void OpenKeepAlive() ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor_);
  void SendKeepAlive(uint64_t stream_epoch) ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor_);
  void OnKeepAlive(uint64_t stream_epoch, const pb::LeaseKeepAliveResponse& response)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor_);
  void OpenWatch() ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor_);
  void OnWatch(uint64_t stream_epoch, const pb::WatchResponse& response)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor_);
  void ApplyWatchEvents(const pb::WatchResponse& response) ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor_);
  void WriteFence(uint64_t stream_epoch) ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor_);
  void OnStreamDone(bool keepalive, uint64_t stream_epoch, const grpc::Status& status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor_);
  void ScheduleReopen(bool keepalive) ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor_);
  void UpdateConnected() ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor_);

  void Step(SessionInput input) ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor_);
  void Announce(SessionEventType type) ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor_);
  void RenewSession() ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor_);
  void CloseSession() ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor_);
  void ArmLossTimer() ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor_);
  void CancelLossTimer() ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor_);
  void StartRestore() ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor_);
  void Restore(const std::string& path, absl::Duration backoff)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor_);
  void RestoreDone(const std::string& path) ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor_);

  const std::string target_;
  const EtcdKeys keys_;
  const RegistryOptions options_;
  const int64_t ttl_seconds_;  // the lease TTL: the session timeout, in whole seconds

  // Set in Start(), before the executor runs; immutable afterwards.
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<pb::KV::Stub> kv_;
  std::unique_ptr<pb::Lease::Stub> lease_;
  std::unique_ptr<pb::Watch::Stub> watch_;

  SerialExecutor executor_;
  CallTracker calls_;
  internal::SessionListenerSet session_listeners_;
  internal::SubscriptionSet subscriptions_;

  absl::Mutex lifecycle_mu_;
  std::atomic<bool> started_{false};
  std::atomic<bool> shut_down_{false};

  EtcdTxnQueue txns_ ABSL_GUARDED_BY(executor_);
  SessionStateMachine session_ ABSL_GUARDED_BY(executor_);
  uint64_t generation_ ABSL_GUARDED_BY(executor_) = 0;  // the session number
  int64_t lease_id_ ABSL_GUARDED_BY(executor_) = 0;     // 0: none granted yet
  bool granting_ ABSL_GUARDED_BY(executor_) = false;
  // The keep-alive stream of lease_id_, and the watch stream; an epoch tells a stream's late
  // callbacks from those of its successor.
  std::shared_ptr<KeepAliveStream> keepalive_ ABSL_GUARDED_BY(executor_);
  uint64_t keepalive_epoch_ ABSL_GUARDED_BY(executor_) = 0;
  bool keepalive_unanswered_ ABSL_GUARDED_BY(executor_) = false;
  bool lease_alive_ ABSL_GUARDED_BY(executor_) = false;
  std::shared_ptr<WatchStream> watch_stream_ ABSL_GUARDED_BY(executor_);
  uint64_t watch_epoch_ ABSL_GUARDED_BY(executor_) = 0;
  bool watching_ ABSL_GUARDED_BY(executor_) = false;
  // The revision the watch resumes from when re-created (0: from now).
  int64_t next_revision_ ABSL_GUARDED_BY(executor_) = 0;
  // The watch had to restart from now: the subscriptions re-read once it is up.
  bool resync_on_watch_ ABSL_GUARDED_BY(executor_) = false;
  // The store revision when the current watch was created (-1: not created yet): the watch
  // counts as up once it has delivered everything up to it.
  int64_t catch_up_revision_ ABSL_GUARDED_BY(executor_) = -1;
  absl::Duration keepalive_backoff_ ABSL_GUARDED_BY(executor_) = kReopenMin;
  absl::Duration watch_backoff_ ABSL_GUARDED_BY(executor_) = kReopenMin;
  bool connected_ ABSL_GUARDED_BY(executor_) = false;  // lease_alive_ && watching_
  SerialExecutor::TimerId loss_timer_ ABSL_GUARDED_BY(executor_) = 0;
  uint64_t loss_epoch_ ABSL_GUARDED_BY(executor_) = 0;

  std::map<std::string, OwnedEphemeral> ephemerals_ ABSL_GUARDED_BY(executor_);
  std::set<std::string> restoring_ ABSL_GUARDED_BY(executor_);
  // Shutdown(): the lease revocation under way, and what to notify when it is answered.
  bool revoking_ ABSL_GUARDED_BY(executor_) = false;
  absl::Notification* revoked_ ABSL_GUARDED_BY(executor_) = nullptr;

  mutable absl::Mutex info_mu_;
  SessionInfo info_ ABSL_GUARDED_BY(info_mu_);
};

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
    Step(SessionInput::kShutdown);
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

// ---- Session ----

void EtcdRegistry::GrantLease() {
  if (closed() || granting_) return;
  granting_ = true;
  pb::LeaseGrantRequest request;
  request.set_ttl(ttl_seconds_);
  const uint64_t generation = generation_;
  StartUnary<pb::LeaseGrantRequest, pb::LeaseGrantResponse>(
      &calls_, &executor_, options_.operation_timeout,
      [this](grpc::ClientContext* c, const pb::LeaseGrantRequest* q, pb::LeaseGrantResponse* r,
             std::function<void(grpc::Status)> f) { lease_->async()->LeaseGrant(c, q, r, f); },
      std::move(request),
      [this, generation](grpc::Status status, pb::LeaseGrantResponse response) {
        executor_.AssertCurrent();
        granting_ = false;
        if (closed() || generation != generation_) return;
        if (!status.ok() || !response.error().empty()) {
          LOG_EVERY_N(WARNING, 10) << "registry '" << options_.name << "': granting a lease: "
                                   << (status.ok() ? response.error() : status.error_message());
          executor_.PostAfter(kReopenMin, [this] {
            executor_.AssertCurrent();
            GrantLease();
          });
          return;
        }
        lease_id_ = response.id();
        LOG(INFO) << "registry '" << options_.name << "': lease " << LeaseString(lease_id_)
                  << " granted (TTL " << response.ttl() << " s)";
        OpenKeepAlive();
      });
}

void EtcdRegistry::OpenKeepAlive() {
  if (closed() || lease_id_ == 0) return;
  const uint64_t epoch = ++keepalive_epoch_;
  keepalive_unanswered_ = false;
  KeepAliveStream::Handlers handlers;
  handlers.on_read = [this, epoch](pb::LeaseKeepAliveResponse response) {
    executor_.AssertCurrent();
    OnKeepAlive(epoch, response);
  };
  handlers.on_done = [this, epoch](grpc::Status status) {
    executor_.AssertCurrent();
    OnStreamDone(/*keepalive=*/true, epoch, status);
  };
  keepalive_ = KeepAliveStream::Open(
      &calls_, &executor_,
      [this](grpc::ClientContext* c,
             grpc::ClientBidiReactor<pb::LeaseKeepAliveRequest, pb::LeaseKeepAliveResponse>* r) {
        c->set_wait_for_ready(false);
        lease_->async()->LeaseKeepAlive(c, r);
      },
      std::move(handlers));
  SendKeepAlive(epoch);
}

// Every third of the TTL. A keep-alive still unanswered when the next one is due means the
// connection is gone (a paused or cut-off server answers nothing): the stream is ended, which
// suspends the session, and opened again.
void EtcdRegistry::SendKeepAlive(uint64_t epoch) {
  if (closed() || epoch != keepalive_epoch_ || keepalive_ == nullptr) return;
  if (keepalive_unanswered_) {
    LOG(WARNING) << "registry '" << options_.name << "': no keep-alive answer from etcd within "
                 << absl::FormatDuration(absl::Seconds(ttl_seconds_) / 3) << "; reconnecting";
    keepalive_->Cancel();
    return;
  }
  keepalive_unanswered_ = true;
  pb::LeaseKeepAliveRequest request;
  request.set_id(lease_id_);
  keepalive_->Write(std::move(request));
  executor_.PostAfter(absl::Seconds(ttl_seconds_) / 3, [this, epoch] {
    executor_.AssertCurrent();
    SendKeepAlive(epoch);
  });
}

void EtcdRegistry::OnKeepAlive(uint64_t epoch, const pb::LeaseKeepAliveResponse& response) {
  if (closed() || epoch != keepalive_epoch_) return;
  keepalive_unanswered_ = false;
  keepalive_backoff_ = kReopenMin;
  if (response.ttl() <= 0) {
    LOG(WARNING) << "registry '" << options_.name << "': lease " << LeaseString(lease_id_)
                 << " has expired (etcd answered TTL " << response.ttl()
                 << "); starting a new session";
    ++keepalive_epoch_;
    if (keepalive_ != nullptr) keepalive_->Cancel();
    keepalive_.reset();
    lease_alive_ = false;
    connected_ = false;
    Step(SessionInput::kExpired);
    return;
  }
  if (!lease_alive_) {
    lease_alive_ = true;
    UpdateConnected();
  }
}

void EtcdRegistry::OpenWatch() {
  if (closed()) return;
  const uint64_t epoch = ++watch_epoch_;
  catch_up_revision_ = -1;
  WatchStream::Handlers handlers;
  handlers.on_read = [this, epoch](pb::WatchResponse response) {
    executor_.AssertCurrent();
    OnWatch(epoch, response);
  };
  handlers.on_done = [this, epoch](grpc::Status status) {
    executor_.AssertCurrent();
    OnStreamDone(/*keepalive=*/false, epoch, status);
  };
  watch_stream_ = WatchStream::Open(
      &calls_, &executor_,
      [this](grpc::ClientContext* c,
             grpc::ClientBidiReactor<pb::WatchRequest, pb::WatchResponse>* r) {
        c->set_wait_for_ready(false);
        watch_->async()->Watch(c, r);
      },
      std::move(handlers));
  if (watch_stream_ == nullptr) return;
  pb::WatchRequest request;
  pb::WatchCreateRequest* create = request.mutable_create_request();
  create->set_key(keys_.SubtreeBegin("/"));
  create->set_range_end(keys_.SubtreeEnd("/"));
  create->set_start_revision(next_revision_);
  create->set_prev_kv(true);
  create->set_progress_notify(true);
  watch_stream_->Write(std::move(request));
}

void EtcdRegistry::OnWatch(uint64_t epoch, const pb::WatchResponse& response) {
  if (closed() || epoch != watch_epoch_) return;
  if (response.compact_revision() > 0 || response.canceled()) {
    // The revision to resume from is gone: watch from now on, and re-read everything.
    LOG(WARNING) << "registry '" << options_.name << "': etcd cannot resume the watch at revision "
                 << next_revision_ << " (compacted up to " << response.compact_revision()
                 << (response.cancel_reason().empty() ? "" : ": ") << response.cancel_reason()
                 << "); every subscription re-reads its subtree";
    next_revision_ = 0;
    resync_on_watch_ = true;
    if (watch_stream_ != nullptr) watch_stream_->Cancel();
    return;
  }
  if (response.created()) {
    watch_backoff_ = kReopenMin;
    if (next_revision_ == 0) next_revision_ = response.header().revision() + 1;
    // A resumed watch replays what happened while it was down (up to the revision it was
    // created at) before the connection counts as back: those changes then reach the
    // subscriptions as the events they are, before the re-read that follows a reconnect.
    catch_up_revision_ = response.header().revision();
    VLOG(1) << "registry '" << options_.name << "': watching from revision " << next_revision_
            << " (store at " << catch_up_revision_ << ")";
    if (resync_on_watch_ && connected_) {
      resync_on_watch_ = false;
      // Not a session event: the session did not change, but the subscriptions missed changes.
      SessionEvent resync{SessionEventType::kReconnected, generation_, lease_id_,
                          SessionState::kConnected, "etcd watch restarted after compaction"};
      subscriptions_.OnSessionEvent(resync);
    }
  }
  ApplyWatchEvents(response);
  if (!watching_ && watch_stream_ != nullptr && catch_up_revision_ >= 0) {
    if (next_revision_ > catch_up_revision_) {
      watching_ = true;
      UpdateConnected();
    } else if (response.created()) {
      WriteFence(epoch);
    }
  }
}

// A resumed watch may have events to replay, or none: etcd 3.4 cannot say which (its
// WatchProgressRequest answers with the store revision even while the watcher is still
// replaying: mvcc/watchable_store.go, etcdserver/api/v3rpc/watch.go @ v3.4.23). A write to
// the fence key, inside the watched range but no node (the root's own key), is an event the
// watch delivers after everything before it: once it arrives, the replay is complete.
void EtcdRegistry::WriteFence(uint64_t epoch) {
  pb::PutRequest request;
  request.set_key(keys_.SubtreeBegin("/"));
  StartUnary<pb::PutRequest, pb::PutResponse>(
      &calls_, &executor_, options_.operation_timeout,
      [this](grpc::ClientContext* c, const pb::PutRequest* q, pb::PutResponse* r,
             std::function<void(grpc::Status)> f) { kv_->async()->Put(c, q, r, f); },
      std::move(request),
      [this, epoch](grpc::Status status, pb::PutResponse) {
        executor_.AssertCurrent();
        if (status.ok() || closed() || epoch != watch_epoch_ || watching_) return;
        LOG_EVERY_N(WARNING, 10) << "registry '" << options_.name
                                 << "': writing the watch fence key failed ("
                                 << status.error_message() << "); retrying";
        executor_.PostAfter(kReopenMin, [this, epoch] {
          executor_.AssertCurrent();
          if (!closed() && epoch == watch_epoch_ && !watching_) WriteFence(epoch);
        });
      });
}

void EtcdRegistry::ApplyWatchEvents(const pb::WatchResponse& response) {
  for (const mvccpb::Event& event : response.events()) {
    next_revision_ = std::max(next_revision_, event.kv().mod_revision() + 1);
    VLOG(2) << "registry '" << options_.name << "': etcd "
            << (event.type() == mvccpb::Event::DELETE ? "DELETE" : "PUT") << " '"
            << event.kv().key() << "' at revision " << event.kv().mod_revision()
            << (event.has_prev_kv() ? absl::StrCat(" (was version ", event.prev_kv().version(), ")")
                                    : "");
    for (const internal::WatchEvent& watch_event : WatchEventsFor(keys_, event)) {
      subscriptions_.OnWatchEvent(watch_event);
    }
  }
  if (response.events().empty() && !response.created() && response.watch_id() >= 0 &&
      response.header().revision() > 0) {
    // The watcher's own progress notification (progress_notify), sent only once it has
    // delivered everything up to this revision. (Answers to a WatchProgressRequest carry
    // watch id -1 and are no such promise in etcd 3.4.)
    next_revision_ = std::max(next_revision_, response.header().revision() + 1);
  }
}

void EtcdRegistry::OnStreamDone(bool keepalive, uint64_t epoch, const grpc::Status& status) {
  if (closed()) return;
  if (keepalive ? epoch != keepalive_epoch_ : epoch != watch_epoch_) return;
  VLOG(1) << "registry '" << options_.name << "': etcd " << (keepalive ? "keep-alive" : "watch")
          << " stream ended: " << status.error_message();
  if (keepalive) {
    keepalive_.reset();
    lease_alive_ = false;
  } else {
    watch_stream_.reset();
    watching_ = false;
  }
  UpdateConnected();
  ScheduleReopen(keepalive);
}

void EtcdRegistry::ScheduleReopen(bool keepalive) {
  absl::Duration& backoff = keepalive ? keepalive_backoff_ : watch_backoff_;
  const absl::Duration delay = backoff;
  backoff = std::min(backoff * 2, kReopenMax);
  const uint64_t epoch = keepalive ? keepalive_epoch_ : watch_epoch_;
  executor_.PostAfter(delay, [this, keepalive, epoch] {
    executor_.AssertCurrent();
    if (closed()) return;
    if (keepalive && epoch == keepalive_epoch_ && keepalive_ == nullptr) OpenKeepAlive();
    if (!keepalive && epoch == watch_epoch_ && watch_stream_ == nullptr) OpenWatch();
  });
}

void EtcdRegistry::UpdateConnected() {
  const bool now = lease_alive_ && watching_;
  if (now == connected_) return;
  connected_ = now;
  Step(now ? SessionInput::kHandleConnected : SessionInput::kHandleDisconnected);
}

void EtcdRegistry::Step(SessionInput input) {
  const SessionPhase from = session_.phase();
  absl::StatusOr<SessionStep> step = session_.Apply(input, options_.clock->Now());
  if (!step.ok()) {
    LOG(WARNING) << "registry '" << options_.name << "': " << step.status().message();
    return;
  }
  VLOG(1) << "registry '" << options_.name << "': session phase " << SessionPhaseName(from)
          << " -> " << SessionPhaseName(step->to) << " on " << SessionInputName(input);
  if (step->actions & kCancelLossTimer) CancelLossTimer();
  if (step->actions & kCloseHandle) CloseSession();
  if (step->actions & kAnnounce) Announce(*step->announce);
  if (step->actions & kRenewSession) RenewSession();
  if (step->actions & kStartRestore) StartRestore();
  if (step->actions & kArmLossTimer) ArmLossTimer();
}

void EtcdRegistry::Announce(SessionEventType type) {
  std::string detail;
  switch (type) {
    case SessionEventType::kConnected:
      detail = absl::StrCat("lease ", LeaseString(lease_id_), ", TTL ", ttl_seconds_, " s");
      break;
    case SessionEventType::kReconnected:
      detail = "connection re-established";
      break;
    case SessionEventType::kSuspended:
      detail = "connection to etcd lost";
      break;
    case SessionEventType::kLost:
      detail = absl::StrCat("disconnected for longer than the lease TTL (", ttl_seconds_,
                            " s); etcd has or will have revoked the lease");
      break;
    case SessionEventType::kExpired:
      detail = absl::StrCat("lease ", LeaseString(lease_id_), " expired; its keys are gone");
      break;
    case SessionEventType::kAuthFailed:
      detail = "etcd rejected the credentials";
      break;
    case SessionEventType::kClosed:
      detail = "registry shut down";
      break;
  }
  SessionEvent event{type, generation_, lease_id_, SessionStateAfter(type), std::move(detail)};
  {
    absl::MutexLock lock(&info_mu_);
    event.sequence = ++info_.events;
    info_.state = event.state;
    info_.session = generation_;
    info_.session_id = lease_id_;
    info_.state_since = session_.published_since();
  }
  LOG(INFO) << "registry '" << options_.name << "': session " << generation_ << " ("
            << LeaseString(lease_id_) << ") " << SessionEventTypeName(type) << ": " << event.detail;
  session_listeners_.Deliver(event);
  subscriptions_.OnSessionEvent(event);
}

void EtcdRegistry::RenewSession() {
  restoring_.clear();
  lease_id_ = 0;
  lease_alive_ = false;
  connected_ = false;
  ++keepalive_epoch_;
  if (keepalive_ != nullptr) keepalive_->Cancel();
  keepalive_.reset();
  ++generation_;
  GrantLease();
}

void EtcdRegistry::ArmLossTimer() {
  CancelLossTimer();
  const uint64_t epoch = loss_epoch_;
  loss_timer_ =
      executor_.PostAfter(session_.loss_deadline() - options_.clock->Now(), [this, epoch] {
        executor_.AssertCurrent();
        loss_timer_ = 0;
        if (epoch == loss_epoch_) Step(SessionInput::kLossTimeout);
      });
}

void EtcdRegistry::CancelLossTimer() {
  ++loss_epoch_;
  if (loss_timer_ != 0) executor_.Cancel(loss_timer_);
  loss_timer_ = 0;
}

void EtcdRegistry::StartRestore() {
  restoring_.clear();
  for (const auto& [path, ephemeral] : ephemerals_) restoring_.insert(path);
  if (restoring_.empty()) return Step(SessionInput::kRestoreDone);
  LOG(INFO) << "registry '" << options_.name << "': re-creating " << restoring_.size()
            << " ephemeral node(s) with lease " << LeaseString(lease_id_);
  const std::set<std::string> paths = restoring_;
  for (const std::string& path : paths) Restore(path, kRestoreBackoffMin);
}

void EtcdRegistry::Restore(const std::string& path, absl::Duration backoff) {
  auto it = ephemerals_.find(path);
  if (it == ephemerals_.end()) return RestoreDone(path);
  CreateCall call;
  call.path = path;
  call.data = it->second.data;
  call.mode = CreateMode::kEphemeral;
  call.create_parents = it->second.create_parents;
  call.track = false;
  const uint64_t generation = generation_;
  call.done = [this, path, generation, backoff](absl::StatusOr<std::string> created) {
    executor_.AssertCurrent();
    if (closed() || generation != generation_ || restoring_.count(path) == 0) return;
    const absl::Status& status = created.status();
    if (absl::IsUnavailable(status) || absl::IsDeadlineExceeded(status)) {
      executor_.PostAfter(backoff, [this, path, generation, backoff] {
        executor_.AssertCurrent();
        if (closed() || generation != generation_ || restoring_.count(path) == 0) return;
        Restore(path, std::min(backoff * 2, kRestoreBackoffMax));
      });
      return;
    }
    if (!status.ok()) {
      LOG(ERROR) << "registry '" << options_.name << "': cannot re-create ephemeral node '" << path
                 << "' in the new session: " << status;
      ephemerals_.erase(path);
    }
    RestoreDone(path);
  };
  SubmitCreate(std::move(call));
}

void EtcdRegistry::RestoreDone(const std::string& path) {
  if (restoring_.erase(path) == 0 || !restoring_.empty()) return;
  Step(SessionInput::kRestoreDone);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Registry>> NewEtcdRegistry(const RegistryUri& uri,
                                                          RegistryOptions options) {
  if (!options.digest.empty()) {
    return absl::InvalidArgumentError(
        "etcd:// registries take no ZooKeeper digest credentials (--zk_digest_file): etcd has "
        "no per-node ACLs, and roster does not log in to etcd");
  }
  absl::StatusOr<std::string> target = ChannelTarget(uri.hosts);
  if (!target.ok()) return target.status();
  return std::unique_ptr<Registry>(new EtcdRegistry(*std::move(target), uri, std::move(options)));
}

}  // namespace roster::registry
