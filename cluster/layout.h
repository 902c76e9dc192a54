// Where things live in the registry (DolphinScheduler's layout by default, every path
// configurable), and what a znode under a role's directory is.
//
//   {masters}/{host}:{port}                  a master
//   {workers}/{host}:{port}                  a worker (current layout)
//   {workers}/{group}/{host}:{port}          a worker in a group (legacy layout, <= 3.1)
//   {alert_servers}/{host}:{port}            an alert server
//   {coordinator}                            the leader's "host:port"
//   {drains}/{host}:{port}                   roster's own drain records (persistent)
//
// Thread-safety: values and pure functions.
#pragma once

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "cluster/node_info.h"
#include "registry/registry.h"

namespace roster::cluster {

// Paths within the registry's root (the URI's chroot, e.g. /dolphinscheduler).
struct ClusterPaths {
  std::string masters = "/nodes/master";
  std::string workers = "/nodes/worker";
  std::string alert_servers = "/nodes/alert-server";
  std::string coordinator = "/nodes/master-coordinator";
  std::string drains = "/roster/drain";

  // InvalidArgument naming the first malformed or overlapping path.
  absl::Status Validate() const;
  // The directory holding nodes of `role`.
  const std::string& RootOf(NodeRole role) const;
};

// A znode that registers a node.
struct ZnodeAddress {
  std::string address;  // "host:port"
  std::string group;    // the legacy layout's group segment, or ""
};

// Classifies the znode of `event` below the directory of `role` (`root`):
//  - a node: its address (and legacy group);
//  - nullopt: not a node and not a problem (a legacy group directory);
//  - InvalidArgument: a znode that cannot be a node, with the reason operators will see
//    ("znode name 'foo' is not host:port: ...", "group name 'a b ' ...").
absl::StatusOr<std::optional<ZnodeAddress>> ClassifyZnode(NodeRole role, absl::string_view root,
                                                          const registry::RegistryEvent& event);

}  // namespace roster::cluster
