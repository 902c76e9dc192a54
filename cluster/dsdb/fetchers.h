// The database clients behind DsDatabaseGroupSource: one GroupFetcher per database kind, which
// is also its WorkerGroupWriter (worker_group_writer.h). Internal to cluster/dsdb; the only
// files that include libpq or MariaDB Connector/C headers are postgres_fetcher.cc and
// mysql_fetcher.cc.
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

// The query DolphinScheduler's WorkerGroupMapper.queryAllWorkerGroup runs, reduced to the two
// columns it uses (WorkerGroupMapper.xml @ 3.2.2-release).
inline constexpr char kWorkerGroupQuery[] = "SELECT name, addr_list FROM t_ds_worker_group";

struct ConnectionSettings {
  DatabaseUri uri;
  std::string password_file;  // empty: no password
  bool allow_shared_password_file = false;
  absl::Duration connect_timeout;
  absl::Duration query_timeout;
};

std::unique_ptr<GroupFetcher> NewPostgresFetcher(ConnectionSettings settings);
std::unique_ptr<GroupFetcher> NewMySqlFetcher(ConnectionSettings settings);
// The same clients, writing (worker_group_writer.h).
std::unique_ptr<WorkerGroupWriter> NewPostgresWriter(ConnectionSettings settings);
std::unique_ptr<WorkerGroupWriter> NewMySqlWriter(ConnectionSettings settings);

}  // namespace roster::cluster::dsdb
