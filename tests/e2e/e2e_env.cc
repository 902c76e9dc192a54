#include "tests/e2e/e2e_env.h"

#include <glog/logging.h>
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "registry/registry_factory.h"
#include "tests/server/server_test_env.h"
#include "tests/testing/eventually.h"
#include "tests/testing/status_matchers.h"

namespace roster::testing {
namespace {

int ReadPortFile(const std::string& path) {
  std::ifstream in(path);
  int port = 0;
  in >> port;
  return in ? port : 0;
}

// A number that makes each log file name unique within the test process.
int NextSerial() {
  static std::atomic<int> serial{0};
  return ++serial;
}

}  // namespace

// --- RosterdProcess ---------------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<RosterdProcess>> RosterdProcess::Start(
    const std::string& dir, const std::string& name, std::vector<std::string> flags) {
  const std::string port_file = absl::StrCat(dir, "/", name, ".port");
  Subprocess::Options options;
  options.argv = {ROSTERD_PATH, "--listen=127.0.0.1:0", "--port_file=" + port_file,
                  "--metrics_listen="};
  options.argv.insert(options.argv.end(), flags.begin(), flags.end());
  options.log_path = absl::StrCat(dir, "/", name, ".log");
  auto daemon = std::unique_ptr<RosterdProcess>(new RosterdProcess());
  absl::StatusOr<std::unique_ptr<Subprocess>> process = Subprocess::Start(std::move(options));
  if (!process.ok()) return process.status();
  daemon->process_ = *std::move(process);
  const bool listening = WaitFor(
      [&] { return ReadPortFile(port_file) > 0 || !daemon->process_->Running(); }, kReactTimeout);
  daemon->port_ = ReadPortFile(port_file);
  if (!listening || daemon->port_ <= 0) {
    return absl::UnavailableError(
        absl::StrCat(name, " did not write its port file:\n", daemon->process_->LogTail()));
  }
  grpc::ChannelArguments arguments;
  // Reconnect quickly after ZooKeeper-unrelated hiccups; tests wait with deadlines anyway.
  arguments.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 500);
  daemon->channel_ =
      grpc::CreateCustomChannel(daemon->target(), grpc::InsecureChannelCredentials(), arguments);
  daemon->roster_ = v1::Roster::NewStub(daemon->channel_);
  daemon->registration_ = v1::Registration::NewStub(daemon->channel_);
  daemon->admin_ = v1::RosterAdmin::NewStub(daemon->channel_);
  client::ClientOptions client_options;
  client_options.target = daemon->target();
  client_options.deadline = absl::Seconds(5);
  absl::StatusOr<std::unique_ptr<client::RosterClient>> client =
      client::RosterClient::Create(client_options);
  if (!client.ok()) return client.status();
  daemon->client_ = *std::move(client);
  return daemon;
}

RosterdProcess::~RosterdProcess() = default;  // ~Subprocess kills it

std::string RosterdProcess::target() const { return absl::StrCat("127.0.0.1:", port_); }

bool RosterdProcess::Serving() const {
  const HealthAnswer answer = CheckHealth(channel_, "");
  return answer.status.ok() && answer.serving == grpc::health::v1::HealthCheckResponse::SERVING;
}

absl::StatusOr<v1::GetClusterViewResponse> RosterdProcess::View() {
  CallContext context(absl::Seconds(5));
  v1::GetClusterViewResponse view;
  const grpc::Status status = roster_->GetClusterView(&context, {}, &view);
  if (!status.ok()) return client::FromGrpcStatus(status);
  return view;
}

// --- SimProcess -------------------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<SimProcess>> SimProcess::Start(const std::string& dir,
                                                              std::vector<std::string> flags) {
  Subprocess::Options options;
  options.argv = {ROSTER_SIM_PATH};
  options.argv.insert(options.argv.end(), flags.begin(), flags.end());
  options.log_path = absl::StrCat(dir, "/roster-sim-", NextSerial(), ".log");
  options.pipe_stdin = true;
  options.pipe_stdout = true;
  auto sim = std::unique_ptr<SimProcess>(new SimProcess());
  absl::StatusOr<std::unique_ptr<Subprocess>> process = Subprocess::Start(std::move(options));
  if (!process.ok()) return process.status();
  sim->process_ = *std::move(process);
  absl::StatusOr<std::string> ready = sim->process_->ReadLine(kReactTimeout);
  if (!ready.ok() || !absl::StartsWith(*ready, "ready ")) {
    return absl::UnavailableError(
        absl::StrCat("roster-sim did not get ready: ",
                     ready.ok() ? *ready : std::string(ready.status().message()), "\n",
                     sim->process_->LogTail()));
  }
  return sim;
}

SimProcess::~SimProcess() = default;

absl::StatusOr<std::string> SimProcess::Command(const std::string& line) {
  if (absl::Status written = process_->WriteStdin(line + "\n"); !written.ok()) return written;
  absl::StatusOr<std::string> answer = process_->ReadLine(kReactTimeout);
  if (!answer.ok()) {
    return absl::Status(answer.status().code(),
                        absl::StrCat("roster-sim '", line, "': ", answer.status().message(), "\n",
                                     process_->LogTail()));
  }
  if (!absl::StartsWith(*answer, "ok")) {
    return absl::FailedPreconditionError(absl::StrCat("roster-sim '", line, "': ", *answer));
  }
  return answer;
}

absl::StatusOr<std::vector<SimProcess::Node>> SimProcess::List() {
  absl::StatusOr<std::string> answer = Command("list");
  if (!answer.ok()) return answer.status();
  // "ok 3 nodes: 0=127.0.0.1:5678,master,NORMAL,running,leader 1=...,worker,etl,NORMAL,..."
  const size_t colon = answer->find(": ");
  if (colon == std::string::npos) {
    return absl::InternalError(absl::StrCat("cannot parse roster-sim list: ", *answer));
  }
  std::vector<Node> nodes;
  for (absl::string_view item :
       absl::StrSplit(absl::string_view(*answer).substr(colon + 2), ' ', absl::SkipEmpty())) {
    const size_t equals = item.find('=');
    std::vector<std::string> fields = absl::StrSplit(item.substr(equals + 1), ',');
    if (equals == absl::string_view::npos || fields.size() < 3) {
      return absl::InternalError(absl::StrCat("cannot parse roster-sim list item: ", item));
    }
    Node node;
    node.address = fields[0];
    node.role = fields[1];
    if (node.role == "worker") node.group = fields[2];
    nodes.push_back(std::move(node));
  }
  return nodes;
}

// --- rosterctl --------------------------------------------------------------------------------

CliResult RunRosterctl(const std::string& dir, const std::vector<std::string>& args) {
  CliResult result;
  Subprocess::Options options;
  options.argv = {ROSTERCTL_PATH};
  options.argv.insert(options.argv.end(), args.begin(), args.end());
  options.log_path = absl::StrCat(dir, "/rosterctl-", NextSerial(), ".err");
  options.pipe_stdout = true;
  absl::StatusOr<std::unique_ptr<Subprocess>> process = Subprocess::Start(options);
  if (!process.ok()) {
    result.err = std::string(process.status().message());
    return result;
  }
  absl::StatusOr<std::string> out = (*process)->ReadAll(kReactTimeout);
  if (out.ok()) result.out = *std::move(out);
  absl::StatusOr<int> status = (*process)->Wait(kReactTimeout);
  if (status.ok() && WIFEXITED(*status)) result.exit_code = WEXITSTATUS(*status);
  result.err = (*process)->LogTail(1 << 20);
  return result;
}

// --- Helpers ----------------------------------------------------------------------------------

std::vector<std::string> Addresses(const google::protobuf::RepeatedPtrField<v1::Node>& nodes) {
  std::vector<std::string> out;
  for (const v1::Node& node : nodes) out.push_back(node.address());
  std::sort(out.begin(), out.end());
  return out;
}

const v1::Node* FindNode(const v1::GetClusterViewResponse& view, const std::string& address) {
  for (const auto* nodes : {&view.masters(), &view.workers(), &view.alert_servers()}) {
    for (const v1::Node& node : *nodes) {
      if (node.address() == address) return &node;
    }
  }
  return nullptr;
}

// --- E2eTest ----------------------------------------------------------------------------------

void E2eTest::SetUp() {
  zk_ = std::make_unique<ZooKeeperServer>();
  const absl::Status started = zk_->Start();
  ASSERT_TRUE(started.ok()) << started;
}

void E2eTest::TearDown() {
  if (HasFailure()) {
    for (size_t i = 0; i < daemons_.size(); ++i) {
      LOG(INFO) << "rosterd #" << i << " log tail:\n" << daemons_[i]->LogTail();
    }
    if (sim_ != nullptr) LOG(INFO) << "roster-sim log tail:\n" << sim_->LogTail();
  }
  daemons_.clear();
  sim_.reset();
  zk_.reset();
}

std::string E2eTest::RegistryUri() const {
  return absl::StrCat("zk://", connect_.empty() ? zk_->ConnectString() : connect_, kChroot);
}

SimProcess* E2eTest::StartSim(int masters, int workers, const std::string& groups,
                              std::vector<std::string> extra_flags) {
  std::vector<std::string> flags = {
      "--registry=" + RegistryUri(),
      absl::StrCat("--masters=", masters),
      absl::StrCat("--workers=", workers),
      "--groups=" + groups,
      // Groups through the heartbeat's workerGroup (roster's dialect): no database needed.
      "--dolphinscheduler_version=roster",
      // Several heartbeats per rosterd heartbeat interval (1 s): a slow write never looks
      // like a missed heartbeat.
      "--heartbeat_interval_ms=200",
      "--session_timeout_ms=6000",
  };
  flags.insert(flags.end(), extra_flags.begin(), extra_flags.end());
  absl::StatusOr<std::unique_ptr<SimProcess>> sim = SimProcess::Start(dir_.path(), flags);
  EXPECT_TRUE(sim.ok()) << sim.status();
  if (!sim.ok()) return nullptr;
  sim_ = *std::move(sim);
  return sim_.get();
}

RosterdProcess* E2eTest::StartRosterd(std::vector<std::string> extra_flags) {
  std::vector<std::string> flags = {
      "--registry=" + RegistryUri(),
      "--zk_session_timeout_ms=6000",  // staleness bound 4 s
      "--heartbeat_interval_ms=1000",  // FAULT after 3 s without a heartbeat
      "--probation_intervals=1",
      "--health_check_interval_ms=50",
      // roster's own slot rule unless a test names a release (tests/e2e/dolphinscheduler_test.cc).
      "--slot_policy=stable",
      // Registration and drains from the test on loopback, as before scopes existed
      // (tests/e2e/security_test.cc runs rosterd without it).
      "--allow_loopback_writes",
      // The fault tests' watchers all come from 127.0.0.1.
      "--max_watch_streams_per_client=0",
  };
  flags.insert(flags.end(), extra_flags.begin(), extra_flags.end());
  absl::StatusOr<std::unique_ptr<RosterdProcess>> daemon = RosterdProcess::Start(
      dir_.path(), absl::StrCat("rosterd-", daemons_.size(), "-", NextSerial()), flags);
  EXPECT_TRUE(daemon.ok()) << daemon.status();
  if (!daemon.ok()) return nullptr;
  daemons_.push_back(*std::move(daemon));
  return daemons_.back().get();
}

bool E2eTest::WaitSettled(RosterdProcess* daemon, int masters, int workers) {
  std::string last;
  const bool settled = WaitFor(
      [&] {
        if (!daemon->Serving()) {
          last = "not SERVING";
          return false;
        }
        absl::StatusOr<v1::GetClusterViewResponse> view = daemon->View();
        if (!view.ok()) {
          last = view.status().ToString();
          return false;
        }
        last = view->ShortDebugString();
        int running_masters = 0;
        int running_workers = 0;
        for (const v1::Node& node : view->masters()) running_masters += node.state() == v1::RUNNING;
        for (const v1::Node& node : view->workers()) running_workers += node.state() == v1::RUNNING;
        return running_masters == masters && view->masters_size() == masters &&
               running_workers == workers && view->workers_size() == workers &&
               view->has_leader() && !view->meta().stale();
      },
      kReactTimeout);
  if (!settled) {
    ADD_FAILURE() << "rosterd " << daemon->target() << " never showed " << masters
                  << " RUNNING masters, " << workers
                  << " RUNNING workers and a leader; last: " << last.substr(0, 4000) << "\n"
                  << daemon->LogTail();
  }
  return settled;
}

void E2eTest::StartCluster(std::vector<std::string> rosterd_flags,
                           std::vector<std::string> sim_flags) {
  ASSERT_NE(StartSim(3, 6, "etl,spark", std::move(sim_flags)), nullptr);
  daemon_ = StartRosterd(std::move(rosterd_flags));
  ASSERT_NE(daemon_, nullptr);
  ASSERT_TRUE(WaitSettled(daemon_, 3, 6));
  ASSERT_OK_AND_ASSIGN(std::vector<SimProcess::Node> nodes, sim_->List());
  for (const SimProcess::Node& node : nodes) {
    if (node.role == "master") masters_.push_back(node.address);
    if (node.role != "worker") continue;
    workers_.push_back(node.address);
    groups_[node.group].push_back(node.address);
    groups_["default"].push_back(node.address);
  }
  ASSERT_EQ(masters_.size(), 3u);
  ASSERT_EQ(workers_.size(), 6u);
  ASSERT_TRUE(std::is_sorted(masters_.begin(), masters_.end()));
  for (auto& [group, members] : groups_) std::sort(members.begin(), members.end());
}

v1::NodeState E2eTest::StateOf(const std::string& address, RosterdProcess* daemon) {
  CallContext context(absl::Seconds(5));
  v1::GetNodeRequest request;
  request.set_address(address);
  v1::GetNodeResponse response;
  const grpc::Status status =
      (daemon != nullptr ? daemon : daemon_)->roster().GetNode(&context, request, &response);
  return status.ok() ? response.node().state() : v1::NODE_STATE_UNSPECIFIED;
}

grpc::Status E2eTest::Slot(const std::string& address, v1::GetMasterSlotResponse* response,
                           RosterdProcess* daemon) {
  CallContext context(absl::Seconds(5));
  v1::GetMasterSlotRequest request;
  request.set_address(address);
  return (daemon != nullptr ? daemon : daemon_)
      ->roster()
      .GetMasterSlot(&context, request, response);
}

grpc::Status E2eTest::Leader(v1::GetLeaderResponse* response, RosterdProcess* daemon) {
  CallContext context(absl::Seconds(5));
  return (daemon != nullptr ? daemon : daemon_)->roster().GetLeader(&context, {}, response);
}

std::unique_ptr<registry::Registry> E2eTest::Observer() {
  registry::RegistryOptions options;
  options.session_timeout = absl::Seconds(10);
  absl::StatusOr<std::unique_ptr<registry::Registry>> observer =
      registry::NewRegistry(RegistryUri(), options);
  EXPECT_TRUE(observer.ok()) << observer.status();
  if (!observer.ok()) return nullptr;
  absl::Status status = (*observer)->Start();
  if (status.ok()) status = (*observer)->WaitConnected(kReactTimeout);
  EXPECT_TRUE(status.ok()) << status;
  if (!status.ok()) return nullptr;
  return *std::move(observer);
}

}  // namespace roster::testing
