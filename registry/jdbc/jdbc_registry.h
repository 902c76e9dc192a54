// JdbcRegistry: DolphinScheduler 3.3's JDBC registry (`jdbc:postgresql://...`,
// `jdbc:mysql://...`), read-only.
//
// A poller thread reads DS's tables (registry/jdbc/ds_jdbc_tables.h) as DS's own servers do -
// new rows of t_ds_jdbc_registry_data_change_event by id, every poll interval - and re-reads the
// changed keys from t_ds_jdbc_registry_data (the table is the truth; the event only names the
// key). A full read of t_ds_jdbc_registry_data at start, after every reconnect and every full
// read interval finds what events miss: DS deletes a dead client's EPHEMERAL rows without
// writing events, purges events, and ids can commit out of order. The rows are replayed into a
// private MemoryStore (JdbcMirror), and a MemoryRegistry on that store answers Get,
// GetChildren, Exists and Subscribe with the Registry contract.
//
// Sessions follow the poller's database health: kConnected after the first full read;
// kSuspended when a read fails; kLost once reads have failed for the session timeout;
// kReconnected when they work again within it, else kExpired then kConnected. Reads of the
// registry fail with Unavailable while suspended (the mirror is not being refreshed).
//
// Writes (Create, Set, Delete) fail with Unimplemented: roster does not register itself in a
// DS JDBC registry (docs/registry-jdbc.md).
//
// Thread-safety: thread-safe (see registry/registry.h).
#pragma once

#include <memory>

#include "cluster/dsdb/database_uri.h"
#include "registry/registry.h"
#include "registry/registry_options.h"

namespace roster::registry {

// A registry reading the DS database `database`. Not started. The password (if any) is read
// from options.jdbc_password_file by NewRegistry() into options.jdbc_password.
std::unique_ptr<Registry> NewJdbcRegistry(const cluster::dsdb::DatabaseUri& database,
                                          RegistryOptions options);

}  // namespace roster::registry
