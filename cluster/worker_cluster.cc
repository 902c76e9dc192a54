#include "cluster/worker_cluster.h"

#include <algorithm>
#include <array>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/algorithm/container.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "cluster/layout.h"
#include "cluster/node_address.h"

namespace roster::cluster {

WorkerCluster::WorkerCluster(std::string workers_path, NodeTableOptions* options)
    : workers_path_(std::move(workers_path)), options_(options), table_(options) {}

std::optional<std::string> WorkerCluster::GroupDirectoryOf(
    const registry::RegistryEvent& event) const {
  // Heartbeats (ephemeral znodes) leave at the first test: this runs for every event.
  if (event.stat.ephemeral_owner != 0 || event.type == registry::EventType::kRemoved ||
      event.type == registry::EventType::kSynced) {
    return std::nullopt;
  }
  absl::string_view name = event.path;
  if (!absl::ConsumePrefix(&name, workers_path_) || !absl::ConsumePrefix(&name, "/") ||
      name.empty() || absl::StrContains(name, '/')) {
    return std::nullopt;
  }
  absl::StatusOr<std::optional<ZnodeAddress>> where =
      ClassifyZnode(NodeRole::kWorker, workers_path_, event);
  if (!where.ok() || where->has_value()) return std::nullopt;
  return std::string(name);
}

void WorkerCluster::Apply(registry::RegistryEvent&& event, absl::Time now, absl::Time wall_now,
                          std::unique_ptr<DecodedHeartbeat> decoded) {
  if (event.type == registry::EventType::kRemoved && !group_directories_.empty()) {
    absl::string_view name = event.path;
    if (absl::ConsumePrefix(&name, workers_path_) && absl::ConsumePrefix(&name, "/")) {
      auto it = group_directories_.find(name);
      if (it != group_directories_.end()) {
        group_directories_.erase(it);
        groups_changed_ = true;
      }
    }
  } else if (std::optional<std::string> group = GroupDirectoryOf(event)) {
    groups_changed_ |= group_directories_.insert(*std::move(group)).second;
  }
  table_.Apply(workers_path_, std::move(event), now, wall_now, std::move(decoded));
}

int WorkerCluster::ReconcileGroupDirectories(const std::vector<registry::RegistryEvent>& snapshot) {
  std::set<std::string, std::less<>> present;
  for (const registry::RegistryEvent& entry : snapshot) {
    if (std::optional<std::string> group = GroupDirectoryOf(entry)) {
      present.insert(*std::move(group));
    }
  }
  int corrections = 0;
  for (const std::string& group : present) corrections += group_directories_.count(group) == 0;
  for (const std::string& group : group_directories_) corrections += present.count(group) == 0;
  if (corrections > 0) {
    group_directories_ = std::move(present);
    groups_changed_ = true;
  }
  return corrections;
}

void WorkerCluster::SetMembership(std::shared_ptr<const GroupMembership> membership) {
  options_->groups = std::move(membership);
  table_.RefreshGroups();
  groups_changed_ = true;
}

std::vector<std::string> WorkerCluster::DefinedGroups() const {
  std::set<std::string> defined(group_directories_.begin(), group_directories_.end());
  if (options_->groups != nullptr) {
    defined.insert(options_->groups->defined.begin(), options_->groups->defined.end());
  }
  return {defined.begin(), defined.end()};
}

namespace {

// A member's share of its group's counts.
void Count(const NodeInfo& node, int sign, GroupView* group) {
  int& count = group->count_by_state[node.state];
  count += sign;
  if (count == 0) group->count_by_state.erase(node.state);
  if (node.state == NodeState::kRunning && !node.drained) group->selectable += sign;
}

}  // namespace

std::optional<WorkerCluster::GroupMap> WorkerCluster::UpdateGroups(
    const GroupMap& previous, const NodeList& previous_workers,
    const std::vector<NodeChange>& changes, const NodeList& workers,
    const std::vector<std::string>& defined) {
  // One change per worker: its state before the batch and after it (a batch may hold a held
  // change and a later one of the same worker, in order).
  std::vector<NodeChange> net;
  net.reserve(changes.size());
  absl::flat_hash_map<absl::string_view, size_t> index;
  for (const NodeChange& change : changes) {
    const NodeInfoPtr& node = change.after != nullptr ? change.after : change.before;
    auto [it, inserted] = index.try_emplace(node->address, net.size());
    if (inserted) {
      net.push_back(change);
    } else {
      net[it->second].after = change.after;
    }
  }
  // Workers still present after the batch: a group of every worker before it still is one
  // when each of them has the group (its additions below number as many).
  const size_t present_after = static_cast<size_t>(
      absl::c_count_if(net, [](const NodeChange& change) { return change.after != nullptr; }));
  GroupMap groups = previous;
  // Each group's changes, applied at once: its list copies only the chunks they touch.
  std::map<std::string, std::vector<NodeChange>, std::less<>> by_group;
  for (const NodeChange& change : net) {
    if (change.before != nullptr) {
      for (const std::string& name : change.before->groups) {
        auto group = groups.find(name);
        // Not the member the groups hold: they are not what `previous` says; rebuild.
        if (group == groups.end() ||
            group->second.members.FindSorted(change.before->address) != change.before) {
          return std::nullopt;
        }
        Count(*change.before, -1, &group->second);
        const bool stays =
            change.after != nullptr && absl::c_linear_search(change.after->groups, name);
        if (!stays) by_group[name].push_back(NodeChange{change.before, nullptr});
      }
    }
    if (change.after != nullptr) {
      for (const std::string& name : change.after->groups) {
        GroupView& group = groups[name];
        group.name = name;
        if (change.before == nullptr &&
            group.members.FindSorted(change.after->address) != nullptr) {
          return std::nullopt;  // an added worker already a member: rebuild
        }
        Count(*change.after, +1, &group);
        by_group[name].push_back(NodeChange{nullptr, change.after});
      }
    }
  }
  for (const auto& [name, group_changes] : by_group) {
    auto group = groups.find(name);
    const size_t additions = static_cast<size_t>(absl::c_count_if(
        group_changes, [](const NodeChange& change) { return change.after != nullptr; }));
    NodeList& members = group->second.members;
    // Every worker before the batch and every one after it: the list is the workers' own.
    members = additions == present_after && members.SameChunksAs(previous_workers)
                  ? workers
                  : members.Apply(group_changes);
    // As BuildGroups: a group exists while it has a member, is defined, or is "default".
    if (group->second.members.size() == 0 && name != "default" &&
        !std::binary_search(defined.begin(), defined.end(), name)) {
      groups.erase(group);
    }
  }
  return groups;
}

WorkerCluster::GroupMap WorkerCluster::BuildGroups(const NodeList& workers,
                                                   const std::vector<std::string>& defined) {
  // Runs on every worker for a batch that changed many (the first full read, a resync, a
  // burst): one hash lookup per (worker, group), the counts in an array. The names are the
  // workers' own strings, alive while `workers` is; so are the nodes the members point to,
  // counted (a reference each) only for a group that is not every worker.
  struct Members {
    std::vector<const NodeInfoPtr*> nodes;  // `workers` is sorted, so these are too
    std::array<int, kNodeStateCount> count_by_state{};
    int selectable = 0;
  };
  absl::flat_hash_map<absl::string_view, Members> members;
  for (const NodeInfoPtr& worker : workers) {
    const size_t state = static_cast<size_t>(worker->state);
    const bool selectable = worker->state == NodeState::kRunning && !worker->drained;
    for (const std::string& name : worker->groups) {
      Members& group = members[name];
      group.nodes.push_back(&worker);
      group.count_by_state[state]++;
      group.selectable += selectable;
    }
  }
  GroupMap groups;
  groups["default"].name = "default";
  for (const std::string& name : defined) groups[name].name = name;
  for (auto& [name, group] : members) {
    auto it = groups.try_emplace(std::string(name)).first;
    GroupView& view = it->second;
    view.name = it->first;
    if (group.nodes.size() == workers.size()) {
      view.members = workers;  // a sorted subset as long as the list is the list
    } else {
      std::vector<NodeInfoPtr> nodes;
      nodes.reserve(group.nodes.size());
      for (const NodeInfoPtr* node : group.nodes) nodes.push_back(*node);
      view.members = NodeList(std::move(nodes));
    }
    view.selectable = group.selectable;
    for (size_t state = 0; state < kNodeStateCount; ++state) {
      if (group.count_by_state[state] > 0) {
        view.count_by_state[static_cast<NodeState>(state)] = group.count_by_state[state];
      }
    }
  }
  return groups;
}

absl::StatusOr<StaticGroups> WorkerCluster::LoadStaticGroups(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat("cannot read the worker group file '", path, "' (--worker_group_file)"));
  }
  std::stringstream text;
  text << in.rdbuf();
  return ParseStaticGroups(text.str(), path);
}

absl::StatusOr<StaticGroups> WorkerCluster::ParseStaticGroups(absl::string_view text,
                                                              absl::string_view name) {
  StaticGroups groups;
  int number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++number;
    auto bad = [&](absl::string_view why) {
      return absl::InvalidArgumentError(absl::StrCat(name, ":", number, ": ", why));
    };
    line = line.substr(0, line.find('#'));
    line = absl::StripAsciiWhitespace(line);
    if (line.empty()) continue;
    if (line.find('=') == absl::string_view::npos) {
      return bad("expected 'group = host:port, host:port'");
    }
    std::pair<absl::string_view, absl::string_view> parts =
        absl::StrSplit(line, absl::MaxSplits('=', 1));
    const std::string group(absl::StripAsciiWhitespace(parts.first));
    absl::Status valid = ValidateGroupName(group);
    if (!valid.ok()) return bad(valid.message());
    for (absl::string_view item : absl::StrSplit(parts.second, ',', absl::SkipWhitespace())) {
      absl::StatusOr<std::string> address = ParseNodeAddress(absl::StripAsciiWhitespace(item));
      if (!address.ok()) return bad(address.status().message());
      groups[*address].push_back(group);
    }
  }
  return groups;
}

}  // namespace roster::cluster
