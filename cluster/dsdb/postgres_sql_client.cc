// SqlClient on libpq.
#include <libpq-fe.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "cluster/dsdb/sql_client.h"

namespace roster::cluster::dsdb {
namespace {

struct ResultDeleter {
  void operator()(PGresult* result) const { PQclear(result); }
};
using ResultPtr = std::unique_ptr<PGresult, ResultDeleter>;

struct FreeDeleter {
  void operator()(char* text) const { PQfreemem(text); }
};

std::string Trimmed(const char* message) {
  return std::string(absl::StripAsciiWhitespace(message == nullptr ? "" : message));
}

class PostgresSqlClient final : public SqlClient {
 public:
  explicit PostgresSqlClient(SqlClientOptions options)
      : options_(std::move(options)), description_(options_.uri.ToString()) {}
  ~PostgresSqlClient() override { Disconnect(); }

  std::string Describe() const override { return description_; }

  absl::Status Execute(const std::string& sql) override { return Run(sql, nullptr); }

  absl::StatusOr<std::vector<SqlRow>> Query(const std::string& sql) override {
    std::vector<SqlRow> rows;
    if (absl::Status status = Run(sql, &rows); !status.ok()) return status;
    return rows;
  }

  absl::StatusOr<std::string> Quote(absl::string_view text) override {
    if (absl::Status status = EnsureConnected(); !status.ok()) return status;
    std::unique_ptr<char, FreeDeleter> quoted(
        PQescapeLiteral(connection_, text.data(), text.size()));
    if (quoted == nullptr) {
      return Error(absl::StrCat("quote: ", Trimmed(PQerrorMessage(connection_))));
    }
    return std::string(quoted.get());
  }

  void Disconnect() override {
    if (connection_ != nullptr) PQfinish(connection_);
    connection_ = nullptr;
  }

 private:
  absl::Status EnsureConnected() {
    if (connection_ != nullptr && PQstatus(connection_) == CONNECTION_OK) return absl::OkStatus();
    Disconnect();
    return Connect();
  }

  // Runs `sql`; fills `rows` (when not null) from the last result.
  absl::Status Run(const std::string& sql, std::vector<SqlRow>* rows) {
    if (absl::Status status = EnsureConnected(); !status.ok()) return status;
    absl::StatusOr<ResultPtr> result = SendAndWait(sql);
    if (!result.ok()) {
      // Whatever went wrong, the next call starts from a new connection.
      Disconnect();
      return result.status();
    }
    const ExecStatusType status = PQresultStatus(result->get());
    if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
      absl::Status error =
          Error(absl::StrCat("'", sql, "': ", Trimmed(PQresultErrorMessage(result->get()))));
      Disconnect();
      return error;
    }
    if (rows == nullptr) return absl::OkStatus();
    const int columns = PQnfields(result->get());
    for (int i = 0; i < PQntuples(result->get()); ++i) {
      SqlRow row;
      for (int c = 0; c < columns; ++c) {
        if (PQgetisnull(result->get(), i, c)) {
          row.push_back(std::nullopt);
        } else {
          row.push_back(std::string(PQgetvalue(result->get(), i, c),
                                    static_cast<size_t>(PQgetlength(result->get(), i, c))));
        }
      }
      rows->push_back(std::move(row));
    }
    return absl::OkStatus();
  }

  // Sends the statement and waits for its last result without blocking past the query
  // timeout: a server that stopped answering must not hold the poller's thread.
  absl::StatusOr<ResultPtr> SendAndWait(const std::string& sql) {
    if (PQsendQuery(connection_, sql.c_str()) != 1) {
      return Error(absl::StrCat("'", sql, "': ", Trimmed(PQerrorMessage(connection_))));
    }
    const absl::Time deadline = absl::Now() + options_.query_timeout;
    ResultPtr last;
    while (true) {
      if (absl::Status status = AwaitResult(deadline); !status.ok()) return status;
      ResultPtr result(PQgetResult(connection_));
      if (result == nullptr) break;
      last = std::move(result);
    }
    if (last == nullptr) return Error(absl::StrCat("'", sql, "': no result"));
    return last;
  }

  // Returns once PQgetResult() will not block.
  absl::Status AwaitResult(absl::Time deadline) {
    while (true) {
      if (PQconsumeInput(connection_) != 1) {
        return Error(absl::StrCat("query: ", Trimmed(PQerrorMessage(connection_))));
      }
      if (PQisBusy(connection_) == 0) return absl::OkStatus();
      const int64_t left = absl::ToInt64Milliseconds(deadline - absl::Now());
      if (left <= 0) {
        return Error(
            absl::StrCat("query: no answer within ", absl::FormatDuration(options_.query_timeout)));
      }
      pollfd socket{PQsocket(connection_), POLLIN, 0};
      if (poll(&socket, 1, static_cast<int>(left)) < 0 && errno != EINTR) {
        return Error("query: poll failed");
      }
    }
  }

  absl::Status Connect() {
    absl::StatusOr<std::string> read = options_.ReadPassword();
    if (!read.ok()) return Error(read.status().message());
    std::string password = *std::move(read);
    const std::string port = absl::StrCat(options_.uri.port);
    // libpq counts whole seconds and treats 1 as 2.
    const std::string connect_timeout =
        absl::StrCat(std::max<int64_t>(2, absl::ToInt64Seconds(options_.connect_timeout)));
    const std::string server_options =
        absl::StrCat("-c statement_timeout=", absl::ToInt64Milliseconds(options_.query_timeout));
    const std::string tcp_user_timeout =
        absl::StrCat(absl::ToInt64Milliseconds(options_.query_timeout));
    std::vector<const char*> keys = {"host",
                                     "port",
                                     "dbname",
                                     "connect_timeout",
                                     "options",
                                     "application_name",
                                     "tcp_user_timeout"};
    std::vector<const char*> values = {
        options_.uri.host.c_str(), port.c_str(),           options_.uri.database.c_str(),
        connect_timeout.c_str(),   server_options.c_str(), options_.application_name.c_str(),
        tcp_user_timeout.c_str()};
    if (!options_.uri.user.empty()) {
      keys.push_back("user");
      values.push_back(options_.uri.user.c_str());
    }
    if (!password.empty()) {
      keys.push_back("password");
      values.push_back(password.c_str());
    }
    keys.push_back(nullptr);
    values.push_back(nullptr);
    connection_ = PQconnectdbParams(keys.data(), values.data(), /*expand_dbname=*/0);
    std::fill(password.begin(), password.end(), '\0');
    if (connection_ == nullptr) return Error("connect: out of memory");
    if (PQstatus(connection_) != CONNECTION_OK) {
      absl::Status status = Error(absl::StrCat("connect: ", Trimmed(PQerrorMessage(connection_))));
      Disconnect();
      return status;
    }
    return absl::OkStatus();
  }

  absl::Status Error(absl::string_view what) const {
    return absl::UnavailableError(absl::StrCat(description_, ": ", what));
  }

  const SqlClientOptions options_;
  const std::string description_;
  PGconn* connection_ = nullptr;
};

}  // namespace

std::unique_ptr<SqlClient> NewPostgresSqlClient(SqlClientOptions options) {
  return std::make_unique<PostgresSqlClient>(std::move(options));
}

std::unique_ptr<SqlClient> NewSqlClient(SqlClientOptions options) {
  if (options.uri.kind == DatabaseUri::Kind::kMySql) {
    return NewMySqlSqlClient(std::move(options));
  }
  return NewPostgresSqlClient(std::move(options));
}

}  // namespace roster::cluster::dsdb
