// HttpServer: rosterd's HTTP endpoints (--metrics_listen) on civetweb, the embeddable HTTP
// server Debian packages (libcivetweb-dev).
//
// The daemon registers its routes before Start(): /metrics, /healthz and /readyz
// (server/daemon.cc), and the status page with its JSON and event-stream API
// (server/status_page.h). Every route answers GET (and HEAD) only; anything else is 405, an
// unknown path 404.
//
// Connections are served by a fixed pool of `threads` civetweb worker threads: that many
// requests are answered at once, and a connection that sends nothing is closed after
// `request_timeout` (an idle keep-alive connection after `keep_alive_timeout`), so idle or slow
// clients hold a worker for a bounded time and never all of them while fewer than `threads`
// connections are open. A streaming route (server-sent events) keeps its worker for as long as
// the client reads; at most `max_streams` streams are open at once, beyond which the route
// answers 503, so streams never take the workers the probes need.
//
// Thread-safety: Start() and Shutdown() are thread-safe; route handlers run on civetweb's
// worker threads, several at once, and must be thread-safe themselves.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

struct mg_context;
struct mg_connection;

namespace roster::server {

struct HttpServerOptions {
  // "host:port", "[v6]:port" or ":port" (every interface); port 0 picks a free one.
  std::string listen = "127.0.0.1:9091";
  // civetweb worker threads: requests served at once, event streams included.
  int threads = 16;
  // A request must arrive whole, and each write must complete, within this.
  absl::Duration request_timeout = absl::Seconds(5);
  // A kept-alive connection with no next request is closed after this.
  absl::Duration keep_alive_timeout = absl::Seconds(5);
  // Streaming responses open at once; must leave at least two threads for other requests.
  int max_streams = 8;
};

struct HttpRequest {
  std::string method;  // "GET", "HEAD"
  std::string path;    // "/api/node", without the query
  std::string query;   // "address=10.0.0.1%3A1234", undecoded; "" when none
  // The value of query parameter `name`, URL-decoded; "" when absent.
  std::string Param(absl::string_view name) const;
};

struct HttpResponse {
  int code = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  // Extra headers, e.g. {"Cache-Control", "no-store"}.
  std::vector<std::pair<std::string, std::string>> headers;
};

// The writing end of a streaming response (its headers are sent already).
class HttpStream {
 public:
  virtual ~HttpStream() = default;
  // Sends `data` now. False once the client has gone, a write timed out, or the server is
  // shutting down: the handler must then return.
  virtual bool Write(absl::string_view data) = 0;
  // False once the server is shutting down.
  virtual bool open() const = 0;
};

// What GET /healthz and /readyz report.
struct HealthzAnswer {
  bool serving = false;
  std::string reason;  // why not serving; may be empty
};

// The body of /healthz and /readyz: 200 "SERVING\n", or 503 "NOT_SERVING\n" and the reason on
// the next line.
HttpResponse HealthzResponse(const HealthzAnswer& answer);

class HttpServer {
 public:
  using Handler = std::function<HttpResponse(const HttpRequest&)>;
  // Runs for as long as the stream lasts, on the worker thread that accepted it.
  using StreamHandler = std::function<void(const HttpRequest&, HttpStream*)>;

  explicit HttpServer(HttpServerOptions options);
  ~HttpServer();  // Calls Shutdown().

  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Routes, by exact path; before Start().
  void Handle(std::string path, Handler handler);
  // A streaming route answering 200 with `content_type` and no length, then whatever the
  // handler writes.
  void HandleStream(std::string path, std::string content_type, StreamHandler handler);

  // Binds and starts serving. InvalidArgument for malformed options or address, Unavailable
  // when the address cannot be bound (naming it and the error, and the flag).
  absl::Status Start();
  // Ends the streams, stops accepting and joins the worker threads. Idempotent.
  void Shutdown();

  // The bound port (after Start()).
  int port() const { return port_.load(); }
  // Streams open now.
  int open_streams() const { return open_streams_.load(); }

 private:
  struct Route {
    Handler handler;
    StreamHandler stream;
    std::string stream_content_type;
  };
  class Stream;

  static int Dispatch(mg_connection* connection, void* self);
  int Serve(mg_connection* connection);
  void ServeStream(mg_connection* connection, const Route& route, const HttpRequest& request);

  const HttpServerOptions options_;
  std::map<std::string, Route> routes_;  // fixed once started

  absl::Mutex mu_;  // Serialises Start() and Shutdown().
  mg_context* context_ ABSL_GUARDED_BY(mu_) = nullptr;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  sockaddr_storage wake_address_ ABSL_GUARDED_BY(mu_) = {};  // see Shutdown()
  std::atomic<bool> stopping_{false};
  std::atomic<int> port_{0};
  std::atomic<int> open_streams_{0};
};

}  // namespace roster::server
