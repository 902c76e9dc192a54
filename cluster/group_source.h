// GroupSource: where worker groups are defined outside the registry, and how their changes
// reach the cluster layer.
//
// Since DolphinScheduler 3.1.1 a worker group is a row of DS's database table
// `t_ds_worker_group` (`name`, `addr_list` = comma-separated `host:port`). DS's master re-reads
// it every 10 s (master.worker-group-refresh-interval, at least 10 s: ServerNodeManager.java @
// 3.1.1-release .. 3.2.2-release; 2.0.x .. 3.1.0 also read it every 10 s, over the registry's
// group directories). On dev, WorkerGroupChangeNotifier.java schedules its re-read every
// 60000 *seconds* (a milliseconds constant passed with TimeUnit.SECONDS). roster reads the same
// table (cluster/dsdb/ds_database_group_source.h) or a static file (cluster/file_group_source.h),
// both behind this interface, so the cluster layer never sees a database or a file.
//
// A source publishes immutable snapshots (name -> sorted, unique, canonical addresses) and its
// freshness. It keeps the last good snapshot while the database is down or the file is bad:
// a source that cannot read is stale, never empty.
//
// Thread-safety: a GroupSource is thread-safe; its listener runs on the source's own serial
// executor, one call at a time, never under a lock of the source.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace roster::cluster {

// One complete read of the group definitions.
struct GroupSnapshot {
  // Group name -> its addresses ("host:port", canonical as ParseNodeAddress returns them),
  // sorted and unique. A group defined with no (valid) address maps to an empty vector.
  std::map<std::string, std::vector<std::string>> groups;
  // The source defines a group named "default". DolphinScheduler 3.1.1 .. 3.2.x then uses it
  // instead of "every worker"; dev (3.3) ignores it (ServerNodeManager.java @ 3.2.2-release,
  // WorkerClusters.java @ dev). The source reports; the cluster layer decides.
  bool defines_default = false;
  // Wall time of the read that produced these groups.
  absl::Time fetched_at = absl::InfinitePast();
  // Where they came from, without any secret: "postgresql://user@host:port/db",
  // "mysql://user@host:port/db", "file:///etc/roster/groups.conf".
  std::string source;

  // Same groups (fetched_at and source are not compared).
  bool SameGroupsAs(const GroupSnapshot& other) const {
    return groups == other.groups && defines_default == other.defines_default;
  }
};

// How fresh the published groups are.
struct GroupSourceStatus {
  // The last read failed (or none succeeded yet): the published snapshot, if any, may be out
  // of date.
  bool stale = true;
  // Empty when the last read succeeded cleanly. Otherwise what went wrong (the read's error),
  // or, after a successful read, the rows or entries that were skipped and why. Never holds a
  // password.
  std::string problem;
  // Wall time of the last successful read; InfinitePast() before the first.
  absl::Time last_success = absl::InfinitePast();
  // Consecutive failed reads; 0 after a success.
  int64_t failures = 0;

  // Same state for a listener: stale, problem and failures (last_success moves on every read
  // and alone is no change).
  bool SameStateAs(const GroupSourceStatus& other) const {
    return stale == other.stale && problem == other.problem && failures == other.failures;
  }
};

// Called on the source's executor.
struct GroupSourceListener {
  // Every snapshot whose groups differ from the previous one (and the first).
  std::function<void(std::shared_ptr<const GroupSnapshot>)> on_snapshot;
  // Every status change (see GroupSourceStatus::SameStateAs), including the first.
  std::function<void(const GroupSourceStatus&)> on_status;
};

class GroupSource {
 public:
  virtual ~GroupSource() = default;

  // Starts reading in the background: the first read at once, then every poll interval (after
  // a failure: sooner, with bounded exponential back-off). Returns without waiting for the first
  // read. FailedPrecondition if already started or shut down.
  virtual absl::Status Start(GroupSourceListener listener) = 0;

  // Stops the timers and joins the executor; no listener call runs after it returns. A read
  // in progress is finished first (a database read is bounded by its connect and query
  // timeouts). Idempotent. Must not be called from the listener.
  virtual void Shutdown() = 0;

  // Reads again as soon as possible (an operator's "reload", a SIGHUP), then polls on from
  // there. A no-op before Start() and after Shutdown().
  virtual void RefreshNow() = 0;

  // Where the groups come from, without secrets (GroupSnapshot::source).
  virtual std::string Describe() const = 0;
};

}  // namespace roster::cluster
