#include "cluster/file_group_source.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "cluster/worker_cluster.h"

namespace roster::cluster {
namespace {

// What identifies one version of the file without reading it.
struct FileIdentity {
  dev_t device = 0;
  ino_t inode = 0;
  off_t size = 0;
  int64_t mtime_ns = 0;

  bool operator==(const FileIdentity& other) const {
    return device == other.device && inode == other.inode && size == other.size &&
           mtime_ns == other.mtime_ns;
  }
};

class FileGroupFetcher final : public GroupFetcher {
 public:
  explicit FileGroupFetcher(std::string path) : path_(std::move(path)) {}

  absl::StatusOr<GroupFetch> Fetch() override {
    struct stat info {};
    if (stat(path_.c_str(), &info) != 0) {
      last_identity_.reset();
      return absl::NotFoundError(
          absl::StrCat("cannot read the worker group file '", path_, "': ", std::strerror(errno)));
    }
    const FileIdentity identity{
        info.st_dev, info.st_ino, info.st_size,
        static_cast<int64_t>(info.st_mtim.tv_sec) * 1000000000 + info.st_mtim.tv_nsec};
    if (last_identity_ == identity) return last_result_;
    last_identity_ = identity;
    last_result_ = Parse();
    return last_result_;
  }

  std::string Describe() const override { return absl::StrCat("file://", path_); }

 private:
  absl::StatusOr<GroupFetch> Parse() const {
    absl::StatusOr<StaticGroups> by_address = WorkerCluster::LoadStaticGroups(path_);
    if (!by_address.ok()) return by_address.status();
    GroupFetch fetch;
    for (const auto& [address, groups] : *by_address) {
      for (const std::string& group : groups) fetch.groups[group].push_back(address);
    }
    return fetch;
  }

  const std::string path_;
  std::optional<FileIdentity> last_identity_;
  absl::StatusOr<GroupFetch> last_result_;
};

PollingOptions ToPollingOptions(const FileGroupSourceOptions& options) {
  PollingOptions polling;
  // A zero or negative interval (the flag's validator refuses one) would spin.
  polling.poll_interval = std::max(options.poll_interval, absl::Milliseconds(1));
  // A bad file stays bad until someone edits it: retrying sooner than the poll interval would
  // only re-read the same bytes.
  polling.retry_initial_backoff = polling.poll_interval;
  polling.retry_max_backoff = polling.poll_interval;
  polling.executor_name = "group-file";
  polling.clock = options.clock;
  return polling;
}

}  // namespace

FileGroupSource::FileGroupSource(FileGroupSourceOptions options)
    : PollingGroupSource(ToPollingOptions(options),
                         std::make_unique<FileGroupFetcher>(options.path)) {}

}  // namespace roster::cluster
