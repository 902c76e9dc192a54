#include "registry/jdbc/ds_jdbc_tables.h"

#include <string>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "simdjson.h"
#include "util/status_macros.h"

namespace roster::registry::jdbc {

using cluster::dsdb::SqlClient;
using cluster::dsdb::SqlRow;

namespace {

constexpr char kDataColumns[] =
    "SELECT data_key, data_value, data_type, client_id FROM t_ds_jdbc_registry_data";

absl::StatusOr<int64_t> ParseId(const std::optional<std::string>& text, absl::string_view what) {
  int64_t id = 0;
  if (!text.has_value() || !absl::SimpleAtoi(*text, &id)) {
    return absl::DataLossError(
        absl::StrCat("unreadable ", what, ": '", text.value_or("NULL"), "'"));
  }
  return id;
}

absl::StatusOr<std::map<std::string, DsDataRow>> RowsOf(const std::vector<SqlRow>& rows) {
  std::map<std::string, DsDataRow> out;
  for (const SqlRow& row : rows) {
    if (row.size() != 4 || !row[0].has_value()) {
      return absl::DataLossError("t_ds_jdbc_registry_data: a row without data_key");
    }
    DsDataRow parsed;
    parsed.key = *row[0];
    parsed.value = row[1].value_or("");
    parsed.ephemeral = row[2].value_or("") == "EPHEMERAL";
    ASSIGN_OR_RETURN(parsed.client_id,
                     ParseId(row[3], absl::StrCat("client_id of '", parsed.key, "'")));
    out[parsed.key] = std::move(parsed);
  }
  return out;
}

}  // namespace

absl::StatusOr<std::map<std::string, DsDataRow>> ReadAllRows(SqlClient& sql) {
  ASSIGN_OR_RETURN(std::vector<SqlRow> rows, sql.Query(kDataColumns));
  return RowsOf(rows);
}

absl::StatusOr<std::map<std::string, DsDataRow>> ReadRows(SqlClient& sql,
                                                          const std::vector<std::string>& keys) {
  if (keys.empty()) return std::map<std::string, DsDataRow>();
  std::vector<std::string> quoted;
  quoted.reserve(keys.size());
  for (const std::string& key : keys) {
    ASSIGN_OR_RETURN(std::string literal, sql.Quote(key));
    quoted.push_back(std::move(literal));
  }
  ASSIGN_OR_RETURN(std::vector<SqlRow> rows,
                   sql.Query(absl::StrCat(kDataColumns, " WHERE data_key IN (",
                                          absl::StrJoin(quoted, ","), ")")));
  return RowsOf(rows);
}

absl::StatusOr<int64_t> ReadMaxEventId(SqlClient& sql) {
  ASSIGN_OR_RETURN(std::vector<SqlRow> rows,
                   sql.Query("SELECT max(id) FROM t_ds_jdbc_registry_data_change_event"));
  if (rows.empty() || rows[0].empty() || !rows[0][0].has_value()) return -1;
  return ParseId(rows[0][0], "max(id) of t_ds_jdbc_registry_data_change_event");
}

absl::StatusOr<std::vector<DsChangeEvent>> ReadEventsAfter(SqlClient& sql, int64_t after) {
  ASSIGN_OR_RETURN(std::vector<SqlRow> rows,
                   sql.Query(absl::StrCat("SELECT id, event_type, jdbc_registry_data FROM "
                                          "t_ds_jdbc_registry_data_change_event WHERE id > ",
                                          after, " ORDER BY id ASC LIMIT ", kEventBatch)));
  std::vector<DsChangeEvent> events;
  events.reserve(rows.size());
  for (const SqlRow& row : rows) {
    if (row.size() != 3) return absl::DataLossError("change event: unexpected columns");
    DsChangeEvent event;
    ASSIGN_OR_RETURN(event.id, ParseId(row[0], "change event id"));
    event.type = row[1].value_or("");
    absl::StatusOr<std::string> key = EventDataKey(row[2].value_or(""));
    if (key.ok()) event.key = *std::move(key);
    events.push_back(std::move(event));
  }
  return events;
}

absl::StatusOr<std::string> EventDataKey(absl::string_view json) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (auto error = parser.parse(json.data(), json.size()).get(root); error) {
    return absl::InvalidArgumentError(
        absl::StrCat("change event data is not JSON: ", simdjson::error_message(error)));
  }
  std::string_view key;
  if (auto error = root["dataKey"].get_string().get(key); error) {
    return absl::InvalidArgumentError(
        absl::StrCat("change event data has no string dataKey: ", simdjson::error_message(error)));
  }
  return std::string(key);
}

}  // namespace roster::registry::jdbc
