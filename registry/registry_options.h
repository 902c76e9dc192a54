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
  // Reads a subscription keeps in flight at once (pipelining bound).
  int max_in_flight = 1000;
  // Names the registry's executor thread, for logs and `top -H`.
  std::string name = "registry";
  // Monotonic time for the session-loss timer and SessionInfo::state_since. Not owned.
  Clock* clock = Clock::Real();
};

}  // namespace roster::registry
