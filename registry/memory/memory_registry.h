// MemoryRegistry: the embedded registry (`memory://`), and the fake every unit test uses.
//
// A MemoryStore plays the ZooKeeper server: nodes with Stats and zxids, sessions that own
// ephemerals, ACLs with digest authentication, and one-shot watches. A MemoryRegistry is one
// client session on a store, with ZooKeeper's client semantics: results and watch events
// delivered asynchronously on the registry's executor, in order; session events; ephemerals
// re-created after an expiry. Subscriptions use the same SubtreeCache as ZooKeeperRegistry.
//
// Fault hooks let tests do to a session what a network or a server can do: disconnect it,
// reconnect it, expire it, fail its next operation, lose its next watch events.
//
// Thread-safety: MemoryStore and MemoryRegistry are thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "registry/registry.h"
#include "registry/registry_options.h"
#include "util/clock.h"

namespace roster::registry {

class MemoryStore {
 public:
  MemoryStore();
  // `clock`'s calendar time stamps the nodes' ctime and mtime, as the ZooKeeper server's own
  // clock does (tests move it apart from a client's). Not owned; must outlive the store.
  explicit MemoryStore(Clock* clock);
  ~MemoryStore();

  // The process-wide store called `name` (created on first use; lives until exit).
  static std::shared_ptr<MemoryStore> Named(absl::string_view name);

  // Server-side faults, applied to every session of the store.
  // Disconnects every connected client (they see kSuspended; their watches may be lost).
  void DisconnectAll();
  // Reconnects them (kReconnected, or kExpired + kConnected for sessions that expired).
  void ReconnectAll();
  // Expires session `session_id` (see MemoryRegistry::session_id()): its ephemerals are
  // deleted (firing watches for everyone else) and its client is told kExpired.
  void ExpireSession(int64_t session_id);
  // Number of nodes, for tests and benchmarks.
  size_t NodeCount() const;

  // Implementation-defined; see memory_registry.cc.
  class Impl;
  Impl* impl() { return impl_.get(); }

 private:
  std::unique_ptr<Impl> impl_;
};

class MemoryRegistry final : public Registry {
 public:
  // `chroot` ("" or "/a/b") prefixes every path, as ZooKeeper's chroot does.
  MemoryRegistry(std::shared_ptr<MemoryStore> store, std::string chroot, RegistryOptions options);
  ~MemoryRegistry() override;

  absl::Status Start() override;
  void Shutdown() override;
  SessionInfo session() const override;
  std::unique_ptr<ListenerHandle> WatchSession(SessionListener listener) override;
  absl::StatusOr<std::unique_ptr<Subscription>> Subscribe(std::string root,
                                                          SubscribeOptions options,
                                                          EventListener listener) override;
  void GetAsync(std::string path, Callback<Node> done) override;
  void GetChildrenAsync(std::string path, Callback<Children> done) override;
  void ExistsAsync(std::string path, Callback<std::optional<Stat>> done) override;
  void CreateAsync(std::string path, std::string data, CreateOptions options,
                   Callback<std::string> done) override;
  void SetAsync(std::string path, std::string data, int32_t expected_version,
                Callback<Stat> done) override;
  void DeleteAsync(std::string path, int32_t expected_version, DoneCallback done) override;

  // Fault hooks for tests.
  // Drops the connection (kSuspended). Operations issued while disconnected fail with
  // Unavailable; watch events that fire meanwhile are lost.
  void Disconnect();
  // Restores it (kReconnected, then every subscription re-reads). If the session was lost for
  // longer than the session timeout, the store expires it first (kExpired, kConnected).
  void Reconnect();
  // Expires this session from the server side (MemoryStore::ExpireSession).
  void ExpireSession();
  // The next operation (of any kind, including subscription reads) fails with `status`.
  void FailNextOperation(absl::Status status);
  // The next `count` watch events addressed to this session are lost, as if the notification
  // never arrived; only a resync finds the change.
  void DropNextWatchEvents(int count);

  // The store's id for the current session.
  int64_t session_id() const;
  MemoryStore* store() const { return store_.get(); }

 protected:
  bool OnExecutorThread() const override;

 private:
  class Client;  // Implementation-defined; see memory_registry.cc.
  const std::shared_ptr<MemoryStore> store_;
  std::unique_ptr<Client> client_;
};

}  // namespace roster::registry
