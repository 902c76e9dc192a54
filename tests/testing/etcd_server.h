// Real etcd servers for integration tests: Debian's `etcd-server` (/usr/bin/etcd, 3.4) run as
// a plain process, each member with its own loopback client and peer ports and its own data
// directory, logging at warn level to a file in that directory.
//
//   EtcdServer server;
//   ASSERT_OK(server.Start());
//   auto registry = NewRegistry("etcd://" + server.Endpoint(), options);
//   ASSERT_OK(server.Restart());  // SIGTERM, then the same ports and data: leases survive
//   ASSERT_OK(server.Kill());     // SIGKILL; Start() brings it back on the same data
//
//   EtcdCluster cluster(3);       // three members on 127.0.0.1
//   ASSERT_OK(cluster.Start());
//   ASSERT_OK_AND_ASSIGN(int leader, cluster.LeaderIndex());
//   ASSERT_OK(cluster.member(leader).Kill());
//
// A member is ready when etcd's Maintenance.Status answers and names a leader. Destroying a
// fixture kills its processes and deletes its directories.
//
// Thread-safety: thread-compatible; use a fixture from the test's main thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"

namespace roster::testing {

class EtcdServer {
 public:
  // A single-member cluster on ports picked at the first Start().
  EtcdServer();
  // Kills the server (if running) and deletes its data directory.
  ~EtcdServer();

  EtcdServer(const EtcdServer&) = delete;
  EtcdServer& operator=(const EtcdServer&) = delete;

  // Starts the member and waits until it serves with a leader (within `timeout`). The first
  // start of a single member picks free ports (retrying with others if they are taken
  // meanwhile); later starts reuse ports and data. FailedPrecondition if running;
  // DeadlineExceeded or Internal (with the log tail) if it does not come up.
  absl::Status Start(absl::Duration timeout = absl::Seconds(30));
  // SIGTERM and wait for the exit (SIGKILL after 10 s).
  absl::Status Stop();
  // SIGKILL and wait.
  absl::Status Kill();
  // Stop() then Start().
  absl::Status Restart();

  bool running();
  int client_port() const { return client_port_; }
  // "127.0.0.1:PORT".
  std::string Endpoint() const;
  const std::string& data_dir() const { return data_dir_; }

  // From Maintenance.Status: this member's id, the leader's (0: none), the store revision.
  struct Status {
    uint64_t member_id = 0;
    uint64_t leader_id = 0;
    int64_t revision = 0;
  };
  absl::StatusOr<Status> GetStatus(absl::Duration timeout = absl::Seconds(2)) const;

  // Admin calls for tests, as another etcd client: revoke a lease (the way a lease ends when
  // its TTL passes), compact the history up to `revision`, write raw keys.
  absl::Status RevokeLease(int64_t lease_id) const;
  absl::Status Compact(int64_t revision) const;
  // Put and Delete return the store revision after the change.
  absl::StatusOr<int64_t> Put(const std::string& key, const std::string& value,
                              int64_t lease_id = 0) const;
  absl::StatusOr<int64_t> Delete(const std::string& key) const;
  // A new lease of `ttl_seconds`, never kept alive (as a client that died would leave it).
  absl::StatusOr<int64_t> GrantLease(int64_t ttl_seconds) const;

 private:
  friend class EtcdCluster;

  // A cluster member: fixed ports and the --initial-cluster of every member.
  EtcdServer(std::string name, int client_port, int peer_port, std::string initial_cluster);

  absl::Status StartOnce();
  absl::Status WaitServing(absl::Time deadline);

  const std::string name_;
  const bool standalone_;
  std::string initial_cluster_;
  TempDir dir_;
  const std::string data_dir_;
  int client_port_ = 0;
  int peer_port_ = 0;
  std::unique_ptr<Subprocess> process_;
};

class EtcdCluster {
 public:
  explicit EtcdCluster(int size = 3);
  ~EtcdCluster();

  // Starts every member and waits until each one serves with a leader.
  absl::Status Start();

  int size() const { return static_cast<int>(members_.size()); }
  EtcdServer& member(int index) { return *members_[index]; }
  // "127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3".
  std::string Endpoints() const;
  // The index of the member that is the leader, as a running member reports it; Unavailable
  // if no running member names a leader.
  absl::StatusOr<int> LeaderIndex();

 private:
  std::vector<std::unique_ptr<EtcdServer>> members_;
};

}  // namespace roster::testing
