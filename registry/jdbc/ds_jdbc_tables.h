// DolphinScheduler 3.3's JDBC registry tables, as roster reads them (read-only).
//
// DS's plugin (dolphinscheduler-registry-plugins/dolphinscheduler-registry-jdbc @ dev) keeps:
//  - t_ds_jdbc_registry_data: one row per key (data_key is the whole path, e.g.
//    "/nodes/worker/10.0.0.1:1234"; no rows for the parents), data_type EPHEMERAL or
//    PERSISTENT, client_id the writer (JdbcRegistryDataMapper.java, mysql_registry_init.sql);
//  - t_ds_jdbc_registry_data_change_event: ADD / UPDATE / DELETE with the row as JSON, written
//    after each put/delete (JdbcRegistryDataManager.putJdbcRegistryData), consumed by id:
//    "where id > #{id} order by id asc limit 1000", starting from max(id)
//    (JdbcRegistryDataChanceEventMapper.java, JdbcRegistryDataManager.java);
//  - t_ds_jdbc_registry_client_heartbeat: one row per client, last_heartbeat_time in epoch ms;
//    a client older than its session timeout is purged with its EPHEMERAL rows and locks,
//    WITHOUT change events (JdbcRegistryServer.purgeDeadJdbcRegistryClient,
//    JdbcRegistryDataMapper.deleteByClientIds) - only a full read finds those deletions;
//  - t_ds_jdbc_registry_lock: DS's locks (not read: roster takes no DS lock).
//
// Thread-safety: stateless functions and constants.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "cluster/dsdb/sql_client.h"

namespace roster::registry::jdbc {

// One row of t_ds_jdbc_registry_data.
struct DsDataRow {
  std::string key;
  std::string value;
  bool ephemeral = false;  // data_type = 'EPHEMERAL'
  int64_t client_id = 0;

  friend bool operator==(const DsDataRow& a, const DsDataRow& b) {
    return a.key == b.key && a.value == b.value && a.ephemeral == b.ephemeral &&
           a.client_id == b.client_id;
  }
};

// One row of t_ds_jdbc_registry_data_change_event, reduced to what roster uses.
struct DsChangeEvent {
  int64_t id = 0;
  std::string type;  // ADD, UPDATE, DELETE
  std::string key;   // the event's row's dataKey
};

// DS reads at most this many events per poll (JdbcRegistryDataChanceEventMapper.java @ dev).
inline constexpr int kEventBatch = 1000;

// Every row, by key.
absl::StatusOr<std::map<std::string, DsDataRow>> ReadAllRows(cluster::dsdb::SqlClient& sql);
// The rows of `keys` that exist (at most kEventBatch keys).
absl::StatusOr<std::map<std::string, DsDataRow>> ReadRows(cluster::dsdb::SqlClient& sql,
                                                          const std::vector<std::string>& keys);
// max(id) of the change-event table; -1 when it is empty (as DS's
// JdbcRegistryDataChanceEventRepository.getMaxJdbcRegistryDataChanceEventId).
absl::StatusOr<int64_t> ReadMaxEventId(cluster::dsdb::SqlClient& sql);
// Up to kEventBatch events with id > `after`, in id order. An event whose JSON has no dataKey
// is returned with an empty key (the caller falls back to a full read).
absl::StatusOr<std::vector<DsChangeEvent>> ReadEventsAfter(cluster::dsdb::SqlClient& sql,
                                                           int64_t after);

// The "dataKey" of an event's jdbc_registry_data (Jackson's JSON of JdbcRegistryDataDTO).
// InvalidArgument naming what is wrong.
absl::StatusOr<std::string> EventDataKey(absl::string_view json);

}  // namespace roster::registry::jdbc
