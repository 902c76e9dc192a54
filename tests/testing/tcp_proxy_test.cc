// TcpProxy on its own: a client socket and a server socket of the test's, the proxy between
// them, and each fault checked from the bytes and timings the two ends observe.
#include "tests/testing/tcp_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/testing/eventually.h"
#include "tests/testing/ports.h"
#include "tests/testing/status_matchers.h"

namespace roster::testing {
namespace {

using Fault = TcpProxy::Fault;

sockaddr_in Loopback(int port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return address;
}

// What one end of a connection observed when reading.
struct Received {
  std::string bytes;
  bool closed = false;  // an end of stream or an error
  int error = 0;        // errno of a failed read (ECONNRESET after an RST)
};

// Reads from `fd` until `want` bytes arrived, the stream ended, or `timeout` passed.
Received ReadUpTo(int fd, size_t want, absl::Duration timeout) {
  Received received;
  const absl::Time deadline = absl::Now() + timeout;
  while (received.bytes.size() < want) {
    const int64_t left = absl::ToInt64Milliseconds(deadline - absl::Now());
    if (left <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left)) <= 0) continue;
    char buffer[4096];
    const ssize_t n = recv(fd, buffer, std::min(sizeof(buffer), want - received.bytes.size()), 0);
    if (n > 0) {
      received.bytes.append(buffer, n);
    } else {
      received.closed = true;
      received.error = n < 0 ? errno : 0;
      break;
    }
  }
  return received;
}

void Send(int fd, const std::string& bytes) {
  ASSERT_EQ(send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL), static_cast<ssize_t>(bytes.size()))
      << std::strerror(errno);
}

class TcpProxyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    upstream_port_ = PickUnusedPort();
    const sockaddr_in address = Loopback(upstream_port_);
    ASSERT_EQ(bind(listen_fd_, reinterpret_cast<const sockaddr*>(&address), sizeof(address)), 0);
    ASSERT_EQ(listen(listen_fd_, 16), 0);
    TcpProxyOptions options;
    options.upstream_port = upstream_port_;
    proxy_ = std::make_unique<TcpProxy>(options);
    ASSERT_OK(proxy_->Start());
  }
  void TearDown() override {
    proxy_.reset();
    for (int fd : {client_, server_, listen_fd_}) {
      if (fd >= 0) close(fd);
    }
  }

  // Connects a client through the proxy and accepts its upstream connection.
  void Connect() {
    if (client_ >= 0) close(client_);
    if (server_ >= 0) close(server_);
    client_ = ConnectClient();
    ASSERT_GE(client_, 0) << std::strerror(errno);
    pollfd p{listen_fd_, POLLIN, 0};
    ASSERT_EQ(poll(&p, 1, 10000), 1) << "the proxy never connected upstream";
    server_ = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    ASSERT_GE(server_, 0) << std::strerror(errno);
  }

  int ConnectClient() {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const sockaddr_in address = Loopback(proxy_->port());
    if (connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
      close(fd);
      return -1;
    }
    return fd;
  }

  int listen_fd_ = -1;
  int upstream_port_ = 0;
  std::unique_ptr<TcpProxy> proxy_;
  int client_ = -1;
  int server_ = -1;
};

TEST_F(TcpProxyTest, PassForwardsBothWays) {
  ASSERT_NO_FATAL_FAILURE(Connect());
  Send(client_, "hello");
  EXPECT_EQ(ReadUpTo(server_, 5, absl::Seconds(10)).bytes, "hello");
  Send(server_, "world!");
  EXPECT_EQ(ReadUpTo(client_, 6, absl::Seconds(10)).bytes, "world!");
  // (The counters move just after the bytes did.)
  EXPECT_EVENTUALLY(proxy_->forwarded(TcpProxy::kToUpstream) == 5 &&
                    proxy_->forwarded(TcpProxy::kToClient) == 6);
  EXPECT_EQ(proxy_->accepted(), 1);
  EXPECT_EQ(proxy_->open_connections(), 1);

  // A close on one side reaches the other, and the proxy forgets the connection.
  close(client_);
  client_ = -1;
  EXPECT_TRUE(ReadUpTo(server_, 1, absl::Seconds(10)).closed);
  close(server_);
  server_ = -1;
  ASSERT_EVENTUALLY(proxy_->open_connections() == 0);
}

TEST_F(TcpProxyTest, LatencyDelaysEveryChunkByAtLeastTheDelay) {
  ASSERT_NO_FATAL_FAILURE(Connect());
  const absl::Duration delay = absl::Milliseconds(300);
  proxy_->SetFaults(Fault::Latency(delay));
  for (int i = 0; i < 3; ++i) {
    const absl::Time sent = absl::Now();
    Send(client_, absl::StrCat("ping", i));
    EXPECT_EQ(ReadUpTo(server_, 5, absl::Seconds(10)).bytes, absl::StrCat("ping", i));
    const absl::Time there = absl::Now();
    Send(server_, absl::StrCat("pong", i));
    EXPECT_EQ(ReadUpTo(client_, 5, absl::Seconds(10)).bytes, absl::StrCat("pong", i));
    const absl::Duration one_way = there - sent;
    const absl::Duration round_trip = absl::Now() - sent;
    EXPECT_GE(one_way, delay);
    EXPECT_GE(round_trip, 2 * delay);
    std::cout << "[measured] proxy latency " << absl::FormatDuration(delay) << ": one way "
              << absl::FormatDuration(one_way) << ", round trip "
              << absl::FormatDuration(round_trip) << "\n";
  }
  // Back to pass: no delay is left over.
  proxy_->Heal();
  const absl::Time sent = absl::Now();
  Send(client_, "x");
  EXPECT_EQ(ReadUpTo(server_, 1, absl::Seconds(10)).bytes, "x");
  EXPECT_LT(absl::Now() - sent, delay);
}

TEST_F(TcpProxyTest, BlackholeHoldsBytesAndHealDeliversThemInOrder) {
  ASSERT_NO_FATAL_FAILURE(Connect());
  proxy_->Partition();
  Send(client_, "one ");
  Send(client_, "two ");
  Send(server_, "back");
  ASSERT_EVENTUALLY(proxy_->held(TcpProxy::kToUpstream) == 8 &&
                    proxy_->held(TcpProxy::kToClient) == 4);
  // Held, not forwarded, and the connection stays open.
  const Received nothing = ReadUpTo(server_, 1, absl::Milliseconds(300));
  EXPECT_EQ(nothing.bytes, "");
  EXPECT_FALSE(nothing.closed);
  EXPECT_EQ(ReadUpTo(client_, 1, absl::Milliseconds(100)).bytes, "");
  EXPECT_EQ(proxy_->open_connections(), 1);
  Send(client_, "three");

  proxy_->Heal();
  EXPECT_EQ(ReadUpTo(server_, 13, absl::Seconds(10)).bytes, "one two three");
  EXPECT_EQ(ReadUpTo(client_, 4, absl::Seconds(10)).bytes, "back");
  EXPECT_EQ(proxy_->held(TcpProxy::kToUpstream), 0);
}

TEST_F(TcpProxyTest, OneWayBlackholeLetsTheOtherDirectionPass) {
  ASSERT_NO_FATAL_FAILURE(Connect());
  proxy_->SetFault(TcpProxy::kToClient, Fault::Blackhole());
  Send(client_, "request");
  EXPECT_EQ(ReadUpTo(server_, 7, absl::Seconds(10)).bytes, "request");
  Send(server_, "answer");
  ASSERT_EVENTUALLY(proxy_->held(TcpProxy::kToClient) == 6);
  EXPECT_EQ(ReadUpTo(client_, 1, absl::Milliseconds(300)).bytes, "");
  // A client that gives up and closes: its end of stream still reaches the server.
  shutdown(client_, SHUT_WR);
  EXPECT_TRUE(ReadUpTo(server_, 1, absl::Seconds(10)).closed);
  proxy_->SetFault(TcpProxy::kToClient, Fault::Pass());
  EXPECT_EQ(ReadUpTo(client_, 6, absl::Seconds(10)).bytes, "answer");
}

TEST_F(TcpProxyTest, ResetClosesEveryConnectionAndRefusesNewOnes) {
  ASSERT_NO_FATAL_FAILURE(Connect());
  proxy_->SetReset(true);
  const Received client = ReadUpTo(client_, 1, absl::Seconds(10));
  EXPECT_TRUE(client.closed);
  EXPECT_EQ(client.error, ECONNRESET) << std::strerror(client.error);
  const Received server = ReadUpTo(server_, 1, absl::Seconds(10));
  EXPECT_TRUE(server.closed);
  EXPECT_EQ(server.error, ECONNRESET) << std::strerror(server.error);
  ASSERT_EVENTUALLY(proxy_->open_connections() == 0);

  // While set, a new connection is reset at once and never reaches upstream.
  const int refused = ConnectClient();
  if (refused >= 0) {
    const Received answer = ReadUpTo(refused, 1, absl::Seconds(10));
    EXPECT_TRUE(answer.closed);
    EXPECT_EQ(answer.error, ECONNRESET) << std::strerror(answer.error);
    close(refused);
  }
  pollfd p{listen_fd_, POLLIN, 0};
  EXPECT_EQ(poll(&p, 1, 100), 0) << "a reset connection reached upstream";
  EXPECT_EQ(proxy_->resets(), 2);

  proxy_->SetReset(false);
  ASSERT_NO_FATAL_FAILURE(Connect());
  Send(client_, "again");
  EXPECT_EQ(ReadUpTo(server_, 5, absl::Seconds(10)).bytes, "again");
}

TEST_F(TcpProxyTest, TrickleDeliversAFewBytesPerInterval) {
  ASSERT_NO_FATAL_FAILURE(Connect());
  const absl::Duration interval = absl::Milliseconds(50);
  proxy_->SetFault(TcpProxy::kToUpstream, Fault::Trickle(4, interval));
  const std::string message = "0123456789abcdefghij";  // 5 portions of 4 bytes
  const absl::Time sent = absl::Now();
  Send(client_, message);
  std::string received;
  while (received.size() < message.size()) {
    const Received portion = ReadUpTo(server_, 4, absl::Seconds(10));
    ASSERT_FALSE(portion.bytes.empty());
    EXPECT_LE(portion.bytes.size(), 4u);
    received += portion.bytes;
  }
  EXPECT_EQ(received, message);
  // The first portion goes at once, each next one an interval later.
  EXPECT_GE(absl::Now() - sent, 4 * interval);
}

TEST_F(TcpProxyTest, StallsPauseForwardingButLoseNothing) {
  ASSERT_NO_FATAL_FAILURE(Connect());
  const absl::Duration stall_min = absl::Milliseconds(30);
  proxy_->SetFaults(Fault::Stall(stall_min, absl::Milliseconds(60), absl::Milliseconds(20)));
  // Round trips until one of them ran into a stall (each round trip waits for its bytes).
  std::string expected;
  absl::Duration longest = absl::ZeroDuration();
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  int messages = 0;
  while (longest < stall_min && absl::Now() < deadline) {
    const std::string message = absl::StrCat("message ", 1000 + messages++, ";");
    expected += message;
    const absl::Time sent = absl::Now();
    Send(client_, message);
    ASSERT_EQ(ReadUpTo(server_, message.size(), absl::Seconds(10)).bytes, message);
    longest = std::max(longest, absl::Now() - sent);
  }
  EXPECT_GE(longest, stall_min) << "no stall in 10 s";
  EXPECT_EVENTUALLY(proxy_->forwarded(TcpProxy::kToUpstream) ==
                    static_cast<int64_t>(expected.size()));
  std::cout << "[measured] proxy stall mode: a stall of " << absl::FormatDuration(longest)
            << " after " << messages << " round trips\n";
}

TEST_F(TcpProxyTest, AnUpstreamThatIsDownResetsTheClient) {
  close(listen_fd_);
  listen_fd_ = -1;
  const int client = ConnectClient();
  if (client >= 0) {
    EXPECT_TRUE(ReadUpTo(client, 1, absl::Seconds(10)).closed);
    close(client);
  }
  ASSERT_EVENTUALLY(proxy_->open_connections() == 0);
}

TEST_F(TcpProxyTest, ShutdownClosesOpenConnections) {
  ASSERT_NO_FATAL_FAILURE(Connect());
  proxy_->Partition();
  Send(client_, "held");
  proxy_->Shutdown();
  proxy_->Shutdown();  // idempotent
  EXPECT_TRUE(ReadUpTo(client_, 1, absl::Seconds(10)).closed);
  EXPECT_TRUE(ReadUpTo(server_, 1, absl::Seconds(10)).closed);
}

TEST(TcpProxyOptionsTest, BadUpstreamPortIsInvalidArgument) {
  TcpProxyOptions options;
  options.upstream_port = 0;
  options.name = "bad";
  TcpProxy proxy(options);
  const absl::Status status = proxy.Start();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_NE(status.message().find("upstream_port 0"), std::string::npos) << status;
}

}  // namespace
}  // namespace roster::testing
