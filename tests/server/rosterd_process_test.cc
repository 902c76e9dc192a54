// The rosterd binary as an operator runs it: flags, the port file, health, SIGTERM.
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/wait.h>

#include <fstream>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "roster/v1/roster.grpc.pb.h"
#include "tests/server/server_test_env.h"
#include "tests/testing/eventually.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"

namespace roster::testing {
namespace {

using ::testing::HasSubstr;

int ReadPort(const std::string& path) {
  std::ifstream in(path);
  int port = 0;
  in >> port;
  return port;
}

TEST(RosterdProcessTest, ServesAndStopsCleanlyOnSigterm) {
  TempDir dir("rosterd");
  const std::string port_file = dir.Child("port");
  Subprocess::Options options;
  options.argv = {ROSTERD_PATH, "--registry=memory://", "--listen=127.0.0.1:0",
                  "--metrics_listen=127.0.0.1:0", "--port_file=" + port_file};
  options.log_path = dir.Child("rosterd.log");
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Subprocess> rosterd, Subprocess::Start(options));
  ASSERT_EVENTUALLY(ReadPort(port_file) > 0) << rosterd->LogTail();
  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", ReadPort(port_file)),
                                     grpc::InsecureChannelCredentials());
  ASSERT_EVENTUALLY(CheckHealth(channel, "").serving ==
                    grpc::health::v1::HealthCheckResponse::SERVING)
      << rosterd->LogTail();
  auto stub = v1::Roster::NewStub(channel);
  CallContext context;
  v1::GetClusterViewResponse view;
  ASSERT_THAT(stub->GetClusterView(&context, {}, &view), GrpcOk());
  EXPECT_FALSE(view.meta().instance_id().empty());

  ASSERT_OK(rosterd->Signal(SIGTERM));
  ASSERT_OK_AND_ASSIGN(int status, rosterd->Wait(absl::Seconds(30)));
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << DescribeExitStatus(status) << "\n"
                                                             << rosterd->LogTail();
  EXPECT_THAT(rosterd->LogTail(), HasSubstr("rosterd stopped"));
  EXPECT_THAT(rosterd->LogTail(), HasSubstr("rosterd listening on 127.0.0.1:"));
  // The allocator it was built with (cmake/RosterAllocator.cmake), not one a link dropped.
  EXPECT_THAT(rosterd->LogTail(), HasSubstr(absl::StrCat("; allocator ", ROSTERD_ALLOCATOR, "\n")));
}

TEST(RosterdProcessTest, BadFlagsExitWithOneLine) {
  TempDir dir("rosterd");
  Subprocess::Options options;
  options.argv = {ROSTERD_PATH, "--missed_heartbeats=0"};
  options.log_path = dir.Child("rosterd.log");
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Subprocess> rosterd, Subprocess::Start(options));
  ASSERT_OK_AND_ASSIGN(int status, rosterd->Wait(absl::Seconds(30)));
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 2) << DescribeExitStatus(status);
  EXPECT_EQ(rosterd->LogTail(), "rosterd: --missed_heartbeats=0: must be in [1, 100]\n");
}

TEST(RosterdProcessTest, AMisspeltFlagInItsFlagfileStopsIt) {
  // gflags itself skips unknown names in a flagfile: rosterd would run with the default.
  TempDir dir("rosterd");
  const std::string flagfile = dir.Child("rosterd.flags");
  WriteFileOrDie(flagfile, "--registry=memory://\n--heartbeat_intervall_ms=5000\n");
  Subprocess::Options options;
  options.argv = {ROSTERD_PATH, "--flagfile=" + flagfile, "--listen=127.0.0.1:0"};
  options.log_path = dir.Child("rosterd.log");
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Subprocess> rosterd, Subprocess::Start(options));
  ASSERT_OK_AND_ASSIGN(int status, rosterd->Wait(absl::Seconds(30)));
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 2) << DescribeExitStatus(status);
  EXPECT_EQ(rosterd->LogTail(), absl::StrCat("rosterd: ", flagfile,
                                             ":2: --heartbeat_intervall_ms is not a flag of "
                                             "rosterd (--helpfull lists them)\n"));
}

}  // namespace
}  // namespace roster::testing
