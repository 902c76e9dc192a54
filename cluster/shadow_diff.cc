#include "cluster/shadow_diff.h"

#include <algorithm>
#include <map>
#include <string>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "google/protobuf/util/message_differencer.h"
#include "roster/v1/heartbeat.pb.h"

namespace roster::cluster {
namespace {

using Kind = ShadowDivergence::Kind;

std::map<std::string, NodeInfoPtr> Live(const NodeList& nodes) {
  std::map<std::string, NodeInfoPtr> live;
  for (const NodeInfoPtr& node : nodes) {
    if (node->state != NodeState::kOffline) live[node->address] = node;
  }
  return live;
}

// The heartbeat without its time fields.
v1::Heartbeat Comparable(const NodeInfo& node) {
  v1::Heartbeat heartbeat = node.heartbeat;
  heartbeat.clear_report_time_ms();
  return heartbeat;
}

// What differs, as protobuf's differencer reports it ("modified: cpu_usage: 0.2 -> 0.4"),
// primary first, on one line.
std::string HeartbeatDetail(const v1::Heartbeat& primary, const v1::Heartbeat& shadow) {
  std::string report;
  google::protobuf::util::MessageDifferencer differencer;
  differencer.ReportDifferencesToString(&report);
  differencer.Compare(primary, shadow);
  while (!report.empty() && report.back() == '\n') report.pop_back();
  absl::StrReplaceAll({{"\n", "; "}}, &report);
  return absl::StrCat(report, " (primary -> shadow)");
}

void CompareRole(NodeRole role, const NodeList& primary_nodes, const NodeList& shadow_nodes,
                 std::vector<ShadowDivergence>* out) {
  const std::map<std::string, NodeInfoPtr> primary = Live(primary_nodes);
  const std::map<std::string, NodeInfoPtr> shadow = Live(shadow_nodes);
  for (const auto& [address, node] : primary) {
    const auto other = shadow.find(address);
    if (other == shadow.end()) {
      out->push_back({Kind::kOnlyInPrimary, role, address,
                      absl::StrCat(NodeStateName(node->state), " in primary, absent in shadow")});
      continue;
    }
    if (node->state != other->second->state) {
      out->push_back({Kind::kState, role, address,
                      absl::StrCat(NodeStateName(node->state), " in primary, ",
                                   NodeStateName(other->second->state), " in shadow")});
    }
    const v1::Heartbeat a = Comparable(*node);
    const v1::Heartbeat b = Comparable(*other->second);
    if (node->has_heartbeat != other->second->has_heartbeat ||
        !google::protobuf::util::MessageDifferencer::Equals(a, b)) {
      out->push_back(
          {Kind::kHeartbeat, role, address,
           node->has_heartbeat != other->second->has_heartbeat
               ? absl::StrCat("a heartbeat only in ", node->has_heartbeat ? "primary" : "shadow")
               : HeartbeatDetail(a, b)});
    }
  }
  for (const auto& [address, node] : shadow) {
    if (primary.count(address) == 0) {
      out->push_back(
          {Kind::kOnlyInShadow, role, address,
           absl::StrCat("absent in primary, ", NodeStateName(node->state), " in shadow")});
    }
  }
}

}  // namespace

std::string ShadowDivergence::Key() const {
  return absl::StrCat(NodeRoleName(role), " ", address, " ", ShadowDivergenceKindName(kind));
}

absl::string_view ShadowDivergenceKindName(ShadowDivergence::Kind kind) {
  switch (kind) {
    case Kind::kOnlyInPrimary:
      return "only_in_primary";
    case Kind::kOnlyInShadow:
      return "only_in_shadow";
    case Kind::kState:
      return "state";
    case Kind::kHeartbeat:
      return "heartbeat";
  }
  return "unknown";
}

std::vector<ShadowDivergence> CompareViews(const ClusterView& primary, const ClusterView& shadow) {
  std::vector<ShadowDivergence> out;
  CompareRole(NodeRole::kMaster, primary.masters, shadow.masters, &out);
  CompareRole(NodeRole::kWorker, primary.workers, shadow.workers, &out);
  CompareRole(NodeRole::kAlertServer, primary.alert_servers, shadow.alert_servers, &out);
  std::sort(out.begin(), out.end(), [](const ShadowDivergence& a, const ShadowDivergence& b) {
    return std::make_tuple(a.role, a.address, a.kind) < std::make_tuple(b.role, b.address, b.kind);
  });
  return out;
}

}  // namespace roster::cluster
