// roster-sim writing DolphinScheduler's worker groups into a real PostgreSQL and MariaDB: the
// rows of t_ds_worker_group (name, addr_list) at Start() and on `group`, read back with psql /
// mariadb (the fixtures' own clients, not the code under test).
#include <sys/stat.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sim/simulator.h"
#include "tests/testing/mariadb_server.h"
#include "tests/testing/postgres_server.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace roster::sim {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kPassword[] = "Sim-4c1d-password";
constexpr char kRows[] = "SELECT name, addr_list FROM t_ds_worker_group ORDER BY name";

class SimulatorDatabaseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    roster::testing::PostgresServerOptions options;
    options.password = kPassword;
    server_ = std::make_unique<roster::testing::PostgresServer>(options);
    ASSERT_OK(server_->Start());
    password_file_ = dir_.Child("password");
    roster::testing::WriteFileOrDie(password_file_, absl::StrCat(kPassword, "\n"));
    ASSERT_EQ(chmod(password_file_.c_str(), 0600), 0);
  }

  SimulatorOptions Options(const std::string& store) {
    SimulatorOptions options;
    options.registry_uri = absl::StrCat("memory://", store, "/dolphinscheduler");
    options.dolphinscheduler_version = "3.2";
    options.masters = 1;
    options.workers = 3;
    options.groups = {"etl", "spark"};
    options.heartbeat_interval = absl::Seconds(1);
    options.worker_group_db_uri = server_->Uri();
    options.worker_group_db_password_file = password_file_;
    return options;
  }

  roster::testing::TempDir dir_{"sim-db-test"};
  std::string password_file_;
  std::unique_ptr<roster::testing::PostgresServer> server_;
};

TEST_F(SimulatorDatabaseTest, CreatesTheTableAndWritesEveryGroup) {
  Simulator sim(Options("simdb-create"));
  ASSERT_OK(sim.Start());
  // Workers 5679..5681 get etl, spark, etl round-robin.
  EXPECT_EQ(*server_->Execute(kRows), "etl|127.0.0.1:5679,127.0.0.1:5681\nspark|127.0.0.1:5680\n");

  EXPECT_EQ(sim.Execute("group etl 127.0.0.1:5679"), "ok group etl 127.0.0.1:5679");
  EXPECT_EQ(sim.Execute("group gpu 10.0.0.7:1234,10.0.0.8:1234"),
            "ok group gpu 10.0.0.7:1234,10.0.0.8:1234");
  EXPECT_EQ(*server_->Execute(kRows),
            "etl|127.0.0.1:5679\ngpu|10.0.0.7:1234,10.0.0.8:1234\nspark|127.0.0.1:5680\n");
  // DS's id sequence numbers the rows.
  EXPECT_EQ(*server_->Execute("SELECT count(DISTINCT id) FROM t_ds_worker_group"), "3\n");
  EXPECT_THAT(sim.Execute("group a/b 10.0.0.7:1234"), StartsWith("error group: "));
}

TEST_F(SimulatorDatabaseTest, WritesIntoDolphinSchedulersOwnTable) {
  ASSERT_OK(server_->ExecuteFile(
      absl::StrCat(ROSTER_TEST_DATA_DIR, "/dolphinscheduler/schema/postgresql/3.2.2.sql")));
  ASSERT_OK(server_->Execute(
      "INSERT INTO t_ds_worker_group (name, addr_list) VALUES ('spark', '10.0.0.9:1234')"));
  Simulator sim(Options("simdb-existing"));
  ASSERT_OK(sim.Start());
  EXPECT_EQ(*server_->Execute(kRows), "etl|127.0.0.1:5679,127.0.0.1:5681\nspark|127.0.0.1:5680\n");
}

TEST_F(SimulatorDatabaseTest, AnUnreachableDatabaseFailsStart) {
  SimulatorOptions options = Options("simdb-down");
  ASSERT_OK(server_->Stop());
  Simulator sim(options);
  EXPECT_THAT(sim.Start(), roster::testing::StatusIs(absl::StatusCode::kUnavailable,
                                                     HasSubstr("write the worker groups to")));
}

TEST(SimulatorMariaDbTest, CreatesTheTableAndUpsertsRows) {
  roster::testing::MariaDbServerOptions options;
  options.password = kPassword;
  roster::testing::MariaDbServer server(options);
  ASSERT_OK(server.Start());
  roster::testing::TempDir dir("sim-mariadb-test");
  const std::string password_file = dir.Child("password");
  roster::testing::WriteFileOrDie(password_file, absl::StrCat(kPassword, "\n"));
  ASSERT_EQ(chmod(password_file.c_str(), 0600), 0);

  SimulatorOptions sim_options;
  sim_options.registry_uri = "memory://simdb-mariadb/dolphinscheduler";
  sim_options.dolphinscheduler_version = "3.1";
  sim_options.masters = 1;
  sim_options.workers = 3;
  sim_options.groups = {"etl", "spark"};
  sim_options.worker_group_db_uri = server.Uri();
  sim_options.worker_group_db_password_file = password_file;
  Simulator sim(sim_options);
  ASSERT_OK(sim.Start());
  EXPECT_EQ(*server.Execute(kRows), "etl\t127.0.0.1:5679,127.0.0.1:5681\nspark\t127.0.0.1:5680\n");
  // A quote in the address list must reach the row as written, not end the SQL string.
  EXPECT_EQ(sim.Execute("group spark 10.0.0.1:1,'x"), "ok group spark 10.0.0.1:1,'x");
  EXPECT_EQ(*server.Execute(kRows), "etl\t127.0.0.1:5679,127.0.0.1:5681\nspark\t10.0.0.1:1,'x\n");
}

}  // namespace
}  // namespace roster::sim
