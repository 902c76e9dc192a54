#include "registry/zookeeper/zookeeper_registry.h"

#include <zookeeper/zookeeper.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <set>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "glog/logging.h"
#include "registry/internal/session_state_machine.h"
#include "registry/internal/subscription_set.h"
#include "registry/internal/watch_backend.h"
#include "registry/zookeeper/watch_ledger.h"
#include "registry/zookeeper/zk_handle.h"
#include "registry/zookeeper/zk_request_queue.h"
#include "registry/zookeeper/zk_status.h"
#include "util/executor.h"

namespace roster::registry {
namespace {

// Re-creating an ephemeral after an expiry retries with this back-off while the server still
// holds the old session's node or the connection is down.
constexpr absl::Duration kRestoreBackoffMin = absl::Milliseconds(100);
constexpr absl::Duration kRestoreBackoffMax = absl::Seconds(2);
// A new handle that cannot be created (e.g. no host resolves) is retried this often.
constexpr absl::Duration kReopenDelay = absl::Seconds(1);
// How often create() retries after creating missing parents (a concurrent delete may remove
// them again).
constexpr int kCreateAttempts = 3;

std::string SessionIdString(int64_t id) { return absl::StrCat("0x", absl::Hex(id)); }

// The Registry on the ZooKeeper C client. Every field ABSL_GUARDED_BY(executor_) lives on
// `executor_` (checked by clang's -Wthread-safety and, at run time, by AssertCurrent()); the C
// client's threads hand work to it, which may run inline on the completion thread while the
// executor is idle (see ZkHandle). The session's life is a
// SessionStateMachine that Step() drives.
class ZooKeeperRegistry final : public Registry,
                                private internal::WatchBackend,
                                private ZkEventSink {
 public:
  ZooKeeperRegistry(const RegistryUri& uri, RegistryOptions options)
      : connect_string_(uri.hosts + uri.chroot),
        chroot_(uri.chroot),
        options_(std::move(options)),
        default_acl_(options_.digest.empty() ? Acl::Open() : Acl::CreatorAll()),
        executor_(options_.name, options_.clock),
        subscriptions_(&executor_, this, options_.max_in_flight),
        requests_(&executor_, options_.max_in_flight, options_.operation_timeout),
        watches_(options_.max_reconnect_watches, chroot_),
        session_(options_.clock->Now()) {
    session_.set_loss_timeout(options_.session_timeout);
    info_.state = session_.published();
    info_.state_since = session_.published_since();
  }

  ~ZooKeeperRegistry() override { Shutdown(); }

  absl::Status Start() override {
    absl::MutexLock lock(&lifecycle_mu_);
    if (shut_down_.load()) return ShutDownError();
    if (started_.load()) return absl::OkStatus();
    // The executor is not running yet, so its state may be set up from here.
    executor_.AssertNotRunning();
    generation_ = 1;
    if (absl::Status status = OpenHandle(); !status.ok()) {
      generation_ = 0;
      return status;
    }
    LOG(INFO) << "registry '" << options_.name << "': connecting to ZooKeeper at '"
              << connect_string_ << "' (session timeout "
              << absl::FormatDuration(options_.session_timeout)
              << (options_.digest.empty() ? "" : ", digest credentials") << ")";
    executor_.Start();
    started_.store(true);
    return absl::OkStatus();
  }

  void Shutdown() override {
    CHECK(!executor_.IsCurrent()) << "Shutdown() of registry '" << options_.name
                                  << "' from one of its own listeners or callbacks";
    absl::MutexLock lock(&lifecycle_mu_);
    if (shut_down_.exchange(true)) return;
    // Operations queued before Start() run now and are cancelled below.
    if (!started_.load()) executor_.Start();
    absl::Notification done;
    executor_.Post([this, &done] {
      executor_.AssertCurrent();
      ShutdownOnExecutor();
      done.Notify();
    });
    done.WaitForNotification();
    session_listeners_.CancelAll();
    subscriptions_.CancelAll();
    executor_.Shutdown();
  }

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
    OnExecutor(std::move(done), [this, path = std::move(path)](Callback<Node> done) mutable {
      executor_.AssertCurrent();
      if (absl::Status status = ValidatePath(path); !status.ok()) {
        std::move(done)(std::move(status));
        return;
      }
      SubmitGetData(std::move(path), /*watch=*/false, std::move(done));
    });
  }

  void GetChildrenAsync(std::string path, Callback<Children> done) override {
    OnExecutor(std::move(done), [this, path = std::move(path)](Callback<Children> done) mutable {
      executor_.AssertCurrent();
      if (absl::Status status = ValidatePath(path); !status.ok()) {
        std::move(done)(std::move(status));
        return;
      }
      SubmitGetChildren(std::move(path), /*watch=*/false, std::move(done));
    });
  }

  void ExistsAsync(std::string path, Callback<std::optional<Stat>> done) override {
    OnExecutor(std::move(done),
               [this, path = std::move(path)](Callback<std::optional<Stat>> done) mutable {
                 executor_.AssertCurrent();
                 if (absl::Status status = ValidatePath(path); !status.ok()) {
                   std::move(done)(std::move(status));
                   return;
                 }
                 SubmitExists(std::move(path), /*watch=*/false, std::move(done));
               });
  }

  void CreateAsync(std::string path, std::string data, CreateOptions options,
                   Callback<std::string> done) override {
    OnExecutor(std::move(done), [this, path = std::move(path), data = std::move(data),
                                 options = std::move(options)](Callback<std::string> done) mutable {
      executor_.AssertCurrent();
      if (absl::Status status = ValidatePath(path); !status.ok()) {
        std::move(done)(std::move(status));
        return;
      }
      std::vector<Acl> acl = options.acl.has_value() ? *std::move(options.acl) : default_acl_;
      SubmitCreate(std::move(path), std::move(data), options.mode, std::move(acl),
                   options.create_parents, /*track=*/true, kCreateAttempts, std::move(done));
    });
  }

  void SetAsync(std::string path, std::string data, int32_t expected_version,
                Callback<Stat> done) override {
    OnExecutor(std::move(done), [this, path = std::move(path), data = std::move(data),
                                 expected_version](Callback<Stat> done) mutable {
      executor_.AssertCurrent();
      if (absl::Status status = ValidatePath(path); !status.ok()) {
        std::move(done)(std::move(status));
        return;
      }
      SubmitSet(std::move(path), std::move(data), expected_version, std::move(done));
    });
  }

  void DeleteAsync(std::string path, int32_t expected_version, DoneCallback done) override {
    OnExecutor(std::move(done),
               [this, path = std::move(path), expected_version](DoneCallback done) mutable {
                 executor_.AssertCurrent();
                 if (absl::Status status = ValidatePath(path); !status.ok()) {
                   std::move(done)(std::move(status));
                   return;
                 }
                 SubmitDelete(std::move(path), expected_version, std::move(done));
               });
  }

  std::optional<ZooKeeperSessionCredentials> credentials() const {
    absl::MutexLock lock(&info_mu_);
    return credentials_;
  }

 protected:
  bool OnExecutorThread() const override { return executor_.IsCurrent(); }

 private:
  // An ephemeral node this registry created: re-created in every new session.
  struct OwnedEphemeral {
    std::string data;  // as last written by a successful create or set
    std::vector<Acl> acl;
    bool create_parents = false;
  };

  absl::Status ShutDownError() const {
    return absl::FailedPreconditionError(
        absl::StrCat("registry '", options_.name, "' is shut down"));
  }

  // Runs `body(done)` on the executor, or calls `done` with FailedPrecondition (inline once
  // Shutdown() has begun, else on the executor once it has finished).
  template <typename Done, typename Body>
  void OnExecutor(Done done, Body body) {
    if (shut_down_.load()) {
      std::move(done)(ShutDownError());
      return;
    }
    // Kept here too, so that `done` survives a Post() refused by a concurrent Shutdown().
    auto slot = std::make_shared<Done>(std::move(done));
    const bool posted = executor_.Post([this, slot, body = std::move(body)]() mutable {
      executor_.AssertCurrent();
      if (closed()) {
        std::move (*slot)(ShutDownError());
        return;
      }
      body(std::move(*slot));
    });
    if (!posted) std::move (*slot)(ShutDownError());
  }

  // ---- internal::WatchBackend (called by the subscriptions, on the executor) ----

  void GetData(const std::string& path, bool watch, Callback<Node> done) override {
    executor_.AssertCurrent();
    if (closed()) return PostFailure(std::move(done));
    SubmitGetData(path, watch, std::move(done));
  }

  void GetChildren(const std::string& path, bool watch, Callback<Children> done) override {
    executor_.AssertCurrent();
    if (closed()) return PostFailure(std::move(done));
    SubmitGetChildren(path, watch, std::move(done));
  }

  void Exists(const std::string& path, bool watch, Callback<std::optional<Stat>> done) override {
    executor_.AssertCurrent();
    if (closed()) return PostFailure(std::move(done));
    SubmitExists(path, watch, std::move(done));
  }

  uint64_t CurrentSession() const override {
    executor_.AssertCurrent();
    return generation_;
  }

  template <typename Done>
  void PostFailure(Done done) {
    executor_.Post(
        [done = std::move(done), status = ShutDownError()]() mutable { std::move(done)(status); });
  }

  // ---- ZkEventSink (on the executor) ----

  void OnZkWatch(uint64_t generation, int type, int state, std::string path) override {
    executor_.AssertCurrent();
    if (closed() || handle_ == nullptr || generation != generation_) return;  // older handle
    if (type == ZOO_SESSION_EVENT) {
      OnSessionState(state);
      return;
    }
    internal::WatchEvent event;
    if (type == ZOO_CREATED_EVENT) {
      event.type = internal::WatchEventType::kCreated;
    } else if (type == ZOO_DELETED_EVENT) {
      event.type = internal::WatchEventType::kDeleted;
    } else if (type == ZOO_CHANGED_EVENT) {
      event.type = internal::WatchEventType::kDataChanged;
    } else if (type == ZOO_CHILD_EVENT) {
      event.type = internal::WatchEventType::kChildrenChanged;
    } else {
      // ZOO_NOTWATCHING_EVENT comes only from a removal the server is asked for; ours are
      // local (DropWatchesIfTooMany), which the C client does not report.
      return;
    }
    event.path = std::move(path);
    watches_.Fired(event.path, event.type);
    VLOG(2) << "registry '" << options_.name << "': watch event " << type << " on '" << event.path
            << "'";
    // Every subscription ignores paths outside its subtree.
    subscriptions_.OnWatchEvent(event);
  }

  void OnZkReply(uint64_t generation, uint64_t request_id, ZkReply reply) override {
    executor_.AssertCurrent();
    requests_.OnReply(generation, request_id, std::move(reply));
  }

  // ---- Requests (on the executor) ----

  void SubmitGetData(std::string path, bool watch, Callback<Node> done)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor_) {
    ZkRequestQueue::Request request{"get", path, nullptr, nullptr};
    request.issue = [path, watch](ZkHandle& handle, uint64_t id) {
      return handle.GetData(path, watch, id);
    };
    request.finish = [this, path, watch, done = std::move(done)](absl::Status failure,
                                                                 ZkReply reply) mutable {
      executor_.AssertCurrent();
      if (!failure.ok()) return std::move(done)(std::move(failure));
      if (reply.rc != ZOK) return std::move(done)(ZooKeeperStatus(reply.rc, "get", path));
      if (watch) watches_.Armed(path, WatchLedger::kData);
      std::move(done)(Node{std::move(path), std::move(reply.data), reply.stat.value_or(Stat{})});
    };
    requests_.Submit(std::move(request));
  }

  void SubmitGetChildren(std::string path, bool watch, Callback<Children> done)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor_) {
    ZkRequestQueue::Request request{"get children", path, nullptr, nullptr};
    request.issue = [path, watch](ZkHandle& handle, uint64_t id) {
      return handle.GetChildren(path, watch, id);
    };
    request.finish = [this, path, watch, done = std::move(done)](absl::Status failure,
                                                                 ZkReply reply) mutable {
      executor_.AssertCurrent();
      if (!failure.ok()) return std::move(done)(std::move(failure));
      if (reply.rc != ZOK) {
        return std::move(done)(ZooKeeperStatus(reply.rc, "get children", path));
      }
      if (watch) watches_.Armed(path, WatchLedger::kChild);
      Children children{std::move(reply.children), reply.stat.value_or(Stat{})};
      std::sort(children.names.begin(), children.names.end());
      std::move(done)(std::move(children));
    };
    requests_.Submit(std::move(request));
  }

  void SubmitExists(std::string path, bool watch, Callback<std::optional<Stat>> done)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor_) {
    ZkRequestQueue::Request request{"exists", path, nullptr, nullptr};
    request.issue = [path, watch](ZkHandle& handle, uint64_t id) {
      return handle.Exists(path, watch, id);
    };
    request.finish = [this, path, watch, done = std::move(done)](absl::Status failure,
                                                                 ZkReply reply) mutable {
      executor_.AssertCurrent();
      if (!failure.ok()) return std::move(done)(std::move(failure));
      // Exists leaves a watch on a missing node too (the C client's exists_result_checker).
      if (watch && (reply.rc == ZOK || reply.rc == ZNONODE)) {
        watches_.Armed(path, WatchLedger::kData);
      }
      if (reply.rc == ZNONODE) return std::move(done)(std::optional<Stat>());
      if (reply.rc != ZOK) return std::move(done)(ZooKeeperStatus(reply.rc, "exists", path));
      std::move(done)(reply.stat);
    };
    requests_.Submit(std::move(request));
  }

  // Creates `path`; with `create_parents`, missing ancestors first (persistent, same ACL),
  // bottom-up so that existing ancestors are never written. `track`: remember an ephemeral
  // for re-creation in later sessions.
  void SubmitCreate(std::string path, std::string data, CreateMode mode, std::vector<Acl> acl,
                    bool create_parents, bool track, int attempts_left, Callback<std::string> done)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor_) {
    ZkRequestQueue::Request request{"create", path, nullptr, nullptr};
    request.issue = [path, data, acl, mode](ZkHandle& handle, uint64_t id) {
      return handle.Create(path, data, acl, mode, id);
    };
    request.finish = [this, path, data = std::move(data), mode, acl = std::move(acl),
                      create_parents, track, attempts_left,
                      done = std::move(done)](absl::Status failure, ZkReply reply) mutable {
      executor_.AssertCurrent();
      if (!failure.ok()) return std::move(done)(std::move(failure));
      const std::string parent = ParentPath(path);
      if (reply.rc == ZNONODE && create_parents && attempts_left > 1 && parent != "/") {
        std::vector<Acl> parent_acl = acl;
        EnsureNode(
            parent, std::move(parent_acl),
            [this, path = std::move(path), data = std::move(data), mode, acl = std::move(acl),
             track, attempts_left, done = std::move(done)](absl::Status status) mutable {
              executor_.AssertCurrent();
              if (!status.ok()) return std::move(done)(std::move(status));
              SubmitCreate(std::move(path), std::move(data), mode, std::move(acl),
                           /*create_parents=*/true, track, attempts_left - 1, std::move(done));
            });
        return;
      }
      if (reply.rc == ZNONODE && parent == "/" && !chroot_.empty()) {
        // Under a chroot, "/" is the chroot itself, which a client cannot create from inside.
        return std::move(done)(absl::FailedPreconditionError(absl::StrCat(
            "create '", path, "': the chroot '", chroot_,
            "' does not exist on ZooKeeper (DolphinScheduler creates its namespace at start-up; "
            "or create it by hand)")));
      }
      if (reply.rc != ZOK) return std::move(done)(ZooKeeperStatus(reply.rc, "create", path));
      if (track && mode == CreateMode::kEphemeral) {
        ephemerals_[reply.path] = OwnedEphemeral{std::move(data), std::move(acl), create_parents};
      }
      std::move(done)(std::move(reply.path));
    };
    requests_.Submit(std::move(request));
  }

  // Makes sure persistent node `path` exists (creating its ancestors as needed).
  void EnsureNode(std::string path, std::vector<Acl> acl, DoneCallback done)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor_) {
    SubmitCreate(std::move(path), "", CreateMode::kPersistent, std::move(acl),
                 /*create_parents=*/true, /*track=*/false, kCreateAttempts,
                 [done = std::move(done)](absl::StatusOr<std::string> created) mutable {
                   if (created.ok() || absl::IsAlreadyExists(created.status())) {
                     return std::move(done)(absl::OkStatus());
                   }
                   std::move(done)(created.status());
                 });
  }

  void SubmitSet(std::string path, std::string data, int32_t expected_version, Callback<Stat> done)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor_) {
    ZkRequestQueue::Request request{"set", path, nullptr, nullptr};
    request.issue = [path, data, expected_version](ZkHandle& handle, uint64_t id) {
      return handle.Set(path, data, expected_version, id);
    };
    request.finish = [this, path, data = std::move(data), done = std::move(done)](
                         absl::Status failure, ZkReply reply) mutable {
      executor_.AssertCurrent();
      if (!failure.ok()) return std::move(done)(std::move(failure));
      if (reply.rc != ZOK) return std::move(done)(ZooKeeperStatus(reply.rc, "set", path));
      if (auto it = ephemerals_.find(path); it != ephemerals_.end()) {
        it->second.data = std::move(data);
      }
      std::move(done)(reply.stat.value_or(Stat{}));
    };
    requests_.Submit(std::move(request));
  }

  void SubmitDelete(std::string path, int32_t expected_version, DoneCallback done)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor_) {
    ZkRequestQueue::Request request{"delete", path, nullptr, nullptr};
    request.issue = [path, expected_version](ZkHandle& handle, uint64_t id) {
      return handle.Delete(path, expected_version, id);
    };
    request.finish = [this, path, done = std::move(done)](absl::Status failure,
                                                          ZkReply reply) mutable {
      executor_.AssertCurrent();
      if (!failure.ok()) return std::move(done)(std::move(failure));
      // Deleted, or already gone: either way no longer ours to re-create.
      if (reply.rc == ZOK || reply.rc == ZNONODE) ephemerals_.erase(path);
      std::move(done)(ZooKeeperStatus(reply.rc, "delete", path));
    };
    requests_.Submit(std::move(request));
  }

  // ---- Session (on the executor, or in Start() before the executor runs) ----

  bool closed() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor_) {
    return session_.phase() == internal::SessionPhase::kClosed;
  }

  // A handle for session `generation_`, adopted by the request queue.
  absl::Status OpenHandle() ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor_) {
    ZkHandle::Options options;
    options.connect_string = connect_string_;
    options.session_timeout = options_.session_timeout;
    options.digest = options_.digest;
    options.generation = generation_;
    options.executor = &executor_;
    options.sink = this;
    absl::StatusOr<std::unique_ptr<ZkHandle>> handle = ZkHandle::Open(std::move(options));
    if (!handle.ok()) return handle.status();
    handle_ = *std::move(handle);
    requests_.SetHandle(handle_.get(), "session expired");
    return absl::OkStatus();
  }

  void OnSessionState(int state) ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor_) {
    if (state == ZOO_CONNECTED_STATE || state == ZOO_READONLY_STATE) {
      session_id_ = handle_->session_id();
      negotiated_timeout_ = handle_->negotiated_timeout();
      session_.set_loss_timeout(LossTimeout());
      {
        absl::MutexLock lock(&info_mu_);
        credentials_ = ZooKeeperSessionCredentials{session_id_, handle_->password()};
      }
      Step(internal::SessionInput::kHandleConnected);
    } else if (state == ZOO_CONNECTING_STATE || state == ZOO_ASSOCIATING_STATE) {
      DropWatchesIfTooMany();
      Step(internal::SessionInput::kHandleDisconnected);
    } else if (state == ZOO_EXPIRED_SESSION_STATE) {
      LOG(WARNING) << "registry '" << options_.name << "': ZooKeeper session "
                   << SessionIdString(session_id_) << " expired; starting a new session";
      Step(internal::SessionInput::kExpired);
    } else if (state == ZOO_AUTH_FAILED_STATE) {
      LOG(ERROR) << "registry '" << options_.name
                 << "': ZooKeeper rejected our credentials; the registry stops here (check the "
                    "ZooKeeper digest credentials, --zk_digest_file)";
      Step(internal::SessionInput::kAuthFailed);
    } else {
      VLOG(1) << "registry '" << options_.name << "': ignoring session state " << state;
    }
  }

  // Feeds `input` to the session state machine and carries out the step's actions in the
  // order of SessionAction. An action may feed another input (kStartRestore with nothing to
  // re-create feeds kRestoreDone); no row pairs it with a later action.
  void Step(internal::SessionInput input) ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor_) {
    const internal::SessionPhase from = session_.phase();
    absl::StatusOr<internal::SessionStep> step = session_.Apply(input, options_.clock->Now());
    if (!step.ok()) {
      LOG(WARNING) << "registry '" << options_.name << "': " << step.status().message();
      return;
    }
    VLOG(1) << "registry '" << options_.name << "': session phase "
            << internal::SessionPhaseName(from) << " -> " << internal::SessionPhaseName(step->to)
            << " on " << internal::SessionInputName(input);
    if (step->actions & internal::kCancelLossTimer) CancelLossTimer();
    if (step->actions & internal::kCloseHandle) CloseHandle(input);
    if (step->actions & internal::kAnnounce) Announce(*step->announce);
    if (step->actions & internal::kRenewSession) RenewSession();
    if (step->actions & internal::kStartRestore) StartRestore();
    if (step->actions & internal::kArmLossTimer) ArmLossTimer();
  }

  // Shutdown or rejected credentials: every request fails, and the handle is closed (on
  // shutdown, zookeeper_close() makes the server delete our ephemerals now rather than after
  // the session timeout).
  void CloseHandle(internal::SessionInput input) ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor_) {
    if (input == internal::SessionInput::kShutdown) {
      if (reopen_timer_ != 0) executor_.Cancel(reopen_timer_);
      reopen_timer_ = 0;
      requests_.Close(absl::StatusCode::kCancelled,
                      absl::StrCat("registry '", options_.name, "' shut down"));
    } else {
      requests_.Close(absl::StatusCode::kUnauthenticated,
                      "ZooKeeper rejected our credentials (check the ZooKeeper digest "
                      "credentials, --zk_digest_file)");
    }
    ReleaseHandle();
    watches_.Clear();
  }

  // The connection is lost: past max_reconnect_watches, drop the watches locally, lest the
  // C client's one SetWatches request pass jute.maxbuffer (watch_ledger.h). Every subscription
  // re-reads its subtree after the reconnect and arms them again. Should the client reconnect
  // before this runs, the server may hold watches we no longer do: their events find no
  // watcher in the C client and are dropped, and the re-read covers them.
  void DropWatchesIfTooMany() ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor_) {
    if (handle_ == nullptr || !watches_.ShouldDrop()) return;
    const absl::Time start = absl::Now();
    const size_t watches = watches_.watches();
    const size_t bytes = watches_.SetWatchesBytes();
    const size_t failed = handle_->RemoveWatchesLocally(watches_.Paths());
    watches_.Clear();
    LOG(INFO) << "registry '" << options_.name << "': connection lost holding " << watches
              << " watches (a " << bytes / 1024 << " KiB SetWatches request on reconnect; "
              << "max_reconnect_watches " << options_.max_reconnect_watches
              << "): dropped them locally in " << absl::FormatDuration(absl::Now() - start)
              << (failed > 0 ? absl::StrCat(" (", failed, " paths failed)") : "")
              << "; the re-read after the reconnect arms them again";
  }

  // The expired session is gone: requests in flight on its handle fail with Unavailable,
  // waiting ones go to the next handle, which is opened here. The dead handle is closed on the
  // executor's own thread (ReleaseHandle), never on the C client's completion thread.
  void RenewSession() ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor_) {
    if (session_id_ != 0) previous_session_ids_.insert(session_id_);
    restoring_.clear();
    session_id_ = 0;
    {
      absl::MutexLock lock(&info_mu_);
      credentials_.reset();
    }
    requests_.SetHandle(nullptr, "session expired");
    ReleaseHandle();
    watches_.Clear();
    ++generation_;
    Reopen();
  }

  // Closes the current handle, on the executor's own thread: a task may run inline on the C
  // client's completion thread (zk_handle.cc, Deliver), which zookeeper_close() joins. From
  // there the close is posted; the handle's later callbacks carry an old generation and are
  // ignored.
  void ReleaseHandle() ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor_) {
    std::unique_ptr<ZkHandle> handle = std::move(handle_);
    if (handle == nullptr || executor_.OnOwnThread()) return;
    executor_.Post([handle = std::move(handle)]() mutable { handle.reset(); });
  }

  void Reopen() ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor_) {
    if (session_.terminal() || handle_ != nullptr) return;
    if (absl::Status status = OpenHandle(); !status.ok()) {
      LOG(ERROR) << "registry '" << options_.name << "': cannot start a new ZooKeeper session ("
                 << status << "); retrying in " << absl::FormatDuration(kReopenDelay);
      reopen_timer_ = executor_.PostAfter(kReopenDelay, [this] {
        executor_.AssertCurrent();
        reopen_timer_ = 0;
        Reopen();
      });
    }
  }

  void Announce(SessionEventType type) ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor_) {
    std::string detail;
    switch (type) {
      case SessionEventType::kConnected:
        detail = absl::StrCat("session ", SessionIdString(session_id_), ", negotiated timeout ",
                              absl::FormatDuration(negotiated_timeout_));
        break;
      case SessionEventType::kReconnected:
        detail = "connection re-established";
        break;
      case SessionEventType::kSuspended:
        detail = "connection to ZooKeeper lost";
        break;
      case SessionEventType::kLost:
        detail = absl::StrCat(
            "disconnected for ",
            absl::FormatDuration(options_.clock->Now() - session_.suspended_since()),
            ", longer than the session timeout ", absl::FormatDuration(session_.loss_timeout()),
            "; the server has or will have expired the session");
        break;
      case SessionEventType::kExpired:
        detail = absl::StrCat("session ", SessionIdString(session_id_),
                              " expired; its ephemeral nodes are gone");
        break;
      case SessionEventType::kAuthFailed:
        detail = "ZooKeeper rejected the credentials";
        break;
      case SessionEventType::kClosed:
        detail = "registry shut down";
        break;
    }
    Deliver(type, internal::SessionStateAfter(type), generation_, std::move(detail));
  }

  void Deliver(SessionEventType type, SessionState state, uint64_t session, std::string detail)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor_) {
    SessionEvent event{type, session, session_id_, state, std::move(detail)};
    {
      absl::MutexLock lock(&info_mu_);
      event.sequence = ++info_.events;
      info_.state = state;
      info_.session = session;
      info_.session_id = session_id_;
      info_.state_since = session_.published_since();
    }
    LOG(INFO) << "registry '" << options_.name << "': session " << session << " ("
              << SessionIdString(event.session_id) << ") " << SessionEventTypeName(type)
              << (event.detail.empty() ? "" : ": ") << event.detail;
    session_listeners_.Deliver(event);
    subscriptions_.OnSessionEvent(event);
  }

  // The C client keeps reconnecting a suspended session for ever, even once the server has
  // expired it: past the negotiated timeout (on options_.clock) we report kLost.
  absl::Duration LossTimeout() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor_) {
    return negotiated_timeout_ > absl::ZeroDuration() ? negotiated_timeout_
                                                      : options_.session_timeout;
  }

  // The executor runs on options_.clock, so the timer fires when that clock reaches the
  // deadline (a FakeClock: when the test advances it).
  void ArmLossTimer() ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor_) {
    CancelLossTimer();
    const uint64_t epoch = loss_epoch_;
    loss_timer_ =
        executor_.PostAfter(session_.loss_deadline() - options_.clock->Now(), [this, epoch] {
          executor_.AssertCurrent();
          loss_timer_ = 0;
          if (epoch == loss_epoch_) Step(internal::SessionInput::kLossTimeout);
        });
  }

  void CancelLossTimer() ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor_) {
    ++loss_epoch_;  // a timer already due but not yet run does nothing
    if (loss_timer_ != 0) executor_.Cancel(loss_timer_);
    loss_timer_ = 0;
  }

  // Re-creates every ephemeral we own in the new session; kRestoreDone when all are settled.
  void StartRestore() ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor_) {
    restoring_.clear();
    for (const auto& [path, ephemeral] : ephemerals_) restoring_.insert(path);
    if (restoring_.empty()) {
      Step(internal::SessionInput::kRestoreDone);
      return;
    }
    LOG(INFO) << "registry '" << options_.name << "': re-creating " << restoring_.size()
              << " ephemeral node(s) in session " << generation_ << " ("
              << SessionIdString(session_id_) << ")";
    const std::set<std::string> paths = restoring_;
    for (const std::string& path : paths) Restore(path, kRestoreBackoffMin);
  }

  void Restore(const std::string& path, absl::Duration backoff)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor_) {
    auto it = ephemerals_.find(path);
    if (it == ephemerals_.end()) return RestoreDone(path);  // deleted meanwhile
    const uint64_t generation = generation_;
    SubmitCreate(
        path, it->second.data, CreateMode::kEphemeral, it->second.acl, it->second.create_parents,
        /*track=*/false, kCreateAttempts,
        [this, path, generation, backoff](absl::StatusOr<std::string> created) {
          executor_.AssertCurrent();
          if (!RestoreStillWanted(path, generation)) return;
          if (created.ok()) return RestoreDone(path);
          const absl::Status& status = created.status();
          if (absl::IsAlreadyExists(status)) return CheckRestoredOwner(path, backoff);
          if (absl::IsUnavailable(status) || absl::IsDeadlineExceeded(status)) {
            return RetryRestore(path, backoff);
          }
          LOG(ERROR) << "registry '" << options_.name << "': cannot re-create ephemeral node '"
                     << path << "' in the new session: " << status;
          ephemerals_.erase(path);
          RestoreDone(path);
        });
  }

  // The node exists: ours (done), the expired session's (the server is still deleting it:
  // retry), or someone else's (give it up).
  void CheckRestoredOwner(const std::string& path, absl::Duration backoff)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor_) {
    const uint64_t generation = generation_;
    SubmitExists(path, /*watch=*/false,
                 [this, path, generation, backoff](absl::StatusOr<std::optional<Stat>> stat) {
                   executor_.AssertCurrent();
                   if (!RestoreStillWanted(path, generation)) return;
                   if (!stat.ok() || !stat->has_value()) return RetryRestore(path, backoff);
                   const int64_t owner = (*stat)->ephemeral_owner;
                   if (owner == session_id_) return RestoreDone(path);
                   if (previous_session_ids_.count(owner) > 0) {
                     return RetryRestore(path, backoff);
                   }
                   LOG(ERROR) << "registry '" << options_.name << "': ephemeral node '" << path
                              << "' now belongs to session " << SessionIdString(owner)
                              << ", not ours; not re-creating it";
                   ephemerals_.erase(path);
                   RestoreDone(path);
                 });
  }

  // Back-off on options_.clock (the executor's clock).
  void RetryRestore(const std::string& path, absl::Duration backoff)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor_) {
    const uint64_t generation = generation_;
    const absl::Duration next = std::min(backoff * 2, kRestoreBackoffMax);
    executor_.PostAfter(backoff, [this, path, generation, next] {
      executor_.AssertCurrent();
      if (RestoreStillWanted(path, generation)) Restore(path, next);
    });
  }

  bool RestoreStillWanted(const std::string& path, uint64_t generation) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor_) {
    return !closed() && generation == generation_ && restoring_.count(path) > 0;
  }

  void RestoreDone(const std::string& path) ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor_) {
    if (restoring_.erase(path) == 0 || !restoring_.empty()) return;
    Step(internal::SessionInput::kRestoreDone);
  }

  void ShutdownOnExecutor() ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor_) {
    Step(internal::SessionInput::kShutdown);
  }

  const std::string connect_string_;
  const std::string chroot_;  // "" or "/name..."
  const RegistryOptions options_;
  const std::vector<Acl> default_acl_;

  // Runs on options_.clock. Everything ABSL_GUARDED_BY(executor_) below is confined to it.
  SerialExecutor executor_;
  internal::SessionListenerSet session_listeners_;
  internal::SubscriptionSet subscriptions_;

  absl::Mutex lifecycle_mu_;  // serialises Start() and Shutdown()
  std::atomic<bool> started_{false};
  std::atomic<bool> shut_down_{false};

  mutable absl::Mutex info_mu_;
  SessionInfo info_ ABSL_GUARDED_BY(info_mu_);
  std::optional<ZooKeeperSessionCredentials> credentials_ ABSL_GUARDED_BY(info_mu_);

  ZkRequestQueue requests_ ABSL_GUARDED_BY(executor_);
  std::unique_ptr<ZkHandle> handle_ ABSL_GUARDED_BY(executor_);
  // The watches `handle_` holds (see DropWatchesIfTooMany).
  WatchLedger watches_ ABSL_GUARDED_BY(executor_);
  // The current handle's session number.
  uint64_t generation_ ABSL_GUARDED_BY(executor_) = 0;
  internal::SessionStateMachine session_ ABSL_GUARDED_BY(executor_);
  int64_t session_id_ ABSL_GUARDED_BY(executor_) = 0;
  absl::Duration negotiated_timeout_ ABSL_GUARDED_BY(executor_);
  std::set<int64_t> previous_session_ids_ ABSL_GUARDED_BY(executor_);
  SerialExecutor::TimerId loss_timer_ ABSL_GUARDED_BY(executor_) = 0;
  uint64_t loss_epoch_ ABSL_GUARDED_BY(executor_) = 0;
  SerialExecutor::TimerId reopen_timer_ ABSL_GUARDED_BY(executor_) = 0;
  std::map<std::string, OwnedEphemeral> ephemerals_ ABSL_GUARDED_BY(executor_);
  // Ephemerals still to re-create in this session.
  std::set<std::string> restoring_ ABSL_GUARDED_BY(executor_);
};

}  // namespace

std::unique_ptr<Registry> NewZooKeeperRegistry(const RegistryUri& uri, RegistryOptions options) {
  return std::make_unique<ZooKeeperRegistry>(uri, std::move(options));
}

std::optional<ZooKeeperSessionCredentials> GetZooKeeperSessionCredentials(
    const Registry& registry) {
  const auto* zookeeper = dynamic_cast<const ZooKeeperRegistry*>(&registry);
  if (zookeeper == nullptr) return std::nullopt;
  return zookeeper->credentials();
}

}  // namespace roster::registry
