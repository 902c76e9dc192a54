// HttpServer (civetweb) on its own: routes, methods, query parameters, the bound port, many
// connections at once (idle ones do not starve /healthz), the bound on streams, timeouts, and
// shutdown with a stream open. Real sockets on loopback.
#include "server/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/eventually.h"
#include "tests/testing/status_matchers.h"

namespace roster::server {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

// A client socket to 127.0.0.1:port whose reads and writes give up after `timeout`; -1 if it
// cannot connect.
int Connect(int port, absl::Duration timeout = absl::Seconds(10)) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  const timeval tv = absl::ToTimeval(timeout);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

bool SendAll(int fd, const std::string& data) {
  return send(fd, data.data(), data.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(data.size());
}

// Reads until `needle` has arrived or the peer closes or the socket's timeout passes.
std::string ReadUntil(int fd, const std::string& needle) {
  std::string got;
  char buffer[4096];
  while (got.find(needle) == std::string::npos) {
    const ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
    if (n <= 0) break;
    got.append(buffer, static_cast<size_t>(n));
  }
  return got;
}

// Reads until the peer closes or the socket's timeout passes.
std::string ReadAll(int fd) {
  std::string got;
  char buffer[4096];
  ssize_t n;
  while ((n = recv(fd, buffer, sizeof(buffer), 0)) > 0) got.append(buffer, static_cast<size_t>(n));
  return got;
}

struct Reply {
  int code = 0;
  std::string head;
  std::string body;
};

// One HTTP/1.0 request (the server closes after answering), read whole within `timeout`.
Reply Request(int port, const std::string& method, const std::string& target,
              absl::Duration timeout = absl::Seconds(10)) {
  Reply reply;
  const int fd = Connect(port, timeout);
  if (fd < 0) return reply;
  std::string raw;
  if (SendAll(fd, absl::StrCat(method, " ", target, " HTTP/1.0\r\nHost: x\r\n\r\n"))) {
    raw = ReadAll(fd);
  }
  close(fd);
  const size_t end = raw.find("\r\n\r\n");
  if (end == std::string::npos || raw.size() < 12) return reply;
  int code = 0;
  if (!absl::SimpleAtoi(raw.substr(9, 3), &code)) return reply;  // no status code: code 0
  reply.code = code;
  reply.head = raw.substr(0, end);
  reply.body = raw.substr(end + 4);
  return reply;
}

class HttpServerTest : public ::testing::Test {
 protected:
  // Starts a server on a free port with `options` (listen forced to 127.0.0.1:0), a /healthz
  // that serves, and /echo, which answers its `address` parameter.
  void StartServer(HttpServerOptions options = {}) {
    options.listen = "127.0.0.1:0";
    server_ = std::make_unique<HttpServer>(options);
    server_->Handle("/healthz", [](const HttpRequest&) { return HealthzResponse({true, ""}); });
    server_->Handle("/echo", [](const HttpRequest& request) {
      HttpResponse response;
      response.body = request.Param("address");
      response.headers.emplace_back("X-Method", request.method);
      return response;
    });
    // A stream that says hello, then writes a comment every 20 ms (so it notices a client
    // that has gone) until the client goes or the server stops.
    server_->HandleStream("/stream", "text/event-stream", [](const HttpRequest&, HttpStream* out) {
      if (!out->Write("hello\n")) return;
      absl::Notification never;
      while (out->open() && out->Write(":\n")) {
        never.WaitForNotificationWithTimeout(absl::Milliseconds(20));
      }
    });
    ASSERT_OK(server_->Start());
    port_ = server_->port();
    ASSERT_GT(port_, 0);
  }

  void TearDown() override {
    for (int fd : fds_) close(fd);
    if (server_ != nullptr) server_->Shutdown();
  }

  // A connection kept open until the test ends.
  int Open() {
    const int fd = Connect(port_);
    EXPECT_GE(fd, 0);
    fds_.push_back(fd);
    return fd;
  }

  std::unique_ptr<HttpServer> server_;
  int port_ = 0;
  std::vector<int> fds_;
};

TEST_F(HttpServerTest, AnswersRoutesAndRefusesUnknownPathsAndMethods) {
  StartServer();
  const Reply healthz = Request(port_, "GET", "/healthz");
  EXPECT_EQ(healthz.code, 200);
  EXPECT_EQ(healthz.body, "SERVING\n");
  EXPECT_THAT(healthz.head, HasSubstr("Content-Length: 8"));

  const Reply missing = Request(port_, "GET", "/nope");
  EXPECT_EQ(missing.code, 404);
  EXPECT_THAT(missing.body, HasSubstr("/nope"));

  const Reply post = Request(port_, "POST", "/healthz");
  EXPECT_EQ(post.code, 405);
  EXPECT_THAT(post.head, HasSubstr("Allow: GET, HEAD"));

  const Reply head = Request(port_, "HEAD", "/healthz");
  EXPECT_EQ(head.code, 200);
  EXPECT_THAT(head.head, HasSubstr("Content-Length: 8"));
  EXPECT_EQ(head.body, "");
}

TEST_F(HttpServerTest, DecodesQueryParameters) {
  StartServer();
  EXPECT_EQ(Request(port_, "GET", "/echo?x=1&address=10.0.0.1%3A1234&y").body, "10.0.0.1:1234");
  EXPECT_EQ(Request(port_, "GET", "/echo?address=a+b").body, "a b");
  EXPECT_EQ(Request(port_, "GET", "/echo?addressx=1").body, "");
  EXPECT_EQ(Request(port_, "GET", "/echo").body, "");
}

TEST_F(HttpServerTest, NotServingNamesTheReason) {
  const HttpResponse fine = HealthzResponse({true, "ignored"});
  EXPECT_EQ(fine.code, 200);
  EXPECT_EQ(fine.body, "SERVING\n");
  const HttpResponse down = HealthzResponse({false, "registry session CONNECTING"});
  EXPECT_EQ(down.code, 503);
  EXPECT_EQ(down.body, "NOT_SERVING\nregistry session CONNECTING\n");
  EXPECT_EQ(HealthzResponse({false, ""}).body, "NOT_SERVING\n");
}

// The hand-written server this replaces answered one connection at a time: one client that
// connected and sent nothing held /healthz until its 5 s I/O timeout, and a few such clients
// starved the probe for good. Here idle connections each hold at most a worker, and /healthz
// answers at once while fewer than `threads` are open, long before the request timeout.
TEST_F(HttpServerTest, IdleConnectionsDoNotStarveHealthz) {
  HttpServerOptions options;
  options.threads = 16;
  options.request_timeout = absl::Seconds(60);
  options.keep_alive_timeout = absl::Seconds(60);
  StartServer(options);
  for (int i = 0; i < 6; ++i) Open();  // connected, silent
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(SendAll(Open(), "GET /healthz HTTP/1.1\r\nHost:"));  // a request, half sent
  }
  // A kept-alive connection after its answer, idle.
  const int kept = Open();
  ASSERT_TRUE(SendAll(kept, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_THAT(ReadUntil(kept, "SERVING\n"), HasSubstr("SERVING\n"));

  for (int i = 0; i < 5; ++i) {
    // Each answer within 3 s, a twentieth of the time the idle clients may keep their sockets.
    const Reply healthz = Request(port_, "GET", "/healthz", absl::Seconds(3));
    EXPECT_EQ(healthz.code, 200) << "request " << i;
  }
}

// More idle connections than workers: each is cut at the request timeout, so the probe waits at
// most that long rather than forever.
TEST_F(HttpServerTest, IdleConnectionsBeyondThePoolAreCutAtTheRequestTimeout) {
  HttpServerOptions options;
  options.threads = 3;
  options.max_streams = 1;
  options.request_timeout = absl::Milliseconds(500);
  options.keep_alive_timeout = absl::Milliseconds(500);
  StartServer(options);
  std::vector<int> idle;
  for (int i = 0; i < 6; ++i) idle.push_back(Open());
  EXPECT_EQ(Request(port_, "GET", "/healthz", absl::Seconds(10)).code, 200);
  for (int fd : idle) {
    char byte;
    EXPECT_LE(recv(fd, &byte, 1, 0), 0) << "the server should have closed an idle connection";
  }
}

TEST_F(HttpServerTest, StreamsAreBoundedAndLeaveWorkersForProbes) {
  HttpServerOptions options;
  options.threads = 6;
  options.max_streams = 2;
  StartServer(options);
  std::vector<int> streams;
  for (int i = 0; i < 2; ++i) {
    const int fd = Open();
    ASSERT_TRUE(SendAll(fd, "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n"));
    const std::string head = ReadUntil(fd, "hello\n");
    EXPECT_THAT(head, StartsWith("HTTP/1.1 200"));
    EXPECT_THAT(head, HasSubstr("Content-Type: text/event-stream"));
    EXPECT_THAT(head, HasSubstr("Cache-Control: no-store"));
    EXPECT_THAT(head, Not(HasSubstr("Content-Length")));
    EXPECT_THAT(head, HasSubstr("Connection: close"));
    EXPECT_THAT(head, Not(HasSubstr("keep-alive")));
    streams.push_back(fd);
  }
  EXPECT_EQ(server_->open_streams(), 2);
  const Reply third = Request(port_, "GET", "/stream");
  EXPECT_EQ(third.code, 503);
  EXPECT_THAT(third.body, HasSubstr("too many streams open (2)"));
  EXPECT_EQ(Request(port_, "GET", "/healthz", absl::Seconds(3)).code, 200);

  // A client that goes frees its stream.
  shutdown(streams[0], SHUT_RDWR);
  ASSERT_EVENTUALLY(server_->open_streams() == 1);
  const int again = Open();
  ASSERT_TRUE(SendAll(again, "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_THAT(ReadUntil(again, "hello\n"), HasSubstr("hello\n"));
}

TEST_F(HttpServerTest, ShutdownEndsOpenStreams) {
  StartServer();
  const int fd = Open();
  ASSERT_TRUE(SendAll(fd, "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_THAT(ReadUntil(fd, "hello\n"), HasSubstr("hello\n"));
  server_->Shutdown();
  EXPECT_EQ(server_->open_streams(), 0);
  // The client sees the end of the stream (after whatever was in flight).
  ReadAll(fd);
  char byte;
  EXPECT_EQ(recv(fd, &byte, 1, 0), 0);
  server_->Shutdown();  // idempotent
}

TEST_F(HttpServerTest, BadAddressesAndBusyPortsAreErrorsNamingTheFlag) {
  StartServer();
  for (const std::string& listen : {std::string("nonsense"), std::string("127.0.0.1:99999"),
                                    std::string("no-such-host.invalid:80")}) {
    HttpServerOptions options;
    options.listen = listen;
    HttpServer bad(options);
    const absl::Status status = bad.Start();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << listen << ": " << status;
    EXPECT_THAT(status.message(), HasSubstr("--metrics_listen")) << listen;
  }
  HttpServerOptions busy;
  busy.listen = absl::StrCat("127.0.0.1:", port_);
  HttpServer second(busy);
  const absl::Status status = second.Start();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_THAT(status.message(), HasSubstr(busy.listen));
  // The first one still serves.
  EXPECT_EQ(Request(port_, "GET", "/healthz").code, 200);

  HttpServerOptions greedy;
  greedy.threads = 4;
  greedy.max_streams = 3;
  EXPECT_EQ(HttpServer(greedy).Start().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace roster::server
