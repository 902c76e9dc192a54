// rosterctl: the command line for people (and scripts) to inspect and operate rosterd.
// See client/rosterctl_commands.h, or run `rosterctl --help`.
#include <iostream>
#include <string>
#include <vector>

#include "client/rosterctl_commands.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  return roster::client::RunRosterctl(args, std::cout, std::cerr);
}
