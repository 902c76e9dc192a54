// ZkHandle: one ZooKeeper client session handle (a `zhandle_t` of the C client), as
// ZooKeeperRegistry uses it. A new session (after an expiry) is a new ZkHandle with the next
// generation number.
//
// The C client runs two threads per handle: an I/O thread and a completion thread that calls
// watchers and completions. ZkHandle's callbacks there copy the result into a plain struct
// and hand it, tagged with the handle's generation, to the registry executor (ZkEventSink)
// with SerialExecutor::RunInlineOrPost: when the executor is idle the sink runs right there,
// holding the executor (session events, and replies during a full read, are always posted;
// docs/architecture.md, "Threads"). They hold none of our locks while handing off; the
// registry never closes a handle on the completion thread (ReleaseHandle).
//
// Only the asynchronous API is used (zoo_a*). Every watch uses the one watcher function and
// context of the handle (the same pair as the session watcher), so the C client keeps at
// most one watch per (path, kind) and each event is reported once.
//
// The C client's log goes to glog (WARNING and above by default; INFO with --v=1, DEBUG with
// --v=3). Digest credentials are handed to zoo_add_auth() and never logged.
//
// Internal to registry/zookeeper/. Thread-safety: a ZkHandle is confined to the registry
// executor (Open, the operations and Close run there, or before it starts); results arrive
// there, or inline on the completion thread holding it, through the sink.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "registry/registry.h"
#include "util/executor.h"

typedef struct _zhandle zhandle_t;

namespace roster::registry {

// The result of one asynchronous request, copied out of the C client's buffers.
struct ZkReply {
  int rc = 0;                         // a ZOO_ERRORS value
  std::string data;                   // GetData
  std::optional<Stat> stat;           // GetData, GetChildren, Exists, Create, Set (on success)
  std::vector<std::string> children;  // GetChildren, as the server lists them (unsorted)
  std::string path;                   // Create: the created path
};

// Receives, on the registry executor, what a handle reports. Every call carries the
// generation of the handle it came from.
class ZkEventSink {
 public:
  virtual ~ZkEventSink() = default;
  // A watcher call: `type` is ZOO_SESSION_EVENT (then `state` is the new connection state)
  // or a node event (ZOO_CREATED_EVENT, ...) for `path`.
  virtual void OnZkWatch(uint64_t generation, int type, int state, std::string path) = 0;
  // The completion of request `request_id` (see the operations below).
  virtual void OnZkReply(uint64_t generation, uint64_t request_id, ZkReply reply) = 0;
};

struct ZkRoute;

class ZkHandle {
 public:
  struct Options {
    std::string connect_string;  // "h1:2181,h2:2181/chroot"
    absl::Duration session_timeout;
    std::string digest;  // "user:password", or empty
    uint64_t generation = 0;
    SerialExecutor* executor = nullptr;  // where the sink is called; outlives the handle
    ZkEventSink* sink = nullptr;         // outlives every task posted to `executor`
  };

  // Creates the handle and starts connecting (zookeeper_init2 + zoo_add_auth).
  // InvalidArgument for a malformed connect string, Unavailable if the C client cannot start
  // (e.g. no host resolves).
  static absl::StatusOr<std::unique_ptr<ZkHandle>> Open(Options options);

  // Closes the session (zookeeper_close: its ephemerals are deleted if the server answers).
  // Blocks for at most a few seconds when the server does not answer. Outstanding requests
  // complete with ZCLOSING through the sink. Must not run on the C client's threads.
  ~ZkHandle();

  ZkHandle(const ZkHandle&) = delete;
  ZkHandle& operator=(const ZkHandle&) = delete;

  uint64_t generation() const { return generation_; }

  // The session's id, password (16 raw bytes) and negotiated timeout. Valid once the sink
  // was told ZOO_CONNECTED_STATE.
  int64_t session_id() const;
  std::string password() const;
  absl::Duration negotiated_timeout() const;

  // Asynchronous requests. Each returns the C client's immediate result: ZOK if the request
  // was queued (its reply then reaches the sink exactly once, under `request_id`), or an
  // error code (no reply follows). `watch` leaves a one-shot watch reported to the sink.
  int GetData(const std::string& path, bool watch, uint64_t request_id);
  int GetChildren(const std::string& path, bool watch, uint64_t request_id);
  int Exists(const std::string& path, bool watch, uint64_t request_id);
  int Create(const std::string& path, const std::string& data, const std::vector<Acl>& acl,
             CreateMode mode, uint64_t request_id);
  int Set(const std::string& path, const std::string& data, int32_t expected_version,
          uint64_t request_id);
  int Delete(const std::string& path, int32_t expected_version, uint64_t request_id);

  // Forgets this handle's watches on `paths` in the C client only, without asking the
  // server; they are then no longer re-registered on a reconnect (see watch_ledger.h).
  // Completes at once (no server round trip), so it may run on the executor while the
  // connection is down. Returns how many paths failed (the first is logged); a path without
  // a watch is not a failure.
  size_t RemoveWatchesLocally(const std::vector<std::string>& paths);

 private:
  ZkHandle(uint64_t generation, std::unique_ptr<ZkRoute> route);

  const uint64_t generation_;
  // Where the C client's callbacks post to (see zk_handle.cc). Owned here, referenced by
  // the C client until zookeeper_close() returns.
  const std::unique_ptr<ZkRoute> route_;
  zhandle_t* zh_ = nullptr;
};

}  // namespace roster::registry
