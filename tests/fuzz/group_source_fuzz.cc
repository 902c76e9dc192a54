// Fuzzes the two readers of worker-group definitions: the group file
// (WorkerCluster::ParseStaticGroups, what FileGroupSource reads) and DolphinScheduler's
// t_ds_worker_group rows (dsdb::GroupsFromRows, its addr_list split on ','). The first byte
// picks the reader; for the rows, the rest is split into rows on '\n', each "name\taddr_list"
// ("name" alone: a NULL addr_list).
//
// Properties:
//  - the file: every group is a valid name and every address canonical; an accepted file
//    written back as "group = address, ..." lines parses to the same mapping; errors are
//    InvalidArgument naming "<file>:<line>:", bounded and escaped;
//  - the rows: every group is a valid name from a row, every address a valid one that appears
//    verbatim as a piece of that row's addr_list (DolphinScheduler compares pieces as
//    written); one group per distinct valid name; skip reasons are escaped.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "cluster/dsdb/worker_group_rows.h"
#include "cluster/node_address.h"
#include "cluster/worker_cluster.h"
#include "tests/fuzz/fuzz_util.h"

namespace roster::fuzz {
namespace {

using cluster::StaticGroups;
using cluster::WorkerCluster;

StaticGroups Sorted(StaticGroups groups) {
  for (auto& [address, names] : groups) std::sort(names.begin(), names.end());
  return groups;
}

void FuzzGroupFile(absl::string_view text) {
  absl::StatusOr<StaticGroups> parsed = WorkerCluster::ParseStaticGroups(text, "groups.conf");
  if (!parsed.ok()) {
    Check(absl::IsInvalidArgument(parsed.status()), "a bad file is InvalidArgument", text);
    Check(absl::StartsWith(parsed.status().message(), "groups.conf:"),
          "the error names the file and line", text);
    CheckMessage(parsed.status(), 1024);
    return;
  }
  // Written back, one line per (group, address).
  std::string written;
  for (const auto& [address, groups] : *parsed) {
    absl::StatusOr<std::string> canonical = cluster::ParseNodeAddress(address);
    Check(canonical.ok() && *canonical == address, "file addresses are canonical", text);
    for (const std::string& group : groups) {
      Check(cluster::ValidateGroupName(group).ok(), "file groups are valid names", text);
      absl::StrAppend(&written, group, " = ", address, "\n");
    }
  }
  absl::StatusOr<StaticGroups> again = WorkerCluster::ParseStaticGroups(written, "written");
  Check(again.ok(), "the groups written back parse", text);
  Check(Sorted(*again) == Sorted(*parsed), "the groups written back parse to the same mapping",
        text);
}

void FuzzRows(absl::string_view text) {
  std::vector<cluster::dsdb::WorkerGroupRow> rows;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    cluster::dsdb::WorkerGroupRow row;
    const size_t tab = line.find('\t');
    row.name = std::string(line.substr(0, tab));
    if (tab != absl::string_view::npos) row.addr_list = std::string(line.substr(tab + 1));
    rows.push_back(std::move(row));
  }
  const cluster::GroupFetch fetch = cluster::dsdb::GroupsFromRows(rows);
  std::set<std::string> valid_names;
  for (const auto& row : rows) {
    if (cluster::ValidateGroupName(row.name).ok()) valid_names.insert(row.name);
  }
  Check(fetch.groups.size() == valid_names.size(), "one group per distinct valid row name", text);
  for (const auto& [group, addresses] : fetch.groups) {
    Check(valid_names.count(group) == 1, "groups come from valid row names", text);
    // The first row with this name is the one read.
    const auto row = std::find_if(rows.begin(), rows.end(),
                                  [&group = group](const auto& r) { return r.name == group; });
    std::set<absl::string_view> pieces;
    if (row->addr_list.has_value()) {
      std::set<absl::string_view> split = absl::StrSplit(*row->addr_list, ',');
      pieces = std::move(split);
    }
    for (const std::string& address : addresses) {
      absl::StatusOr<std::string> canonical = cluster::ParseNodeAddress(address);
      Check(canonical.ok() && *canonical == address, "row addresses are canonical", text);
      Check(pieces.count(address) == 1, "a row address is a piece of addr_list as written", text);
    }
  }
  for (const std::string& reason : fetch.skipped) {
    Check(IsPrintableAscii(reason), "a skip reason is escaped", reason);
  }
}

}  // namespace
}  // namespace roster::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const absl::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  if (data[0] % 2 == 0) {
    roster::fuzz::FuzzGroupFile(text);
  } else {
    roster::fuzz::FuzzRows(text);
  }
  return 0;
}
