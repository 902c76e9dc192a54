// roster-sim: a test and demo tool (not part of the daemon) that plays a DolphinScheduler
// cluster against a registry, for the quickstart, demos, end-to-end and load tests. See
// sim/simulator.h for what it writes and the commands it takes.
//
//   roster-sim --registry=zk://127.0.0.1:2181/dolphinscheduler --masters=3 --workers=8
//   roster-sim --registry=... --masters=50 --workers=10000 --nodes_per_session=1005
//   ready 11 nodes                       <- stdout, once every node is registered
//   busy 127.0.0.1:5681                  <- stdin, one command per line
//   ok busy 127.0.0.1:5681               <- stdout, one answer per command
//
// It exits cleanly (closing every session, so the nodes' znodes vanish) on `quit`, at the end
// of stdin (unless --noexit_on_eof), and on SIGTERM or SIGINT.
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "gflags/gflags.h"
#include "glog/logging.h"
#include "sim/simulator.h"

DEFINE_string(registry, "memory://roster-sim/dolphinscheduler",
              "Registry URI: zk://host:port[,host:port...]/chroot or memory://name/chroot");
DEFINE_int32(masters, 3, "Number of masters");
DEFINE_int32(workers, 8, "Number of workers");
DEFINE_int32(alert_servers, 0, "Number of alert servers");
DEFINE_string(groups, "etl,spark,default",
              "Worker groups, assigned round-robin: the registry path (2.0 - 3.1.0), the "
              "--worker_group_db_uri table (3.1.1+), or the heartbeat's workerGroup (roster)");
DEFINE_string(busy, "",
              "Nodes that start BUSY: addresses or indices (masters first), comma-separated");
DEFINE_string(dolphinscheduler_version, "3.3",
              "The DolphinScheduler release whose registry layout and heartbeats to write: "
              "2.0, 3.0, 3.1.0, 3.1, 3.2.0, 3.2.1, 3.2.2, 3.2, 3.3; or roster (3.3's JSON with "
              "roster's workerGroup field)");
DEFINE_string(worker_group_db_uri, "",
              "DolphinScheduler's database to write the worker groups to (t_ds_worker_group): "
              "postgresql://user@host:port/db or mysql://user@host:port/db");
DEFINE_string(worker_group_db_password_file, "",
              "File holding the --worker_group_db_uri password (first line)");
DEFINE_bool(coordinator, true, "The first master creates the coordinator znode (the leader)");
DEFINE_string(host, "127.0.0.1", "Host part of every node's address");
DEFINE_int32(base_port, 5678, "Port of the first master; every node gets the next port");
DEFINE_string(digest_file, "", "File with ZooKeeper digest credentials (user:password)");
DEFINE_bool(create_parents, true, "Create the chroot and /nodes/... directories when missing");
DEFINE_int32(nodes_per_session, 1,
             "Nodes sharing one registry session, in blocks (masters first). 1: a session per "
             "node, as DolphinScheduler does; more for thousands of nodes (kill then deletes "
             "the node's znodes and its session stays)");
DEFINE_int32(heartbeat_interval_ms, 1000, "Heartbeat interval of every node");
DEFINE_int32(session_timeout_ms, 30000, "Registry session timeout");
DEFINE_int32(connect_timeout_ms, 30000, "How long to wait for each session to connect");
DEFINE_bool(exit_on_eof, true,
            "Exit at the end of stdin. Turn off to run in the background with stdin closed");

namespace {

bool Positive(const char* flag, int32_t value) {
  if (value > 0) return true;
  std::cerr << "--" << flag << " must be positive, not " << value << std::endl;
  return false;
}
bool NotNegative(const char* flag, int32_t value) {
  if (value >= 0) return true;
  std::cerr << "--" << flag << " must not be negative, not " << value << std::endl;
  return false;
}
bool ValidPort(const char* flag, int32_t value) {
  if (value >= 1 && value <= 65535) return true;
  std::cerr << "--" << flag << " must be in [1, 65535], not " << value << std::endl;
  return false;
}

DEFINE_validator(masters, &NotNegative);
DEFINE_validator(workers, &NotNegative);
DEFINE_validator(alert_servers, &NotNegative);
DEFINE_validator(base_port, &ValidPort);
DEFINE_validator(heartbeat_interval_ms, &Positive);
DEFINE_validator(nodes_per_session, &Positive);
DEFINE_validator(session_timeout_ms, &Positive);
DEFINE_validator(connect_timeout_ms, &Positive);

std::vector<std::string> SplitList(const std::string& text) {
  std::vector<std::string> out;
  for (absl::string_view item : absl::StrSplit(text, ',')) {
    item = absl::StripAsciiWhitespace(item);
    if (!item.empty()) out.emplace_back(item);
  }
  return out;
}

roster::sim::SimulatorOptions OptionsFromFlags() {
  roster::sim::SimulatorOptions options;
  options.registry_uri = FLAGS_registry;
  options.masters = FLAGS_masters;
  options.workers = FLAGS_workers;
  options.alert_servers = FLAGS_alert_servers;
  options.groups = SplitList(FLAGS_groups);
  options.busy = SplitList(FLAGS_busy);
  options.dolphinscheduler_version = FLAGS_dolphinscheduler_version;
  options.worker_group_db_uri = FLAGS_worker_group_db_uri;
  options.worker_group_db_password_file = FLAGS_worker_group_db_password_file;
  options.coordinator = FLAGS_coordinator;
  options.host = FLAGS_host;
  options.base_port = FLAGS_base_port;
  options.digest_file = FLAGS_digest_file;
  options.create_parents = FLAGS_create_parents;
  options.nodes_per_session = FLAGS_nodes_per_session;
  options.heartbeat_interval = absl::Milliseconds(FLAGS_heartbeat_interval_ms);
  options.session_timeout = absl::Milliseconds(FLAGS_session_timeout_ms);
  options.connect_timeout = absl::Milliseconds(FLAGS_connect_timeout_ms);
  return options;
}

// Reads commands from stdin and answers them until `quit`, the end of stdin, or a signal on
// `signal_fd`. One thread, no blocking read: poll() watches both.
void ServeCommands(roster::sim::Simulator* sim, int signal_fd) {
  std::string pending;
  bool stdin_open = true;
  while (true) {
    pollfd fds[2] = {{signal_fd, POLLIN, 0}, {STDIN_FILENO, POLLIN, 0}};
    const int n = poll(fds, stdin_open ? 2 : 1, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      PLOG(ERROR) << "poll";
      return;
    }
    if (fds[0].revents & POLLIN) {
      signalfd_siginfo info;
      if (read(signal_fd, &info, sizeof(info)) == sizeof(info)) {
        LOG(INFO) << "signal " << strsignal(static_cast<int>(info.ssi_signo)) << ": exiting";
      }
      return;
    }
    if (!stdin_open || (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
    char buffer[4096];
    const ssize_t got = read(STDIN_FILENO, buffer, sizeof(buffer));
    if (got < 0 && errno == EINTR) continue;
    const bool eof = got <= 0;
    if (!eof) pending.append(buffer, static_cast<size_t>(got));
    if (eof && !pending.empty()) pending += '\n';  // a last line without a newline
    size_t newline;
    while ((newline = pending.find('\n')) != std::string::npos) {
      const std::string line(absl::StripAsciiWhitespace(pending.substr(0, newline)));
      pending.erase(0, newline + 1);
      if (line.empty()) continue;
      if (line == "quit") {
        std::cout << "ok bye" << std::endl;
        return;
      }
      std::cout << sim->Execute(line) << std::endl;
    }
    if (eof) {
      if (FLAGS_exit_on_eof) return;
      stdin_open = false;  // keep running until a signal
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  gflags::SetUsageMessage(
      "roster-sim [flags]: registers simulated DolphinScheduler masters and workers in a "
      "registry and heartbeats for them (a test/demo tool). Commands on stdin: busy, normal, "
      "stop, resume, kill, start, bad, leader ADDR; group NAME ADDR[,ADDR]; list; quit.");
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  FLAGS_logtostderr = true;
  google::InitGoogleLogging(argv[0]);
  if (argc > 1) {
    std::cerr << "roster-sim: unexpected argument '" << argv[1] << "' (see --help)" << std::endl;
    return 2;
  }

  // Signals are read from a signalfd by the command loop. Block them before any thread starts,
  // so every thread inherits the mask and none is interrupted.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  const int signal_fd = signalfd(-1, &signals, SFD_CLOEXEC);
  PCHECK(signal_fd >= 0) << "signalfd";

  roster::sim::Simulator sim(OptionsFromFlags());
  absl::Status started = sim.Start();
  if (!started.ok()) {
    std::cout << "error " << started.message() << std::endl;
    LOG(ERROR) << "roster-sim: " << started;
    return 1;
  }
  std::cout << "ready " << sim.node_count() << " nodes" << std::endl;
  ServeCommands(&sim, signal_fd);
  sim.Shutdown();
  close(signal_fd);
  return 0;
}
