#include "registry/jdbc/jdbc_mirror.h"

#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "util/status_macros.h"

namespace roster::registry::jdbc {

class JdbcMirror::NullSink final : public memory_internal::ClientSink {
 public:
  void OnWatchEvent(const internal::WatchEvent&) override {}
  void OnSessionEvent(const SessionEvent&) override {}
  void ArmLossTimer(absl::Time) override {}
};

namespace {

// Runs a store operation whose answer comes inline (the writers' mailbox has no executor).
template <typename T, typename Op>
absl::StatusOr<T> RunInline(Op op) {
  std::optional<absl::StatusOr<T>> answer;
  op([&answer](absl::StatusOr<T> result) { answer = std::move(result); });
  if (!answer.has_value()) return absl::InternalError("jdbc mirror: the store did not answer");
  return *std::move(answer);
}

}  // namespace

JdbcMirror::JdbcMirror(std::shared_ptr<MemoryStore> store)
    : store_(std::move(store)),
      sink_(std::make_unique<NullSink>()),
      mailbox_(std::make_shared<memory_internal::Mailbox>(nullptr)) {}

JdbcMirror::~JdbcMirror() {
  for (const auto& [client, id] : writers_) store_->impl()->Close(id);
}

MemoryStore::Impl::ClientId JdbcMirror::Writer(int64_t client_id) {
  auto it = writers_.find(client_id);
  if (it != writers_.end()) return it->second;
  memory_internal::ClientConfig config;
  config.name = absl::StrCat("jdbc-client-", client_id);
  config.session_timeout = absl::Hours(24 * 365);  // never lost: the store is ours
  config.clock = Clock::Real();
  const MemoryStore::Impl::ClientId id = store_->impl()->AddClient(config, sink_.get(), mailbox_);
  store_->impl()->Connect(id);
  writers_[client_id] = id;
  return id;
}

std::map<std::string, JdbcMirror::Mirrored> JdbcMirror::Desired(
    const std::map<std::string, DsDataRow>& rows) {
  std::map<std::string, Mirrored> desired;
  std::set<std::string> parents;
  skipped_keys_ = 0;
  for (const auto& [key, row] : rows) {
    if (key == "/" || !ValidatePath(key).ok()) {
      ++skipped_keys_;
      continue;
    }
    Mirrored& node = desired[key];
    node.data = row.value;
    node.ephemeral = row.ephemeral;
    node.client_id = row.ephemeral ? row.client_id : 0;
    for (std::string parent = ParentPath(key); parent != "/"; parent = ParentPath(parent)) {
      if (!parents.insert(parent).second) break;  // its own parents are in already
    }
  }
  for (const std::string& parent : parents) {
    Mirrored& node = desired[parent];  // an implied, empty node unless a row names it
    node.ephemeral = false;
    node.client_id = 0;
  }
  return desired;
}

absl::Status JdbcMirror::Reconcile(const std::map<std::string, DsDataRow>& rows) {
  const std::map<std::string, Mirrored> desired = Desired(rows);
  // Deepest first: in reverse path order every node comes before its parent.
  std::vector<std::string> gone;
  for (auto it = mirrored_.rbegin(); it != mirrored_.rend(); ++it) {
    auto want = desired.find(it->first);
    if (want == desired.end() || want->second.ephemeral != it->second.ephemeral ||
        want->second.client_id != it->second.client_id) {
      gone.push_back(it->first);
    }
  }
  for (const std::string& path : gone) {
    RETURN_IF_ERROR(Delete(path));
    mirrored_.erase(path);
  }
  // Parents first: a path sorts before every path below it.
  for (const auto& [path, node] : desired) {
    auto have = mirrored_.find(path);
    if (have == mirrored_.end()) {
      RETURN_IF_ERROR(Create(path, node));
      mirrored_[path] = node;
    } else if (have->second.data != node.data) {
      RETURN_IF_ERROR(Set(path, node.data));
      have->second.data = node.data;
    }
  }
  CloseIdleWriters();
  return absl::OkStatus();
}

absl::Status JdbcMirror::Create(const std::string& path, const Mirrored& node) {
  CreateOptions options;
  options.mode = node.ephemeral ? CreateMode::kEphemeral : CreateMode::kPersistent;
  const MemoryStore::Impl::ClientId writer = Writer(node.client_id);
  return RunInline<std::string>([&](Callback<std::string> done) {
           store_->impl()->Create(writer, path, node.data, options, std::move(done));
         })
      .status();
}

absl::Status JdbcMirror::Set(const std::string& path, const std::string& data) {
  const MemoryStore::Impl::ClientId writer = Writer(0);
  return RunInline<Stat>([&](Callback<Stat> done) {
           store_->impl()->Set(writer, path, data, Registry::kAnyVersion, std::move(done));
         })
      .status();
}

absl::Status JdbcMirror::Delete(const std::string& path) {
  const MemoryStore::Impl::ClientId writer = Writer(0);
  absl::StatusOr<bool> deleted = RunInline<bool>([&](Callback<bool> done) {
    store_->impl()->Delete(writer, path, Registry::kAnyVersion,
                           [done = std::move(done)](absl::Status status) mutable {
                             if (status.ok()) {
                               std::move(done)(true);
                             } else {
                               std::move(done)(status);
                             }
                           });
  });
  return deleted.status();
}

void JdbcMirror::CloseIdleWriters() {
  std::set<int64_t> owners = {0};
  for (const auto& [path, node] : mirrored_) owners.insert(node.client_id);
  for (auto it = writers_.begin(); it != writers_.end();) {
    if (owners.count(it->first) == 0) {
      store_->impl()->Close(it->second);
      it = writers_.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace roster::registry::jdbc
