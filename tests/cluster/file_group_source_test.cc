// FileGroupSource: the --worker_group_file re-read when it changes; a bad version keeps the
// last good groups.
#include "cluster/file_group_source.h"

#include <cstdio>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "cluster/worker_cluster.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/cluster/group_source_recorder.h"
#include "tests/testing/eventually.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace roster::cluster {
namespace {

using ::testing::HasSubstr;
using Groups = std::map<std::string, std::vector<std::string>>;

class FileGroupSourceTest : public ::testing::Test {
 protected:
  // Replaces the file the way an operator's tooling should: a new file renamed over it.
  void Replace(const std::string& contents) {
    const std::string next = dir_.Child("groups.conf.next");
    roster::testing::WriteFileOrDie(next, contents);
    ASSERT_EQ(std::rename(next.c_str(), path_.c_str()), 0);
  }

  std::unique_ptr<FileGroupSource> StartSource(absl::Duration poll_interval = absl::Hours(1)) {
    FileGroupSourceOptions options;
    options.path = path_;
    options.poll_interval = poll_interval;
    auto source = std::make_unique<FileGroupSource>(options);
    EXPECT_OK(source->Start(recorder_.Listener()));
    return source;
  }

  roster::testing::TempDir dir_{"file-group-source-test"};
  const std::string path_ = dir_.Child("groups.conf");
  GroupSourceRecorder recorder_;
};

TEST_F(FileGroupSourceTest, ReadsTheFileAndDescribesItsPath) {
  Replace(
      "# the spark workers\n"
      "spark = 10.0.0.2:1234, 10.0.0.1:1234\n"
      "\n"
      "flink = 10.0.0.1:1234   # shared\n");
  auto source = StartSource();
  ASSERT_EVENTUALLY(recorder_.snapshot() != nullptr);
  EXPECT_EQ(recorder_.groups(),
            Groups({{"flink", {"10.0.0.1:1234"}}, {"spark", {"10.0.0.1:1234", "10.0.0.2:1234"}}}));
  EXPECT_FALSE(recorder_.snapshot()->defines_default);
  EXPECT_EQ(recorder_.snapshot()->source, absl::StrCat("file://", path_));
  EXPECT_FALSE(recorder_.status().stale);
}

TEST_F(FileGroupSourceTest, ARewrittenFileIsANewSnapshot) {
  Replace("spark = 10.0.0.1:1234\n");
  auto source = StartSource();
  ASSERT_EVENTUALLY(recorder_.groups() == Groups({{"spark", {"10.0.0.1:1234"}}}));

  Replace("spark = 10.0.0.1:1234\ndefault = 10.0.0.9:1234\n");
  source->RefreshNow();
  ASSERT_EVENTUALLY(recorder_.groups() ==
                    Groups({{"default", {"10.0.0.9:1234"}}, {"spark", {"10.0.0.1:1234"}}}));
  EXPECT_TRUE(recorder_.snapshot()->defines_default);

  // Rewritten in place (same inode) with a different size: seen too.
  roster::testing::WriteFileOrDie(path_, "flink = 10.0.0.3:1234\n");
  source->RefreshNow();
  ASSERT_EVENTUALLY(recorder_.groups() == Groups({{"flink", {"10.0.0.3:1234"}}}));
}

TEST_F(FileGroupSourceTest, ABadRewriteKeepsTheLastGoodGroupsAndSaysWhere) {
  Replace("spark = 10.0.0.1:1234\n");
  auto source = StartSource();
  ASSERT_EVENTUALLY(recorder_.groups() == Groups({{"spark", {"10.0.0.1:1234"}}}));

  Replace("spark = 10.0.0.1:1234\nflink = 10.0.0.2\n");
  source->RefreshNow();
  ASSERT_EVENTUALLY(recorder_.status().stale);
  EXPECT_THAT(recorder_.status().problem, HasSubstr(absl::StrCat(path_, ":2:")));
  EXPECT_EQ(recorder_.groups(), Groups({{"spark", {"10.0.0.1:1234"}}}));

  std::remove(path_.c_str());
  source->RefreshNow();
  ASSERT_EVENTUALLY(absl::StrContains(recorder_.status().problem, "cannot read"));
  EXPECT_EQ(recorder_.groups(), Groups({{"spark", {"10.0.0.1:1234"}}}));

  Replace("spark = 10.0.0.4:1234\n");
  source->RefreshNow();
  ASSERT_EVENTUALLY(recorder_.groups() == Groups({{"spark", {"10.0.0.4:1234"}}}));
  EXPECT_FALSE(recorder_.status().stale);
  EXPECT_EQ(recorder_.status().problem, "");
}

TEST_F(FileGroupSourceTest, AMissingFileAtStartIsStaleWithNoGroups) {
  auto source = StartSource();
  ASSERT_EVENTUALLY(recorder_.status().failures == 1);
  EXPECT_TRUE(recorder_.status().stale);
  EXPECT_THAT(recorder_.status().problem, HasSubstr(path_));
  source->Shutdown();
  EXPECT_EQ(recorder_.snapshot(), nullptr);
}

TEST_F(FileGroupSourceTest, NoticesAChangeByPollingAlone) {
  Replace("spark = 10.0.0.1:1234\n");
  auto source = StartSource(absl::Milliseconds(20));
  ASSERT_EVENTUALLY(recorder_.groups() == Groups({{"spark", {"10.0.0.1:1234"}}}));
  Replace("spark = 10.0.0.2:1234\n");
  ASSERT_EVENTUALLY(recorder_.groups() == Groups({{"spark", {"10.0.0.2:1234"}}}));
}

// The parser FileGroupSource reads the file with, on its own: comments, blank lines, CRLF and
// spaces around items; the first error names the file and line.
TEST(ParseStaticGroupsTest, ReadsTheMappingAndNamesTheBadLine) {
  ASSERT_OK_AND_ASSIGN(
      StaticGroups groups,
      WorkerCluster::ParseStaticGroups("# workers\r\nspark = 10.0.0.2:1234 , [::1]:80\r\n\n"
                                       "flink=10.0.0.2:1234,# shared\nempty =\n",
                                       "groups.conf"));
  EXPECT_EQ(groups, StaticGroups({{"10.0.0.2:1234", {"spark", "flink"}}, {"[::1]:80", {"spark"}}}));
  EXPECT_THAT(WorkerCluster::ParseStaticGroups("spark = h:1\n\nflink = h\n", "groups.conf"),
              ::roster::testing::StatusIs(absl::StatusCode::kInvalidArgument,
                                          HasSubstr("groups.conf:3: node address 'h'")));
  EXPECT_THAT(WorkerCluster::ParseStaticGroups("spark h:1\n", "g"),
              ::roster::testing::StatusIs(absl::StatusCode::kInvalidArgument,
                                          HasSubstr("g:1: expected 'group = host:port")));
}

}  // namespace
}  // namespace roster::cluster
