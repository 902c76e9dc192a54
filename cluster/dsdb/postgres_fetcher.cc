// The PostgreSQL client of DsDatabaseGroupSource and WorkerGroupWriter (libpq).
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
#include "cluster/dsdb/ds_database_group_source.h"
#include "cluster/dsdb/fetchers.h"
#include "cluster/dsdb/worker_group_rows.h"

namespace roster::cluster::dsdb {
namespace {

struct ResultDeleter {
  void operator()(PGresult* result) const { PQclear(result); }
};
using ResultPtr = std::unique_ptr<PGresult, ResultDeleter>;

// t_ds_worker_group as DolphinScheduler creates it
// (dolphinscheduler_ddl.sql for PostgreSQL @ 3.1.1-release, 3.2.2-release and dev: the same
// table), with its sequence as the column default, made idempotent.
constexpr char kCreateTable[] =
    "CREATE SEQUENCE IF NOT EXISTS t_ds_worker_group_id_sequence;"
    "CREATE TABLE IF NOT EXISTS t_ds_worker_group ("
    " id bigint NOT NULL DEFAULT NEXTVAL('t_ds_worker_group_id_sequence'),"
    " name varchar(255) NOT NULL,"
    " addr_list text DEFAULT NULL,"
    " create_time timestamp DEFAULT NULL,"
    " update_time timestamp DEFAULT NULL,"
    " description text DEFAULT NULL,"
    " other_params_json text DEFAULT NULL,"
    " PRIMARY KEY (id),"
    " CONSTRAINT name_unique UNIQUE (name))";

constexpr char kUpsert[] =
    "INSERT INTO t_ds_worker_group (name, addr_list, create_time, update_time)"
    " VALUES ($1, $2, now(), now()) ON CONFLICT (name) DO UPDATE"
    " SET addr_list = EXCLUDED.addr_list, update_time = EXCLUDED.update_time";

std::string Trimmed(const char* message) {
  return std::string(absl::StripAsciiWhitespace(message == nullptr ? "" : message));
}

class PostgresFetcher final : public GroupFetcher, public WorkerGroupWriter {
 public:
  explicit PostgresFetcher(ConnectionSettings settings)
      : settings_(std::move(settings)), description_(settings_.uri.ToString()) {}
  ~PostgresFetcher() override { Disconnect(); }

  std::string Describe() const override { return description_; }

  absl::StatusOr<GroupFetch> Fetch() override {
    if (connection_ == nullptr || PQstatus(connection_) != CONNECTION_OK) {
      Disconnect();
      if (absl::Status status = Connect(); !status.ok()) return status;
    }
    absl::StatusOr<std::vector<WorkerGroupRow>> rows = Query();
    if (!rows.ok()) {
      // Whatever went wrong, the next read starts from a new connection.
      Disconnect();
      return rows.status();
    }
    return GroupsFromRows(*rows);
  }

  absl::Status CreateTable() override { return Execute(kCreateTable, {}); }

  absl::Status Upsert(absl::string_view name, absl::string_view addr_list) override {
    return Execute(kUpsert, {std::string(name), std::string(addr_list)});
  }

 private:
  // Runs one statement with `params` ($1, $2, ...), or several without. Blocks up to the
  // server's statement_timeout (set at Connect()).
  absl::Status Execute(const char* sql, const std::vector<std::string>& params) {
    if (connection_ == nullptr || PQstatus(connection_) != CONNECTION_OK) {
      Disconnect();
      if (absl::Status status = Connect(); !status.ok()) return status;
    }
    std::vector<const char*> values;
    for (const std::string& param : params) values.push_back(param.c_str());
    ResultPtr result(params.empty()
                         ? PQexec(connection_, sql)
                         : PQexecParams(connection_, sql, static_cast<int>(values.size()),
                                        /*paramTypes=*/nullptr, values.data(),
                                        /*paramLengths=*/nullptr, /*paramFormats=*/nullptr,
                                        /*resultFormat=*/0));
    if (result == nullptr || PQresultStatus(result.get()) != PGRES_COMMAND_OK) {
      absl::Status status =
          Error(absl::StrCat("'", sql, "': ",
                             Trimmed(result == nullptr ? PQerrorMessage(connection_)
                                                       : PQresultErrorMessage(result.get()))));
      Disconnect();
      return status;
    }
    return absl::OkStatus();
  }

  absl::Status Connect() {
    std::string password;
    if (!settings_.password_file.empty()) {
      absl::StatusOr<std::string> read =
          ReadPasswordFile(settings_.password_file, settings_.allow_shared_password_file);
      if (!read.ok()) return Error(read.status().message());
      password = *std::move(read);
    }
    const std::string port = absl::StrCat(settings_.uri.port);
    // libpq counts whole seconds and treats 1 as 2.
    const std::string connect_timeout =
        absl::StrCat(std::max<int64_t>(2, absl::ToInt64Seconds(settings_.connect_timeout)));
    const std::string options =
        absl::StrCat("-c statement_timeout=", absl::ToInt64Milliseconds(settings_.query_timeout));
    const std::string tcp_user_timeout =
        absl::StrCat(absl::ToInt64Milliseconds(settings_.query_timeout));
    std::vector<const char*> keys = {"host",
                                     "port",
                                     "dbname",
                                     "connect_timeout",
                                     "options",
                                     "application_name",
                                     "tcp_user_timeout"};
    std::vector<const char*> values = {
        settings_.uri.host.c_str(), port.c_str(),    settings_.uri.database.c_str(),
        connect_timeout.c_str(),    options.c_str(), "rosterd",
        tcp_user_timeout.c_str()};
    if (!settings_.uri.user.empty()) {
      keys.push_back("user");
      values.push_back(settings_.uri.user.c_str());
    }
    if (!settings_.password_file.empty()) {
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

  // Sends the query and waits for its result without blocking past the query timeout: a
  // server that stopped answering (paused, network cut) must not hold the source's thread.
  absl::StatusOr<std::vector<WorkerGroupRow>> Query() {
    if (PQsendQuery(connection_, kWorkerGroupQuery) != 1) {
      return Error(absl::StrCat("query: ", Trimmed(PQerrorMessage(connection_))));
    }
    const absl::Time deadline = absl::Now() + settings_.query_timeout;
    ResultPtr last;
    while (true) {
      if (absl::Status status = AwaitResult(deadline); !status.ok()) return status;
      ResultPtr result(PQgetResult(connection_));
      if (result == nullptr) break;
      last = std::move(result);
    }
    if (last == nullptr) return Error("query: no result");
    if (PQresultStatus(last.get()) != PGRES_TUPLES_OK) {
      return Error(absl::StrCat("query '", kWorkerGroupQuery,
                                "': ", Trimmed(PQresultErrorMessage(last.get()))));
    }
    std::vector<WorkerGroupRow> rows;
    for (int i = 0; i < PQntuples(last.get()); ++i) {
      WorkerGroupRow row;
      row.name = PQgetvalue(last.get(), i, 0);
      if (!PQgetisnull(last.get(), i, 1)) row.addr_list = PQgetvalue(last.get(), i, 1);
      rows.push_back(std::move(row));
    }
    return rows;
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
        return Error(absl::StrCat("query: no answer within ",
                                  absl::FormatDuration(settings_.query_timeout)));
      }
      pollfd socket{PQsocket(connection_), POLLIN, 0};
      if (poll(&socket, 1, static_cast<int>(left)) < 0 && errno != EINTR) {
        return Error("query: poll failed");
      }
    }
  }

  absl::Status Error(absl::string_view what) const {
    return absl::UnavailableError(absl::StrCat(description_, ": ", what));
  }

  void Disconnect() {
    if (connection_ != nullptr) PQfinish(connection_);
    connection_ = nullptr;
  }

  const ConnectionSettings settings_;
  const std::string description_;
  PGconn* connection_ = nullptr;
};

}  // namespace

std::unique_ptr<GroupFetcher> NewPostgresFetcher(ConnectionSettings settings) {
  return std::make_unique<PostgresFetcher>(std::move(settings));
}

std::unique_ptr<WorkerGroupWriter> NewPostgresWriter(ConnectionSettings settings) {
  return std::make_unique<PostgresFetcher>(std::move(settings));
}

}  // namespace roster::cluster::dsdb
