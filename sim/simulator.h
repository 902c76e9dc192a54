// Simulator: a test and demo tool, not part of the daemon. It plays a DolphinScheduler cluster
// against a registry: N masters, M workers (and optional alert servers) register ephemeral
// znodes in DolphinScheduler's layout and heartbeat format, each in its own registry session
// (so ending one session removes that node alone) or, for thousands of nodes, in blocks of
// `nodes_per_session` nodes sharing one session, and heartbeat with jittered, plausible load
// figures. Heartbeats are paced: each node writes once per interval at its own jittered
// moment, so 10,000 nodes at 10 s make a steady 1,000 writes/s, pipelined asynchronously on
// each session, rather than bursts.
//
// What it writes is the chosen DS release's (`dolphinscheduler_version`):
//   - each heartbeat in that release's encoding (heartbeat_codec.h), with the fields that
//     release fills (3.2.1/3.2.2 workers: a running-task count; 3.1 masters: no status);
//   - 2.0 - 3.1.0: workers at {workers}/{group}/{host:port}, the group lower-cased
//     (RegistryClient / ServerNodeManager @ 3.1.0-release); 3.1.1 and later:
//     {workers}/{host:port}, the groups in DS's database table t_ds_worker_group, written when
//     `worker_group_db_uri` is set;
//   - alert servers only for 3.2.0 and later; the coordinator znode only for 3.3.
// "roster" writes roster's own JSON (3.3's) with a workerGroup field, its groups' only home.
// Operators and tests steer it with one-line commands (Execute()); `roster-sim` (roster_sim.cc)
// reads them from stdin. Used by the quickstart, demos, end-to-end and load tests.
//
// Commands (ADDR is a node's "host:port" or its index in `list`), each answered with one line
// starting "ok" or "error":
//   busy ADDR     heartbeat serverStatus BUSY from now on (written at once)
//   normal ADDR   heartbeat NORMAL again (written at once)
//   stop ADDR     stop heartbeating; the znode stays (rosterd should see FAULT)
//   resume ADDR   heartbeat again (written at once)
//   kill ADDR     close the node's session: its znodes vanish (in a shared session, with
//                 nodes_per_session > 1: its znodes are deleted, the session stays)
//   start ADDR    register a killed node again as a new incarnation (new startupTime, pid)
//   bad ADDR      write a malformed payload and stop heartbeating (resume ADDR heals it)
//   leader ADDR   move the coordinator znode to master ADDR
//   group NAME ADDR[,ADDR]  insert or replace the t_ds_worker_group row NAME
//   list          every node: index=address,role[,group],status,state[,leader]
//   quit          (handled by the caller)
//
// Thread-safety: thread-safe. Start() and Shutdown() from one thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <queue>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "cluster/ds_profile.h"
#include "cluster/dsdb/worker_group_writer.h"
#include "cluster/layout.h"
#include "cluster/node_info.h"
#include "registry/registry.h"

namespace roster::sim {

struct SimulatorOptions {
  // zk://host:port[,...]/chroot or memory://name/chroot. An unnamed memory:// store is named
  // "roster-sim", so that the nodes' sessions share it.
  std::string registry_uri = "memory://roster-sim/dolphinscheduler";
  int masters = 3;
  int workers = 8;
  int alert_servers = 0;
  // Workers get these groups round-robin: the path segment (2.0 - 3.1.0), the database rows
  // (3.1.1 and later, with worker_group_db_uri), or the heartbeat's workerGroup ("roster").
  std::vector<std::string> groups = {"etl", "spark", "default"};
  // Nodes that start BUSY: addresses or indices (masters first, then workers, then alert
  // servers).
  std::vector<std::string> busy;
  // The DolphinScheduler release to play, as cluster::ParseDsVersion reads it ("2.0", "3.0",
  // "3.1.0", "3.1", "3.2.0", "3.2.1", "3.2.2", "3.2", "3.3"), or "roster".
  std::string dolphinscheduler_version = "3.3";
  // Where to write the worker groups (t_ds_worker_group) for 3.1.1 and later:
  // postgresql://user@host:port/db or mysql://user@host:port/db. Empty: nowhere.
  std::string worker_group_db_uri;
  std::string worker_group_db_password_file;
  // The first master creates the coordinator znode holding its address (3.3 and "roster").
  bool coordinator = true;
  std::string host = "127.0.0.1";
  // Masters listen on base_port.., then workers, then alert servers: one port each.
  int base_port = 5678;
  // ZooKeeper digest credentials, "user:password" on the first line.
  std::string digest_file;
  // Create the chroot and the role directories as persistent znodes when missing.
  bool create_parents = true;
  // How many nodes share one registry session: blocks of consecutive nodes (masters first,
  // then workers, then alert servers). 1, the default, is DolphinScheduler's own layout, one
  // session per node, so `kill` ends a session. More is for thousands of nodes (each session
  // is a connection, a file descriptor here and on the server): `kill` then deletes the
  // node's znodes, and the other nodes of its session stay.
  int nodes_per_session = 1;
  absl::Duration heartbeat_interval = absl::Seconds(1);
  absl::Duration session_timeout = absl::Seconds(30);
  // How long to wait for each session to connect.
  absl::Duration connect_timeout = absl::Seconds(30);
  cluster::ClusterPaths paths;
};

// Thread-safe; Start() and Shutdown() from one thread.
class Simulator {
 public:
  explicit Simulator(SimulatorOptions options);
  ~Simulator();  // Calls Shutdown().

  Simulator(const Simulator&) = delete;
  Simulator& operator=(const Simulator&) = delete;

  // Opens the sessions, registers every node (and the coordinator), and starts heartbeating.
  // InvalidArgument for bad options; the registry's error, naming the node and path, when a
  // registration fails (e.g. AlreadyExists: a previous run's session has not expired yet).
  absl::Status Start();

  // Runs one command line and returns its one-line answer ("ok ..." or "error ...").
  std::string Execute(absl::string_view line);

  // Stops heartbeating and closes every session (the nodes' znodes vanish). Idempotent.
  void Shutdown();

  int node_count() const;
  // Node addresses, masters first, then workers, then alert servers.
  std::vector<std::string> addresses() const;

 private:
  struct Node;

  absl::StatusOr<std::shared_ptr<registry::Registry>> OpenSession(absl::string_view name);
  absl::Status CreateChroot();
  // Registers `nodes`, each with a fresh incarnation (and a new session of its own when
  // nodes_per_session is 1), the creates pipelined. The first failing node's error, by index.
  absl::Status Register(const std::vector<Node*>& nodes) ABSL_LOCKS_EXCLUDED(mu_);
  // With nodes_per_session > 1: one session per block of that many of the `nodes` nodes.
  absl::Status OpenBlockSessions(size_t nodes) ABSL_LOCKS_EXCLUDED(mu_);
  // The session node `node` is to be registered in: its block's, or a new one of its own.
  absl::StatusOr<std::shared_ptr<registry::Registry>> SessionFor(const Node& node)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Puts the node's next heartbeat at `at` (an earlier schedule entry becomes stale).
  void Schedule(Node* node, absl::Time at) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The node's current payload, with fresh load figures.
  std::string Payload(Node* node) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Writes the node's heartbeat now (asynchronously).
  void WriteNow(Node* node) ABSL_LOCKS_EXCLUDED(mu_);
  // Takes `node` off the heartbeat schedule and waits until its writes in flight are answered.
  void StopHeartbeats(Node* node) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void HeartbeatLoop();
  Node* Find(absl::string_view address_or_index) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status MoveLeader(Node* to) ABSL_LOCKS_EXCLUDED(mu_);
  std::string List() ABSL_LOCKS_EXCLUDED(mu_);
  // A command on one node (busy, normal, stop, resume, kill, start, bad, leader).
  std::string RunNodeCommand(const std::string& command, Node* node,
                             std::shared_ptr<registry::Registry> session, bool registered)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(command_mu_) ABSL_LOCKS_EXCLUDED(mu_);
  // Ends the node's session (or, in a shared session, deletes its znodes).
  absl::Status Kill(Node* node, std::shared_ptr<registry::Registry> session)
      ABSL_LOCKS_EXCLUDED(mu_);

  // The options' release (its profile, whether it is roster's own dialect), checked against
  // the other options; opens the group writer.
  absl::Status SetUpRelease() ABSL_EXCLUSIVE_LOCKS_REQUIRED(command_mu_);
  // The node's znode in the release's layout.
  std::string PathOf(const Node& node) const;
  // Creates t_ds_worker_group if needed and writes every group's row.
  absl::Status WriteGroupRows() ABSL_EXCLUSIVE_LOCKS_REQUIRED(command_mu_);
  std::string GroupCommand(const std::vector<std::string>& words) ABSL_LOCKS_EXCLUDED(mu_);

  const SimulatorOptions options_;
  const cluster::DsProfile* profile_ = nullptr;  // set by Start()
  bool roster_dialect_ = false;
  std::unique_ptr<cluster::dsdb::WorkerGroupWriter> group_writer_ ABSL_GUARDED_BY(command_mu_);
  std::string uri_;  // options_.registry_uri, with a name for an unnamed memory store
  std::string digest_;

  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<Node>> nodes_ ABSL_GUARDED_BY(mu_);
  // With nodes_per_session > 1: the sessions, block i holding nodes [i * n, (i + 1) * n).
  std::vector<std::shared_ptr<registry::Registry>> block_sessions_ ABSL_GUARDED_BY(mu_);
  // The heartbeat schedule, earliest first: (due time, node index). An entry whose time is
  // not its node's next_heartbeat any more is stale and skipped.
  std::priority_queue<std::pair<absl::Time, int>, std::vector<std::pair<absl::Time, int>>,
                      std::greater<>>
      schedule_ ABSL_GUARDED_BY(mu_);
  // The node holding the coordinator znode, or null.
  Node* leader_ ABSL_GUARDED_BY(mu_) = nullptr;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  absl::BitGen bitgen_ ABSL_GUARDED_BY(mu_);
  // Serialises commands, Start() and Shutdown(): each is a sequence of registry calls that
  // must not interleave with another's (kill vs. start of one node).
  absl::Mutex command_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  std::thread heartbeat_thread_;
};

}  // namespace roster::sim
