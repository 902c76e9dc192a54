#include "cluster/self_preservation.h"

#include <algorithm>
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "glog/logging.h"

namespace roster::cluster {
namespace {

bool IsDown(const NodeInfo& node) {
  return node.state == NodeState::kFault || node.state == NodeState::kOffline;
}

// Counted as up in its population: neither down nor drained.
bool IsUp(const NodeInfo& node) { return !IsDown(node) && !node.drained; }

// Lost as rosterd might wrongly see it: up, then FAULT or OFFLINE, and no operator involved.
bool IsLoss(const NodeChange& change) {
  return change.before != nullptr && change.after != nullptr && !IsDown(*change.before) &&
         IsDown(*change.after) && !change.before->drained && !change.after->drained;
}

// One population whose losses are counted together.
struct Population {
  std::string name;  // "masters", "workers", "workers of group 'etl'"
  NodeRole role;
  const NodeList* members;
  const std::string* group;  // null: every node of the role
};

bool InGroup(const NodeInfo& node, const std::string* group) {
  return group == nullptr || std::binary_search(node.groups.begin(), node.groups.end(), *group);
}

}  // namespace

bool SelfPreservation::Filter(const ClusterView& previous, absl::Time now, absl::Time wall_now,
                              const LiveNodeLookup& live, ViewChanges* changes) {
  if (options_.fraction <= 0 && held_.empty()) return false;
  std::map<std::string, size_t> fresh_masters;
  std::map<std::string, size_t> fresh_workers;
  Scan(now, NodeRole::kMaster, &changes->masters, &fresh_masters);
  Scan(now, NodeRole::kWorker, &changes->workers, &fresh_workers);
  for (auto it = losses_.begin(); it != losses_.end();) {
    it = now - it->second.at > options_.window ? losses_.erase(it) : std::next(it);
  }
  if (options_.fraction > 0 && previous.synced) {
    std::map<std::string, std::string> reasons;
    const std::vector<std::string> to_hold =
        Triggered(previous, fresh_masters, fresh_workers, &reasons);
    if (!to_hold.empty()) {
      if (held_.empty()) episode_since_ = now;
      for (auto& [population, reason] : reasons) {
        LOG(WARNING) << "self-preservation: " << reason;
        reasons_[population] = std::move(reason);
      }
      LOG(WARNING) << "self-preservation: holding " << to_hold.size()
                   << " more node(s) in their last good state";
      for (const std::string& address : to_hold) {
        const bool master = losses_.at(address).role == NodeRole::kMaster;
        Hold(previous, address, now, master ? fresh_masters : fresh_workers, changes);
      }
    }
  }
  std::vector<std::string> expired;
  for (const auto& [address, held] : held_) {
    if (now - held.since >= options_.max_hold) expired.push_back(address);
  }
  if (!expired.empty()) {
    LOG(WARNING) << "self-preservation: " << expired.size() << " node(s) held for "
                 << absl::FormatDuration(options_.max_hold)
                 << " (--self_preservation_max_hold_ms) are still lost: accepted as real";
    for (const std::string& address : expired) Release(address, live, changes);
  }
  return UpdateStatus(wall_now);
}

int SelfPreservation::AcceptAll(const std::string& why, const LiveNodeLookup& live,
                                ViewChanges* changes) {
  const int count = static_cast<int>(held_.size());
  if (count == 0) return 0;
  LOG(WARNING) << "self-preservation: accepting the loss of " << count << " held node(s): " << why;
  std::vector<std::string> addresses;
  for (const auto& [address, held] : held_) addresses.push_back(address);
  for (const std::string& address : addresses) Release(address, live, changes);
  reasons_.clear();
  episode_since_ = absl::InfiniteFuture();
  status_ = SelfPreservationStatus();
  return count;
}

void SelfPreservation::Scan(absl::Time now, NodeRole role, std::vector<NodeChange>* changes,
                            std::map<std::string, size_t>* fresh) {
  std::vector<NodeChange> kept;
  kept.reserve(changes->size());
  for (NodeChange& change : *changes) {
    const std::string& address =
        change.after != nullptr ? change.after->address : change.before->address;
    auto held = held_.find(address);
    if (held != held_.end()) {
      if (change.after != nullptr && IsDown(*change.after) && !change.after->drained) {
        continue;  // still lost: the view keeps showing the held copy
      }
      // Back (or drained, or purged): the view moves from the held copy to the truth.
      LOG(INFO) << "self-preservation: '" << address << "' is no longer held: "
                << (change.after == nullptr ? "purged" : change.after->reason);
      change.before = held->second.shown;
      held_.erase(held);
      losses_.erase(address);
    } else if (IsLoss(change)) {
      losses_[address] = Loss{role, now, change.before, change.after};
      (*fresh)[address] = kept.size();
    } else if (change.after != nullptr && !IsDown(*change.after)) {
      losses_.erase(address);  // came back within the window: no longer lost
    }
    kept.push_back(std::move(change));
  }
  *changes = std::move(kept);
}

std::vector<std::string> SelfPreservation::Triggered(
    const ClusterView& previous, const std::map<std::string, size_t>& fresh_masters,
    const std::map<std::string, size_t>& fresh_workers,
    std::map<std::string, std::string>* reasons) {
  if (losses_.empty()) {  // the usual case: nothing to count, and no counts to keep
    up_counts_.clear();
    return {};
  }
  std::vector<Population> populations = {
      {"masters", NodeRole::kMaster, &previous.masters, nullptr},
      {"workers", NodeRole::kWorker, &previous.workers, nullptr},
  };
  for (const auto& [name, group] : previous.groups) {
    if (name == "default") continue;  // every worker: the same as "workers"
    populations.push_back(Population{absl::StrCat("workers of group '", name, "'"),
                                     NodeRole::kWorker, &group.members, &group.name});
  }
  std::vector<std::string> to_hold;
  for (const Population& p : populations) {
    const std::map<std::string, size_t>& fresh =
        p.role == NodeRole::kMaster ? fresh_masters : fresh_workers;
    std::vector<std::string> lost;
    const NodeInfo* example = nullptr;
    int lost_not_shown = 0;  // lost, and already down in the previous view
    for (const auto& [address, loss] : losses_) {
      if (loss.role != p.role || !InGroup(*loss.last_good, p.group)) continue;
      lost.push_back(address);
      if (fresh.count(address) == 0) ++lost_not_shown;
      if (example == nullptr) example = loss.seen.get();
    }
    // Only a population with a loss in the window is counted, in O(its chunks changed since
    // it was last counted) (NodeCounter), so a wave does not walk every group on each publish.
    if (lost.empty()) continue;
    // Up in the previous view (held copies included), plus those it already shows lost.
    const int nodes =
        lost_not_shown + up_counts_.try_emplace(p.name, &IsUp).first->second.Count(*p.members);
    int held = 0;
    for (const auto& [address, h] : held_) {
      if (h.role == p.role && InGroup(*h.shown, p.group)) ++held;
    }
    const int gone = static_cast<int>(lost.size()) + held;
    if (nodes < options_.min_nodes || gone <= options_.fraction * static_cast<double>(nodes)) {
      continue;
    }
    (*reasons)[p.name] =
        absl::StrCat(gone, " of ", nodes, " ", p.name, " went FAULT or OFFLINE within ",
                     absl::FormatDuration(options_.window), " (more than ", options_.fraction * 100,
                     "%, --self_preservation_fraction; e.g. '", example->address, "' ",
                     NodeStateName(example->state), ": ", example->reason, ")");
    to_hold.insert(to_hold.end(), lost.begin(), lost.end());
  }
  std::sort(to_hold.begin(), to_hold.end());
  to_hold.erase(std::unique(to_hold.begin(), to_hold.end()), to_hold.end());
  return to_hold;
}

void SelfPreservation::Hold(const ClusterView& previous, const std::string& address, absl::Time now,
                            const std::map<std::string, size_t>& fresh, ViewChanges* changes) {
  const Loss loss = losses_.at(address);
  losses_.erase(address);
  auto shown = std::make_shared<NodeInfo>(*loss.last_good);
  shown->reason = absl::StrCat("held by self-preservation in its last good state (rosterd sees ",
                               NodeStateName(loss.seen->state), ": ", loss.seen->reason,
                               "): rosterd suspects its own view");
  std::vector<NodeChange>& role_changes =
      loss.role == NodeRole::kMaster ? changes->masters : changes->workers;
  auto index = fresh.find(address);
  if (index != fresh.end()) {
    role_changes[index->second].after = shown;  // lost in this batch: never shown lost
  } else {
    // Shown lost already, earlier in the window: shown in its last good state again.
    NodeInfoPtr current = previous.Find(loss.role, address);
    if (current == nullptr) return;  // purged meanwhile
    role_changes.push_back(NodeChange{std::move(current), shown});
  }
  held_[address] = Held{loss.role, std::move(shown), now};
}

void SelfPreservation::Release(const std::string& address, const LiveNodeLookup& live,
                               ViewChanges* changes) {
  auto held = held_.find(address);
  if (held == held_.end()) return;
  std::vector<NodeChange>& role_changes =
      held->second.role == NodeRole::kMaster ? changes->masters : changes->workers;
  role_changes.push_back(
      NodeChange{held->second.shown, live(held->second.role, absl::string_view(address))});
  if (role_changes.back().after == nullptr && role_changes.back().before == nullptr) {
    role_changes.pop_back();
  }
  held_.erase(held);
}

bool SelfPreservation::UpdateStatus(absl::Time wall_now) {
  SelfPreservationStatus next;
  if (!held_.empty()) {
    next.active = true;
    next.held = static_cast<int>(held_.size());
    next.since = episode_since_;
    next.since_wall = status_.active ? status_.since_wall : wall_now;
    std::vector<std::string> reasons;
    for (const auto& [population, reason] : reasons_) reasons.push_back(reason);
    next.reason =
        absl::StrCat("self-preservation: holding ", held_.size(),
                     " node(s) in their last good state: ", absl::StrJoin(reasons, "; "),
                     "; rosterd suspects its own view (its clock, its watches) before the cluster; "
                     "accepted as real after ",
                     absl::FormatDuration(options_.max_hold),
                     " (--self_preservation_max_hold_ms) unless they come back");
  } else if (status_.active) {
    LOG(INFO) << "self-preservation ended: no node is held any more";
    reasons_.clear();
    episode_since_ = absl::InfiniteFuture();
  }
  if (next == status_) return false;
  status_ = std::move(next);
  return true;
}

void ApplySelfPreservation(const SelfPreservationStatus& status, absl::Time now, Freshness* f) {
  if (!status.active) return;
  f->stale = true;
  f->stale_for = std::max(f->stale_for, std::max(now - status.since, absl::ZeroDuration()));
  f->authoritative = false;
  f->self_preservation = status.reason;
}

}  // namespace roster::cluster
