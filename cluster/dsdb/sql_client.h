// SqlClient: the little of PostgreSQL (libpq) and MySQL / MariaDB (MariaDB Connector/C) that
// roster needs of DolphinScheduler's database: run a statement, read rows of text, quote a
// literal. Connects lazily, reconnects after any failure, and never blocks past the query
// timeout. Its users: the worker groups of t_ds_worker_group (ds_database_group_source.h,
// worker_group_writer.h) and the JDBC registry (registry/jdbc). Only postgres_sql_client.cc and
// mysql_sql_client.cc include the client libraries' headers.
//
// Thread-safety: thread-compatible; a client is used from one thread at a time.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "cluster/dsdb/database_uri.h"

namespace roster::cluster::dsdb {

// One row of text columns; nullopt for SQL NULL.
using SqlRow = std::vector<std::optional<std::string>>;

struct SqlClientOptions {
  DatabaseUri uri;
  // Called at each connection for the password ("" or unset: none), so that a password file
  // rotated while rosterd runs is read again. An error fails the connection with its message.
  // The password is never logged, and wiped once the connection is made.
  std::function<absl::StatusOr<std::string>()> password;
  absl::StatusOr<std::string> ReadPassword() const {
    return password ? password() : absl::StatusOr<std::string>("");
  }
  // PostgreSQL's application_name (pg_stat_activity): which part of rosterd is connected.
  std::string application_name = "rosterd";
  absl::Duration connect_timeout = absl::Seconds(5);
  absl::Duration query_timeout = absl::Seconds(5);
};

class SqlClient {
 public:
  virtual ~SqlClient() = default;

  // Runs `sql` (no result rows expected). Unavailable naming the database and the statement.
  virtual absl::Status Execute(const std::string& sql) = 0;
  // Runs one SELECT and returns its rows. Unavailable naming the database and the query.
  virtual absl::StatusOr<std::vector<SqlRow>> Query(const std::string& sql) = 0;
  // `text` as a quoted SQL string literal for this database ('...' with its escapes).
  // Connects first if needed (the escaping depends on the connection's character set).
  virtual absl::StatusOr<std::string> Quote(absl::string_view text) = 0;
  // Drops the connection; the next call makes a new one.
  virtual void Disconnect() = 0;
  // "postgresql://user@host:port/db": for messages.
  virtual std::string Describe() const = 0;
};

std::unique_ptr<SqlClient> NewPostgresSqlClient(SqlClientOptions options);
std::unique_ptr<SqlClient> NewMySqlSqlClient(SqlClientOptions options);
// The client for options.uri.kind.
std::unique_ptr<SqlClient> NewSqlClient(SqlClientOptions options);

}  // namespace roster::cluster::dsdb
