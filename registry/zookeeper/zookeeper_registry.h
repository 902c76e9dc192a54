// ZooKeeperRegistry: the Registry on Apache ZooKeeper's C client (libzookeeper-mt).
//
// Only this folder includes <zookeeper/zookeeper.h>. The C client's watcher and completion
// callbacks run on its single completion thread; there they copy the result into a plain
// struct and hand it to the registry executor, where all state lives (run right there while
// the executor is idle; zk_handle.h).
//
// Thread-safety: thread-safe (see registry/registry.h).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "registry/registry.h"
#include "registry/registry_factory.h"

namespace roster::registry {

// A registry for `uri` (scheme kZooKeeper). Not started.
std::unique_ptr<Registry> NewZooKeeperRegistry(const RegistryUri& uri, RegistryOptions options);

// The current session's id and password, for tests that expire a session the way ZooKeeper
// allows a client to: open a second handle with the same credentials and close it.
struct ZooKeeperSessionCredentials {
  int64_t session_id = 0;
  std::string password;  // 16 raw bytes
};
// nullopt if `registry` is not a ZooKeeperRegistry or has no session yet.
std::optional<ZooKeeperSessionCredentials> GetZooKeeperSessionCredentials(const Registry& registry);

}  // namespace roster::registry
