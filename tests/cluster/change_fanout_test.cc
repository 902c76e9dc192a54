// ChangeFanout: watchers see their start and then every later batch in order, on the fan-out
// thread or, with few watchers and nothing queued, on the publisher's; a fan-out stuck behind
// a watcher never blocks the publisher, keeps at most its bound of batches, and tells every
// watcher it lost changes.
#include "cluster/change_fanout.h"

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "tests/testing/eventually.h"

namespace roster::cluster {
namespace {

// What one watcher received, in order: "start@V", "batch@V" (the batch's first version),
// "lost(started)" or "lost(unstarted)".
struct Log {
  absl::Mutex mu;
  std::vector<std::string> entries ABSL_GUARDED_BY(mu);

  WatchListener Listener() {
    WatchListener listener;
    listener.on_start = [this](WatchStart start) { Add("start@" + std::to_string(start.version)); };
    listener.on_changes = [this](const std::shared_ptr<const ChangeBatch>& batch) {
      Add("batch@" + std::to_string(batch->front().version));
    };
    listener.on_lost = [this](bool started) { Add(started ? "lost(started)" : "lost(unstarted)"); };
    return listener;
  }
  void Add(std::string entry) {
    absl::MutexLock lock(&mu);
    entries.push_back(std::move(entry));
  }
  std::vector<std::string> Entries() {
    absl::MutexLock lock(&mu);
    return entries;
  }
  size_t size() {
    absl::MutexLock lock(&mu);
    return entries.size();
  }
};

std::shared_ptr<const ChangeBatch> Batch(uint64_t version) {
  ClusterChange change;
  change.version = version;
  change.kind = ClusterChange::Kind::kSynced;
  return std::make_shared<const ChangeBatch>(ChangeBatch{change});
}

WatchStart StartAt(uint64_t version) {
  WatchStart start;
  start.version = version;
  return start;
}

TEST(ChangeFanoutTest, AWatcherGetsItsStartThenEveryLaterBatchInOrder) {
  ChangeFanout fanout(FanoutOptions{});
  fanout.Start();
  Log early, late;
  const uint64_t early_id = fanout.Reserve();
  const uint64_t late_id = fanout.Reserve();
  // The test plays the cluster executor: it adds and publishes in one order.
  fanout.Add(early_id, StartAt(0), early.Listener());
  fanout.Publish(Batch(1));
  fanout.Publish(Batch(2));
  fanout.Add(late_id, StartAt(2), late.Listener());
  fanout.Publish(Batch(3));
  ASSERT_EVENTUALLY(early.size() == 4 && late.size() == 2);
  EXPECT_EQ(early.Entries(),
            (std::vector<std::string>{"start@0", "batch@1", "batch@2", "batch@3"}));
  EXPECT_EQ(late.Entries(), (std::vector<std::string>{"start@2", "batch@3"}));
  EXPECT_EQ(fanout.overflows(), 0);
}

TEST(ChangeFanoutTest, ARemovedWatcherGetsNothingMore) {
  ChangeFanout fanout(FanoutOptions{});
  fanout.Start();
  Log removed, kept;
  const uint64_t removed_id = fanout.Reserve();
  const uint64_t kept_id = fanout.Reserve();
  fanout.Add(removed_id, StartAt(0), removed.Listener());
  fanout.Add(kept_id, StartAt(0), kept.Listener());
  fanout.Publish(Batch(1));
  ASSERT_EVENTUALLY(removed.size() == 2 && kept.size() == 2);
  fanout.Remove(removed_id);
  fanout.Publish(Batch(2));
  ASSERT_EVENTUALLY(kept.size() == 3);
  EXPECT_EQ(removed.Entries(), (std::vector<std::string>{"start@0", "batch@1"}));
  // Removed before it was added: never started.
  Log never;
  const uint64_t never_id = fanout.Reserve();
  fanout.Remove(never_id);
  fanout.Add(never_id, StartAt(2), never.Listener());
  fanout.Publish(Batch(3));
  ASSERT_EVENTUALLY(kept.size() == 4);
  EXPECT_EQ(never.size(), 0u);
}

TEST(ChangeFanoutTest, AStuckFanoutNeverBlocksThePublisherAndEveryWatcherIsToldItLostChanges) {
  constexpr size_t kBound = 8;
  FanoutOptions options;
  options.max_pending_batches = kBound;
  options.max_inline_watchers = 0;  // the queued path: a stuck watcher holds the thread only
  ChangeFanout fanout(options);
  fanout.Start();

  // A watcher that blocks the fan-out thread on batch 1 until released: a stream whose
  // callback is slow, the worst case for the publisher.
  absl::Notification entered, release;
  Log stuck_log;
  WatchListener stuck = stuck_log.Listener();
  stuck.on_changes = [&](const std::shared_ptr<const ChangeBatch>& batch) {
    stuck_log.Add("batch@" + std::to_string(batch->front().version));
    if (batch->front().version == 1) {
      entered.Notify();
      release.WaitForNotification();
    }
  };
  Log armed, unstarted, after;
  fanout.Add(fanout.Reserve(), StartAt(0), std::move(stuck));
  fanout.Add(fanout.Reserve(), StartAt(0), armed.Listener());
  fanout.Publish(Batch(1));
  entered.WaitForNotification();

  // Batch 1 is being handed out; the queue fills with batches 2..kBound+1, plus a watcher
  // waiting to start; the next publish overflows. This thread (the cluster executor's role)
  // returns from every call although the fan-out thread is stuck.
  for (uint64_t v = 2; v <= kBound + 1; ++v) {
    fanout.Publish(Batch(v));
    if (v == 4) fanout.Add(fanout.Reserve(), StartAt(3), unstarted.Listener());
  }
  EXPECT_EQ(fanout.pending(), kBound);
  EXPECT_EQ(fanout.overflows(), 0);
  fanout.Publish(Batch(kBound + 2));
  EXPECT_EQ(fanout.overflows(), 1);
  EXPECT_EQ(fanout.pending(), 0u);  // the queued batches were dropped, not kept
  EXPECT_EQ(fanout.max_pending(), kBound);

  // A watcher added after the overflow starts cleanly and gets what follows.
  fanout.Add(fanout.Reserve(), StartAt(kBound + 2), after.Listener());
  fanout.Publish(Batch(kBound + 3));
  release.Notify();

  ASSERT_EVENTUALLY(after.size() == 2 && stuck_log.size() == 3 && armed.size() == 3 &&
                    unstarted.size() == 1);
  EXPECT_EQ(stuck_log.Entries(), (std::vector<std::string>{"start@0", "batch@1", "lost(started)"}));
  EXPECT_EQ(armed.Entries(), (std::vector<std::string>{"start@0", "batch@1", "lost(started)"}));
  EXPECT_EQ(unstarted.Entries(), (std::vector<std::string>{"lost(unstarted)"}));
  EXPECT_EQ(after.Entries(), (std::vector<std::string>{"start@" + std::to_string(kBound + 2),
                                                       "batch@" + std::to_string(kBound + 3)}));
  // The lost watchers were removed: later batches reach only the new one.
  fanout.Publish(Batch(kBound + 4));
  ASSERT_EVENTUALLY(after.size() == 3);
  EXPECT_EQ(armed.size(), 3u);
  EXPECT_EQ(fanout.watchers(), 1u);
}

// Records the thread each batch was delivered on.
struct Threads {
  absl::Mutex mu;
  std::vector<std::thread::id> ids ABSL_GUARDED_BY(mu);

  WatchListener Listener(Log* log) {
    WatchListener listener = log->Listener();
    listener.on_changes = [this, log](const std::shared_ptr<const ChangeBatch>& batch) {
      {
        absl::MutexLock lock(&mu);
        ids.push_back(std::this_thread::get_id());
      }
      log->Add("batch@" + std::to_string(batch->front().version));
    };
    return listener;
  }
  std::vector<std::thread::id> Ids() {
    absl::MutexLock lock(&mu);
    return ids;
  }
};

TEST(ChangeFanoutTest, AnIdleFanoutWithFewWatchersDeliversOnThePublishingThread) {
  FanoutOptions options;
  options.max_inline_watchers = 1;
  ChangeFanout fanout(options);
  fanout.Start();
  Log log;
  Threads threads;
  fanout.Add(fanout.Reserve(), StartAt(0), threads.Listener(&log));
  // Started, and the thread back from delivering the start: the start being in the log is not
  // enough, as the thread may still be returning from its callback.
  ASSERT_EVENTUALLY(log.size() == 1 && fanout.idle());
  fanout.Publish(Batch(1));
  // Delivered before Publish() returned, on this thread.
  EXPECT_EQ(log.Entries(), (std::vector<std::string>{"start@0", "batch@1"}));
  EXPECT_EQ(threads.Ids(), std::vector<std::thread::id>{std::this_thread::get_id()});

  // A second watcher is past the bound: batches go through the fan-out thread, still in order.
  Log second;
  fanout.Add(fanout.Reserve(), StartAt(1), threads.Listener(&second));
  fanout.Publish(Batch(2));
  fanout.Publish(Batch(3));
  ASSERT_EVENTUALLY(log.size() == 4 && second.size() == 3);
  EXPECT_EQ(log.Entries(), (std::vector<std::string>{"start@0", "batch@1", "batch@2", "batch@3"}));
  EXPECT_EQ(second.Entries(), (std::vector<std::string>{"start@1", "batch@2", "batch@3"}));
  const std::vector<std::thread::id> ids = threads.Ids();
  ASSERT_EQ(ids.size(), 5u);
  for (size_t i = 1; i < ids.size(); ++i) EXPECT_NE(ids[i], std::this_thread::get_id()) << i;
}

// Watchers of state changes only get each batch before the watchers of every change (oldest
// first within each kind), inline and on the fan-out thread alike.
TEST(ChangeFanoutTest, WatchersOfStateChangesOnlyAreHandedABatchFirst) {
  for (const size_t max_inline_watchers : {size_t{4}, size_t{0}}) {
    SCOPED_TRACE(max_inline_watchers == 0 ? "on the fan-out thread" : "inline");
    FanoutOptions options;
    options.max_inline_watchers = max_inline_watchers;
    ChangeFanout fanout(options);
    fanout.Start();
    Log order;  // which watcher was handed each batch, in order
    auto add = [&](const std::string& name, bool state_changes_only) {
      WatchListener listener;
      listener.on_start = [](WatchStart) {};
      listener.on_changes = [&order, name](const std::shared_ptr<const ChangeBatch>& batch) {
        order.Add(name + "@" + std::to_string(batch->front().version));
      };
      listener.on_lost = [](bool) {};
      listener.state_changes_only = state_changes_only;
      fanout.Add(fanout.Reserve(), StartAt(0), std::move(listener));
    };
    add("every", false);
    add("states", true);
    add("every2", false);
    add("states2", true);
    // Every start delivered: with max_inline_watchers 4 the batches go inline.
    ASSERT_EVENTUALLY(fanout.idle());
    fanout.Publish(Batch(1));
    fanout.Publish(Batch(2));
    ASSERT_EVENTUALLY(order.size() == 8);
    EXPECT_EQ(order.Entries(),
              (std::vector<std::string>{"states@1", "states2@1", "every@1", "every2@1", "states@2",
                                        "states2@2", "every@2", "every2@2"}));
  }
}

}  // namespace
}  // namespace roster::cluster
