// EtcdRegistry: the Registry on etcd's v3 gRPC API (etcd://host:port[,host:port...][/prefix]).
//
// The tree is laid out as DolphinScheduler's etcd registry lays it out (etcd_keys.h), so the
// keys DolphinScheduler writes read unchanged. A session is an etcd lease kept alive on a
// LeaseKeepAlive stream: ephemeral nodes are keys attached to it, and the lease ending (the
// server answers a keep-alive with TTL 0) is the session expiring, with ZooKeeper's session
// events (SessionStateMachine drives both registries). One Watch stream over the whole prefix,
// with prev_kv, reports every change; it resumes at the revision after the last one it
// delivered when it is re-created, and when that revision has been compacted every
// subscription re-reads its subtree. Subscriptions share SubtreeCache with the other
// registries. The mapping and its limits (no ACLs, no node times) are in docs/registries.md.
//
// Only this folder includes etcd's generated headers or gRPC's client API for etcd.
//
// Thread-safety: thread-safe (see registry/registry.h).
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "registry/registry.h"
#include "registry/registry_factory.h"

namespace roster::registry {

// A registry for `uri` (scheme kEtcd). Not started. InvalidArgument for options etcd cannot
// honour (digest credentials: etcd has no per-node ACLs) or several endpoints that are not
// all IPv4 addresses.
absl::StatusOr<std::unique_ptr<Registry>> NewEtcdRegistry(const RegistryUri& uri,
                                                          RegistryOptions options);

}  // namespace roster::registry
