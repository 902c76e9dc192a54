// Subprocess: a child process for test fixtures (ZooKeeper servers, rosterd), started
// without a shell, with its stdout and stderr appended to a log file. Optionally its stdin
// and stdout are pipes instead, for children steered by one-line commands (roster-sim) or
// whose output a test checks (rosterctl):
//
//   options.pipe_stdin = options.pipe_stdout = true;  // stderr still goes to log_path
//   ASSERT_OK(child->WriteStdin("list\n"));
//   ASSERT_OK_AND_ASSIGN(std::string line, child->ReadLine(absl::Seconds(10)));
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
#include "absl/strings/string_view.h"
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
    // The child's stdin is a pipe written with WriteStdin() (else /dev/null). Setting it
    // makes this process ignore SIGPIPE, so writing to a child that has exited is an error,
    // not a crash.
    bool pipe_stdin = false;
    // The child's stdout is a pipe read with ReadLine() / ReadAll() (else the log file;
    // stderr always goes to the log file).
    bool pipe_stdout = false;
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

  // With pipe_stdin: writes all of `data` to the child's stdin. FailedPrecondition without
  // the pipe or after CloseStdin(); Unavailable if the child no longer reads (it exited).
  absl::Status WriteStdin(absl::string_view data);
  // With pipe_stdin: closes the child's stdin (it reads end-of-file). Idempotent.
  void CloseStdin();

  // With pipe_stdout: the next line the child writes, without its newline. DeadlineExceeded
  // if no whole line arrives within `timeout`; OutOfRange at end-of-file (the child closed
  // its stdout: it exited), with any unterminated last text in the message.
  absl::StatusOr<std::string> ReadLine(absl::Duration timeout);
  // With pipe_stdout: everything the child writes until it closes its stdout (what ReadLine()
  // has buffered included). DeadlineExceeded if the stdout is still open after `timeout`.
  absl::StatusOr<std::string> ReadAll(absl::Duration timeout);

 private:
  Subprocess(Options options, pid_t pid, int stdin_fd, int stdout_fd)
      : options_(std::move(options)), pid_(pid), stdin_fd_(stdin_fd), stdout_fd_(stdout_fd) {}

  // Reaps the child without blocking; true if it has exited.
  bool Reap();
  // Reads what is available on stdout_fd_ into stdout_buffer_, waiting up to `deadline`.
  // OK once something was read or end-of-file was reached (stdout_eof_).
  absl::Status FillStdout(absl::Time deadline);

  const Options options_;
  const pid_t pid_;
  bool exited_ = false;
  int exit_status_ = 0;
  int stdin_fd_ = -1;   // our end of the child's stdin pipe, or -1
  int stdout_fd_ = -1;  // our end of the child's stdout pipe, or -1
  std::string stdout_buffer_;
  bool stdout_eof_ = false;
};

// How a waitpid() status reads, e.g. "exit code 1" or "killed by signal 9".
std::string DescribeExitStatus(int status);

}  // namespace roster::testing
