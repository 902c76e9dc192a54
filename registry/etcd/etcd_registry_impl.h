// EtcdRegistry's class, shared by its two source files: etcd_registry.cc (life cycle, reads
// and writes) and etcd_session.cc (the lease, the keep-alive and watch streams, the session
// state machine). Internal to registry/etcd/; the public header is etcd_registry.h.
//
// Thread-safety: thread-safe (see registry/registry.h); every field ABSL_GUARDED_BY(executor_)
// lives on the registry's executor.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "absl/synchronization/notification.h"
#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"
#include "registry/etcd/etcd_keys.h"
#include "registry/etcd/etcd_rpc.h"
#include "registry/etcd/etcd_txn.h"
#include "registry/etcd/etcd_txn_queue.h"
#include "registry/internal/session_state_machine.h"
#include "registry/internal/subscription_set.h"
#include "registry/internal/watch_backend.h"
#include "registry/registry.h"
#include "registry/registry_factory.h"
#include "util/executor.h"

namespace roster::registry::etcd_internal {

namespace pb = etcdserverpb;

using KeepAliveStream = EtcdStream<pb::LeaseKeepAliveRequest, pb::LeaseKeepAliveResponse>;
using WatchStream = EtcdStream<pb::WatchRequest, pb::WatchResponse>;

// A stream that ended (server down, connection lost) is opened again after this back-off.
inline constexpr absl::Duration kReopenMin = absl::Milliseconds(100);
inline constexpr absl::Duration kReopenMax = absl::Seconds(2);
// Re-creating an ephemeral after an expiry retries with this back-off while the connection
// is down.
inline constexpr absl::Duration kRestoreBackoffMin = absl::Milliseconds(100);
inline constexpr absl::Duration kRestoreBackoffMax = absl::Seconds(2);
// How long Shutdown() waits for the lease to be revoked (its ephemerals deleted at once, as
// closing a ZooKeeper session does) before it gives up and lets the lease time out.
inline constexpr absl::Duration kRevokeTimeout = absl::Seconds(2);

// "0x1b72a23ac5616105": a lease id as etcdctl prints it.
std::string LeaseString(int64_t id);

// The Registry on etcd (see etcd_registry.h). Subscriptions are the shared SubtreeCache over
// this class as its WatchBackend; operations are transactions through txns_. Thread-safe; its
// state is confined to executor_.
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
    absl::ReaderMutexLock lock(&info_mu_);  // every lookup asks (ClusterManager::Snapshot)
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
    return session_.phase() == internal::SessionPhase::kClosed;
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

  void Step(internal::SessionInput input) ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor_);
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
  internal::SessionStateMachine session_ ABSL_GUARDED_BY(executor_);
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

}  // namespace roster::registry::etcd_internal
