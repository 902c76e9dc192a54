// WorkerCluster: the workers and their groups.
//
// A worker's groups come from where the DolphinScheduler release in use keeps them: the legacy
// path segment ({workers}/{group}/{host}:{port}, <= 3.1.0), DolphinScheduler's database table
// t_ds_worker_group (3.1.1 and later), and the optional static mapping file; roster's own
// simulator and sidecar registrations may also name one in the heartbeat (workerGroup, which no
// DolphinScheduler release writes). "default" holds every worker, unless the release in use lets
// a database row named "default" replace it (docs/dolphinscheduler.md). Membership is recomputed
// from the workers themselves on every change, so a worker that registers after its group was
// defined is in the group at once (DolphinScheduler #17408).
//
// A group also exists while it has no member when something defines it: a legacy group
// directory ({workers}/{group}, persistent; DolphinScheduler <= 3.1 lists these as its worker
// groups), a database row, or a group of the static mapping file. Such a group is shown empty
// rather than unknown, so "group 'spark' has no workers" is not mistaken for a typo.
//
// Thread-safety: the live part (Apply) is confined to the cluster executor; BuildGroups and
// LoadStaticGroups are pure.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "cluster/cluster_view.h"
#include "cluster/node_table.h"
#include "registry/registry.h"

namespace roster::cluster {

class WorkerCluster {
 public:
  // `options` (role kWorker) must outlive the cluster; SetMembership() replaces its groups.
  WorkerCluster(std::string workers_path, NodeTableOptions* options);

  // An event of the workers subscription (depth 2, for the legacy layout); `decoded`: see
  // NodeTable::Apply().
  void Apply(registry::RegistryEvent&& event, absl::Time now, absl::Time wall_now,
             std::unique_ptr<DecodedHeartbeat> decoded = nullptr);
  void Apply(const registry::RegistryEvent& event, absl::Time now, absl::Time wall_now,
             std::unique_ptr<DecodedHeartbeat> decoded = nullptr) {
    Apply(registry::RegistryEvent(event), now, wall_now, std::move(decoded));
  }
  // After a full read of the workers subscription (its kSynced snapshot): makes the legacy
  // group directories match it. Returns how many it added or removed (missed changes).
  int ReconcileGroupDirectories(const std::vector<registry::RegistryEvent>& snapshot);

  NodeTable& table() { return table_; }
  const NodeTable& table() const { return table_; }

  // The external group membership changed (group file, DolphinScheduler's database): every
  // worker's groups are derived again, and the view's groups rebuilt.
  void SetMembership(std::shared_ptr<const GroupMembership> membership);

  // Groups that exist even with no member: the legacy group directories present in the
  // registry and the static mapping's groups. Sorted.
  std::vector<std::string> DefinedGroups() const;
  // Legacy group directories exist ({workers}/{group}/): DolphinScheduler <= 3.1.0.
  bool has_group_directories() const { return !group_directories_.empty(); }
  // The defined groups changed since the last published view (and at first): the view's
  // groups must be rebuilt even if no worker changed. GroupsPublished() clears it.
  bool groups_changed() const { return groups_changed_; }
  void GroupsPublished() { groups_changed_ = false; }

  using GroupMap = std::map<std::string, GroupView, std::less<>>;

  // The groups of `workers` (each worker lists its own) plus every group in `defined`
  // (possibly empty), sorted by name; members sorted by address. Always has "default".
  // A group of every worker ("default", unless the membership defines its own) shares
  // `workers` itself: its member list costs one reference count, not a copy of each node.
  static GroupMap BuildGroups(const NodeList& workers,
                              const std::vector<std::string>& defined = {});
  // BuildGroups(`workers`, `defined`), where `workers` is `previous_workers` after `changes`,
  // from `previous` (the groups of `previous_workers`, with the same `defined`) in
  // O(changes): each group touched copies only the chunks of its member list the changes fall
  // in (cluster/node_list.h) and moves its counts, where a rebuild walks every worker (about
  // 6 ms at 10,000, on the path of every state change to the watchers). A group that shared
  // `previous_workers` and still holds every worker shares `workers`, and copies nothing.
  // nullopt (rebuild) if `previous` does not hold the changes' `before` nodes. `defined` is
  // sorted.
  static std::optional<GroupMap> UpdateGroups(const GroupMap& previous,
                                              const NodeList& previous_workers,
                                              const std::vector<NodeChange>& changes,
                                              const NodeList& workers,
                                              const std::vector<std::string>& defined);

  // Reads a static mapping file: one group per line, `group = host:port, host:port`, blank
  // lines and `#` comments allowed. InvalidArgument naming the file and line for a bad group
  // name or address; NotFound for a missing file.
  static absl::StatusOr<StaticGroups> LoadStaticGroups(const std::string& path);
  // The same for the file's contents `text`; `name` (the path) prefixes each error, with the
  // line number ("groups.conf:3: ...").
  static absl::StatusOr<StaticGroups> ParseStaticGroups(absl::string_view text,
                                                        absl::string_view name);

 private:
  // The group name if `event` is a legacy group directory appearing (a persistent, direct
  // child of the workers path whose name is a valid group, not an address).
  std::optional<std::string> GroupDirectoryOf(const registry::RegistryEvent& event) const;

  const std::string workers_path_;
  NodeTableOptions* const options_;
  NodeTable table_;
  std::set<std::string, std::less<>> group_directories_;
  bool groups_changed_ = true;
};

}  // namespace roster::cluster
