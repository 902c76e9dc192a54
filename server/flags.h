// rosterd's command-line flags (gflags; `--flagfile=FILE` reads them from a file). The flags are
// defined in flags.cc and read nowhere else: DaemonOptionsFromFlags() turns them into
// DaemonOptions, checked, so a bad value stops rosterd with one line naming the flag.
//
// Thread-safety: call after gflags::ParseCommandLineFlags(), from one thread.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/daemon_options.h"

namespace roster::server {

absl::StatusOr<DaemonOptions> DaemonOptionsFromFlags();

// gflags skips, without a word, the lines of a `--flagfile` it cannot apply (by its API: a file
// may hold several programs' flags): a name that is none of this program's flags, or a
// non-boolean flag without `=VALUE`. A misspelt flag in /etc/roster/rosterd.flags would leave its
// setting at the default. CheckFlagfiles() reads again, with gflags' grammar, every flagfile
// named in `args` (the command line as main() received it) and in those files, and fails on the
// first such line, naming its file, line and flag. It skips what gflags skips: comments, and
// the sections headed by a line of program-name globs that matches neither `args[0]` nor its
// base name. Names listed in `--undefok` are accepted. docs/operations.md, "Running it".
absl::Status CheckFlagfiles(const std::vector<std::string>& args);

}  // namespace roster::server
