#include "tests/testing/mariadb_server.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "glog/logging.h"
#include "tests/testing/ports.h"

namespace roster::testing {
namespace {

constexpr int kStartAttempts = 3;

// Runs a short-lived program to its end and returns its stdout; Internal with its log (its
// stderr) if it fails.
absl::StatusOr<std::string> RunToEnd(std::vector<std::string> argv, const std::string& log_path,
                                     absl::Duration timeout) {
  Subprocess::Options options;
  options.argv = std::move(argv);
  options.log_path = log_path;
  options.pipe_stdout = true;
  const std::string program = options.argv.empty() ? "" : options.argv[0];
  absl::StatusOr<std::unique_ptr<Subprocess>> child = Subprocess::Start(std::move(options));
  if (!child.ok()) return child.status();
  absl::StatusOr<std::string> output = (*child)->ReadAll(timeout);
  absl::StatusOr<int> exit = (*child)->Wait(absl::Seconds(10));
  if (!output.ok()) return output.status();
  if (!exit.ok()) return exit.status();
  if (!WIFEXITED(*exit) || WEXITSTATUS(*exit) != 0) {
    return absl::InternalError(absl::StrCat(program, ": ", DescribeExitStatus(*exit), "; log ",
                                            log_path, ":\n", (*child)->LogTail(1000)));
  }
  return output;
}

// A SQL string literal.
std::string Quoted(absl::string_view text) {
  std::string quoted = "'";
  for (char c : text) {
    if (c == '\'' || c == '\\') quoted.push_back('\\');
    quoted.push_back(c);
  }
  return quoted + "'";
}

// One mariadb-install-db per test process, copied into each fixture: on a loaded machine it
// takes seconds, a copy of its result a fraction of that.
absl::StatusOr<std::string> TemplateDataDir() {
  static absl::Mutex mu(absl::kConstInit);
  static std::unique_ptr<TempDir> dir;  // guarded by mu
  absl::MutexLock lock(&mu);
  if (dir != nullptr) return dir->Child("data");
  auto fresh = std::make_unique<TempDir>("mariadb-template");
  const std::string data = fresh->Child("data");
  // Temporary tables in a directory of this fixture's own, not the shared /tmp, where another
  // server's clean-up once removed one mid-install (seen under ctest -j2).
  const std::string tmp = fresh->Child("tmp");
  if (mkdir(tmp.c_str(), 0700) != 0) return absl::InternalError(absl::StrCat("mkdir ", tmp));
  absl::Status status =
      RunToEnd({"mariadb-install-db", "--no-defaults", absl::StrCat("--datadir=", data),
                "--user=root", "--auth-root-authentication-method=normal", "--skip-test-db",
                absl::StrCat("--tmpdir=", tmp)},
               fresh->Child("install-db.log"), absl::Seconds(120))
          .status();
  if (!status.ok()) return status;
  dir = std::move(fresh);
  return data;
}

}  // namespace

MariaDbServer::MariaDbServer(MariaDbServerOptions options)
    : options_(std::move(options)),
      dir_("mariadb"),
      data_dir_(dir_.Child("data")),
      socket_(dir_.Child("sock")) {}

MariaDbServer::~MariaDbServer() {
  if (absl::Status status = Kill(); !status.ok()) {
    LOG(ERROR) << "MariaDB on port " << port_ << ": " << status;
  }
}

absl::Status MariaDbServer::InstallDb() {
  absl::StatusOr<std::string> template_dir = TemplateDataDir();
  if (!template_dir.ok()) return template_dir.status();
  return RunToEnd({"cp", "-a", *template_dir, data_dir_}, dir_.Child("copy.log"), absl::Seconds(60))
      .status();
}

absl::Status MariaDbServer::Start() {
  if (running()) {
    return absl::FailedPreconditionError(
        absl::StrCat("MariaDB on port ", port_, " is already running"));
  }
  if (!installed_) {
    if (absl::Status status = InstallDb(); !status.ok()) return status;
    installed_ = true;
  }
  const bool pick_port = port_ == 0;
  absl::Status status;
  for (int attempt = 1; attempt <= (pick_port ? kStartAttempts : 1); ++attempt) {
    if (pick_port) port_ = PickUnusedPort();
    status = StartOnce();
    if (status.ok()) status = WaitReady();
    if (status.ok()) break;
    const bool port_taken =
        process_ != nullptr && absl::StrContains(process_->LogTail(), "Address already in use");
    Kill().IgnoreError();
    if (!pick_port || !port_taken) return status;
    LOG(WARNING) << "MariaDB: port " << port_ << " was taken; trying another one";
  }
  if (!status.ok() || database_created_) return status;
  if (absl::Status created = CreateDatabaseAndUser(); !created.ok()) return created;
  database_created_ = true;
  return absl::OkStatus();
}

absl::Status MariaDbServer::StartOnce() {
  Subprocess::Options options;
  options.argv = {"mariadbd", "--no-defaults", absl::StrCat("--datadir=", data_dir_), "--user=root",
                  absl::StrCat("--port=", port_), "--bind-address=127.0.0.1",
                  absl::StrCat("--socket=", socket_), absl::StrCat("--tmpdir=", dir_.path()),
                  absl::StrCat("--pid-file=", dir_.Child("mariadbd.pid")),
                  "--innodb-buffer-pool-size=32M", "--skip-log-bin",
                  // Tests need no durability across power loss.
                  "--innodb-flush-log-at-trx-commit=0",
                  // 127.0.0.1 stays 127.0.0.1: users are matched without DNS.
                  "--skip-name-resolve"};
  options.log_path = dir_.Child("mariadbd.log");
  absl::StatusOr<std::unique_ptr<Subprocess>> process = Subprocess::Start(std::move(options));
  if (!process.ok()) return process.status();
  process_ = *std::move(process);
  return absl::OkStatus();
}

absl::Status MariaDbServer::WaitReady() {
  const absl::Time deadline = absl::Now() + options_.start_timeout;
  absl::Status last = absl::UnavailableError("not probed yet");
  while (absl::Now() < deadline) {
    if (!process_->Running()) {
      absl::StatusOr<int> exit = process_->Wait(absl::ZeroDuration());
      return absl::InternalError(
          absl::StrCat("MariaDB on port ", port_, " exited during start-up (",
                       exit.ok() ? DescribeExitStatus(*exit) : exit.status().ToString(), "); log ",
                       process_->log_path(), ":\n", process_->LogTail(2000)));
    }
    last = RunToEnd({"mariadb-admin", "--no-defaults", absl::StrCat("--socket=", socket_),
                     "--user=root", "--connect-timeout=1", "ping"},
                    dir_.Child("ping.log"), absl::Seconds(5))
               .status();
    if (last.ok()) return absl::OkStatus();
    absl::SleepFor(absl::Milliseconds(20));
  }
  return absl::DeadlineExceededError(absl::StrCat(
      "MariaDB on port ", port_, " not ready after ", absl::FormatDuration(options_.start_timeout),
      " (", last.ToString(), "); log ", process_->log_path(), ":\n", process_->LogTail(2000)));
}

absl::Status MariaDbServer::CreateDatabaseAndUser() {
  std::string sql = absl::StrCat("CREATE DATABASE `", options_.database, "`;");
  for (const char* host : {"%", "127.0.0.1", "localhost"}) {
    const std::string account = absl::StrCat(Quoted(options_.user), "@", Quoted(host));
    absl::StrAppend(&sql, "CREATE USER ", account, " IDENTIFIED BY ", Quoted(options_.password),
                    "; GRANT ALL ON `", options_.database, "`.* TO ", account, ";");
  }
  return Client("mysql", sql).status();
}

absl::Status MariaDbServer::Stop() {
  if (process_ == nullptr) return absl::OkStatus();
  absl::StatusOr<int> status = process_->Terminate(absl::Seconds(30));
  process_.reset();
  return status.status();
}

absl::Status MariaDbServer::Kill() {
  if (process_ == nullptr) return absl::OkStatus();
  absl::StatusOr<int> status = process_->Kill();
  process_.reset();
  return status.status();
}

absl::Status MariaDbServer::Pause() { return SignalAll(SIGSTOP); }

absl::Status MariaDbServer::Resume() { return SignalAll(SIGCONT); }

absl::Status MariaDbServer::SignalAll(int signal) {
  if (process_ == nullptr) return absl::FailedPreconditionError("the server is not running");
  // Subprocess gives the server its own process group, which its children share.
  if (kill(-process_->pid(), signal) != 0) {
    return absl::InternalError(
        absl::StrCat("kill(-", process_->pid(), ", ", signal, "): ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

bool MariaDbServer::running() { return process_ != nullptr && process_->Running(); }

std::string MariaDbServer::Uri() const {
  return absl::StrCat("mysql://", options_.user, "@127.0.0.1:", port_, "/", options_.database);
}

absl::StatusOr<std::string> MariaDbServer::Client(const std::string& database,
                                                  const std::string& sql) {
  return RunToEnd({"mariadb", "--no-defaults", absl::StrCat("--socket=", socket_), "--user=root",
                   "--batch", "--skip-column-names", "--database", database, "--execute", sql},
                  dir_.Child("client.log"), absl::Seconds(60));
}

absl::StatusOr<std::string> MariaDbServer::Execute(absl::string_view sql) {
  return Client(options_.database, std::string(sql));
}

absl::Status MariaDbServer::ExecuteFile(const std::string& path) {
  return Client(options_.database, absl::StrCat("source ", path)).status();
}

}  // namespace roster::testing
