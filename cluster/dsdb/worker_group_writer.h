// WorkerGroupWriter: writes DolphinScheduler's worker groups into its database table
// t_ds_worker_group (name, addr_list), as DS's UI does, for roster-sim and tests that play a
// DS 3.1.1+ cluster. The readers' class writes too (WorkerGroupTable, worker_group_table.h).
//
// Thread-safety: thread-compatible; use a writer from one thread at a time.
#pragma once

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace roster::cluster::dsdb {

class WorkerGroupWriter {
 public:
  virtual ~WorkerGroupWriter() = default;
  // Creates t_ds_worker_group with DolphinScheduler's own DDL when it is missing.
  virtual absl::Status CreateTable() = 0;
  // Inserts the row `name`, or replaces its addr_list ("host:port,host:port").
  virtual absl::Status Upsert(absl::string_view name, absl::string_view addr_list) = 0;
};

struct WorkerGroupWriterOptions {
  // postgresql://user@host:port/db or mysql://user@host:port/db (see database_uri.h).
  std::string uri;
  std::string password_file;  // empty: no password
  absl::Duration connect_timeout = absl::Seconds(10);
  absl::Duration query_timeout = absl::Seconds(10);
};

// InvalidArgument when the URI does not parse. Connects lazily, at the first write.
absl::StatusOr<std::unique_ptr<WorkerGroupWriter>> NewWorkerGroupWriter(
    WorkerGroupWriterOptions options);

}  // namespace roster::cluster::dsdb
