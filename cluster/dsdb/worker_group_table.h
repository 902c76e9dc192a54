// WorkerGroupTable: DolphinScheduler's t_ds_worker_group, read for DsDatabaseGroupSource (a
// GroupFetcher) and written for roster-sim and tests (a WorkerGroupWriter, worker_group_writer.h),
// on a SqlClient (sql_client.h) for either kind of database. Internal to cluster/dsdb.
//
// Thread-safety: a fetcher is used from one thread at a time (the source's executor).
#pragma once

#include <memory>
#include <string>

#include "absl/time/time.h"
#include "cluster/dsdb/database_uri.h"
#include "cluster/dsdb/worker_group_writer.h"
#include "cluster/polling_group_source.h"

namespace roster::cluster::dsdb {

class SqlClient;

// The query DolphinScheduler's WorkerGroupMapper.queryAllWorkerGroup runs, reduced to the two
// columns it uses (WorkerGroupMapper.xml @ 3.2.2-release).
inline constexpr char kWorkerGroupQuery[] = "SELECT name, addr_list FROM t_ds_worker_group";

struct ConnectionSettings {
  DatabaseUri uri;
  std::string password_file;  // empty: no password; read again at each connection
  bool allow_shared_password_file = false;
  absl::Duration connect_timeout;
  absl::Duration query_timeout;
};

// Reads t_ds_worker_group (GroupFetcher) and writes it (WorkerGroupWriter).
class WorkerGroupTable final : public GroupFetcher, public WorkerGroupWriter {
 public:
  explicit WorkerGroupTable(ConnectionSettings settings);
  ~WorkerGroupTable() override;

  std::string Describe() const override;
  absl::StatusOr<GroupFetch> Fetch() override;
  absl::Status CreateTable() override;
  absl::Status Upsert(absl::string_view name, absl::string_view addr_list) override;

 private:
  const DatabaseUri::Kind kind_;
  const std::unique_ptr<SqlClient> sql_;
};

}  // namespace roster::cluster::dsdb
