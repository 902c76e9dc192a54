// Fault tests: rosterd with credentials ZooKeeper does not honour. Real processes only (see
// e2e_env.h).
//
//  - roster-sim plays DolphinScheduler with registry.zookeeper.digest set (every znode, the
//    layout roots included, creator-only: ZookeeperRegistry.java @ 3.2.2-release) and rosterd
//    is given another digest. The session connects, every read is NOAUTH: rosterd must not
//    serve the empty view it reads as the cluster.
//  - A ZooKeeper server that rejects the digest scheme: the session ends AUTH_FAILED.
//
// In both, what a scheduler and its supervisor rely on: health NOT_SERVING with the reason,
// slot, leader and selection answers refused naming the cause and the flag, and the process
// exiting non-zero once --exit_on_auth_failure_after_ms has passed.
#include <sys/wait.h>

#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/e2e_env.h"
#include "tests/server/server_test_env.h"
#include "tests/testing/eventually.h"
#include "tests/testing/ports.h"
#include "tests/testing/status_matchers.h"

namespace roster::testing {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// A short bound, so the test waits seconds, not the default minute.
constexpr absl::Duration kExitAfter = absl::Seconds(3);

class AuthFailureTest : public E2eTest {
 protected:
  std::string DigestFile(const std::string& name, const std::string& digest) {
    const std::string path = dir_.Child(name);
    WriteSecretFileOrDie(path, digest + "\n");
    return path;
  }

  // Slot, leader and selection on `daemon` are all refused, each naming `cause` and the flag.
  void ExpectAuthorityRefused(RosterdProcess* daemon, const std::string& master,
                              const std::string& cause) {
    v1::GetMasterSlotResponse slot;
    grpc::Status status = Slot(master, &slot, daemon);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
    EXPECT_THAT(status.error_message(), AllOf(HasSubstr(cause), HasSubstr("--zk_digest_file")));
    v1::GetLeaderResponse leader;
    status = Leader(&leader, daemon);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
    EXPECT_THAT(status.error_message(), HasSubstr(cause));
    CallContext context(absl::Seconds(5));
    v1::SelectWorkerRequest request;
    request.set_group("default");
    v1::SelectWorkerResponse selected;
    status = daemon->roster().SelectWorker(&context, request, &selected);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
    EXPECT_THAT(status.error_message(), HasSubstr(cause));
  }

  // Waits for `daemon` to exit on its own; returns how long after `started` it did, and
  // checks it exited non-zero, no sooner than the bound.
  absl::Duration ExpectExitsNonZero(RosterdProcess* daemon, absl::Time started) {
    absl::StatusOr<int> status = daemon->process().Wait(kExitAfter + kReactTimeout);
    const absl::Duration took = absl::Now() - started;
    EXPECT_TRUE(status.ok()) << "rosterd did not exit within " << kExitAfter + kReactTimeout << ": "
                             << status.status() << "\n"
                             << daemon->LogTail();
    if (!status.ok()) return took;
    EXPECT_TRUE(WIFEXITED(*status)) << "raw wait status " << *status;
    EXPECT_NE(WEXITSTATUS(*status), 0);
    EXPECT_GE(took, kExitAfter) << "exited before the bound";
    return took;
  }
};

TEST_F(AuthFailureTest, TheWrongDigestForDolphinSchedulersAclsIsRefusedAndEndsTheDaemon) {
  ASSERT_NE(StartSim(2, 2, "etl", {"--digest_file=" + DigestFile("right", "dolphin:right")}),
            nullptr);
  const std::string wrong = "--zk_digest_file=" + DigestFile("wrong", "dolphin:wrong");

  // The control: the right digest settles on the simulated cluster.
  RosterdProcess* right = StartRosterd({"--zk_digest_file=" + dir_.Child("right")});
  ASSERT_NE(right, nullptr);
  ASSERT_TRUE(WaitSettled(right, 2, 2));

  // Never exits (0): health and answers are checked at leisure.
  const int metrics_port = PickUnusedPort();
  const absl::Time started = absl::Now();
  RosterdProcess* lingering =
      StartRosterd({wrong, "--exit_on_auth_failure_after_ms=0",
                    absl::StrCat("--metrics_listen=127.0.0.1:", metrics_port)});
  ASSERT_NE(lingering, nullptr);
  ASSERT_EVENTUALLY(lingering->LogTail(1 << 20).find("health: NOT_SERVING: rosterd may not list") !=
                    std::string::npos)
      << lingering->LogTail(1 << 20);
  std::cout << "[measured] noauth_not_serving_after_start_ms: "
            << absl::ToInt64Milliseconds(absl::Now() - started) << std::endl;
  EXPECT_FALSE(lingering->Serving());
  ASSERT_OK_AND_ASSIGN(auto healthz, HttpGet(metrics_port, "/healthz"));
  EXPECT_EQ(healthz.first, 503);
  EXPECT_THAT(healthz.second, AllOf(StartsWith("NOT_SERVING\n"), HasSubstr("'/nodes/master'"),
                                    HasSubstr("--zk_digest_file")));
  ExpectAuthorityRefused(lingering, "127.0.0.1:5678", "NOAUTH");
  // What really happens below the refusals: lookups answer from an empty view.
  ASSERT_OK_AND_ASSIGN(v1::GetClusterViewResponse view, lingering->View());
  EXPECT_EQ(view.masters_size(), 0);
  EXPECT_TRUE(lingering->process().Running()) << "0 disables the exit";

  // With a bound: refused the same way, then the process ends, non-zero, for its supervisor.
  const absl::Time bounded_start = absl::Now();
  RosterdProcess* bounded =
      StartRosterd({wrong, absl::StrCat("--exit_on_auth_failure_after_ms=",
                                        absl::ToInt64Milliseconds(kExitAfter))});
  ASSERT_NE(bounded, nullptr);
  const absl::Duration took = ExpectExitsNonZero(bounded, bounded_start);
  std::cout << "[measured] noauth_exit_after_start_ms: " << absl::ToInt64Milliseconds(took)
            << " (bound " << absl::ToInt64Milliseconds(kExitAfter) << ")" << std::endl;
  EXPECT_THAT(bounded->LogTail(1 << 20),
              AllOf(HasSubstr("--exit_on_auth_failure_after_ms=3000"),
                    HasSubstr("exiting so that the supervisor restarts")));
  EXPECT_TRUE(right->Serving()) << "the daemon with the right digest is unaffected";
}

// A server with digest authentication disabled answers rosterd's addauth with AUTHFAILED.
class AuthFailedSessionTest : public AuthFailureTest {
 protected:
  void SetUp() override {
    ZooKeeperServerOptions options;
    options.system_properties = {{"zookeeper.DigestAuthenticationProvider.enabled", "false"}};
    zk_ = std::make_unique<ZooKeeperServer>(options);
    const absl::Status started = zk_->Start();
    ASSERT_TRUE(started.ok()) << started;
  }
};

TEST_F(AuthFailedSessionTest, ARefusedSessionIsRefusedAndEndsTheDaemon) {
  ASSERT_NE(StartSim(1, 1, "etl"), nullptr);  // no digest: the server serves it
  const std::string digest = "--zk_digest_file=" + DigestFile("digest", "dolphin:right");
  const int metrics_port = PickUnusedPort();
  const absl::Time started = absl::Now();
  RosterdProcess* lingering =
      StartRosterd({digest, "--exit_on_auth_failure_after_ms=0",
                    absl::StrCat("--metrics_listen=127.0.0.1:", metrics_port)});
  ASSERT_NE(lingering, nullptr);
  ASSERT_EVENTUALLY(lingering->LogTail(1 << 20).find("health: NOT_SERVING: ZooKeeper rejected") !=
                    std::string::npos)
      << lingering->LogTail(1 << 20);
  std::cout << "[measured] auth_failed_not_serving_after_start_ms: "
            << absl::ToInt64Milliseconds(absl::Now() - started) << std::endl;
  EXPECT_FALSE(lingering->Serving());
  ASSERT_OK_AND_ASSIGN(auto healthz, HttpGet(metrics_port, "/healthz"));
  EXPECT_EQ(healthz.first, 503);
  EXPECT_THAT(healthz.second, AllOf(HasSubstr("AUTH_FAILED"), HasSubstr("--zk_digest_file")));
  ExpectAuthorityRefused(lingering, "127.0.0.1:5678", "AUTH_FAILED");

  const absl::Time bounded_start = absl::Now();
  RosterdProcess* bounded =
      StartRosterd({digest, absl::StrCat("--exit_on_auth_failure_after_ms=",
                                         absl::ToInt64Milliseconds(kExitAfter))});
  ASSERT_NE(bounded, nullptr);
  const absl::Duration took = ExpectExitsNonZero(bounded, bounded_start);
  std::cout << "[measured] auth_failed_exit_after_start_ms: " << absl::ToInt64Milliseconds(took)
            << " (bound " << absl::ToInt64Milliseconds(kExitAfter) << ")" << std::endl;
  EXPECT_THAT(bounded->LogTail(1 << 20), HasSubstr("AUTH_FAILED"));
}

}  // namespace
}  // namespace roster::testing
