// A real MariaDB 10.11 server for integration tests (Debian's `mariadb-server` package) on a
// free loopback port with its own data directory, as a child of the test.
//
//   MariaDbServer server;                         // a user with a password, for TCP logins
//   ASSERT_OK(server.Start());                    // install-db, start, database and user
//   ASSERT_OK(server.ExecuteFile("tests/data/dolphinscheduler/schema/mysql/3.2.2.sql"));
//   ASSERT_OK_AND_ASSIGN(std::string out, server.Execute("SELECT count(*) FROM t"));
//   ASSERT_OK(server.Stop());
//   ASSERT_OK(server.Start());                    // same port, same data
//
// The server is ready when `mariadb-admin ping` answers on its socket. SQL runs through the
// `mariadb` command-line client as root on the Unix socket, so the fixture and the code under
// test never share a client library. Destroying the fixture kills the server and deletes the
// directory.
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

struct MariaDbServerOptions {
  // The database Start() creates, and the user it creates with every right on it, reachable
  // over TCP from 127.0.0.1 with `password` (empty: no password).
  std::string database = "dolphinscheduler";
  std::string user = "roster";
  std::string password;
  // How long Start() waits for the server to accept connections.
  absl::Duration start_timeout = absl::Seconds(60);
};

class MariaDbServer {
 public:
  explicit MariaDbServer(MariaDbServerOptions options = {});
  // Kills the server and deletes its directory.
  ~MariaDbServer();

  MariaDbServer(const MariaDbServer&) = delete;
  MariaDbServer& operator=(const MariaDbServer&) = delete;

  // The first start runs mariadb-install-db, picks a free port (another one if it is taken
  // meanwhile) and creates the database and the user; later starts reuse all of them.
  // FailedPrecondition if running; DeadlineExceeded or Internal (with the log tail) if the
  // server does not come up.
  absl::Status Start();
  // SIGTERM (a clean shutdown) and wait; SIGKILL after 30 s.
  absl::Status Stop();
  // SIGKILL.
  absl::Status Kill();

  // SIGSTOP / SIGCONT to the server and every process it forked: connections stay open but
  // nothing answers, as with a hung host.
  absl::Status Pause();
  absl::Status Resume();

  bool running();
  int port() const { return port_; }
  const MariaDbServerOptions& options() const { return options_; }
  // "mysql://USER@127.0.0.1:PORT/DATABASE".
  std::string Uri() const;

  // Runs `sql` in the database as root; returns the client's tab-separated output without
  // column names. Internal with the client's error if a statement fails.
  absl::StatusOr<std::string> Execute(absl::string_view sql);
  // Runs the SQL file at `path`.
  absl::Status ExecuteFile(const std::string& path);

 private:
  absl::Status InstallDb();
  absl::Status StartOnce();
  absl::Status SignalAll(int signal);
  absl::Status WaitReady();
  absl::Status CreateDatabaseAndUser();
  absl::StatusOr<std::string> Client(const std::string& database, const std::string& sql);

  const MariaDbServerOptions options_;
  TempDir dir_;
  const std::string data_dir_;
  const std::string socket_;
  bool installed_ = false;
  bool database_created_ = false;
  int port_ = 0;
  std::unique_ptr<Subprocess> process_;
};

}  // namespace roster::testing
