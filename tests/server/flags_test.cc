// rosterd's flags: defaults, one-line errors naming the flag, --flagfile.
#include "server/flags.h"

#include <gflags/gflags.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace roster::testing {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

TEST(FlagsTest, DefaultsAreDolphinSchedulersAndValid) {
  gflags::FlagSaver saver;
  ASSERT_OK_AND_ASSIGN(server::DaemonOptions options, server::DaemonOptionsFromFlags());
  EXPECT_EQ(options.registry, "memory://");
  EXPECT_EQ(options.listen, "127.0.0.1:9090");
  EXPECT_EQ(options.metrics_listen, "127.0.0.1:9091");
  EXPECT_EQ(options.zk_session_timeout_ms, 30000);
  EXPECT_EQ(options.masters_path, "/nodes/master");
  EXPECT_EQ(options.workers_path, "/nodes/worker");
  EXPECT_EQ(options.heartbeat_interval_ms, 10000);
  EXPECT_EQ(options.missed_heartbeats, 3);
  EXPECT_EQ(options.watch_buffer_messages, 4096);
  EXPECT_EQ(options.max_watch_streams, 1024);
  EXPECT_EQ(options.max_request_bytes, 1048576);
  EXPECT_EQ(options.effective_staleness_bound_ms(), 20000);
}

TEST(FlagsTest, BadValuesNameTheFlag) {
  gflags::FlagSaver saver;
  gflags::SetCommandLineOption("missed_heartbeats", "0");
  EXPECT_THAT(
      server::DaemonOptionsFromFlags(),
      StatusIs(absl::StatusCode::kInvalidArgument, "--missed_heartbeats=0: must be in [1, 100]"));
}

TEST(FlagsTest, BadRegistryUri) {
  gflags::FlagSaver saver;
  gflags::SetCommandLineOption("registry", "zk://");
  EXPECT_THAT(server::DaemonOptionsFromFlags(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--registry: ")));
}

TEST(FlagsTest, PlaintextOnlyOnLoopbackUnlessAskedFor) {
  gflags::FlagSaver saver;
  gflags::SetCommandLineOption("listen", "10.0.0.5:9090");
  EXPECT_THAT(server::DaemonOptionsFromFlags(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("--listen=10.0.0.5:9090"), HasSubstr("--tls_cert_file"),
                             HasSubstr("--allow_plaintext_listen"))));
  for (const char* local : {"127.0.0.1:9090", "[::1]:9090", "localhost:9090", "unix:/run/r.sock"}) {
    gflags::SetCommandLineOption("listen", local);
    EXPECT_TRUE(server::DaemonOptionsFromFlags().ok()) << local;
  }
  gflags::SetCommandLineOption("listen", "[::]:9090");
  EXPECT_FALSE(server::DaemonOptionsFromFlags().ok());
  gflags::SetCommandLineOption("tls_cert_file", "/etc/roster/tls.crt");
  gflags::SetCommandLineOption("tls_key_file", "/etc/roster/tls.key");
  EXPECT_TRUE(server::DaemonOptionsFromFlags().ok()) << "TLS: any address";
}

TEST(FlagsTest, FlagFile) {
  gflags::FlagSaver saver;
  TempDir dir("flags_test");
  WriteFileOrDie(dir.Child("rosterd.flags"),
                 "--registry=zk://10.0.0.1:2181,10.0.0.2:2181/dolphinscheduler\n"
                 "--listen=0.0.0.0:9999\n"
                 "--allow_plaintext_listen\n"
                 "--zk_session_timeout_ms=6000\n"
                 "--staleness_bound_ms=0\n");
  ASSERT_TRUE(gflags::ReadFromFlagsFile(dir.Child("rosterd.flags"), "rosterd", true));
  ASSERT_OK_AND_ASSIGN(server::DaemonOptions options, server::DaemonOptionsFromFlags());
  EXPECT_EQ(options.registry, "zk://10.0.0.1:2181,10.0.0.2:2181/dolphinscheduler");
  EXPECT_EQ(options.listen, "0.0.0.0:9999");
  EXPECT_EQ(options.effective_staleness_bound_ms(), 4000);
}

}  // namespace
}  // namespace roster::testing
