// Minimal metrics: lock-free counters and gauges, and a writer for Prometheus' text exposition
// format. Components own their metrics as plain members and expose them; the daemon's
// /metrics handler writes them out. No global registry, so two components in one test never
// share a counter.
//
// Thread-safety: Counter and Gauge are thread-safe. PrometheusWriter is not (one per scrape).
#pragma once

#include <atomic>
#include <cstdint>
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

using MetricLabels = std::vector<std::pair<std::string, std::string>>;

// Writes families in Prometheus text format 0.0.4:
//   w.Family("roster_events_total", "counter", "Registry events applied.");
//   w.Sample("roster_events_total", {{"source", "workers"}}, 42);
class PrometheusWriter {
 public:
  void Family(absl::string_view name, absl::string_view type, absl::string_view help);
  void Sample(absl::string_view name, const MetricLabels& labels, double value);
  void Sample(absl::string_view name, double value) { Sample(name, {}, value); }

  const std::string& text() const { return text_; }

 private:
  std::string text_;
};

}  // namespace roster
