// RateLimiter: a token bucket per client, on a fake clock.
#include "server/rate_limiter.h"

#include "gtest/gtest.h"
#include "util/clock.h"

namespace roster::server {
namespace {

int Allowed(RateLimiter& limiter, const char* client, int attempts) {
  int allowed = 0;
  for (int i = 0; i < attempts; ++i) allowed += limiter.Allow(client) ? 1 : 0;
  return allowed;
}

TEST(RateLimiterTest, ABurstOfOneSecondThenTheRate) {
  FakeClock clock;
  RateLimiter limiter(10, &clock);
  EXPECT_EQ(Allowed(limiter, "ipv4:10.0.0.5", 25), 10);
  clock.Advance(absl::Milliseconds(500));  // 5 more tokens
  EXPECT_EQ(Allowed(limiter, "ipv4:10.0.0.5", 25), 5);
  clock.Advance(absl::Seconds(60));  // refills to one second's worth, not sixty
  EXPECT_EQ(Allowed(limiter, "ipv4:10.0.0.5", 100), 10);
}

TEST(RateLimiterTest, ClientsHaveTheirOwnBuckets) {
  FakeClock clock;
  RateLimiter limiter(3, &clock);
  EXPECT_EQ(Allowed(limiter, "cert:a", 10), 3);
  EXPECT_EQ(Allowed(limiter, "cert:b", 10), 3);
  EXPECT_EQ(Allowed(limiter, "cert:a", 1), 0);
}

TEST(RateLimiterTest, BelowOneASecond) {
  FakeClock clock;
  RateLimiter limiter(0.5, &clock);
  EXPECT_EQ(Allowed(limiter, "x", 3), 1);
  clock.Advance(absl::Seconds(1));
  EXPECT_EQ(Allowed(limiter, "x", 3), 0);
  clock.Advance(absl::Seconds(1));
  EXPECT_EQ(Allowed(limiter, "x", 3), 1);
}

TEST(RateLimiterTest, TheTableIsBoundedIdleClientsAreForgotten) {
  FakeClock clock;
  RateLimiter limiter(2, &clock, /*max_clients=*/2);
  EXPECT_TRUE(limiter.Allow("a"));
  EXPECT_TRUE(limiter.Allow("b"));
  // Both are mid-bucket: a third client is refused rather than the table grown.
  EXPECT_FALSE(limiter.Allow("c"));
  EXPECT_EQ(limiter.clients(), 2u);
  clock.Advance(absl::Seconds(1));  // a and b are idle (full) again: forgotten for c
  EXPECT_TRUE(limiter.Allow("c"));
  EXPECT_EQ(limiter.clients(), 1u);
}

}  // namespace
}  // namespace roster::server
