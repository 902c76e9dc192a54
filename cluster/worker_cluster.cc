#include "cluster/worker_cluster.h"

#include <fstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "cluster/heartbeat_codec.h"

namespace roster::cluster {

WorkerCluster::WorkerCluster(std::string workers_path, const NodeTableOptions* options)
    : workers_path_(std::move(workers_path)), table_(options) {}

void WorkerCluster::Apply(const registry::RegistryEvent& event, absl::Time now,
                          absl::Time wall_now) {
  table_.Apply(workers_path_, event, now, wall_now);
}

std::map<std::string, GroupView, std::less<>> WorkerCluster::BuildGroups(
    const std::vector<NodeInfoPtr>& workers) {
  std::map<std::string, GroupView, std::less<>> groups;
  groups["default"].name = "default";
  for (const NodeInfoPtr& worker : workers) {
    for (const std::string& name : worker->groups) {
      GroupView& group = groups[name];
      group.name = name;
      group.members.push_back(worker);  // `workers` is sorted, so members are too
      group.count_by_state[worker->state]++;
      if (worker->state == NodeState::kRunning && !worker->drained) group.selectable++;
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
  StaticGroups groups;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    auto bad = [&](absl::string_view why) {
      return absl::InvalidArgumentError(absl::StrCat(path, ":", number, ": ", why));
    };
    absl::string_view text = line;
    text = text.substr(0, text.find('#'));
    text = absl::StripAsciiWhitespace(text);
    if (text.empty()) continue;
    std::pair<absl::string_view, absl::string_view> parts =
        absl::StrSplit(text, absl::MaxSplits('=', 1));
    if (text.find('=') == absl::string_view::npos) {
      return bad("expected 'group = host:port, host:port'");
    }
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
