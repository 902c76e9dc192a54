// HealthReporter over a ClusterManager on the in-memory registry: what gRPC health and /healthz
// say across a cold start.
#include "server/health_reporter.h"

#include <memory>

#include "absl/time/time.h"
#include "cluster/cluster_manager.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/cluster/memory_cluster_fixture.h"
#include "tests/testing/eventually.h"
#include "tests/testing/status_matchers.h"

namespace roster::server {
namespace {

using ::testing::HasSubstr;

class HealthReporterTest : public cluster::MemoryClusterTest {
 protected:
  void StopManagers() override {
    if (reporter_ != nullptr) reporter_->Shutdown();
    manager_.reset();
  }

  void StartManager() {
    cluster::ClusterOptions options;
    options.run_timers = false;
    options.clock = &clock_;
    manager_ = std::make_unique<cluster::ClusterManager>(registry_.get(), options);
    ASSERT_OK(manager_->Start());
  }

  std::unique_ptr<cluster::ClusterManager> manager_;
  std::unique_ptr<HealthReporter> reporter_;
};

TEST_F(HealthReporterTest, ServesAsSoonAsTheFirstFullReadIsDoneWhateverTheInterval) {
  registry_->Disconnect();
  StartManager();
  // An hour between evaluations: only the cold start's own pace can report SERVING in time.
  reporter_ = std::make_unique<HealthReporter>(manager_.get(), nullptr, absl::Hours(1));
  reporter_->Start();
  ASSERT_EVENTUALLY(!reporter_->reason().empty());
  EXPECT_FALSE(reporter_->serving());
  EXPECT_THAT(reporter_->reason(), HasSubstr("first full read pending"));

  registry_->Reconnect();
  ASSERT_EVENTUALLY_WITHIN(absl::Seconds(10), reporter_->serving());
  EXPECT_EQ(reporter_->reason(), "");
  EXPECT_TRUE(manager_->ready());
}

}  // namespace
}  // namespace roster::server
