// DsJdbcWriter: writes DolphinScheduler 3.3's JDBC registry tables the way DS's own servers do,
// for tests of roster's JdbcRegistry. An independent oracle: it runs plain SQL through the
// database fixture's command-line client, following DS's Java code by hand
// (dolphinscheduler-registry-jdbc @ dev):
//  - Put: JdbcRegistryDataManager.putJdbcRegistryData: an UPDATE of the row (data_value,
//    last_update_time) and an UPDATE event, or an INSERT and an ADD event; the event's
//    jdbc_registry_data is Jackson's JSON of the row (JdbcRegistryDataDTO: id, dataKey,
//    dataValue, dataType, clientId, createTime, lastUpdateTime);
//  - Delete: deleteJdbcRegistryDataByKey: DELETE, then a DELETE event with the old row;
//  - PurgeClient: JdbcRegistryServer.doPurgeJdbcRegistryClientInDB: the client's EPHEMERAL
//    rows, locks and heartbeat row deleted, and NO change event;
//  - RegisterClient: registerClient's heartbeat row (connection_config {"sessionTimeout":ms}).
//
// Thread-safety: test-thread only.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "tests/testing/mariadb_server.h"
#include "tests/testing/postgres_server.h"

namespace roster::testing {

// `text` as a SQL string literal for the server's command-line client.
inline std::string SqlLiteral(const PostgresServer&, absl::string_view text) {
  return absl::StrCat("'", absl::StrReplaceAll(text, {{"'", "''"}}), "'");
}
inline std::string SqlLiteral(const MariaDbServer&, absl::string_view text) {
  return absl::StrCat("'", absl::StrReplaceAll(text, {{"\\", "\\\\"}, {"'", "\\'"}}), "'");
}

// `text` as a JSON string (quotes included), escaping what Jackson escapes.
inline std::string JsonString(absl::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (static_cast<unsigned char>(c) < 0x20) {
      constexpr char kHex[] = "0123456789abcdef";
      absl::StrAppend(&out, "\\u00", std::string(1, kHex[(c >> 4) & 0xf]),
                      std::string(1, kHex[c & 0xf]));
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
  return out;
}

template <typename Server>
class DsJdbcWriter {
 public:
  explicit DsJdbcWriter(Server* server) : server_(server) {}

  absl::Status RegisterClient(int64_t client_id, absl::string_view name) {
    return Run(absl::StrCat(
        "INSERT INTO t_ds_jdbc_registry_client_heartbeat (id, client_name, last_heartbeat_time,"
        " connection_config) VALUES (",
        client_id, ", ", Lit(name), ", ", absl::ToUnixMillis(absl::Now()), ", ",
        Lit("{\"sessionTimeout\":60000}"), ")"));
  }

  // `ephemeral`: data_type EPHEMERAL, else PERSISTENT.
  absl::Status Put(int64_t client_id, absl::string_view key, absl::string_view value,
                   bool ephemeral) {
    const std::string type = ephemeral ? "EPHEMERAL" : "PERSISTENT";
    absl::StatusOr<std::string> found = server_->Execute(
        absl::StrCat("SELECT count(*) FROM t_ds_jdbc_registry_data WHERE data_key = ", Lit(key)));
    if (!found.ok()) return found.status();
    const bool exists = absl::StripAsciiWhitespace(*found) != "0";
    std::string sql;
    if (exists) {
      sql = absl::StrCat("UPDATE t_ds_jdbc_registry_data SET data_value = ", Lit(value),
                         ", last_update_time = CURRENT_TIMESTAMP WHERE data_key = ", Lit(key), ";");
    } else {
      sql = absl::StrCat(
          "INSERT INTO t_ds_jdbc_registry_data (data_key, data_value, data_type, client_id) "
          "VALUES (",
          Lit(key), ", ", Lit(value), ", ", Lit(type), ", ", client_id, ");");
    }
    return Run(absl::StrCat(sql, Event(exists ? "UPDATE" : "ADD", client_id, key, value, type)));
  }

  absl::Status Delete(absl::string_view key) {
    return Run(absl::StrCat("DELETE FROM t_ds_jdbc_registry_data WHERE data_key = ", Lit(key), ";",
                            Event("DELETE", 0, key, "", "EPHEMERAL")));
  }

  absl::Status PurgeClient(int64_t client_id) {
    return Run(absl::StrCat(
        "DELETE FROM t_ds_jdbc_registry_data WHERE client_id IN (", client_id,
        ") AND data_type = 'EPHEMERAL'; DELETE FROM t_ds_jdbc_registry_lock WHERE client_id IN (",
        client_id, "); DELETE FROM t_ds_jdbc_registry_client_heartbeat WHERE id IN (", client_id,
        ");"));
  }

 private:
  std::string Lit(absl::string_view text) const { return SqlLiteral(*server_, text); }

  std::string Event(absl::string_view type, int64_t client_id, absl::string_view key,
                    absl::string_view value, absl::string_view data_type) const {
    const std::string json = absl::StrCat(
        "{\"id\":null,\"dataKey\":", JsonString(key), ",\"dataValue\":", JsonString(value),
        ",\"dataType\":", JsonString(data_type), ",\"clientId\":", client_id,
        ",\"createTime\":\"2024-10-18 19:00:41\",\"lastUpdateTime\":\"2024-10-18 19:00:41\"}");
    return absl::StrCat(
        "INSERT INTO t_ds_jdbc_registry_data_change_event (event_type, jdbc_registry_data) "
        "VALUES (",
        Lit(type), ", ", Lit(json), ");");
  }

  absl::Status Run(const std::string& sql) { return server_->Execute(sql).status(); }

  Server* server_;
};

}  // namespace roster::testing
