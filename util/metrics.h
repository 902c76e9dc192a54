// Minimal metrics: lock-free counters, gauges and fixed-bucket histograms, and a writer for
// Prometheus' text exposition format. Components own their metrics as plain members and expose
// them; the daemon's /metrics handler writes them out. No global registry, so two components in
// one test never share a counter. docs/operations.md ("Metrics") lists every metric.
//
// Thread-safety: Counter, Gauge and Histogram are thread-safe (relaxed atomics, no lock).
// PrometheusWriter is not (one per scrape).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace roster {

class Counter {
 public:
  void Increment(int64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  int64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> value_{0};
};

class Gauge {
 public:
  void Set(int64_t v) { value_.store(v, std::memory_order_relaxed); }
  void Add(int64_t n) { value_.fetch_add(n, std::memory_order_relaxed); }
  int64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> value_{0};
};

// Counts observations into buckets whose upper bounds are fixed at construction, Prometheus'
// classic histogram: bucket i counts values <= bounds[i] (cumulatively when read), the last one
// (+Inf) everything. An observation costs a binary search over the bounds and two relaxed
// atomic updates, no lock (tests/bench/metrics_bench.cc measures it against a Counter).
//
// A Read() concurrent with Observe() may see an observation in its bucket and not yet in the
// sum (or the reverse); count is the +Inf bucket, so count and buckets always agree. NaN is
// ignored (it belongs in no bucket and would poison the sum).
class Histogram {
 public:
  // `bounds`: finite, strictly increasing upper bounds (+Inf is implicit). Bounds are code
  // constants: a bad list is a bug, and CHECK-fails.
  explicit Histogram(std::vector<double> bounds);

  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  void Observe(double value);

  struct Snapshot {
    std::vector<double> bounds;        // as constructed, without +Inf
    std::vector<uint64_t> cumulative;  // bounds.size() + 1 entries; the last is +Inf
    double sum = 0;
    uint64_t count() const { return cumulative.empty() ? 0 : cumulative.back(); }
  };
  Snapshot Read() const;

  const std::vector<double>& bounds() const { return bounds_; }

 private:
  const std::vector<double> bounds_;
  // Per bucket, not cumulative: bounds_.size() + 1 counters, the last for +Inf.
  const std::unique_ptr<std::atomic<uint64_t>[]> counts_;
  std::atomic<double> sum_{0};
};

// Latency buckets in seconds, 100 us to 10 s: lookups answer in tens of microseconds, a slow
// client or a stuck call in seconds.
const std::vector<double>& LatencyBucketsSeconds();

using MetricLabels = std::vector<std::pair<std::string, std::string>>;

// Writes families in Prometheus text format 0.0.4:
//   w.Family("roster_events_total", "counter", "Registry events applied.");
//   w.Sample("roster_events_total", {{"source", "workers"}}, 42);
class PrometheusWriter {
 public:
  void Family(absl::string_view name, absl::string_view type, absl::string_view help);
  void Sample(absl::string_view name, const MetricLabels& labels, double value);
  void Sample(absl::string_view name, double value) { Sample(name, {}, value); }
  // The samples of one histogram of family `name` (declared "histogram"): name_bucket with
  // `labels` plus le, name_sum and name_count.
  void HistogramSamples(absl::string_view name, const MetricLabels& labels,
                        const Histogram::Snapshot& histogram);

  const std::string& text() const { return text_; }

 private:
  std::string text_;
};

}  // namespace roster
