#include "tests/testing/subprocess.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
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
  int error_pipe[2];
  if (pipe2(error_pipe, O_CLOEXEC) != 0) {
    close(log_fd);
    close(null_fd);
    return absl::InternalError(absl::StrCat("Subprocess: pipe2: ", std::strerror(errno)));
  }
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    const int error = errno;
    close(log_fd);
    close(null_fd);
    close(error_pipe[0]);
    close(error_pipe[1]);
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
    if (dup2(null_fd, STDIN_FILENO) < 0 || dup2(log_fd, STDOUT_FILENO) < 0 ||
        dup2(log_fd, STDERR_FILENO) < 0) {
      ChildFail(error_pipe[1], errno);
    }
    if (!options.working_dir.empty() && chdir(options.working_dir.c_str()) != 0) {
      ChildFail(error_pipe[1], errno);
    }
    execve(plan.program.c_str(), plan.argv.data(), plan.envp.data());
    ChildFail(error_pipe[1], errno);
  }
  close(log_fd);
  close(null_fd);
  close(error_pipe[1]);
  int child_errno = 0;
  ssize_t n;
  do {
    n = read(error_pipe[0], &child_errno, sizeof(child_errno));
  } while (n < 0 && errno == EINTR);
  close(error_pipe[0]);
  if (n == static_cast<ssize_t>(sizeof(child_errno))) {
    int status = 0;
    waitpid(pid, &status, 0);
    return absl::NotFoundError(absl::StrCat("Subprocess: cannot run '", options.argv[0],
                                            "': ", std::strerror(child_errno)));
  }
  return std::unique_ptr<Subprocess>(new Subprocess(std::move(options), pid));
}

Subprocess::~Subprocess() {
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

std::string DescribeExitStatus(int status) {
  if (WIFEXITED(status)) return absl::StrCat("exit code ", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    return absl::StrCat("killed by signal ", WTERMSIG(status), " (", strsignal(WTERMSIG(status)),
                        ")");
  }
  return absl::StrCat("wait status ", status);
}

}  // namespace roster::testing
