// FileGroupSource: the worker groups of a static file (--worker_group_file), re-read when the
// file changes.
//
// The format is WorkerCluster::LoadStaticGroups's: one group per line,
// `group = host:port, host:port`, blank lines and `#` comments allowed. The file is checked
// every poll interval (and on RefreshNow()) by its inode, size and modification time, and
// parsed again only when one of them changed. A file that is missing or does not parse keeps
// the last good groups; the source is then stale and its problem names the file and line.
// Replace the file by renaming a new one over it: an in-place rewrite of the same size within
// the file system's timestamp granularity can go unnoticed until the next change.
//
// A group line with no address (`spark =`) defines no group: the parser maps addresses to
// groups, so such a line leaves nothing behind.
//
// Thread-safety: thread-safe (see GroupSource).
#pragma once

#include <string>

#include "absl/time/time.h"
#include "cluster/polling_group_source.h"
#include "util/clock.h"

namespace roster::cluster {

struct FileGroupSourceOptions {
  // The group file.
  std::string path;
  // How often the file is checked for a change. Must be positive.
  absl::Duration poll_interval = absl::Seconds(10);
  // Not owned; must outlive the source.
  Clock* clock = Clock::Real();
};

class FileGroupSource final : public PollingGroupSource {
 public:
  // Does no I/O: a missing file is reported by the first read, through the status.
  explicit FileGroupSource(FileGroupSourceOptions options);
};

}  // namespace roster::cluster
