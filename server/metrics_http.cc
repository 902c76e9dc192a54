#include "server/metrics_http.h"

#include <arpa/inet.h>
#include <glog/logging.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

namespace roster::server {
namespace {

// Waits until `fd` is ready for `events` or `deadline` passes.
bool WaitFd(int fd, short events, absl::Time deadline) {
  while (true) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return false;
    pollfd p{fd, events, 0};
    const int n = poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) return false;
  }
}

bool WriteAll(int fd, absl::string_view data, absl::Time deadline) {
  while (!data.empty()) {
    if (!WaitFd(fd, POLLOUT, deadline)) return false;
    const ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
      return false;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

std::string Response(int code, absl::string_view reason, absl::string_view content_type,
                     absl::string_view body) {
  return absl::StrCat("HTTP/1.0 ", code, " ", reason, "\r\nContent-Type: ", content_type,
                      "\r\nContent-Length: ", body.size(), "\r\nConnection: close\r\n\r\n", body);
}

}  // namespace

MetricsHttpServer::MetricsHttpServer(MetricsHttpOptions options,
                                     std::function<std::string()> metrics,
                                     std::function<HealthzAnswer()> health)
    : options_(std::move(options)), metrics_(std::move(metrics)), health_(std::move(health)) {}

MetricsHttpServer::~MetricsHttpServer() { Shutdown(); }

absl::Status MetricsHttpServer::Start() {
  absl::MutexLock lock(&mu_);
  if (listen_fd_ >= 0 || stop_.load()) {
    return absl::FailedPreconditionError("the metrics server was started already");
  }
  const std::string& listen = options_.listen;
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics address '", listen, "' is not host:port (--metrics_listen)"));
  }
  std::string host = listen.substr(0, colon);
  const std::string port = listen.substr(colon + 1);
  int port_number = 0;
  if (!absl::SimpleAtoi(port, &port_number) || port_number < 0 || port_number > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(
        "metrics address '", listen, "': port is not in [0, 65535] (--metrics_listen)"));
  }
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* addresses = nullptr;
  if (const int rc =
          getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &addresses);
      rc != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics address '", listen, "': ", gai_strerror(rc), " (--metrics_listen)"));
  }
  std::string error = "no address";
  int fd = -1;
  for (addrinfo* a = addresses; a != nullptr; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      error = strerror(errno);
      continue;
    }
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, a->ai_addr, a->ai_addrlen) == 0 && ::listen(fd, 16) == 0) {
      break;
    }
    error = strerror(errno);
    close(fd);
    fd = -1;
  }
  freeaddrinfo(addresses);
  if (fd < 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on metrics address '", listen,
                                               "': ", error, " (--metrics_listen)"));
  }
  sockaddr_storage bound{};
  socklen_t length = sizeof(bound);
  getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &length);
  port_ = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                            : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  listen_fd_ = fd;
  thread_ = std::thread([this, fd] { Loop(fd); });
  return absl::OkStatus();
}

void MetricsHttpServer::Shutdown() {
  absl::MutexLock lock(&mu_);
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (listen_fd_ >= 0) {
    close(listen_fd_);
    listen_fd_ = -1;
  }
}

void MetricsHttpServer::Loop(int listen_fd) {
  // `listen_fd` stays open while the thread runs: Shutdown() joins before closing it.
  const int poll_ms = static_cast<int>(absl::ToInt64Milliseconds(options_.poll_interval));
  while (!stop_.load()) {
    pollfd p{listen_fd, POLLIN, 0};
    const int n = poll(&p, 1, poll_ms);
    if (n <= 0) continue;
    const int fd = accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) continue;
    Serve(fd);
    close(fd);
  }
}

void MetricsHttpServer::Serve(int fd) {
  const absl::Time deadline = absl::Now() + options_.io_timeout;
  std::string request;
  char buffer[1024];
  while (request.find("\r\n\r\n") == std::string::npos &&
         request.find("\n\n") == std::string::npos) {
    if (request.size() > options_.max_request_bytes) {
      WriteAll(fd, Response(431, "Request Header Fields Too Large", "text/plain", "too large\n"),
               deadline);
      return;
    }
    if (!WaitFd(fd, POLLIN, deadline)) return;  // too slow: drop it
    const ssize_t got = recv(fd, buffer, sizeof(buffer), 0);
    if (got < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
    if (got <= 0) break;  // closed: answer what we have, if it is a request line
    request.append(buffer, static_cast<size_t>(got));
  }
  const std::string line = request.substr(0, request.find_first_of("\r\n"));
  const std::vector<std::string> parts = absl::StrSplit(line, ' ', absl::SkipEmpty());
  if (parts.size() < 2 || !absl::StartsWith(parts.size() > 2 ? parts[2] : "HTTP/", "HTTP/")) {
    WriteAll(fd, Response(400, "Bad Request", "text/plain", "bad request\n"), deadline);
    return;
  }
  if (parts[0] != "GET") {
    WriteAll(fd, Response(405, "Method Not Allowed", "text/plain", "only GET\n"), deadline);
    return;
  }
  const std::string path = parts[1].substr(0, parts[1].find('?'));
  if (path == "/metrics") {
    WriteAll(fd, Response(200, "OK", "text/plain; version=0.0.4; charset=utf-8", metrics_()),
             deadline);
  } else if (path == "/healthz") {
    const HealthzAnswer health = health_();
    WriteAll(fd,
             health.serving ? Response(200, "OK", "text/plain", "SERVING\n")
                            : Response(503, "Service Unavailable", "text/plain",
                                       absl::StrCat("NOT_SERVING\n", health.reason,
                                                    health.reason.empty() ? "" : "\n")),
             deadline);
  } else {
    WriteAll(fd, Response(404, "Not Found", "text/plain", "try /metrics or /healthz\n"), deadline);
  }
}

}  // namespace roster::server
