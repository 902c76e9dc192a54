// util/metrics.h: the histogram's buckets (Prometheus' "le" rule: a value equal to a bound
// falls in that bound's bucket), its counts under concurrent observers, and the text the writer
// produces, read back by an independent parser.
#include "util/metrics.h"

#include <cmath>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/prometheus_text.h"

namespace roster {
namespace {

using ::testing::ElementsAre;

TEST(HistogramTest, AValueEqualToABoundCountsInThatBucket) {
  Histogram h({0.1, 1, 10});
  for (double v : {0.05, 0.1, 0.5, 1.0, 1.5, 10.0, 11.0, -3.0}) h.Observe(v);
  const Histogram::Snapshot s = h.Read();
  // <= 0.1: 0.05, 0.1, -3 (3); <= 1: + 0.5, 1.0 (5); <= 10: + 1.5, 10 (7); +Inf: + 11 (8).
  EXPECT_THAT(s.cumulative, ElementsAre(3, 5, 7, 8));
  EXPECT_EQ(s.count(), 8u);
  EXPECT_DOUBLE_EQ(s.sum, 0.05 + 0.1 + 0.5 + 1.0 + 1.5 + 10.0 + 11.0 - 3.0);
}

TEST(HistogramTest, NaNIsIgnoredAndInfinityIsInTheLastBucket) {
  Histogram h({1});
  h.Observe(std::nan(""));
  h.Observe(HUGE_VAL);
  const Histogram::Snapshot s = h.Read();
  EXPECT_THAT(s.cumulative, ElementsAre(0, 1));
  EXPECT_TRUE(std::isinf(s.sum));
}

TEST(HistogramTest, ConcurrentObserversLoseNoObservation) {
  Histogram h({1, 2});
  constexpr int kThreads = 4;
  constexpr int kEach = 50000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    // Thread t observes t % 3 every time: threads 0, 3 (0) and 1 (1) -> le=1; 2 (2) -> le=2.
    threads.emplace_back([&h, t] {
      for (int i = 0; i < kEach; ++i) h.Observe(t % 3);
    });
  }
  for (std::thread& t : threads) t.join();
  const Histogram::Snapshot s = h.Read();
  EXPECT_THAT(s.cumulative, ElementsAre(3 * kEach, 4 * kEach, 4 * kEach));
  // Integers up to 2^53 add exactly in a double.
  EXPECT_EQ(s.sum, (0 + 1 + 2 + 0) * static_cast<double>(kEach));
}

TEST(HistogramTest, LatencyBucketsAreIncreasingSeconds) {
  const std::vector<double>& b = LatencyBucketsSeconds();
  ASSERT_FALSE(b.empty());
  EXPECT_EQ(b.front(), 0.0001);
  EXPECT_EQ(b.back(), 10);
  Histogram h(b);  // CHECKs the order
  h.Observe(0.0003);
  EXPECT_EQ(h.Read().cumulative[1], 0u);  // le=0.00025
  EXPECT_EQ(h.Read().cumulative[2], 1u);  // le=0.0005
}

TEST(PrometheusWriterTest, WritesAHistogramAsPrometheusReadsIt) {
  Histogram h({0.5, 2});
  h.Observe(0.25);
  h.Observe(1);
  h.Observe(3);
  PrometheusWriter w;
  w.Family("roster_x_seconds", "histogram", "X.");
  w.HistogramSamples("roster_x_seconds", {{"method", "Roster/Get\"Node"}}, h.Read());
  EXPECT_EQ(w.text(),
            "# HELP roster_x_seconds X.\n"
            "# TYPE roster_x_seconds histogram\n"
            "roster_x_seconds_bucket{method=\"Roster/Get\\\"Node\",le=\"0.5\"} 1\n"
            "roster_x_seconds_bucket{method=\"Roster/Get\\\"Node\",le=\"2\"} 2\n"
            "roster_x_seconds_bucket{method=\"Roster/Get\\\"Node\",le=\"+Inf\"} 3\n"
            "roster_x_seconds_sum{method=\"Roster/Get\\\"Node\"} 4.25\n"
            "roster_x_seconds_count{method=\"Roster/Get\\\"Node\"} 3\n");
  absl::StatusOr<testing::Exposition> parsed = testing::ParseExposition(w.text());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->Value("roster_x_seconds_bucket", {{"method", "Roster/Get\"Node"}, {"le", "2"}}),
            2);
  EXPECT_EQ(parsed->Value("roster_x_seconds_count", {{"method", "Roster/Get\"Node"}}), 3);
}

TEST(PrometheusWriterTest, LargeCountersKeepEveryDigit) {
  PrometheusWriter w;
  w.Family("roster_big_total", "counter", "Big.");
  w.Sample("roster_big_total", 123456789012.0);
  w.Sample("roster_big_total", {{"a", "b"}}, 0.1);
  EXPECT_EQ(w.text(),
            "# HELP roster_big_total Big.\n# TYPE roster_big_total counter\n"
            "roster_big_total 123456789012\nroster_big_total{a=\"b\"} 0.1\n");
}

TEST(ExpositionParserTest, RejectsWhatPrometheusRejects) {
  EXPECT_FALSE(testing::ParseExposition("roster_x 1\n").ok());  // no TYPE
  EXPECT_FALSE(testing::ParseExposition("# TYPE a gauge\n# TYPE a gauge\n").ok());
  EXPECT_FALSE(testing::ParseExposition("# TYPE a gauge\na 1\na 2\n").ok());
  EXPECT_FALSE(testing::ParseExposition("# TYPE a gauge\na{x=\"\\q\"} 1\n").ok());
  EXPECT_FALSE(testing::ParseExposition("# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\n"
                                        "h_count 3\n")
                   .ok());
  EXPECT_TRUE(testing::ParseExposition("# TYPE a gauge\na{x=\"\\n\"} +Inf\n").ok());
}

}  // namespace
}  // namespace roster
