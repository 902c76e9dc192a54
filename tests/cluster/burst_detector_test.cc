// BurstDetector: which registry events the cluster manager applies at once, on the delivering
// thread, and which it posts to its own thread to apply in batches.
#include "cluster/burst_detector.h"

#include <cstdint>

#include "gtest/gtest.h"

namespace roster::cluster {
namespace {

constexpr int64_t kStart = int64_t{1'000'000'000'000};
constexpr int64_t kGap = BurstDetector::kGapNs;

TEST(BurstDetectorTest, EventsEachWellAfterTheLastBatchAreNeverABurst) {
  BurstDetector burst;
  int64_t now = kStart;
  for (int i = 0; i < 100; ++i) {
    EXPECT_FALSE(burst.InBurst(now)) << "event " << i;
    burst.BatchDone(now + 10'000);
    now += 10'000 + kGap + 1;
  }
}

TEST(BurstDetectorTest, AFewCloseEventsAreAppliedAtOnceALongerRunIsPosted) {
  BurstDetector burst;
  int64_t now = kStart;
  EXPECT_FALSE(burst.InBurst(now));  // alone
  burst.BatchDone(now);
  // Each within the gap of the batch before it: the first few of a run are applied at once; the
  // event after them starts a burst, and so do all that follow closely.
  for (int i = 0; i < BurstDetector::kInlineRun; ++i) {
    now += kGap;
    EXPECT_FALSE(burst.InBurst(now)) << "close event " << i;
    burst.BatchDone(now);
  }
  for (int i = 0; i < 50; ++i) {
    now += kGap;
    EXPECT_TRUE(burst.InBurst(now)) << "close event " << BurstDetector::kInlineRun + i;
    burst.BatchDone(now);
  }
}

TEST(BurstDetectorTest, AGapEndsTheBurst) {
  BurstDetector burst;
  int64_t now = kStart;
  burst.BatchDone(now);
  for (int i = 0; i <= BurstDetector::kInlineRun; ++i) burst.InBurst(now);
  ASSERT_TRUE(burst.InBurst(now));
  now += kGap + 1;
  EXPECT_FALSE(burst.InBurst(now));
  burst.BatchDone(now);
  // A new run: its first events are applied at once again.
  for (int i = 0; i < BurstDetector::kInlineRun; ++i) EXPECT_FALSE(burst.InBurst(now)) << i;
  EXPECT_TRUE(burst.InBurst(now));
}

TEST(BurstDetectorTest, TheGapCountsFromTheEndOfTheLastBatch) {
  BurstDetector burst;
  int64_t now = kStart;
  for (int i = 0; i < 10; ++i) {
    // A batch that takes a millisecond, and the next event 40 µs after it ends: close, though
    // a millisecond after the event before.
    EXPECT_EQ(burst.InBurst(now), i > BurstDetector::kInlineRun) << "event " << i;
    burst.BatchDone(now + 1'000'000);
    now += 1'000'000 + kGap - 10'000;
  }
}

}  // namespace
}  // namespace roster::cluster
