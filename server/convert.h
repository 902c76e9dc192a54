// Conversions between roster's domain types (cluster/) and the gRPC API (roster.v1), and the
// validation of request fields.
//
// Domain -> proto fills messages from an immutable ClusterView and its nodes. Times on the
// daemon's monotonic clock (liveness) are turned into ages against `now` on that same clock;
// wall-clock times become Timestamps.
//
// Proto -> domain checks every field a request carries and returns InvalidArgument naming the
// field and the value ("exclude[3]: node address 'x' is not host:port: ..."), so a caller can
// fix its request without reading our code.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "cluster/change_log.h"
#include "cluster/cluster_manager.h"
#include "cluster/cluster_view.h"
#include "cluster/heartbeat_codec.h"
#include "cluster/master_cluster.h"
#include "cluster/node_info.h"
#include "cluster/worker_selector.h"
#include "registry/registry.h"
#include "roster/v1/roster.pb.h"

namespace roster::server {

// Requests may exclude at most this many addresses from a selection.
inline constexpr int kMaxExcludedAddresses = 1000;
// ListWorkersRequest.states and WatchFilter.roles may name each value once at most.
inline constexpr int kMaxEnumFilterValues = 16;
// DrainNodeRequest.reason: 1 to this many bytes.
inline constexpr size_t kMaxDrainReasonBytes = 1024;

// ---- Domain -> proto ------------------------------------------------------------------------

v1::NodeRole ToProto(cluster::NodeRole role);
v1::NodeState ToProto(cluster::NodeState state);
v1::SessionState ToProto(registry::SessionState state);
v1::SelectionStrategy ToProto(cluster::SelectionStrategy strategy);

void ToProto(absl::Duration duration, google::protobuf::Duration* out);
void ToProto(absl::Time time, google::protobuf::Timestamp* out);

// The answer's provenance: `version` of the view used, this daemon run, and freshness.
// `view` gives the DolphinScheduler profile and the group sources' freshness; `version` may
// be a later change's (a watch message).
void FillViewMeta(const cluster::ClusterView& view, uint64_t version, absl::string_view instance_id,
                  const cluster::Freshness& freshness, v1::ViewMeta* meta);

struct NodeDetail {
  // Fill Node.history (GetNode only).
  bool history = false;
  // When set, masters get Node.slot from it.
  const cluster::SlotAssignment* slots = nullptr;
  // Only the NODE_VIEW_BASIC fields: address, role, state, groups, drained, slot.
  bool basic = false;
};

// `now` is the daemon's monotonic clock (the clock of NodeInfo::last_data_change).
void FillNode(const cluster::NodeInfo& node, absl::Time now, const NodeDetail& detail,
              v1::Node* out);
void FillGroup(const cluster::GroupView& group, v1::Group* out);
void FillSlots(const cluster::SlotAssignment& slots, v1::SlotAssignment* out);
void FillLeader(const cluster::LeaderInfo& leader, v1::Leader* out);
// Everything but `meta` (and next_page_token).
void FillClusterView(const cluster::ClusterView& view, absl::Time now,
                     v1::GetClusterViewResponse* out);
// Everything but `meta` and the node lists: groups, slots, leader, rejected znodes.
void FillClusterViewRest(const cluster::ClusterView& view, v1::GetClusterViewResponse* out);
// A change as a watch stream sends it. Master nodes carry no slot here: slots travel in
// SLOTS_CHANGED events.
void FillClusterEvent(const cluster::ClusterChange& change, absl::Time now, v1::ClusterEvent* out);
void FillCandidate(const cluster::CandidateExplanation& candidate, v1::Candidate* out);

// ---- Proto -> domain, validated -------------------------------------------------------------

// The canonical "host:port" of `text`; InvalidArgument naming `field` otherwise (an empty
// value is "is required").
absl::StatusOr<std::string> ParseAddressField(absl::string_view field, absl::string_view text);
// A valid worker-group name; InvalidArgument naming `field` otherwise.
absl::Status ValidateGroupField(absl::string_view field, absl::string_view name);

absl::StatusOr<cluster::NodeRole> ToNodeRole(absl::string_view field, int value);
absl::StatusOr<cluster::NodeState> ToNodeState(absl::string_view field, int value);

// Empty group: "default"; UNSPECIFIED strategy: ROUND_ROBIN; at most kMaxExcludedAddresses
// excluded addresses, each a valid address.
absl::StatusOr<cluster::SelectRequest> ToSelectRequest(const v1::SelectWorkerRequest& request);

// The states of ListWorkersRequest.states (empty: any).
absl::StatusOr<std::vector<cluster::NodeState>> ToStateFilter(
    const google::protobuf::RepeatedField<int>& states);

// GetMasterSlotRequest's optional incarnation: both fields or neither.
absl::StatusOr<std::optional<cluster::IncarnationClaim>> ToIncarnationClaim(
    const v1::GetMasterSlotRequest& request);

// GetWorkerGroupRequest: a valid `name` (required) and a NodeView `view`.
absl::Status ValidateGetWorkerGroup(const v1::GetWorkerGroupRequest& request);

// DrainNodeRequest.reason: 1 to kMaxDrainReasonBytes bytes.
absl::Status ValidateDrainReason(absl::string_view reason);

// RegisterNodeRequest.lease: `default_lease` when unset or zero, else within [min, max].
absl::StatusOr<absl::Duration> ToLease(const v1::RegisterNodeRequest& request,
                                       absl::Duration default_lease, absl::Duration min_lease,
                                       absl::Duration max_lease);

// The znode payload a sidecar registration of `role` at `address` (canonical, from
// ParseAddressField) writes for `heartbeat`: host, port and reportTime filled from the address
// and `wall_now` where the caller left them out, a worker's weight 100 when 0, in the current
// DolphinScheduler format (EncodeHeartbeat). InvalidArgument ("heartbeat: ...") when the cluster
// layer would not accept it (ParseHeartbeat with `limits` at `wall_now`).
absl::StatusOr<std::string> RegistrationPayload(cluster::NodeRole role, absl::string_view address,
                                                v1::Heartbeat heartbeat,
                                                const cluster::HeartbeatLimits& limits,
                                                absl::Time wall_now);

}  // namespace roster::server
