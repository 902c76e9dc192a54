// DatabaseUri: which DolphinScheduler database to read, parsed from
// `postgresql://user@host:port/dbname` or `mysql://user@host:port/dbname` (`postgres://` and
// `mariadb://` are accepted spellings). The port defaults to 5432 / 3306; an IPv6 host is
// bracketed (`[::1]`). A password in the URI is refused: it belongs in a password file, not
// in a flag that `ps` shows.
//
// Thread-safety: immutable value type.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace roster::cluster::dsdb {

struct DatabaseUri {
  enum class Kind { kPostgreSql, kMySql };

  Kind kind = Kind::kPostgreSql;
  std::string user;  // may be empty: the client library's default
  std::string host;  // without brackets
  int port = 0;
  std::string database;

  // "postgresql://user@host:port/db" (canonical scheme, explicit port, no password).
  std::string ToString() const;
};

// InvalidArgument naming the URI (with any password masked) when it does not parse.
absl::StatusOr<DatabaseUri> ParseDatabaseUri(absl::string_view uri);

}  // namespace roster::cluster::dsdb
