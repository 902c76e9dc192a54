// SelfPreservation: when too many nodes go bad at once, suspect rosterd's own view first
// (docs/consistency.md, "Clock safety and self-preservation").
//
// A worker group, all workers or all masters losing more than a share of their nodes (to
// FAULT or OFFLINE) within a short window is more likely rosterd's problem (its clock jumped,
// its watches went quiet, its executor starved, the registry server's clock jumped) than a
// real outage. The detector sits between the live node tables and the published view: it
// rewrites one batch's node changes so that the view keeps the last good state of every node
// lost in such a wave ("held", its reason saying so and what rosterd sees), and reports the
// hold so that answers are flagged stale and slot and leader answers refused.
//
// A hold ends for a node when the node comes back (any state other than FAULT and OFFLINE), is
// drained or purged, or when it has been held for `max_hold`: then the loss is accepted as
// real and published (rosterd never refuses forever on a real outage). Drains are operator
// actions and never count as losses.
//
// Pure: no clock, no registry, no tables; time and the live state are passed in.
//
// Thread-safety: confined to the cluster executor (a value the manager owns).
#pragma once

#include <functional>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "cluster/cluster_view.h"
#include "cluster/freshness.h"
#include "cluster/node_table.h"
#include "cluster/view_builder.h"

namespace roster::cluster {

struct SelfPreservationOptions {
  // A population losing more than this share of its nodes within `window` is held; 0
  // disables the detector (every loss is published as it comes). 0.7: two of a group of three
  // failing together is something real clusters do (the e2e suite does it on purpose); three
  // of three, or most of a large group, is more likely rosterd's own view.
  double fraction = 0.7;
  absl::Duration window = absl::Seconds(30);
  // Populations (a group, all workers, all masters) with fewer nodes never trigger: losing 1
  // of 2 is not a wave.
  int min_nodes = 3;
  // How long a node is held at most before its loss is accepted as real.
  absl::Duration max_hold = absl::Minutes(2);
};

// The live info of a node (null when the tables no longer hold it).
using LiveNodeLookup = std::function<NodeInfoPtr(NodeRole, absl::string_view address)>;

class SelfPreservation {
 public:
  explicit SelfPreservation(SelfPreservationOptions options) : options_(options) {}

  // Rewrites the masters' and workers' changes of one batch, about to be applied to
  // `previous` at `now` (monotonic; `wall_now` stamps the status for people): a loss in a
  // population that lost too many is replaced by a held copy of the node's last good info,
  // nodes lost earlier in the window are held too (a change is added), and nodes whose hold
  // ends get their live info. Returns true when status() changed.
  bool Filter(const ClusterView& previous, absl::Time now, absl::Time wall_now,
              const LiveNodeLookup& live, ViewChanges* changes);

  // Accepts every held node's loss now (their live info is added to `changes`). Returns how
  // many were held.
  int AcceptAll(const std::string& why, const LiveNodeLookup& live, ViewChanges* changes);

  // What the view publishes: inactive when nothing is held.
  const SelfPreservationStatus& status() const { return status_; }
  size_t held() const { return held_.size(); }

 private:
  // A node the view shows lost (or is about to), within the window.
  struct Loss {
    NodeRole role;
    absl::Time at;          // monotonic
    NodeInfoPtr last_good;  // as the view showed it before the loss
    NodeInfoPtr seen;       // what rosterd saw then (FAULT or OFFLINE, and why)
  };
  struct Held {
    NodeRole role;
    NodeInfoPtr shown;  // the held copy in the view
    absl::Time since;   // monotonic
  };
  // A population: every node of a role (group ""), or the workers of one group.
  using PopulationKey = std::pair<NodeRole, std::string>;
  // What one population lost within the window, and how many of its nodes are held. Kept as
  // losses and holds come and go, so that a publish costs O(its changes + the groups), not
  // O(every loss in the window x the groups): a wave of thousands of losses below the fraction
  // is counted on every publish for a whole window.
  struct Tally {
    std::set<std::string> lost;  // addresses, in order (the first is the reason's example)
    int held = 0;
  };

  // Passes or absorbs the changes of held nodes; records new losses, with their index in
  // `changes` in `fresh`.
  void Scan(absl::Time now, NodeRole role, std::vector<NodeChange>* changes,
            std::map<std::string, size_t>* fresh);
  // The lost nodes to hold, because a population they are in lost too many; `reasons` says
  // which (population -> what it lost).
  std::vector<std::string> Triggered(const ClusterView& previous,
                                     const std::map<std::string, size_t>& fresh_masters,
                                     const std::map<std::string, size_t>& fresh_workers,
                                     std::map<std::string, std::string>* reasons);
  void Hold(const ClusterView& previous, const std::string& address, absl::Time now,
            const std::map<std::string, size_t>& fresh, ViewChanges* changes);
  // Publishes `address`'s live info in place of its held copy.
  void Release(const std::string& address, const LiveNodeLookup& live, ViewChanges* changes);
  bool UpdateStatus(absl::Time wall_now);

  // The only writers of losses_ and held_: they keep the tallies and the expiry orders.
  void AddLoss(const std::string& address, Loss loss);
  void EraseLoss(const std::string& address);
  void AddHeld(const std::string& address, Held held);
  void EraseHeld(const std::string& address);
  // Calls f(tally) for each population `node` of `role` is counted in, creating the tally.
  template <typename F>
  void ForEachTally(NodeRole role, const NodeInfo& node, F f);

  const SelfPreservationOptions options_;
  std::map<std::string, Loss> losses_;      // by address, within the window
  std::map<std::string, Held> held_;        // by address
  std::map<PopulationKey, Tally> tallies_;  // populations with a loss or a hold
  // losses_ by Loss::at and held_ by Held::since: what leaves the window or reaches max_hold
  // is found without walking the rest.
  std::set<std::pair<absl::Time, std::string>> loss_order_;
  std::set<std::pair<absl::Time, std::string>> held_order_;
  // Per population with a loss in the window: its members up (neither FAULT, OFFLINE nor
  // drained), counted in the chunks changed since the last count.
  std::map<std::string, NodeCounter> up_counts_;
  // Of the current episode: population -> what it lost, the latest count.
  std::map<std::string, std::string> reasons_;
  absl::Time episode_since_ = absl::InfiniteFuture();
  SelfPreservationStatus status_;
};

// A view held by self-preservation is stale (since the episode began) and not authoritative:
// `f` says so, with the reason.
void ApplySelfPreservation(const SelfPreservationStatus& status, absl::Time now, Freshness* f);

}  // namespace roster::cluster
