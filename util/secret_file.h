// Secret files: the ZooKeeper digest, the admin token, the access file, TLS private keys, the
// database passwords. One
// reader for all of them, so every secret is refused the same way when its file is open to
// other users, and every one can come from systemd's credentials.
//
// A secret flag's value is either a path, or `cred:NAME`: the credential NAME that systemd
// passed with LoadCredential=NAME:/etc/roster/FILE (or SetCredential=), read from
// $CREDENTIALS_DIRECTORY/NAME. systemd makes that directory readable by the service only.
//
// A file that group or others may read, write or search (any bit of 077) is refused:
//   --admin_token_file=/etc/roster/admin-token: the file is accessible by group or others
//   (mode 0644); a secret must be private to rosterd's user: chmod 600 /etc/roster/admin-token
//
// Thread-safety: the functions are thread-safe (they read the environment; nothing in rosterd
// changes it after start-up).
#pragma once

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace roster {

// The prefix that names a systemd credential instead of a path.
inline constexpr absl::string_view kCredentialPrefix = "cred:";

struct SecretFileOptions {
  // Accept a file others may read (e.g. a Kubernetes secret mounted 0644).
  bool allow_group_or_other_access = false;
  // Larger files are refused (a secret is short; a mistake, like a log file, is not).
  size_t max_bytes = 1 << 20;
};

// The path a secret flag's `value` stands for: `value` itself, or for `cred:NAME` the file NAME
// in $CREDENTIALS_DIRECTORY. InvalidArgument naming `flag` when the variable is unset (rosterd
// not started by systemd with LoadCredential=) or NAME is empty or holds a '/'.
absl::StatusOr<std::string> ResolveSecretPath(absl::string_view flag, absl::string_view value);

// Reads the whole secret file. NotFound when it does not exist, PermissionDenied when it cannot
// be read or is accessible by group or others (the message names the flag, the file, its mode
// and the fix), InvalidArgument when it is larger than max_bytes. The contents are never
// logged, nor put in an error.
absl::StatusOr<std::string> ReadSecretFile(absl::string_view flag, absl::string_view value,
                                           const SecretFileOptions& options = {});

// The file's first line, whitespace trimmed; InvalidArgument when that line is empty.
absl::StatusOr<std::string> ReadSecretLine(absl::string_view flag, absl::string_view value,
                                           const SecretFileOptions& options = {});

// The file's first line without its line break ("\n" or "\r\n"), spaces kept: a password may
// begin or end with one. InvalidArgument when that line is empty.
absl::StatusOr<std::string> ReadSecretPassword(absl::string_view flag, absl::string_view value,
                                               const SecretFileOptions& options = {});

// Only the permission check of ReadSecretFile, for files that another library reads itself
// (the TLS private key, which gRPC re-reads when it changes).
absl::Status CheckSecretFileMode(absl::string_view flag, const std::string& path,
                                 const SecretFileOptions& options = {});

}  // namespace roster
