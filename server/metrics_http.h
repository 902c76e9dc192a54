// MetricsHttpServer: a deliberately tiny HTTP/1.0 server for Prometheus and probes.
//
//   GET /metrics   200, Prometheus text format (whatever `metrics` returns)
//   GET /healthz   200 "SERVING", or 503 "NOT_SERVING" and, on the next line, why (from
//                  `health`)
//
// One thread accepts and answers one connection at a time; requests are bounded in size and
// every read and write in time, so a stuck client delays a scrape by at most `io_timeout`.
// The accept loop polls with a short timeout, so Shutdown() joins promptly.
//
// Thread-safety: Start() and Shutdown() are thread-safe; the callbacks run on the server's
// thread and must be thread-safe themselves.
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace roster::server {

struct MetricsHttpOptions {
  // "host:port", "[v6]:port" or ":port" (every interface); port 0 picks a free one.
  std::string listen = "127.0.0.1:9091";
  absl::Duration io_timeout = absl::Seconds(5);
  size_t max_request_bytes = 8192;
  // How often the accept loop checks for Shutdown().
  absl::Duration poll_interval = absl::Milliseconds(100);
};

// What GET /healthz reports.
struct HealthzAnswer {
  bool serving = false;
  std::string reason;  // why not serving; may be empty
};

class MetricsHttpServer {
 public:
  MetricsHttpServer(MetricsHttpOptions options, std::function<std::string()> metrics,
                    std::function<HealthzAnswer()> health);
  ~MetricsHttpServer();  // Calls Shutdown().

  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  // Binds and starts serving. InvalidArgument for a malformed address, Unavailable when it
  // cannot be bound (naming the address and the error).
  absl::Status Start();
  // Stops accepting and joins the thread. Idempotent.
  void Shutdown();

  // The bound port (after Start()).
  int port() const { return port_.load(); }

 private:
  void Loop(int listen_fd);
  void Serve(int fd);

  const MetricsHttpOptions options_;
  const std::function<std::string()> metrics_;
  const std::function<HealthzAnswer()> health_;

  absl::Mutex mu_;  // Serialises Start() and Shutdown().
  int listen_fd_ ABSL_GUARDED_BY(mu_) = -1;
  std::thread thread_ ABSL_GUARDED_BY(mu_);
  std::atomic<bool> stop_{false};
  std::atomic<int> port_{0};
};

}  // namespace roster::server
