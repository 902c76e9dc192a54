#include "server/convert.h"

#include <algorithm>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "cluster/ds_profile.h"
#include "cluster/node_address.h"
#include "util/status_macros.h"

namespace roster::server {
namespace {

using cluster::NodeRole;
using cluster::NodeState;

absl::Status FieldError(absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", what));
}

}  // namespace

v1::NodeRole ToProto(NodeRole role) {
  switch (role) {
    case NodeRole::kMaster:
      return v1::MASTER;
    case NodeRole::kWorker:
      return v1::WORKER;
    case NodeRole::kAlertServer:
      return v1::ALERT_SERVER;
  }
  return v1::NODE_ROLE_UNSPECIFIED;
}

v1::NodeState ToProto(NodeState state) {
  switch (state) {
    case NodeState::kRegistering:
      return v1::REGISTERING;
    case NodeState::kRunning:
      return v1::RUNNING;
    case NodeState::kOverload:
      return v1::OVERLOAD;
    case NodeState::kFault:
      return v1::FAULT;
    case NodeState::kRecovering:
      return v1::RECOVERING;
    case NodeState::kOffline:
      return v1::OFFLINE;
  }
  return v1::NODE_STATE_UNSPECIFIED;
}

v1::SessionState ToProto(registry::SessionState state) {
  using registry::SessionState;
  switch (state) {
    case SessionState::kConnecting:
      return v1::CONNECTING;
    case SessionState::kConnected:
      return v1::CONNECTED;
    case SessionState::kSuspended:
      return v1::SUSPENDED;
    case SessionState::kLost:
      return v1::LOST;
    case SessionState::kExpired:
      return v1::EXPIRED;
    case SessionState::kAuthFailed:
      return v1::AUTH_FAILED;
    case SessionState::kClosed:
      return v1::CLOSED;
  }
  return v1::SESSION_STATE_UNSPECIFIED;
}

v1::SelectionStrategy ToProto(cluster::SelectionStrategy strategy) {
  using cluster::SelectionStrategy;
  switch (strategy) {
    case SelectionStrategy::kRandom:
      return v1::RANDOM;
    case SelectionStrategy::kRoundRobin:
      return v1::ROUND_ROBIN;
    case SelectionStrategy::kFixedWeightedRoundRobin:
      return v1::FIXED_WEIGHTED_ROUND_ROBIN;
    case SelectionStrategy::kDynamicWeightedRoundRobin:
      return v1::DYNAMIC_WEIGHTED_ROUND_ROBIN;
    case SelectionStrategy::kLowerWeight:
      return v1::LOWER_WEIGHT;
    case SelectionStrategy::kLowerLoadWeightedRoundRobin:
      return v1::LOWER_LOAD_WEIGHTED_ROUND_ROBIN;
  }
  return v1::SELECTION_STRATEGY_UNSPECIFIED;
}

void ToProto(absl::Duration duration, google::protobuf::Duration* out) {
  if (duration == absl::InfiniteDuration() || duration == -absl::InfiniteDuration()) {
    out->Clear();
    return;
  }
  const int64_t seconds = absl::IDivDuration(duration, absl::Seconds(1), &duration);
  out->set_seconds(seconds);
  out->set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(duration)));
}

void ToProto(absl::Time time, google::protobuf::Timestamp* out) {
  const int64_t nanos = absl::ToUnixNanos(time);
  int64_t seconds = nanos / 1000000000;
  int64_t rest = nanos % 1000000000;
  if (rest < 0) {  // Timestamp nanos are always non-negative
    rest += 1000000000;
    --seconds;
  }
  out->set_seconds(seconds);
  out->set_nanos(static_cast<int32_t>(rest));
}

void FillViewMeta(const cluster::ClusterView& view, uint64_t version, absl::string_view instance_id,
                  const cluster::Freshness& freshness, v1::ViewMeta* meta) {
  meta->set_version(version);
  meta->set_instance_id(std::string(instance_id));
  meta->set_session_state(ToProto(freshness.session_state));
  meta->set_syncing(!freshness.ever_synced);
  meta->set_stale(freshness.stale);
  meta->set_self_preservation(freshness.self_preservation);
  ToProto(freshness.stale_for, meta->mutable_stale_for());
  if (freshness.since_last_sync != absl::InfiniteDuration()) {
    ToProto(freshness.since_last_sync, meta->mutable_since_last_sync());
  }
  const cluster::DsDetection& ds = view.dolphinscheduler;
  if (ds.version != cluster::DsVersion::kAuto) {
    v1::DolphinSchedulerProfile* profile = meta->mutable_dolphinscheduler();
    const cluster::DsProfile& row = cluster::ProfileOf(ds.version);
    profile->set_version(std::string(row.name));
    profile->set_releases(std::string(row.releases));
    profile->set_detected(ds.detected);
    profile->set_reason(ds.reason);
    profile->set_mixed(ds.mixed);
  }
  for (const cluster::GroupSourceView& source : view.group_sources) {
    v1::GroupSource* out = meta->add_group_sources();
    out->set_source(source.source);
    out->set_stale(source.status.stale);
    out->set_problem(source.status.problem);
    if (source.status.last_success != absl::InfinitePast()) {
      ToProto(source.status.last_success, out->mutable_last_success());
    }
  }
}

void FillNode(const cluster::NodeInfo& node, absl::Time now, const NodeDetail& detail,
              v1::Node* out) {
  out->set_address(node.address);
  out->set_role(ToProto(node.role));
  out->set_state(ToProto(node.state));
  for (const std::string& group : node.groups) out->add_groups(group);
  out->set_drained(node.drained);
  if (node.role == NodeRole::kMaster && detail.slots != nullptr) {
    const int slot = detail.slots->SlotOf(node.address);
    if (slot >= 0) out->set_slot(slot);
  }
  if (detail.basic) return;
  out->set_reason(node.reason);
  ToProto(node.state_since, out->mutable_state_since());
  v1::Incarnation* incarnation = out->mutable_incarnation();
  incarnation->set_czxid(node.incarnation.czxid);
  incarnation->set_startup_time_ms(node.incarnation.startup_time_ms);
  incarnation->set_process_id(node.incarnation.process_id);
  for (const std::string& path : node.paths) out->add_paths(path);
  if (node.has_heartbeat) {
    *out->mutable_heartbeat() = node.heartbeat;
    if (!detail.basic) {
      out->set_dolphinscheduler_releases(
          cluster::DsVersionSetName(cluster::ReleasesWriting(node.role, node.heartbeat)));
    }
  }
  ToProto(std::max(now - node.last_data_change, absl::ZeroDuration()),
          out->mutable_heartbeat_age());
  out->set_drain_reason(node.drain_reason);
  if (detail.history && node.history != nullptr) {
    for (const cluster::Transition& transition : *node.history) {
      v1::Transition* t = out->add_history();
      ToProto(transition.at, t->mutable_at());
      t->set_from(ToProto(transition.from));
      t->set_to(ToProto(transition.to));
      t->set_cause(transition.cause);
    }
  }
}

void FillGroup(const cluster::GroupView& group, v1::Group* out) {
  out->set_name(group.name);
  out->set_members(static_cast<int32_t>(group.members.size()));
  out->set_selectable(group.selectable);
  for (const auto& [state, count] : group.count_by_state) {
    (*out->mutable_by_state())[std::string(cluster::NodeStateName(state))] = count;
  }
}

void FillSlots(const cluster::SlotAssignment& slots, v1::SlotAssignment* out) {
  for (const std::string& master : slots.masters) out->add_masters(master);
  out->set_epoch(slots.epoch);
}

void FillLeader(const cluster::LeaderInfo& leader, v1::Leader* out) {
  out->set_address(leader.address);
  out->set_fencing_token(leader.fencing_token);
  ToProto(absl::FromUnixMillis(leader.since_ms), out->mutable_since());
  out->set_holder_session(leader.holder_session);
  out->set_valid(leader.valid);
  out->set_problem(leader.problem);
  if (leader.claimed_at_ms != 0) {
    ToProto(absl::FromUnixMillis(leader.claimed_at_ms), out->mutable_claimed_at());
  }
}

void FillClusterView(const cluster::ClusterView& view, absl::Time now,
                     v1::GetClusterViewResponse* out) {
  const NodeDetail detail{/*history=*/false, &view.slots};
  for (const cluster::NodeInfoPtr& node : view.masters) {
    FillNode(*node, now, detail, out->add_masters());
  }
  for (const cluster::NodeInfoPtr& node : view.workers) {
    FillNode(*node, now, detail, out->add_workers());
  }
  for (const cluster::NodeInfoPtr& node : view.alert_servers) {
    FillNode(*node, now, detail, out->add_alert_servers());
  }
  FillClusterViewRest(view, out);
}

void FillClusterViewRest(const cluster::ClusterView& view, v1::GetClusterViewResponse* out) {
  for (const auto& [name, group] : view.groups) FillGroup(group, out->add_groups());
  FillSlots(view.slots, out->mutable_slots());
  if (view.leader.present) FillLeader(view.leader, out->mutable_leader());
  for (const cluster::RejectedZnode& rejected : view.rejected) {
    v1::RejectedZnode* r = out->add_rejected();
    r->set_path(rejected.path);
    r->set_reason(rejected.reason);
  }
}

void FillClusterEvent(const cluster::ClusterChange& change, absl::Time now, v1::ClusterEvent* out) {
  using Kind = cluster::ClusterChange::Kind;
  out->set_version(change.version);
  switch (change.kind) {
    case Kind::kNodeAdded:
      out->set_kind(v1::ClusterEvent::NODE_ADDED);
      break;
    case Kind::kNodeUpdated:
      out->set_kind(v1::ClusterEvent::NODE_UPDATED);
      break;
    case Kind::kNodeRemoved:
      out->set_kind(v1::ClusterEvent::NODE_REMOVED);
      break;
    case Kind::kSlotsChanged:
      out->set_kind(v1::ClusterEvent::SLOTS_CHANGED);
      if (change.slots != nullptr) FillSlots(*change.slots, out->mutable_slots());
      break;
    case Kind::kLeaderChanged:
      out->set_kind(v1::ClusterEvent::LEADER_CHANGED);
      if (change.leader != nullptr && change.leader->present) {
        FillLeader(*change.leader, out->mutable_leader());
      }
      break;
    case Kind::kSynced:
      out->set_kind(v1::ClusterEvent::SYNCED);
      break;
    case Kind::kRejectedChanged:
      out->set_kind(v1::ClusterEvent::REJECTED_CHANGED);
      break;
    case Kind::kGroupSourcesChanged:
      out->set_kind(v1::ClusterEvent::GROUP_SOURCES_CHANGED);
      break;
    case Kind::kProfileChanged:
      out->set_kind(v1::ClusterEvent::PROFILE_CHANGED);
      break;
    case Kind::kGroupsChanged:
      out->set_kind(v1::ClusterEvent::GROUPS_CHANGED);
      break;
  }
  if (change.node != nullptr) FillNode(*change.node, now, NodeDetail{}, out->mutable_node());
  out->set_state_changed(change.state_changed);
}

void FillCandidate(const cluster::CandidateExplanation& candidate, v1::Candidate* out) {
  out->set_address(candidate.address);
  out->set_state(ToProto(candidate.state));
  out->set_eligible(candidate.eligible);
  out->set_weight(candidate.weight);
  out->set_skipped(candidate.skipped);
}

absl::StatusOr<std::string> ParseAddressField(absl::string_view field, absl::string_view text) {
  if (text.empty()) return FieldError(field, "is required (\"host:port\")");
  absl::StatusOr<std::string> address = cluster::ParseNodeAddress(text);
  if (!address.ok()) return FieldError(field, address.status().message());
  return address;
}

absl::Status ValidateGroupField(absl::string_view field, absl::string_view name) {
  absl::Status status = cluster::ValidateGroupName(name);
  if (!status.ok()) return FieldError(field, status.message());
  return absl::OkStatus();
}

absl::StatusOr<NodeRole> ToNodeRole(absl::string_view field, int value) {
  switch (value) {
    case v1::MASTER:
      return NodeRole::kMaster;
    case v1::WORKER:
      return NodeRole::kWorker;
    case v1::ALERT_SERVER:
      return NodeRole::kAlertServer;
    case v1::NODE_ROLE_UNSPECIFIED:
      return FieldError(field, "is required (MASTER, WORKER or ALERT_SERVER)");
    default:
      return FieldError(field, absl::StrCat(value, " is not a NodeRole"));
  }
}

absl::StatusOr<NodeState> ToNodeState(absl::string_view field, int value) {
  switch (value) {
    case v1::REGISTERING:
      return NodeState::kRegistering;
    case v1::RUNNING:
      return NodeState::kRunning;
    case v1::OVERLOAD:
      return NodeState::kOverload;
    case v1::FAULT:
      return NodeState::kFault;
    case v1::RECOVERING:
      return NodeState::kRecovering;
    case v1::OFFLINE:
      return NodeState::kOffline;
    case v1::NODE_STATE_UNSPECIFIED:
      return FieldError(field, "NODE_STATE_UNSPECIFIED is not a state to filter on");
    default:
      return FieldError(field, absl::StrCat(value, " is not a NodeState"));
  }
}

absl::StatusOr<cluster::SelectRequest> ToSelectRequest(const v1::SelectWorkerRequest& request) {
  using cluster::SelectionStrategy;
  cluster::SelectRequest out;
  if (!request.group().empty()) {
    if (absl::Status status = ValidateGroupField("group", request.group()); !status.ok()) {
      return status;
    }
    out.group = request.group();
  }
  switch (request.strategy()) {
    case v1::SELECTION_STRATEGY_UNSPECIFIED:
      break;  // the DolphinScheduler release's default
    case v1::ROUND_ROBIN:
      out.strategy = SelectionStrategy::kRoundRobin;
      break;
    case v1::RANDOM:
      out.strategy = SelectionStrategy::kRandom;
      break;
    case v1::FIXED_WEIGHTED_ROUND_ROBIN:
      out.strategy = SelectionStrategy::kFixedWeightedRoundRobin;
      break;
    case v1::DYNAMIC_WEIGHTED_ROUND_ROBIN:
      out.strategy = SelectionStrategy::kDynamicWeightedRoundRobin;
      break;
    case v1::LOWER_WEIGHT:
      out.strategy = SelectionStrategy::kLowerWeight;
      break;
    case v1::LOWER_LOAD_WEIGHTED_ROUND_ROBIN:
      out.strategy = SelectionStrategy::kLowerLoadWeightedRoundRobin;
      break;
    default:
      return FieldError("strategy",
                        absl::StrCat(static_cast<int>(request.strategy()),
                                     " is not a SelectionStrategy (RANDOM, ROUND_ROBIN, "
                                     "FIXED_WEIGHTED_ROUND_ROBIN, DYNAMIC_WEIGHTED_ROUND_ROBIN, "
                                     "LOWER_WEIGHT, LOWER_LOAD_WEIGHTED_ROUND_ROBIN)"));
  }
  if (!v1::NodeView_IsValid(request.view())) {
    return FieldError("view", absl::StrCat(request.view(), " is not a NodeView"));
  }
  if (request.exclude_size() > kMaxExcludedAddresses) {
    return FieldError("exclude",
                      absl::StrCat(request.exclude_size(), " addresses, more than the limit of ",
                                   kMaxExcludedAddresses));
  }
  out.exclude.reserve(request.exclude_size());
  for (int i = 0; i < request.exclude_size(); ++i) {
    absl::StatusOr<std::string> address =
        ParseAddressField(absl::StrCat("exclude[", i, "]"), request.exclude(i));
    if (!address.ok()) return address.status();
    out.exclude.push_back(*std::move(address));
  }
  out.allow_overload = request.allow_overload();
  out.explain = request.explain();
  return out;
}

absl::StatusOr<std::vector<NodeState>> ToStateFilter(
    const google::protobuf::RepeatedField<int>& states) {
  if (states.size() > kMaxEnumFilterValues) {
    return FieldError("states", absl::StrCat(states.size(), " values, more than the limit of ",
                                             kMaxEnumFilterValues));
  }
  std::vector<NodeState> out;
  for (int i = 0; i < states.size(); ++i) {
    absl::StatusOr<NodeState> state = ToNodeState(absl::StrCat("states[", i, "]"), states.Get(i));
    if (!state.ok()) return state.status();
    out.push_back(*state);
  }
  return out;
}

absl::StatusOr<std::optional<cluster::IncarnationClaim>> ToIncarnationClaim(
    const v1::GetMasterSlotRequest& request) {
  if (request.has_startup_time_ms() != request.has_process_id()) {
    return FieldError(request.has_startup_time_ms() ? "process_id" : "startup_time_ms",
                      "startup_time_ms and process_id identify an incarnation together: set "
                      "both or neither");
  }
  if (!request.has_startup_time_ms()) return std::optional<cluster::IncarnationClaim>();
  if (request.startup_time_ms() < 0) {
    return FieldError("startup_time_ms", absl::StrCat(request.startup_time_ms(), " is negative"));
  }
  return std::optional<cluster::IncarnationClaim>(
      cluster::IncarnationClaim{request.startup_time_ms(), request.process_id()});
}

absl::Status ValidateGetWorkerGroup(const v1::GetWorkerGroupRequest& request) {
  if (request.name().empty()) return FieldError("name", "is required");
  RETURN_IF_ERROR(ValidateGroupField("name", request.name()));
  if (!v1::NodeView_IsValid(request.view())) {
    return FieldError("view", absl::StrCat(request.view(), " is not a NodeView"));
  }
  return absl::OkStatus();
}

absl::Status ValidateDrainReason(absl::string_view reason) {
  if (reason.empty() || reason.size() > kMaxDrainReasonBytes) {
    return FieldError("reason", absl::StrCat("is required, 1 to ", kMaxDrainReasonBytes,
                                             " bytes (got ", reason.size(), ")"));
  }
  return absl::OkStatus();
}

absl::StatusOr<absl::Duration> ToLease(const v1::RegisterNodeRequest& request,
                                       absl::Duration default_lease, absl::Duration min_lease,
                                       absl::Duration max_lease) {
  if (!request.has_lease() || (request.lease().seconds() == 0 && request.lease().nanos() == 0)) {
    return default_lease;
  }
  const absl::Duration lease =
      absl::Seconds(request.lease().seconds()) + absl::Nanoseconds(request.lease().nanos());
  if (lease < min_lease || lease > max_lease) {
    return FieldError("lease", absl::StrCat(absl::FormatDuration(lease), " is not in [",
                                            absl::FormatDuration(min_lease), ", ",
                                            absl::FormatDuration(max_lease), "]"));
  }
  return lease;
}

absl::StatusOr<std::string> RegistrationPayload(NodeRole role, absl::string_view address,
                                                v1::Heartbeat heartbeat,
                                                const cluster::HeartbeatLimits& limits,
                                                absl::Time wall_now) {
  // The znode name is authoritative; fill what DolphinScheduler would write and the caller
  // left out.
  const size_t colon = address.rfind(':');
  if (heartbeat.host().empty()) {
    absl::string_view host = address.substr(0, colon);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
      host = host.substr(1, host.size() - 2);
    }
    heartbeat.set_host(std::string(host));
  }
  if (heartbeat.port() == 0) {
    int port = 0;
    if (absl::SimpleAtoi(address.substr(colon + 1), &port)) heartbeat.set_port(port);
  }
  if (heartbeat.report_time_ms() == 0) heartbeat.set_report_time_ms(absl::ToUnixMillis(wall_now));
  if (role == NodeRole::kWorker && heartbeat.host_weight() == 0) heartbeat.set_host_weight(100);
  std::string payload = cluster::EncodeHeartbeat(role, heartbeat);
  // What the cluster layer will make of it: refuse now what would put the node in FAULT. The
  // clock-skew check waits for the znode: its reference is the registry server's clock when it
  // was written, which a jump of this daemon's clock cannot move.
  absl::StatusOr<v1::Heartbeat> parsed =
      cluster::ParseHeartbeat(role, payload, limits, absl::InfinitePast());
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("heartbeat: ", parsed.status().message()));
  }
  return payload;
}

}  // namespace roster::server
