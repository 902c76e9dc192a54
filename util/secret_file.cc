#include "util/secret_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"

namespace roster {
namespace {

std::string Where(absl::string_view flag, absl::string_view path) {
  return absl::StrCat("--", flag, "=", path);
}

absl::Status CheckMode(absl::string_view flag, const std::string& path, const struct stat& info,
                       const SecretFileOptions& options) {
  if (!S_ISREG(info.st_mode)) {
    return absl::PermissionDeniedError(absl::StrCat(Where(flag, path), ": not a regular file"));
  }
  if ((info.st_mode & (S_IRWXG | S_IRWXO)) != 0 && !options.allow_group_or_other_access) {
    return absl::PermissionDeniedError(absl::StrFormat(
        "%s: the file is accessible by group or others (mode %04o); a secret must be private "
        "to rosterd's user: chmod 600 %s",
        Where(flag, path), info.st_mode & 07777, path));
  }
  return absl::OkStatus();
}

absl::Status OpenError(absl::string_view flag, const std::string& path, int error) {
  const std::string message =
      absl::StrCat(Where(flag, path), ": cannot open: ", std::strerror(error));
  return error == ENOENT ? absl::NotFoundError(message) : absl::PermissionDeniedError(message);
}

}  // namespace

absl::StatusOr<std::string> ResolveSecretPath(absl::string_view flag, absl::string_view value) {
  if (!absl::StartsWith(value, kCredentialPrefix)) return std::string(value);
  const absl::string_view name = value.substr(kCredentialPrefix.size());
  if (name.empty() || absl::StrContains(name, '/')) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--", flag, "=", value, ": a credential name is one file name, as in LoadCredential="));
  }
  const char* directory = std::getenv("CREDENTIALS_DIRECTORY");
  if (directory == nullptr || *directory == '\0') {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, "=", value,
                     ": $CREDENTIALS_DIRECTORY is not set (start rosterd from systemd with "
                     "LoadCredential=",
                     name, ":/etc/roster/FILE, or give a path)"));
  }
  return absl::StrCat(directory, "/", name);
}

absl::Status CheckSecretFileMode(absl::string_view flag, const std::string& path,
                                 const SecretFileOptions& options) {
  struct stat info {};
  if (stat(path.c_str(), &info) != 0) return OpenError(flag, path, errno);
  return CheckMode(flag, path, info, options);
}

absl::StatusOr<std::string> ReadSecretFile(absl::string_view flag, absl::string_view value,
                                           const SecretFileOptions& options) {
  absl::StatusOr<std::string> resolved = ResolveSecretPath(flag, value);
  if (!resolved.ok()) return resolved.status();
  const std::string& path = *resolved;
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return OpenError(flag, path, errno);
  absl::Cleanup closer = [fd] { close(fd); };
  // fstat of the open file: what is checked is what is read.
  struct stat info {};
  if (fstat(fd, &info) != 0) return OpenError(flag, path, errno);
  if (absl::Status mode = CheckMode(flag, path, info, options); !mode.ok()) return mode;
  std::string contents;
  char buffer[4096];
  while (contents.size() <= options.max_bytes) {
    const ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      return absl::PermissionDeniedError(
          absl::StrCat(Where(flag, path), ": cannot read: ", std::strerror(errno)));
    }
    if (n == 0) return contents;
    contents.append(buffer, static_cast<size_t>(n));
  }
  return absl::InvalidArgumentError(
      absl::StrCat(Where(flag, path), ": larger than ", options.max_bytes, " bytes"));
}

namespace {

// The first line of `value`'s file, through `clean` (which returns what to keep of it).
absl::StatusOr<std::string> ReadFirstLine(absl::string_view flag, absl::string_view value,
                                          const SecretFileOptions& options,
                                          absl::string_view (*clean)(absl::string_view)) {
  absl::StatusOr<std::string> contents = ReadSecretFile(flag, value, options);
  if (!contents.ok()) return contents.status();
  std::string line(clean(absl::string_view(*contents).substr(0, contents->find('\n'))));
  std::fill(contents->begin(), contents->end(), '\0');
  if (line.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, "=", value, ": the first line is empty"));
  }
  return line;
}

}  // namespace

absl::StatusOr<std::string> ReadSecretLine(absl::string_view flag, absl::string_view value,
                                           const SecretFileOptions& options) {
  return ReadFirstLine(flag, value, options, &absl::StripAsciiWhitespace);
}

absl::StatusOr<std::string> ReadSecretPassword(absl::string_view flag, absl::string_view value,
                                               const SecretFileOptions& options) {
  return ReadFirstLine(flag, value, options, [](absl::string_view line) {
    absl::ConsumeSuffix(&line, "\r");
    return line;
  });
}

}  // namespace roster
