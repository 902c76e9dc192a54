#include "tests/testing/zookeeper_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <tuple>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "glog/logging.h"
#include "tests/testing/ports.h"

namespace roster::testing {
namespace {

constexpr char kClassPath[] = "/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar";
constexpr int kStartAttempts = 3;

int ToMillis(absl::Duration d) { return static_cast<int>(absl::ToInt64Milliseconds(d)); }

// Sends a four-letter word to 127.0.0.1:port and returns the whole answer. Every step is
// bounded by `timeout`: a server starting up may accept the connection and never answer.
absl::StatusOr<std::string> FourLetterWord(int port, absl::string_view word,
                                           absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
  struct Closer {
    int fd;
    ~Closer() { close(fd); }
  } closer{fd};
  auto wait_for = [&](short events) -> bool {
    while (true) {
      const int64_t left = absl::ToInt64Milliseconds(deadline - absl::Now());
      if (left <= 0) return false;
      pollfd p{fd, events, 0};
      const int r = poll(&p, 1, static_cast<int>(left));
      if (r > 0) return true;
      if (r == 0) return false;
      if (errno != EINTR) return false;
    }
  };
  auto unavailable = [&](absl::string_view what) {
    return absl::UnavailableError(absl::StrCat("'", word, "' on 127.0.0.1:", port, ": ", what));
  };
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
    if (errno != EINPROGRESS) return unavailable(std::strerror(errno));
    if (!wait_for(POLLOUT)) return unavailable("connect timed out");
    int error = 0;
    socklen_t length = sizeof(error);
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length);
    if (error != 0) return unavailable(std::strerror(error));
  }
  if (send(fd, word.data(), word.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(word.size())) {
    return unavailable("send failed");
  }
  std::string answer;
  char buffer[4096];
  while (true) {
    if (!wait_for(POLLIN)) return unavailable("no answer in time");
    const ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
    if (n > 0) {
      answer.append(buffer, n);
    } else if (n == 0) {
      return answer;
    } else if (errno != EINTR && errno != EAGAIN) {
      return unavailable(std::strerror(errno));
    }
  }
}

// True when every thread of `pid` is in state T (stopped) according to /proc.
bool AllThreadsStopped(pid_t pid) {
  std::error_code error;
  const std::string task_dir = absl::StrCat("/proc/", pid, "/task");
  for (const auto& task : std::filesystem::directory_iterator(task_dir, error)) {
    std::ifstream in(task.path() / "stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    // "<tid> (<comm>) <state> ...": the command may contain spaces and parentheses.
    const size_t close = stat.rfind(')');
    if (close == std::string::npos || close + 2 >= stat.size()) continue;  // thread gone
    const char state = stat[close + 2];
    if (state != 'T' && state != 't') return false;
  }
  return !error;
}

}  // namespace

ZooKeeperServer::ZooKeeperServer(ZooKeeperServerOptions options)
    : ZooKeeperServer(options, /*my_id=*/0, /*client_port=*/0, "") {}

ZooKeeperServer::ZooKeeperServer(ZooKeeperServerOptions options, int my_id, int client_port,
                                 std::string server_lines)
    : options_(options),
      my_id_(my_id),
      server_lines_(std::move(server_lines)),
      dir_(my_id == 0 ? "zookeeper" : absl::StrCat("zookeeper-", my_id)),
      data_dir_(dir_.Child("data")),
      client_port_(client_port) {
  std::filesystem::create_directories(data_dir_);
  if (my_id_ != 0) WriteFileOrDie(absl::StrCat(data_dir_, "/myid"), absl::StrCat(my_id_, "\n"));
}

ZooKeeperServer::~ZooKeeperServer() {
  if (process_ != nullptr) {
    absl::StatusOr<int> status = process_->Kill();
    if (!status.ok()) LOG(ERROR) << "ZooKeeper on port " << client_port_ << ": " << status.status();
  }
}

std::string ZooKeeperServer::Config() const {
  std::string config =
      absl::StrCat("tickTime=", ToMillis(options_.tick_time), "\n",  //
                   "initLimit=10\n",                                 //
                   "syncLimit=5\n",                                  //
                   "dataDir=", data_dir_, "\n",                      //
                   "clientPort=", client_port_, "\n",                //
                   "clientPortAddress=127.0.0.1\n",                  //
                   "maxClientCnxns=0\n",                             //
                   "admin.enableServer=false\n",                     //
                   "4lw.commands.whitelist=*\n",                     //
                   "minSessionTimeout=", ToMillis(options_.min_session_timeout), "\n",
                   "maxSessionTimeout=", ToMillis(options_.max_session_timeout), "\n",
                   // Tests need no durability across power loss; fsync only slows them down.
                   "forceSync=no\n");
  absl::StrAppend(&config, server_lines_);
  return config;
}

absl::Status ZooKeeperServer::Start() {
  if (running()) {
    return absl::FailedPreconditionError(
        absl::StrCat("ZooKeeper on port ", client_port_, " is already running"));
  }
  const bool pick_port = my_id_ == 0 && client_port_ == 0;
  absl::Status status;
  for (int attempt = 1; attempt <= (pick_port ? kStartAttempts : 1); ++attempt) {
    if (pick_port) client_port_ = PickUnusedPort();
    status = StartOnce();
    if (status.ok()) status = WaitServing();
    if (status.ok()) return status;
    const bool port_taken =
        process_ != nullptr && absl::StrContains(process_->LogTail(), "Address already in use");
    if (process_ != nullptr) process_->Kill().IgnoreError();
    process_.reset();
    if (!pick_port || !port_taken) break;
    LOG(WARNING) << "ZooKeeper: port " << client_port_ << " was taken; trying another one";
    client_port_ = 0;
  }
  return status;
}

absl::Status ZooKeeperServer::StartOnce() {
  const std::string config_path = dir_.Child("zoo.cfg");
  WriteFileOrDie(config_path, Config());
  Subprocess::Options options;
  options.argv = {"java", "-Xmx256m", "-XX:+UseSerialGC"};
  if (options_.fast_jvm_startup) options.argv.push_back("-XX:TieredStopAtLevel=1");
  for (const auto& [name, value] : options_.system_properties) {
    options.argv.push_back(absl::StrCat("-D", name, "=", value));
  }
  for (const char* arg :
       {"-XX:-UsePerfData", "-Djava.net.preferIPv4Stack=true", "-cp", kClassPath}) {
    options.argv.push_back(arg);
  }
  options.argv.push_back(my_id_ == 0 ? "org.apache.zookeeper.server.ZooKeeperServerMain"
                                     : "org.apache.zookeeper.server.quorum.QuorumPeerMain");
  options.argv.push_back(config_path);
  options.log_path = dir_.Child("server.log");
  options.working_dir = dir_.path();
  absl::StatusOr<std::unique_ptr<Subprocess>> process = Subprocess::Start(std::move(options));
  if (!process.ok()) return process.status();
  process_ = *std::move(process);
  return absl::OkStatus();
}

absl::Status ZooKeeperServer::WaitServing() {
  const absl::Time deadline = absl::Now() + options_.start_timeout;
  absl::Status last = absl::UnavailableError("not probed yet");
  while (absl::Now() < deadline) {
    if (!process_->Running()) {
      absl::StatusOr<int> exit = process_->Wait(absl::ZeroDuration());
      return absl::InternalError(
          absl::StrCat("ZooKeeper on port ", client_port_, " exited during start-up (",
                       exit.ok() ? DescribeExitStatus(*exit) : exit.status().ToString(), "); log ",
                       process_->log_path(), ":\n", process_->LogTail(2000)));
    }
    absl::StatusOr<std::string> mode = Mode(absl::Seconds(1));
    if (mode.ok()) return absl::OkStatus();
    last = mode.status();
    absl::SleepFor(absl::Milliseconds(50));
  }
  return absl::DeadlineExceededError(
      absl::StrCat("ZooKeeper on port ", client_port_, " not serving after ",
                   absl::FormatDuration(options_.start_timeout), " (", last.ToString(), "); log ",
                   process_->log_path(), ":\n", process_->LogTail(2000)));
}

absl::StatusOr<int> ZooKeeperServer::TrackedSessions(absl::Duration timeout) const {
  absl::StatusOr<std::string> answer = FourLetterWord(client_port_, "dump", timeout);
  if (!answer.ok()) return answer.status();
  for (absl::string_view line : absl::StrSplit(*answer, '\n')) {
    if (!absl::ConsumePrefix(&line, "Session Sets (")) continue;
    const size_t open = line.find("/(");
    const size_t close = line.find(')', open);
    int sessions = 0;
    if (open != absl::string_view::npos && close != absl::string_view::npos &&
        absl::SimpleAtoi(line.substr(open + 2, close - open - 2), &sessions)) {
      return sessions;
    }
  }
  return absl::UnavailableError(
      absl::StrCat("ZooKeeper on port ", client_port_, ": no session count in 'dump': ", *answer));
}

absl::StatusOr<std::string> ZooKeeperServer::Mode(absl::Duration timeout) const {
  absl::StatusOr<std::string> answer = FourLetterWord(client_port_, "srvr", timeout);
  if (!answer.ok()) return answer.status();
  for (absl::string_view line : absl::StrSplit(*answer, '\n')) {
    if (absl::ConsumePrefix(&line, "Mode:")) {
      return std::string(absl::StripAsciiWhitespace(line));
    }
  }
  return absl::UnavailableError(
      absl::StrCat("ZooKeeper on port ", client_port_,
                   " is not serving: ", absl::StripAsciiWhitespace(*answer)));
}

absl::Status ZooKeeperServer::Stop() {
  if (process_ == nullptr) return absl::OkStatus();
  absl::StatusOr<int> status = process_->Terminate(absl::Seconds(10));
  process_.reset();
  return status.status();
}

absl::Status ZooKeeperServer::Kill() {
  if (process_ == nullptr) return absl::OkStatus();
  absl::StatusOr<int> status = process_->Kill();
  process_.reset();
  return status.status();
}

absl::Status ZooKeeperServer::Pause() {
  if (process_ == nullptr) return absl::FailedPreconditionError("ZooKeeper is not running");
  if (absl::Status status = process_->Signal(SIGSTOP); !status.ok()) return status;
  // kill() returns before the stop takes effect: a request sent right after could still be
  // answered. Wait until every thread of the JVM is stopped.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (!AllThreadsStopped(process_->pid())) {
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("ZooKeeper (pid ", process_->pid(), ") did not stop after SIGSTOP"));
    }
    absl::SleepFor(absl::Milliseconds(1));
  }
  return absl::OkStatus();
}

absl::Status ZooKeeperServer::Resume() {
  if (process_ == nullptr) return absl::FailedPreconditionError("ZooKeeper is not running");
  if (absl::Status status = process_->Signal(SIGCONT); !status.ok()) return status;
  return absl::OkStatus();
}

absl::Status ZooKeeperServer::Restart() {
  if (absl::Status status = Stop(); !status.ok()) return status;
  return Start();
}

bool ZooKeeperServer::running() { return process_ != nullptr && process_->Running(); }

std::string ZooKeeperServer::ConnectString() const {
  return absl::StrCat("127.0.0.1:", client_port_);
}

ZooKeeperEnsemble::ZooKeeperEnsemble(int size, ZooKeeperServerOptions options,
                                     ZooKeeperEnsembleOptions ensemble_options) {
  CHECK_GE(size, 1);
  struct Ports {
    int client, quorum, election;
  };
  std::vector<Ports> ports;
  for (int i = 0; i < size; ++i) {
    ports.push_back(Ports{PickUnusedPort(), PickUnusedPort(), PickUnusedPort()});
  }
  auto line = [](int id, int quorum, int election, int client) {
    return absl::StrCat("server.", id, "=127.0.0.1:", quorum, ":", election, ";127.0.0.1:", client,
                        "\n");
  };
  for (int i = 0; i < size; ++i) {
    std::string server_lines;
    for (int j = 0; j < size; ++j) {
      if (!ensemble_options.proxy_links || i == j) {
        absl::StrAppend(&server_lines,
                        line(j + 1, ports[j].quorum, ports[j].election, ports[j].client));
        continue;
      }
      Link link{i, j, nullptr, nullptr};
      for (auto [proxy, upstream, what] :
           {std::make_tuple(&link.quorum, ports[j].quorum, "quorum"),
            std::make_tuple(&link.election, ports[j].election, "election")}) {
        TcpProxyOptions proxy_options;
        proxy_options.upstream_port = upstream;
        proxy_options.name = absl::StrCat("zk ", i + 1, "->", j + 1, " ", what);
        proxy_options.seed = static_cast<uint64_t>(i * size + j);
        *proxy = std::make_unique<TcpProxy>(proxy_options);
        // Failing to bind a loopback port is an environment problem, not a test outcome.
        const absl::Status started = (*proxy)->Start();
        CHECK(started.ok()) << started;
      }
      absl::StrAppend(&server_lines,
                      line(j + 1, link.quorum->port(), link.election->port(), ports[j].client));
      links_.push_back(std::move(link));
    }
    members_.push_back(std::unique_ptr<ZooKeeperServer>(
        new ZooKeeperServer(options, i + 1, ports[i].client, server_lines)));
  }
}

ZooKeeperEnsemble::~ZooKeeperEnsemble() {
  // The servers first: a proxy shut down under a running server only looks like a partition.
  members_.clear();
  links_.clear();
}

absl::Status ZooKeeperEnsemble::Start() {
  // Launch everyone first: no member can serve before a quorum is up.
  for (auto& member : members_) {
    if (member->running()) continue;
    if (absl::Status status = member->StartOnce(); !status.ok()) return status;
  }
  for (auto& member : members_) {
    if (absl::Status status = member->WaitServing(); !status.ok()) return status;
  }
  return absl::OkStatus();
}

std::string ZooKeeperEnsemble::ConnectString() const {
  std::vector<std::string> hosts;
  for (const auto& member : members_) hosts.push_back(member->ConnectString());
  return absl::StrJoin(hosts, ",");
}

absl::StatusOr<int> ZooKeeperEnsemble::LeaderIndex() const {
  for (int i = 0; i < size(); ++i) {
    absl::StatusOr<std::string> mode = members_[i]->Mode(absl::Seconds(1));
    if (mode.ok() && *mode == "leader") return i;
  }
  return absl::UnavailableError("no ensemble member reports Mode: leader");
}

ZooKeeperEnsemble::Link* ZooKeeperEnsemble::FindLink(int from, int to) {
  for (Link& link : links_) {
    if (link.from == from && link.to == to) return &link;
  }
  return nullptr;
}

TcpProxy* ZooKeeperEnsemble::quorum_link(int from, int to) {
  Link* link = FindLink(from, to);
  return link == nullptr ? nullptr : link->quorum.get();
}

TcpProxy* ZooKeeperEnsemble::election_link(int from, int to) {
  Link* link = FindLink(from, to);
  return link == nullptr ? nullptr : link->election.get();
}

absl::Status ZooKeeperEnsemble::Partition(const std::vector<int>& side) {
  if (links_.empty()) {
    return absl::FailedPreconditionError("Partition() needs an ensemble with proxy_links");
  }
  std::vector<bool> in_side(members_.size(), false);
  for (int index : side) {
    if (index < 0 || index >= size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("Partition(): no member ", index, " in an ensemble of ", size()));
    }
    in_side[index] = true;
  }
  for (Link& link : links_) {
    const bool cut = in_side[link.from] != in_side[link.to];
    for (TcpProxy* proxy : {link.quorum.get(), link.election.get()}) {
      proxy->SetFaults(cut ? TcpProxy::Fault::Blackhole() : TcpProxy::Fault::Pass());
    }
  }
  return absl::OkStatus();
}

absl::Status ZooKeeperEnsemble::Heal() {
  if (links_.empty()) {
    return absl::FailedPreconditionError("Heal() needs an ensemble with proxy_links");
  }
  return Partition({});
}

}  // namespace roster::testing
