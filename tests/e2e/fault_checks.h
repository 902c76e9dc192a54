// What the fault tests check after ZooKeeper or the network misbehaved: the identity of the
// cluster as a scheduler acts on it (each node's znode, the slot assignment, the leader and its
// fencing token) and the events of a watch stream that would make a scheduler act (a node
// leaving, a state change).
//
// Thread-safety: plain values and free functions.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "roster/v1/roster.pb.h"
#include "tests/server/server_test_env.h"

namespace roster::testing {

// What must not change when the registry only blinks: each node's znode (its czxid), the slot
// assignment and its epoch, the leader and its fencing token.
struct ClusterIdentity {
  std::map<std::string, int64_t> czxids;
  std::vector<std::string> slot_masters;
  uint64_t epoch = 0;
  std::string leader;
  int64_t fencing_token = 0;

  static ClusterIdentity Of(const v1::GetClusterViewResponse& view) {
    ClusterIdentity identity;
    for (const auto* nodes : {&view.masters(), &view.workers()}) {
      for (const v1::Node& node : *nodes) {
        identity.czxids[node.address()] = node.incarnation().czxid();
      }
    }
    identity.slot_masters.assign(view.slots().masters().begin(), view.slots().masters().end());
    identity.epoch = view.slots().epoch();
    identity.leader = view.leader().address();
    identity.fencing_token = view.leader().fencing_token();
    return identity;
  }

  std::string ToString() const {
    std::vector<std::string> nodes;
    for (const auto& [address, czxid] : czxids) nodes.push_back(absl::StrCat(address, "@", czxid));
    return absl::StrCat("nodes [", absl::StrJoin(nodes, ","), "] slots [",
                        absl::StrJoin(slot_masters, ","), "] epoch ", epoch, ", leader ", leader,
                        " token ", fencing_token);
  }

  friend bool operator==(const ClusterIdentity& a, const ClusterIdentity& b) {
    return std::tie(a.czxids, a.slot_masters, a.epoch, a.leader, a.fencing_token) ==
           std::tie(b.czxids, b.slot_masters, b.epoch, b.leader, b.fencing_token);
  }
};

inline std::string DescribeEvent(const v1::ClusterEvent& event) {
  return absl::StrCat("version ", event.version(), " ", v1::ClusterEvent::Kind_Name(event.kind()),
                      " ", event.node().address(), " ", v1::NodeState_Name(event.node().state()),
                      ": ", event.node().reason());
}

// The events of a watch stream that `match` picks, described.
inline std::vector<std::string> EventsWhere(
    const WatchClient& watch, const std::function<bool(const v1::ClusterEvent&)>& match) {
  std::vector<std::string> out;
  for (const v1::ClusterEvent& event : watch.events()) {
    if (match(event)) out.push_back(DescribeEvent(event));
  }
  return out;
}

// Events in a watch stream that say a node left: OFFLINE, or removed.
inline std::vector<std::string> Departures(const WatchClient& watch) {
  return EventsWhere(watch, [](const v1::ClusterEvent& event) {
    return event.kind() == v1::ClusterEvent::NODE_REMOVED ||
           (event.has_node() && event.node().state() == v1::OFFLINE);
  });
}

// Events in a watch stream that a steady cluster never causes: a node added, removed or changing
// state (or drain flag, groups, incarnation), the slots or the leader changing. Load updates
// are not transitions.
inline std::vector<std::string> Transitions(const WatchClient& watch) {
  return EventsWhere(watch, [](const v1::ClusterEvent& event) {
    return event.kind() != v1::ClusterEvent::NODE_UPDATED || event.state_changed();
  });
}

}  // namespace roster::testing
