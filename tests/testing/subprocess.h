// Subprocess: a child process for test fixtures (ZooKeeper servers, rosterd), started
// without a shell, with its stdout and stderr appended to a log file.
//
//   Subprocess::Options options;
//   options.argv = {"/usr/bin/java", "-version"};
//   options.log_path = dir + "/java.log";
//   ASSIGN_OR_RETURN(auto child, Subprocess::Start(std::move(options)));
//   RETURN_IF_ERROR(child->Signal(SIGSTOP));
//   ASSIGN_OR_RETURN(int status, child->Wait(absl::Seconds(10)));
//
// The child gets its own process group and is killed (SIGKILL) when the Subprocess is
// destroyed, and also if the test process dies first (PR_SET_PDEATHSIG), so a crashed test
// leaves no stray servers behind. The death signal is tied to the thread that started the
// child: start long-lived children from the test's main thread.
//
// Thread-safety: thread-compatible (use one Subprocess from one thread at a time).
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace roster::testing {

class Subprocess {
 public:
  struct Options {
    // argv[0] is the program: an absolute path, or a name looked up in PATH.
    std::vector<std::string> argv;
    // Added to (or replacing in) the parent's environment.
    std::vector<std::pair<std::string, std::string>> env;
    // stdout and stderr are appended here; empty: /dev/null.
    std::string log_path;
    // The child's working directory; empty: the parent's.
    std::string working_dir;
  };

  // Spawns the child. InvalidArgument for an empty argv, NotFound if the program cannot be
  // executed, Internal for a failed fork or an unopenable log file.
  static absl::StatusOr<std::unique_ptr<Subprocess>> Start(Options options);

  // Kills the child (SIGKILL) and reaps it, if it is still running.
  ~Subprocess();

  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  pid_t pid() const { return pid_; }
  const std::string& log_path() const { return options_.log_path; }

  // Sends `signal` (SIGSTOP, SIGCONT, SIGTERM, SIGKILL, ...) to the child.
  // FailedPrecondition once it has exited.
  absl::Status Signal(int signal);

  // Waits for the child to exit and returns its waitpid() status (use WIFEXITED etc.), or
  // DeadlineExceeded if it is still running after `timeout`.
  absl::StatusOr<int> Wait(absl::Duration timeout);

  // True until the child has exited (reaps it if it has).
  bool Running();

  // SIGTERM, then SIGKILL if it has not exited after `grace`; waits for the exit.
  absl::StatusOr<int> Terminate(absl::Duration grace);

  // SIGKILL and wait. (A stopped child dies too.)
  absl::StatusOr<int> Kill();

  // The last `max_bytes` of the log file, for error messages.
  std::string LogTail(size_t max_bytes = 4096) const;

 private:
  Subprocess(Options options, pid_t pid) : options_(std::move(options)), pid_(pid) {}

  // Reaps the child without blocking; true if it has exited.
  bool Reap();

  const Options options_;
  const pid_t pid_;
  bool exited_ = false;
  int exit_status_ = 0;
};

// How a waitpid() status reads, e.g. "exit code 1" or "killed by signal 9".
std::string DescribeExitStatus(int status);

}  // namespace roster::testing
