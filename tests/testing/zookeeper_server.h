// Real ZooKeeper servers for integration tests: Debian's `zookeeper` package run as a plain
// java process (no systemd, no zkServer.sh), each with its own loopback port and data
// directory.
//
//   ZooKeeperServer server;
//   ASSERT_OK(server.Start());
//   auto registry = NewRegistry("zk://" + server.ConnectString(), options);
//   ASSERT_OK(server.Pause());    // SIGSTOP: the server stops answering, sockets stay open
//   ASSERT_OK(server.Resume());
//   ASSERT_OK(server.Restart());  // same port, same data: sessions survive
//
//   ZooKeeperEnsemble ensemble(3);  // QuorumPeerMain x3 on 127.0.0.1
//   ASSERT_OK(ensemble.Start());
//   ASSERT_OK_AND_ASSIGN(int leader, ensemble.LeaderIndex());
//   ASSERT_OK(ensemble.member(leader).Kill());
//
//   ZooKeeperEnsembleOptions links;
//   links.proxy_links = true;                // every link between servers through a TcpProxy
//   ZooKeeperEnsemble proxied(3, {}, links);
//   ASSERT_OK(proxied.Partition({2}));       // member 2 cut off from 0 and 1 (2|1)
//   ASSERT_OK(proxied.Heal());
//
// Servers run with a 500 ms tick and accept session timeouts from 1 s to 60 s, so tests can
// use 2 s sessions. A server is ready when the `srvr` four-letter word answers with a `Mode:`
// line (read with a timeout: ZooKeeper 3.8.0 may leave a probe socket open during start-up).
// Destroying a fixture kills its processes and deletes its directory.
//
// Thread-safety: thread-compatible; use a fixture from the test's main thread.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/tcp_proxy.h"
#include "tests/testing/temp_dir.h"

namespace roster::testing {

struct ZooKeeperServerOptions {
  absl::Duration tick_time = absl::Milliseconds(500);
  absl::Duration min_session_timeout = absl::Seconds(1);
  absl::Duration max_session_timeout = absl::Seconds(60);
  // How long Start() waits for the server to serve.
  absl::Duration start_timeout = absl::Seconds(60);
  // -XX:TieredStopAtLevel=1: the JVM starts faster but never compiles hot code fully. Tests
  // want the fast start; benchmarks want the server's steady-state throughput.
  bool fast_jvm_startup = true;
  // Java system properties for the server ("name" -> "value", passed as -Dname=value), e.g.
  // {"zookeeper.DigestAuthenticationProvider.enabled", "false"} for a server that rejects
  // digest authentication.
  std::vector<std::pair<std::string, std::string>> system_properties;
};

class ZooKeeperServer {
 public:
  explicit ZooKeeperServer(ZooKeeperServerOptions options = {});
  // Kills the server (if running) and deletes its data directory.
  ~ZooKeeperServer();

  ZooKeeperServer(const ZooKeeperServer&) = delete;
  ZooKeeperServer& operator=(const ZooKeeperServer&) = delete;

  // Starts the server and waits until it serves. The first start of a standalone server
  // picks a free port (retrying with another one if that port is taken meanwhile); later
  // starts reuse it and the data directory. FailedPrecondition if already running;
  // DeadlineExceeded or Internal (with the server's log tail) if it does not come up.
  absl::Status Start();
  // SIGTERM and wait for the exit (SIGKILL after 10 s).
  absl::Status Stop();
  // SIGKILL and wait.
  absl::Status Kill();
  // SIGSTOP / SIGCONT: a paused server keeps its sockets but answers nothing. Pause()
  // returns once every thread of the server has stopped.
  absl::Status Pause();
  absl::Status Resume();
  // Stop() then Start(), keeping port and data.
  absl::Status Restart();

  bool running();
  int port() const { return client_port_; }
  // "127.0.0.1:PORT".
  std::string ConnectString() const;
  const std::string& data_dir() const { return data_dir_; }

  // The `Mode:` the server reports through `srvr` ("standalone", "leader", "follower"), or
  // Unavailable if it does not answer within `timeout`.
  absl::StatusOr<std::string> Mode(absl::Duration timeout = absl::Seconds(2)) const;
  // How many sessions the server tracks (connected or not yet expired), from the `dump` four
  // letter word ("Session Sets (buckets)/(sessions):"); on an ensemble, ask the leader.
  absl::StatusOr<int> TrackedSessions(absl::Duration timeout = absl::Seconds(2)) const;

 private:
  friend class ZooKeeperEnsemble;

  // An ensemble member: fixed ports, a `myid`, and the `server.N` lines of every member.
  ZooKeeperServer(ZooKeeperServerOptions options, int my_id, int client_port,
                  std::string server_lines);

  std::string Config() const;
  absl::Status StartOnce();
  absl::Status WaitServing();

  const ZooKeeperServerOptions options_;
  const int my_id_;                 // 0: standalone (ZooKeeperServerMain)
  const std::string server_lines_;  // ensemble members only
  TempDir dir_;
  const std::string data_dir_;
  int client_port_ = 0;
  std::unique_ptr<Subprocess> process_;
};

struct ZooKeeperEnsembleOptions {
  // Route every link between two members through a TcpProxy of its own: member i's zoo.cfg
  // names member j at the ports of the proxies i->j (one for the quorum port, one for the
  // election port), so the test can cut links with Partition() while every server runs.
  //
  // What ZooKeeper 3.8 does with that: each server binds the ports of its own `server.N` line
  // and dials its peers at the addresses its own file gives, so a follower reaches the
  // leader's quorum port only through a proxy (seen on a running ensemble: the quorum proxies
  // carry the traffic, tests/e2e/partition_test.cc asserts it). A likely leak, from
  // QuorumCnxManager's design and not verified here: when a server with a lower id dials the
  // election port of a higher one, the higher one hangs up and dials back the election
  // address the lower one announced (its real port, QuorumCnxManager.handleConnection), so
  // election messages may bypass the proxies. Elections then still complete, but a member
  // cut off from the quorum links can neither follow nor lead: the partition holds.
  bool proxy_links = false;
};

class ZooKeeperEnsemble {
 public:
  explicit ZooKeeperEnsemble(int size = 3, ZooKeeperServerOptions options = {},
                             ZooKeeperEnsembleOptions ensemble_options = {});
  // Kills every member and deletes their directories.
  ~ZooKeeperEnsemble();

  // Starts every member and waits until each one serves (a quorum has formed).
  absl::Status Start();

  int size() const { return static_cast<int>(members_.size()); }
  // Member `index` (0-based; its myid is index + 1).
  ZooKeeperServer& member(int index) { return *members_[index]; }

  // "127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3".
  std::string ConnectString() const;

  // The index of the member reporting `Mode: leader`; Unavailable if none does.
  absl::StatusOr<int> LeaderIndex() const;

  // With proxy_links: blackholes (both directions) every link between a member in `side`
  // and one outside it, and heals every other link. FailedPrecondition without proxy_links,
  // InvalidArgument for an index out of range.
  absl::Status Partition(const std::vector<int>& side);
  // Every link passes again (held bytes are delivered).
  absl::Status Heal();
  // The proxies member `from` dials member `to` through: its quorum and election ports.
  // Null without proxy_links or for from == to.
  TcpProxy* quorum_link(int from, int to);
  TcpProxy* election_link(int from, int to);

 private:
  struct Link {
    int from, to;
    std::unique_ptr<TcpProxy> quorum, election;
  };
  Link* FindLink(int from, int to);

  std::vector<std::unique_ptr<ZooKeeperServer>> members_;
  std::vector<Link> links_;
};

}  // namespace roster::testing
