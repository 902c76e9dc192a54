// metrics_bench: the cost of Histogram::Observe against the baseline of the same run, a
// Counter increment (one relaxed fetch_add), on one thread and on two threads sharing the
// metric. Plain binary: prints ns per operation and the ratio to the baseline.
//
//   build/tests/bench/metrics_bench [--iterations=N]
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <thread>
#include <vector>

#include "util/metrics.h"

namespace roster {
namespace {

// Nanoseconds per call of `op` with `threads` threads each calling it `iterations` times
// (wall time of the whole run divided by the calls of one thread: what one caller pays).
double NsPerOp(int threads, int64_t iterations, const std::function<void(int64_t)>& op) {
  std::atomic<bool> go{false};
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      while (!go.load()) {
      }
      for (int64_t i = 0; i < iterations; ++i) op(i);
    });
  }
  const auto start = std::chrono::steady_clock::now();
  go = true;
  for (std::thread& w : workers) w.join();
  const auto elapsed = std::chrono::steady_clock::now() - start;
  return std::chrono::duration<double, std::nano>(elapsed).count() /
         static_cast<double>(iterations);
}

int Main(int argc, char** argv) {
  int64_t iterations = 20'000'000;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--iterations=", 13) == 0) iterations = std::atoll(argv[i] + 13);
  }
  // Values spread over the latency buckets, as RPC latencies would be.
  std::vector<double> values;
  for (int i = 0; i < 1024; ++i) values.push_back(0.00005 * (1 + (i * 37) % 400));
  std::printf("%-40s %10s %8s\n", "operation", "ns/op", "x counter");
  for (int threads : {1, 2}) {
    Counter counter;
    Histogram histogram(LatencyBucketsSeconds());
    const double baseline = NsPerOp(threads, iterations, [&](int64_t) { counter.Increment(); });
    const double observe = NsPerOp(threads, iterations, [&](int64_t i) {
      histogram.Observe(values[static_cast<size_t>(i) & 1023]);
    });
    std::printf("%-40s %10.2f %8.2f\n",
                (std::to_string(threads) + " thread(s): Counter::Increment").c_str(), baseline,
                1.0);
    std::printf("%-40s %10.2f %8.2f\n",
                (std::to_string(threads) + " thread(s): Histogram::Observe").c_str(), observe,
                observe / baseline);
    if (histogram.Read().count() != static_cast<uint64_t>(threads * iterations)) {
      std::fprintf(stderr, "lost observations\n");
      return 1;
    }
  }
  return 0;
}

}  // namespace
}  // namespace roster

int main(int argc, char** argv) { return roster::Main(argc, argv); }
