// DsDatabaseGroupSource against real PostgreSQL and MariaDB servers holding DolphinScheduler's
// own `t_ds_worker_group` table (tests/data/dolphinscheduler/schema/, copied from DS's schema
// files). Every scenario runs on both databases.
#include <sys/stat.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "cluster/dsdb/ds_database_group_source.h"
#include "glog/logging.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/cluster/group_source_recorder.h"
#include "tests/testing/eventually.h"
#include "tests/testing/mariadb_server.h"
#include "tests/testing/postgres_server.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace roster::cluster::dsdb {
namespace {

using ::roster::testing::MariaDbServer;
using ::roster::testing::PostgresServer;
using ::roster::testing::TempDir;
using ::testing::HasSubstr;
using ::testing::Not;
using Groups = std::map<std::string, std::vector<std::string>>;

// Distinctive enough that finding it anywhere means it leaked.
constexpr char kPassword[] = "Pw-7f3a9c-never-shown";
constexpr char kWrongPassword[] = "Wrong-5e2b81-never-shown";

// Every glog line written while it is installed.
class LogCapture : public google::LogSink {
 public:
  LogCapture() { google::AddLogSink(this); }
  ~LogCapture() override { google::RemoveLogSink(this); }
  using google::LogSink::send;
  void send(google::LogSeverity, const char*, const char*, int, const google::LogMessageTime&,
            const char* message, size_t length) override {
    absl::MutexLock lock(&mu_);
    text_.append(message, length).append("\n");
  }
  std::string text() const {
    absl::MutexLock lock(&mu_);
    return text_;
  }

 private:
  mutable absl::Mutex mu_;
  std::string text_ ABSL_GUARDED_BY(mu_);
};

template <typename Server>
struct Database;

template <>
struct Database<PostgresServer> {
  static constexpr char kSchemaDir[] = "postgresql";
  static std::unique_ptr<PostgresServer> New() {
    roster::testing::PostgresServerOptions options;
    options.password = kPassword;
    return std::make_unique<PostgresServer>(options);
  }
};

template <>
struct Database<MariaDbServer> {
  static constexpr char kSchemaDir[] = "mysql";
  static std::unique_ptr<MariaDbServer> New() {
    roster::testing::MariaDbServerOptions options;
    options.password = kPassword;
    return std::make_unique<MariaDbServer>(options);
  }
};

template <typename Server>
class DsDatabaseGroupSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = Database<Server>::New();
    const absl::Time start = absl::Now();
    ASSERT_OK(server_->Start());
    LOG(INFO) << "database fixture started in " << absl::FormatDuration(absl::Now() - start);
    ASSERT_OK(LoadSchema("3.2.2"));
    password_file_ = dir_.Child("password");
    WritePasswordFile(kPassword);
  }

  absl::Status LoadSchema(const std::string& version) {
    return server_->ExecuteFile(absl::StrCat(ROSTER_TEST_DATA_DIR, "/dolphinscheduler/schema/",
                                             Database<Server>::kSchemaDir, "/", version, ".sql"));
  }

  void WritePasswordFile(const std::string& password) {
    roster::testing::WriteFileOrDie(password_file_, password + "\n");
    ASSERT_EQ(chmod(password_file_.c_str(), 0600), 0);
  }

  void Insert(const std::string& name, const std::string& addr_list) {
    ASSERT_OK(server_->Execute(
        absl::StrCat("INSERT INTO t_ds_worker_group (name, addr_list) VALUES ('", name, "', ",
                     addr_list == "NULL" ? addr_list : absl::StrCat("'", addr_list, "'"), ")")));
  }

  DsDatabaseGroupSourceOptions Options() {
    DsDatabaseGroupSourceOptions options;
    options.uri = server_->Uri();
    options.password_file = password_file_;
    options.poll_interval = absl::Hours(1);  // reads come from RefreshNow() unless a test says
    options.connect_timeout = absl::Seconds(2);
    options.query_timeout = absl::Seconds(2);
    options.retry_initial_backoff = absl::Milliseconds(50);
    options.retry_max_backoff = absl::Milliseconds(400);
    return options;
  }

  std::unique_ptr<DsDatabaseGroupSource> StartSource(const DsDatabaseGroupSourceOptions& options,
                                                     GroupSourceRecorder* recorder) {
    absl::StatusOr<std::unique_ptr<DsDatabaseGroupSource>> source =
        DsDatabaseGroupSource::Create(options);
    EXPECT_OK(source.status());
    if (!source.ok()) return nullptr;
    EXPECT_OK((*source)->Start(recorder->Listener()));
    return *std::move(source);
  }

  TempDir dir_{"ds-db-groups-test"};
  std::string password_file_;
  std::unique_ptr<Server> server_;
};

using Servers = ::testing::Types<PostgresServer, MariaDbServer>;
TYPED_TEST_SUITE(DsDatabaseGroupSourceTest, Servers);

// DolphinScheduler's table as each release defines it reads the same; a row named "default"
// is reported (3.1.1 .. 3.2.x use it instead of "every worker").
TYPED_TEST(DsDatabaseGroupSourceTest, ReadsTheTableOfEverySchemaVersion) {
  for (const char* version : {"3.1.1", "3.2.2", "dev"}) {
    SCOPED_TRACE(version);
    ASSERT_OK(this->LoadSchema(version));
    this->Insert("spark", "10.0.0.2:1234,10.0.0.1:1234");
    this->Insert("default", "10.0.0.9:1234");
    this->Insert("idle", "");
    this->Insert("nulls", "NULL");
    GroupSourceRecorder recorder;
    auto source = this->StartSource(this->Options(), &recorder);
    ASSERT_NE(source, nullptr);
    ASSERT_EVENTUALLY(recorder.snapshot() != nullptr);
    const Groups expected = {{"default", {"10.0.0.9:1234"}},
                             {"idle", {}},
                             {"nulls", {}},
                             {"spark", {"10.0.0.1:1234", "10.0.0.2:1234"}}};
    EXPECT_EQ(recorder.groups(), expected);
    EXPECT_TRUE(recorder.snapshot()->defines_default);
    EXPECT_EQ(recorder.snapshot()->source, this->server_->Uri());
    EXPECT_FALSE(recorder.status().stale);
    EXPECT_EQ(recorder.status().problem, "");
  }
}

TYPED_TEST(DsDatabaseGroupSourceTest, SeesRowsAddedChangedAndRemovedOnRefreshNow) {
  this->Insert("spark", "10.0.0.1:1234");
  GroupSourceRecorder recorder;
  auto source = this->StartSource(this->Options(), &recorder);
  ASSERT_NE(source, nullptr);
  ASSERT_EVENTUALLY(recorder.groups() == Groups({{"spark", {"10.0.0.1:1234"}}}));
  EXPECT_FALSE(recorder.snapshot()->defines_default);

  this->Insert("flink", "10.0.0.3:1234");
  source->RefreshNow();
  ASSERT_EVENTUALLY(recorder.groups() ==
                    Groups({{"flink", {"10.0.0.3:1234"}}, {"spark", {"10.0.0.1:1234"}}}));

  ASSERT_OK(this->server_->Execute(
      "UPDATE t_ds_worker_group SET addr_list = '10.0.0.4:1234,10.0.0.3:1234' "
      "WHERE name = 'flink'"));
  source->RefreshNow();
  ASSERT_EVENTUALLY(recorder.groups() == Groups({{"flink", {"10.0.0.3:1234", "10.0.0.4:1234"}},
                                                 {"spark", {"10.0.0.1:1234"}}}));

  ASSERT_OK(this->server_->Execute("DELETE FROM t_ds_worker_group WHERE name = 'spark'"));
  source->RefreshNow();
  ASSERT_EVENTUALLY(recorder.groups() == Groups({{"flink", {"10.0.0.3:1234", "10.0.0.4:1234"}}}));

  // A read that finds nothing new publishes nothing new.
  const size_t snapshots = recorder.snapshot_count();
  source->RefreshNow();
  source->RefreshNow();
  source->Shutdown();  // runs the queued reads first
  EXPECT_EQ(recorder.snapshot_count(), snapshots);
}

TYPED_TEST(DsDatabaseGroupSourceTest, SeesChangesAfterThePollInterval) {
  DsDatabaseGroupSourceOptions options = this->Options();
  options.poll_interval = absl::Milliseconds(200);
  GroupSourceRecorder recorder;
  auto source = this->StartSource(options, &recorder);
  ASSERT_NE(source, nullptr);
  ASSERT_EVENTUALLY(recorder.snapshot() != nullptr);
  EXPECT_EQ(recorder.groups(), Groups());

  this->Insert("spark", "10.0.0.1:1234");
  ASSERT_EVENTUALLY(recorder.groups() == Groups({{"spark", {"10.0.0.1:1234"}}}));
}

TYPED_TEST(DsDatabaseGroupSourceTest, DatabaseDownKeepsTheLastGroupsAndRecovers) {
  this->Insert("spark", "10.0.0.1:1234");
  GroupSourceRecorder recorder;
  auto source = this->StartSource(this->Options(), &recorder);
  ASSERT_NE(source, nullptr);
  ASSERT_EVENTUALLY(recorder.groups() == Groups({{"spark", {"10.0.0.1:1234"}}}));
  const absl::Time last_success = recorder.status().last_success;

  ASSERT_OK(this->server_->Stop());
  source->RefreshNow();
  // Retried with back-off while down: the failures count up without any RefreshNow().
  ASSERT_EVENTUALLY(recorder.status().failures >= 3);
  const GroupSourceStatus down = recorder.status();
  EXPECT_TRUE(down.stale);
  EXPECT_THAT(down.problem, HasSubstr(absl::StrCat("127.0.0.1:", this->server_->port())));
  EXPECT_EQ(down.last_success, last_success);
  EXPECT_EQ(recorder.groups(), Groups({{"spark", {"10.0.0.1:1234"}}}));

  ASSERT_OK(this->server_->Start());
  ASSERT_EVENTUALLY(!recorder.status().stale);
  EXPECT_EQ(recorder.status().problem, "");
  EXPECT_EQ(recorder.status().failures, 0);
  EXPECT_GT(recorder.status().last_success, last_success);

  this->Insert("flink", "10.0.0.3:1234");
  source->RefreshNow();
  ASSERT_EVENTUALLY(recorder.groups() ==
                    Groups({{"flink", {"10.0.0.3:1234"}}, {"spark", {"10.0.0.1:1234"}}}));
}

// A server that accepts but never answers (a hung host) costs one query timeout per read, not
// a blocked source.
TYPED_TEST(DsDatabaseGroupSourceTest, AServerThatStopsAnsweringTimesOut) {
  this->Insert("spark", "10.0.0.1:1234");
  DsDatabaseGroupSourceOptions options = this->Options();
  options.poll_interval = absl::Milliseconds(200);
  options.query_timeout = absl::Seconds(1);
  GroupSourceRecorder recorder;
  auto source = this->StartSource(options, &recorder);
  ASSERT_NE(source, nullptr);
  ASSERT_EVENTUALLY(recorder.groups() == Groups({{"spark", {"10.0.0.1:1234"}}}));

  ASSERT_OK(this->server_->Pause());
  ASSERT_EVENTUALLY(recorder.status().failures >= 2);
  EXPECT_TRUE(recorder.status().stale);
  EXPECT_EQ(recorder.groups(), Groups({{"spark", {"10.0.0.1:1234"}}}));

  ASSERT_OK(this->server_->Resume());
  ASSERT_EVENTUALLY(!recorder.status().stale);
  source->Shutdown();
}

TYPED_TEST(DsDatabaseGroupSourceTest, SkipsBadRowsAndEntriesWithAReason) {
  this->Insert("spark", "10.0.0.1:1234,,10.0.0.2:1234, 10.0.0.3:1234,no-port,10.0.0.1:1234,");
  this->Insert("bad/name", "10.0.0.5:1234");
  this->Insert("flink", "10.0.0.6:99999");
  GroupSourceRecorder recorder;
  auto source = this->StartSource(this->Options(), &recorder);
  ASSERT_NE(source, nullptr);
  ASSERT_EVENTUALLY(recorder.snapshot() != nullptr);
  EXPECT_EQ(recorder.groups(),
            Groups({{"flink", {}}, {"spark", {"10.0.0.1:1234", "10.0.0.2:1234"}}}));
  const GroupSourceStatus status = recorder.status();
  EXPECT_FALSE(status.stale);
  EXPECT_THAT(status.problem, HasSubstr("skipped 4 entries"));
  EXPECT_THAT(status.problem, HasSubstr("row 'bad/name'"));
  EXPECT_THAT(status.problem, HasSubstr("' 10.0.0.3:1234' has spaces around it"));
  EXPECT_THAT(status.problem, HasSubstr("no-port"));
  EXPECT_THAT(status.problem, HasSubstr("99999"));
}

TYPED_TEST(DsDatabaseGroupSourceTest, NeverShowsThePassword) {
  LogCapture log;
  this->Insert("spark", "10.0.0.1:1234");
  GroupSourceRecorder recorder;
  auto source = this->StartSource(this->Options(), &recorder);
  ASSERT_NE(source, nullptr);
  ASSERT_EVENTUALLY(recorder.groups() == Groups({{"spark", {"10.0.0.1:1234"}}}));

  // A wrong password: refused by the server on the next connect, which a dropped connection
  // forces.
  this->WritePasswordFile(kWrongPassword);
  ASSERT_OK(this->server_->Stop());
  ASSERT_OK(this->server_->Start());
  source->RefreshNow();
  ASSERT_EVENTUALLY(recorder.status().stale && recorder.status().failures >= 2);
  EXPECT_THAT(recorder.status().problem, HasSubstr(this->server_->options().user));
  EXPECT_EQ(recorder.groups(), Groups({{"spark", {"10.0.0.1:1234"}}}));
  source->Shutdown();

  std::vector<std::string> texts = {log.text(), recorder.snapshot()->source, source->Describe()};
  for (const GroupSourceStatus& status : recorder.statuses()) texts.push_back(status.problem);
  for (const std::string& text : texts) {
    EXPECT_THAT(text, Not(HasSubstr(kPassword)));
    EXPECT_THAT(text, Not(HasSubstr(kWrongPassword)));
  }
  EXPECT_THAT(log.text(), HasSubstr("cannot read worker groups"));
}

TYPED_TEST(DsDatabaseGroupSourceTest, AMissingTableIsAProblemNotACrash) {
  ASSERT_OK(this->server_->Execute("DROP TABLE t_ds_worker_group"));
  GroupSourceRecorder recorder;
  auto source = this->StartSource(this->Options(), &recorder);
  ASSERT_NE(source, nullptr);
  ASSERT_EVENTUALLY(recorder.status().failures >= 1);
  EXPECT_TRUE(recorder.status().stale);
  EXPECT_THAT(recorder.status().problem, HasSubstr("t_ds_worker_group"));
  EXPECT_EQ(recorder.snapshot(), nullptr);
}

}  // namespace
}  // namespace roster::cluster::dsdb
