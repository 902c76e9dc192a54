#include "client/rosterctl_text.h"

#include <algorithm>
#include <map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace roster::client {

namespace v1 = ::roster::v1;

absl::Time ToTime(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

absl::Duration ToDuration(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

std::string RoleName(v1::NodeRole role) {
  switch (role) {
    case v1::MASTER:
      return "master";
    case v1::WORKER:
      return "worker";
    case v1::ALERT_SERVER:
      return "alert";
    default:
      return "-";
  }
}

// `text` on one line: line breaks and tabs (a database client's multi-line error) become
// single spaces.
std::string Flatten(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    const bool space = c == '\n' || c == '\r' || c == '\t' || c == ' ';
    if (space && (out.empty() || out.back() == ' ')) continue;
    out += space ? ' ' : c;
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

// The last line of every answer: where it comes from and how far to trust it.
std::string MetaLine(const v1::ViewMeta& meta) {
  std::string line = absl::StrCat("view version ", meta.version(), " (session ",
                                  v1::SessionState_Name(meta.session_state()));
  if (meta.has_since_last_sync()) {
    absl::StrAppend(&line, ", last full sync ", HumanDuration(ToDuration(meta.since_last_sync())),
                    " ago");
  }
  line += ")";
  if (meta.syncing()) line += " -- SYNCING: rosterd has not finished reading the registry";
  if (meta.stale()) {
    absl::StrAppend(&line, " -- STALE", meta.has_stale_for() ? " for " : "",
                    meta.has_stale_for() ? HumanDuration(ToDuration(meta.stale_for())) : "",
                    ": answers may be out of date");
  }
  if (meta.has_dolphinscheduler()) {
    const v1::DolphinSchedulerProfile& ds = meta.dolphinscheduler();
    absl::StrAppend(&line, "\nDolphinScheduler ", ds.version(), " (", ds.releases(), "; ",
                    ds.detected() ? "detected: " : "", ds.reason(), ")",
                    ds.mixed() ? " -- MIXED RELEASES: see each node's releases" : "");
  }
  for (const v1::GroupSource& source : meta.group_sources()) {
    absl::StrAppend(&line, "\nworker groups from ", source.source(),
                    source.stale() ? " -- STALE: last known groups in use" : "",
                    source.problem().empty() ? "" : ": ", Flatten(source.problem()));
  }
  return line;
}

std::string NodeReason(const v1::Node& node) {
  if (node.drained()) return absl::StrCat("drained: ", node.drain_reason());
  return node.reason();
}

Table NodeTable() {
  return Table({"ADDRESS", "ROLE", "STATE", "SLOT", "GROUPS", "CPU", "MEM", "AGE", "REASON"});
}

void AddNodeRow(const v1::Node& node, Table* table) {
  table->AddRow({
      node.address(),
      RoleName(node.role()),
      v1::NodeState_Name(node.state()),
      node.has_slot() ? absl::StrCat(node.slot()) : "-",
      node.groups().empty() ? "-" : absl::StrJoin(node.groups(), ","),
      node.has_heartbeat() ? Percent(node.heartbeat().cpu_usage()) : "-",
      node.has_heartbeat() ? Percent(node.heartbeat().memory_usage()) : "-",
      node.has_heartbeat_age() ? HumanDuration(ToDuration(node.heartbeat_age())) : "-",
      NodeReason(node),
  });
}

std::string RenderNodes(const google::protobuf::RepeatedPtrField<v1::Node>& nodes) {
  Table table = NodeTable();
  for (const v1::Node& node : nodes) AddNodeRow(node, &table);
  table.AlignRight(5);
  table.AlignRight(6);
  table.AlignRight(7);
  return table.Render();
}

std::string RenderGroups(const google::protobuf::RepeatedPtrField<v1::Group>& groups) {
  Table table({"GROUP", "MEMBERS", "SELECTABLE", "STATES"});
  table.AlignRight(1);
  table.AlignRight(2);
  for (const v1::Group& group : groups) {
    std::vector<std::string> states;
    for (int s = v1::NodeState_MIN; s <= v1::NodeState_MAX; ++s) {
      if (!v1::NodeState_IsValid(s)) continue;
      const std::string& name = v1::NodeState_Name(static_cast<v1::NodeState>(s));
      auto it = group.by_state().find(name);
      if (it != group.by_state().end() && it->second > 0) {
        states.push_back(absl::StrCat(name, "=", it->second));
      }
    }
    table.AddRow({group.name(), absl::StrCat(group.members()), absl::StrCat(group.selectable()),
                  states.empty() ? "-" : absl::StrJoin(states, " ")});
  }
  return table.Render();
}

std::string LeaderLine(const v1::Leader& leader) {
  return absl::StrCat(leader.address(), " (fencing token ", leader.fencing_token(), ", since ",
                      HumanTime(ToTime(leader.since())), ")");
}

// One line per watch message.
std::string WatchLine(const v1::WatchClusterResponse& message) {
  const std::string stale = message.meta().stale() ? " (STALE)" : "";
  if (message.has_snapshot()) {
    const v1::GetClusterViewResponse& view = message.snapshot();
    return absl::StrCat("v", std::max(view.meta().version(), message.meta().version()),
                        " SNAPSHOT masters=", view.masters_size(), " workers=", view.workers_size(),
                        " alert_servers=", view.alert_servers_size(),
                        " groups=", view.groups_size(),
                        " leader=", view.has_leader() ? view.leader().address() : "-", stale);
  }
  if (message.has_resync_required()) {
    return absl::StrCat("v", message.meta().version(), " RESYNC_REQUIRED ",
                        message.resync_required(), stale);
  }
  const v1::ClusterEvent& event = message.event();
  std::string line =
      absl::StrCat("v", event.version(), " ", v1::ClusterEvent::Kind_Name(event.kind()));
  switch (event.kind()) {
    case v1::ClusterEvent::NODE_ADDED:
    case v1::ClusterEvent::NODE_UPDATED:
    case v1::ClusterEvent::NODE_REMOVED: {
      const v1::Node& node = event.node();
      absl::StrAppend(&line, " ", RoleName(node.role()), " ", node.address(), " ",
                      v1::NodeState_Name(node.state()));
      if (event.kind() == v1::ClusterEvent::NODE_UPDATED && !event.state_changed()) {
        line += " (load)";
      }
      const std::string reason = NodeReason(node);
      if (!reason.empty()) absl::StrAppend(&line, ": ", reason);
      break;
    }
    case v1::ClusterEvent::SLOTS_CHANGED:
      absl::StrAppend(
          &line, " epoch=", event.slots().epoch(), " masters=",
          event.slots().masters().empty() ? "-" : absl::StrJoin(event.slots().masters(), ","));
      break;
    case v1::ClusterEvent::LEADER_CHANGED:
      absl::StrAppend(&line, " ", event.has_leader() ? LeaderLine(event.leader()) : "none");
      break;
    default:
      break;
  }
  return line + stale;
}

}  // namespace roster::client
