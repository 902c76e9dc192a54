#include "client/cli_args.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "client/table.h"

namespace roster::client {
namespace {

const FlagSpec* FindFlag(const std::vector<FlagSpec>& flags, absl::string_view name) {
  for (const FlagSpec& flag : flags) {
    if (flag.name == name) return &flag;
  }
  return nullptr;
}

const CommandSpec* FindCommand(const std::vector<CommandSpec>& commands, absl::string_view name) {
  for (const CommandSpec& command : commands) {
    if (command.name == name) return &command;
  }
  return nullptr;
}

std::string FlagSynopsis(const FlagSpec& flag) {
  if (flag.boolean) return absl::StrCat("--", flag.name);
  return absl::StrCat("--", flag.name, "=", flag.value_name.empty() ? "VALUE" : flag.value_name);
}

}  // namespace

bool ParsedArgs::Has(absl::string_view flag) const { return flags.count(std::string(flag)) > 0; }

std::string ParsedArgs::Get(absl::string_view flag, absl::string_view default_value) const {
  auto it = flags.find(std::string(flag));
  return it == flags.end() ? std::string(default_value) : it->second;
}

bool ParsedArgs::GetBool(absl::string_view flag) const { return Get(flag, "false") == "true"; }

absl::StatusOr<int64_t> ParsedArgs::GetInt(absl::string_view flag, int64_t default_value,
                                           int64_t min, int64_t max) const {
  auto it = flags.find(std::string(flag));
  if (it == flags.end()) return default_value;
  int64_t value = 0;
  if (!absl::SimpleAtoi(it->second, &value)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, "='", it->second, "' is not an integer"));
  }
  if (value < min || value > max) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, "=", value, " is not in [", min, ", ", max, "]"));
  }
  return value;
}

std::vector<std::string> ParsedArgs::GetList(absl::string_view flag) const {
  std::vector<std::string> out;
  for (absl::string_view item : absl::StrSplit(Get(flag), ',')) {
    item = absl::StripAsciiWhitespace(item);
    if (!item.empty()) out.emplace_back(item);
  }
  return out;
}

absl::StatusOr<ParsedArgs> ParseArgs(const std::vector<std::string>& argv,
                                     const std::vector<FlagSpec>& global_flags,
                                     const std::vector<CommandSpec>& commands) {
  ParsedArgs parsed;
  const CommandSpec* command = nullptr;
  bool flags_done = false;
  auto where = [&]() { return command == nullptr ? std::string() : command->name + ": "; };

  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& token = argv[i];
    if (!flags_done && (token == "-h" || token == "--help")) {
      parsed.help = true;
      continue;
    }
    if (!flags_done && token == "--") {
      flags_done = true;
      continue;
    }
    if (!flags_done && absl::StartsWith(token, "-") && token.size() > 1) {
      if (!absl::StartsWith(token, "--")) {
        return absl::InvalidArgumentError(
            absl::StrCat(where(), "flags start with '--': '", token, "'"));
      }
      absl::string_view body = absl::string_view(token).substr(2);
      absl::string_view name = body;
      std::string value;
      bool has_value = false;
      if (const size_t eq = body.find('='); eq != absl::string_view::npos) {
        name = body.substr(0, eq);
        value = std::string(body.substr(eq + 1));
        has_value = true;
      }
      const FlagSpec* spec = FindFlag(global_flags, name);
      if (spec == nullptr && command != nullptr) spec = FindFlag(command->flags, name);
      bool negated = false;
      if (spec == nullptr && absl::StartsWith(name, "no") && !has_value) {
        // --noflag for a boolean flag.
        const absl::string_view positive = name.substr(2);
        const FlagSpec* candidate = FindFlag(global_flags, positive);
        if (candidate == nullptr && command != nullptr) {
          candidate = FindFlag(command->flags, positive);
        }
        if (candidate != nullptr && candidate->boolean) {
          spec = candidate;
          negated = true;
        }
      }
      if (spec == nullptr) {
        if (command == nullptr && FindFlag(global_flags, name) == nullptr) {
          // A command flag before the command: say which commands know it.
          std::vector<std::string> owners;
          for (const CommandSpec& c : commands) {
            if (FindFlag(c.flags, name) != nullptr) owners.push_back(c.name);
          }
          if (!owners.empty()) {
            return absl::InvalidArgumentError(absl::StrCat(
                "--", name, " belongs after the command (", absl::StrJoin(owners, ", "), ")"));
          }
        }
        return absl::InvalidArgumentError(absl::StrCat(where(), "unknown flag '--", name, "'"));
      }
      if (spec->boolean) {
        if (negated) {
          value = "false";
        } else if (!has_value) {
          value = "true";
        } else if (value != "true" && value != "false") {
          return absl::InvalidArgumentError(
              absl::StrCat(where(), "--", name, " is true or false, not '", value, "'"));
        }
      } else if (!has_value) {
        if (i + 1 >= argv.size()) {
          return absl::InvalidArgumentError(
              absl::StrCat(where(), "--", name, " needs a value (", FlagSynopsis(*spec), ")"));
        }
        value = argv[++i];
      }
      parsed.flags[spec->name] = std::move(value);
      continue;
    }
    // A positional token: the command first, then its arguments.
    if (command == nullptr && !parsed.help && parsed.command.empty()) {
      if (token == "help") {
        parsed.help = true;
        continue;
      }
      command = FindCommand(commands, token);
      if (command == nullptr) {
        return absl::InvalidArgumentError(absl::StrCat("unknown command '", token, "'"));
      }
      parsed.command = token;
      continue;
    }
    if (parsed.help && parsed.command.empty()) {
      // `help members`: help about one command (an unknown name gets the general help).
      command = FindCommand(commands, token);
      if (command != nullptr) parsed.command = token;
      continue;
    }
    parsed.args.push_back(token);
  }

  if (parsed.help) return parsed;
  if (command == nullptr) return parsed;  // the caller decides what no command means
  if (parsed.args.size() < command->args.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat(command->name, ": missing ", command->args[parsed.args.size()]));
  }
  if (parsed.args.size() > command->args.size()) {
    return absl::InvalidArgumentError(absl::StrCat(command->name, ": unexpected argument '",
                                                   parsed.args[command->args.size()], "'"));
  }
  return parsed;
}

std::string UsageText(absl::string_view program, absl::string_view summary,
                      const std::vector<FlagSpec>& global_flags,
                      const std::vector<CommandSpec>& commands) {
  std::string out = absl::StrCat(program, ": ", summary, "\n\nUsage: ", program,
                                 " [global flags] COMMAND [ARGS] [flags]\n\nCommands:\n");
  for (const CommandSpec& command : commands) {
    std::vector<std::string> synopsis = {command.name};
    for (const std::string& arg : command.args) synopsis.push_back(arg);
    for (const FlagSpec& flag : command.flags) synopsis.push_back("[" + FlagSynopsis(flag) + "]");
    absl::StrAppend(&out, "  ", absl::StrJoin(synopsis, " "), "\n      ", command.help, "\n");
    if (!command.flags.empty()) {
      Table flags;
      for (const FlagSpec& flag : command.flags) {
        flags.AddRow({absl::StrCat("      ", FlagSynopsis(flag)), flag.help});
      }
      out += flags.Render();
    }
  }
  out += "\nGlobal flags:\n";
  Table flags;
  for (const FlagSpec& flag : global_flags) {
    flags.AddRow({absl::StrCat("  ", FlagSynopsis(flag)), flag.help});
  }
  out += flags.Render();
  return out;
}

}  // namespace roster::client
