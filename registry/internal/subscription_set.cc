#include "registry/internal/subscription_set.h"

#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "registry/internal/subtree_cache.h"
#include "util/status_macros.h"

namespace roster::registry::internal {
namespace {

// One listener and the handle contract: no call starts once Cancel() has been called, and
// Cancel() waits for a running call unless it is made from that very call.
template <typename Event>
class GuardedListener {
 public:
  explicit GuardedListener(absl::AnyInvocable<void(const Event&)> listener)
      : listener_(std::move(listener)) {}

  // On the registry executor.
  void Call(const Event& event) {
    {
      absl::MutexLock lock(&mu_);
      if (cancelled_) return;
      in_call_ = true;
      caller_ = std::this_thread::get_id();
    }
    listener_(event);
    absl::MutexLock lock(&mu_);
    in_call_ = false;
  }

  void Cancel() {
    absl::MutexLock lock(&mu_);
    cancelled_ = true;
    if (in_call_ && caller_ == std::this_thread::get_id()) return;  // from inside the call
    mu_.Await(absl::Condition(this, &GuardedListener::Idle));
  }

  bool cancelled() const {
    absl::MutexLock lock(&mu_);
    return cancelled_;
  }

 private:
  bool Idle() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !in_call_; }

  mutable absl::Mutex mu_;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool in_call_ ABSL_GUARDED_BY(mu_) = false;
  std::thread::id caller_ ABSL_GUARDED_BY(mu_);
  // Only called on the executor, one call at a time; destroyed with the guard.
  absl::AnyInvocable<void(const Event&)> listener_;
};

using EventGuard = GuardedListener<RegistryEvent>;
using SessionGuard = GuardedListener<SessionEvent>;

}  // namespace

// --- SubscriptionSet ------------------------------------------------------------------------

struct SubscriptionSet::Core {
  Core(SerialExecutor* executor, WatchBackend* backend, int max_in_flight)
      : cache_executor(executor),
        backend(backend),
        max_in_flight(max_in_flight),
        executor(executor) {}

  // Posts `task` unless the set is gone or the executor is shutting down.
  bool Post(SerialExecutor::Task task) {
    absl::MutexLock lock(&mu);
    if (executor == nullptr) return false;
    return executor->Post(std::move(task));
  }

  SerialExecutor* const cache_executor;
  WatchBackend* const backend;
  const int max_in_flight;

  absl::Mutex mu;
  SerialExecutor* executor ABSL_GUARDED_BY(mu);  // null once the set is destroyed
  bool closed ABSL_GUARDED_BY(mu) = false;
  uint64_t next_id ABSL_GUARDED_BY(mu) = 1;
  std::map<uint64_t, std::shared_ptr<EventGuard>> guards ABSL_GUARDED_BY(mu);

  // Confined to the executor (and to the set's destructor, which runs after it stopped).
  std::map<uint64_t, std::unique_ptr<SubtreeCache>> caches ABSL_GUARDED_BY(cache_executor);
};

class SubscriptionSet::Handle final : public Subscription {
 public:
  Handle(std::weak_ptr<Core> core, uint64_t id, std::shared_ptr<EventGuard> guard)
      : core_(std::move(core)), id_(id), guard_(std::move(guard)) {}

  ~Handle() override {
    guard_->Cancel();
    std::shared_ptr<Core> core = core_.lock();
    if (core == nullptr) return;
    {
      absl::MutexLock lock(&core->mu);
      core->guards.erase(id_);
    }
    // The cache is confined to the executor; if that has stopped, the set's destructor
    // destroys it.
    core->Post([weak = core_, id = id_] {
      std::shared_ptr<Core> core = weak.lock();
      if (core == nullptr) return;
      core->cache_executor->AssertCurrent();
      core->caches.erase(id);
    });
  }

  void Resync() override {
    std::shared_ptr<Core> core = core_.lock();
    if (core == nullptr) return;
    core->Post([weak = core_, id = id_] {
      std::shared_ptr<Core> core = weak.lock();
      if (core == nullptr) return;
      core->cache_executor->AssertCurrent();
      auto it = core->caches.find(id);
      if (it != core->caches.end()) it->second->Resync();
    });
  }

 private:
  const std::weak_ptr<Core> core_;
  const uint64_t id_;
  const std::shared_ptr<EventGuard> guard_;
};

SubscriptionSet::SubscriptionSet(SerialExecutor* executor, WatchBackend* backend, int max_in_flight)
    : core_(std::make_shared<Core>(executor, backend, max_in_flight)) {}

SubscriptionSet::~SubscriptionSet() {
  CancelAll();
  {
    absl::MutexLock lock(&core_->mu);
    core_->executor = nullptr;
  }
  // The executor has stopped (see the header), so nothing else touches the caches.
  core_->cache_executor->AssertCurrent();
  core_->caches.clear();
}

absl::StatusOr<std::unique_ptr<Subscription>> SubscriptionSet::Subscribe(std::string root,
                                                                         SubscribeOptions options,
                                                                         EventListener listener) {
  RETURN_IF_ERROR(ValidatePath(root));
  if (options.max_depth < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("subscribe to '", root, "': max_depth ", options.max_depth, " is negative"));
  }
  if (options.max_depth == 0 && !options.include_root) {
    return absl::InvalidArgumentError(
        absl::StrCat("subscribe to '", root, "': max_depth 0 without include_root covers no node"));
  }
  auto guard = std::make_shared<EventGuard>(std::move(listener));
  uint64_t id;
  {
    absl::MutexLock lock(&core_->mu);
    if (core_->closed) {
      return absl::FailedPreconditionError(
          absl::StrCat("subscribe to '", root, "': the registry is shut down"));
    }
    id = core_->next_id++;
    core_->guards.emplace(id, guard);
  }
  const bool posted = core_->Post([weak = std::weak_ptr<Core>(core_), id, root, options, guard] {
    std::shared_ptr<Core> core = weak.lock();
    if (core == nullptr || guard->cancelled()) return;
    core->cache_executor->AssertCurrent();
    auto cache = std::make_unique<SubtreeCache>(
        core->cache_executor, core->backend, root, options, core->max_in_flight,
        [guard](const RegistryEvent& event) { guard->Call(event); });
    SubtreeCache* started = cache.get();
    core->caches.emplace(id, std::move(cache));
    started->Start();
  });
  if (!posted) {
    absl::MutexLock lock(&core_->mu);
    core_->guards.erase(id);
    return absl::FailedPreconditionError(
        absl::StrCat("subscribe to '", root, "': the registry is shut down"));
  }
  return std::unique_ptr<Subscription>(new Handle(core_, id, std::move(guard)));
}

void SubscriptionSet::OnWatchEvent(const WatchEvent& event) {
  core_->cache_executor->AssertCurrent();
  // Handles remove caches in tasks of their own, but iterate over ids to stay safe anyway.
  std::vector<uint64_t> ids;
  ids.reserve(core_->caches.size());
  for (const auto& [id, cache] : core_->caches) ids.push_back(id);
  for (uint64_t id : ids) {
    auto it = core_->caches.find(id);
    if (it != core_->caches.end()) it->second->OnWatchEvent(event);
  }
}

void SubscriptionSet::OnSessionEvent(const SessionEvent& event) {
  core_->cache_executor->AssertCurrent();
  std::vector<uint64_t> ids;
  ids.reserve(core_->caches.size());
  for (const auto& [id, cache] : core_->caches) ids.push_back(id);
  for (uint64_t id : ids) {
    auto it = core_->caches.find(id);
    if (it != core_->caches.end()) it->second->OnSessionEvent(event);
  }
}

void SubscriptionSet::CancelAll() {
  std::map<uint64_t, std::shared_ptr<EventGuard>> guards;
  {
    absl::MutexLock lock(&core_->mu);
    core_->closed = true;
    guards.swap(core_->guards);
  }
  for (auto& [id, guard] : guards) guard->Cancel();
  core_->Post([weak = std::weak_ptr<Core>(core_)] {
    std::shared_ptr<Core> core = weak.lock();
    if (core == nullptr) return;
    core->cache_executor->AssertCurrent();
    core->caches.clear();
  });
}

// --- SessionListenerSet ---------------------------------------------------------------------

struct SessionListenerSet::Core {
  absl::Mutex mu;
  bool closed ABSL_GUARDED_BY(mu) = false;
  uint64_t next_id ABSL_GUARDED_BY(mu) = 1;
  std::map<uint64_t, std::shared_ptr<SessionGuard>> listeners ABSL_GUARDED_BY(mu);
};

class SessionListenerSet::Handle final : public ListenerHandle {
 public:
  Handle(std::weak_ptr<Core> core, uint64_t id, std::shared_ptr<SessionGuard> guard)
      : core_(std::move(core)), id_(id), guard_(std::move(guard)) {}

  ~Handle() override {
    guard_->Cancel();
    std::shared_ptr<SessionGuard> removed;  // destroyed after the lock is released
    if (std::shared_ptr<Core> core = core_.lock()) {
      absl::MutexLock lock(&core->mu);
      auto it = core->listeners.find(id_);
      if (it != core->listeners.end()) {
        removed = std::move(it->second);
        core->listeners.erase(it);
      }
    }
  }

 private:
  const std::weak_ptr<Core> core_;
  const uint64_t id_;
  const std::shared_ptr<SessionGuard> guard_;
};

SessionListenerSet::SessionListenerSet() : core_(std::make_shared<Core>()) {}

SessionListenerSet::~SessionListenerSet() { CancelAll(); }

std::unique_ptr<ListenerHandle> SessionListenerSet::Add(SessionListener listener) {
  auto guard = std::make_shared<SessionGuard>(std::move(listener));
  uint64_t id = 0;
  bool closed;
  {
    absl::MutexLock lock(&core_->mu);
    closed = core_->closed;
    if (!closed) {
      id = core_->next_id++;
      core_->listeners.emplace(id, guard);
    }
  }
  if (closed) guard->Cancel();
  return std::make_unique<Handle>(core_, id, std::move(guard));
}

void SessionListenerSet::Deliver(const SessionEvent& event) {
  std::vector<std::shared_ptr<SessionGuard>> listeners;
  {
    absl::MutexLock lock(&core_->mu);
    listeners.reserve(core_->listeners.size());
    for (const auto& [id, guard] : core_->listeners) listeners.push_back(guard);
  }
  for (const auto& guard : listeners) guard->Call(event);
}

void SessionListenerSet::CancelAll() {
  std::map<uint64_t, std::shared_ptr<SessionGuard>> listeners;
  {
    absl::MutexLock lock(&core_->mu);
    core_->closed = true;
    listeners.swap(core_->listeners);
  }
  for (auto& [id, guard] : listeners) guard->Cancel();
}

}  // namespace roster::registry::internal
