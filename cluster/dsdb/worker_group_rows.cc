#include "cluster/dsdb/worker_group_rows.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "cluster/node_address.h"

namespace roster::cluster::dsdb {

GroupFetch GroupsFromRows(const std::vector<WorkerGroupRow>& rows) {
  GroupFetch fetch;
  for (const WorkerGroupRow& row : rows) {
    const std::string quoted = absl::StrCat("row '", absl::CEscape(row.name), "'");
    if (absl::Status valid = ValidateGroupName(row.name); !valid.ok()) {
      fetch.skipped.push_back(absl::StrCat(quoted, ": ", valid.message()));
      continue;
    }
    if (fetch.groups.count(row.name) > 0) {
      fetch.skipped.push_back(absl::StrCat(quoted, ": a second row with this name"));
      continue;
    }
    std::vector<std::string>& addresses = fetch.groups[row.name];
    if (!row.addr_list.has_value()) continue;
    for (absl::string_view piece : absl::StrSplit(*row.addr_list, ',')) {
      if (absl::StripAsciiWhitespace(piece).empty()) continue;
      if (absl::StripAsciiWhitespace(piece).size() != piece.size()) {
        fetch.skipped.push_back(absl::StrCat(quoted, ": address '", absl::CEscape(piece),
                                             "' has spaces around it; DolphinScheduler matches "
                                             "no worker to it"));
        continue;
      }
      absl::StatusOr<std::string> address = ParseNodeAddress(piece);
      if (!address.ok()) {
        fetch.skipped.push_back(absl::StrCat(quoted, ": ", address.status().message()));
        continue;
      }
      addresses.push_back(*std::move(address));
    }
  }
  return fetch;
}

}  // namespace roster::cluster::dsdb
