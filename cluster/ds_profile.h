// DolphinScheduler version profiles: what each DolphinScheduler (DS) release writes into its
// registry and computes for itself, in one table, and the detection of the release in use from
// what a registry holds (docs/dolphinscheduler.md).
//
// rosterd answers as the DS release in use would: it parses heartbeats in that release's
// format, finds worker groups where that release keeps them, hands out slots by that release's
// rule, selects workers with that release's strategies, and reports the coordinator only where
// that release has one. `--dolphinscheduler_version` names the release, or `auto` (the
// default) detects it from the registry: per node from its heartbeat, and from the layout
// (legacy group directories, alert servers, a coordinator znode). A cluster whose nodes look
// like two releases at once (a rolling upgrade) is reported as mixed, per node.
//
// Thread-safety: values and pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "cluster/ds_version.h"
#include "cluster/heartbeat_codec.h"
#include "cluster/master_cluster.h"
#include "cluster/worker_selector.h"
#include "roster/v1/heartbeat.pb.h"

namespace roster::cluster {

// Where a release keeps its worker groups.
enum class GroupOrigin {
  kRegistryPath,  // {workers}/{group}/{host}:{port} (the group segment, lower-cased by DS)
  kDatabase,      // DS's t_ds_worker_group table (name, addr_list)
};

struct DsProfile {
  DsVersion version = DsVersion::kAuto;
  absl::string_view name;      // "3.2.2": what --dolphinscheduler_version takes
  absl::string_view releases;  // "3.1.1 - 3.1.9"
  HeartbeatDialect dialect = HeartbeatDialect::kAuto;
  GroupOrigin groups = GroupOrigin::kDatabase;
  // A database row named "default" replaces the implicit group of every worker.
  bool default_row_overrides = false;
  SlotPolicy slot_policy = SlotPolicy::kStable;
  StrategySemantics strategies = StrategySemantics::kDolphinScheduler33;
  // LOWER_WEIGHT's refresh of its weights (see SelectorOptions).
  absl::Duration lower_weight_refresh = absl::Seconds(10);
  bool lower_weight_rebuild_on_change = false;
  // What a SelectWorker request that names no strategy gets (the master's default).
  SelectionStrategy default_strategy = SelectionStrategy::kLowerWeight;
  CoordinatorMode coordinator = CoordinatorMode::kNone;
  bool alert_servers = false;  // registers {alert_servers}/{host}:{port}
  absl::string_view source;    // the DS files the row was read from
};

// The profile of `version`; kAuto: the newest release's, until one is detected.
const DsProfile& ProfileOf(DsVersion version);
// Every profile, oldest first.
absl::Span<const DsProfile> AllProfiles();

// The releases that write a heartbeat like `heartbeat` (its format and the values it holds).
DsVersionSet ReleasesWriting(NodeRole role, const roster::v1::Heartbeat& heartbeat);

// What the registry shows, beyond each node's heartbeat.
struct RegistryEvidence {
  bool group_directories = false;  // {workers}/{group}/ directories exist
  bool alert_servers = false;      // an alert server is registered
  bool coordinator = false;        // the coordinator znode exists

  friend bool operator==(const RegistryEvidence& a, const RegistryEvidence& b) {
    return a.group_directories == b.group_directories && a.alert_servers == b.alert_servers &&
           a.coordinator == b.coordinator;
  }
};

// One node's evidence: its address, role and the releases its heartbeat fits.
struct NodeEvidence {
  std::string address;
  NodeRole role = NodeRole::kWorker;
  DsVersionSet releases = kAnyDsVersion;
};

// The release in force. `configured` other than kAuto wins (detected = false). Otherwise the
// newest release every node and the registry layout fit; when the nodes disagree (a rolling
// upgrade), the newest release the masters all fit (they are the ones that compute slots),
// and failing that the oldest any master fits; with no evidence at all, 3.3.
DsDetection DetectDsVersion(DsVersion configured, const std::vector<NodeEvidence>& nodes,
                            const RegistryEvidence& registry);

}  // namespace roster::cluster
