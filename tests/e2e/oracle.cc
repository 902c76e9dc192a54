#include "tests/e2e/oracle.h"

#include <algorithm>
#include <set>
#include <tuple>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tests/testing/eventually.h"

namespace roster::testing {
namespace {

// A znode name that registers a node: "host:port" with a non-empty host and a port in
// 1..65535. Written here rather than taken from cluster/ so that the oracle cannot share a
// mistake with the code it checks.
bool IsAddress(const std::string& name) {
  const size_t colon = name.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == name.size()) return false;
  const std::string port = name.substr(colon + 1);
  if (!std::all_of(port.begin(), port.end(), [](char c) { return absl::ascii_isdigit(c); })) {
    return false;
  }
  int number = 0;
  return absl::SimpleAtoi(port, &number) && number >= 1 && number <= 65535;
}

std::string Zxid(int64_t zxid) { return absl::StrCat("0x", absl::Hex(zxid)); }

std::string Zxids(const std::vector<int64_t>& zxids) {
  std::vector<std::string> out;
  for (int64_t zxid : zxids) out.push_back(Zxid(zxid));
  return absl::StrJoin(out, ",");
}

// What rosterd reports about each node, keyed like RegistryFacts::nodes.
std::map<std::string, const v1::Node*> Reported(const v1::GetClusterViewResponse& view) {
  std::map<std::string, const v1::Node*> out;
  const std::pair<const char*, const google::protobuf::RepeatedPtrField<v1::Node>*> roles[] = {
      {"master", &view.masters()},
      {"worker", &view.workers()},
      {"alert-server", &view.alert_servers()}};
  for (const auto& [role, nodes] : roles) {
    for (const v1::Node& node : *nodes) out[absl::StrCat(role, " ", node.address())] = &node;
  }
  return out;
}

bool Live(const v1::Node* node) { return node != nullptr && node->state() != v1::OFFLINE; }

std::string Describe(const v1::Node& node) {
  return absl::StrCat(v1::NodeState_Name(node.state()), " czxid ", Zxid(node.incarnation().czxid()),
                      node.reason().empty() ? "" : absl::StrCat(" '", node.reason(), "'"));
}

void DiffLeader(const RegistryFacts& before, const v1::GetClusterViewResponse& view,
                const RegistryFacts& after, OracleResult* result) {
  if (!(before.coordinator == after.coordinator)) {
    result->unsettled.push_back("coordinator: changed during the check");
    return;
  }
  const std::optional<RegistryFacts::Coordinator>& znode = before.coordinator;
  if (znode.has_value() && !view.has_leader()) {
    result->leader.push_back(absl::StrCat("coordinator znode names ", znode->address, " (czxid ",
                                          Zxid(znode->czxid), "); rosterd reports no leader"));
  } else if (!znode.has_value() && view.has_leader()) {
    result->leader.push_back(absl::StrCat("rosterd reports leader ", view.leader().address(),
                                          " token ", Zxid(view.leader().fencing_token()),
                                          "; no coordinator znode"));
  } else if (znode.has_value() && (znode->address != view.leader().address() ||
                                   znode->czxid != view.leader().fencing_token())) {
    result->leader.push_back(absl::StrCat("coordinator znode names ", znode->address, " (czxid ",
                                          Zxid(znode->czxid), "); rosterd reports ",
                                          view.leader().address(), " token ",
                                          Zxid(view.leader().fencing_token())));
  }
}

}  // namespace

bool OracleResult::Consistent() const {
  return status.ok() && lost.empty() && ghost.empty() && incarnation.empty() && leader.empty() &&
         unsettled.empty();
}

std::string OracleResult::ToString() const {
  if (!status.ok()) return absl::StrCat("oracle: no comparison: ", status.ToString());
  std::string out = absl::StrCat(
      "oracle: ", Consistent() ? "consistent" : "INCONSISTENT", ": ZooKeeper registers ", znodes,
      " node(s), rosterd (view version ", view_version, view_stale ? ", stale" : ", fresh",
      ") reports ", reported_live, " live; lost ", lost.size(), ", ghost ", ghost.size(),
      ", incarnation ", incarnation.size(), ", leader ", leader.size(), ", unsettled ",
      unsettled.size());
  const std::pair<const char*, const std::vector<std::string>*> findings[] = {
      {"lost", &lost},
      {"ghost", &ghost},
      {"incarnation", &incarnation},
      {"leader", &leader},
      {"unsettled", &unsettled}};
  for (const auto& [name, lines] : findings) {
    for (const std::string& line : *lines) absl::StrAppend(&out, "\n  ", name, ": ", line);
  }
  return out;
}

ZooKeeperOracle::ZooKeeperOracle(registry::Registry* zookeeper, OracleOptions options)
    : zookeeper_(zookeeper), options_(std::move(options)) {}

absl::Status ZooKeeperOracle::ReadRole(const std::string& role, const std::string& root,
                                       bool groups, RegistryFacts* facts) const {
  absl::StatusOr<registry::Children> children = zookeeper_->GetChildren(root);
  if (absl::IsNotFound(children.status())) return absl::OkStatus();
  if (!children.ok()) return children.status();
  for (const std::string& name : children->names) {
    const std::string path = registry::JoinPath(root, name);
    std::vector<std::string> znodes;
    if (IsAddress(name)) {
      znodes.push_back(path);
    } else if (groups) {
      // The legacy layout: {workers}/{group}/{host:port}.
      absl::StatusOr<registry::Children> members = zookeeper_->GetChildren(path);
      if (absl::IsNotFound(members.status())) continue;
      if (!members.ok()) return members.status();
      for (const std::string& member : members->names) {
        if (IsAddress(member)) znodes.push_back(registry::JoinPath(path, member));
      }
    }
    for (const std::string& znode : znodes) {
      absl::StatusOr<std::optional<registry::Stat>> stat = zookeeper_->Exists(znode);
      if (!stat.ok()) return stat.status();
      if (!stat->has_value()) continue;  // gone since the listing
      std::vector<int64_t>& czxids =
          facts->nodes[absl::StrCat(role, " ", registry::BaseName(znode))];
      czxids.push_back((*stat)->czxid);
      std::sort(czxids.begin(), czxids.end());
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<RegistryFacts> ZooKeeperOracle::ReadZooKeeper() const {
  RegistryFacts facts;
  const cluster::ClusterPaths& paths = options_.paths;
  for (const auto& [role, root, groups] :
       {std::make_tuple("master", paths.masters, false),
        std::make_tuple("worker", paths.workers, true),
        std::make_tuple("alert-server", paths.alert_servers, false)}) {
    if (absl::Status status = ReadRole(role, root, groups, &facts); !status.ok()) {
      return absl::Status(status.code(),
                          absl::StrCat("oracle: listing '", root, "': ", status.message()));
    }
  }
  absl::StatusOr<registry::Node> coordinator = zookeeper_->Get(paths.coordinator);
  if (coordinator.ok()) {
    const size_t hash = coordinator->data.find('#');
    facts.coordinator =
        RegistryFacts::Coordinator{coordinator->data.substr(0, hash), coordinator->stat.czxid};
  } else if (!absl::IsNotFound(coordinator.status())) {
    return absl::Status(coordinator.status().code(),
                        absl::StrCat("oracle: reading '", paths.coordinator,
                                     "': ", coordinator.status().message()));
  }
  return facts;
}

OracleResult ZooKeeperOracle::Diff(const RegistryFacts& before,
                                   const v1::GetClusterViewResponse& view,
                                   const RegistryFacts& after, const OracleOptions& options) {
  OracleResult result;
  result.view_version = view.meta().version();
  result.view_stale = view.meta().stale();
  const std::map<std::string, const v1::Node*> reported = Reported(view);
  std::set<std::string> keys;
  for (const auto& [key, czxids] : before.nodes) keys.insert(key);
  for (const auto& [key, czxids] : after.nodes) keys.insert(key);
  for (const auto& [key, node] : reported) {
    keys.insert(key);
    result.reported_live += Live(node);
  }
  for (const std::string& key : keys) {
    const auto was = before.nodes.find(key);
    const auto is = after.nodes.find(key);
    const bool registered = was != before.nodes.end();
    if (registered != (is != after.nodes.end()) || (registered && was->second != is->second)) {
      result.unsettled.push_back(absl::StrCat(key, ": its znode changed during the check"));
      continue;
    }
    const auto found = reported.find(key);
    const v1::Node* node = found == reported.end() ? nullptr : found->second;
    if (registered) {
      ++result.znodes;
      const std::vector<int64_t>& czxids = was->second;
      if (!Live(node)) {
        result.lost.push_back(absl::StrCat(key, ": znode czxid ", Zxids(czxids), "; rosterd: ",
                                           node == nullptr ? "absent" : Describe(*node)));
      } else if (std::find(czxids.begin(), czxids.end(), node->incarnation().czxid()) ==
                 czxids.end()) {
        result.incarnation.push_back(
            absl::StrCat(key, ": znode czxid ", Zxids(czxids), "; rosterd: ", Describe(*node)));
      }
    } else if (Live(node)) {
      result.ghost.push_back(absl::StrCat(key, ": no znode; rosterd: ", Describe(*node)));
    }
  }
  if (options.check_leader) DiffLeader(before, view, after, &result);
  return result;
}

OracleResult ZooKeeperOracle::Check(RosterdProcess& daemon) const {
  OracleResult result;
  absl::StatusOr<RegistryFacts> before = ReadZooKeeper();
  if (!before.ok()) {
    result.status = before.status();
    return result;
  }
  absl::StatusOr<v1::GetClusterViewResponse> view = daemon.View();
  if (!view.ok()) {
    result.status = absl::Status(
        view.status().code(),
        absl::StrCat("oracle: GetClusterView on ", daemon.target(), ": ", view.status().message()));
    return result;
  }
  absl::StatusOr<RegistryFacts> after = ReadZooKeeper();
  if (!after.ok()) {
    result.status = after.status();
    return result;
  }
  return Diff(*before, *view, *after, options_);
}

OracleResult ZooKeeperOracle::WaitConsistent(RosterdProcess& daemon, absl::Duration timeout) const {
  OracleResult last;
  WaitFor(
      [&] {
        last = Check(daemon);
        return last.Consistent();
      },
      timeout);
  return last;
}

}  // namespace roster::testing
