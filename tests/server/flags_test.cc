// rosterd's flags: defaults, one-line errors naming the flag, --flagfile and its check.
#include "server/flags.h"

#include <gflags/gflags.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace roster::testing {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

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

// CheckFlagfiles(): what gflags skips without a word in a --flagfile stops rosterd instead.
class CheckFlagfilesTest : public ::testing::Test {
 protected:
  // Writes `contents` as `name` in the test's directory; returns the path.
  std::string Write(absl::string_view name, absl::string_view contents) {
    const std::string path = dir_.Child(name);
    WriteFileOrDie(path, contents);
    return path;
  }
  // The message of CheckFlagfiles() on `args` after /usr/bin/rosterd; "" when it passes.
  std::string Check(std::vector<std::string> args) {
    args.insert(args.begin(), "/usr/bin/rosterd");
    absl::Status status = server::CheckFlagfiles(args);
    return status.ok() ? "" : std::string(status.message());
  }

  gflags::FlagSaver saver_;
  TempDir dir_{"flagfile_check"};
};

TEST_F(CheckFlagfilesTest, AcceptsWhatGflagsApplies) {
  const std::string file = Write("ok.flags",
                                 "# a comment\n"
                                 "\n"
                                 "  --registry=zk://127.0.0.1:2181/dolphinscheduler\n"
                                 "-listen=127.0.0.1:9090\n"
                                 "--allow_plaintext_listen\n"
                                 "--noallow_plaintext_listen\n"
                                 "--worker_group_file=\n"
                                 "--staleness_bound_ms=0\r\n");
  EXPECT_THAT(Check({"--flagfile=" + file}), IsEmpty());
  EXPECT_THAT(Check({"-flagfile", file, "--listen=127.0.0.1:0"}), IsEmpty());
  EXPECT_THAT(Check({"--listen=127.0.0.1:0"}), IsEmpty()) << "no flagfile: nothing to check";
}

TEST_F(CheckFlagfilesTest, AMisspeltFlagNamesItsFileAndLine) {
  const std::string file = Write("typo.flags",
                                 "--registry=zk://127.0.0.1:2181/dolphinscheduler\n"
                                 "# DolphinScheduler's heartbeat interval\n"
                                 "--heartbeat_intervall_ms=5000\n");
  EXPECT_EQ(Check({"--flagfile=" + file}),
            file + ":3: --heartbeat_intervall_ms is not a flag of rosterd (--helpfull lists them)");
  // The same check whichever way the file is named, and for each file of a list.
  const std::string good = Write("good.flags", "--missed_heartbeats=3\n");
  EXPECT_THAT(Check({"--flagfile", file}), HasSubstr(":3: --heartbeat_intervall_ms"));
  EXPECT_THAT(Check({"--flagfile=" + good + "," + file}),
              HasSubstr(":3: --heartbeat_intervall_ms"));
  // A trailing space is part of a name to gflags, which then finds no such flag.
  EXPECT_THAT(
      Check({"--flagfile=" + Write("space.flags", "--allow_plaintext_listen \n")}),
      HasSubstr(
          ":1: --allow_plaintext_listen  is not a flag of rosterd (the name ends in white space)"));
}

TEST_F(CheckFlagfilesTest, ANonBooleanFlagWithoutAValue) {
  const std::string file = Write("novalue.flags", "--missed_heartbeats=3\n--registry\n");
  EXPECT_EQ(Check({"--flagfile=" + file}),
            file + ":2: --registry has no value (write --registry=VALUE)");
  // --no applies to booleans only.
  EXPECT_THAT(Check({"--flagfile=" + Write("no.flags", "--nomissed_heartbeats\n")}),
              HasSubstr(":1: --nomissed_heartbeats is not a flag"));
}

TEST_F(CheckFlagfilesTest, NestedFlagfilesAreCheckedToo) {
  const std::string inner = Write("inner.flags", "--listen=127.0.0.1:9090\n--liste=:9090\n");
  const std::string outer =
      Write("outer.flags", "--missed_heartbeats=3\n--flagfile=" + inner + "\n");
  EXPECT_EQ(Check({"--flagfile=" + outer}),
            inner + ":2: --liste is not a flag of rosterd (--helpfull lists them)");
  // A file that names itself stops at the depth bound rather than recursing forever.
  const std::string loop = dir_.Child("loop.flags");
  Write("loop.flags", "--flagfile=" + loop + "\n");
  EXPECT_THAT(Check({"--flagfile=" + loop}), HasSubstr("nested more than 8 deep"));
}

TEST_F(CheckFlagfilesTest, OtherProgramsSectionsAreSkippedAsGflagsSkipsThem) {
  const std::string file = Write("shared.flags",
                                 "--missed_heartbeats=3\n"
                                 "roster-sim other-tool\n"
                                 "--nodes_per_session=100\n"
                                 "/usr/bin/roster*\n"
                                 "--listen=127.0.0.1:9090\n"
                                 "--lissen=127.0.0.1:9090\n");
  // The roster-sim section is not rosterd's; the glob on the full path is.
  EXPECT_THAT(Check({"--flagfile=" + file}), HasSubstr(":6: --lissen is not a flag"));
  const std::string header_by_name = Write("by_name.flags",
                                           "other-tool\n"
                                           "rosterd\n"
                                           "--lissen=127.0.0.1:9090\n");
  EXPECT_THAT(Check({"--flagfile=" + header_by_name}), HasSubstr(":3: --lissen"))
      << "consecutive header lines form one header; the base name matches";
}

TEST_F(CheckFlagfilesTest, UndefokNamesAreAccepted) {
  const std::string file = Write("undefok.flags", "--from_a_newer_release=1\n");
  EXPECT_THAT(Check({"--flagfile=" + file}), HasSubstr("--from_a_newer_release is not a flag"));
  gflags::SetCommandLineOption("undefok", "other,from_a_newer_release");
  EXPECT_THAT(Check({"--flagfile=" + file}), IsEmpty());
}

TEST_F(CheckFlagfilesTest, AnUnreadableFlagfile) {
  EXPECT_EQ(Check({"--flagfile=" + dir_.Child("missing.flags")}),
            dir_.Child("missing.flags") + ": cannot be read");
}

}  // namespace
}  // namespace roster::testing
