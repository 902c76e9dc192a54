#include "client/top_view.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "client/rosterctl_text.h"
#include "client/table.h"

namespace roster::client {
namespace {

namespace v1 = ::roster::v1;

bool Selectable(const v1::Node& node) { return node.state() == v1::RUNNING && !node.drained(); }

// Busiest first: CPU, then memory, descending; no heartbeat last; then by address.
bool BusierThan(const v1::Node* a, const v1::Node* b) {
  if (a->has_heartbeat() != b->has_heartbeat()) return a->has_heartbeat();
  if (a->has_heartbeat()) {
    const v1::Heartbeat& ha = a->heartbeat();
    const v1::Heartbeat& hb = b->heartbeat();
    if (ha.cpu_usage() != hb.cpu_usage()) return ha.cpu_usage() > hb.cpu_usage();
    if (ha.memory_usage() != hb.memory_usage()) return ha.memory_usage() > hb.memory_usage();
  }
  return a->address() < b->address();
}

size_t CountLines(const std::string& text) {
  return static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
}

}  // namespace

bool TopView::Apply(const v1::WatchClusterResponse& message, absl::Time now) {
  if (message.has_meta()) meta_ = message.meta();
  if (message.has_snapshot()) {
    const v1::GetClusterViewResponse& view = message.snapshot();
    has_snapshot_ = true;
    masters_.clear();
    workers_.clear();
    alert_servers_.clear();
    for (const v1::Node& node : view.masters()) masters_[node.address()] = {node, now};
    for (const v1::Node& node : view.workers()) workers_[node.address()] = {node, now};
    for (const v1::Node& node : view.alert_servers()) alert_servers_[node.address()] = {node, now};
    slots_ = view.slots();
    has_leader_ = view.has_leader();
    leader_ = view.leader();
    return true;
  }
  if (!message.has_event()) return false;
  const v1::ClusterEvent& event = message.event();
  switch (event.kind()) {
    case v1::ClusterEvent::NODE_ADDED:
    case v1::ClusterEvent::NODE_UPDATED:
    case v1::ClusterEvent::NODE_REMOVED: {
      const v1::Node& node = event.node();
      std::map<std::string, Entry>* nodes = node.role() == v1::MASTER   ? &masters_
                                            : node.role() == v1::WORKER ? &workers_
                                                                        : &alert_servers_;
      if (event.kind() == v1::ClusterEvent::NODE_REMOVED) {
        nodes->erase(node.address());
      } else {
        (*nodes)[node.address()] = {node, now};
      }
      return true;
    }
    case v1::ClusterEvent::SLOTS_CHANGED:
      slots_ = event.slots();
      return true;
    case v1::ClusterEvent::LEADER_CHANGED:
      has_leader_ = event.has_leader();
      leader_ = event.leader();
      return true;
    default:
      // The meta line (staleness, profile, group sources) may have changed.
      return true;
  }
}

std::string TopView::Header(absl::Time now, const std::string& title) const {
  std::string text =
      absl::StrCat(title.empty() ? "" : absl::StrCat(title, "  "), "view v", meta_.version(),
                   "  session ", v1::SessionState_Name(meta_.session_state()), "  ",
                   absl::FormatTime("%H:%M:%S UTC", now, absl::UTCTimeZone()), "\n");
  if (meta_.stale()) {
    absl::StrAppend(&text, "STALE",
                    meta_.has_stale_for()
                        ? absl::StrCat(" for ", HumanDuration(ToDuration(meta_.stale_for())))
                        : "",
                    ": rosterd has lost the registry; this may be out of date\n");
  }
  if (meta_.syncing()) text += "SYNCING: rosterd has not finished reading the registry\n";

  std::vector<std::string> masters;
  for (const auto& [address, entry] : masters_) {
    const v1::Node& node = entry.node;
    std::string item = address;
    if (node.has_slot()) absl::StrAppend(&item, " slot ", node.slot());
    if (node.state() != v1::RUNNING) absl::StrAppend(&item, " ", v1::NodeState_Name(node.state()));
    masters.push_back(item);
  }
  absl::StrAppend(&text, "masters ", masters_.size(), ": ",
                  masters.empty() ? "-" : absl::StrJoin(masters, ", "), "  (slots epoch ",
                  slots_.epoch(), ")\n");
  absl::StrAppend(&text, "leader: ",
                  has_leader_
                      ? absl::StrCat(leader_.address(), " (fencing token ", leader_.fencing_token(),
                                     ", since ", HumanTime(ToTime(leader_.since())), ")")
                      : "none",
                  "\n");

  std::map<std::string, int> by_state;
  for (const auto& [address, entry] : workers_) ++by_state[v1::NodeState_Name(entry.node.state())];
  std::vector<std::string> states;
  for (const auto& [state, count] : by_state) states.push_back(absl::StrCat(state, " ", count));
  absl::StrAppend(&text, "workers ", workers_.size(), ": ",
                  states.empty() ? "-" : absl::StrJoin(states, ", "), "  alert servers ",
                  alert_servers_.size(), "\n");
  return text + GroupLine();
}

// "groups (selectable/members): default 5/6, etl 2/3".
std::string TopView::GroupLine() const {
  std::map<std::string, std::pair<int, int>> groups;  // name -> (selectable, members)
  for (const auto& [address, entry] : workers_) {
    for (const std::string& group : entry.node.groups()) {
      auto& [selectable, members] = groups[group];
      ++members;
      if (Selectable(entry.node)) ++selectable;
    }
  }
  std::vector<std::string> items;
  for (const auto& [name, counts] : groups) {
    items.push_back(absl::StrCat(name, " ", counts.first, "/", counts.second));
  }
  return absl::StrCat(
      "groups (selectable/members): ", items.empty() ? "-" : absl::StrJoin(items, ", "), "\n");
}

std::string TopView::WorkerTable(absl::Time now, size_t max_rows) const {
  std::vector<std::pair<const v1::Node*, absl::Time>> rows;
  rows.reserve(workers_.size());
  for (const auto& [address, entry] : workers_) rows.emplace_back(&entry.node, entry.received);
  std::sort(rows.begin(), rows.end(),
            [](const auto& a, const auto& b) { return BusierThan(a.first, b.first); });

  Table table({"ADDRESS", "STATE", "CPU", "MEM", "THREADS", "LOAD", "WEIGHT", "HB AGE", "GROUPS",
               "REASON"});
  for (size_t column = 2; column <= 7; ++column) table.AlignRight(column);
  const size_t shown = max_rows == 0 ? rows.size() : std::min(rows.size(), max_rows);
  for (size_t i = 0; i < shown; ++i) {
    const v1::Node& node = *rows[i].first;
    const bool hb = node.has_heartbeat();
    const v1::Heartbeat& heartbeat = node.heartbeat();
    table.AddRow({
        node.address(),
        absl::StrCat(v1::NodeState_Name(node.state()), node.drained() ? " (drained)" : ""),
        hb ? Percent(heartbeat.cpu_usage()) : "-",
        hb ? Percent(heartbeat.memory_usage()) : "-",
        hb ? Percent(heartbeat.thread_pool_usage()) : "-",
        hb && heartbeat.has_load_average() ? absl::StrFormat("%.2f", heartbeat.load_average())
                                           : "-",
        hb ? absl::StrCat(heartbeat.host_weight()) : "-",
        node.has_heartbeat_age()
            ? HumanDuration(ToDuration(node.heartbeat_age()) + (now - rows[i].second))
            : "-",
        node.groups().empty() ? "-" : absl::StrJoin(node.groups(), ","),
        node.drained() ? node.drain_reason() : node.reason(),
    });
  }
  std::string text = table.Render();
  if (shown < rows.size()) {
    absl::StrAppend(&text, "... ", rows.size() - shown,
                    " more workers (a taller terminal shows "
                    "more)\n");
  }
  return text;
}

std::string TopView::Render(absl::Time now, size_t max_lines, const std::string& title) const {
  if (!has_snapshot_) return "waiting for rosterd's snapshot...\n";
  const std::string header = Header(now, title) + "\n";
  size_t max_rows = 0;
  if (max_lines > 0) {
    // The table's header line and the "... more" line.
    const size_t used = CountLines(header) + 2;
    max_rows = max_lines > used ? max_lines - used : 1;
  }
  return header + WorkerTable(now, max_rows);
}

}  // namespace roster::client
