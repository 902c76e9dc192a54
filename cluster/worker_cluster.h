// WorkerCluster: the workers and their groups.
//
// A worker's groups come from, in order: the heartbeat's workerGroup, the legacy path segment
// ({workers}/{group}/{host}:{port}), and the optional static mapping file. "default" holds
// every worker. Membership is recomputed from the workers themselves on every change, so a
// worker that registers after its group was defined is in the group at once (DolphinScheduler
// #17408).
//
// Thread-safety: the live part (Apply) is confined to the cluster executor; BuildGroups and
// LoadStaticGroups are pure.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cluster/cluster_view.h"
#include "cluster/node_table.h"
#include "registry/registry.h"

namespace roster::cluster {

class WorkerCluster {
 public:
  // `options` (role kWorker) must outlive the cluster.
  WorkerCluster(std::string workers_path, const NodeTableOptions* options);

  // An event of the workers subscription (depth 2, for the legacy layout).
  void Apply(const registry::RegistryEvent& event, absl::Time now, absl::Time wall_now);

  NodeTable& table() { return table_; }
  const NodeTable& table() const { return table_; }

  // The groups of `workers` (each worker lists its own), sorted by name; members sorted by
  // address. Always has "default".
  static std::map<std::string, GroupView, std::less<>> BuildGroups(
      const std::vector<NodeInfoPtr>& workers);

  // Reads a static mapping file: one group per line, `group = host:port, host:port`, blank
  // lines and `#` comments allowed. InvalidArgument naming the file and line for a bad group
  // name or address; NotFound for a missing file.
  static absl::StatusOr<StaticGroups> LoadStaticGroups(const std::string& path);

 private:
  const std::string workers_path_;
  NodeTable table_;
};

}  // namespace roster::cluster
