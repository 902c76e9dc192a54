#include "registry/internal/subtree_cache.h"

#include <algorithm>
#include <deque>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "glog/logging.h"

namespace roster::registry::internal {
namespace {

constexpr absl::Duration kMinRetryDelay = absl::Milliseconds(100);
constexpr absl::Duration kMaxRetryDelay = absl::Seconds(5);

enum class ReadKind {
  kGetData,
  kGetChildren,
  kExistsForStat,  // GetData was denied: the stat (and a data watch) come from Exists()
  kExistsForRoot,  // the root is missing: Exists() arms a watch for its creation
};

// One backend read, queued until a slot among `max_in_flight` is free.
struct Read {
  Read(ReadKind kind, std::string path, uint64_t round, bool watch_triggered = false)
      : kind(kind), path(std::move(path)), round(round), watch_triggered(watch_triggered) {}

  ReadKind kind;
  std::string path;
  // The round this read belongs to (counts toward its completion); 0 for reads that follow a
  // watch event.
  uint64_t round;
  // Issued because a watch fired on `path`: while it is outstanding, changes to `path` are
  // real-time, not corrections.
  bool watch_triggered;
  // Follows a read whose changes were real-time, so its own changes are too.
  bool realtime = false;
  // kExistsForStat: why GetData failed, reported as the node's read_error.
  absl::Status read_error;
};

}  // namespace

struct SubtreeCache::State : public std::enable_shared_from_this<State> {
  // What the cache knows about one path. Entries exist for the root and for every child name
  // of an applied listing; `present` ones have been reported (kAdded) and not removed since.
  struct Entry {
    int depth = 0;
    bool present = false;
    Node node;
    absl::Status read_error;
    // Listing state, for the root and non-ephemeral nodes above max_depth.
    bool listed = false;
    int64_t list_czxid = 0;   // the node's czxid in the last applied listing
    int64_t list_pzxid = -1;  // the node's pzxid in the last applied listing
    std::set<std::string> children;
  };

  State(SerialExecutor* executor, WatchBackend* backend, std::string root, SubscribeOptions options,
        int max_in_flight, EventListener listener)
      : executor(executor),
        backend(backend),
        root(std::move(root)),
        prefix(this->root == "/" ? "/" : this->root + "/"),
        options(options),
        max_in_flight(std::max(1, max_in_flight)),
        listener(std::move(listener)) {
    entries[this->root].depth = 0;
  }

  // --- Rounds -------------------------------------------------------------------------------

  void StartRound() ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor) {
    if (cancelled) return;
    CancelRetry();
    ++round;
    round_outstanding = 0;
    round_failed = false;
    round_done = false;
    round_root_error = absl::OkStatus();
    // Queued reads of superseded rounds are redundant: this round re-reads everything.
    queue.erase(std::remove_if(queue.begin(), queue.end(),
                               [&](const Read& r) {
                                 executor->AssertCurrent();  // a lambda: analysed on its own
                                 if (r.round == 0 || r.round == round) return false;
                                 ReleaseWatchPending(r);
                                 return true;
                               }),
                queue.end());
    VLOG(1) << "subscription '" << root << "': round " << round << " starts";
    ReadRoot(round, /*watch_triggered=*/false);
    MaybeFinishRound();
  }

  void ReadRoot(uint64_t read_round, bool watch_triggered) ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor) {
    if (options.include_root) {
      Enqueue(Read(ReadKind::kGetData, root, read_round, watch_triggered));
    }
    if (options.max_depth >= 1) {
      Enqueue(Read(ReadKind::kGetChildren, root, read_round, watch_triggered));
    }
  }

  void MaybeFinishRound() ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor) {
    if (cancelled || round_done || round_outstanding > 0) return;
    round_done = true;
    if (round_failed) {
      VLOG(1) << "subscription '" << root << "': round " << round << " failed";
      if (connected) ScheduleRetry();
      return;
    }
    retry_delay = kMinRetryDelay;
    synced_once = true;
    const uint64_t session = backend->CurrentSession();
    auto snapshot = std::make_shared<std::vector<RegistryEvent>>();
    for (const auto& [path, entry] : entries) {
      if (!entry.present || !Reported(entry)) continue;
      snapshot->push_back(MakeEvent(EventType::kAdded, entry, /*from_resync=*/false));
      snapshot->back().session = session;
    }
    RegistryEvent synced;
    synced.type = EventType::kSynced;
    synced.path = root;
    synced.read_error = round_root_error;
    synced.snapshot = std::move(snapshot);
    VLOG(1) << "subscription '" << root << "': round " << round << " synced, "
            << synced.snapshot->size() << " nodes";
    Emit(std::move(synced));
  }

  void ScheduleRetry() ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor) {
    if (cancelled || retry_timer != 0) return;
    const absl::Duration delay = retry_delay;
    retry_delay = std::min(retry_delay * 2, kMaxRetryDelay);
    LOG(WARNING) << "subscription '" << root << "': re-reading in " << absl::FormatDuration(delay)
                 << " after a failed read";
    retry_timer = executor->PostAfter(delay, [weak = weak_from_this()] {
      std::shared_ptr<State> self = weak.lock();
      if (self == nullptr) return;
      self->executor->AssertCurrent();
      self->retry_timer = 0;
      // Disconnected: the round after the reconnect takes over.
      if (!self->cancelled && self->connected) self->StartRound();
    });
  }

  void CancelRetry() ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor) {
    if (retry_timer != 0) {
      executor->Cancel(retry_timer);
      retry_timer = 0;
    }
  }

  // --- Reads --------------------------------------------------------------------------------

  void Enqueue(Read read) ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor) {
    if (cancelled) return;
    if (read.round != 0 && read.round == round && !round_done) ++round_outstanding;
    if (read.watch_triggered) ++watch_pending[read.path];
    queue.push_back(std::move(read));
    Pump();
  }

  void Pump() ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor) {
    if (issuing) return;  // the loop below is already running further up the stack
    issuing = true;
    while (!cancelled && in_flight < max_in_flight && !queue.empty()) {
      Read read = std::move(queue.front());
      queue.pop_front();
      ++in_flight;
      Issue(std::move(read));
    }
    issuing = false;
  }

  void Issue(Read read) ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor) {
    const std::string path = read.path;
    switch (read.kind) {
      case ReadKind::kGetData:
        backend->GetData(path, /*watch=*/true, Completion<Node>(std::move(read)));
        break;
      case ReadKind::kGetChildren:
        backend->GetChildren(path, /*watch=*/true, Completion<Children>(std::move(read)));
        break;
      case ReadKind::kExistsForStat:
      case ReadKind::kExistsForRoot:
        backend->Exists(path, /*watch=*/true, Completion<std::optional<Stat>>(std::move(read)));
        break;
    }
  }

  // Wraps a backend completion: ignored once the cache is gone, and deferred to a fresh
  // executor task if the backend completes inline (from inside Issue()).
  template <typename T>
  Callback<T> Completion(Read read) ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor) {
    return [weak = weak_from_this(), read = std::move(read)](absl::StatusOr<T> result) mutable {
      std::shared_ptr<State> self = weak.lock();
      if (self == nullptr) return;
      self->executor->AssertCurrent();
      if (self->issuing) {
        self->executor->Post([weak, read = std::move(read), result = std::move(result)]() mutable {
          if (std::shared_ptr<State> self = weak.lock()) {
            self->executor->AssertCurrent();
            self->Complete(std::move(read), std::move(result));
          }
        });
        return;
      }
      self->Complete(std::move(read), std::move(result));
    };
  }

  template <typename T>
  void Complete(Read read, absl::StatusOr<T> result) ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor) {
    --in_flight;
    if (cancelled) return;
    Handle(read, std::move(result));
    ReleaseWatchPending(read);
    if (read.round != 0 && read.round == round && !round_done) {
      --round_outstanding;
      MaybeFinishRound();
    }
    Pump();
  }

  void Handle(const Read& read, absl::StatusOr<Node> result)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor) {
    auto it = entries.find(read.path);
    if (it == entries.end()) return;  // removed meanwhile: no longer expected
    if (result.ok()) {
      ApplyNode(read, *result, absl::OkStatus());
    } else if (absl::IsNotFound(result.status())) {
      NodeGone(read);
    } else if (absl::IsPermissionDenied(result.status())) {
      Read exists = Derived(read, ReadKind::kExistsForStat, read.path);
      exists.watch_triggered = read.watch_triggered;
      exists.read_error = result.status();
      Enqueue(std::move(exists));
    } else {
      ReadFailed(read, result.status());
    }
  }

  void Handle(const Read& read, absl::StatusOr<std::optional<Stat>> result)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor) {
    if (!result.ok()) {
      ReadFailed(read, result.status());
      return;
    }
    if (read.kind == ReadKind::kExistsForRoot) {
      // The root appeared between the failed read and Exists(): read it now.
      if (result->has_value()) ReadRoot(read.round, /*watch_triggered=*/false);
      return;
    }
    if (entries.find(read.path) == entries.end()) return;
    if (!result->has_value()) {
      NodeGone(read);
      return;
    }
    Node node;
    node.path = read.path;
    node.stat = **result;
    ApplyNode(read, node, read.read_error);
  }

  void Handle(const Read& read, absl::StatusOr<Children> result)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor) {
    auto it = entries.find(read.path);
    if (it == entries.end()) return;
    if (!result.ok()) {
      if (absl::IsNotFound(result.status())) {
        if (read.path == root) RootListable(read);
        NodeGone(read);
      } else if (absl::IsPermissionDenied(result.status())) {
        if (read.path == root) {
          RootDenied(read, result.status());
        } else {
          LOG(WARNING) << "subscription '" << root << "': cannot list '" << read.path
                       << "': " << result.status();
        }
      } else {
        ReadFailed(read, result.status());
      }
      return;
    }
    Entry& entry = it->second;
    const bool is_root = read.path == root;
    if (is_root) RootListable(read);
    if (!is_root && !entry.present) return;  // listed again once its data is read
    const Stat& stat = result->stat;
    if (!is_root && stat.czxid != entry.node.stat.czxid) {
      // A listing of another incarnation: the data read sorts the incarnation out first.
      Enqueue(Derived(read, ReadKind::kGetData, read.path));
      return;
    }
    const bool correction = IsCorrection(read);
    if (is_root && entry.listed && stat.czxid != entry.list_czxid) {
      // The root was deleted and re-created since the last listing (its deletion missed).
      RemoveSubtree(root, correction, /*keep_node=*/true);
    }
    if (entry.listed && stat.pzxid < entry.list_pzxid) return;  // older than what we applied
    entry.listed = true;
    entry.list_czxid = stat.czxid;
    entry.list_pzxid = stat.pzxid;

    const std::set<std::string> names(result->names.begin(), result->names.end());
    std::vector<std::string> gone;
    for (const std::string& name : entry.children) {
      if (names.count(name) == 0) gone.push_back(name);
    }
    const int child_depth = entry.depth + 1;
    const std::string parent = read.path;
    // `entry` may be invalidated below (RemoveSubtree erases map entries, Emit calls out).
    for (const std::string& name : gone) {
      RemoveSubtree(JoinPath(parent, name), correction, /*keep_node=*/false);
    }
    for (const std::string& name : names) {
      if (cancelled) return;
      auto parent_it = entries.find(parent);
      if (parent_it == entries.end()) return;
      const std::string child = JoinPath(parent, name);
      Read data = Derived(read, ReadKind::kGetData, child);
      if (parent_it->second.children.insert(name).second) {
        entries[child].depth = child_depth;
        Enqueue(std::move(data));
      } else if (read.round != 0) {
        Enqueue(std::move(data));  // a round re-reads every node
      }
    }
  }

  // The root cannot be listed: what is below it stays as last known, and this round's kSynced
  // says so. Logged when the denial starts, not on every round.
  void RootDenied(const Read& read, const absl::Status& status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor) {
    if (read.round != 0 && read.round == round && !round_done) round_root_error = status;
    if (root_list_error.ok()) {
      LOG(WARNING) << "subscription '" << root << "': cannot list the root: " << status
                   << "; what is below it is unknown until it can be read";
    }
    root_list_error = status;
  }

  void RootListable(const Read& read) ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor) {
    if (root_list_error.ok()) return;
    LOG(INFO) << "subscription '" << root << "': the root can be read again (" << read.path << ")";
    root_list_error = absl::OkStatus();
  }

  // A follow-up read on behalf of `cause`: same round, real-time if `cause`'s changes are.
  Read Derived(const Read& cause, ReadKind kind, std::string path)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor) {
    Read read(kind, std::move(path), cause.round);
    read.realtime = cause.realtime || cause.round == 0 || Pending(cause.path);
    return read;
  }

  void ReadFailed(const Read& read, const absl::Status& status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor) {
    LOG(WARNING) << "subscription '" << root << "': reading '" << read.path
                 << "' failed: " << status;
    if (read.round != 0) {
      if (read.round == round && !round_done) round_failed = true;
    } else if (connected) {
      // This read was to re-arm a watch: without it changes go unseen until a full re-read.
      ScheduleRetry();
    }
  }

  void ReleaseWatchPending(const Read& read) ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor) {
    if (!read.watch_triggered) return;
    auto it = watch_pending.find(read.path);
    if (it != watch_pending.end() && --it->second == 0) watch_pending.erase(it);
  }

  // --- Applying results ---------------------------------------------------------------------

  void ApplyNode(const Read& read, const Node& node, const absl::Status& read_error)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor) {
    auto it = entries.find(read.path);
    if (it == entries.end()) return;
    const bool correction = IsCorrection(read);
    const bool is_root = read.path == root;
    bool reincarnated = false;
    if (it->second.present && it->second.node.stat.czxid != node.stat.czxid) {
      if (node.stat.czxid < it->second.node.stat.czxid) return;  // an older incarnation
      RemoveSubtree(read.path, correction, /*keep_node=*/true);
      reincarnated = true;
      it = entries.find(read.path);
      if (it == entries.end() || cancelled) return;
    }
    Entry& entry = it->second;
    const bool listable =
        node.stat.ephemeral_owner == 0 && entry.depth < options.max_depth && read_error.ok();
    if (!entry.present) {
      entry.present = true;
      entry.node = node;
      entry.node.path = read.path;
      entry.read_error = read_error;
      // The root's listing is read alongside its data (ReadRoot), except after a
      // re-incarnation found by a data read.
      if (listable && (!is_root || reincarnated)) {
        Enqueue(Derived(read, ReadKind::kGetChildren, read.path));
      }
      if (Reported(entry)) Emit(MakeEvent(EventType::kAdded, entry, correction));
      return;
    }
    const Stat& cached = entry.node.stat;
    const bool changed =
        node.stat.mzxid > cached.mzxid ||
        (node.stat.mzxid == cached.mzxid && read_error.code() != entry.read_error.code());
    // A round re-validates every listing.
    const bool relist = listable && !is_root && read.round != 0;
    if (changed) {
      entry.node = node;
      entry.node.path = read.path;
      entry.read_error = read_error;
    }
    RegistryEvent updated;
    if (changed && Reported(entry)) updated = MakeEvent(EventType::kUpdated, entry, correction);
    if (relist) Enqueue(Derived(read, ReadKind::kGetChildren, read.path));
    if (changed && Reported(entry)) Emit(std::move(updated));
  }

  // `read` found its path gone.
  void NodeGone(const Read& read) ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor) {
    const bool correction = IsCorrection(read);
    if (read.path == root) {
      RemoveSubtree(root, correction, /*keep_node=*/true);
      Enqueue(Derived(read, ReadKind::kExistsForRoot, root));
    } else {
      RemoveSubtree(read.path, correction, /*keep_node=*/false);
    }
  }

  // Forgets `path` and everything below it, reporting kRemoved deepest first. With
  // `keep_node` the entry of `path` itself stays (reset), as the root's always does.
  void RemoveSubtree(const std::string& path, bool correction, bool keep_node)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor) {
    auto self_it = entries.find(path);
    if (self_it == entries.end()) return;
    std::vector<const Entry*> removed;
    const std::string below = path == "/" ? "/" : path + "/";
    std::vector<std::string> erase;
    for (auto it = entries.lower_bound(below);
         it != entries.end() && absl::StartsWith(it->first, below); ++it) {
      if (it->first == path) continue;
      erase.push_back(it->first);
    }
    std::vector<RegistryEvent> events;
    for (const std::string& p : erase) {
      const Entry& e = entries[p];
      if (e.present && Reported(e)) events.push_back(MakeEvent(EventType::kRemoved, e, correction));
    }
    std::stable_sort(events.begin(), events.end(),
                     [](const RegistryEvent& a, const RegistryEvent& b) {
                       return Depth(a.path) > Depth(b.path);
                     });
    Entry& self = self_it->second;
    if (self.present && Reported(self)) {
      events.push_back(MakeEvent(EventType::kRemoved, self, correction));
    }
    for (const std::string& p : erase) entries.erase(p);
    if (keep_node) {
      const int depth = self.depth;
      self = Entry();
      self.depth = depth;
    } else {
      entries.erase(self_it);
      auto parent = entries.find(ParentPath(path));
      if (parent != entries.end()) parent->second.children.erase(BaseName(path));
    }
    for (RegistryEvent& event : events) Emit(std::move(event));
  }

  // --- Events -------------------------------------------------------------------------------

  bool InSubtree(const std::string& path) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor) {
    if (path == root) return true;
    if (!absl::StartsWith(path, prefix)) return false;
    return Depth(path) - Depth(root) <= options.max_depth;
  }

  static int Depth(absl::string_view path) {
    if (path == "/") return 0;
    return static_cast<int>(std::count(path.begin(), path.end(), '/'));
  }

  void OnWatchEvent(const WatchEvent& event) ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor) {
    if (cancelled || !InSubtree(event.path)) return;
    const bool is_root = event.path == root;
    auto it = entries.find(event.path);
    switch (event.type) {
      case WatchEventType::kCreated:
        if (is_root) {
          ReadRoot(0, /*watch_triggered=*/true);
        } else if (it != entries.end() && !it->second.present) {
          Enqueue(Read(ReadKind::kGetData, event.path, 0, /*watch_triggered=*/true));
        }
        break;
      case WatchEventType::kDeleted:
        if (it == entries.end()) break;
        if (is_root) {
          RemoveSubtree(root, /*correction=*/false, /*keep_node=*/true);
          Enqueue(Read(ReadKind::kExistsForRoot, root, 0));
        } else {
          RemoveSubtree(event.path, /*correction=*/false, /*keep_node=*/false);
        }
        break;
      case WatchEventType::kDataChanged:
        // Also while the node's first read is in flight (the entry not present yet): where a
        // backend's events can overtake its read answers (etcd's watch stream and its reads
        // are separate calls, watch_backend.h), that read may have started before the change
        // and answer with the data before it. A read queued now starts after it.
        if (it != entries.end() && (!is_root || options.include_root)) {
          Enqueue(Read(ReadKind::kGetData, event.path, 0, /*watch_triggered=*/true));
        }
        break;
      case WatchEventType::kChildrenChanged:
        if (it != entries.end() && it->second.depth < options.max_depth &&
            (is_root || it->second.present)) {
          Enqueue(Read(ReadKind::kGetChildren, event.path, 0, /*watch_triggered=*/true));
        }
        break;
    }
  }

  void OnSessionEvent(const SessionEvent& event) ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor) {
    if (cancelled) return;
    switch (event.type) {
      case SessionEventType::kConnected:
      case SessionEventType::kReconnected:
        // Watches may have been lost (always, with a new session): re-read everything.
        connected = true;
        StartRound();
        break;
      case SessionEventType::kSuspended:
      case SessionEventType::kLost:
      case SessionEventType::kExpired:
      case SessionEventType::kAuthFailed:
      case SessionEventType::kClosed:
        connected = false;
        break;
    }
  }

  void Cancel() ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor) {
    cancelled = true;
    CancelRetry();
    queue.clear();
  }

  // --- Helpers ------------------------------------------------------------------------------

  bool Pending(const std::string& path) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor) {
    return watch_pending.count(path) > 0;
  }

  // Changes found by a full re-read are corrections, except during the first load and for
  // paths whose watch fired (their re-read is under way: the change is real-time).
  bool IsCorrection(const Read& read) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor) {
    return read.round != 0 && synced_once && !read.realtime && !Pending(read.path);
  }

  // The root is reported only with include_root.
  bool Reported(const Entry& entry) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor) {
    return entry.depth > 0 || options.include_root;
  }

  RegistryEvent MakeEvent(EventType type, const Entry& entry, bool from_resync) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor) {
    RegistryEvent event;
    event.type = type;
    event.path = entry.node.path;
    event.data = entry.node.data;
    event.stat = entry.node.stat;
    event.read_error = entry.read_error;
    event.from_resync = from_resync;
    return event;
  }

  void Emit(RegistryEvent event) ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor) {
    if (cancelled) return;
    event.session = backend->CurrentSession();
    listener(event);
  }

  SerialExecutor* const executor;
  WatchBackend* const backend;
  const std::string root;
  const std::string prefix;  // paths strictly below the root start with it
  const SubscribeOptions options;
  const int max_in_flight;
  EventListener listener ABSL_GUARDED_BY(executor);

  bool cancelled ABSL_GUARDED_BY(executor) = false;
  // As far as session events tell; optimistic until the first one.
  bool connected ABSL_GUARDED_BY(executor) = true;
  std::map<std::string, Entry> entries ABSL_GUARDED_BY(executor);
  // Outstanding watch-triggered reads, by path.
  std::map<std::string, int> watch_pending ABSL_GUARDED_BY(executor);

  std::deque<Read> queue ABSL_GUARDED_BY(executor);
  int in_flight ABSL_GUARDED_BY(executor) = 0;
  bool issuing ABSL_GUARDED_BY(executor) = false;

  uint64_t round ABSL_GUARDED_BY(executor) = 0;  // the latest round; only it can deliver kSynced
  int64_t round_outstanding ABSL_GUARDED_BY(executor) = 0;
  bool round_failed ABSL_GUARDED_BY(executor) = false;
  bool round_done ABSL_GUARDED_BY(executor) = true;
  bool synced_once ABSL_GUARDED_BY(executor) = false;
  // Why this round could not list the root (PermissionDenied), delivered with its kSynced.
  absl::Status round_root_error ABSL_GUARDED_BY(executor);
  // Why the last listing of the root failed, if it did (for logging changes only).
  absl::Status root_list_error ABSL_GUARDED_BY(executor);
  absl::Duration retry_delay ABSL_GUARDED_BY(executor) = kMinRetryDelay;
  SerialExecutor::TimerId retry_timer ABSL_GUARDED_BY(executor) = 0;
};

SubtreeCache::SubtreeCache(SerialExecutor* executor, WatchBackend* backend, std::string root,
                           SubscribeOptions options, int max_in_flight, EventListener listener)
    : root_(std::move(root)),
      state_(std::make_shared<State>(executor, backend, root_, options, max_in_flight,
                                     std::move(listener))) {}

SubtreeCache::~SubtreeCache() { Cancel(); }

void SubtreeCache::Start() {
  std::shared_ptr<State> state = state_;  // the listener may destroy `this`
  state->executor->AssertCurrent();
  state->StartRound();
}

void SubtreeCache::Resync() {
  std::shared_ptr<State> state = state_;
  state->executor->AssertCurrent();
  state->StartRound();
}

void SubtreeCache::OnWatchEvent(const WatchEvent& event) {
  std::shared_ptr<State> state = state_;
  state->executor->AssertCurrent();
  state->OnWatchEvent(event);
}

void SubtreeCache::OnSessionEvent(const SessionEvent& event) {
  std::shared_ptr<State> state = state_;
  state->executor->AssertCurrent();
  state->OnSessionEvent(event);
}

void SubtreeCache::Cancel() {
  state_->executor->AssertCurrent();
  state_->Cancel();
}

}  // namespace roster::registry::internal
