// MemoryStore::Impl: the in-memory "ZooKeeper server" behind MemoryRegistry, and the Mailbox
// that carries its answers to a client.
//
// The store keeps the node tree (Stats and zxids from one counter, as ZooKeeper maintains
// them), the sessions and their ephemerals, ACLs with digest authentication, and one-shot
// watches. Every client (one MemoryRegistry) is a ClientRec here, with its session state
// machine. Operations run synchronously under the store's lock; their results, the watch events
// they trigger and session events are appended, still under the lock, to each client's Mailbox,
// so every client receives them in the order the store produced them (ZooKeeper's guarantee:
// a client sees a watch event before any result that reflects the change). The mailbox runs
// them on the client's executor once the lock is released.
//
// Internal to registry/memory/. Thread-safety: Impl and Mailbox are thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "registry/internal/watch_backend.h"
#include "registry/memory/memory_registry.h"
#include "registry/registry.h"
#include "util/clock.h"
#include "util/executor.h"

namespace roster::registry::memory_internal {

// ZooKeeper's digest id for "user:password": "user:" + base64(sha1("user:password")).
std::string DigestId(absl::string_view user_password);

// Runs one client's messages on its executor, in the order they were enqueued.
class Mailbox : public std::enable_shared_from_this<Mailbox> {
 public:
  explicit Mailbox(SerialExecutor* executor) : executor_(executor) {}

  // Appends a message. Calls nothing, so the store may call it under its own lock.
  void Enqueue(SerialExecutor::Task message);
  // Makes sure the queued messages will run. Must not be called under the store's lock.
  void Kick();
  // For a client whose executor has been shut down: runs what is left here, and every later
  // message inline in Kick().
  void Detach();

 private:
  // Runs queued messages until the queue is empty.
  void RunQueued();

  absl::Mutex mu_;
  std::deque<SerialExecutor::Task> queue_ ABSL_GUARDED_BY(mu_);
  SerialExecutor* executor_ ABSL_GUARDED_BY(mu_);  // null once detached
  bool drain_scheduled_ ABSL_GUARDED_BY(mu_) = false;
};

// What the store tells a client; always called through the client's mailbox, so on the
// client's executor.
class ClientSink {
 public:
  virtual ~ClientSink() = default;
  // `event.path` is relative to the client's chroot.
  virtual void OnWatchEvent(const internal::WatchEvent& event) = 0;
  virtual void OnSessionEvent(const SessionEvent& event) = 0;
  // The session is suspended: call CheckLoss() once the client's clock reaches `deadline`
  // (suspended since + session timeout).
  virtual void ArmLossTimer(absl::Time deadline) = 0;
};

struct ClientConfig {
  std::string name;    // the registry's name, for messages
  std::string chroot;  // "" or "/a/b"
  std::string digest;  // "user:password" or ""
  absl::Duration session_timeout;
  Clock* clock = nullptr;
};

}  // namespace roster::registry::memory_internal

namespace roster::registry {

class MemoryStore::Impl {
 public:
  using ClientId = int64_t;

  explicit Impl(Clock* clock);

  // Registers a client (a MemoryRegistry), in kConnecting. `sink` and `mailbox` must stay
  // valid until Close(). Paths of its operations are relative to config.chroot.
  ClientId AddClient(memory_internal::ClientConfig config, memory_internal::ClientSink* sink,
                     std::shared_ptr<memory_internal::Mailbox> mailbox);

  // Session lifecycle, per client.
  void Connect(ClientId id);  // kConnecting -> kConnected (session 1)
  void Close(ClientId id);    // ends the session (ephemerals deleted), kClosed; terminal
  SessionInfo Session(ClientId id) const;
  int64_t SessionId(ClientId id) const;
  void Disconnect(ClientId id);
  void Reconnect(ClientId id);
  void ExpireClient(ClientId id);
  // Suspended for the session timeout or longer -> kLost (the session expires server-side).
  // Does nothing otherwise (a timer of an earlier suspension).
  void CheckLoss(ClientId id);
  void FailNextOperation(ClientId id, absl::Status status);
  void DropNextWatchEvents(ClientId id, int count);

  // Server-wide faults (MemoryStore's public hooks).
  void DisconnectAll();
  void ReconnectAll();
  void ExpireSession(int64_t session_id);
  size_t NodeCount() const;

  // Operations. `done` runs through the client's mailbox; inline (FailedPrecondition) if the
  // client is closed.
  void GetData(ClientId id, const std::string& path, bool watch, Callback<Node> done);
  void GetChildren(ClientId id, const std::string& path, bool watch, Callback<Children> done);
  void Exists(ClientId id, const std::string& path, bool watch, Callback<std::optional<Stat>> done);
  void Create(ClientId id, const std::string& path, std::string data, CreateOptions options,
              Callback<std::string> done);
  void Set(ClientId id, const std::string& path, std::string data, int32_t expected_version,
           Callback<Stat> done);
  void Delete(ClientId id, const std::string& path, int32_t expected_version, DoneCallback done);

 private:
  struct NodeRec {
    std::string data;
    Stat stat;
    std::vector<Acl> acl;  // "auth" already expanded to digest ids
    std::set<std::string> children;
  };
  struct EphemeralRec {
    std::string data;
    std::vector<Acl> acl;
  };
  struct ClientRec {
    ClientId id = 0;
    memory_internal::ClientConfig config;
    std::string digest_id;  // "" without credentials
    memory_internal::ClientSink* sink = nullptr;
    std::shared_ptr<memory_internal::Mailbox> mailbox;
    SessionState state = SessionState::kConnecting;
    absl::Time state_since;
    uint64_t session_events = 0;  // session events emitted (SessionEvent::sequence)
    uint64_t session_number = 0;
    int64_t session_id = 0;
    bool session_alive = false;  // the server holds the session
    absl::Time suspended_since;
    std::optional<absl::Status> fail_next;
    int drop_watch_events = 0;
    // Non-sequential ephemerals this client created, by full path, with their last data:
    // re-created in every new session.
    std::map<std::string, EphemeralRec> ephemerals;
  };

  // Runs `op` for client `id` under the lock and delivers its result through the mailbox.
  template <typename T, typename Fn>
  void Run(ClientId id, Callback<T> done, Fn op) ABSL_LOCKS_EXCLUDED(mu_);
  // Runs `fn(client)` under the lock, then kicks the mailboxes it posted to.
  template <typename Fn>
  void WithClient(ClientId id, Fn fn) ABSL_LOCKS_EXCLUDED(mu_);

  ClientRec* FindClient(ClientId id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  const ClientRec* FindClient(ClientId id) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // Enqueues a message for `client` (run after the lock is released).
  void Post(ClientRec& client, SerialExecutor::Task message) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::vector<std::shared_ptr<memory_internal::Mailbox>> TakeKicks()
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  static void KickAll(const std::vector<std::shared_ptr<memory_internal::Mailbox>>& kicks);

  // Session state machine.
  void SetState(ClientRec& client, SessionState state, SessionEventType event, std::string detail)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void NewSession(ClientRec& client) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EndSession(ClientRec& client) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ExpireAndRenew(ClientRec& client) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void DisconnectLocked(ClientRec& client) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReconnectLocked(ClientRec& client) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RecreateEphemerals(ClientRec& client) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RemoveWatches(int64_t session_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // OK, the injected failure, or Unavailable when not connected.
  absl::Status Admit(ClientRec& client) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // The tree. Paths here are full paths (chroot applied).
  std::string FullPath(const ClientRec& client, const std::string& path) const;
  std::string ClientPath(const ClientRec& client, const std::string& full) const;
  absl::StatusOr<std::vector<Acl>> ResolveAcl(const ClientRec& client, const std::string& path,
                                              const std::optional<std::vector<Acl>>& acl) const;
  bool Permitted(const ClientRec& client, const std::vector<Acl>& acl, int32_t perm) const;
  absl::Status CheckPermission(const ClientRec& client, absl::string_view op,
                               const std::string& path, const NodeRec& node, int32_t perm) const;
  absl::StatusOr<std::string> CreateLocked(ClientRec& client, const std::string& path,
                                           const std::string& full, std::string data,
                                           CreateMode mode, const std::vector<Acl>& acl,
                                           int64_t owner) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void DeleteLocked(const std::string& full, int64_t zxid) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Fires the one-shot watches on `full`, notifying the sessions that may read it (`acl`).
  void Fire(std::map<std::string, std::set<int64_t>>& watches, const std::string& full,
            internal::WatchEventType type, const std::vector<Acl>& acl, std::set<int64_t>* notified)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  int64_t zxid_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, NodeRec> nodes_ ABSL_GUARDED_BY(mu_);
  std::map<ClientId, ClientRec> clients_ ABSL_GUARDED_BY(mu_);
  ClientId next_client_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<int64_t, ClientId> sessions_ ABSL_GUARDED_BY(mu_);  // live sessions
  int64_t next_session_ ABSL_GUARDED_BY(mu_) = 1;
  const int64_t session_base_;
  // The server's clock: ctime and mtime (epoch ms) are its calendar time.
  Clock* const clock_;
  // One-shot watches: full path -> session ids. Exists() on a missing node leaves a data watch.
  std::map<std::string, std::set<int64_t>> data_watches_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::set<int64_t>> child_watches_ ABSL_GUARDED_BY(mu_);
  std::vector<std::shared_ptr<memory_internal::Mailbox>> kicks_ ABSL_GUARDED_BY(mu_);
};

}  // namespace roster::registry
