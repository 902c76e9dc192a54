// TestPki: a throw-away certificate authority for TLS tests, made with the `openssl` command
// line in a test's temporary directory (no key is ever checked in). Each certificate is valid
// for two days from now, EC P-256.
//
//   ASSERT_OK_AND_ASSIGN(TestPki pki, TestPki::Create(dir.Child("pki"), "roster-test-ca"));
//   ASSERT_OK_AND_ASSIGN(TestPki::Pair server, pki.Issue("server", "localhost", true));
//   ASSERT_OK_AND_ASSIGN(TestPki::Pair worker, pki.Issue("worker", "worker-1", false));
//
// Thread-safety: thread-compatible.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace roster::testing {

class TestPki {
 public:
  struct Pair {
    std::string cert_file;  // PEM certificate
    std::string key_file;   // PEM private key, mode 0600
  };

  // A new CA (its key and self-signed certificate) in `dir`, created if missing.
  static absl::StatusOr<TestPki> Create(const std::string& dir, absl::string_view ca_name);

  // A certificate for `common_name` signed by this CA, named `file_stem`.{crt,key}. A server
  // certificate also names localhost and 127.0.0.1 (SAN); a client one carries DNS:common_name.
  absl::StatusOr<Pair> Issue(absl::string_view file_stem, absl::string_view common_name,
                             bool server) const;

  const std::string& ca_cert_file() const { return ca_.cert_file; }

 private:
  std::string dir_;
  Pair ca_;
};

}  // namespace roster::testing
