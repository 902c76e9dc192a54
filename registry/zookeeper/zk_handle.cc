#include "registry/zookeeper/zk_handle.h"

#include <zookeeper/zookeeper.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "glog/logging.h"

namespace roster::registry {

// Everything a C-client callback needs to hand its result over. One per handle; the C client
// passes it back as the watcher context and inside every request context.
struct ZkRoute;

// The `data` argument of every completion: which handle, which request.
struct ZkRequestContext {
  const ZkRoute* route;
  uint64_t request_id;
};

struct ZkRoute {
  SerialExecutor* executor = nullptr;
  ZkEventSink* sink = nullptr;
  uint64_t generation = 0;
  // The requests the C client accepted and has not completed. zookeeper_close() on a connected
  // handle drops the completions of requests still waiting for their answer without calling
  // them (destroy() -> free_completions(zh, 0, ZCLOSING) in 3.8.0's zookeeper.c), so ~ZkHandle
  // answers those itself, and nothing is left waiting or leaked.
  mutable absl::Mutex mu;
  mutable absl::flat_hash_set<const ZkRequestContext*> outstanding ABSL_GUARDED_BY(mu);
};

namespace {

constexpr int kResolutionDelayMs = 30000;
// Replies still awaited above which a reply is posted rather than handled inline (Deliver).
constexpr size_t kMaxOutstandingToRunInline = 16;

// A context for a request about to be issued, counted as outstanding.
ZkRequestContext* NewContext(const ZkRoute* route, uint64_t request_id) {
  auto* context = new ZkRequestContext{route, request_id};
  absl::MutexLock lock(&route->mu);
  route->outstanding.insert(context);
  return context;
}

// Frees `context`, no longer outstanding. Returns how many requests of its route still are.
size_t FreeContext(const ZkRequestContext* context) {
  size_t outstanding;
  {
    absl::MutexLock lock(&context->route->mu);
    context->route->outstanding.erase(context);
    outstanding = context->route->outstanding.size();
  }
  delete context;
  return outstanding;
}

// The C client's log level is process-wide. Quiet by default: the registry logs the session
// transitions itself.
void SetClientLogLevelOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    ZooLogLevel level = ZOO_LOG_LEVEL_WARN;
    if (VLOG_IS_ON(3)) {
      level = ZOO_LOG_LEVEL_DEBUG;
    } else if (VLOG_IS_ON(1)) {
      level = ZOO_LOG_LEVEL_INFO;
    }
    zoo_set_debug_level(level);
  });
}

// Throttles the C client's warnings and errors per call site: while a server is down it
// reports every failed connection attempt, several times a second.
class LogThrottle {
 public:
  static constexpr absl::Duration kInterval = absl::Seconds(10);

  // True if a message from `site` may be logged now; `*suppressed` is how many were dropped
  // since the last one.
  bool Allow(absl::string_view site, int* suppressed) {
    const absl::Time now = absl::Now();
    absl::MutexLock lock(&mu_);
    Site& entry = sites_[std::string(site)];
    if (now - entry.last < kInterval) {
      ++entry.suppressed;
      return false;
    }
    entry.last = now;
    *suppressed = entry.suppressed;
    entry.suppressed = 0;
    return true;
  }

 private:
  struct Site {
    absl::Time last = absl::InfinitePast();
    int suppressed = 0;
  };
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Site> sites_ ABSL_GUARDED_BY(mu_);
};

// The C client formats "<time>:<pid>(<thread>):ZOO_WARN@<function>@<line>: <message>".
// Keep "<function>@<line>: <message>" and map the level onto glog's severities. Runs on the
// C client's threads; the throttle's mutex is a leaf lock, released before logging.
void LogToGlog(const char* message) {
  absl::string_view line(message);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  struct Level {
    absl::string_view tag;
    int severity;  // < 0: VLOG(-severity)
  };
  static constexpr Level kLevels[] = {{":ZOO_ERROR@", google::GLOG_ERROR},
                                      {":ZOO_WARN@", google::GLOG_WARNING},
                                      {":ZOO_INFO@", -1},
                                      {":ZOO_DEBUG@", -3}};
  int severity = google::GLOG_WARNING;
  for (const Level& level : kLevels) {
    const size_t at = line.find(level.tag);
    if (at != absl::string_view::npos) {
      severity = level.severity;
      line = line.substr(at + level.tag.size());
      break;
    }
  }
  if (severity < 0) {
    VLOG(-severity) << "zookeeper client: " << line;
    return;
  }
  static LogThrottle* throttle = new LogThrottle();
  int suppressed = 0;
  if (!throttle->Allow(line.substr(0, line.find(':')), &suppressed)) return;
  google::LogMessage(__FILE__, __LINE__, severity).stream()
      << "zookeeper client: " << line
      << (suppressed > 0 ? absl::StrCat(" (", suppressed, " similar suppressed)") : "");
}

Stat FromZkStat(const struct ::Stat& s) {
  Stat stat;
  stat.czxid = s.czxid;
  stat.mzxid = s.mzxid;
  stat.pzxid = s.pzxid;
  stat.ctime_ms = s.ctime;
  stat.mtime_ms = s.mtime;
  stat.version = s.version;
  stat.cversion = s.cversion;
  stat.ephemeral_owner = s.ephemeralOwner;
  stat.data_length = s.dataLength;
  stat.num_children = s.numChildren;
  return stat;
}

int CreateFlags(CreateMode mode) {
  switch (mode) {
    case CreateMode::kPersistent:
      return ZOO_PERSISTENT;
    case CreateMode::kEphemeral:
      return ZOO_EPHEMERAL;
    case CreateMode::kPersistentSequential:
      return ZOO_PERSISTENT_SEQUENTIAL;
    case CreateMode::kEphemeralSequential:
      return ZOO_EPHEMERAL_SEQUENTIAL;
  }
  return ZOO_PERSISTENT;
}

// Hands a result to the executor. Runs on the completion thread (or, for requests failed by
// zookeeper_close(), on the closing thread), which holds no lock of ours: the reply is handled
// right there if the executor is idle, saving a thread switch per reply (the same for watch
// events below). The registry never closes a handle inline (ZooKeeperRegistry::ReleaseHandle):
// zookeeper_close() joins the completion thread.
void Deliver(const void* data, ZkReply reply) {
  const auto* context = static_cast<const ZkRequestContext*>(data);
  const ZkRoute* route = context->route;
  const uint64_t id = context->request_id;
  const size_t outstanding = FreeContext(context);
  SerialExecutor::Task task = [sink = route->sink, generation = route->generation, id,
                               reply = std::move(reply)]() mutable {
    sink->OnZkReply(generation, id, std::move(reply));
  };
  // One of many replies in flight (a full read) is queued: the executor's thread handles them
  // in batches beside this one, which goes on reading replies.
  if (outstanding > kMaxOutstandingToRunInline) {
    route->executor->Post(std::move(task));
  } else {
    route->executor->RunInlineOrPost(std::move(task));
  }
}

void Watcher(zhandle_t* /*zh*/, int type, int state, const char* path, void* context) {
  const ZkRoute* route = static_cast<const ZkRoute*>(context);
  SerialExecutor::Task task = [sink = route->sink, generation = route->generation, type, state,
                               path = std::string(path == nullptr ? "" : path)]() mutable {
    sink->OnZkWatch(generation, type, state, std::move(path));
  };
  // Session events drive the session state machine, which closes and opens handles: they go
  // to the executor's own thread.
  if (type == ZOO_SESSION_EVENT) {
    route->executor->Post(std::move(task));
  } else {
    route->executor->RunInlineOrPost(std::move(task));
  }
}

void DataCompletion(int rc, const char* value, int value_len, const struct ::Stat* stat,
                    const void* data) {
  ZkReply reply;
  reply.rc = rc;
  if (rc == ZOK) {
    if (value != nullptr && value_len > 0) reply.data.assign(value, value_len);
    if (stat != nullptr) reply.stat = FromZkStat(*stat);
  }
  Deliver(data, std::move(reply));
}

void ChildrenCompletion(int rc, const struct String_vector* strings, const struct ::Stat* stat,
                        const void* data) {
  ZkReply reply;
  reply.rc = rc;
  if (rc == ZOK) {
    if (strings != nullptr) {
      reply.children.reserve(strings->count);
      for (int32_t i = 0; i < strings->count; ++i) reply.children.emplace_back(strings->data[i]);
    }
    if (stat != nullptr) reply.stat = FromZkStat(*stat);
  }
  Deliver(data, std::move(reply));
}

void StatCompletion(int rc, const struct ::Stat* stat, const void* data) {
  ZkReply reply;
  reply.rc = rc;
  if (rc == ZOK && stat != nullptr) reply.stat = FromZkStat(*stat);
  Deliver(data, std::move(reply));
}

void CreateCompletion(int rc, const char* path, const struct ::Stat* stat, const void* data) {
  ZkReply reply;
  reply.rc = rc;
  if (rc == ZOK) {
    if (path != nullptr) reply.path = path;
    if (stat != nullptr) reply.stat = FromZkStat(*stat);
  }
  Deliver(data, std::move(reply));
}

void VoidCompletion(int rc, const void* data) {
  ZkReply reply;
  reply.rc = rc;
  Deliver(data, std::move(reply));
}

}  // namespace

absl::StatusOr<std::unique_ptr<ZkHandle>> ZkHandle::Open(Options options) {
  CHECK(options.executor != nullptr && options.sink != nullptr);
  SetClientLogLevelOnce();
  auto route = std::make_unique<ZkRoute>();
  route->executor = options.executor;
  route->sink = options.sink;
  route->generation = options.generation;
  std::unique_ptr<ZkHandle> handle(new ZkHandle(options.generation, std::move(route)));
  const int timeout_ms = static_cast<int>(absl::ToInt64Milliseconds(options.session_timeout));
  errno = 0;
  // The same watcher function and context serve the session and every watch (see the header).
  handle->zh_ =
      zookeeper_init2(options.connect_string.c_str(), &Watcher, timeout_ms,
                      /*clientid=*/nullptr, handle->route_.get(), ZOO_NO_LOG_CLIENTENV, &LogToGlog);
  if (handle->zh_ == nullptr) {
    const int error = errno;
    if (error == EINVAL) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid ZooKeeper connect string '", options.connect_string, "'"));
    }
    return absl::UnavailableError(absl::StrCat("cannot start a ZooKeeper client for '",
                                               options.connect_string,
                                               "': ", std::strerror(error)));
  }
  // By default the C client resolves the host names again every time it polls its socket:
  // a getaddrinfo() per I/O loop, which costs more than the requests themselves when many are
  // pipelined. Re-resolve at most this often (and always after a connection loss).
  zoo_set_servers_resolution_delay(handle->zh_, kResolutionDelayMs);
  if (!options.digest.empty()) {
    // Kept by the C client and re-sent on every reconnect of this handle.
    const int rc = zoo_add_auth(handle->zh_, "digest", options.digest.data(),
                                static_cast<int>(options.digest.size()), nullptr, nullptr);
    if (rc != ZOK) {
      return absl::InternalError(
          absl::StrCat("cannot add the ZooKeeper digest credentials: ", zerror(rc)));
    }
  }
  return handle;
}

ZkHandle::ZkHandle(uint64_t generation, std::unique_ptr<ZkRoute> route)
    : generation_(generation), route_(std::move(route)) {}

ZkHandle::~ZkHandle() {
  if (zh_ == nullptr) return;
  // Joins the C client's threads: no completion runs after it returns.
  zookeeper_close(zh_);
  zh_ = nullptr;
  // The requests whose completions the C client dropped (see ZkRoute::outstanding) get the
  // answer it would have given, so `route_` may go.
  std::vector<const ZkRequestContext*> dropped;
  {
    absl::MutexLock lock(&route_->mu);
    dropped.assign(route_->outstanding.begin(), route_->outstanding.end());
  }
  for (const ZkRequestContext* context : dropped) {
    ZkReply reply;
    reply.rc = ZCLOSING;
    Deliver(context, std::move(reply));
  }
}

int64_t ZkHandle::session_id() const { return zoo_client_id(zh_)->client_id; }

std::string ZkHandle::password() const {
  const clientid_t* id = zoo_client_id(zh_);
  return std::string(id->passwd, sizeof(id->passwd));
}

absl::Duration ZkHandle::negotiated_timeout() const {
  return absl::Milliseconds(zoo_recv_timeout(zh_));
}

namespace {

// Frees the request context when the C client refused the request (no completion follows).
int Issued(int rc, ZkRequestContext* context) {
  if (rc != ZOK) FreeContext(context);
  return rc;
}

}  // namespace

int ZkHandle::GetData(const std::string& path, bool watch, uint64_t request_id) {
  ZkRequestContext* context = NewContext(route_.get(), request_id);
  return Issued(zoo_awget(zh_, path.c_str(), watch ? &Watcher : nullptr,
                          watch ? route_.get() : nullptr, &DataCompletion, context),
                context);
}

int ZkHandle::GetChildren(const std::string& path, bool watch, uint64_t request_id) {
  ZkRequestContext* context = NewContext(route_.get(), request_id);
  return Issued(zoo_awget_children2(zh_, path.c_str(), watch ? &Watcher : nullptr,
                                    watch ? route_.get() : nullptr, &ChildrenCompletion, context),
                context);
}

int ZkHandle::Exists(const std::string& path, bool watch, uint64_t request_id) {
  ZkRequestContext* context = NewContext(route_.get(), request_id);
  return Issued(zoo_awexists(zh_, path.c_str(), watch ? &Watcher : nullptr,
                             watch ? route_.get() : nullptr, &StatCompletion, context),
                context);
}

int ZkHandle::Create(const std::string& path, const std::string& data, const std::vector<Acl>& acl,
                     CreateMode mode, uint64_t request_id) {
  // The C client serialises the request before returning, so pointers into `acl` suffice.
  std::vector<struct ACL> entries;
  entries.reserve(acl.size());
  for (const Acl& entry : acl) {
    struct ACL c_entry;
    c_entry.perms = entry.perms;
    c_entry.id.scheme = const_cast<char*>(entry.scheme.c_str());
    c_entry.id.id = const_cast<char*>(entry.id.c_str());
    entries.push_back(c_entry);
  }
  struct ACL_vector acl_vector = {static_cast<int32_t>(entries.size()), entries.data()};
  ZkRequestContext* context = NewContext(route_.get(), request_id);
  return Issued(zoo_acreate2(zh_, path.c_str(), data.data(), static_cast<int>(data.size()),
                             &acl_vector, CreateFlags(mode), &CreateCompletion, context),
                context);
}

int ZkHandle::Set(const std::string& path, const std::string& data, int32_t expected_version,
                  uint64_t request_id) {
  ZkRequestContext* context = NewContext(route_.get(), request_id);
  return Issued(zoo_aset(zh_, path.c_str(), data.data(), static_cast<int>(data.size()),
                         expected_version, &StatCompletion, context),
                context);
}

int ZkHandle::Delete(const std::string& path, int32_t expected_version, uint64_t request_id) {
  ZkRequestContext* context = NewContext(route_.get(), request_id);
  return Issued(zoo_adelete(zh_, path.c_str(), expected_version, &VoidCompletion, context),
                context);
}

size_t ZkHandle::RemoveWatchesLocally(const std::vector<std::string>& paths) {
  size_t failed = 0;
  for (const std::string& path : paths) {
    // With local = 1, aremove_watches (zookeeper.c, 3.8.0) takes the watchers of our function
    // and context off the client's tables under its watcher lock and completes the call at
    // once: this synchronous call never waits for the server. (zoo_aremove_watches with
    // local = 1 cannot be used: it hands its `data` to notify_sync_completion as if it were
    // the synchronous call's.) ZNOWATCHER: the watch fired, its event is on its way to us.
    const int rc = zoo_remove_watches(zh_, path.c_str(), ZWATCHTYPE_ANY, &Watcher, route_.get(),
                                      /*local=*/1);
    if (rc != ZOK && rc != ZNOWATCHER && failed++ == 0) {
      LOG(WARNING) << "cannot drop the watches on '" << path << "' locally: " << zerror(rc);
    }
  }
  return failed;
}

}  // namespace roster::registry
