// JdbcMirror: DolphinScheduler's JDBC registry rows, replayed into a private MemoryStore so that
// a MemoryRegistry reading that store serves them with the Registry contract (Stats, ordered
// watch events, subscriptions through the shared SubtreeCache).
//
// The mapping (docs/registry-jdbc.md):
//  - a row's data_key is the node's path and data_value its data;
//  - the parents DS never stores ("/nodes", "/nodes/worker") are persistent, empty nodes,
//    removed with their last child;
//  - an EPHEMERAL row is an ephemeral node of a store session standing for its DS client
//    (client_id), so nodes of one DS client share an ephemeral_owner and nodes of different
//    clients do not; a PERSISTENT row is a persistent node. A row with rows below it is
//    mirrored as persistent (a store ephemeral cannot have children).
//
// Thread-safety: thread-compatible (the JDBC registry calls it from its poller thread only).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "registry/jdbc/ds_jdbc_tables.h"
#include "registry/memory/memory_registry.h"
#include "registry/memory/memory_store_impl.h"

namespace roster::registry::jdbc {

class JdbcMirror {
 public:
  explicit JdbcMirror(std::shared_ptr<MemoryStore> store);
  ~JdbcMirror();

  JdbcMirror(const JdbcMirror&) = delete;
  JdbcMirror& operator=(const JdbcMirror&) = delete;

  // Makes the store hold exactly `rows` and their parents, with the fewest changes. Rows
  // whose key is not a valid path are skipped (counted in skipped_keys()).
  absl::Status Reconcile(const std::map<std::string, DsDataRow>& rows);

  // Keys skipped by the last Reconcile(), for logs.
  size_t skipped_keys() const { return skipped_keys_; }

 private:
  struct Mirrored {
    std::string data;
    bool ephemeral = false;
    int64_t client_id = 0;  // ephemeral only

    friend bool operator==(const Mirrored& a, const Mirrored& b) {
      return a.data == b.data && a.ephemeral == b.ephemeral && a.client_id == b.client_id;
    }
  };
  class NullSink;

  std::map<std::string, Mirrored> Desired(const std::map<std::string, DsDataRow>& rows);
  // The store client writing as DS client `client_id` (0: persistent nodes).
  MemoryStore::Impl::ClientId Writer(int64_t client_id);
  absl::Status Create(const std::string& path, const Mirrored& node);
  absl::Status Set(const std::string& path, const std::string& data);
  absl::Status Delete(const std::string& path);
  // Closes the writers of DS clients that own no node any more.
  void CloseIdleWriters();

  const std::shared_ptr<MemoryStore> store_;
  std::unique_ptr<NullSink> sink_;
  std::shared_ptr<memory_internal::Mailbox> mailbox_;  // runs answers inline
  std::map<int64_t, MemoryStore::Impl::ClientId> writers_;
  std::map<std::string, Mirrored> mirrored_;
  size_t skipped_keys_ = 0;
};

}  // namespace roster::registry::jdbc
