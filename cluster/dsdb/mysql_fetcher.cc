// The MySQL / MariaDB client of DsDatabaseGroupSource and WorkerGroupWriter (MariaDB
// Connector/C).
#include <mysql.h>

#include <algorithm>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cluster/dsdb/ds_database_group_source.h"
#include "cluster/dsdb/fetchers.h"
#include "cluster/dsdb/worker_group_rows.h"

namespace roster::cluster::dsdb {
namespace {

struct ResultDeleter {
  void operator()(MYSQL_RES* result) const { mysql_free_result(result); }
};

// mysql_library_init() is not thread-safe; mysql_init() would call it lazily from whichever
// thread comes first.
void InitLibraryOnce() {
  static std::once_flag once;
  std::call_once(once, [] { mysql_library_init(0, nullptr, nullptr); });
}

// t_ds_worker_group as DolphinScheduler creates it (dolphinscheduler_ddl.sql for MySQL @
// 3.1.1-release, 3.2.2-release and dev: the same table), made idempotent.
constexpr char kCreateTable[] =
    "CREATE TABLE IF NOT EXISTS `t_ds_worker_group` ("
    " `id` bigint(11) NOT NULL AUTO_INCREMENT COMMENT 'id',"
    " `name` varchar(255) NOT NULL COMMENT 'worker group name',"
    " `addr_list` text NULL DEFAULT NULL COMMENT 'worker addr list. split by [,]',"
    " `create_time` datetime NULL DEFAULT NULL COMMENT 'create time',"
    " `update_time` datetime NULL DEFAULT NULL COMMENT 'update time',"
    " `description` text NULL DEFAULT NULL COMMENT 'description',"
    " `other_params_json` text NULL DEFAULT NULL COMMENT 'other params json',"
    " PRIMARY KEY (`id`),"
    " UNIQUE KEY `name_unique` (`name`)"
    ") ENGINE=InnoDB AUTO_INCREMENT=1 DEFAULT CHARSET=utf8 COLLATE = utf8_bin";

unsigned int WholeSeconds(absl::Duration d) {
  return static_cast<unsigned int>(std::max<int64_t>(1, absl::ToInt64Seconds(d)));
}

class MySqlFetcher final : public GroupFetcher, public WorkerGroupWriter {
 public:
  explicit MySqlFetcher(ConnectionSettings settings)
      : settings_(std::move(settings)), description_(settings_.uri.ToString()) {}
  ~MySqlFetcher() override { Disconnect(); }

  std::string Describe() const override { return description_; }

  absl::StatusOr<GroupFetch> Fetch() override {
    if (connection_ == nullptr) {
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

  absl::Status CreateTable() override { return Execute(kCreateTable); }

  absl::Status Upsert(absl::string_view name, absl::string_view addr_list) override {
    if (connection_ == nullptr) {
      if (absl::Status status = Connect(); !status.ok()) return status;
    }
    return Execute(absl::StrCat(
        "INSERT INTO t_ds_worker_group (name, addr_list, create_time, update_time) VALUES ('",
        Escaped(name), "', '", Escaped(addr_list),
        "', now(), now()) ON DUPLICATE KEY UPDATE addr_list = VALUES(addr_list),"
        " update_time = VALUES(update_time)"));
  }

 private:
  // `text` escaped for a quoted SQL string on this connection (its character set).
  std::string Escaped(absl::string_view text) {
    std::string out(text.size() * 2 + 1, '\0');
    out.resize(mysql_real_escape_string(connection_, out.data(), text.data(),
                                        static_cast<unsigned long>(text.size())));
    return out;
  }

  absl::Status Execute(const std::string& sql) {
    if (connection_ == nullptr) {
      if (absl::Status status = Connect(); !status.ok()) return status;
    }
    if (mysql_query(connection_, sql.c_str()) != 0) {
      absl::Status status = Error(absl::StrCat("'", sql, "': ", mysql_error(connection_)));
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
    InitLibraryOnce();
    connection_ = mysql_init(nullptr);
    if (connection_ == nullptr) return Error("connect: out of memory");
    const unsigned int connect_timeout = WholeSeconds(settings_.connect_timeout);
    const unsigned int query_timeout = WholeSeconds(settings_.query_timeout);
    // "localhost" would mean the local socket to this library; the URI names a TCP endpoint.
    const unsigned int protocol = MYSQL_PROTOCOL_TCP;
    mysql_optionsv(connection_, MYSQL_OPT_PROTOCOL, &protocol);
    mysql_optionsv(connection_, MYSQL_OPT_CONNECT_TIMEOUT, &connect_timeout);
    mysql_optionsv(connection_, MYSQL_OPT_READ_TIMEOUT, &query_timeout);
    mysql_optionsv(connection_, MYSQL_OPT_WRITE_TIMEOUT, &query_timeout);
    mysql_optionsv(connection_, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    MYSQL* connected = mysql_real_connect(
        connection_, settings_.uri.host.c_str(),
        settings_.uri.user.empty() ? nullptr : settings_.uri.user.c_str(),
        settings_.password_file.empty() ? nullptr : password.c_str(),
        settings_.uri.database.c_str(), static_cast<unsigned int>(settings_.uri.port),
        /*unix_socket=*/nullptr, /*flags=*/0);
    std::fill(password.begin(), password.end(), '\0');
    if (connected == nullptr) {
      absl::Status status = Error(absl::StrCat("connect: ", mysql_error(connection_)));
      Disconnect();
      return status;
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<WorkerGroupRow>> Query() {
    if (mysql_query(connection_, kWorkerGroupQuery) != 0) {
      return Error(absl::StrCat("query '", kWorkerGroupQuery, "': ", mysql_error(connection_)));
    }
    std::unique_ptr<MYSQL_RES, ResultDeleter> result(mysql_store_result(connection_));
    if (result == nullptr) {
      return Error(absl::StrCat("query '", kWorkerGroupQuery, "': ", mysql_error(connection_)));
    }
    std::vector<WorkerGroupRow> rows;
    while (MYSQL_ROW row = mysql_fetch_row(result.get())) {
      const unsigned long* lengths = mysql_fetch_lengths(result.get());
      WorkerGroupRow group;
      if (row[0] != nullptr) group.name.assign(row[0], lengths[0]);
      if (row[1] != nullptr) group.addr_list = std::string(row[1], lengths[1]);
      rows.push_back(std::move(group));
    }
    return rows;
  }

  absl::Status Error(absl::string_view what) const {
    return absl::UnavailableError(absl::StrCat(description_, ": ", what));
  }

  void Disconnect() {
    if (connection_ != nullptr) mysql_close(connection_);
    connection_ = nullptr;
  }

  const ConnectionSettings settings_;
  const std::string description_;
  MYSQL* connection_ = nullptr;
};

}  // namespace

std::unique_ptr<GroupFetcher> NewMySqlFetcher(ConnectionSettings settings) {
  return std::make_unique<MySqlFetcher>(std::move(settings));
}

std::unique_ptr<WorkerGroupWriter> NewMySqlWriter(ConnectionSettings settings) {
  return std::make_unique<MySqlFetcher>(std::move(settings));
}

}  // namespace roster::cluster::dsdb
