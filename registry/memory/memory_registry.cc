#include "registry/memory/memory_registry.h"

#include <algorithm>
#include <atomic>
#include <utility>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "registry/internal/subscription_set.h"
#include "registry/memory/memory_store_impl.h"
#include "util/executor.h"

namespace roster::registry {

// One client session on a MemoryStore: the registry's executor, its mailbox, its listeners and
// subscriptions. It is the WatchBackend of its own subscriptions and the ClientSink the store
// talks to (always through the mailbox, so on the executor).
class MemoryRegistry::Client final : public internal::WatchBackend,
                                     public memory_internal::ClientSink {
 public:
  Client(MemoryStore::Impl* store, std::string chroot, RegistryOptions options)
      : store_(store),
        options_(Normalized(std::move(options))),
        executor_(options_.name, options_.clock),
        mailbox_(std::make_shared<memory_internal::Mailbox>(&executor_)),
        subscriptions_(&executor_, this, options_.max_in_flight) {
    memory_internal::ClientConfig config;
    config.name = options_.name;
    config.chroot = std::move(chroot);
    config.digest = options_.digest;
    config.session_timeout = options_.session_timeout;
    config.clock = options_.clock;
    id_ = store_->AddClient(std::move(config), this, mailbox_);
  }

  ~Client() override { Shutdown(); }

  absl::Status Start() {
    {
      absl::MutexLock lock(&mu_);
      if (shut_down_) return ShutDownError();
      if (started_) return absl::OkStatus();
      started_ = true;
    }
    executor_.Start();
    store_->Connect(id_);
    return absl::OkStatus();
  }

  void Shutdown() {
    absl::MutexLock shutdown_lock(&shutdown_mu_);
    bool started;
    {
      absl::MutexLock lock(&mu_);
      if (shut_down_) return;
      shut_down_ = true;
      started = started_;
    }
    LOG(INFO) << "registry '" << options_.name << "': shutting down";
    // Ends the session (ephemerals deleted, others' watches fire) and queues kClosed.
    store_->Close(id_);
    if (started) executor_.Drain();  // delivers kClosed
    subscriptions_.CancelAll();
    session_listeners_.CancelAll();
    executor_.Shutdown();
    detached_.store(true);
    // Results of operations that raced with Close() run here.
    mailbox_->Detach();
  }

  SessionInfo session() const { return store_->Session(id_); }

  std::unique_ptr<ListenerHandle> WatchSession(SessionListener listener) {
    return session_listeners_.Add(std::move(listener));
  }

  absl::StatusOr<std::unique_ptr<Subscription>> Subscribe(std::string root,
                                                          SubscribeOptions options,
                                                          EventListener listener) {
    if (IsShutDown()) return ShutDownError();
    return subscriptions_.Subscribe(std::move(root), options, std::move(listener));
  }

  void DoGet(std::string path, bool watch, Callback<Node> done) {
    if (absl::Status usable = Usable(); !usable.ok()) return std::move(done)(usable);
    store_->GetData(id_, path, watch, std::move(done));
  }

  void DoList(std::string path, bool watch, Callback<Children> done) {
    if (absl::Status usable = Usable(); !usable.ok()) return std::move(done)(usable);
    store_->GetChildren(id_, path, watch, std::move(done));
  }

  void DoExists(std::string path, bool watch, Callback<std::optional<registry::Stat>> done) {
    if (absl::Status usable = Usable(); !usable.ok()) return std::move(done)(usable);
    store_->Exists(id_, path, watch, std::move(done));
  }

  void Create(std::string path, std::string data, CreateOptions options,
              Callback<std::string> done) {
    if (absl::Status usable = Usable(); !usable.ok()) return std::move(done)(usable);
    store_->Create(id_, path, std::move(data), std::move(options), std::move(done));
  }

  void Set(std::string path, std::string data, int32_t expected_version,
           Callback<registry::Stat> done) {
    if (absl::Status usable = Usable(); !usable.ok()) return std::move(done)(usable);
    store_->Set(id_, path, std::move(data), expected_version, std::move(done));
  }

  void Delete(std::string path, int32_t expected_version, DoneCallback done) {
    if (absl::Status usable = Usable(); !usable.ok()) return std::move(done)(usable);
    store_->Delete(id_, path, expected_version, std::move(done));
  }

  // Fault hooks.
  void Disconnect() { store_->Disconnect(id_); }
  void Reconnect() { store_->Reconnect(id_); }
  void ExpireSession() { store_->ExpireClient(id_); }
  void FailNextOperation(absl::Status status) { store_->FailNextOperation(id_, std::move(status)); }
  void DropNextWatchEvents(int count) { store_->DropNextWatchEvents(id_, count); }
  int64_t session_id() const { return store_->SessionId(id_); }
  bool OnExecutorThread() const { return executor_.IsCurrent(); }

  // WatchBackend, for the subscriptions.
  void GetData(const std::string& path, bool watch, Callback<Node> done) override {
    DoGet(path, watch, std::move(done));
  }
  void GetChildren(const std::string& path, bool watch, Callback<Children> done) override {
    DoList(path, watch, std::move(done));
  }
  void Exists(const std::string& path, bool watch,
              Callback<std::optional<registry::Stat>> done) override {
    DoExists(path, watch, std::move(done));
  }
  uint64_t CurrentSession() const override { return delivered_session_.load(); }

  // ClientSink: on the executor.
  void OnWatchEvent(const internal::WatchEvent& event) override {
    executor_.AssertCurrent();
    if (detached_.load()) return;
    subscriptions_.OnWatchEvent(event);
  }

  void OnSessionEvent(const SessionEvent& event) override {
    executor_.AssertCurrent();
    if (detached_.load()) return;
    // Stamped on subscription events from here on (see registry.h: never an older session
    // after a newer one).
    if (event.session > delivered_session_.load()) delivered_session_.store(event.session);
    session_listeners_.Deliver(event);
    subscriptions_.OnSessionEvent(event);
  }

  void ArmLossTimer(absl::Time deadline) override {
    executor_.AssertCurrent();
    if (detached_.load()) return;
    // On the injected clock, as the store measures the suspension: a test drives the loss by
    // advancing its FakeClock past the session timeout.
    executor_.PostAfter(deadline - options_.clock->Now(), [this] { store_->CheckLoss(id_); });
  }

 private:
  static RegistryOptions Normalized(RegistryOptions options) {
    if (options.clock == nullptr) options.clock = Clock::Real();
    if (options.max_in_flight < 1) options.max_in_flight = 1;
    return options;
  }

  bool IsShutDown() const {
    absl::MutexLock lock(&mu_);
    return shut_down_;
  }

  // Operations need a started, not shut down registry. Before Start() the executor does not
  // run, so a result could never be delivered (and a synchronous call would hang): fail inline.
  absl::Status Usable() const {
    absl::MutexLock lock(&mu_);
    if (shut_down_) return ShutDownError();
    if (!started_) {
      return absl::FailedPreconditionError(
          absl::StrCat("registry '", options_.name, "' is not started (call Start() first)"));
    }
    return absl::OkStatus();
  }

  absl::Status ShutDownError() const {
    return absl::FailedPreconditionError(
        absl::StrCat("registry '", options_.name, "' is shut down"));
  }

  MemoryStore::Impl* const store_;
  const RegistryOptions options_;
  SerialExecutor executor_;
  const std::shared_ptr<memory_internal::Mailbox> mailbox_;
  internal::SessionListenerSet session_listeners_;
  // Destroyed before the executor (declared after it), once the executor has stopped.
  internal::SubscriptionSet subscriptions_;
  MemoryStore::Impl::ClientId id_ = 0;
  std::atomic<uint64_t> delivered_session_{0};
  std::atomic<bool> detached_{false};

  mutable absl::Mutex mu_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  absl::Mutex shutdown_mu_;  // serialises Shutdown(): a second call returns once it is done
};

MemoryRegistry::MemoryRegistry(std::shared_ptr<MemoryStore> store, std::string chroot,
                               RegistryOptions options)
    : store_(std::move(store)),
      client_(std::make_unique<Client>(store_->impl(), std::move(chroot), std::move(options))) {}

MemoryRegistry::~MemoryRegistry() { Shutdown(); }

absl::Status MemoryRegistry::Start() { return client_->Start(); }

void MemoryRegistry::Shutdown() { client_->Shutdown(); }

SessionInfo MemoryRegistry::session() const { return client_->session(); }

std::unique_ptr<ListenerHandle> MemoryRegistry::WatchSession(SessionListener listener) {
  return client_->WatchSession(std::move(listener));
}

absl::StatusOr<std::unique_ptr<Subscription>> MemoryRegistry::Subscribe(std::string root,
                                                                        SubscribeOptions options,
                                                                        EventListener listener) {
  return client_->Subscribe(std::move(root), options, std::move(listener));
}

void MemoryRegistry::GetAsync(std::string path, Callback<Node> done) {
  client_->DoGet(std::move(path), /*watch=*/false, std::move(done));
}

void MemoryRegistry::GetChildrenAsync(std::string path, Callback<Children> done) {
  client_->DoList(std::move(path), /*watch=*/false, std::move(done));
}

void MemoryRegistry::ExistsAsync(std::string path, Callback<std::optional<Stat>> done) {
  client_->DoExists(std::move(path), /*watch=*/false, std::move(done));
}

void MemoryRegistry::CreateAsync(std::string path, std::string data, CreateOptions options,
                                 Callback<std::string> done) {
  client_->Create(std::move(path), std::move(data), std::move(options), std::move(done));
}

void MemoryRegistry::SetAsync(std::string path, std::string data, int32_t expected_version,
                              Callback<Stat> done) {
  client_->Set(std::move(path), std::move(data), expected_version, std::move(done));
}

void MemoryRegistry::DeleteAsync(std::string path, int32_t expected_version, DoneCallback done) {
  client_->Delete(std::move(path), expected_version, std::move(done));
}

void MemoryRegistry::Disconnect() { client_->Disconnect(); }

void MemoryRegistry::Reconnect() { client_->Reconnect(); }

void MemoryRegistry::ExpireSession() { client_->ExpireSession(); }

void MemoryRegistry::FailNextOperation(absl::Status status) {
  client_->FailNextOperation(std::move(status));
}

void MemoryRegistry::DropNextWatchEvents(int count) { client_->DropNextWatchEvents(count); }

int64_t MemoryRegistry::session_id() const { return client_->session_id(); }

bool MemoryRegistry::OnExecutorThread() const { return client_->OnExecutorThread(); }

}  // namespace roster::registry
