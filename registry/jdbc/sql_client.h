// SqlClient: the little of PostgreSQL (libpq) and MySQL / MariaDB (MariaDB Connector/C) that
// the JDBC registry needs: run a statement, read rows of text, quote a literal. Connects
// lazily, reconnects after any failure, and never blocks past the query timeout. Only
// postgres_sql_client.cc and mysql_sql_client.cc include the client libraries' headers.
//
// (cluster/dsdb's fetchers hold the same connection code specialised to t_ds_worker_group;
// folding them onto this client is a follow-up.)
//
// Thread-safety: thread-compatible; a client is used from one thread at a time.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "cluster/dsdb/database_uri.h"

namespace roster::registry::jdbc {

// One row of text columns; nullopt for SQL NULL.
using SqlRow = std::vector<std::optional<std::string>>;

struct SqlClientOptions {
  cluster::dsdb::DatabaseUri uri;
  // The password, already read from its file (empty: none). Never logged.
  std::string password;
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

}  // namespace roster::registry::jdbc
