// RegistryOptions: how a Registry connects and behaves, whichever implementation the URI picks
// (registry_factory.h). Kept apart from the factory so that implementations and the daemon's
// options depend on the options alone.
//
// Thread-safety: a value type.
#pragma once

#include <string>

#include "absl/time/time.h"
#include "util/clock.h"

namespace roster::registry {

struct RegistryOptions {
  // ZooKeeper negotiates the final value within the server's [2, 20] tick bounds.
  absl::Duration session_timeout = absl::Seconds(30);
  // An operation not answered within this fails with DeadlineExceeded.
  absl::Duration operation_timeout = absl::Seconds(10);
  // ZooKeeper digest credentials, "user:password". Never logged.
  std::string digest;
  // A file whose first line is "user:password"; read by NewRegistry(). Used when `digest` is
  // empty.
  std::string digest_file;
  // Reads a subscription keeps in flight at once (pipelining bound). At 10,000 a cluster of
  // 10,000 nodes is read as fast as the C client reads it with every read in flight; at 1,000
  // the first full read took twice as long (docs/scale.md, "Cold start").
  int max_in_flight = 10000;
  // ZooKeeper only. When the connection is lost while the session holds more watches than
  // this (one per watched path and kind: a subscription holds one per node, plus one per
  // listed parent), they are dropped locally, and the full re-read every subscription does
  // after a reconnect arms them again. Below it, the C client re-registers them itself, in
  // one SetWatches request that the server refuses past jute.maxbuffer (1 MiB - 1 by
  // default), at 4 bytes plus the path (chroot included) per watch: 48-75 bytes on
  // DolphinScheduler's worker paths, i.e. 14-22k watches. The default stays under 1 MiB for
  // paths up to 120 bytes. 0 always drops; a negative value never does (the C client alone).
  // See docs/architecture.md, "More watches than one packet".
  int max_reconnect_watches = 8192;
  // JDBC registry only (jdbc:postgresql://..., jdbc:mysql://...; registry/jdbc/jdbc_registry.h).
  // A file whose first line is the database password (mode 0600, or `cred:NAME`); read by
  // NewRegistry() into `jdbc_password`, which is never logged.
  std::string jdbc_password_file;
  std::string jdbc_password;
  // How often DolphinScheduler's change-event table is polled (DS's own servers poll it every
  // registry.heartbeat-refresh-interval, 3 s by default).
  absl::Duration jdbc_poll_interval = absl::Seconds(1);
  // How often the whole data table is re-read, to find the deletions DS makes without change
  // events (dead clients' ephemeral rows) and events lost to purges.
  absl::Duration jdbc_full_read_interval = absl::Seconds(10);
  // Names the registry's executor thread, for logs and `top -H`.
  std::string name = "registry";
  // Monotonic time for the session-loss timer and SessionInfo::state_since. Not owned.
  Clock* clock = Clock::Real();
};

}  // namespace roster::registry
