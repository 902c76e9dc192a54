#include "tests/testing/postgres_server.h"

#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
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

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
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
  GiveToPostgres(dir_.path());
  std::vector<std::string> argv = {absl::StrCat(kPostgresBinDir, "/initdb"),
                                   "-D",
                                   data_dir_,
                                   "-U",
                                   options_.user,
                                   "-E",
                                   "UTF8",
                                   "--no-sync",
                                   "--auth-local=trust"};
  if (options_.password.empty()) {
    argv.push_back("--auth-host=trust");
  } else {
    const std::string password_file = dir_.Child("superuser-password");
    WriteFileOrDie(password_file, options_.password + "\n");
    GiveToPostgres(password_file);
    argv.push_back("--auth-host=scram-sha-256");
    argv.push_back(absl::StrCat("--pwfile=", password_file));
  }
  return RunToEnd(AsPostgres(std::move(argv)), dir_.Child("initdb.log"), absl::Seconds(120));
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
  absl::StatusOr<std::string> created =
      Psql("postgres", {"-c", absl::StrCat("CREATE DATABASE \"", options_.database, "\"")});
  if (!created.ok()) return created.status();
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
  // The backends share the postmaster's process group (Subprocess gives the child its own).
  kill(-process_->pid(), SIGKILL);
  absl::StatusOr<int> status = process_->Kill();
  process_.reset();
  return status.status();
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
