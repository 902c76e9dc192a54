// Command-line parsing for rosterctl: `rosterctl [global flags] COMMAND [ARGS] [flags]`.
//
// gflags is not used here on purpose: rosterctl has subcommands with their own flags,
// positional arguments, and must answer a usage error with one line and exit code 2; and the
// parser must be testable without process-wide flag state.
//
// Syntax: `--name=value` or `--name value` for value flags; `--name`, `--name=true|false` or
// `--noname` for boolean flags; `--` ends the flags; `-h`, `--help` and the command `help` ask
// for help. Global flags may appear before or after the command.
//
// Thread-safety: the functions are thread-safe; ParsedArgs is a value.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace roster::client {

struct FlagSpec {
  std::string name;  // without the leading "--"
  bool boolean = false;
  std::string value_name;  // for the usage text: "N", "ADDR,...", ""
  std::string help;
};

struct CommandSpec {
  std::string name;
  std::vector<std::string> args;  // required positional arguments, by name: {"ADDRESS"}
  std::vector<FlagSpec> flags;
  std::string help;  // one line
};

struct ParsedArgs {
  std::string command;  // empty when none was given
  std::vector<std::string> args;
  std::map<std::string, std::string> flags;  // boolean flags hold "true" or "false"
  bool help = false;                         // -h, --help or `help [COMMAND]`

  bool Has(absl::string_view flag) const;
  // The flag's value, or `default_value` when it was not given.
  std::string Get(absl::string_view flag, absl::string_view default_value = "") const;
  // A boolean flag: false unless given (and not set to false).
  bool GetBool(absl::string_view flag) const;
  // An integer flag in [min, max]; InvalidArgument naming the flag and value otherwise.
  absl::StatusOr<int64_t> GetInt(absl::string_view flag, int64_t default_value, int64_t min,
                                 int64_t max) const;
  // A comma-separated list flag, whitespace trimmed, empty items dropped.
  std::vector<std::string> GetList(absl::string_view flag) const;
};

// Parses `argv` (without the program name) against the global flags and the commands.
// InvalidArgument with a one-line message for an unknown command or flag, a missing or extra
// argument, a value flag without a value, or a boolean flag with a value other than true/false.
// With help requested, nothing else is checked.
absl::StatusOr<ParsedArgs> ParseArgs(const std::vector<std::string>& argv,
                                     const std::vector<FlagSpec>& global_flags,
                                     const std::vector<CommandSpec>& commands);

// The usage text: synopsis, commands with their arguments and flags, global flags.
std::string UsageText(absl::string_view program, absl::string_view summary,
                      const std::vector<FlagSpec>& global_flags,
                      const std::vector<CommandSpec>& commands);

}  // namespace roster::client
