// rosterctl: the command line for people (and scripts) to inspect and operate rosterd.
// See client/rosterctl_commands.h, or run `rosterctl --help`.
#include <unistd.h>

#include <iostream>
#include <string>
#include <vector>

#include "client/rosterctl_commands.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  roster::client::RosterctlTerminal terminal;
  terminal.interactive = isatty(STDIN_FILENO) == 1 && isatty(STDOUT_FILENO) == 1;
  return roster::client::RunRosterctl(args, std::cout, std::cerr, terminal);
}
