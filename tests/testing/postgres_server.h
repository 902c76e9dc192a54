// A real PostgreSQL 15 server for integration tests (Debian's `postgresql` package), run as
// the `postgres` user (initdb refuses root) on a free loopback port with its own data
// directory, as a child of the test (no systemd, no pg_ctl daemon).
//
//   PostgresServer server;                        // options.password: TCP logins need it
//   ASSERT_OK(server.Start());                    // initdb, start, CREATE DATABASE
//   ASSERT_OK(server.ExecuteFile("tests/data/dolphinscheduler/schema/postgresql/3.2.2.sql"));
//   ASSERT_OK_AND_ASSIGN(std::string out, server.Execute("SELECT count(*) FROM t"));
//   ASSERT_OK(server.Stop());                     // fast shutdown: clients are disconnected
//   ASSERT_OK(server.Start());                    // same port, same data
//
// The server is ready when its postmaster.pid says "ready" (PostgreSQL writes that line once
// it accepts connections). SQL runs through `psql` on the Unix socket as the superuser, so a
// test's fixture and the code under test never share a client library. Destroying the
// fixture kills the server with all its backends and deletes the directory.
//
// Thread-safety: thread-compatible; use a fixture from the test's main thread.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"

namespace roster::testing {

struct PostgresServerOptions {
  // The superuser initdb creates, and the database Start() creates.
  std::string user = "roster";
  std::string database = "dolphinscheduler";
  // Non-empty: the superuser's password, required (scram-sha-256) for TCP connections; the
  // Unix socket stays trusted for Execute(). Empty: everything is trusted.
  std::string password;
  // How long Start() waits for the server to accept connections.
  absl::Duration start_timeout = absl::Seconds(60);
};

class PostgresServer {
 public:
  explicit PostgresServer(PostgresServerOptions options = {});
  // Kills the server (and its backends) and deletes the data directory.
  ~PostgresServer();

  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  // The first start runs initdb, picks a free port (another one if it is taken meanwhile)
  // and creates the database; later starts reuse both. FailedPrecondition if running;
  // DeadlineExceeded or Internal (with the log tail) if the server does not come up.
  absl::Status Start();
  // Fast shutdown (SIGINT: open sessions are ended) and wait; SIGKILL after 30 s.
  absl::Status Stop();
  // SIGKILL to the postmaster and every backend.
  absl::Status Kill();

  // SIGSTOP / SIGCONT to the postmaster and every backend: connections stay open but nothing
  // answers, as with a hung host.
  absl::Status Pause();
  absl::Status Resume();

  bool running();
  int port() const { return port_; }
  const PostgresServerOptions& options() const { return options_; }
  // "postgresql://USER@127.0.0.1:PORT/DATABASE".
  std::string Uri() const;

  // Runs `sql` in the database with psql as the superuser; returns psql's unaligned,
  // tuples-only output. Internal with psql's error if a statement fails.
  absl::StatusOr<std::string> Execute(absl::string_view sql);
  // Runs the SQL file at `path`.
  absl::Status ExecuteFile(const std::string& path);

 private:
  absl::Status InitDb();
  absl::Status StartOnce();
  absl::Status SignalAll(int signal);
  absl::Status WaitReady();
  absl::StatusOr<std::string> Psql(const std::string& database, std::vector<std::string> arguments);

  const PostgresServerOptions options_;
  TempDir dir_;
  const std::string data_dir_;
  bool initialized_ = false;
  bool database_created_ = false;
  int port_ = 0;
  std::unique_ptr<Subprocess> process_;
};

// The directory of PostgreSQL 15's programs (initdb, postgres, psql).
inline constexpr char kPostgresBinDir[] = "/usr/lib/postgresql/15/bin";

}  // namespace roster::testing
