// rosterd's command-line flags (gflags; `--flagfile=FILE` reads them from a file). The flags are
// defined in flags.cc and read nowhere else: DaemonOptionsFromFlags() turns them into
// DaemonOptions, checked, so a bad value stops rosterd with one line naming the flag.
//
// Thread-safety: call after gflags::ParseCommandLineFlags(), from one thread.
#pragma once

#include "absl/status/statusor.h"
#include "server/daemon_options.h"

namespace roster::server {

absl::StatusOr<DaemonOptions> DaemonOptionsFromFlags();

}  // namespace roster::server
