#include "cluster/dsdb/ds_database_group_source.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cluster/dsdb/database_uri.h"
#include "cluster/dsdb/worker_group_table.h"
#include "util/status_macros.h"

namespace roster::cluster::dsdb {
namespace {

// A password file larger than this is not a password file.
constexpr size_t kMaxPasswordFileBytes = 4096;

absl::Status CheckDuration(absl::string_view name, absl::Duration value) {
  if (value <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, " must be positive, not ", absl::FormatDuration(value)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> ReadPasswordFile(const std::string& path, bool allow_shared) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int error = errno;
    const std::string message =
        absl::StrCat("cannot open the password file '", path, "': ", std::strerror(error));
    return error == ENOENT ? absl::NotFoundError(message) : absl::PermissionDeniedError(message);
  }
  struct FdCloser {
    int fd;
    ~FdCloser() { close(fd); }
  } closer{fd};
  struct stat info {};
  if (fstat(fd, &info) != 0) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot stat the password file '", path, "': ", std::strerror(errno)));
  }
  if ((info.st_mode & (S_IRWXG | S_IRWXO)) != 0 && !allow_shared) {
    return absl::PermissionDeniedError(absl::StrFormat(
        "the password file '%s' is accessible by group or others (mode %04o); chmod 600 it", path,
        info.st_mode & 07777));
  }
  std::string contents;
  char buffer[512];
  while (contents.size() <= kMaxPasswordFileBytes) {
    const ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      return absl::PermissionDeniedError(
          absl::StrCat("cannot read the password file '", path, "': ", std::strerror(errno)));
    }
    if (n == 0) break;
    contents.append(buffer, static_cast<size_t>(n));
  }
  if (contents.size() > kMaxPasswordFileBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("the password file '", path, "' is over ", kMaxPasswordFileBytes, " bytes"));
  }
  const size_t end = contents.find_first_of("\r\n");
  if (end != std::string::npos) contents.resize(end);
  return contents;
}

absl::StatusOr<std::unique_ptr<DsDatabaseGroupSource>> DsDatabaseGroupSource::Create(
    DsDatabaseGroupSourceOptions options) {
  ASSIGN_OR_RETURN(DatabaseUri uri, ParseDatabaseUri(options.uri));
  RETURN_IF_ERROR(CheckDuration("poll_interval", options.poll_interval));
  RETURN_IF_ERROR(CheckDuration("connect_timeout", options.connect_timeout));
  RETURN_IF_ERROR(CheckDuration("query_timeout", options.query_timeout));
  RETURN_IF_ERROR(CheckDuration("retry_initial_backoff", options.retry_initial_backoff));
  RETURN_IF_ERROR(CheckDuration("retry_max_backoff", options.retry_max_backoff));
  if (!options.password_file.empty()) {
    RETURN_IF_ERROR(
        ReadPasswordFile(options.password_file, options.allow_shared_password_file).status());
  }

  PollingOptions polling;
  polling.poll_interval = options.poll_interval;
  polling.retry_initial_backoff = options.retry_initial_backoff;
  polling.retry_max_backoff = options.retry_max_backoff;
  polling.executor_name = "ds-db-groups";
  polling.clock = options.clock;
  ConnectionSettings settings;
  settings.uri = uri;
  settings.password_file = options.password_file;
  settings.allow_shared_password_file = options.allow_shared_password_file;
  settings.connect_timeout = options.connect_timeout;
  settings.query_timeout = options.query_timeout;
  auto fetcher = std::make_unique<WorkerGroupTable>(std::move(settings));
  return std::unique_ptr<DsDatabaseGroupSource>(
      new DsDatabaseGroupSource(std::move(polling), std::move(fetcher)));
}

}  // namespace roster::cluster::dsdb
