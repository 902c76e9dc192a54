// WorkerGroupTable: t_ds_worker_group through a SqlClient, in each database's dialect.
#include "cluster/dsdb/worker_group_table.h"

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cluster/dsdb/ds_database_group_source.h"
#include "cluster/dsdb/sql_client.h"
#include "cluster/dsdb/worker_group_rows.h"

namespace roster::cluster::dsdb {
namespace {

// t_ds_worker_group as DolphinScheduler creates it (dolphinscheduler_ddl.sql for PostgreSQL @
// 3.1.1-release, 3.2.2-release and dev: the same table), with its sequence as the column
// default, made idempotent.
constexpr char kCreatePostgresTable[] =
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

// The same for MySQL (dolphinscheduler_ddl.sql for MySQL @ 3.1.1-release, 3.2.2-release and
// dev: the same table).
constexpr char kCreateMySqlTable[] =
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

SqlClientOptions ClientOptions(ConnectionSettings settings) {
  SqlClientOptions options;
  options.uri = std::move(settings.uri);
  if (!settings.password_file.empty()) {
    options.password = [file = std::move(settings.password_file),
                        shared = settings.allow_shared_password_file] {
      return ReadDatabasePassword(file, shared);
    };
  }
  options.connect_timeout = settings.connect_timeout;
  options.query_timeout = settings.query_timeout;
  return options;
}

}  // namespace

WorkerGroupTable::WorkerGroupTable(ConnectionSettings settings)
    : kind_(settings.uri.kind), sql_(NewSqlClient(ClientOptions(std::move(settings)))) {}

WorkerGroupTable::~WorkerGroupTable() = default;

std::string WorkerGroupTable::Describe() const { return sql_->Describe(); }

absl::StatusOr<GroupFetch> WorkerGroupTable::Fetch() {
  absl::StatusOr<std::vector<SqlRow>> rows = sql_->Query(kWorkerGroupQuery);
  if (!rows.ok()) return rows.status();
  std::vector<WorkerGroupRow> groups;
  groups.reserve(rows->size());
  for (SqlRow& row : *rows) {
    WorkerGroupRow group;
    if (row.size() > 0 && row[0].has_value()) group.name = *std::move(row[0]);
    if (row.size() > 1) group.addr_list = std::move(row[1]);
    groups.push_back(std::move(group));
  }
  return GroupsFromRows(groups);
}

absl::Status WorkerGroupTable::CreateTable() {
  return sql_->Execute(kind_ == DatabaseUri::Kind::kMySql ? kCreateMySqlTable
                                                          : kCreatePostgresTable);
}

absl::Status WorkerGroupTable::Upsert(absl::string_view name, absl::string_view addr_list) {
  absl::StatusOr<std::string> quoted_name = sql_->Quote(name);
  if (!quoted_name.ok()) return quoted_name.status();
  absl::StatusOr<std::string> quoted_addr_list = sql_->Quote(addr_list);
  if (!quoted_addr_list.ok()) return quoted_addr_list.status();
  const std::string values = absl::StrCat(
      "INSERT INTO t_ds_worker_group (name, addr_list, "
      "create_time, update_time) VALUES (",
      *quoted_name, ", ", *quoted_addr_list, ", now(), now())");
  if (kind_ == DatabaseUri::Kind::kMySql) {
    return sql_->Execute(absl::StrCat(values,
                                      " ON DUPLICATE KEY UPDATE addr_list = VALUES(addr_list),"
                                      " update_time = VALUES(update_time)"));
  }
  return sql_->Execute(absl::StrCat(values,
                                    " ON CONFLICT (name) DO UPDATE SET addr_list ="
                                    " EXCLUDED.addr_list, update_time = EXCLUDED.update_time"));
}

}  // namespace roster::cluster::dsdb
