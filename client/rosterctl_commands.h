// rosterctl's commands: parse the command line, call rosterd through RosterClient, print the
// answer as a table for people (--output=table, the default) or as JSON or YAML for scripts
// (--output=json|yaml, the same fields either way: client/output_format.h). `top` draws a
// live view (client/top_command.h); `completion bash` prints the completion script
// (client/completion.h). main() in rosterctl.cc only forwards argv; tests call RunRosterctl()
// directly against a fake rosterd.
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

// What rosterctl knows of its terminal, for `top`. main() fills it in; tests leave it off
// (`top` then prints frames instead of drawing a screen).
struct RosterctlTerminal {
  bool interactive = false;  // stdin and stdout are both terminals
  int input_fd = 0;          // read for keys when interactive
  int output_fd = 1;         // its window size bounds the frame
};

// Runs one rosterctl invocation; `args` is argv without the program name.
int RunRosterctl(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
                 const RosterctlTerminal& terminal = {});

// The text of `rosterctl --help`.
std::string RosterctlUsage();

}  // namespace roster::client
