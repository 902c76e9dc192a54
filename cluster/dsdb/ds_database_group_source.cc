#include "cluster/dsdb/ds_database_group_source.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "cluster/dsdb/database_uri.h"
#include "cluster/dsdb/worker_group_table.h"
#include "util/secret_file.h"
#include "util/status_macros.h"

namespace roster::cluster::dsdb {
namespace {

// A password file larger than this is not a password file.
absl::Status CheckDuration(absl::string_view name, absl::Duration value) {
  if (value <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, " must be positive, not ", absl::FormatDuration(value)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<DsDatabaseGroupSource>> DsDatabaseGroupSource::Create(
    DsDatabaseGroupSourceOptions options) {
  ASSIGN_OR_RETURN(DatabaseUri uri, ParseDatabaseUri(options.uri));
  RETURN_IF_ERROR(CheckDuration("poll_interval", options.poll_interval));
  RETURN_IF_ERROR(CheckDuration("connect_timeout", options.connect_timeout));
  RETURN_IF_ERROR(CheckDuration("query_timeout", options.query_timeout));
  RETURN_IF_ERROR(CheckDuration("retry_initial_backoff", options.retry_initial_backoff));
  RETURN_IF_ERROR(CheckDuration("retry_max_backoff", options.retry_max_backoff));
  if (!options.password_file.empty()) {
    RETURN_IF_ERROR(
        ReadDatabasePassword(options.password_file, options.allow_shared_password_file).status());
  }

  PollingOptions polling;
  polling.poll_interval = options.poll_interval;
  polling.retry_initial_backoff = options.retry_initial_backoff;
  polling.retry_max_backoff = options.retry_max_backoff;
  polling.executor_name = "ds-db-groups";
  polling.clock = options.clock;
  ConnectionSettings settings;
  settings.uri = uri;
  settings.password_file = options.password_file;
  settings.allow_shared_password_file = options.allow_shared_password_file;
  settings.connect_timeout = options.connect_timeout;
  settings.query_timeout = options.query_timeout;
  auto fetcher = std::make_unique<WorkerGroupTable>(std::move(settings));
  return std::unique_ptr<DsDatabaseGroupSource>(
      new DsDatabaseGroupSource(std::move(polling), std::move(fetcher)));
}

absl::StatusOr<std::string> ReadDatabasePassword(const std::string& file, bool allow_shared) {
  SecretFileOptions options;
  options.allow_group_or_other_access = allow_shared;
  return ReadSecretPassword("worker_group_db_password_file", file, options);
}

}  // namespace roster::cluster::dsdb
