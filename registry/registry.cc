#include "registry/registry.h"

#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "glog/logging.h"

namespace roster::registry {
namespace {

// Runs an async operation and waits for its callback. The callback runs on the registry
// executor, so the caller must not be on it.
template <typename T, typename Start>
absl::StatusOr<T> Await(Start start) {
  absl::Notification done;
  absl::StatusOr<T> result = absl::UnknownError("operation never completed");
  start([&](absl::StatusOr<T> r) {
    result = std::move(r);
    done.Notify();
  });
  done.WaitForNotification();
  return result;
}

}  // namespace

bool operator==(const Stat& a, const Stat& b) {
  return a.czxid == b.czxid && a.mzxid == b.mzxid && a.pzxid == b.pzxid &&
         a.ctime_ms == b.ctime_ms && a.mtime_ms == b.mtime_ms && a.version == b.version &&
         a.cversion == b.cversion && a.ephemeral_owner == b.ephemeral_owner &&
         a.data_length == b.data_length && a.num_children == b.num_children;
}

std::vector<Acl> Acl::Open() { return {Acl{kAll, "world", "anyone"}}; }

std::vector<Acl> Acl::CreatorAll() { return {Acl{kAll, "auth", ""}}; }

absl::string_view SessionStateName(SessionState state) {
  switch (state) {
    case SessionState::kConnecting:
      return "CONNECTING";
    case SessionState::kConnected:
      return "CONNECTED";
    case SessionState::kSuspended:
      return "SUSPENDED";
    case SessionState::kLost:
      return "LOST";
    case SessionState::kExpired:
      return "EXPIRED";
    case SessionState::kAuthFailed:
      return "AUTH_FAILED";
    case SessionState::kClosed:
      return "CLOSED";
  }
  return "UNKNOWN";
}

absl::string_view SessionEventTypeName(SessionEventType type) {
  switch (type) {
    case SessionEventType::kConnected:
      return "CONNECTED";
    case SessionEventType::kSuspended:
      return "SUSPENDED";
    case SessionEventType::kReconnected:
      return "RECONNECTED";
    case SessionEventType::kLost:
      return "LOST";
    case SessionEventType::kExpired:
      return "EXPIRED";
    case SessionEventType::kAuthFailed:
      return "AUTH_FAILED";
    case SessionEventType::kClosed:
      return "CLOSED";
  }
  return "UNKNOWN";
}

absl::string_view EventTypeName(EventType type) {
  switch (type) {
    case EventType::kAdded:
      return "ADDED";
    case EventType::kUpdated:
      return "UPDATED";
    case EventType::kRemoved:
      return "REMOVED";
    case EventType::kSynced:
      return "SYNCED";
  }
  return "UNKNOWN";
}

absl::Status Registry::WaitConnected(absl::Duration timeout) {
  // Counts session events; shared because the listener may run once more while the handle is
  // being destroyed.
  struct EventCounter {
    absl::Mutex mu;
    int64_t events ABSL_GUARDED_BY(mu) = 0;
  };
  auto counter = std::make_shared<EventCounter>();
  std::unique_ptr<ListenerHandle> handle = WatchSession([counter](const SessionEvent&) {
    absl::MutexLock lock(&counter->mu);
    ++counter->events;
  });
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    int64_t seen;
    {
      absl::MutexLock lock(&counter->mu);
      seen = counter->events;
    }
    // Read the state after the counter, so an event in between wakes the wait below at once.
    const SessionState state = session().state;
    switch (state) {
      case SessionState::kConnected:
        return absl::OkStatus();
      case SessionState::kAuthFailed:
        return absl::UnauthenticatedError("the registry rejected our credentials");
      case SessionState::kClosed:
        return absl::FailedPreconditionError("the registry is shut down");
      default:
        break;
    }
    absl::MutexLock lock(&counter->mu);
    auto changed = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(counter->mu) {
      return counter->events != seen;
    };
    if (!counter->mu.AwaitWithDeadline(absl::Condition(&changed), deadline)) {
      return absl::DeadlineExceededError(absl::StrCat("no registry connection within ",
                                                      absl::FormatDuration(timeout), " (session ",
                                                      SessionStateName(state), ")"));
    }
  }
}

absl::StatusOr<Node> Registry::Get(std::string path) {
  CHECK(!OnExecutorThread()) << "synchronous Get(" << path << ") on the registry executor";
  return Await<Node>([&](Callback<Node> done) { GetAsync(std::move(path), std::move(done)); });
}

absl::StatusOr<Children> Registry::GetChildren(std::string path) {
  CHECK(!OnExecutorThread()) << "synchronous GetChildren(" << path << ") on the registry executor";
  return Await<Children>(
      [&](Callback<Children> done) { GetChildrenAsync(std::move(path), std::move(done)); });
}

absl::StatusOr<std::optional<Stat>> Registry::Exists(std::string path) {
  CHECK(!OnExecutorThread()) << "synchronous Exists(" << path << ") on the registry executor";
  return Await<std::optional<Stat>>(
      [&](Callback<std::optional<Stat>> done) { ExistsAsync(std::move(path), std::move(done)); });
}

absl::StatusOr<std::string> Registry::Create(std::string path, std::string data,
                                             CreateOptions options) {
  CHECK(!OnExecutorThread()) << "synchronous Create(" << path << ") on the registry executor";
  return Await<std::string>([&](Callback<std::string> done) {
    CreateAsync(std::move(path), std::move(data), std::move(options), std::move(done));
  });
}

absl::StatusOr<Stat> Registry::Set(std::string path, std::string data, int32_t expected_version) {
  CHECK(!OnExecutorThread()) << "synchronous Set(" << path << ") on the registry executor";
  return Await<Stat>([&](Callback<Stat> done) {
    SetAsync(std::move(path), std::move(data), expected_version, std::move(done));
  });
}

absl::Status Registry::Delete(std::string path, int32_t expected_version) {
  CHECK(!OnExecutorThread()) << "synchronous Delete(" << path << ") on the registry executor";
  absl::StatusOr<bool> result = Await<bool>([&](Callback<bool> done) {
    DeleteAsync(std::move(path), expected_version,
                [done = std::move(done)](absl::Status status) mutable {
                  if (status.ok()) {
                    std::move(done)(true);
                  } else {
                    std::move(done)(std::move(status));
                  }
                });
  });
  return result.status();
}

absl::Status ValidatePath(absl::string_view path) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid registry path '", absl::CHexEscape(path), "': ", why));
  };
  if (path.empty() || path[0] != '/') return bad("must start with '/'");
  if (path == "/") return absl::OkStatus();
  if (path.back() == '/') return bad("must not end with '/'");
  if (path.find('\0') != absl::string_view::npos) return bad("contains a NUL byte");
  for (absl::string_view segment : absl::StrSplit(path.substr(1), '/')) {
    if (segment.empty()) return bad("empty segment");
    if (segment == "." || segment == "..") return bad("'.' and '..' are not allowed");
  }
  return absl::OkStatus();
}

std::string ParentPath(absl::string_view path) {
  const size_t slash = path.rfind('/');
  if (slash == absl::string_view::npos || slash == 0) return "/";
  return std::string(path.substr(0, slash));
}

std::string BaseName(absl::string_view path) {
  const size_t slash = path.rfind('/');
  if (slash == absl::string_view::npos) return std::string(path);
  return std::string(path.substr(slash + 1));
}

std::string JoinPath(absl::string_view parent, absl::string_view child) {
  if (parent == "/") return absl::StrCat("/", child);
  return absl::StrCat(parent, "/", child);
}

}  // namespace roster::registry
