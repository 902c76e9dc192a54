// grpc_bench: rosterd's lookups over gRPC on loopback, measured against the empty RPC
// (roster.v1.Roster/Ping) on the same server in the same run. A plain load generator, not
// Google Benchmark and not a ctest test. Build Release, then:
//
//   <build>/tests/bench/grpc_bench [--server=process|inprocess] [--seconds=3] [--rounds=2]
//       [--concurrency=32] [--channels=4] [--workers=100] [--groups=4] [--masters=3]
//
// The server: by default the real rosterd binary as a child process on a memory:// registry
// (--server=process), so client and server are separate processes sharing the machine, as a
// scheduler master and its rosterd sidecar do. --server=inprocess runs a server::Daemon in
// this process instead (one process to profile). Either way the cluster is registered the
// way a sidecar client does it, through roster.v1.Registration: --masters masters and
// --workers workers, worker i in group "g<i % groups>" (every worker is also in "default"),
// and with --heartbeats each node heartbeats every --heartbeat_interval_ms during the run,
// so the daemon publishes new views while it answers, as it does in production.
//
// The load: --channels channels (each its own TCP connection), --concurrency calls kept in
// flight across them with the callback API; each finished call immediately starts the next.
// Every call carries a deadline, as real clients' calls do. Per method, per round:
//   Ping            the empty call: the cost of gRPC itself on this machine
//   GetWorkerGroup  name=g1 (about workers/groups members, each a full Node), its first page
//                   of --page_size workers (default 10000: the whole group)
//   GetWorkerGroup/B the same in the BASIC view (address, state, groups, drained)
//   SelectWorker    group=g1, --strategy, no explain
//   SelectWorker/B  the same in the BASIC view (what a dispatcher needs of the worker)
//   Ping/Select, Ping/Select/B  Ping answering as many bytes as SelectWorker, FULL and BASIC
//                   (PingRequest.response_bytes): what carrying the answer alone costs
// then the same one call at a time (closed loop: pure latency). Rounds interleave the
// methods so that drift (other load on the machine) spreads over all of them.
//
// Printed per method: calls/s (all rounds; and the slowest..fastest round), latency
// p50/p99/p99.9, the response size, and CPU time per call: "client us" is this process
// (getrusage), "rosterd us" the child's, all threads (/proc/PID/stat, 10 ms ticks); with
// --server=inprocess "proc us" is both together. Then each lookup as a multiple of Ping, and
// the goal: a lookup costs at most 1.3x the empty call (Ping calls/s / lookup calls/s), and
// at least 30,000 lookups/s with the client on the same machine. The load average is printed
// before and after: on a shared machine, compare ratios within one run, not absolute numbers
// across runs. Exits 1 if any call failed.
#include <gflags/gflags.h>
#include <glog/logging.h>
#include <grpcpp/grpcpp.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "roster/v1/roster.grpc.pb.h"
#include "server/daemon.h"
#include "tests/bench/grpc_load.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"

DEFINE_string(server, "process",
              "process: run the rosterd binary (--rosterd) as a child process; inprocess: a "
              "server::Daemon in this process.");
DEFINE_string(rosterd, ROSTERD_PATH, "The rosterd binary for --server=process.");
DEFINE_double(seconds, 3, "Measured seconds per method, per round, per section.");
DEFINE_double(warmup_seconds, 1, "Unmeasured seconds per method before the first round.");
DEFINE_int32(rounds, 2, "Rounds; each measures every method once, in turn.");
DEFINE_int32(concurrency, 32, "Calls in flight in the throughput section.");
DEFINE_int32(channels, 4, "Client channels, each its own TCP connection.");
DEFINE_bool(closed_loop, true, "Also measure one call at a time (latency without queueing).");
DEFINE_int32(masters, 3, "Masters registered.");
DEFINE_int32(workers, 100, "Workers registered.");
DEFINE_int32(groups, 4, "Worker groups g0..g<N-1>; worker i is in g<i % groups>.");
DEFINE_string(strategy, "ROUND_ROBIN", "SelectWorker's strategy (a roster.v1.SelectionStrategy).");
DEFINE_bool(heartbeats, true,
            "Heartbeat every node every --heartbeat_interval_ms during the run (each heartbeat "
            "publishes a new view).");
DEFINE_int32(page_size, 10000,
             "GetWorkerGroup's page_size (the first page is fetched): 10000, the most a page "
             "holds, is the whole group up to 10000 workers.");
DEFINE_int64(heartbeat_interval_ms, 10000, "The nodes' heartbeat interval, also given to rosterd.");

namespace roster::bench {
namespace {

// ---- The cluster --------------------------------------------------------------------------

std::string MasterAddress(int i) { return absl::StrCat("10.0.0.", 10 + i, ":5678"); }
std::string WorkerAddress(int i) {
  return absl::StrCat("10.1.", i / 200, ".", i % 200 + 1, ":1234");
}
std::string GroupName(int i) { return absl::StrCat("g", i); }
int GroupSize(int group) {
  int size = 0;
  for (int i = 0; i < FLAGS_workers; ++i) size += i % FLAGS_groups == group;
  return size;
}

struct NodeSpec {
  v1::NodeRole role;
  std::string address;
  v1::Heartbeat heartbeat;
  std::string lease_id;  // set by RegisterCluster
};

std::vector<NodeSpec> ClusterNodes() {
  std::vector<NodeSpec> nodes;
  for (int i = 0; i < FLAGS_masters + FLAGS_workers; ++i) {
    const bool master = i < FLAGS_masters;
    NodeSpec node;
    node.role = master ? v1::MASTER : v1::WORKER;
    node.address = master ? MasterAddress(i) : WorkerAddress(i - FLAGS_masters);
    node.heartbeat.set_server_status(v1::Heartbeat::NORMAL);
    node.heartbeat.set_process_id(20000 + i);
    node.heartbeat.set_startup_time_ms(1729238400123);
    node.heartbeat.set_cpu_usage(0.05 + 0.5 * (i % 7) / 7);
    node.heartbeat.set_memory_usage(0.2 + 0.5 * (i % 5) / 5);
    node.heartbeat.set_jvm_cpu_usage(0.03);
    node.heartbeat.set_jvm_memory_usage(0.29);
    if (!master) {
      node.heartbeat.set_thread_pool_usage(0.1 * (i % 3));
      node.heartbeat.set_host_weight(100);
      node.heartbeat.set_worker_group(GroupName((i - FLAGS_masters) % FLAGS_groups));
    }
    nodes.push_back(std::move(node));
  }
  return nodes;
}

void RegisterCluster(const std::shared_ptr<grpc::Channel>& channel, std::vector<NodeSpec>& nodes) {
  auto registration = v1::Registration::NewStub(channel);
  for (NodeSpec& node : nodes) {
    v1::RegisterNodeRequest request;
    request.set_role(node.role);
    request.set_address(node.address);
    *request.mutable_heartbeat() = node.heartbeat;
    request.mutable_lease()->set_seconds(600);  // the longest allowed; heartbeats renew it
    v1::RegisterNodeResponse response;
    const grpc::Status status = registration->RegisterNode(CallContext().get(), request, &response);
    CHECK(status.ok()) << "RegisterNode " << node.address << ": " << status.error_message();
    node.lease_id = response.lease_id();
  }
  // Until every worker is selectable: the daemon applies registrations asynchronously.
  auto roster = v1::Roster::NewStub(channel);
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  for (;;) {
    v1::GetWorkerGroupRequest request;
    request.set_name("default");
    request.set_page_size(1);  // the group's counts are on every page
    v1::GetWorkerGroupResponse response;
    const grpc::Status status = roster->GetWorkerGroup(CallContext().get(), request, &response);
    if (status.ok() && response.group().selectable() == FLAGS_workers) return;
    CHECK(absl::Now() < deadline) << "workers not all RUNNING after 30s: "
                                  << (status.ok() ? absl::StrCat(response.group().selectable())
                                                  : status.error_message());
    absl::SleepFor(absl::Milliseconds(20));
  }
}

// Heartbeats every node once per interval, spread evenly over it, on its own thread. Each
// heartbeat is due at a fixed time and sent asynchronously, at most kMaxInFlight at once, so
// the pace holds while the lookups load the machine: a heartbeater that waited for each answer
// fell behind at 10,000 workers (a heartbeat every 0.1 ms), its nodes went FAULT, and the run
// measured self-preservation's bookkeeping instead of the lookups.
class Heartbeater {
 public:
  static constexpr int kMaxInFlight = 64;

  Heartbeater(std::shared_ptr<grpc::Channel> channel, std::vector<NodeSpec> nodes)
      : stub_(v1::Registration::NewStub(channel)), nodes_(std::move(nodes)) {
    thread_ = std::thread([this] { Loop(); });
  }
  ~Heartbeater() {
    stop_.Notify();
    thread_.join();
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](int* in_flight) { return *in_flight == 0; }, &in_flight_));
  }
  int64_t sent() const { return sent_.load(); }
  // Heartbeats that were due and not sent because kMaxInFlight were unanswered.
  int64_t skipped() const { return skipped_.load(); }

 private:
  struct Call {
    grpc::ClientContext context;
    v1::HeartbeatRequest request;
    v1::HeartbeatResponse response;
  };

  void Loop() {
    const absl::Duration gap =
        absl::Milliseconds(FLAGS_heartbeat_interval_ms) / static_cast<int64_t>(nodes_.size());
    absl::Time due = absl::Now();
    for (size_t i = 0;; i = (i + 1) % nodes_.size()) {
      due += gap;
      if (stop_.WaitForNotificationWithDeadline(due)) return;
      {
        absl::MutexLock lock(&mu_);
        if (in_flight_ >= kMaxInFlight) {
          skipped_.fetch_add(1);
          continue;
        }
        ++in_flight_;
      }
      auto* call = new Call;
      call->context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
      call->request.set_address(nodes_[i].address);
      *call->request.mutable_heartbeat() = nodes_[i].heartbeat;
      call->request.set_lease_id(nodes_[i].lease_id);
      stub_->async()->Heartbeat(&call->context, &call->request, &call->response,
                                [this, call](const grpc::Status& status) {
                                  LOG_IF(WARNING, !status.ok())
                                      << "heartbeat " << call->request.address() << ": "
                                      << status.error_message();
                                  delete call;
                                  sent_.fetch_add(1);
                                  absl::MutexLock lock(&mu_);
                                  --in_flight_;
                                });
    }
  }

  std::unique_ptr<v1::Registration::Stub> stub_;
  const std::vector<NodeSpec> nodes_;
  absl::Notification stop_;
  std::atomic<int64_t> sent_{0};
  std::atomic<int64_t> skipped_{0};
  absl::Mutex mu_;
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread thread_;
};

// ---- The server ---------------------------------------------------------------------------

// rosterd, in one of the two ways; `address()` once started.
class Server {
 public:
  void Start() {
    const int64_t liveness_ms = FLAGS_heartbeats ? FLAGS_heartbeat_interval_ms : 3600000;
    if (FLAGS_server == "inprocess") {
      server::DaemonOptions options;
      options.registry = "memory://grpc_bench";
      options.listen = "127.0.0.1:0";
      options.allow_loopback_writes = true;  // the bench registers its nodes over loopback
      options.metrics_listen = "";
      options.heartbeat_interval_ms = liveness_ms;
      daemon_ = std::make_unique<server::Daemon>(options);
      const absl::Status status = daemon_->Start();
      CHECK(status.ok()) << status;
      address_ = daemon_->address();
      return;
    }
    CHECK_EQ(FLAGS_server, "process") << "--server: process or inprocess";
    dir_ = std::make_unique<testing::TempDir>("grpc_bench");
    const std::string port_file = dir_->Child("port");
    testing::Subprocess::Options options;
    options.argv = {
        FLAGS_rosterd, "--registry=memory://", "--listen=127.0.0.1:0",
        "--metrics_listen=", "--port_file=" + port_file, "--allow_loopback_writes",
        absl::StrCat("--heartbeat_interval_ms=", liveness_ms),
        // Every node is registered by this one client.
        absl::StrCat("--max_registrations=", FLAGS_masters + FLAGS_workers),
        absl::StrCat("--max_registrations_per_identity=", FLAGS_masters + FLAGS_workers)};
    options.log_path = dir_->Child("rosterd.log");
    absl::StatusOr<std::unique_ptr<testing::Subprocess>> child =
        testing::Subprocess::Start(options);
    CHECK(child.ok()) << child.status();
    child_ = *std::move(child);
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    int port = 0;
    while ((std::ifstream(port_file) >> port, port) <= 0) {
      CHECK(child_->Running()) << "rosterd exited:\n" << child_->LogTail();
      CHECK(absl::Now() < deadline) << "rosterd wrote no port file in 30s:\n" << child_->LogTail();
      absl::SleepFor(absl::Milliseconds(10));
    }
    address_ = absl::StrCat("127.0.0.1:", port);
  }

  void Stop() {
    if (daemon_ != nullptr) daemon_->Shutdown();
    if (child_ != nullptr) {
      absl::StatusOr<int> status = child_->Terminate(absl::Seconds(10));
      LOG_IF(WARNING, !status.ok()) << "rosterd: " << status.status();
    }
  }

  const std::string& address() const { return address_; }
  pid_t pid() const { return child_ != nullptr ? child_->pid() : 0; }
  bool in_process() const { return daemon_ != nullptr; }

 private:
  std::unique_ptr<server::Daemon> daemon_;
  std::unique_ptr<testing::TempDir> dir_;
  std::unique_ptr<testing::Subprocess> child_;
  std::string address_;
};

int Main() {
  CHECK_GT(FLAGS_groups, 1) << "--groups: the lookups ask for g1";
  CHECK_GE(FLAGS_workers, FLAGS_groups);
  CHECK_GT(FLAGS_concurrency, 0);
  CHECK_GT(FLAGS_channels, 0);
  CHECK_GT(FLAGS_rounds, 0);

  Server server;
  server.Start();
  std::vector<NodeSpec> nodes = ClusterNodes();
  std::shared_ptr<grpc::Channel> setup = NewChannel(server.address(), -1);
  RegisterCluster(setup, nodes);
  std::unique_ptr<Heartbeater> heartbeater;
  if (FLAGS_heartbeats) heartbeater = std::make_unique<Heartbeater>(setup, nodes);

  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::vector<std::unique_ptr<Stub>> owned;
  std::vector<Stub*> stubs;
  for (int i = 0; i < FLAGS_channels; ++i) {
    channels.push_back(NewChannel(server.address(), i));
    owned.push_back(v1::Roster::NewStub(channels.back()));
    stubs.push_back(owned.back().get());
  }

  std::printf("grpc_bench: rosterd %s on %s, %u cores\n",
              server.in_process()
                  ? "in this process (server::Daemon)"
                  : absl::StrCat("as a child process (pid ", server.pid(), ")").c_str(),
              server.address().c_str(), std::thread::hardware_concurrency());
  std::printf(
      "cluster: %d masters, %d workers in %d groups (+default); lookups ask for g1 "
      "(%d workers); SelectWorker %s; heartbeats %s\n",
      FLAGS_masters, FLAGS_workers, FLAGS_groups, GroupSize(1), FLAGS_strategy.c_str(),
      FLAGS_heartbeats ? absl::StrCat("every ", FLAGS_heartbeat_interval_ms, " ms per node").c_str()
                       : "off");
  std::printf("per method: %d rounds x %.1f s measured (+%.1f s warm-up), callback API\n",
              FLAGS_rounds, FLAGS_seconds, FLAGS_warmup_seconds);
  std::printf("load average before: %s\n", LoadAverage().c_str());

  const pid_t pid = server.pid();
  bool errors = false;
  LoadOptions load;
  load.seconds = FLAGS_seconds;
  load.warmup_seconds = FLAGS_warmup_seconds;
  load.rounds = FLAGS_rounds;
  load.page_size = FLAGS_page_size;
  CHECK(v1::SelectionStrategy_Parse(FLAGS_strategy, &load.strategy))
      << "--strategy=" << FLAGS_strategy << ": not a roster.v1.SelectionStrategy";
  const std::vector<Result> throughput = RunSection(stubs, FLAGS_concurrency, pid, load);
  PrintSection(absl::StrCat("Throughput: ", FLAGS_concurrency, " calls in flight over ",
                            FLAGS_channels, " channels"),
               throughput, server.in_process());
  for (const Result& r : throughput) errors |= r.errors > 0;
  if (FLAGS_closed_loop) {
    const std::vector<Result> latency = RunSection({stubs[0]}, 1, pid, load);
    PrintSection("Latency: 1 call in flight (closed loop)", latency, server.in_process());
    for (const Result& r : latency) errors |= r.errors > 0;
  }

  std::printf(
      "\nGoal: a lookup costs at most 1.30x Ping (ping calls/s / lookup calls/s), and "
      ">= 30000 lookups/s\n");
  for (size_t m = 1; m < throughput.size(); ++m) {
    const double ratio = throughput[0].qps() / throughput[m].qps();
    const bool ok = ratio <= 1.3 && throughput[m].qps() >= 30000;
    const bool baseline =
        kMethods[m] == Method::kPingAsSelect || kMethods[m] == Method::kPingAsSelectBasic;
    std::printf("  %-15s %.2fx, %.0f calls/s: %s\n", Name(kMethods[m]), ratio, throughput[m].qps(),
                baseline ? "a baseline (Ping answering SelectWorker's bytes)"
                : ok     ? "met"
                         : "MISSED");
  }
  if (heartbeater != nullptr) {
    std::printf("heartbeats sent during the run: %" PRId64 " (%" PRId64
                " skipped: %d unanswered)\n",
                heartbeater->sent(), heartbeater->skipped(), Heartbeater::kMaxInFlight);
  }
  std::printf("load average after: %s\n", LoadAverage().c_str());
  heartbeater.reset();
  stubs.clear();
  owned.clear();
  channels.clear();
  setup.reset();
  server.Stop();
  return errors ? 1 : 0;
}

}  // namespace
}  // namespace roster::bench

int main(int argc, char** argv) {
  // Debian's Abseil is built with deadlock detection on every absl::Mutex lock (~35 ns):
  // rosterd turns it off, and so does the client here (gRPC's locks are absl::Mutex too).
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  FLAGS_logtostderr = true;
  gflags::SetUsageMessage(
      "grpc_bench [--server=process|inprocess] [--seconds=3] [--rounds=2] [--concurrency=32] "
      "[--channels=4]\nrosterd's lookups over gRPC on loopback against the empty call (Ping).");
  gflags::ParseCommandLineFlags(&argc, &argv, /*remove_flags=*/true);
  google::InitGoogleLogging(argv[0]);
  return roster::bench::Main();
}
