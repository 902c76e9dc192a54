// The registry: the only way roster sees ZooKeeper, etcd or DolphinScheduler's JDBC registry.
//
// `Registry` is a hierarchical store of nodes with ZooKeeper's semantics: a session owns the
// ephemeral nodes it created, every node has a Stat (creation and modification zxids, version),
// and a subscription reports what exists below a path and then every change. Implementations:
// ZooKeeperRegistry (the C client, `zk://` URIs), EtcdRegistry (etcd's v3 gRPC API,
// `etcd://`), JdbcRegistry (DolphinScheduler 3.3's registry tables, read-only, `jdbc:`) and
// MemoryRegistry (embedded, `memory://`), which is also the fake used by unit tests. Pick one
// with NewRegistry() in registry/registry_factory.h; docs/registries.md says what each
// supports.
//
// Concurrency contract, for every implementation:
//  - All methods are safe to call from any thread.
//  - Listeners and async callbacks run on the registry's own serial executor, one at a time,
//    never on a ZooKeeper thread. Events of one subscription arrive in order: each node's in
//    the order of its changes. Different nodes' events may come in another order than their
//    changes (a new node is listed, then read; a changed one is only read).
//  - Listeners must not block: a blocking call there stalls every subscription.
//  - The synchronous wrappers (Get, Create, ...) block the caller until the operation completes;
//    they must not be called from a listener or callback (that would deadlock the executor).
//  - Every event carries the session it came from. A new session (after expiry) has a larger
//    number; events of an older session are never delivered after those of a newer one.
//  - Call Start() before any operation. Operations issued earlier are not portable:
//    MemoryRegistry fails them at once (inline) with FailedPrecondition; ZooKeeperRegistry
//    holds them and runs them once started and connected (Cancelled if Shutdown() comes
//    first). WatchSession() and Subscribe() may be called before Start() on both: their
//    events begin with the connection.
//  - Reads are pipelined. RegistryOptions::max_in_flight bounds the reads each subscription
//    keeps outstanding; ZooKeeperRegistry also bounds every request it has outstanding at the
//    server (operations, subscription reads, ephemeral re-creation) by the same number,
//    registry-wide, queueing the rest in order. MemoryRegistry has no registry-wide bound.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace roster::registry {

// A node's metadata, as ZooKeeper's Stat. Zxids order every change in the ensemble.
struct Stat {
  int64_t czxid = 0;            // zxid of the change that created the node
  int64_t mzxid = 0;            // zxid of the last data change
  int64_t pzxid = 0;            // zxid of the last change to the node's children
  int64_t ctime_ms = 0;         // creation time, the server's clock, epoch ms
  int64_t mtime_ms = 0;         // last modification time, the server's clock, epoch ms
  int32_t version = 0;          // number of data changes
  int32_t cversion = 0;         // number of child changes
  int64_t ephemeral_owner = 0;  // owning session id; 0 for persistent nodes
  int32_t data_length = 0;
  int32_t num_children = 0;

  friend bool operator==(const Stat& a, const Stat& b);
  friend bool operator!=(const Stat& a, const Stat& b) { return !(a == b); }
};

// A node: its absolute path (within the registry's root), payload and metadata.
struct Node {
  std::string path;
  std::string data;
  Stat stat;
};

// The children of a node, by name (not path), sorted; `stat` is the parent's.
struct Children {
  std::vector<std::string> names;
  Stat stat;
};

enum class CreateMode {
  kPersistent,
  kEphemeral,             // deleted when the creating session ends
  kPersistentSequential,  // a 10-digit, ever-increasing suffix is appended to the name
  kEphemeralSequential,
};

// One access-control entry, as ZooKeeper's ACL.
struct Acl {
  enum Perm : int32_t {
    kRead = 1,
    kWrite = 2,
    kCreate = 4,
    kDelete = 8,
    kAdmin = 16,
    kAll = 31,
  };
  int32_t perms = kAll;
  std::string scheme;  // "world", "auth", "digest", "ip"
  std::string id;      // "anyone", "" (auth), "user:base64(sha1(user:password))", ...

  // world:anyone with every permission.
  static std::vector<Acl> Open();
  // Every permission for the authenticated creator only (ZooKeeper's CREATOR_ALL_ACL); what
  // DolphinScheduler uses when a digest is configured.
  static std::vector<Acl> CreatorAll();

  friend bool operator==(const Acl& a, const Acl& b) {
    return a.perms == b.perms && a.scheme == b.scheme && a.id == b.id;
  }
};

struct CreateOptions {
  CreateMode mode = CreateMode::kPersistent;
  // Unset: the registry's default, which is CreatorAll() when the registry has digest
  // credentials and Open() otherwise.
  std::optional<std::vector<Acl>> acl;
  // Create missing ancestors as persistent nodes (with the same ACL) first.
  bool create_parents = false;
};

// Session lifecycle. A registry starts kConnecting, and is kClosed after Shutdown().
enum class SessionState {
  kConnecting,  // no session yet
  kConnected,   // session established and connected
  kSuspended,   // connection lost; the session may still be alive on the server
  kLost,        // suspended for longer than the session timeout: the server has, or will
                // have, expired the session. The C client never says so itself.
  kExpired,     // the server said the session expired; a new one is being established
  kAuthFailed,  // the server rejected our credentials; terminal
  kClosed,      // Shutdown() was called; terminal
};

enum class SessionEventType {
  kConnected,    // first connection of a new session (also after kExpired)
  kSuspended,    // connection lost
  kReconnected,  // same session connected again after kSuspended or kLost
  kLost,         // suspended for longer than the session timeout
  kExpired,      // session expired; ephemerals gone; a new session follows with kConnected
  kAuthFailed,   // credentials rejected
  kClosed,       // Shutdown()
};

absl::string_view SessionStateName(SessionState state);
absl::string_view SessionEventTypeName(SessionEventType type);

// What a session listener receives.
struct SessionEvent {
  SessionEventType type;
  uint64_t session = 0;    // this registry's session number: 1, 2, ... (one per session)
  int64_t session_id = 0;  // ZooKeeper's session id (MemoryRegistry: its own), for logs
  SessionState state;      // the state after this event
  std::string detail;      // human-readable context, e.g. the server it connected to
  // 1, 2, ... over the registry's life; SessionInfo::events is the last one emitted, so a
  // listener can tell whether it has seen every session event so far.
  uint64_t sequence = 0;
};

// A snapshot of the session, for status pages and health checks.
struct SessionInfo {
  SessionState state = SessionState::kConnecting;
  uint64_t session = 0;
  int64_t session_id = 0;
  // When `state` was entered, on the registry's monotonic Clock.
  absl::Time state_since;
  // The sequence number of the last session event emitted (0: none yet).
  uint64_t events = 0;
};

enum class EventType {
  kAdded,  // a node appeared (or existed when the subscription started)
  // A node's data changed (mzxid moved forward), or its readability did: same mzxid but
  // another read_error code (e.g. its ACL changed, found by a full re-read).
  kUpdated,
  kRemoved,  // a node disappeared; `data` and `stat` are the last known ones
  kSynced,   // a full read finished; `snapshot` holds everything the subscription covers
};

absl::string_view EventTypeName(EventType type);

// What a subscription listener receives.
struct RegistryEvent {
  EventType type;
  uint64_t session = 0;  // the session the event was observed in (see SessionEvent::session)
  std::string path;      // the node; for kSynced the subscription root
  std::string data;
  Stat stat;
  // kAdded/kUpdated: OK, or why the node exists but its data could not be read (e.g.
  // PermissionDenied for a creator-only ACL and the wrong digest). Then `data` is empty and
  // `stat` comes from exists(). An unreadable node is reported, never silently skipped, but
  // no watch event about the node itself can be relied on: ZooKeeper (checked on Debian's
  // 3.8.0, which carries the CVE-2024-23944 fix) and MemoryRegistry send no notification
  // about a node the session may not read. Its appearance and removal still arrive at once, through
  // its (readable) parent's listing; a change of its data shows only at the next full re-read
  // (kUpdated, from_resync = true). Nodes below an unreadable node are not listed.
  // kSynced: OK, or why the subscription root could not be listed (PermissionDenied: its ACL
  // does not let this session read it). The snapshot then holds what was known below the root
  // before (nothing, the first time): the subscription cannot see that part of the tree.
  absl::Status read_error;
  // kAdded/kUpdated/kRemoved: true when a full re-read found this change rather than a watch
  // reporting it, i.e. the subscription had missed it (a correction).
  bool from_resync = false;
  // kSynced only: every node the subscription covers, sorted by path, each as the kAdded event
  // that describes it at this point of the stream.
  std::shared_ptr<const std::vector<RegistryEvent>> snapshot;
};

// `event` with every field but `data`, which is not copied: for a consumer that has taken
// what it needs of the payload already. A field added above is added here too.
inline RegistryEvent CopyWithoutData(const RegistryEvent& event) {
  RegistryEvent copy;
  copy.type = event.type;
  copy.session = event.session;
  copy.path = event.path;
  copy.stat = event.stat;
  copy.read_error = event.read_error;
  copy.from_resync = event.from_resync;
  copy.snapshot = event.snapshot;
  return copy;
}

struct SubscribeOptions {
  // How deep below the root events reach: 1 = the root's children, 2 = their children too.
  // 0 with include_root watches the root alone.
  int max_depth = 1;
  // Report the root node itself as well (it need not exist yet).
  bool include_root = false;
};

// A live registration of a listener. Destroying it unsubscribes: once the destructor returns,
// the listener is not called again (if destroyed from inside the listener itself, the current
// call finishes and no further call starts).
class ListenerHandle {
 public:
  virtual ~ListenerHandle() = default;
};

// A subtree subscription. It first delivers kAdded for every node that exists, then kSynced,
// then changes as they happen. After a reconnect or a new session it re-reads everything,
// delivers corrections (from_resync = true) and then kSynced again.
class Subscription : public ListenerHandle {
 public:
  // Re-reads everything now: corrections, then kSynced. Used by the periodic full resync.
  virtual void Resync() = 0;
};

using SessionListener = absl::AnyInvocable<void(const SessionEvent&)>;
using EventListener = absl::AnyInvocable<void(const RegistryEvent&)>;

template <typename T>
using Callback = absl::AnyInvocable<void(absl::StatusOr<T>) &&>;
using DoneCallback = absl::AnyInvocable<void(absl::Status) &&>;

// Errors, the same for every implementation (see registry/zookeeper/zk_status.h):
//   NotFound (no node), AlreadyExists (node exists), Aborted (version mismatch),
//   FailedPrecondition (node has children; ephemeral parent; registry shut down),
//   PermissionDenied (ACL), Unavailable (connection loss, session expired),
//   DeadlineExceeded (operation timeout), InvalidArgument (bad path or arguments).
// Messages name the operation and the path.
class Registry {
 public:
  // Matches any version in Set/Delete.
  static constexpr int32_t kAnyVersion = -1;

  virtual ~Registry() = default;

  // Starts connecting; returns once the attempt is under way (see WaitConnected()). A second
  // call does nothing. InvalidArgument for a bad configuration, FailedPrecondition after
  // Shutdown().
  virtual absl::Status Start() = 0;

  // Closes the session (its ephemerals are deleted), cancels every subscription, fails pending
  // operations with Cancelled, and joins the executor. Idempotent.
  virtual void Shutdown() = 0;

  virtual SessionInfo session() const = 0;

  // Blocks until the session is kConnected, or `timeout` passes (DeadlineExceeded), or the
  // session is terminal (Unauthenticated for kAuthFailed, FailedPrecondition for kClosed).
  absl::Status WaitConnected(absl::Duration timeout);

  // Session events, from the moment of the call on (the current state is in session()).
  virtual std::unique_ptr<ListenerHandle> WatchSession(SessionListener listener) = 0;

  // Reports nodes below `root` (see SubscribeOptions and Subscription). The root need not
  // exist. InvalidArgument for a malformed path, FailedPrecondition after Shutdown().
  virtual absl::StatusOr<std::unique_ptr<Subscription>> Subscribe(std::string root,
                                                                  SubscribeOptions options,
                                                                  EventListener listener) = 0;

  // Asynchronous operations. `done` runs once, on the registry executor (inline, with
  // FailedPrecondition, if the registry is shut down; before Start(), see the file comment).
  virtual void GetAsync(std::string path, Callback<Node> done) = 0;
  virtual void GetChildrenAsync(std::string path, Callback<Children> done) = 0;
  // The node's Stat, or nullopt if it does not exist.
  virtual void ExistsAsync(std::string path, Callback<std::optional<Stat>> done) = 0;
  // Yields the created path (which differs from `path` for sequential nodes). Ephemeral nodes
  // this registry creates are re-created with their last data in every new session after an
  // expiry (sequential ones are not: their names cannot be kept).
  virtual void CreateAsync(std::string path, std::string data, CreateOptions options,
                           Callback<std::string> done) = 0;
  virtual void SetAsync(std::string path, std::string data, int32_t expected_version,
                        Callback<Stat> done) = 0;
  virtual void DeleteAsync(std::string path, int32_t expected_version, DoneCallback done) = 0;

  // Synchronous forms of the above. Never call them from a listener or callback.
  absl::StatusOr<Node> Get(std::string path);
  absl::StatusOr<Children> GetChildren(std::string path);
  absl::StatusOr<std::optional<Stat>> Exists(std::string path);
  absl::StatusOr<std::string> Create(std::string path, std::string data,
                                     CreateOptions options = {});
  absl::StatusOr<Stat> Set(std::string path, std::string data,
                           int32_t expected_version = kAnyVersion);
  absl::Status Delete(std::string path, int32_t expected_version = kAnyVersion);

 protected:
  // True on the registry's executor thread: the synchronous wrappers CHECK it is false.
  virtual bool OnExecutorThread() const = 0;
};

// Path helpers shared by the implementations.

// OK for "/" and for "/a/b" made of non-empty segments other than "." and "..", with no
// trailing slash and no NUL; InvalidArgument naming the path otherwise.
absl::Status ValidatePath(absl::string_view path);
// "/a/b" -> "/a"; "/a" -> "/".
std::string ParentPath(absl::string_view path);
// "/a/b" -> "b"; "/" -> "".
std::string BaseName(absl::string_view path);
// ("/a", "b") -> "/a/b"; ("/", "b") -> "/b".
std::string JoinPath(absl::string_view parent, absl::string_view child);

}  // namespace roster::registry
