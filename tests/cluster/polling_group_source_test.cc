// PollingGroupSource with a scripted fetcher: what the listener hears, when, and what the
// source keeps through failures.
#include "cluster/polling_group_source.h"

#include <deque>
#include <memory>
#include <string>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/cluster/group_source_recorder.h"
#include "tests/testing/eventually.h"
#include "tests/testing/status_matchers.h"

namespace roster::cluster {
namespace {

using ::testing::HasSubstr;
using Groups = std::map<std::string, std::vector<std::string>>;

// Answers each Fetch() with the next scripted result, repeating the last one forever.
class ScriptedFetcher final : public GroupFetcher {
 public:
  struct Script {
    absl::Mutex mu;
    std::deque<absl::StatusOr<GroupFetch>> results ABSL_GUARDED_BY(mu);
    int calls ABSL_GUARDED_BY(mu) = 0;

    void Push(absl::StatusOr<GroupFetch> result) {
      absl::MutexLock lock(&mu);
      results.push_back(std::move(result));
    }
    int Calls() {
      absl::MutexLock lock(&mu);
      return calls;
    }
  };

  explicit ScriptedFetcher(std::shared_ptr<Script> script) : script_(std::move(script)) {}

  absl::StatusOr<GroupFetch> Fetch() override {
    absl::MutexLock lock(&script_->mu);
    ++script_->calls;
    if (script_->results.size() > 1) {
      absl::StatusOr<GroupFetch> next = std::move(script_->results.front());
      script_->results.pop_front();
      return next;
    }
    if (script_->results.empty()) return absl::UnavailableError("nothing scripted");
    return script_->results.front();
  }
  std::string Describe() const override { return "scripted://test"; }

 private:
  std::shared_ptr<Script> script_;
};

GroupFetch Fetch(Groups groups, std::vector<std::string> skipped = {}) {
  GroupFetch fetch;
  fetch.groups = std::move(groups);
  fetch.skipped = std::move(skipped);
  return fetch;
}

class PollingGroupSourceTest : public ::testing::Test {
 protected:
  std::unique_ptr<PollingGroupSource> NewSource(PollingOptions options) {
    return std::make_unique<PollingGroupSource>(options,
                                                std::make_unique<ScriptedFetcher>(script_));
  }
  static PollingOptions SlowPolls() {
    PollingOptions options;
    options.poll_interval = absl::Hours(1);
    options.retry_initial_backoff = absl::Hours(1);
    options.retry_max_backoff = absl::Hours(1);
    return options;
  }

  std::shared_ptr<ScriptedFetcher::Script> script_ = std::make_shared<ScriptedFetcher::Script>();
  GroupSourceRecorder recorder_;
};

TEST(NextReadDelayTest, DoublesFromTheInitialBackoffUpToTheMaximum) {
  PollingOptions options;
  options.poll_interval = absl::Seconds(10);
  options.retry_initial_backoff = absl::Seconds(1);
  options.retry_max_backoff = absl::Seconds(30);
  EXPECT_EQ(PollingGroupSource::NextReadDelay(options, 0), absl::Seconds(10));
  EXPECT_EQ(PollingGroupSource::NextReadDelay(options, 1), absl::Seconds(1));
  EXPECT_EQ(PollingGroupSource::NextReadDelay(options, 2), absl::Seconds(2));
  EXPECT_EQ(PollingGroupSource::NextReadDelay(options, 5), absl::Seconds(16));
  EXPECT_EQ(PollingGroupSource::NextReadDelay(options, 6), absl::Seconds(30));
  EXPECT_EQ(PollingGroupSource::NextReadDelay(options, 1000000), absl::Seconds(30));
}

TEST_F(PollingGroupSourceTest, PublishesSortedUniqueAddressesAndFreshStatus) {
  script_->Push(Fetch({{"spark", {"b:2", "a:1", "b:2"}}, {"default", {}}}));
  auto source = NewSource(SlowPolls());
  ASSERT_OK(source->Start(recorder_.Listener()));
  ASSERT_EVENTUALLY(recorder_.snapshot() != nullptr);
  EXPECT_EQ(recorder_.groups(), Groups({{"default", {}}, {"spark", {"a:1", "b:2"}}}));
  EXPECT_TRUE(recorder_.snapshot()->defines_default);
  EXPECT_EQ(recorder_.snapshot()->source, "scripted://test");
  ASSERT_EVENTUALLY(!recorder_.status().stale);
  EXPECT_EQ(recorder_.status().problem, "");
  EXPECT_EQ(recorder_.status().failures, 0);
  EXPECT_NE(recorder_.status().last_success, absl::InfinitePast());
}

TEST_F(PollingGroupSourceTest, TellsOnlyChanges) {
  script_->Push(Fetch({{"spark", {"a:1"}}}));
  script_->Push(Fetch({{"spark", {"a:1"}}}));
  script_->Push(Fetch({{"spark", {"a:1", "b:2"}}}));
  auto source = NewSource(SlowPolls());
  ASSERT_OK(source->Start(recorder_.Listener()));
  ASSERT_EVENTUALLY(script_->Calls() == 1);
  source->RefreshNow();
  ASSERT_EVENTUALLY(script_->Calls() == 2);
  source->RefreshNow();
  ASSERT_EVENTUALLY(recorder_.groups() == Groups({{"spark", {"a:1", "b:2"}}}));
  source->Shutdown();
  EXPECT_EQ(recorder_.snapshot_count(), 2u);
  EXPECT_EQ(recorder_.statuses().size(), 1u);  // fresh, then fresh again: no change
}

TEST_F(PollingGroupSourceTest, KeepsTheLastGroupsWhileFailingAndRetriesWithBackoff) {
  script_->Push(Fetch({{"spark", {"a:1"}}}));
  script_->Push(absl::UnavailableError("db down"));
  script_->Push(absl::UnavailableError("db down"));
  script_->Push(absl::UnavailableError("db down"));
  script_->Push(Fetch({{"spark", {"a:1"}}, {"flink", {"c:3"}}}));
  PollingOptions options = SlowPolls();
  options.retry_initial_backoff = absl::Milliseconds(1);
  options.retry_max_backoff = absl::Milliseconds(4);
  auto source = NewSource(options);
  ASSERT_OK(source->Start(recorder_.Listener()));
  ASSERT_EVENTUALLY(recorder_.snapshot() != nullptr);
  // One RefreshNow() starts the failures; the retries come by themselves.
  source->RefreshNow();
  ASSERT_EVENTUALLY(recorder_.groups().size() == 2);
  EXPECT_FALSE(recorder_.status().stale);

  const std::vector<GroupSourceStatus> statuses = recorder_.statuses();
  ASSERT_EQ(statuses.size(), 5u);  // fresh, 3 failures, fresh
  for (int i = 1; i <= 3; ++i) {
    EXPECT_TRUE(statuses[i].stale);
    EXPECT_EQ(statuses[i].failures, i);
    EXPECT_EQ(statuses[i].problem, "db down");
    EXPECT_EQ(statuses[i].last_success, statuses[0].last_success);
  }
  EXPECT_EQ(statuses[4].failures, 0);
  EXPECT_EQ(recorder_.snapshot_count(), 2u);  // the failures published no snapshot
}

TEST_F(PollingGroupSourceTest, FailingFromTheStartPublishesNoSnapshot) {
  script_->Push(absl::UnavailableError("db down"));
  auto source = NewSource(SlowPolls());
  ASSERT_OK(source->Start(recorder_.Listener()));
  ASSERT_EVENTUALLY(recorder_.status().failures == 1);
  EXPECT_TRUE(recorder_.status().stale);
  EXPECT_EQ(recorder_.status().last_success, absl::InfinitePast());
  source->Shutdown();
  EXPECT_EQ(recorder_.snapshot(), nullptr);
}

TEST_F(PollingGroupSourceTest, SkippedEntriesAreAProblemOfAFreshSource) {
  std::vector<std::string> reasons;
  for (int i = 1; i <= 7; ++i) reasons.push_back("reason " + std::to_string(i));
  script_->Push(Fetch({{"spark", {"a:1"}}}, reasons));
  auto source = NewSource(SlowPolls());
  ASSERT_OK(source->Start(recorder_.Listener()));
  ASSERT_EVENTUALLY(!recorder_.status().stale);
  EXPECT_EQ(recorder_.status().problem,
            "skipped 7 entries: reason 1; reason 2; reason 3; reason 4; reason 5; and 2 more");
}

TEST_F(PollingGroupSourceTest, PollsByItselfEveryPollInterval) {
  script_->Push(Fetch({{"spark", {"a:1"}}}));
  script_->Push(Fetch({{"spark", {"b:2"}}}));
  PollingOptions options = SlowPolls();
  options.poll_interval = absl::Milliseconds(5);
  auto source = NewSource(options);
  ASSERT_OK(source->Start(recorder_.Listener()));
  ASSERT_EVENTUALLY(recorder_.groups() == Groups({{"spark", {"b:2"}}}));
  ASSERT_EVENTUALLY(script_->Calls() >= 4);
}

TEST_F(PollingGroupSourceTest, StartTwiceAndAfterShutdownIsRefused) {
  auto source = NewSource(SlowPolls());
  ASSERT_OK(source->Start(recorder_.Listener()));
  EXPECT_THAT(source->Start(recorder_.Listener()),
              roster::testing::StatusIs(absl::StatusCode::kFailedPrecondition));
  source->Shutdown();
  source->Shutdown();
  source->RefreshNow();  // a no-op
  auto unstarted = NewSource(SlowPolls());
  unstarted->Shutdown();
  EXPECT_THAT(
      unstarted->Start(recorder_.Listener()),
      roster::testing::StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("shut down")));
}

}  // namespace
}  // namespace roster::cluster
