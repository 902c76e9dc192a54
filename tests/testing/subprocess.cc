#include "tests/testing/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <map>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

extern char** environ;

namespace roster::testing {
namespace {

// Everything the child needs, prepared before fork(): after it only async-signal-safe calls
// are allowed.
struct ExecPlan {
  std::string program;  // resolved against PATH
  std::vector<std::string> argv_storage;
  std::vector<std::string> env_storage;
  std::vector<char*> argv;
  std::vector<char*> envp;
};

std::string ResolveProgram(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path == nullptr ? "/usr/bin:/bin" : path);
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    std::string candidate = absl::StrCat(dir.empty() ? "." : dir, "/", name);
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return name;  // execve() reports ENOENT
}

ExecPlan MakePlan(const Subprocess::Options& options) {
  ExecPlan plan;
  plan.program = ResolveProgram(options.argv[0]);
  plan.argv_storage = options.argv;
  std::map<std::string, std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const char* eq = std::strchr(*e, '=');
    if (eq == nullptr) continue;
    env[std::string(*e, eq - *e)] = std::string(eq + 1);
  }
  for (const auto& [key, value] : options.env) env[key] = value;
  for (const auto& [key, value] : env) plan.env_storage.push_back(absl::StrCat(key, "=", value));
  for (std::string& arg : plan.argv_storage) plan.argv.push_back(arg.data());
  plan.argv.push_back(nullptr);
  for (std::string& entry : plan.env_storage) plan.envp.push_back(entry.data());
  plan.envp.push_back(nullptr);
  return plan;
}

// In the child: report errno through the pipe and exit.
[[noreturn]] void ChildFail(int pipe_fd, int error) {
  ssize_t ignored = write(pipe_fd, &error, sizeof(error));
  (void)ignored;
  _exit(127);
}

// Closes every descriptor in `fds` that is open.
void CloseAll(std::initializer_list<int> fds) {
  for (int fd : fds) {
    if (fd >= 0) close(fd);
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<Subprocess>> Subprocess::Start(Options options) {
  if (options.argv.empty()) return absl::InvalidArgumentError("Subprocess: empty argv");
  ExecPlan plan = MakePlan(options);

  int log_fd = -1;
  const char* log_path = options.log_path.empty() ? "/dev/null" : options.log_path.c_str();
  log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) {
    return absl::InternalError(
        absl::StrCat("Subprocess: cannot open log '", log_path, "': ", std::strerror(errno)));
  }
  int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  // Every pipe end is close-on-exec: the child's copies are dup2()ed onto 0 and 1, and no
  // other child started meanwhile inherits them (which would hide end-of-file).
  int stdin_pipe[2] = {-1, -1};
  int stdout_pipe[2] = {-1, -1};
  int error_pipe[2] = {-1, -1};
  if ((options.pipe_stdin && pipe2(stdin_pipe, O_CLOEXEC) != 0) ||
      (options.pipe_stdout && pipe2(stdout_pipe, O_CLOEXEC) != 0) ||
      pipe2(error_pipe, O_CLOEXEC) != 0) {
    const int error = errno;
    CloseAll({log_fd, null_fd, stdin_pipe[0], stdin_pipe[1], stdout_pipe[0], stdout_pipe[1],
              error_pipe[0], error_pipe[1]});
    return absl::InternalError(absl::StrCat("Subprocess: pipe2: ", std::strerror(error)));
  }
  // Writing to a child that exited must fail with EPIPE, not kill the test.
  if (options.pipe_stdin) signal(SIGPIPE, SIG_IGN);
  const int child_stdin = options.pipe_stdin ? stdin_pipe[0] : null_fd;
  const int child_stdout = options.pipe_stdout ? stdout_pipe[1] : log_fd;
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    const int error = errno;
    CloseAll({log_fd, null_fd, stdin_pipe[0], stdin_pipe[1], stdout_pipe[0], stdout_pipe[1],
              error_pipe[0], error_pipe[1]});
    return absl::InternalError(absl::StrCat("Subprocess: fork: ", std::strerror(error)));
  }
  if (pid == 0) {
    // The child. Only async-signal-safe calls from here on.
    setpgid(0, 0);
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) ChildFail(error_pipe[1], errno);
    if (getppid() != parent) _exit(126);  // the parent died before prctl()
    // Signals blocked or ignored by the test runner must not leak into the child.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    signal(SIGPIPE, SIG_DFL);
    if (dup2(child_stdin, STDIN_FILENO) < 0 || dup2(child_stdout, STDOUT_FILENO) < 0 ||
        dup2(log_fd, STDERR_FILENO) < 0) {
      ChildFail(error_pipe[1], errno);
    }
    if (!options.working_dir.empty() && chdir(options.working_dir.c_str()) != 0) {
      ChildFail(error_pipe[1], errno);
    }
    execve(plan.program.c_str(), plan.argv.data(), plan.envp.data());
    ChildFail(error_pipe[1], errno);
  }
  CloseAll({log_fd, null_fd, stdin_pipe[0], stdout_pipe[1], error_pipe[1]});
  int child_errno = 0;
  ssize_t n;
  do {
    n = read(error_pipe[0], &child_errno, sizeof(child_errno));
  } while (n < 0 && errno == EINTR);
  close(error_pipe[0]);
  if (n == static_cast<ssize_t>(sizeof(child_errno))) {
    CloseAll({stdin_pipe[1], stdout_pipe[0]});
    int status = 0;
    waitpid(pid, &status, 0);
    return absl::NotFoundError(absl::StrCat("Subprocess: cannot run '", options.argv[0],
                                            "': ", std::strerror(child_errno)));
  }
  return std::unique_ptr<Subprocess>(
      new Subprocess(std::move(options), pid, stdin_pipe[1], stdout_pipe[0]));
}

Subprocess::~Subprocess() {
  CloseStdin();
  if (stdout_fd_ >= 0) close(stdout_fd_);
  if (!Reap()) {
    kill(pid_, SIGKILL);
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
}

bool Subprocess::Reap() {
  if (exited_) return true;
  int status = 0;
  const pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    exited_ = true;
    exit_status_ = status;
  } else if (r < 0 && errno == ECHILD) {
    exited_ = true;  // reaped elsewhere; nothing more to learn
  }
  return exited_;
}

absl::Status Subprocess::Signal(int signal) {
  if (Reap()) {
    return absl::FailedPreconditionError(
        absl::StrCat("process ", pid_, " (", options_.argv[0],
                     ") has exited: ", DescribeExitStatus(exit_status_)));
  }
  if (kill(pid_, signal) != 0) {
    return absl::InternalError(
        absl::StrCat("kill(", pid_, ", ", signal, "): ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::StatusOr<int> Subprocess::Wait(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  absl::Duration backoff = absl::Milliseconds(1);
  while (!Reap()) {
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(absl::StrCat("process ", pid_, " (", options_.argv[0],
                                                      ") still running after ",
                                                      absl::FormatDuration(timeout)));
    }
    absl::SleepFor(std::min(backoff, deadline - absl::Now()));
    backoff = std::min(backoff * 2, absl::Milliseconds(50));
  }
  return exit_status_;
}

bool Subprocess::Running() { return !Reap(); }

absl::StatusOr<int> Subprocess::Terminate(absl::Duration grace) {
  if (Reap()) return exit_status_;
  kill(pid_, SIGTERM);
  kill(pid_, SIGCONT);  // a stopped process cannot act on SIGTERM
  absl::StatusOr<int> status = Wait(grace);
  if (status.ok()) return status;
  return Kill();
}

absl::StatusOr<int> Subprocess::Kill() {
  if (Reap()) return exit_status_;
  kill(pid_, SIGKILL);
  return Wait(absl::Seconds(30));
}

std::string Subprocess::LogTail(size_t max_bytes) const {
  if (options_.log_path.empty()) return "";
  std::ifstream in(options_.log_path, std::ios::binary);
  if (!in) return "";
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string text = buffer.str();
  if (text.size() > max_bytes) text = "..." + text.substr(text.size() - max_bytes);
  return text;
}

absl::Status Subprocess::WriteStdin(absl::string_view data) {
  if (stdin_fd_ < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("process ", pid_, " (", options_.argv[0], "): stdin is not an open pipe"));
  }
  while (!data.empty()) {
    const ssize_t n = write(stdin_fd_, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      return absl::UnavailableError(absl::StrCat("process ", pid_, " (", options_.argv[0],
                                                 "): write to stdin: ", std::strerror(errno)));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

void Subprocess::CloseStdin() {
  if (stdin_fd_ < 0) return;
  close(stdin_fd_);
  stdin_fd_ = -1;
}

absl::Status Subprocess::FillStdout(absl::Time deadline) {
  if (stdout_fd_ < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("process ", pid_, " (", options_.argv[0], "): stdout is not a pipe"));
  }
  while (!stdout_eof_) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      return absl::DeadlineExceededError(
          absl::StrCat("process ", pid_, " (", options_.argv[0], "): no output in time"));
    }
    pollfd fd = {stdout_fd_, POLLIN, 0};
    const int ready =
        poll(&fd, 1,
             static_cast<int>(std::min<int64_t>(
                 absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1))), 1000)));
    if (ready < 0 && errno != EINTR) {
      return absl::InternalError(absl::StrCat("poll: ", std::strerror(errno)));
    }
    if (ready <= 0) continue;
    char buffer[4096];
    const ssize_t n = read(stdout_fd_, buffer, sizeof(buffer));
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) {
      stdout_eof_ = true;
      break;
    }
    stdout_buffer_.append(buffer, static_cast<size_t>(n));
    return absl::OkStatus();
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> Subprocess::ReadLine(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    const size_t newline = stdout_buffer_.find('\n');
    if (newline != std::string::npos) {
      std::string line = stdout_buffer_.substr(0, newline);
      stdout_buffer_.erase(0, newline + 1);
      return line;
    }
    if (stdout_eof_) {
      return absl::OutOfRangeError(absl::StrCat("process ", pid_, " (", options_.argv[0],
                                                "): end of its output; unterminated rest: '",
                                                stdout_buffer_, "'"));
    }
    if (absl::Status status = FillStdout(deadline); !status.ok()) return status;
  }
}

absl::StatusOr<std::string> Subprocess::ReadAll(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!stdout_eof_) {
    if (absl::Status status = FillStdout(deadline); !status.ok()) return status;
  }
  std::string all = std::move(stdout_buffer_);
  stdout_buffer_.clear();
  return all;
}

std::string DescribeExitStatus(int status) {
  if (WIFEXITED(status)) return absl::StrCat("exit code ", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    return absl::StrCat("killed by signal ", WTERMSIG(status), " (", strsignal(WTERMSIG(status)),
                        ")");
  }
  return absl::StrCat("wait status ", status);
}

}  // namespace roster::testing
