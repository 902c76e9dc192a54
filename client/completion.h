// Shell completion for rosterctl: `rosterctl completion bash` prints a bash script generated
// from the same command and flag specs the parser uses, so it cannot drift from them.
//
//   source <(rosterctl completion bash)      # or the packaged
//                                             # /usr/share/bash-completion/completions/rosterctl
//   rosterctl me<TAB>            -> members
//   rosterctl members --r<TAB>   -> --role=
//   rosterctl --output=y<TAB>    -> yaml
//
// It completes commands, every command's flags plus the global flags, and the values of flags
// with a fixed set of values (`value_name` "a|b|c", or `choices`; comma-separated lists such
// as --state complete their last item). It needs bash 4 and nothing from the bash-completion
// package.
//
// Thread-safety: thread-safe.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "client/cli_args.h"

namespace roster::client {

// The script for `program` (a function _<program> registered with `complete -F`).
// `choices` adds value lists by flag name (flags whose value_name is "a|b|c" get theirs from
// it).
std::string BashCompletion(const std::string& program, const std::vector<FlagSpec>& global_flags,
                           const std::vector<CommandSpec>& commands,
                           const std::map<std::string, std::vector<std::string>>& choices);

}  // namespace roster::client
