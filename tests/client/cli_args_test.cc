// rosterctl's argument parser.
#include "client/cli_args.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace roster::client {
namespace {

using ::roster::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

const std::vector<FlagSpec> kGlobal = {
    {"target", false, "HOST:PORT", "where"},
    {"json", true, "", "json"},
    {"timeout_ms", false, "MS", "deadline"},
};

const std::vector<CommandSpec> kCommands = {
    {"members", {}, {{"role", false, "R", ""}, {"state", false, "S", ""}}, "list"},
    {"slot", {"ADDRESS"}, {{"process_id", false, "PID", ""}}, "slot"},
    {"select", {}, {{"explain", true, "", ""}, {"group", false, "G", ""}}, "select"},
};

absl::StatusOr<ParsedArgs> Parse(std::vector<std::string> argv) {
  return ParseArgs(argv, kGlobal, kCommands);
}

TEST(CliArgsTest, CommandFlagsAndGlobalFlagsAnywhere) {
  auto parsed = Parse({"--target=10.0.0.1:9090", "members", "--role", "worker", "--json",
                       "--state=RUNNING,OVERLOAD"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->command, "members");
  EXPECT_TRUE(parsed->args.empty());
  EXPECT_THAT(parsed->flags,
              UnorderedElementsAre(Pair("target", "10.0.0.1:9090"), Pair("role", "worker"),
                                   Pair("json", "true"), Pair("state", "RUNNING,OVERLOAD")));
  EXPECT_TRUE(parsed->GetBool("json"));
  EXPECT_THAT(parsed->GetList("state"), ElementsAre("RUNNING", "OVERLOAD"));
}

TEST(CliArgsTest, PositionalArguments) {
  auto parsed = Parse({"slot", "10.0.0.1:5678", "--process_id=812"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_THAT(parsed->args, ElementsAre("10.0.0.1:5678"));
  EXPECT_EQ(*parsed->GetInt("process_id", 0, 0, 1 << 30), 812);
  EXPECT_EQ(*parsed->GetInt("missing", 7, 0, 10), 7);
}

TEST(CliArgsTest, BooleanForms) {
  EXPECT_FALSE(Parse({"select", "--noexplain"})->GetBool("explain"));
  EXPECT_FALSE(Parse({"select", "--explain=false"})->GetBool("explain"));
  EXPECT_TRUE(Parse({"select", "--explain=true"})->GetBool("explain"));
  EXPECT_FALSE(Parse({"select"})->GetBool("explain"));
  EXPECT_THAT(Parse({"select", "--explain=yes"}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("true or false")));
}

TEST(CliArgsTest, DoubleDashEndsFlags) {
  auto parsed = Parse({"slot", "--", "--weird-address"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_THAT(parsed->args, ElementsAre("--weird-address"));
}

TEST(CliArgsTest, Errors) {
  EXPECT_THAT(Parse({"frobnicate"}),
              StatusIs(absl::StatusCode::kInvalidArgument, "unknown command 'frobnicate'"));
  EXPECT_THAT(Parse({"members", "--color"}),
              StatusIs(absl::StatusCode::kInvalidArgument, "members: unknown flag '--color'"));
  EXPECT_THAT(Parse({"slot"}),
              StatusIs(absl::StatusCode::kInvalidArgument, "slot: missing ADDRESS"));
  EXPECT_THAT(Parse({"slot", "a:1", "b:2"}),
              StatusIs(absl::StatusCode::kInvalidArgument, "slot: unexpected argument 'b:2'"));
  EXPECT_THAT(Parse({"members", "--role"}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--role needs a value")));
  EXPECT_THAT(Parse({"--role=worker", "members"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("--role belongs after the command (members)")));
  EXPECT_THAT(Parse({"members", "-r"}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("start with '--'")));
  // A flag of another command.
  EXPECT_THAT(Parse({"members", "--explain"}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("unknown flag")));
}

TEST(CliArgsTest, IntegerValidation) {
  auto parsed = Parse({"--timeout_ms=abc", "members"});
  ASSERT_TRUE(parsed.ok());
  EXPECT_THAT(parsed->GetInt("timeout_ms", 0, 1, 100),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not an integer")));
  parsed = Parse({"--timeout_ms=0", "members"});
  EXPECT_THAT(parsed->GetInt("timeout_ms", 0, 1, 100),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not in [1, 100]")));
}

TEST(CliArgsTest, Help) {
  EXPECT_TRUE(Parse({"--help"})->help);
  EXPECT_TRUE(Parse({"-h"})->help);
  auto parsed = Parse({"help", "slot"});
  ASSERT_TRUE(parsed.ok());
  EXPECT_TRUE(parsed->help);
  EXPECT_EQ(parsed->command, "slot");
  // With help, a missing argument is not an error.
  EXPECT_TRUE(Parse({"slot", "--help"})->help);
}

TEST(CliArgsTest, NoCommandIsNotAParseError) {
  auto parsed = Parse({"--json"});
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->command, "");
}

TEST(CliArgsTest, UsageListsCommandsAndFlags) {
  const std::string usage = UsageText("rosterctl", "summary", kGlobal, kCommands);
  EXPECT_THAT(usage, HasSubstr("slot ADDRESS [--process_id=PID]"));
  EXPECT_THAT(usage, HasSubstr("--target=HOST:PORT"));
  EXPECT_THAT(usage, HasSubstr("select [--explain] [--group=G]"));
}

}  // namespace
}  // namespace roster::client
