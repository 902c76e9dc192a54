// `buf curl` (the @bufbuild/buf npm package: a maintained gRPC CLI with server reflection)
// against a running rosterd, as an operator without the .proto files would use it: reflection
// lists every method, and a lookup and the standard health check can be called by name.
//
// buf comes from BUF_PATH (build/tools/node_modules/.bin/buf), installed by deploy/test.sh
// with `npm install --prefix build/tools @bufbuild/buf`. Without it the test fails: a
// reflection regression must not hide behind a skipped test.
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/util/json_util.h"
#include "grpc/health/v1/health.pb.h"
#include "gtest/gtest.h"
#include "roster/v1/roster.pb.h"
#include "tests/e2e/e2e_env.h"
#include "tests/testing/eventually.h"
#include "tests/testing/status_matchers.h"

namespace roster::testing {
namespace {

using ::testing::Contains;
using ::testing::IsSupersetOf;

struct BufResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

class BufCurlTest : public E2eTest {
 protected:
  BufResult Buf(const std::vector<std::string>& args) {
    BufResult result;
    Subprocess::Options options;
    options.argv = {BUF_PATH,    "curl", "--protocol", "grpc", "--http2-prior-knowledge",
                    "--timeout", "20s"};
    options.argv.insert(options.argv.end(), args.begin(), args.end());
    // buf keeps a cache; keep it inside the test's directory.
    options.env = {{"BUF_CACHE_DIR", dir_.Child("buf-cache")}, {"HOME", dir_.path()}};
    options.log_path = dir_.Child(absl::StrCat("buf-", ++runs_, ".err"));
    options.pipe_stdout = true;
    absl::StatusOr<std::unique_ptr<Subprocess>> buf = Subprocess::Start(options);
    if (!buf.ok()) {
      result.err = buf.status().ToString();
      return result;
    }
    absl::StatusOr<std::string> out = (*buf)->ReadAll(absl::Seconds(60));
    if (out.ok()) result.out = *out;
    absl::StatusOr<int> status = (*buf)->Wait(absl::Seconds(30));
    if (status.ok() && WIFEXITED(*status)) result.exit_code = WEXITSTATUS(*status);
    result.err = (*buf)->LogTail();
    return result;
  }

  int runs_ = 0;
};

TEST_F(BufCurlTest, ReflectionListsEveryServiceAndCallsWorkByName) {
  ASSERT_EQ(access(BUF_PATH, X_OK), 0)
      << "buf is not installed at " << BUF_PATH
      << ". Run deploy/test.sh (it installs it with `npm install --prefix build/tools "
         "@bufbuild/buf`), or that npm command from the repository root, then ctest again.";
  ASSERT_NE(StartSim(2, 4, "etl"), nullptr);
  RosterdProcess* daemon = StartRosterd();
  ASSERT_NE(daemon, nullptr);
  ASSERT_TRUE(WaitSettled(daemon, 2, 4));
  const std::string url = "http://" + daemon->target();

  BufResult list = Buf({"--list-methods", url});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  std::vector<std::string> methods = absl::StrSplit(list.out, '\n', absl::SkipEmpty());
  // Every method of every roster service, from the compiled descriptors.
  std::vector<std::string> expected;
  for (const char* name : {"roster.v1.Roster", "roster.v1.Registration", "roster.v1.RosterAdmin"}) {
    const google::protobuf::ServiceDescriptor* service =
        google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(name);
    ASSERT_NE(service, nullptr) << name;
    for (int i = 0; i < service->method_count(); ++i) {
      expected.push_back(absl::StrCat(name, "/", service->method(i)->name()));
    }
  }
  ASSERT_GE(expected.size(), 15u);
  EXPECT_THAT(methods, IsSupersetOf(expected)) << list.out;
  EXPECT_THAT(methods, Contains("grpc.health.v1.Health/Check")) << list.out;
  EXPECT_THAT(methods, Contains("grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"))
      << list.out;

  // A lookup, by name, with JSON in and out.
  BufResult group = Buf({"-d", R"({"name":"default"})", url + "/roster.v1.Roster/GetWorkerGroup"});
  ASSERT_EQ(group.exit_code, 0) << group.err;
  v1::GetWorkerGroupResponse response;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(group.out, &response).ok()) << group.out;
  EXPECT_EQ(response.group().name(), "default");
  EXPECT_EQ(response.workers_size(), 4);
  EXPECT_EQ(response.group().members(), 4);

  // Errors come back with their code and message.
  BufResult unknown = Buf({"-d", R"({"name":"nosuch"})", url + "/roster.v1.Roster/GetWorkerGroup"});
  EXPECT_NE(unknown.exit_code, 0);
  EXPECT_THAT(unknown.out + unknown.err, ::testing::HasSubstr("not_found")) << unknown.err;
  EXPECT_THAT(unknown.out + unknown.err, ::testing::HasSubstr("nosuch"));

  // The standard health service, described through reflection too.
  BufResult health = Buf({"-d", "{}", url + "/grpc.health.v1.Health/Check"});
  ASSERT_EQ(health.exit_code, 0) << health.err;
  grpc::health::v1::HealthCheckResponse serving;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(health.out, &serving).ok()) << health.out;
  EXPECT_EQ(serving.status(), grpc::health::v1::HealthCheckResponse::SERVING);
}

}  // namespace
}  // namespace roster::testing
