// The database-free parts of the DolphinScheduler database source: how rows become groups (as
// DolphinScheduler reads them), the URI, the password file, and Create()'s checks.
#include "cluster/dsdb/ds_database_group_source.h"

#include <sys/stat.h>

#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "cluster/dsdb/database_uri.h"
#include "cluster/dsdb/worker_group_rows.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace roster::cluster::dsdb {
namespace {

using ::roster::testing::IsOkAndHolds;
using ::roster::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using Groups = std::map<std::string, std::vector<std::string>>;

// DolphinScheduler splits addr_list on ',' and matches each piece as is against the workers'
// "host:port" keys (ServerNodeManager.updateWorkerGroupMappings @ 3.2.2-release).
TEST(GroupsFromRowsTest, ReadsAddrListAsDolphinSchedulerDoes) {
  const GroupFetch fetch = GroupsFromRows({
      {"spark", std::string("10.0.0.1:1234,10.0.0.2:1234")},
      {"trailing", std::string("10.0.0.1:1234,,10.0.0.3:1234,")},
      {"empty", std::string("")},
      {"null", std::nullopt},
  });
  EXPECT_EQ(fetch.groups, Groups({{"empty", {}},
                                  {"null", {}},
                                  {"spark", {"10.0.0.1:1234", "10.0.0.2:1234"}},
                                  {"trailing", {"10.0.0.1:1234", "10.0.0.3:1234"}}}));
  EXPECT_THAT(fetch.skipped, IsEmpty());
}

TEST(GroupsFromRowsTest, SkipsWhatDolphinSchedulerCouldNeverMatchWithAReason) {
  const GroupFetch fetch = GroupsFromRows({
      {"spark", std::string("10.0.0.1:1234, 10.0.0.2:1234,10.0.0.3:0,worker-4")},
      {"", std::string("10.0.0.1:1234")},
      {"a/b", std::string("10.0.0.1:1234")},
      {"spark", std::string("10.0.0.9:1234")},
  });
  EXPECT_EQ(fetch.groups, Groups({{"spark", {"10.0.0.1:1234"}}}));
  ASSERT_EQ(fetch.skipped.size(), 6u);
  EXPECT_THAT(fetch.skipped[0], HasSubstr("row 'spark': address ' 10.0.0.2:1234' has spaces"));
  EXPECT_THAT(fetch.skipped[1], HasSubstr("10.0.0.3:0"));
  EXPECT_THAT(fetch.skipped[2], HasSubstr("worker-4"));
  EXPECT_THAT(fetch.skipped[3], HasSubstr("row ''"));
  EXPECT_THAT(fetch.skipped[4], HasSubstr("row 'a/b'"));
  EXPECT_EQ(fetch.skipped[5], "row 'spark': a second row with this name");
}

TEST(ParseDatabaseUriTest, AcceptsBothKindsWithDefaultPorts) {
  absl::StatusOr<DatabaseUri> pg = ParseDatabaseUri("postgresql://ds@db.example:6432/ds");
  ASSERT_OK(pg.status());
  EXPECT_EQ(pg->kind, DatabaseUri::Kind::kPostgreSql);
  EXPECT_EQ(pg->user, "ds");
  EXPECT_EQ(pg->host, "db.example");
  EXPECT_EQ(pg->port, 6432);
  EXPECT_EQ(pg->database, "ds");
  EXPECT_EQ(pg->ToString(), "postgresql://ds@db.example:6432/ds");

  EXPECT_THAT(ParseDatabaseUri("postgres://h/d").value().ToString(), "postgresql://h:5432/d");
  EXPECT_THAT(ParseDatabaseUri("mysql://u@h/d").value().ToString(), "mysql://u@h:3306/d");
  EXPECT_THAT(ParseDatabaseUri("mariadb://u@[::1]:3307/d").value().ToString(),
              "mysql://u@[::1]:3307/d");
  EXPECT_EQ(ParseDatabaseUri("mariadb://u@[::1]:3307/d").value().host, "::1");
}

TEST(ParseDatabaseUriTest, RefusesBadUrisNamingThem) {
  for (const char* uri :
       {"zk://h:2181/ds", "postgresql://h:5432", "postgresql://h:5432/", "postgresql://:5432/ds",
        "postgresql://h:0/ds", "postgresql://h:x/ds", "mysql://@h/ds", "mysql://u@[::1/ds",
        "postgresql://h/ds?sslmode=x", "mysql://d@[[]/ds", "mysql://d@[a]b]/ds",
        "mysql://u@h/my db", "mysql://u\tv@h/ds", "mysql://u@h\x01/ds", "postgresql://u@h/d\x7f"}) {
    EXPECT_THAT(ParseDatabaseUri(uri), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(uri)))
        << uri;
  }
}

TEST(ParseDatabaseUriTest, RefusesAPasswordWithoutRepeatingIt) {
  const absl::StatusOr<DatabaseUri> parsed = ParseDatabaseUri("mysql://ds:hunter2@h:3306/ds");
  EXPECT_THAT(parsed, StatusIs(absl::StatusCode::kInvalidArgument,
                               AllOf(HasSubstr("password file"), Not(HasSubstr("hunter2")),
                                     HasSubstr("mysql://ds:***@h:3306/ds"))));
}

class PasswordFileTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& contents, mode_t mode) {
    const std::string path = dir_.Child("password");
    roster::testing::WriteFileOrDie(path, contents);
    EXPECT_EQ(chmod(path.c_str(), mode), 0);
    return path;
  }
  roster::testing::TempDir dir_{"password-file-test"};
};

TEST_F(PasswordFileTest, ReadsTheFirstLine) {
  EXPECT_THAT(ReadDatabasePassword(Write("s3cret\n", 0600), false), IsOkAndHolds("s3cret"));
  EXPECT_THAT(ReadDatabasePassword(Write("s3cret\r\nnext", 0400), false), IsOkAndHolds("s3cret"));
  EXPECT_THAT(ReadDatabasePassword(Write(" spaces count ", 0600), false),
              IsOkAndHolds(" spaces count "));
}

TEST_F(PasswordFileTest, RefusesAFileOthersCanReadUnlessAllowed) {
  const std::string path = Write("s3cret\n", 0644);
  EXPECT_THAT(ReadDatabasePassword(path, false),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       AllOf(HasSubstr("--worker_group_db_password_file=" + path),
                             HasSubstr("0644"), Not(HasSubstr("s3cret")))));
  EXPECT_THAT(ReadDatabasePassword(path, true), IsOkAndHolds("s3cret"));
  EXPECT_THAT(ReadDatabasePassword(Write("s3cret\n", 0640), false),
              StatusIs(absl::StatusCode::kPermissionDenied));
}

TEST_F(PasswordFileTest, AMissingOrEmptyFileIsRefused) {
  EXPECT_THAT(ReadDatabasePassword(dir_.Child("absent"), false),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr(dir_.Child("absent"))));
  EXPECT_THAT(ReadDatabasePassword(Write("\n", 0600), false),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("first line is empty")));
}

// Like every secret, the password may come from systemd's credentials (util/secret_file.h).
TEST_F(PasswordFileTest, ASystemdCredential) {
  const std::string path = Write("s3cret\n", 0600);
  ASSERT_EQ(setenv("CREDENTIALS_DIRECTORY", dir_.path().c_str(), 1), 0);
  EXPECT_THAT(ReadDatabasePassword("cred:password", false), IsOkAndHolds("s3cret"));
  unsetenv("CREDENTIALS_DIRECTORY");
  EXPECT_THAT(ReadDatabasePassword("cred:password", false),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("CREDENTIALS_DIRECTORY")));
}

TEST_F(PasswordFileTest, CreateChecksTheOptionsWithoutConnecting) {
  DsDatabaseGroupSourceOptions options;
  options.uri = "postgresql://ds@127.0.0.1:1/ds";  // nothing listens: Create() must not care
  options.password_file = Write("s3cret\n", 0600);
  EXPECT_OK(DsDatabaseGroupSource::Create(options).status());

  options.password_file = Write("s3cret\n", 0644);
  EXPECT_THAT(DsDatabaseGroupSource::Create(options).status(),
              StatusIs(absl::StatusCode::kPermissionDenied));
  options.allow_shared_password_file = true;
  EXPECT_OK(DsDatabaseGroupSource::Create(options).status());

  options.poll_interval = absl::ZeroDuration();
  EXPECT_THAT(DsDatabaseGroupSource::Create(options).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("poll_interval")));
  options.poll_interval = absl::Seconds(10);
  options.uri = "sqlite:///tmp/ds.db";
  EXPECT_THAT(DsDatabaseGroupSource::Create(options).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("sqlite:///tmp/ds.db")));
}

}  // namespace
}  // namespace roster::cluster::dsdb
