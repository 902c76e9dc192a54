// `rosterctl completion bash`, run by a real bash: what <TAB> offers after a given line.
#include "client/completion.h"

#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/rosterctl_commands.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/temp_dir.h"

namespace roster::client {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

class CompletionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::ostringstream out, err;
    ASSERT_EQ(RunRosterctl({"completion", "bash"}, out, err), kExitOk) << err.str();
    script_ = dir_.Child("rosterctl.bash");
    ::roster::testing::WriteFileOrDie(script_, out.str());
  }

  // What bash completes for `line` with the cursor at its end (COMPREPLY, one per line).
  std::vector<std::string> Complete(const std::string& line) {
    const std::string input = dir_.Child("line");
    ::roster::testing::WriteFileOrDie(input, line);
    const std::string command = absl::StrCat(
        "bash --norc --noprofile -c 'source \"$0\"; COMP_LINE=$(cat \"$1\"); "
        "COMP_POINT=${#COMP_LINE}; _rosterctl; printf \"%s\\n\" \"${COMPREPLY[@]}\"' ",
        script_, " ", input, " 2>&1");
    FILE* pipe = popen(command.c_str(), "r");
    if (pipe == nullptr) return {"cannot run bash"};
    std::string out;
    char buffer[4096];
    size_t n;
    while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) out.append(buffer, n);
    EXPECT_EQ(pclose(pipe), 0) << out;
    return absl::StrSplit(out, '\n', absl::SkipEmpty());
  }

  ::roster::testing::TempDir dir_{"completion"};
  std::string script_;
};

TEST_F(CompletionTest, Commands) {
  EXPECT_THAT(Complete("rosterctl mem"), ElementsAre("members"));
  EXPECT_THAT(Complete("rosterctl --target=10.0.0.1:9090 --output yaml se"), ElementsAre("select"));
  EXPECT_THAT(Complete("rosterctl --target 10.0.0.1:9090 t"), ElementsAre("top"));
  EXPECT_THAT(Complete("rosterctl completion "), ElementsAre("bash"));
}

TEST_F(CompletionTest, FlagsOfTheCommandAndGlobalOnes) {
  EXPECT_THAT(Complete("rosterctl members --r"), ElementsAre("--role="));
  EXPECT_THAT(Complete("rosterctl top --i"), ElementsAre("--iterations="));
  EXPECT_THAT(Complete("rosterctl view --p"), ElementsAre("--page_size="));
  EXPECT_THAT(Complete("rosterctl select --allow"), ElementsAre("--allow_overload"));
  EXPECT_THAT(Complete("rosterctl --o"), ElementsAre("--output="));
  // Another command's flag is not offered.
  EXPECT_THAT(Complete("rosterctl leader --ex"), IsEmpty());
}

TEST_F(CompletionTest, FlagValues) {
  // Bash breaks words at '=': the reply is the value alone.
  EXPECT_THAT(Complete("rosterctl --output=y"), ElementsAre("yaml"));
  EXPECT_THAT(Complete("rosterctl groups --output "),
              UnorderedElementsAre("table", "json", "yaml"));
  EXPECT_THAT(Complete("rosterctl members --role=w"), ElementsAre("worker"));
  // Comma lists complete their last item; the states come from the API's enum.
  EXPECT_THAT(Complete("rosterctl members --state=RUNNING,OV"), ElementsAre("RUNNING,OVERLOAD"));
  EXPECT_THAT(Complete("rosterctl select --strategy=LOWER_"),
              UnorderedElementsAre("LOWER_WEIGHT", "LOWER_LOAD_WEIGHTED_ROUND_ROBIN"));
}

TEST_F(CompletionTest, FileFlagsCompleteFileNames) {
  ::roster::testing::WriteFileOrDie(dir_.Child("admin-token"), "t\n");
  EXPECT_THAT(Complete(absl::StrCat("rosterctl drain --admin_token_file=", dir_.Child("admin-t"))),
              ElementsAre(dir_.Child("admin-token")));
}

TEST_F(CompletionTest, OnlyBash) {
  std::ostringstream out, err;
  EXPECT_EQ(RunRosterctl({"completion", "zsh"}, out, err), kExitUsage);
  EXPECT_EQ(err.str(), "rosterctl: completion zsh: no completion for shell 'zsh' (bash only)\n");
}

}  // namespace
}  // namespace roster::client
