// Waiting on a condition instead of sleeping.
//
//   ASSERT_EVENTUALLY(view()->workers().size() == 3);
//   ASSERT_EVENTUALLY_WITHIN(absl::Seconds(30), health() == SERVING) << "after ZooKeeper restart";
//
// The condition is re-evaluated with a short back-off until it holds or the timeout passes;
// the failure message quotes the condition. Use this (or an injected clock), never a sleep.
#pragma once

#include <functional>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace roster::testing {

// Long enough for a JVM-hosted ZooKeeper on a loaded 2-core CI machine.
inline constexpr absl::Duration kDefaultEventuallyTimeout = absl::Seconds(20);

// Returns true as soon as `condition` holds, false if `timeout` passes first.
inline bool WaitFor(const std::function<bool()>& condition, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  absl::Duration backoff = absl::Microseconds(100);
  while (true) {
    if (condition()) return true;
    if (absl::Now() >= deadline) return condition();
    absl::SleepFor(std::min(backoff, deadline - absl::Now()));
    backoff = std::min(backoff * 2, absl::Milliseconds(20));
  }
}

}  // namespace roster::testing

#define ASSERT_EVENTUALLY_WITHIN(timeout, condition)                                      \
  ASSERT_TRUE(::roster::testing::WaitFor([&]() -> bool { return (condition); }, timeout)) \
      << "condition never held within " << ::absl::FormatDuration(timeout) << ": " #condition " "

#define ASSERT_EVENTUALLY(condition) \
  ASSERT_EVENTUALLY_WITHIN(::roster::testing::kDefaultEventuallyTimeout, condition)

#define EXPECT_EVENTUALLY_WITHIN(timeout, condition)                                      \
  EXPECT_TRUE(::roster::testing::WaitFor([&]() -> bool { return (condition); }, timeout)) \
      << "condition never held within " << ::absl::FormatDuration(timeout) << ": " #condition " "

#define EXPECT_EVENTUALLY(condition) \
  EXPECT_EVENTUALLY_WITHIN(::roster::testing::kDefaultEventuallyTimeout, condition)
