#include "tests/testing/tcp_proxy.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <deque>
#include <list>
#include <random>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "glog/logging.h"
#include "tests/testing/ports.h"

namespace roster::testing {
namespace {

constexpr size_t kReadSize = 64 << 10;

sockaddr_in Loopback(int port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return address;
}

// Closes `fd` so that the peer sees an RST rather than a FIN.
void CloseWithReset(int fd) {
  if (fd < 0) return;
  linger option{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &option, sizeof(option));
  close(fd);
}

std::string Errno(absl::string_view what) { return absl::StrCat(what, ": ", std::strerror(errno)); }

}  // namespace

TcpProxy::Fault TcpProxy::Fault::Latency(absl::Duration latency) {
  Fault fault;
  fault.kind = kLatency;
  fault.latency = latency;
  return fault;
}

TcpProxy::Fault TcpProxy::Fault::Blackhole() {
  Fault fault;
  fault.kind = kBlackhole;
  return fault;
}

TcpProxy::Fault TcpProxy::Fault::Trickle(size_t bytes, absl::Duration interval) {
  Fault fault;
  fault.kind = kTrickle;
  fault.trickle_bytes = std::max<size_t>(bytes, 1);
  fault.trickle_interval = interval;
  return fault;
}

TcpProxy::Fault TcpProxy::Fault::Stall(absl::Duration min, absl::Duration max,
                                       absl::Duration mean_gap) {
  Fault fault;
  fault.kind = kStall;
  fault.stall_min = min;
  fault.stall_max = std::max(min, max);
  fault.stall_gap = mean_gap;
  return fault;
}

std::string TcpProxy::Fault::ToString() const {
  switch (kind) {
    case kPass:
      return "pass";
    case kLatency:
      return absl::StrCat("latency ", absl::FormatDuration(latency));
    case kBlackhole:
      return "blackhole";
    case kTrickle:
      return absl::StrCat("trickle ", trickle_bytes, " B / ",
                          absl::FormatDuration(trickle_interval));
    case kStall:
      return absl::StrCat("stalls of ", absl::FormatDuration(stall_min), "-",
                          absl::FormatDuration(stall_max), " every ~",
                          absl::FormatDuration(stall_gap));
  }
  return "?";
}

// The poll loop. Connections and their queues are confined to the loop thread; faults, the
// reset switch and the stop flag are written by any thread under mu_ (followed by a byte on
// the wake-up pipe); counters are atomics.
class TcpProxy::Loop {
 public:
  Loop(const TcpProxyOptions& options, int listen_fd, int wake_read, int wake_write)
      : options_(options),
        listen_fd_(listen_fd),
        wake_read_(wake_read),
        wake_write_(wake_write),
        random_(options.seed) {}

  ~Loop() {
    for (Connection& connection : connections_) CloseConnection(connection, /*reset=*/true);
    close(listen_fd_);
    close(wake_read_);
    close(wake_write_);
  }

  void Run();

  void Wake() {
    const char byte = 0;
    while (write(wake_write_, &byte, 1) < 0 && errno == EINTR) {
    }
  }

  void SetFault(Direction direction, Fault fault) {
    {
      absl::MutexLock lock(&mu_);
      faults_[direction] = fault;
    }
    Wake();
  }
  Fault fault(Direction direction) {
    absl::MutexLock lock(&mu_);
    return faults_[direction];
  }
  void SetReset(bool reset) {
    {
      absl::MutexLock lock(&mu_);
      reset_ = reset;
    }
    Wake();
  }
  void Stop() {
    {
      absl::MutexLock lock(&mu_);
      stop_ = true;
    }
    Wake();
  }

  std::atomic<int64_t> accepted{0};
  std::atomic<int> open{0};
  std::atomic<int64_t> forwarded[2] = {{0}, {0}};
  std::atomic<int64_t> held[2] = {{0}, {0}};
  std::atomic<int64_t> resets{0};

 private:
  struct Chunk {
    std::string bytes;
    size_t offset = 0;
    absl::Time due;
  };
  // One direction of a connection.
  struct Flow {
    std::deque<Chunk> chunks;
    size_t held = 0;
    bool eof = false;   // the sender finished (or failed); delivered after the chunks
    bool shut = false;  // the end of stream was passed on
    bool blocked = false;
    absl::Time next_trickle = absl::InfinitePast();
  };
  struct Connection {
    int fds[2] = {-1, -1};  // [kToUpstream]: the upstream socket, [kToClient]: the client's
    // The socket reported a hang-up or an error: poll() would report it again and again, so
    // it is no longer polled (a write to it fails and ends the connection).
    bool hung_up[2] = {false, false};
    bool connecting = true;
    bool dead = false;
    Flow flows[2];
  };
  // The random stalls of one direction, evaluated lazily.
  struct StallSchedule {
    absl::Time next_start = absl::InfinitePast();
    absl::Time stalled_until = absl::InfinitePast();
    bool armed = false;
  };

  // The socket a flow reads from is the other one.
  static int Source(const Connection& c, int direction) { return c.fds[1 - direction]; }

  void Accept();
  // Connects, reads and notes hang-ups for the sockets poll() reported (polls[2...], two per
  // connection in `polled`: its upstream socket, then its client's).
  void HandleReady(const std::vector<pollfd>& polls, const std::vector<Connection*>& polled);
  void Read(Connection& connection, int direction, absl::Time now);
  // Delivers what is due; returns when the flow next needs the loop (InfiniteFuture: never).
  absl::Time Deliver(Connection& connection, int direction, absl::Time now, const Fault& fault);
  bool Stalled(int direction, absl::Time now, const Fault& fault, absl::Time* until);
  void CloseConnection(Connection& connection, bool reset);

  const TcpProxyOptions options_;
  const int listen_fd_;
  const int wake_read_;
  const int wake_write_;
  std::list<Connection> connections_;
  StallSchedule stalls_[2];
  std::mt19937_64 random_;

  absl::Mutex mu_;
  Fault faults_[2] ABSL_GUARDED_BY(mu_);
  bool reset_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
};

void TcpProxy::Loop::Run() {
  std::vector<pollfd> polls;
  std::vector<Connection*> polled;
  while (true) {
    Fault faults[2];
    bool reset;
    {
      absl::MutexLock lock(&mu_);
      if (stop_) return;
      faults[0] = faults_[0];
      faults[1] = faults_[1];
      reset = reset_;
    }
    const absl::Time now = absl::Now();
    absl::Time wake = absl::InfiniteFuture();
    for (Connection& connection : connections_) {
      if (reset) {
        CloseConnection(connection, /*reset=*/true);
        resets.fetch_add(1);
        continue;
      }
      for (int direction : {kToUpstream, kToClient}) {
        if (connection.dead) break;
        wake = std::min(wake, Deliver(connection, direction, now, faults[direction]));
      }
      const bool finished = connection.flows[0].shut && connection.flows[1].shut;
      if (!connection.dead && finished) CloseConnection(connection, /*reset=*/false);
    }
    connections_.remove_if([](const Connection& c) { return c.dead; });

    polls.assign({pollfd{wake_read_, POLLIN, 0}, pollfd{listen_fd_, POLLIN, 0}});
    polled.clear();
    for (Connection& connection : connections_) {
      for (int direction : {kToUpstream, kToClient}) {
        const Flow& flow = connection.flows[direction];
        const Flow& back = connection.flows[1 - direction];
        // fds[d] receives flow d and is the source of the other flow.
        short events = 0;
        if (direction == kToUpstream && connection.connecting) {
          events = POLLOUT;
        } else {
          if (flow.blocked) events |= POLLOUT;
          if (!back.eof && back.held < options_.max_held_bytes) events |= POLLIN;
        }
        const int fd = connection.hung_up[direction] ? -1 : connection.fds[direction];
        polls.push_back(pollfd{fd, events, 0});
        polled.push_back(&connection);
      }
    }
    int timeout_ms = -1;
    if (wake != absl::InfiniteFuture()) {
      timeout_ms = static_cast<int>(std::max<int64_t>(
          0, absl::ToInt64Milliseconds(absl::Ceil(wake - now, absl::Milliseconds(1)))));
    }
    const int ready = poll(polls.data(), polls.size(), timeout_ms);
    if (ready < 0) {
      if (errno == EINTR) continue;
      LOG(ERROR) << options_.name << ": " << Errno("poll");
      return;
    }
    if (polls[0].revents != 0) {
      char buffer[64];
      while (read(wake_read_, buffer, sizeof(buffer)) > 0) {
      }
    }
    if (polls[1].revents & POLLIN) Accept();
    HandleReady(polls, polled);
  }
}

void TcpProxy::Loop::HandleReady(const std::vector<pollfd>& polls,
                                 const std::vector<Connection*>& polled) {
  const absl::Time after = absl::Now();
  for (size_t i = 2; i < polls.size(); ++i) {
    if (polls[i].revents == 0) continue;
    Connection& connection = *polled[i - 2];
    if (connection.dead) continue;
    // polls alternate: the upstream socket (direction 0), then the client's (direction 1).
    const int receiver = static_cast<int>((i - 2) % 2);
    if (receiver == kToUpstream && connection.connecting) {
      int error = 0;
      socklen_t length = sizeof(error);
      getsockopt(connection.fds[kToUpstream], SOL_SOCKET, SO_ERROR, &error, &length);
      if (error != 0) {
        VLOG(1) << options_.name << ": upstream " << options_.upstream_port << ": "
                << std::strerror(error);
        CloseConnection(connection, /*reset=*/true);  // as if refused
        continue;
      }
      connection.connecting = false;
      continue;
    }
    if (polls[i].revents & POLLOUT) connection.flows[receiver].blocked = false;
    // This socket is the source of the other direction.
    Flow& source = connection.flows[1 - receiver];
    if (polls[i].revents & POLLIN) Read(connection, 1 - receiver, after);
    if ((polls[i].revents & (POLLHUP | POLLERR)) && (source.eof || !(polls[i].revents & POLLIN))) {
      connection.hung_up[receiver] = true;
      connection.flows[receiver].blocked = false;
      source.eof = true;
    }
  }
}

void TcpProxy::Loop::Accept() {
  while (true) {
    const int client = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (client < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        LOG(WARNING) << options_.name << ": " << Errno("accept");
      }
      return;
    }
    accepted.fetch_add(1);
    bool reset;
    {
      absl::MutexLock lock(&mu_);
      reset = reset_;
    }
    if (reset) {
      CloseWithReset(client);
      resets.fetch_add(1);
      continue;
    }
    const int upstream = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    const int one = 1;
    setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (upstream >= 0) setsockopt(upstream, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    const sockaddr_in address = Loopback(options_.upstream_port);
    if (upstream < 0 ||
        (connect(upstream, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0 &&
         errno != EINPROGRESS)) {
      VLOG(1) << options_.name << ": " << Errno("connect upstream");
      if (upstream >= 0) close(upstream);
      CloseWithReset(client);
      continue;
    }
    Connection& connection = connections_.emplace_back();
    connection.fds[kToUpstream] = upstream;
    connection.fds[kToClient] = client;
    open.fetch_add(1);
  }
}

void TcpProxy::Loop::Read(Connection& connection, int direction, absl::Time now) {
  Flow& flow = connection.flows[direction];
  if (flow.eof) return;
  char buffer[kReadSize];
  const ssize_t n = recv(Source(connection, direction), buffer, sizeof(buffer), MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
  if (n <= 0) {
    // The end of the stream, or an error: either way nothing more comes from this side, and
    // its end travels behind the bytes already held (a blackhole holds it too).
    flow.eof = true;
    return;
  }
  // The fault now, not the loop's snapshot: bytes sent after SetFault() returned get it.
  const Fault fault = this->fault(static_cast<Direction>(direction));
  const absl::Duration delay = fault.kind == Fault::kLatency ? fault.latency : absl::ZeroDuration();
  flow.chunks.push_back(Chunk{std::string(buffer, n), 0, now + delay});
  flow.held += n;
  held[direction].fetch_add(n);
}

bool TcpProxy::Loop::Stalled(int direction, absl::Time now, const Fault& fault, absl::Time* until) {
  StallSchedule& schedule = stalls_[direction];
  auto gap = [&] {
    std::exponential_distribution<double> exponential(1.0);
    return fault.stall_gap * exponential(random_);
  };
  auto length = [&] {
    std::uniform_real_distribution<double> uniform(0.0, 1.0);
    return fault.stall_min + (fault.stall_max - fault.stall_min) * uniform(random_);
  };
  if (!schedule.armed) {
    schedule.armed = true;
    schedule.stalled_until = absl::InfinitePast();
    schedule.next_start = now + gap();
  }
  while (now >= schedule.next_start) {
    schedule.stalled_until = schedule.next_start + length();
    schedule.next_start = schedule.stalled_until + gap();
  }
  *until = schedule.stalled_until;
  return now < schedule.stalled_until;
}

absl::Time TcpProxy::Loop::Deliver(Connection& connection, int direction, absl::Time now,
                                   const Fault& fault) {
  Flow& flow = connection.flows[direction];
  if (fault.kind != Fault::kStall) stalls_[direction].armed = false;
  if (flow.shut || flow.blocked || fault.kind == Fault::kBlackhole) {
    return absl::InfiniteFuture();
  }
  if (direction == kToUpstream && connection.connecting) return absl::InfiniteFuture();
  if (flow.chunks.empty() && !flow.eof) return absl::InfiniteFuture();
  absl::Time stalled_until;
  if (fault.kind == Fault::kStall && Stalled(direction, now, fault, &stalled_until)) {
    return stalled_until;
  }
  size_t budget = SIZE_MAX;
  if (fault.kind == Fault::kTrickle) {
    if (now < flow.next_trickle) return flow.next_trickle;
    budget = fault.trickle_bytes;
  }
  const int to = connection.fds[direction];
  size_t sent_now = 0;
  while (!flow.chunks.empty() && budget > 0) {
    Chunk& chunk = flow.chunks.front();
    if (chunk.due > now) break;
    const size_t length = std::min(budget, chunk.bytes.size() - chunk.offset);
    const ssize_t n =
        send(to, chunk.bytes.data() + chunk.offset, length, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        flow.blocked = true;
        return absl::InfiniteFuture();
      }
      if (errno == EINTR) continue;
      CloseConnection(connection, /*reset=*/true);
      return absl::InfiniteFuture();
    }
    chunk.offset += n;
    budget -= n;
    sent_now += n;
    flow.held -= n;
    held[direction].fetch_sub(n);
    forwarded[direction].fetch_add(n);
    if (chunk.offset == chunk.bytes.size()) flow.chunks.pop_front();
  }
  if (fault.kind == Fault::kTrickle && sent_now > 0) {
    flow.next_trickle = now + fault.trickle_interval;
  }
  if (flow.chunks.empty()) {
    if (flow.eof) {
      shutdown(to, SHUT_WR);
      flow.shut = true;
    }
    return absl::InfiniteFuture();
  }
  if (fault.kind == Fault::kTrickle && budget == 0) return flow.next_trickle;
  return flow.chunks.front().due;
}

void TcpProxy::Loop::CloseConnection(Connection& connection, bool reset) {
  if (connection.dead) return;
  connection.dead = true;
  for (int& fd : connection.fds) {
    if (reset) {
      CloseWithReset(fd);
    } else if (fd >= 0) {
      close(fd);
    }
    fd = -1;
  }
  for (int direction : {kToUpstream, kToClient}) {
    held[direction].fetch_sub(connection.flows[direction].held);
    connection.flows[direction].held = 0;
    connection.flows[direction].chunks.clear();
  }
  open.fetch_sub(1);
}

// --- TcpProxy ----------------------------------------------------------------------------------

TcpProxy::TcpProxy(TcpProxyOptions options) : options_(std::move(options)) {}

TcpProxy::~TcpProxy() { Shutdown(); }

absl::Status TcpProxy::Start() {
  if (loop_ != nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(options_.name, ": already started"));
  }
  if (options_.upstream_port <= 0 || options_.upstream_port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat(options_.name, ": bad upstream_port ", options_.upstream_port));
  }
  const int listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (listen_fd < 0) return absl::InternalError(Errno("socket"));
  const int one = 1;
  setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  const int port = options_.listen_port != 0 ? options_.listen_port : PickUnusedPort();
  const sockaddr_in address = Loopback(port);
  if (bind(listen_fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0 ||
      listen(listen_fd, 128) != 0) {
    const std::string error = Errno(absl::StrCat("bind 127.0.0.1:", port));
    close(listen_fd);
    return absl::UnavailableError(absl::StrCat(options_.name, ": ", error));
  }
  int wake[2];
  if (pipe2(wake, O_NONBLOCK | O_CLOEXEC) != 0) {
    close(listen_fd);
    return absl::InternalError(Errno("pipe2"));
  }
  port_ = port;
  loop_ = std::make_unique<Loop>(options_, listen_fd, wake[0], wake[1]);
  thread_ = std::thread([this] { loop_->Run(); });
  return absl::OkStatus();
}

void TcpProxy::Shutdown() {
  if (loop_ == nullptr) return;
  loop_->Stop();
  if (thread_.joinable()) thread_.join();
  loop_.reset();  // closes every socket
}

void TcpProxy::SetFault(Direction direction, Fault fault) {
  CHECK(loop_ != nullptr) << options_.name << ": not started";
  VLOG(1) << options_.name << ": " << (direction == kToUpstream ? "to upstream" : "to client")
          << " " << fault.ToString();
  loop_->SetFault(direction, fault);
}

void TcpProxy::SetFaults(Fault fault) {
  SetFault(kToUpstream, fault);
  SetFault(kToClient, fault);
}

TcpProxy::Fault TcpProxy::fault(Direction direction) const {
  return loop_ == nullptr ? Fault() : loop_->fault(direction);
}

void TcpProxy::SetReset(bool reset) {
  CHECK(loop_ != nullptr) << options_.name << ": not started";
  loop_->SetReset(reset);
}

int64_t TcpProxy::accepted() const { return loop_ == nullptr ? 0 : loop_->accepted.load(); }
int TcpProxy::open_connections() const { return loop_ == nullptr ? 0 : loop_->open.load(); }
int64_t TcpProxy::forwarded(Direction direction) const {
  return loop_ == nullptr ? 0 : loop_->forwarded[direction].load();
}
int64_t TcpProxy::held(Direction direction) const {
  return loop_ == nullptr ? 0 : loop_->held[direction].load();
}
int64_t TcpProxy::resets() const { return loop_ == nullptr ? 0 : loop_->resets.load(); }

}  // namespace roster::testing
