// An oracle for the fault tests: what ZooKeeper holds, read directly through a session of the
// test's own, diffed with what a rosterd reports (GetClusterView). It shares no code with
// rosterd's cluster layer beyond the path constants of cluster/layout.h: it lists the role
// directories itself (/nodes/master, /nodes/worker, /nodes/alert-server: RegistryNodeType.java
// @ 3.2.2-release), recognizes a node by its znode name ("host:port", directly below the role's
// directory, or one level deeper in a worker group directory of the legacy layout,
// /nodes/worker/{group}/{host:port}: WorkerConfig.java @ 3.1.0-release) and reads the
// coordinator znode as docs/dolphinscheduler.md describes it ("host:port" or
// "host:port#millis").
//
//   ZooKeeperOracle oracle(observer.get());  // observer: E2eTest::Observer()
//   OracleResult result = oracle.WaitConsistent(daemon, absl::Seconds(30));
//   EXPECT_TRUE(result.Consistent()) << result;
//
// What it reports (OracleResult):
//   lost:        a znode registers the node, but rosterd does not report it live (absent or
//                OFFLINE): a scheduler would stop sending it work;
//   ghost:       rosterd reports the node live (any state but OFFLINE) but no znode registers
//                it: a scheduler would send work to a node that is gone;
//   incarnation: both agree the node is there, but rosterd's incarnation (czxid) is not the
//                znode's: rosterd holds an older or newer registration than ZooKeeper;
//   leader:      the coordinator znode's holder and czxid (the fencing token) differ from
//                rosterd's leader, or one has a leader and the other none.
// ZooKeeper is read twice, before and after the view: only what both reads agree on is
// judged; a node or coordinator that changed between them is `unsettled` and judged at the
// next check. A check is consistent when all five lists are empty and every read succeeded.
//
// Thread-safety: ZooKeeperOracle is thread-compatible (its registry is thread-safe);
// OracleResult and RegistryFacts are values.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cluster/layout.h"
#include "registry/registry.h"
#include "roster/v1/roster.pb.h"
#include "tests/e2e/e2e_env.h"

namespace roster::testing {

struct OracleOptions {
  // Only the path constants are used.
  cluster::ClusterPaths paths;
  // Compare the leader with the coordinator znode (DS 3.3 and roster's simulator write one;
  // rosterd reports no leader for releases without it: turn the check off for those).
  bool check_leader = true;
};

// What ZooKeeper holds at one read.
struct RegistryFacts {
  // "master 127.0.0.1:5678" (role, space, address) -> the czxids of the znodes registering
  // it (one, or one per group directory in the legacy layout), sorted.
  std::map<std::string, std::vector<int64_t>> nodes;
  // The coordinator znode, if it exists.
  struct Coordinator {
    std::string address;  // its data up to '#'
    int64_t czxid = 0;
    friend bool operator==(const Coordinator& a, const Coordinator& b) {
      return a.address == b.address && a.czxid == b.czxid;
    }
  };
  std::optional<Coordinator> coordinator;
};

// One comparison. Prints itself (operator<<) as a summary line and one line per finding.
struct OracleResult {
  // OK, or why no comparison could be made (ZooKeeper or rosterd did not answer).
  absl::Status status;
  int znodes = 0;         // nodes registered in ZooKeeper (settled)
  int reported_live = 0;  // nodes rosterd reports live
  uint64_t view_version = 0;
  bool view_stale = false;
  // Each entry names the node and what each side says.
  std::vector<std::string> lost;
  std::vector<std::string> ghost;
  std::vector<std::string> incarnation;
  std::vector<std::string> leader;
  std::vector<std::string> unsettled;

  bool Consistent() const;
  std::string ToString() const;
  friend std::ostream& operator<<(std::ostream& out, const OracleResult& result) {
    return out << result.ToString();
  }
};

class ZooKeeperOracle {
 public:
  // `zookeeper`: a connected session on the same registry root as rosterd's (chroot
  // included), not owned; it must outlive the oracle.
  explicit ZooKeeperOracle(registry::Registry* zookeeper, OracleOptions options = {});

  // Lists the role directories and reads the coordinator. A missing directory or coordinator
  // is not an error (none registered); any other failure is returned.
  absl::StatusOr<RegistryFacts> ReadZooKeeper() const;

  // Reads ZooKeeper, asks `daemon` for its view, reads ZooKeeper again, and compares.
  OracleResult Check(RosterdProcess& daemon) const;
  // Checks until a check is consistent or `timeout` passes; returns the last check.
  OracleResult WaitConsistent(RosterdProcess& daemon, absl::Duration timeout) const;

  // The comparison itself: `view` judged against the ZooKeeper reads taken before and after
  // it. Pure.
  static OracleResult Diff(const RegistryFacts& before, const v1::GetClusterViewResponse& view,
                           const RegistryFacts& after, const OracleOptions& options);

 private:
  absl::Status ReadRole(const std::string& role, const std::string& root, bool groups,
                        RegistryFacts* facts) const;

  registry::Registry* const zookeeper_;
  const OracleOptions options_;
};

}  // namespace roster::testing
