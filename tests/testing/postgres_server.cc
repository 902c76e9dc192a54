#include "tests/testing/postgres_server.h"

#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "glog/logging.h"
#include "tests/testing/ports.h"

namespace roster::testing {
namespace {

constexpr int kStartAttempts = 3;

// PostgreSQL refuses to run as root: as root, programs run as `postgres` through setpriv
// (which execs, so the server is our child and dies with the test: --pdeathsig).
std::vector<std::string> AsPostgres(std::vector<std::string> argv) {
  if (geteuid() != 0) return argv;
  std::vector<std::string> wrapped = {
      "setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--pdeathsig", "SIGKILL",
      "--"};
  wrapped.insert(wrapped.end(), argv.begin(), argv.end());
  return wrapped;
}

// As root, hands `path` (recursively) to the postgres user.
void GiveToPostgres(const std::string& path) {
  if (geteuid() != 0) return;
  const passwd* user = getpwnam("postgres");
  CHECK(user != nullptr) << "no 'postgres' user: install Debian's postgresql package";
  CHECK_EQ(chown(path.c_str(), user->pw_uid, user->pw_gid), 0) << path;
  std::error_code error;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(path, error)) {
    CHECK_EQ(lchown(entry.path().c_str(), user->pw_uid, user->pw_gid), 0) << entry.path();
  }
}

// Runs a short-lived program to its end; Internal with its log if it fails.
absl::Status RunToEnd(std::vector<std::string> argv, const std::string& log_path,
                      absl::Duration timeout) {
  Subprocess::Options options;
  options.argv = std::move(argv);
  options.log_path = log_path;
  absl::StatusOr<std::unique_ptr<Subprocess>> child = Subprocess::Start(std::move(options));
  if (!child.ok()) return child.status();
  absl::StatusOr<int> status = (*child)->Wait(timeout);
  if (!status.ok()) return status.status();
  if (!WIFEXITED(*status) || WEXITSTATUS(*status) != 0) {
    return absl::InternalError(absl::StrCat((*child)->log_path(), ": ", DescribeExitStatus(*status),
                                            ":\n", (*child)->LogTail(2000)));
  }
  return absl::OkStatus();
}

std::string ReadFile(const std::string& path);

// The processes whose parent is `parent`, from /proc.
std::vector<pid_t> ChildrenOf(pid_t parent) {
  std::vector<pid_t> children;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", error)) {
    pid_t pid = 0;
    if (!absl::SimpleAtoi(entry.path().filename().string(), &pid)) continue;
    // "<pid> (<comm>) <state> <ppid> ...": the command may contain spaces and parentheses.
    const std::string stat = ReadFile(absl::StrCat("/proc/", pid, "/stat"));
    const size_t close = stat.rfind(')');
    if (close == std::string::npos) continue;
    const std::vector<absl::string_view> fields =
        absl::StrSplit(absl::string_view(stat).substr(close + 2), ' ');
    pid_t ppid = 0;
    if (fields.size() > 1 && absl::SimpleAtoi(fields[1], &ppid) && ppid == parent) {
      children.push_back(pid);
    }
  }
  return children;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// One initdb per test process and superuser name, copied into each fixture: on a loaded
// machine initdb takes seconds, a copy of its result a fraction of that.
absl::StatusOr<std::string> TemplateDataDir(const std::string& user) {
  static absl::Mutex mu(absl::kConstInit);
  static std::map<std::string, std::unique_ptr<TempDir>> templates;  // guarded by mu
  absl::MutexLock lock(&mu);
  std::unique_ptr<TempDir>& dir = templates[user];
  if (dir != nullptr) return dir->Child("data");
  auto fresh = std::make_unique<TempDir>("postgres-template");
  GiveToPostgres(fresh->path());
  const std::string data = fresh->Child("data");
  absl::Status status = RunToEnd(AsPostgres({absl::StrCat(kPostgresBinDir, "/initdb"), "-D", data,
                                             "-U", user, "-E", "UTF8", "--no-sync", "-A", "trust"}),
                                 fresh->Child("initdb.log"), absl::Seconds(120));
  if (!status.ok()) return status;
  dir = std::move(fresh);
  return data;
}

}  // namespace

PostgresServer::PostgresServer(PostgresServerOptions options)
    : options_(std::move(options)), dir_("postgres"), data_dir_(dir_.Child("data")) {}

PostgresServer::~PostgresServer() {
  if (absl::Status status = Kill(); !status.ok()) {
    LOG(ERROR) << "PostgreSQL on port " << port_ << ": " << status;
  }
}

absl::Status PostgresServer::InitDb() {
  absl::StatusOr<std::string> template_dir = TemplateDataDir(options_.user);
  if (!template_dir.ok()) return template_dir.status();
  // cp -a keeps the postgres ownership and the 0700 mode the server insists on.
  if (absl::Status status = RunToEnd({"cp", "-a", *template_dir, data_dir_}, dir_.Child("copy.log"),
                                     absl::Seconds(60));
      !status.ok()) {
    return status;
  }
  GiveToPostgres(dir_.path());
  if (options_.password.empty()) return absl::OkStatus();
  // Password logins over TCP; the socket stays trusted for psql. The password itself is set
  // once the server runs (Start()).
  WriteFileOrDie(absl::StrCat(data_dir_, "/pg_hba.conf"),
                 "local all all trust\n"
                 "host all all 127.0.0.1/32 scram-sha-256\n"
                 "host all all ::1/128 scram-sha-256\n");
  GiveToPostgres(dir_.path());
  return absl::OkStatus();
}

absl::Status PostgresServer::Start() {
  if (running()) {
    return absl::FailedPreconditionError(
        absl::StrCat("PostgreSQL on port ", port_, " is already running"));
  }
  if (!initialized_) {
    if (absl::Status status = InitDb(); !status.ok()) return status;
    initialized_ = true;
  }
  const bool pick_port = port_ == 0;
  absl::Status status;
  for (int attempt = 1; attempt <= (pick_port ? kStartAttempts : 1); ++attempt) {
    if (pick_port) port_ = PickUnusedPort();
    status = StartOnce();
    if (status.ok()) status = WaitReady();
    if (status.ok()) break;
    const bool port_taken =
        process_ != nullptr && absl::StrContains(process_->LogTail(), "could not bind");
    Kill().IgnoreError();
    if (!pick_port || !port_taken) return status;
    LOG(WARNING) << "PostgreSQL: port " << port_ << " was taken; trying another one";
  }
  if (!status.ok() || database_created_) return status;
  std::string setup = absl::StrCat("CREATE DATABASE \"", options_.database, "\"");
  absl::StatusOr<std::string> created = Psql("postgres", {"-c", setup});
  if (!created.ok()) return created.status();
  if (!options_.password.empty()) {
    std::string quoted = "'";
    for (char c : options_.password) quoted.append(c == '\'' ? "''" : std::string(1, c));
    created =
        Psql("postgres",
             {"-c", absl::StrCat("ALTER ROLE \"", options_.user, "\" PASSWORD ", quoted, "'")});
    if (!created.ok()) return created.status();
  }
  database_created_ = true;
  return absl::OkStatus();
}

absl::Status PostgresServer::StartOnce() {
  // Our server is not running here, so a pid file is one a SIGKILL left behind; postgres
  // would refuse to start if its pid now belonged to another process.
  std::filesystem::remove(absl::StrCat(data_dir_, "/postmaster.pid"));
  Subprocess::Options options;
  options.argv =
      AsPostgres({absl::StrCat(kPostgresBinDir, "/postgres"), "-D", data_dir_, "-p",
                  absl::StrCat(port_), "-k", dir_.path(), "-c", "listen_addresses=127.0.0.1", "-c",
                  "fsync=off", "-c", "full_page_writes=off", "-c", "synchronous_commit=off"});
  options.log_path = dir_.Child("postgres.log");
  absl::StatusOr<std::unique_ptr<Subprocess>> process = Subprocess::Start(std::move(options));
  if (!process.ok()) return process.status();
  process_ = *std::move(process);
  return absl::OkStatus();
}

absl::Status PostgresServer::WaitReady() {
  const absl::Time deadline = absl::Now() + options_.start_timeout;
  const std::string pid_file = absl::StrCat(data_dir_, "/postmaster.pid");
  while (absl::Now() < deadline) {
    if (!process_->Running()) {
      absl::StatusOr<int> exit = process_->Wait(absl::ZeroDuration());
      return absl::InternalError(
          absl::StrCat("PostgreSQL on port ", port_, " exited during start-up (",
                       exit.ok() ? DescribeExitStatus(*exit) : exit.status().ToString(), "); log ",
                       process_->log_path(), ":\n", process_->LogTail(2000)));
    }
    // Line 8 of postmaster.pid is the server's state; "ready" once it accepts connections.
    const std::vector<std::string> lines = absl::StrSplit(ReadFile(pid_file), '\n');
    if (lines.size() >= 8 && absl::StripAsciiWhitespace(lines[7]) == "ready") {
      return absl::OkStatus();
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  return absl::DeadlineExceededError(absl::StrCat("PostgreSQL on port ", port_, " not ready after ",
                                                  absl::FormatDuration(options_.start_timeout),
                                                  "; log ", process_->log_path(), ":\n",
                                                  process_->LogTail(2000)));
}

absl::Status PostgresServer::Stop() {
  if (process_ == nullptr) return absl::OkStatus();
  absl::Status status = process_->Signal(SIGINT);
  if (status.ok()) {
    absl::StatusOr<int> exit = process_->Wait(absl::Seconds(30));
    if (exit.ok()) {
      process_.reset();
      return absl::OkStatus();
    }
    status = exit.status();
  }
  Kill().IgnoreError();
  return status;
}

absl::Status PostgresServer::Kill() {
  if (process_ == nullptr) return absl::OkStatus();
  // Backends are not in the postmaster's process group (they call setsid()).
  for (pid_t child : ChildrenOf(process_->pid())) kill(child, SIGKILL);
  absl::StatusOr<int> status = process_->Kill();
  process_.reset();
  return status.status();
}

absl::Status PostgresServer::Pause() { return SignalAll(SIGSTOP); }

absl::Status PostgresServer::Resume() { return SignalAll(SIGCONT); }

absl::Status PostgresServer::SignalAll(int signal) {
  if (process_ == nullptr) return absl::FailedPreconditionError("the server is not running");
  // The postmaster first, so it forks nobody new meanwhile; each backend has its own session
  // (postgres calls setsid()), so a process-group signal would miss them.
  if (kill(process_->pid(), signal) != 0) {
    return absl::InternalError(
        absl::StrCat("kill(", process_->pid(), ", ", signal, "): ", std::strerror(errno)));
  }
  for (pid_t child : ChildrenOf(process_->pid())) kill(child, signal);
  return absl::OkStatus();
}

bool PostgresServer::running() { return process_ != nullptr && process_->Running(); }

std::string PostgresServer::Uri() const {
  return absl::StrCat("postgresql://", options_.user, "@127.0.0.1:", port_, "/", options_.database);
}

absl::StatusOr<std::string> PostgresServer::Psql(const std::string& database,
                                                 std::vector<std::string> arguments) {
  Subprocess::Options options;
  options.argv = {absl::StrCat(kPostgresBinDir, "/psql"),
                  "-X",
                  "-q",
                  "-At",
                  "-v",
                  "ON_ERROR_STOP=1",
                  "-h",
                  dir_.path(),
                  "-p",
                  absl::StrCat(port_),
                  "-U",
                  options_.user,
                  "-d",
                  database};
  options.argv.insert(options.argv.end(), arguments.begin(), arguments.end());
  options.log_path = dir_.Child("psql.log");
  options.pipe_stdout = true;
  absl::StatusOr<std::unique_ptr<Subprocess>> child = Subprocess::Start(std::move(options));
  if (!child.ok()) return child.status();
  absl::StatusOr<std::string> output = (*child)->ReadAll(absl::Seconds(60));
  absl::StatusOr<int> exit = (*child)->Wait(absl::Seconds(10));
  if (!output.ok()) return output.status();
  if (!exit.ok()) return exit.status();
  if (!WIFEXITED(*exit) || WEXITSTATUS(*exit) != 0) {
    return absl::InternalError(absl::StrCat("psql ", absl::StrJoin(arguments, " "), ": ",
                                            DescribeExitStatus(*exit), ":\n",
                                            (*child)->LogTail(1000)));
  }
  return *output;
}

absl::StatusOr<std::string> PostgresServer::Execute(absl::string_view sql) {
  return Psql(options_.database, {"-c", std::string(sql)});
}

absl::Status PostgresServer::ExecuteFile(const std::string& path) {
  return Psql(options_.database, {"-f", path}).status();
}

}  // namespace roster::testing
