#include "cluster/dsdb/worker_group_writer.h"

#include <utility>

#include "cluster/dsdb/database_uri.h"
#include "cluster/dsdb/worker_group_table.h"

namespace roster::cluster::dsdb {

absl::StatusOr<std::unique_ptr<WorkerGroupWriter>> NewWorkerGroupWriter(
    WorkerGroupWriterOptions options) {
  absl::StatusOr<DatabaseUri> uri = ParseDatabaseUri(options.uri);
  if (!uri.ok()) return uri.status();
  ConnectionSettings settings;
  settings.uri = *std::move(uri);
  settings.password_file = std::move(options.password_file);
  settings.connect_timeout = options.connect_timeout;
  settings.query_timeout = options.query_timeout;
  return std::make_unique<WorkerGroupTable>(std::move(settings));
}

}  // namespace roster::cluster::dsdb
