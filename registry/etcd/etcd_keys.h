// EtcdKeys: how EtcdRegistry lays the registry's tree out in etcd's flat key space, and how
// an etcd KeyValue becomes a Stat. Pure functions; no I/O.
//
// The layout is DolphinScheduler's (EtcdRegistry.java @ 3.2.2-release and dev): jetcd's
// `namespace` (default "dolphinscheduler") is prepended to the path as bytes, so the node
// "/nodes/worker/10.0.0.1:1234" is the key "dolphinscheduler/nodes/worker/10.0.0.1:1234".
// The prefix comes from the URI's path without its leading '/': etcd://h:2379/dolphinscheduler.
//
//  - A node is the key `prefix + path`. The root "/" has no key of its own and always exists.
//  - A path with no key but with keys below it (`prefix + path + "/..."`) exists as an
//    implicit directory: DolphinScheduler writes its leaves only ("/nodes/worker/h:p", never
//    "/nodes/worker"). An implicit node has empty data and a Stat of zeros but for
//    num_children (and pzxid in a listing).
//  - The children of a path are the distinct first segments of the keys below `key + "/"`.
//    Keys that do not make a valid path (an empty segment, "." or "..") are not nodes.
//  - ZooKeeper's cversion (child creations, which sequential names count) has no etcd
//    counterpart: EtcdRegistry puts the counter key `prefix + "\0cversion" + path` in the
//    transaction of every create below `path`, and its etcd version is the count. It sorts
//    before `prefix + "/"`, so it is never a node and never in the watched range; paths
//    cannot contain NUL, so no prefix can collide with it.
//  - The key `prefix + "/"` (the root's own, which is no node) is EtcdRegistry's watch fence:
//    it writes it after re-creating its watch to know when the replay has finished.
//
// Thread-safety: functions only; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "registry/internal/watch_backend.h"
#include "registry/registry.h"

namespace mvccpb {
class Event;
class KeyValue;
}  // namespace mvccpb

namespace roster::registry {

class EtcdKeys {
 public:
  // `chroot` is RegistryUri::chroot: "" or "/a/b" (then the prefix is "a/b").
  explicit EtcdKeys(absl::string_view chroot);

  const std::string& prefix() const { return prefix_; }

  // The key of a node (`path` valid and not "/").
  std::string Key(absl::string_view path) const;
  // [begin, end) of every key strictly below `path`.
  std::string SubtreeBegin(absl::string_view path) const;
  std::string SubtreeEnd(absl::string_view path) const;
  // The cversion counter of `path` (see the file comment).
  std::string CounterKey(absl::string_view path) const;

  // The path of a key below the prefix, or nullopt if the key is not a node (outside the
  // prefix, or not a valid path).
  std::optional<std::string> PathOf(absl::string_view key) const;

  // The sorted, distinct names of the direct children of `path`, from keys below it.
  std::vector<std::string> ChildNames(absl::string_view path,
                                      const std::vector<std::string>& keys_below) const;

  // The smallest key greater than every key starting with `key` (etcd's "prefix end"); "\0"
  // (every key) when there is none.
  static std::string PrefixEnd(absl::string_view key);

 private:
  std::string prefix_;
};

// A node's Stat from its KeyValue (etcd numbering, see docs/registries.md):
//   czxid = create_revision, mzxid = mod_revision, pzxid = create_revision (a listing sets
//   the revision it was read at), version = kv.version - 1 (etcd counts the creation as 1),
//   ephemeral_owner = lease, ctime_ms = mtime_ms = 0 (etcd keeps no times).
Stat StatFromKeyValue(const mvccpb::KeyValue& kv, int32_t cversion, int32_t num_children);

// What an etcd watch event means to the subscriptions (SubtreeCache), as ZooKeeper watch
// events that make them re-read what changed; empty for a key that is no node:
//  - a creation (PUT, version 1): kCreated of the node, and kCreated + kChildrenChanged of
//    every ancestor (an implicit directory may have appeared with it);
//  - a modification (PUT, version > 1): kDataChanged of the node;
//  - a deletion: kDataChanged and kChildrenChanged of the node (its re-read finds it gone, or
//    re-created: a read never trusts the order of the watch stream against a reply), and
//    kChildrenChanged of every ancestor (an implicit directory may have vanished).
std::vector<internal::WatchEvent> WatchEventsFor(const EtcdKeys& keys, const mvccpb::Event& event);

}  // namespace roster::registry
