// SqlClient on MariaDB Connector/C (MySQL and MariaDB servers).
#include <mysql.h>

#include <algorithm>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cluster/dsdb/sql_client.h"

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

unsigned int WholeSeconds(absl::Duration d) {
  return static_cast<unsigned int>(std::max<int64_t>(1, absl::ToInt64Seconds(d)));
}

class MySqlSqlClient final : public SqlClient {
 public:
  explicit MySqlSqlClient(SqlClientOptions options)
      : options_(std::move(options)), description_(options_.uri.ToString()) {}
  ~MySqlSqlClient() override { Disconnect(); }

  std::string Describe() const override { return description_; }

  absl::Status Execute(const std::string& sql) override { return Run(sql, nullptr); }

  absl::StatusOr<std::vector<SqlRow>> Query(const std::string& sql) override {
    std::vector<SqlRow> rows;
    if (absl::Status status = Run(sql, &rows); !status.ok()) return status;
    return rows;
  }

  absl::StatusOr<std::string> Quote(absl::string_view text) override {
    if (connection_ == nullptr) {
      if (absl::Status status = Connect(); !status.ok()) return status;
    }
    std::string out(text.size() * 2 + 1, '\0');
    out.resize(mysql_real_escape_string(connection_, out.data(), text.data(),
                                        static_cast<unsigned long>(text.size())));
    return absl::StrCat("'", out, "'");
  }

  void Disconnect() override {
    if (connection_ != nullptr) mysql_close(connection_);
    connection_ = nullptr;
  }

 private:
  absl::Status Run(const std::string& sql, std::vector<SqlRow>* rows) {
    if (connection_ == nullptr) {
      if (absl::Status status = Connect(); !status.ok()) return status;
    }
    if (mysql_query(connection_, sql.c_str()) != 0) {
      absl::Status status = Error(absl::StrCat("'", sql, "': ", mysql_error(connection_)));
      Disconnect();
      return status;
    }
    std::unique_ptr<MYSQL_RES, ResultDeleter> result(mysql_store_result(connection_));
    if (result == nullptr) {
      if (mysql_field_count(connection_) == 0) return absl::OkStatus();  // not a SELECT
      absl::Status status = Error(absl::StrCat("'", sql, "': ", mysql_error(connection_)));
      Disconnect();
      return status;
    }
    if (rows == nullptr) return absl::OkStatus();
    const unsigned int columns = mysql_num_fields(result.get());
    while (MYSQL_ROW row = mysql_fetch_row(result.get())) {
      const unsigned long* lengths = mysql_fetch_lengths(result.get());
      SqlRow out;
      for (unsigned int c = 0; c < columns; ++c) {
        if (row[c] == nullptr) {
          out.push_back(std::nullopt);
        } else {
          out.push_back(std::string(row[c], lengths[c]));
        }
      }
      rows->push_back(std::move(out));
    }
    return absl::OkStatus();
  }

  absl::Status Connect() {
    absl::StatusOr<std::string> read = options_.ReadPassword();
    if (!read.ok()) return Error(read.status().message());
    std::string password = *std::move(read);
    InitLibraryOnce();
    connection_ = mysql_init(nullptr);
    if (connection_ == nullptr) return Error("connect: out of memory");
    const unsigned int connect_timeout = WholeSeconds(options_.connect_timeout);
    const unsigned int query_timeout = WholeSeconds(options_.query_timeout);
    // "localhost" would mean the local socket to this library; the URI names a TCP endpoint.
    const unsigned int protocol = MYSQL_PROTOCOL_TCP;
    mysql_optionsv(connection_, MYSQL_OPT_PROTOCOL, &protocol);
    mysql_optionsv(connection_, MYSQL_OPT_CONNECT_TIMEOUT, &connect_timeout);
    mysql_optionsv(connection_, MYSQL_OPT_READ_TIMEOUT, &query_timeout);
    mysql_optionsv(connection_, MYSQL_OPT_WRITE_TIMEOUT, &query_timeout);
    mysql_optionsv(connection_, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    MYSQL* connected = mysql_real_connect(
        connection_, options_.uri.host.c_str(),
        options_.uri.user.empty() ? nullptr : options_.uri.user.c_str(),
        password.empty() ? nullptr : password.c_str(), options_.uri.database.c_str(),
        static_cast<unsigned int>(options_.uri.port), /*unix_socket=*/nullptr, /*flags=*/0);
    std::fill(password.begin(), password.end(), '\0');
    if (connected == nullptr) {
      absl::Status status = Error(absl::StrCat("connect: ", mysql_error(connection_)));
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
  MYSQL* connection_ = nullptr;
};

}  // namespace

std::unique_ptr<SqlClient> NewMySqlSqlClient(SqlClientOptions options) {
  return std::make_unique<MySqlSqlClient>(std::move(options));
}

}  // namespace roster::cluster::dsdb
