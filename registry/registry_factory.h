// Choosing and configuring a Registry from a URI.
//
//   zk://host:port[,host:port...][/chroot]   ZooKeeperRegistry (the C client)
//   etcd://host:port[,host:port...][/prefix] EtcdRegistry (etcd's v3 gRPC API). The prefix
//                                            is prepended to every path, without its leading
//                                            '/': /dolphinscheduler is DolphinScheduler's
//                                            default namespace (docs/registries.md).
//   memory://[name][/chroot]                 MemoryRegistry. Without a name, a private store;
//                                            with one, a process-wide store shared by every
//                                            registry opened with that name (one "server").
//   jdbc:postgresql://user@host[:port]/db    JdbcRegistry: DolphinScheduler 3.3's JDBC registry
//   jdbc:mysql://user@host[:port]/db         tables, read-only (registry/jdbc/jdbc_registry.h).
//                                            The password comes from
//                                            RegistryOptions::jdbc_password_file. No chroot.
//
// A chroot makes every path relative to it, as ZooKeeper's chroot does (its node must exist).
// Credentials never go in the URI, because URIs get logged: pass them in RegistryOptions.
//
// Thread-safety: the functions are thread-safe.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "registry/registry.h"
#include "registry/registry_options.h"

namespace roster::registry {

// A parsed registry URI. Safe to log: it holds no credentials.
struct RegistryUri {
  enum class Scheme { kZooKeeper, kMemory, kEtcd, kJdbc };
  Scheme scheme = Scheme::kMemory;
  std::string hosts;        // zk, etcd: "h1:2181,h2:2181"
  std::string memory_name;  // memory: "" for a private store
  std::string chroot;       // "" or "/a/b" (etcd: the key prefix, "a/b")
  std::string database;     // jdbc: the canonical database URI, "postgresql://u@h:5432/db"

  std::string ToString() const;
};

// InvalidArgument naming the URI and what is wrong with it.
absl::StatusOr<RegistryUri> ParseRegistryUri(absl::string_view uri);

// Builds (but does not start) the registry a URI names. InvalidArgument for a bad URI or
// options, NotFound/PermissionDenied for an unreadable digest file.
absl::StatusOr<std::unique_ptr<Registry>> NewRegistry(absl::string_view uri,
                                                      RegistryOptions options);

}  // namespace roster::registry
