// Authorization: who a caller is, and whether it may call a method. Every roster.v1 handler
// asks the Authorizer before doing anything (docs/security.md).
//
// Scopes: `read` (the Roster service: lookups, selection, slots, the leader, WatchCluster),
// `register` (the Registration service), `admin` (RosterAdmin: drain, undrain).
//
// Identity, in this order:
//  1. A bearer token (metadata `authorization: Bearer <token>`): its SHA-256 is compared, in
//     constant time (CRYPTO_memcmp, against every entry), with the token hashes of the access
//     file, and with the --admin_token_file token (identity "admin-token", scope admin). A
//     token not found: PERMISSION_DENIED. Malformed metadata: UNAUTHENTICATED.
//  2. A verified client certificate (mTLS): its subject CN, then each SAN, looked up among the
//     access file's `cert` lines; identity "cert:NAME".
//  3. None: "anonymous" (or "loopback" for callers on this machine).
// Any caller also gets `read` when allow_unauthenticated_read, and an anonymous loopback
// caller gets `register` and `admin` when allow_loopback_writes (compatibility; admin only
// without an admin token, as before scopes existed).
// Missing scope: UNAUTHENTICATED for a caller without credentials, PERMISSION_DENIED for one
// with; the message names the scope and the flag to change. A token is never logged or quoted.
//
// The access file (mode 0600, or `cred:NAME`):
//   # comment
//   cert  worker-1.example.com   register
//   cert  ops-console            read,admin
//   token ci-bot  sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08  read
// It is checked every poll interval and re-read when it changed (inode, size or mtime); a
// file that no longer parses or whose mode is wrong is refused with an error log, and the
// previous table stays in force.
//
// Thread-safety: thread-safe.
#pragma once

#include <grpcpp/grpcpp.h>

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "util/clock.h"
#include "util/executor.h"

namespace roster::server {

enum Scope : uint32_t {
  kScopeRead = 1,
  kScopeRegister = 2,
  kScopeAdmin = 4,
};

// "read", "register", "admin"; "read,admin" for a set.
std::string ScopeNames(uint32_t scopes);

using Sha256 = std::array<unsigned char, 32>;
Sha256 HashToken(absl::string_view token);

// The parsed access file.
struct AccessTable {
  struct Token {
    std::string name;
    Sha256 hash;
    uint32_t scopes = 0;
  };
  std::map<std::string, uint32_t> certs;  // certificate name -> scopes
  std::vector<Token> tokens;
};

// InvalidArgument naming `path` and the line for a bad line: an unknown kind or scope, a hash
// that is not 64 hex digits, a duplicate name.
absl::StatusOr<AccessTable> ParseAccessFile(absl::string_view path, absl::string_view contents);

// What the Authorizer needs from a call, so the rules are tested without a gRPC call.
struct CallCredentials {
  std::string peer;                     // grpc peer(): "ipv4:127.0.0.1:5000"
  bool has_authorization = false;       // an `authorization` metadata entry was sent
  std::string authorization;            // its value (a secret: never logged)
  std::vector<std::string> cert_names;  // a verified client certificate's CN, then SANs
};
CallCredentials CredentialsOf(const grpc::ServerContextBase& call);

// An authorised caller.
struct Caller {
  std::string identity;  // "cert:worker-1", "token:ci-bot", "admin-token", "loopback", ...
  uint32_t scopes = 0;
  bool authenticated = false;
};

struct AuthorizerOptions {
  std::string access_file;  // empty: no access file
  std::string admin_token;  // from --admin_token_file; empty: none
  bool allow_unauthenticated_read = true;
  bool allow_loopback_writes = false;
  absl::Duration poll_interval = absl::Seconds(2);
  Clock* clock = Clock::Real();
};

class Authorizer {
 public:
  explicit Authorizer(AuthorizerOptions options);  // No I/O, no threads.
  ~Authorizer();                                   // Calls Shutdown().

  Authorizer(const Authorizer&) = delete;
  Authorizer& operator=(const Authorizer&) = delete;

  // Reads the access file (its error, naming --access_file, fails the start) and starts
  // polling it.
  absl::Status Start();
  void Shutdown();  // Idempotent.

  // The caller, if it may use `scope`; else the status to answer with. `method` names the call
  // in the message ("RosterAdmin/DrainNode").
  absl::StatusOr<Caller> Authorize(const CallCredentials& call, Scope scope,
                                   absl::string_view method) const;
  absl::StatusOr<Caller> Authorize(const grpc::ServerContextBase& call, Scope scope,
                                   absl::string_view method) const {
    return Authorize(CredentialsOf(call), scope, method);
  }

  // Re-reads the access file if it changed; the poll calls it. An error leaves the table as
  // it was.
  absl::Status ReloadIfChanged();
  // Times the access file was (re)loaded successfully.
  uint64_t loads() const;

 private:
  struct FileStamp {
    uint64_t inode = 0;
    int64_t size = -1;
    int64_t mtime_ns = 0;
    bool operator==(const FileStamp& o) const {
      return inode == o.inode && size == o.size && mtime_ns == o.mtime_ns;
    }
  };
  absl::StatusOr<Caller> Identify(const CallCredentials& call) const;
  void SchedulePoll();

  const AuthorizerOptions options_;
  const Sha256 admin_token_hash_;

  mutable absl::Mutex mu_;
  std::shared_ptr<const AccessTable> table_ ABSL_GUARDED_BY(mu_);
  FileStamp stamp_ ABSL_GUARDED_BY(mu_);
  uint64_t loads_ ABSL_GUARDED_BY(mu_) = 0;

  SerialExecutor executor_;  // the poll
};

}  // namespace roster::server
