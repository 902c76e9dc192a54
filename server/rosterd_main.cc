// rosterd: the roster cluster-membership daemon. See docs/architecture.md and `rosterd --help`.
#include <gflags/gflags.h>
#include <glog/logging.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "roster_version.h"
#include "server/daemon.h"
#include "server/flags.h"
#include "util/heap.h"

int main(int argc, char** argv) {
  // Debian's Abseil checks every absl::Mutex acquisition for lock-order cycles (~35 ns a lock,
  // on every RPC's path); rosterd's lock order is fixed by design, so skip the check.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  // tcmalloc by default (cmake/RosterAllocator.cmake; docs/scale.md, "The allocator").
  const bool tcmalloc = std::strcmp(roster::HeapAllocatorName(), "tcmalloc") == 0;
#ifdef __GLIBC__
  // On glibc's malloc (a build without tcmalloc), each thread that allocates gets an arena of
  // its own, up to 8 per core. rosterd's allocations come from a few threads taking turns (a
  // heartbeat is handled on the C client's thread or on an executor's, util/executor.h), and
  // nodes and views freed on one thread while allocated on another fragment many arenas: 101
  // MiB RSS at 10,050 nodes, 93 MiB with two arenas, same run length (docs/scale.md, "How the
  // rows moved"). MALLOC_ARENA_MAX in the environment still decides.
  if (!tcmalloc && std::getenv("MALLOC_ARENA_MAX") == nullptr) mallopt(M_ARENA_MAX, 2);
#endif
  // Before any thread exists, so that every thread inherits the mask and only RunDaemon's
  // sigwait() receives SIGTERM/SIGINT.
  roster::server::BlockTerminationSignals();
  FLAGS_logtostderr = true;  // a daemon under a supervisor; --logtostderr=false restores files
  gflags::SetUsageMessage(
      "rosterd --registry=zk://127.0.0.1:2181/dolphinscheduler --listen=127.0.0.1:9090\n"
      "Serves a consistent, versioned view of a DolphinScheduler cluster over gRPC.");
  gflags::SetVersionString(ROSTER_VERSION_STRING);         // `rosterd --version`
  const std::vector<std::string> args(argv, argv + argc);  // before gflags removes its flags
  gflags::ParseCommandLineFlags(&argc, &argv, /*remove_flags=*/true);
  google::InitGoogleLogging(argv[0]);
  google::InstallFailureSignalHandler();

  if (absl::Status status = roster::server::CheckFlagfiles(args); !status.ok()) {
    std::cerr << "rosterd: " << status.message() << std::endl;
    return 2;
  }

  absl::StatusOr<roster::server::DaemonOptions> options = roster::server::DaemonOptionsFromFlags();
  if (!options.ok()) {
    std::cerr << "rosterd: " << options.status().message() << std::endl;
    return 2;
  }
  LOG(INFO) << "open file limit " << roster::server::RaiseOpenFileLimit() << "; allocator "
            << roster::HeapAllocatorName();
  if (absl::Status status = roster::server::RunDaemon(*options); !status.ok()) {
    std::cerr << "rosterd: " << status.message() << std::endl;
    return 1;
  }
  return 0;
}
