// The fixture of the end-to-end and fault tests: real processes only. A ZooKeeper server (or
// ensemble) from Debian's package on a free loopback port, `roster-sim` playing a
// DolphinScheduler cluster against it (steered through its stdin), one or more `rosterd`
// daemons watching it, and clients talking gRPC to them: RosterClient, generated stubs, the
// `rosterctl` binary.
//
//   E2eTest (a gtest fixture): SetUp() starts ZooKeeper; StartSim() and StartRosterd() add
//   the rest; everything is killed when the test ends, whatever happened.
//
// Binaries come from compile definitions: ROSTERD_PATH, ROSTER_SIM_PATH, ROSTERCTL_PATH.
//
// Thread-safety: the fixture and the process wrappers are used from the test's main thread
// (children must be started there, see Subprocess); RosterdProcess::client() and the stubs
// are thread-safe.
#pragma once

#include <grpcpp/grpcpp.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/roster_client.h"
#include "gtest/gtest.h"
#include "registry/registry.h"
#include "roster/v1/roster.grpc.pb.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/zookeeper_server.h"

namespace roster::testing {

// How long a test waits for a daemon or ZooKeeper to react. Generous: a JVM-hosted ZooKeeper
// and several daemons share two cores with another test.
inline constexpr absl::Duration kReactTimeout = absl::Seconds(30);

// A `rosterd` process. Started with --listen=127.0.0.1:0, --port_file and no metrics server,
// plus the given flags; Start() returns once the port file names the bound port (not once it
// serves: see Serving()).
class RosterdProcess {
 public:
  // `name` labels its log file in `dir` ("rosterd-a" -> dir/rosterd-a.log).
  static absl::StatusOr<std::unique_ptr<RosterdProcess>> Start(const std::string& dir,
                                                               const std::string& name,
                                                               std::vector<std::string> flags);
  ~RosterdProcess();  // Kills the process.

  int port() const { return port_; }
  // "127.0.0.1:PORT".
  std::string target() const;
  Subprocess& process() { return *process_; }
  std::string LogTail(size_t max_bytes = 6000) const { return process_->LogTail(max_bytes); }

  // One shared channel and clients over it.
  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }
  v1::Roster::Stub& roster() { return *roster_; }
  v1::Registration::Stub& registration() { return *registration_; }
  v1::RosterAdmin::Stub& admin() { return *admin_; }
  // A RosterClient with a 5 s deadline (retries included), no admin token.
  client::RosterClient& client() { return *client_; }

  // grpc.health.v1.Health/Check("") says SERVING.
  bool Serving() const;
  // The whole view, or the call's error.
  absl::StatusOr<v1::GetClusterViewResponse> View();

 private:
  RosterdProcess() = default;

  std::unique_ptr<Subprocess> process_;
  int port_ = 0;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Roster::Stub> roster_;
  std::unique_ptr<v1::Registration::Stub> registration_;
  std::unique_ptr<v1::RosterAdmin::Stub> admin_;
  std::unique_ptr<client::RosterClient> client_;
};

// A `roster-sim` process, steered by one-line commands on its stdin.
class SimProcess {
 public:
  struct Node {
    std::string address;
    std::string role;   // "master", "worker", "alert-server"
    std::string group;  // workers only
  };

  // Starts roster-sim with the given flags and waits for its "ready N nodes" line.
  static absl::StatusOr<std::unique_ptr<SimProcess>> Start(const std::string& dir,
                                                           std::vector<std::string> flags);
  ~SimProcess();  // Kills the process (its sessions then expire on the server's schedule).

  // Runs one command ("busy 127.0.0.1:5681") and returns its answer; an error when the answer
  // is not "ok ...".
  absl::StatusOr<std::string> Command(const std::string& line);
  // The nodes, as `list` reports them, in its order (masters first).
  absl::StatusOr<std::vector<Node>> List();

  Subprocess& process() { return *process_; }
  std::string LogTail() const { return process_->LogTail(); }

 private:
  SimProcess() = default;
  std::unique_ptr<Subprocess> process_;
};

// What a finished `rosterctl` run printed and how it ended.
struct CliResult {
  int exit_code = -1;  // -1: it did not exit normally
  std::string out;
  std::string err;
};
// Runs rosterctl with `args` (the program name excluded) and waits for it.
CliResult RunRosterctl(const std::string& dir, const std::vector<std::string>& args);

// The nodes' addresses, sorted.
std::vector<std::string> Addresses(const google::protobuf::RepeatedPtrField<v1::Node>& nodes);
// The node with this address in `view` (masters, workers, alert servers), or null.
const v1::Node* FindNode(const v1::GetClusterViewResponse& view, const std::string& address);

// One ZooKeeper server, started by SetUp(); helpers to add the simulator and daemons.
class E2eTest : public ::testing::Test {
 protected:
  // The chroot every process uses.
  static constexpr char kChroot[] = "/dolphinscheduler";

  // Starts zk_ (fixtures that need something else override it and set connect_).
  void SetUp() override;
  // Kills the daemons, then the simulator, then ZooKeeper.
  void TearDown() override;

  // "zk://127.0.0.1:PORT/dolphinscheduler" for the fixture's server (or `connect` if set).
  std::string RegistryUri() const;

  // roster-sim with --masters, --workers, --groups, fast heartbeats and these extra flags.
  // Keeps it in sim_ (and returns it).
  SimProcess* StartSim(int masters, int workers, const std::string& groups,
                       std::vector<std::string> extra_flags = {});
  // A rosterd on the fixture's registry with short timings (see e2e_env.cc) and these extra
  // flags (later flags win). Kept in daemons_.
  RosterdProcess* StartRosterd(std::vector<std::string> extra_flags = {});
  // Waits until `daemon` serves and its view holds `masters` masters and `workers` workers,
  // all RUNNING, and a leader. Fails the test (ADD_FAILURE) and returns false otherwise.
  bool WaitSettled(RosterdProcess* daemon, int masters, int workers);

  // The standard cluster: roster-sim with 3 masters and 6 workers alternating between groups
  // etl and spark, and one rosterd (daemon_), settled. Fills masters_ and workers_ (by port,
  // as the simulator numbers them) and groups_ (group -> its workers, sorted; "default"
  // included). Use with ASSERT_NO_FATAL_FAILURE.
  void StartCluster(std::vector<std::string> rosterd_flags = {},
                    std::vector<std::string> sim_flags = {});

  // Calls on `daemon` (default: daemon_), each with a 5 s deadline and no retries.
  // The node's state in the view; NODE_STATE_UNSPECIFIED if the daemon cannot say.
  v1::NodeState StateOf(const std::string& address, RosterdProcess* daemon = nullptr);
  grpc::Status Slot(const std::string& address, v1::GetMasterSlotResponse* response,
                    RosterdProcess* daemon = nullptr);
  grpc::Status Leader(v1::GetLeaderResponse* response, RosterdProcess* daemon = nullptr);

  // A ZooKeeper session of the test's own, connected, to look at znodes directly (paths
  // within the chroot). Null (and a test failure) if it cannot connect.
  std::unique_ptr<registry::Registry> Observer();

  TempDir dir_{"roster-e2e"};
  std::unique_ptr<ZooKeeperServer> zk_;
  // Overrides the registry's connect string (an ensemble).
  std::string connect_;
  std::unique_ptr<SimProcess> sim_;
  std::vector<std::unique_ptr<RosterdProcess>> daemons_;
  // Set by StartCluster().
  RosterdProcess* daemon_ = nullptr;
  std::vector<std::string> masters_;
  std::vector<std::string> workers_;
  std::map<std::string, std::vector<std::string>> groups_;
};

// `Base` (E2eTest or a fixture derived from it) on a 3-server ZooKeeper ensemble on loopback
// instead of the standalone server. Derived fixtures that override TearDown() end with
// OnEnsemble<Base>::TearDown().
template <typename Base>
class OnEnsemble : public Base {
 protected:
  // The ensemble's options (e.g. its quorum links through proxies).
  virtual ZooKeeperEnsembleOptions EnsembleOptions() const { return {}; }

  void SetUp() override {
    ensemble_ = std::make_unique<ZooKeeperEnsemble>(3, ZooKeeperServerOptions(), EnsembleOptions());
    const absl::Status started = ensemble_->Start();
    ASSERT_TRUE(started.ok()) << started;
    this->connect_ = ensemble_->ConnectString();
  }
  // The daemons and the simulator first, then the ensemble.
  void TearDown() override {
    Base::TearDown();
    ensemble_.reset();
  }

  std::unique_ptr<ZooKeeperEnsemble> ensemble_;
};

}  // namespace roster::testing
