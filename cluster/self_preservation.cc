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

}  // namespace

template <typename F>
void SelfPreservation::ForEachTally(NodeRole role, const NodeInfo& node, F f) {
  auto visit = [&](const std::string& group) {
    auto it = tallies_.try_emplace(PopulationKey(role, group)).first;
    f(it->second);
    if (it->second.lost.empty() && it->second.held == 0) tallies_.erase(it);
  };
  visit(std::string());
  if (role != NodeRole::kWorker) return;
  for (const std::string& group : node.groups) {
    if (group != "default") visit(group);  // "default" is every worker: counted as "workers"
  }
}

void SelfPreservation::AddLoss(const std::string& address, Loss loss) {
  EraseLoss(address);  // lost again: counted once, from its latest loss
  loss_order_.emplace(loss.at, address);
  ForEachTally(loss.role, *loss.last_good, [&](Tally& tally) { tally.lost.insert(address); });
  losses_.emplace(address, std::move(loss));
}

void SelfPreservation::EraseLoss(const std::string& address) {
  auto it = losses_.find(address);
  if (it == losses_.end()) return;
  loss_order_.erase({it->second.at, address});
  ForEachTally(it->second.role, *it->second.last_good,
               [&](Tally& tally) { tally.lost.erase(address); });
  losses_.erase(it);
}

void SelfPreservation::AddHeld(const std::string& address, Held held) {
  EraseHeld(address);
  held_order_.emplace(held.since, address);
  ForEachTally(held.role, *held.shown, [](Tally& tally) { ++tally.held; });
  held_.emplace(address, std::move(held));
}

void SelfPreservation::EraseHeld(const std::string& address) {
  auto it = held_.find(address);
  if (it == held_.end()) return;
  held_order_.erase({it->second.since, address});
  ForEachTally(it->second.role, *it->second.shown, [](Tally& tally) { --tally.held; });
  held_.erase(it);
}

bool SelfPreservation::Filter(const ClusterView& previous, absl::Time now, absl::Time wall_now,
                              const LiveNodeLookup& live, ViewChanges* changes) {
  if (options_.fraction <= 0 && held_.empty()) return false;
  std::map<std::string, size_t> fresh_masters;
  std::map<std::string, size_t> fresh_workers;
  Scan(now, NodeRole::kMaster, &changes->masters, &fresh_masters);
  Scan(now, NodeRole::kWorker, &changes->workers, &fresh_workers);
  while (!loss_order_.empty() && now - loss_order_.begin()->first > options_.window) {
    EraseLoss(std::string(loss_order_.begin()->second));  // a copy: the entry goes
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
  for (const auto& [since, address] : held_order_) {
    if (now - since < options_.max_hold) break;
    expired.push_back(address);
  }
  if (!expired.empty()) {
    std::sort(expired.begin(), expired.end());  // released in address order, as they are held
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
      const std::string was_held = held->first;  // `address` may be change.before's
      change.before = held->second.shown;
      EraseHeld(was_held);
      EraseLoss(was_held);
    } else if (IsLoss(change)) {
      AddLoss(address, Loss{role, now, change.before, change.after});
      (*fresh)[address] = kept.size();
    } else if (change.after != nullptr && !IsDown(*change.after)) {
      EraseLoss(address);  // came back within the window: no longer lost
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
  // This batch's losses, per population: `previous` does not show them lost yet.
  std::map<const Tally*, int> fresh_in;
  for (const std::map<std::string, size_t>* fresh : {&fresh_masters, &fresh_workers}) {
    for (const auto& [address, index] : *fresh) {
      const Loss& loss = losses_.at(address);
      ForEachTally(loss.role, *loss.last_good, [&](Tally& tally) { ++fresh_in[&tally]; });
    }
  }
  std::vector<std::string> to_hold;
  // Only a population with a loss in the window is counted, in O(its chunks changed since it
  // was last counted) (NodeCounter), so a wave does not walk every group on each publish.
  auto count = [&](NodeRole role, const std::string& group, const NodeList& members) {
    auto it = tallies_.find(PopulationKey(role, group));
    if (it == tallies_.end() || it->second.lost.empty()) return;
    const Tally& tally = it->second;
    const std::string name = role == NodeRole::kMaster ? "masters"
                             : group.empty()           ? "workers"
                                             : absl::StrCat("workers of group '", group, "'");
    auto fresh = fresh_in.find(&tally);
    const int lost = static_cast<int>(tally.lost.size());
    const int lost_not_shown = lost - (fresh == fresh_in.end() ? 0 : fresh->second);
    // Up in the previous view (held copies included), plus those it already shows lost.
    const int nodes =
        lost_not_shown + up_counts_.try_emplace(name, &IsUp).first->second.Count(members);
    const int gone = lost + tally.held;
    if (nodes < options_.min_nodes || gone <= options_.fraction * static_cast<double>(nodes)) {
      return;
    }
    const NodeInfo& example = *losses_.at(*tally.lost.begin()).seen;
    (*reasons)[name] =
        absl::StrCat(gone, " of ", nodes, " ", name, " went FAULT or OFFLINE within ",
                     absl::FormatDuration(options_.window), " (more than ", options_.fraction * 100,
                     "%, --self_preservation_fraction; e.g. '", example.address, "' ",
                     NodeStateName(example.state), ": ", example.reason, ")");
    to_hold.insert(to_hold.end(), tally.lost.begin(), tally.lost.end());
  };
  count(NodeRole::kMaster, "", previous.masters);
  count(NodeRole::kWorker, "", previous.workers);
  for (const auto& [name, group] : previous.groups) {
    if (name != "default") count(NodeRole::kWorker, name, group.members);
  }
  std::sort(to_hold.begin(), to_hold.end());
  to_hold.erase(std::unique(to_hold.begin(), to_hold.end()), to_hold.end());
  return to_hold;
}

void SelfPreservation::Hold(const ClusterView& previous, const std::string& address, absl::Time now,
                            const std::map<std::string, size_t>& fresh, ViewChanges* changes) {
  const Loss loss = losses_.at(address);
  EraseLoss(address);
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
  AddHeld(address, Held{loss.role, std::move(shown), now});
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
  EraseHeld(address);
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
