// DsDatabaseGroupSource: DolphinScheduler's worker groups, read from its own database.
//
// Since DS 3.1.1 a worker group exists only as a row of `t_ds_worker_group`
// (dolphinscheduler_{postgresql,mysql}.sql @ 3.1.1-release .. dev); DS's master re-reads the
// table every 10 s. This source runs the same `SELECT name, addr_list FROM t_ds_worker_group`
// against PostgreSQL (libpq) or MySQL / MariaDB (MariaDB Connector/C), chosen by the URI:
//
//   DsDatabaseGroupSourceOptions options;
//   options.uri = "postgresql://dolphinscheduler@10.0.0.5:5432/dolphinscheduler";
//   options.password_file = "/etc/roster/ds-db-password";   // mode 0600
//   ASSIGN_OR_RETURN(auto source, DsDatabaseGroupSource::Create(options));
//   RETURN_IF_ERROR(source->Start(listener));
//
// One connection is kept open between reads and opened again after any error. Connect and
// query are bounded by their timeouts. While the database cannot be read the last groups stay
// published and the status is stale, naming the problem; reads are retried with bounded
// exponential back-off. Rows that do not make sense are skipped with a reason in the status
// (cluster/dsdb/worker_group_rows.h). The password is read from its file at each connect
// (so it can be rotated) and appears in no status, error or log line.
//
// Thread-safety: thread-safe (see GroupSource).
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cluster/polling_group_source.h"
#include "util/clock.h"

namespace roster::cluster::dsdb {

struct DsDatabaseGroupSourceOptions {
  // postgresql://user@host:port/dbname or mysql://user@host:port/dbname (see database_uri.h).
  std::string uri;
  // A file holding the password (one line; a trailing newline is ignored). Empty: connect
  // without a password.
  std::string password_file;
  // Accept a password file that group or others may read or write. Off: such a file is
  // refused (libpq treats ~/.pgpass the same way).
  bool allow_shared_password_file = false;
  absl::Duration poll_interval = absl::Seconds(10);
  // Bounds establishing a connection (whole seconds; libpq counts at least 2).
  absl::Duration connect_timeout = absl::Seconds(5);
  // Bounds the query (PostgreSQL statement_timeout; MySQL read/write timeouts).
  absl::Duration query_timeout = absl::Seconds(5);
  absl::Duration retry_initial_backoff = absl::Seconds(1);
  absl::Duration retry_max_backoff = absl::Seconds(30);
  // Not owned; must outlive the source.
  Clock* clock = Clock::Real();
};

class DsDatabaseGroupSource final : public PollingGroupSource {
 public:
  // Checks the options without touching the database: InvalidArgument for a bad URI or
  // duration, NotFound for a missing password file, PermissionDenied for one that group or
  // others can access (unless allowed). Errors name the URI (password-free) or the file.
  static absl::StatusOr<std::unique_ptr<DsDatabaseGroupSource>> Create(
      DsDatabaseGroupSourceOptions options);

 private:
  DsDatabaseGroupSource(PollingOptions polling, std::unique_ptr<GroupFetcher> fetcher)
      : PollingGroupSource(std::move(polling), std::move(fetcher)) {}
};

// The password of --worker_group_db_password_file=`file` (a path or `cred:NAME`): its first line
// without the line break, spaces kept (util/secret_file.h, ReadSecretPassword). A file group or
// others can access is refused unless `allow_shared`.
absl::StatusOr<std::string> ReadDatabasePassword(const std::string& file, bool allow_shared);

}  // namespace roster::cluster::dsdb
