// What roster knows about one node (a master, worker or alert server), as published in a
// ClusterView: its state, incarnation, last heartbeat and transition history.
//
// NodeInfo values are immutable once published and shared between views
// (`std::shared_ptr<const NodeInfo>`): a view copies pointers, not nodes.
//
// Thread-safety: the types are values; a published NodeInfo is immutable.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "roster/v1/heartbeat.pb.h"

namespace roster::cluster {

enum class NodeRole { kMaster, kWorker, kAlertServer };

absl::string_view NodeRoleName(NodeRole role);  // "MASTER", "WORKER", "ALERT_SERVER"

// The node state machine's states (docs/states.md).
enum class NodeState {
  kRegistering,  // znode seen, no valid heartbeat yet
  kRunning,      // heartbeating, not overloaded
  kOverload,     // heartbeating, overloaded (BUSY, or load above the thresholds)
  kFault,        // znode present but heartbeats stopped, or the payload is bad
  kRecovering,   // was FAULT, heartbeats came back; RUNNING after a probation
  kOffline,      // znode gone, or drained by an operator; kept as a tombstone for a while
  // Add a state before kOffline: kNodeStateCount counts from it.
};

// How many states there are, for arrays indexed by a NodeState.
inline constexpr size_t kNodeStateCount = static_cast<size_t>(NodeState::kOffline) + 1;

absl::string_view NodeStateName(NodeState state);  // "REGISTERING", "RUNNING", ...

// Which incarnation of a node an event belongs to: a restarted node is a new incarnation, and
// an event of an older incarnation never overwrites a newer one. Ordered lexicographically:
// the znode's creation zxid first (ZooKeeper's own order), then the node's start time and
// process id (which tell apart two processes writing to one znode).
struct Incarnation {
  int64_t czxid = 0;
  int64_t startup_time_ms = 0;
  int32_t process_id = 0;

  friend bool operator<(const Incarnation& a, const Incarnation& b) {
    return std::tie(a.czxid, a.startup_time_ms, a.process_id) <
           std::tie(b.czxid, b.startup_time_ms, b.process_id);
  }
  friend bool operator==(const Incarnation& a, const Incarnation& b) {
    return a.czxid == b.czxid && a.startup_time_ms == b.startup_time_ms &&
           a.process_id == b.process_id;
  }
  friend bool operator!=(const Incarnation& a, const Incarnation& b) { return !(a == b); }
};

// One state change, with its cause ("heartbeat BUSY", "no heartbeat for 30s (3 intervals of
// 10s)", "heartbeat rejected: cpuUsage NaN is not in [0, 1]", "drained by operator: ...").
struct Transition {
  absl::Time at;   // wall-clock time, for people
  NodeState from;  // equal to `to` for the first entry (the node appeared)
  NodeState to;
  std::string cause;
};

// An immutable list of strings that consecutive versions of a node share while
// it stays the same: a heartbeat's new NodeInfo copies one pointer, not the list and its
// strings, and the change log's thousands of kept versions hold one list per node
// (docs/architecture.md, "Publishing a view"). Reads like a const std::vector<std::string>.
class SharedStrings {
 public:
  using value_type = std::string;
  using const_iterator = std::vector<std::string>::const_iterator;
  using iterator = const_iterator;
  using size_type = size_t;

  SharedStrings() = default;
  // Implicit, so that a list is assigned as a vector is.
  SharedStrings(std::vector<std::string> strings)  // NOLINT(google-explicit-constructor)
      : list_(strings.empty()
                  ? nullptr
                  : std::make_shared<const std::vector<std::string>>(std::move(strings))) {}
  SharedStrings(std::initializer_list<std::string> strings)
      : SharedStrings(std::vector<std::string>(strings)) {}

  // `strings`, sharing `previous`'s list when it holds the same strings (no allocation then).
  static SharedStrings Reuse(const SharedStrings& previous,
                             const std::vector<std::string>& strings) {
    if (previous.get() == strings) return previous;
    return SharedStrings(strings);
  }

  const std::vector<std::string>& get() const { return list_ != nullptr ? *list_ : Empty(); }
  const_iterator begin() const { return get().begin(); }
  const_iterator end() const { return get().end(); }
  size_t size() const { return get().size(); }
  bool empty() const { return list_ == nullptr; }
  const std::string& operator[](size_t i) const { return get()[i]; }
  const std::string& front() const { return get().front(); }
  const std::string& back() const { return get().back(); }
  // Whether both share one list (then they are equal without comparing a string).
  bool SharesWith(const SharedStrings& other) const { return list_ == other.list_; }

  friend bool operator==(const SharedStrings& a, const SharedStrings& b) {
    return a.list_ == b.list_ || a.get() == b.get();
  }
  friend bool operator!=(const SharedStrings& a, const SharedStrings& b) { return !(a == b); }
  friend bool operator==(const SharedStrings& a, const std::vector<std::string>& b) {
    return a.get() == b;
  }
  friend bool operator==(const std::vector<std::string>& a, const SharedStrings& b) {
    return a == b.get();
  }

 private:
  static const std::vector<std::string>& Empty() {
    static const std::vector<std::string>* const empty = new std::vector<std::string>();
    return *empty;
  }

  std::shared_ptr<const std::vector<std::string>> list_;  // null for an empty list
};

struct NodeInfo {
  std::string address;  // "host:port", the node's identity
  NodeRole role = NodeRole::kWorker;
  NodeState state = NodeState::kRegistering;
  std::string reason;      // cause of the last transition into `state`
  absl::Time state_since;  // wall clock
  Incarnation incarnation;
  // The znode(s) registering this node, sorted (a legacy worker in two groups has two).
  SharedStrings paths;
  int64_t mzxid = 0;  // last data change seen
  // The ZooKeeper session owning the newest znode (largest czxid) registering this node, or 0
  // (no znode, or a persistent one). Tells a restarted node's session from its predecessor's.
  int64_t ephemeral_owner = 0;
  // The last valid heartbeat (empty until one arrives). A rejected payload leaves the last
  // valid one here and puts the reason in `reason`.
  roster::v1::Heartbeat heartbeat;
  bool has_heartbeat = false;
  // Last time the znode's data changed, on the daemon's monotonic clock: liveness is measured
  // from this, never from the node's reportTime.
  absl::Time last_data_change;
  // Workers: the groups this worker is in, sorted (always includes "default").
  SharedStrings groups;
  bool drained = false;
  std::string drain_reason;
  // Oldest first, bounded (NodeTimingOptions::history_limit); null for none. The versions of a
  // node between two of its transitions share one list: a heartbeat's new NodeInfo neither
  // copies it nor keeps another copy alive (the change log holds thousands of versions).
  std::shared_ptr<const std::vector<Transition>> history;
};

using NodeInfoPtr = std::shared_ptr<const NodeInfo>;

}  // namespace roster::cluster
