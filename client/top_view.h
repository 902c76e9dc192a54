// The model and the frame of `rosterctl top`: a mirror of the cluster view kept up to date
// from WatchCluster messages (a snapshot, then events), drawn as a header (view version and
// session, masters with their slots, the leader, worker counts by state, groups with their
// selectable workers) and the workers sorted by load, busiest first.
//
//   TopView top;
//   while (follower.Next(&message).ok()) {
//     top.Apply(message, absl::Now());
//     std::cout << top.Render(absl::Now(), /*max_lines=*/0);
//   }
//
// "Load" is the worker's CPU usage from its last heartbeat (what DolphinScheduler's
// LowerWeight rule weighs first); ties go to memory usage, then the address. A worker without
// a heartbeat sorts last. The heartbeat age shown grows with the time since the message that
// carried it, so a still frame does not lie about how old a heartbeat is.
//
// Thread-safety: thread-compatible (a value).
#pragma once

#include <cstddef>
#include <map>
#include <string>

#include "absl/time/time.h"
#include "roster/v1/roster.pb.h"

namespace roster::client {

// Thread-compatible.
class TopView {
 public:
  // A snapshot replaces everything; events update one node, the slots or the leader; the
  // meta of every message replaces the last one. Returns whether the message changed what the
  // frame shows (a resync_required or a SYNCED event alone does not).
  bool Apply(const roster::v1::WatchClusterResponse& message, absl::Time now);

  // Whether a snapshot arrived (before it there is nothing to draw).
  bool has_snapshot() const { return has_snapshot_; }
  size_t workers() const { return workers_.size(); }

  // The frame, '\n'-terminated lines. `max_lines` > 0 cuts the worker table to fit (saying how
  // many rows were left out); 0 draws every worker. `title` goes on the first line (the
  // target).
  std::string Render(absl::Time now, size_t max_lines, const std::string& title = "") const;

 private:
  struct Entry {
    roster::v1::Node node;
    absl::Time received;  // when the message carrying `node` arrived
  };

  std::string Header(absl::Time now, const std::string& title) const;
  std::string GroupLine() const;
  std::string WorkerTable(absl::Time now, size_t max_rows) const;

  bool has_snapshot_ = false;
  roster::v1::ViewMeta meta_;
  std::map<std::string, Entry> masters_;  // by address
  std::map<std::string, Entry> workers_;
  std::map<std::string, Entry> alert_servers_;
  roster::v1::SlotAssignment slots_;
  bool has_leader_ = false;
  roster::v1::Leader leader_;
};

}  // namespace roster::client
