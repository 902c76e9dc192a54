// rosterctl's commands: parse the command line, call rosterd through RosterClient, print the
// answer as a table for people or as JSON for scripts. main() in rosterctl.cc only forwards
// argv; tests call RunRosterctl() directly against a fake rosterd.
//
// Exit codes: 0 success; 1 an RPC failed; 2 a usage error (bad command, flag or value, an
// unreadable --admin_token_file). On failure, exactly one line goes to `err`:
//   rosterctl: slot 10.0.0.1:5678: FAILED_PRECONDITION: master '10.0.0.1:5678' is not registered
//
// Thread-safety: RunRosterctl is thread-compatible (it reads $ROSTER_TARGET).
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace roster::client {

inline constexpr int kExitOk = 0;
inline constexpr int kExitRpcFailed = 1;
inline constexpr int kExitUsage = 2;

// Runs one rosterctl invocation; `args` is argv without the program name.
int RunRosterctl(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

// The text of `rosterctl --help`.
std::string RosterctlUsage();

}  // namespace roster::client
