// Transport security of rosterd's gRPC listener: TLS with the server's certificate, and mTLS
// (every client presents a certificate signed by the client CA) when a client CA is given.
// Files are watched: a renewed certificate, key or CA bundle is used for new connections within
// refresh_interval, without a restart (gRPC's FileWatcherCertificateProvider). Which addresses
// may listen in plaintext is decided here too.
//
// Thread-safety: the functions are thread-safe.
#pragma once

#include <grpcpp/security/server_credentials.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace roster::server {

struct ServerTlsOptions {
  std::string cert_file;       // PEM chain, leaf first; empty: no TLS
  std::string key_file;        // PEM private key (a secret file: mode 0600, or cred:NAME)
  std::string client_ca_file;  // PEM bundle; set: client certificates are required and verified
  absl::Duration refresh_interval = absl::Seconds(30);

  bool enabled() const { return !cert_file.empty(); }
};

// Checks the files now (both or neither of cert and key; a client CA needs them; the key is
// private and matches the certificate; every file parses), so a mistake fails the start with the
// flag's name instead of every handshake later. Resolves `cred:NAME` paths in place.
absl::Status ValidateServerTls(ServerTlsOptions* options);

// TLS (or mTLS) credentials over `options` (validated); InsecureServerCredentials when TLS is
// off.
std::shared_ptr<grpc::ServerCredentials> MakeServerCredentials(const ServerTlsOptions& options);

// True when `listen` ("host:port", "[::1]:port", "unix:/path") is reachable from this machine
// only: 127.0.0.0/8, ::1, "localhost", or a Unix socket.
bool IsLoopbackListenAddress(absl::string_view listen);

}  // namespace roster::server
