// The rows of DolphinScheduler's `t_ds_worker_group` table turned into groups, with
// DolphinScheduler's own reading of them:
//
//   addr_list is split on ',' and every piece is compared as is with the workers' registry
//   keys "host:port" (ServerNodeManager.updateWorkerGroupMappings @ 3.2.2-release,
//   WorkerGroupUtils.getWorkerAddressListFromWorkerGroup @ dev). So:
//   - NULL or '' addr_list: a group with no worker (dev; 3.1.1 .. 3.2.x fail the whole refresh
//     on NULL with a NullPointerException, which roster does not copy);
//   - an empty piece ("a:1,,b:2", a trailing ','): matches nothing; dropped silently;
//   - a piece with spaces around it (" b:2"): matches no worker in DolphinScheduler, so it is
//     skipped, with a reason;
//   - a piece that is no valid "host:port": skipped, with a reason; the rest of the row counts;
//   - a row whose name is no valid group name: skipped whole, with a reason.
//
// Thread-safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "cluster/polling_group_source.h"

namespace roster::cluster::dsdb {

struct WorkerGroupRow {
  std::string name;
  std::optional<std::string> addr_list;  // nullopt: SQL NULL
};

GroupFetch GroupsFromRows(const std::vector<WorkerGroupRow>& rows);

}  // namespace roster::cluster::dsdb
