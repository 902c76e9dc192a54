#include "cluster/cluster_view.h"

#include <algorithm>

namespace roster::cluster {

// The name functions of node_info.h live here: node_info.h has no .cc of its
// own.
absl::string_view NodeRoleName(NodeRole role) {
  switch (role) {
    case NodeRole::kMaster:
      return "MASTER";
    case NodeRole::kWorker:
      return "WORKER";
    case NodeRole::kAlertServer:
      return "ALERT_SERVER";
  }
  return "UNKNOWN_ROLE";
}

absl::string_view NodeStateName(NodeState state) {
  switch (state) {
    case NodeState::kRegistering:
      return "REGISTERING";
    case NodeState::kRunning:
      return "RUNNING";
    case NodeState::kOverload:
      return "OVERLOAD";
    case NodeState::kFault:
      return "FAULT";
    case NodeState::kRecovering:
      return "RECOVERING";
    case NodeState::kOffline:
      return "OFFLINE";
  }
  return "UNKNOWN_STATE";
}

int SlotAssignment::SlotOf(absl::string_view address) const {
  // Linear: DolphinScheduler policies keep masters in queue order, not sorted, and a
  // cluster has a handful of masters.
  auto it = std::find(masters.begin(), masters.end(), address);
  if (it == masters.end()) return -1;
  return static_cast<int>(it - masters.begin());
}

NodeInfoPtr ClusterView::Find(NodeRole role, absl::string_view address) const {
  switch (role) {
    case NodeRole::kMaster:
      return masters.FindSorted(address);
    case NodeRole::kWorker:
      return workers.FindSorted(address);
    case NodeRole::kAlertServer:
      return alert_servers.FindSorted(address);
  }
  return nullptr;
}

NodeInfoPtr ClusterView::FindAny(absl::string_view address) const {
  for (NodeRole role : {NodeRole::kMaster, NodeRole::kWorker, NodeRole::kAlertServer}) {
    if (NodeInfoPtr node = Find(role, address)) return node;
  }
  return nullptr;
}

const GroupView* ClusterView::FindGroup(absl::string_view name) const {
  auto it = groups.find(name);  // transparent comparator: no std::string built
  return it == groups.end() ? nullptr : &it->second;
}

}  // namespace roster::cluster
