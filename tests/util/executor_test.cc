// SerialExecutor: task order, delayed tasks on a FakeClock (they run when the clock is advanced
// past their deadline, in deadline order, and not before), cancellation, shutdown, and the
// run-time half of the executor capability (AssertCurrent / AssertNotRunning), and running a
// hand-off inline when the executor is idle (RunInlineOrPost).
#include "util/executor.h"

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "util/clock.h"

namespace roster {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

class ExecutorOnFakeClockTest : public ::testing::Test {
 protected:
  void SetUp() override { executor_.Start(); }

  // Appends `name` to `ran_` when run (on the executor).
  SerialExecutor::Task Record(std::string name) {
    return [this, name] { ran_.push_back(name); };
  }

  // What has run so far. Drain() orders the executor's writes before this read.
  std::vector<std::string> Ran() {
    EXPECT_TRUE(executor_.Drain());
    return ran_;
  }

  FakeClock clock_;               // outlives the executor
  std::vector<std::string> ran_;  // written by tasks only; outlives them
  SerialExecutor executor_{"test", &clock_};
};

TEST_F(ExecutorOnFakeClockTest, QueuedTasksRunInPostingOrderWithoutTheClockMoving) {
  executor_.Post(Record("a"));
  executor_.Post(Record("b"));
  executor_.Post(Record("c"));
  EXPECT_THAT(Ran(), ElementsAre("a", "b", "c"));
}

TEST_F(ExecutorOnFakeClockTest, ADelayedTaskRunsExactlyWhenTheClockReachesItsDeadline) {
  executor_.PostAfter(absl::Seconds(1), Record("timer"));
  EXPECT_THAT(Ran(), IsEmpty());
  clock_.Advance(absl::Milliseconds(999));
  EXPECT_THAT(Ran(), IsEmpty()) << "1 ms before the deadline";
  clock_.Advance(absl::Milliseconds(1));
  EXPECT_THAT(Ran(), ElementsAre("timer"));
}

TEST_F(ExecutorOnFakeClockTest, AdvancingPastSeveralDeadlinesRunsThemInDeadlineOrder) {
  executor_.PostAfter(absl::Seconds(3), Record("3s"));
  executor_.PostAfter(absl::Seconds(1), Record("1s"));
  executor_.PostAfter(absl::Seconds(2), Record("2s first"));
  executor_.PostAfter(absl::Seconds(2), Record("2s second"));
  executor_.PostAfter(absl::Seconds(5), Record("5s"));
  clock_.Advance(absl::Seconds(4));
  EXPECT_THAT(Ran(), ElementsAre("1s", "2s first", "2s second", "3s"));
  clock_.Advance(absl::Seconds(1));
  EXPECT_THAT(Ran(), ElementsAre("1s", "2s first", "2s second", "3s", "5s"));
}

// A deadline computed from an earlier reading of the clock keeps its moment: the clock moving
// between the reading and the posting does not push it later (it did with PostAfter, and a
// deadline timer armed that way never fired under a fake clock).
TEST_F(ExecutorOnFakeClockTest, PostAtRunsAtItsDeadlineHoweverFarTheClockMovedSince) {
  const absl::Time read = clock_.Now();
  clock_.Advance(absl::Milliseconds(1));
  executor_.PostAt(read + absl::Milliseconds(1), Record("due at once"));
  executor_.PostAt(read + absl::Seconds(2), Record("due in 2 s"));
  EXPECT_THAT(Ran(), ElementsAre("due at once"));
  clock_.Advance(absl::Seconds(2) - absl::Milliseconds(2));
  EXPECT_THAT(Ran(), ElementsAre("due at once")) << "1 ms before the second deadline";
  clock_.Advance(absl::Milliseconds(1));
  EXPECT_THAT(Ran(), ElementsAre("due at once", "due in 2 s"));
}

TEST_F(ExecutorOnFakeClockTest, DelaysCountFromWhenTheTaskWasPosted) {
  clock_.Advance(absl::Seconds(10));
  executor_.PostAfter(absl::Seconds(2), Record("posted at 10 s"));
  clock_.Advance(absl::Seconds(1));
  EXPECT_THAT(Ran(), IsEmpty());
  clock_.Advance(absl::Seconds(1));
  EXPECT_THAT(Ran(), ElementsAre("posted at 10 s"));
}

TEST_F(ExecutorOnFakeClockTest, ADueTimerRunsBeforeTasksPostedAfterItBecameDue) {
  executor_.PostAfter(absl::Seconds(1), Record("timer"));
  clock_.Advance(absl::Seconds(1));
  executor_.Post(Record("queued"));
  EXPECT_THAT(Ran(), ElementsAre("timer", "queued"));
}

TEST_F(ExecutorOnFakeClockTest, AZeroOrNegativeDelayRunsWithoutTheClockMoving) {
  executor_.PostAfter(absl::ZeroDuration(), Record("zero"));
  executor_.PostAfter(absl::Seconds(-1), Record("negative"));
  EXPECT_THAT(Ran(), ElementsAre("zero", "negative"));
}

TEST_F(ExecutorOnFakeClockTest, ATimerPostedByATaskUsesTheSameClock) {
  executor_.Post([this] { executor_.PostAfter(absl::Seconds(1), Record("rearmed")); });
  EXPECT_THAT(Ran(), IsEmpty());
  clock_.Advance(absl::Seconds(1));
  EXPECT_THAT(Ran(), ElementsAre("rearmed"));
}

TEST_F(ExecutorOnFakeClockTest, ACancelledTimerNeverRunsAndIsDestroyed) {
  auto capture = std::make_shared<int>(0);
  executor_.PostAfter(absl::Seconds(1), Record("kept"));
  const SerialExecutor::TimerId cancelled =
      executor_.PostAfter(absl::Seconds(2), [this, capture] { ran_.push_back("cancelled"); });
  ASSERT_NE(cancelled, 0u);
  EXPECT_EQ(capture.use_count(), 2);
  EXPECT_TRUE(executor_.Cancel(cancelled));
  EXPECT_EQ(capture.use_count(), 1) << "the cancelled task is destroyed by Cancel()";
  EXPECT_FALSE(executor_.Cancel(cancelled)) << "a second cancel finds nothing";
  clock_.Advance(absl::Seconds(3));
  EXPECT_THAT(Ran(), ElementsAre("kept"));
}

TEST_F(ExecutorOnFakeClockTest, CancellingATimerThatAlreadyRanReturnsFalse) {
  const SerialExecutor::TimerId id = executor_.PostAfter(absl::Seconds(1), Record("ran"));
  clock_.Advance(absl::Seconds(1));
  EXPECT_THAT(Ran(), ElementsAre("ran"));
  EXPECT_FALSE(executor_.Cancel(id));
}

TEST_F(ExecutorOnFakeClockTest, CancellingOneOfTwoTimersWithTheSameDeadlineKeepsTheOther) {
  const SerialExecutor::TimerId first = executor_.PostAfter(absl::Seconds(1), Record("first"));
  executor_.PostAfter(absl::Seconds(1), Record("second"));
  EXPECT_TRUE(executor_.Cancel(first));
  clock_.Advance(absl::Seconds(1));
  EXPECT_THAT(Ran(), ElementsAre("second"));
}

TEST_F(ExecutorOnFakeClockTest, ShutdownDropsDelayedTasksAndRefusesNewOnes) {
  auto capture = std::make_shared<int>(0);
  executor_.PostAfter(absl::Seconds(1), [capture] {});
  executor_.Post(Record("queued before shutdown"));
  executor_.Shutdown();
  EXPECT_EQ(capture.use_count(), 1) << "the delayed task was destroyed unrun";
  EXPECT_THAT(ran_, ElementsAre("queued before shutdown"));
  EXPECT_EQ(executor_.PostAfter(absl::Seconds(1), Record("late")), 0u);
  EXPECT_FALSE(executor_.Post(Record("late")));
  clock_.Advance(absl::Seconds(2));  // wakes nobody, runs nothing
  EXPECT_THAT(ran_, ElementsAre("queued before shutdown"));
}

TEST(ExecutorClockTest, AnExecutorDestroyedBeforeItsClockIsNoLongerTold) {
  FakeClock clock;
  int runs = 0;
  {
    SerialExecutor executor("short-lived", &clock);
    executor.Start();
    executor.PostAfter(absl::Seconds(1), [&runs] { ++runs; });
  }
  clock.Advance(absl::Seconds(2));  // would call into a destroyed executor
  EXPECT_EQ(runs, 0);
}

TEST(ExecutorClockTest, TwoExecutorsOnOneFakeClockBothWake) {
  FakeClock clock;
  SerialExecutor a("a", &clock);
  SerialExecutor b("b", &clock);
  a.Start();
  b.Start();
  absl::Notification a_ran;
  absl::Notification b_ran;
  a.PostAfter(absl::Seconds(1), [&a_ran] { a_ran.Notify(); });
  b.PostAfter(absl::Seconds(1), [&b_ran] { b_ran.Notify(); });
  clock.Advance(absl::Seconds(1));
  EXPECT_TRUE(a_ran.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_TRUE(b_ran.WaitForNotificationWithTimeout(absl::Seconds(10)));
}

TEST(ExecutorClockTest, OnTheRealClockADelayedTaskRunsByItself) {
  SerialExecutor executor("real");
  executor.Start();
  EXPECT_EQ(executor.clock(), Clock::Real());
  absl::Notification ran;
  const absl::Time posted = Clock::Real()->Now();
  executor.PostAfter(absl::Milliseconds(20), [&ran] { ran.Notify(); });
  ASSERT_TRUE(ran.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_GE(Clock::Real()->Now() - posted, absl::Milliseconds(20));
}

TEST(ExecutorCapabilityTest, AssertCurrentHoldsOnlyOnTheExecutorThread) {
  SerialExecutor executor("capability");
  executor.Start();
  bool checked = false;
  executor.Post([&executor, &checked] {
    executor.AssertCurrent();  // would CHECK-fail off the executor
    checked = executor.IsCurrent();
  });
  ASSERT_TRUE(executor.Drain());
  EXPECT_TRUE(checked);
  EXPECT_FALSE(executor.IsCurrent());
}

TEST(ExecutorCapabilityDeathTest, AssertCurrentOffTheExecutorDies) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  SerialExecutor executor("capability");
  executor.Start();
  EXPECT_DEATH(executor.AssertCurrent(), "not on executor 'capability', which is running");
}

TEST(ExecutorCapabilityTest, AssertCurrentHoldsWhileNoTaskCanRun) {
  SerialExecutor executor("capability");
  executor.AssertCurrent();  // not started: the caller has the state to itself
  executor.Start();
  executor.Shutdown();
  executor.AssertCurrent();  // joined
}

TEST(ExecutorCapabilityDeathTest, AssertNotRunningHoldsBeforeStartAndAfterShutdownOnly) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  SerialExecutor executor("lifecycle");
  executor.AssertNotRunning();  // not started yet
  executor.Start();
  EXPECT_DEATH(executor.AssertNotRunning(), "executor 'lifecycle' is running");
  executor.Shutdown();
  executor.AssertNotRunning();
}

// ---- RunInlineOrPost ----

TEST(ExecutorInlineTest, AnIdleExecutorRunsTheTaskOnTheCallingThreadAsItsOwn) {
  SerialExecutor executor("inline");
  executor.Start();  // nothing posted yet: idle
  bool ran = false, current = false, own_thread = true;
  std::thread::id ran_on;
  ASSERT_TRUE(executor.RunInlineOrPost([&] {
    executor.AssertCurrent();  // would CHECK-fail if the executor were not held
    ran = true;
    current = executor.IsCurrent();
    own_thread = executor.OnOwnThread();
    ran_on = std::this_thread::get_id();
  }));
  // Ran before RunInlineOrPost() returned, with no Drain().
  EXPECT_TRUE(ran);
  EXPECT_TRUE(current);
  EXPECT_FALSE(own_thread);
  EXPECT_EQ(ran_on, std::this_thread::get_id());
  // Held only for the task.
  EXPECT_FALSE(executor.IsCurrent());
}

TEST(ExecutorInlineTest, ABusyExecutorQueuesTheTaskBehindTheRunningOne) {
  SerialExecutor executor("inline");
  executor.Start();
  absl::Notification started, release;
  std::vector<std::string> ran;  // written by tasks only, one at a time
  executor.Post([&] {
    started.Notify();
    release.WaitForNotification();
    ran.push_back("running");
  });
  started.WaitForNotification();
  bool own_thread = false;
  ASSERT_TRUE(executor.RunInlineOrPost([&] {
    own_thread = executor.OnOwnThread();
    ran.push_back("handed off");
  }));
  release.Notify();
  ASSERT_TRUE(executor.Drain());
  EXPECT_THAT(ran, ElementsAre("running", "handed off"));
  EXPECT_TRUE(own_thread);
}

TEST(ExecutorInlineTest, WhatAnInlineTaskPostsRunsAfterItOnTheExecutorThread) {
  SerialExecutor executor("inline");
  executor.Start();
  std::vector<std::string> ran;
  bool posted_on_own_thread = false;
  ASSERT_TRUE(executor.RunInlineOrPost([&] {
    ran.push_back("inline");
    executor.Post([&] {
      posted_on_own_thread = executor.OnOwnThread();
      ran.push_back("posted");
    });
    // Not idle while a task runs: a second hand-off queues, after the first post.
    executor.RunInlineOrPost([&] { ran.push_back("handed off"); });
    ran.push_back("inline again");
  }));
  ASSERT_TRUE(executor.Drain());
  EXPECT_THAT(ran, ElementsAre("inline", "inline again", "posted", "handed off"));
  EXPECT_TRUE(posted_on_own_thread);
}

TEST(ExecutorInlineTest, TheExecutorThreadWaitsWhileATaskRunsInline) {
  SerialExecutor executor("inline");
  executor.Start();
  absl::Notification entered, release;
  std::atomic<bool> inline_done{false};
  std::thread caller([&] {
    executor.RunInlineOrPost([&] {
      entered.Notify();
      release.WaitForNotification();
      inline_done.store(true);
    });
  });
  entered.WaitForNotification();
  bool saw_inline_done = false;
  ASSERT_TRUE(executor.Post([&] { saw_inline_done = inline_done.load(); }));
  release.Notify();
  caller.join();
  ASSERT_TRUE(executor.Drain());
  EXPECT_TRUE(saw_inline_done);  // the posted task did not run beside the inline one
}

TEST(ExecutorInlineTest, BeforeStartTheTaskIsQueuedForTheThread) {
  SerialExecutor executor("inline");
  bool own_thread = false;
  ASSERT_TRUE(executor.RunInlineOrPost([&] { own_thread = executor.OnOwnThread(); }));
  executor.Start();
  ASSERT_TRUE(executor.Drain());
  EXPECT_TRUE(own_thread);
}

TEST(ExecutorInlineTest, AfterShutdownTheTaskIsRefusedAndDestroyed) {
  SerialExecutor executor("inline");
  executor.Start();
  executor.Shutdown();
  auto capture = std::make_shared<int>(0);
  bool ran = false;
  EXPECT_FALSE(executor.RunInlineOrPost([capture, &ran] { ran = true; }));
  EXPECT_FALSE(ran);
  EXPECT_EQ(capture.use_count(), 1);
}

// A clock whose time moves without telling anyone, so a timer can be due while the executor's
// thread sleeps on: the moment between a deadline and the thread waking up for it.
class SilentClock final : public Clock {
 public:
  absl::Time Now() const override {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  absl::Time WallNow() const override { return Now(); }
  // The executor's thread asks for its timeout right before it sleeps, holding its lock.
  absl::Duration WaitTimeout(absl::Time deadline) const override {
    absl::MutexLock lock(&mu_);
    sleeps_until_ = deadline;
    return absl::InfiniteDuration();
  }
  void AddObserver(Observer*) override {}
  void RemoveObserver(Observer*) override {}
  void Set(absl::Time now) {
    absl::MutexLock lock(&mu_);
    now_ = now;
  }
  // Until the executor's thread goes to sleep for a timer due at `deadline`.
  void AwaitSleepUntil(absl::Time deadline) const {
    absl::MutexLock lock(&mu_);
    auto asleep = [this, deadline]()
                      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return sleeps_until_ == deadline; };
    mu_.Await(absl::Condition(&asleep));
  }

 private:
  mutable absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_) = absl::UnixEpoch();
  mutable absl::Time sleeps_until_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

TEST(ExecutorInlineTest, ATimerDueButNotRunMakesTheHandOffQueueBehindIt) {
  SilentClock clock;
  SerialExecutor executor("inline", &clock);
  executor.Start();
  std::vector<std::string> ran;
  std::vector<bool> own_thread;
  auto record = [&](std::string name) {
    return [&, name] {
      ran.push_back(name);
      own_thread.push_back(executor.OnOwnThread());
    };
  };
  executor.PostAfter(absl::Seconds(1), record("timer"));
  // Once the executor's thread sleeps for the timer, the clock moving does not wake it (the
  // thread could otherwise still be on its way to sleep, see the timer due and run it).
  clock.AwaitSleepUntil(absl::UnixEpoch() + absl::Seconds(1));
  clock.Set(absl::UnixEpoch() + absl::Seconds(1));  // due; the executor's thread still sleeps
  ASSERT_TRUE(executor.RunInlineOrPost(record("handed off")));
  ASSERT_TRUE(executor.Drain());
  EXPECT_THAT(ran, ElementsAre("timer", "handed off"));
  EXPECT_THAT(own_thread, ElementsAre(true, true));
}

}  // namespace
}  // namespace roster
