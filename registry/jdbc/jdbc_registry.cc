#include "registry/jdbc/jdbc_registry.h"

#include <atomic>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "cluster/dsdb/sql_client.h"
#include "glog/logging.h"
#include "registry/jdbc/ds_jdbc_tables.h"
#include "registry/jdbc/jdbc_mirror.h"
#include "registry/memory/memory_registry.h"
#include "util/executor.h"
#include "util/status_macros.h"

namespace roster::registry {
namespace {

using jdbc::DsChangeEvent;
using jdbc::DsDataRow;

// True while this thread runs one of our listeners or callbacks (the reader's executor):
// the synchronous wrappers must not be called there.
thread_local bool in_callback = false;

template <typename Fn>
auto Marked(Fn fn) {
  return [fn = std::move(fn)](auto&&... args) mutable {
    const bool was = in_callback;
    in_callback = true;
    std::move(fn)(std::forward<decltype(args)>(args)...);
    in_callback = was;
  };
}

absl::Status ReadOnly(absl::string_view op, absl::string_view path) {
  return absl::UnimplementedError(absl::StrCat(
      op, " '", path,
      "': the JDBC registry is read-only in roster (DolphinScheduler's servers write it)"));
}

class JdbcRegistry final : public Registry {
 public:
  JdbcRegistry(const cluster::dsdb::DatabaseUri& database, RegistryOptions options)
      : options_(std::move(options)),
        description_(absl::StrCat("jdbc:", database.ToString())),
        store_(std::make_shared<MemoryStore>()),
        reader_(std::make_unique<MemoryRegistry>(store_, "", ReaderOptions(options_))),
        mirror_(std::make_unique<jdbc::JdbcMirror>(store_)),
        poller_(options_.name + "-jdbc", options_.clock) {
    cluster::dsdb::SqlClientOptions sql;
    sql.uri = database;
    if (!options_.jdbc_password.empty()) {
      // Read once, at start (NewRegistry()); a copy lives in the client for reconnections.
      sql.password = [password = options_.jdbc_password] {
        return absl::StatusOr<std::string>(password);
      };
    }
    sql.application_name = "rosterd-jdbc-registry";
    sql.connect_timeout = options_.operation_timeout;
    sql.query_timeout = options_.operation_timeout;
    sql_ = cluster::dsdb::NewSqlClient(std::move(sql));
    std::fill(options_.jdbc_password.begin(), options_.jdbc_password.end(), '\0');
  }

  ~JdbcRegistry() override { Shutdown(); }

  absl::Status Start() override {
    absl::MutexLock lock(&mu_);
    if (shut_down_) return absl::FailedPreconditionError("the JDBC registry is shut down");
    if (started_) return absl::OkStatus();
    started_ = true;
    poller_.Start();
    poller_.Post([this] { Tick(); });
    return absl::OkStatus();
  }

  void Shutdown() override {
    {
      absl::MutexLock lock(&mu_);
      if (shut_down_) return;
      shut_down_ = true;
    }
    closed_.store(true);
    poller_.Shutdown();  // joins: no tick runs from here on
    reader_->Shutdown();
    mirror_.reset();
    sql_.reset();
  }

  SessionInfo session() const override { return reader_->session(); }

  std::unique_ptr<ListenerHandle> WatchSession(SessionListener listener) override {
    return reader_->WatchSession(Marked(std::move(listener)));
  }

  absl::StatusOr<std::unique_ptr<Subscription>> Subscribe(std::string root,
                                                          SubscribeOptions options,
                                                          EventListener listener) override {
    return reader_->Subscribe(std::move(root), options, Marked(std::move(listener)));
  }

  void GetAsync(std::string path, Callback<Node> done) override {
    if (!Readable(done)) return;
    reader_->GetAsync(std::move(path), Marked(std::move(done)));
  }
  void GetChildrenAsync(std::string path, Callback<Children> done) override {
    if (!Readable(done)) return;
    reader_->GetChildrenAsync(std::move(path), Marked(std::move(done)));
  }
  void ExistsAsync(std::string path, Callback<std::optional<Stat>> done) override {
    if (!Readable(done)) return;
    reader_->ExistsAsync(std::move(path), Marked(std::move(done)));
  }
  void CreateAsync(std::string path, std::string, CreateOptions,
                   Callback<std::string> done) override {
    std::move(done)(ReadOnly("create", path));
  }
  void SetAsync(std::string path, std::string, int32_t, Callback<Stat> done) override {
    std::move(done)(ReadOnly("set", path));
  }
  void DeleteAsync(std::string path, int32_t, DoneCallback done) override {
    std::move(done)(ReadOnly("delete", path));
  }

 protected:
  bool OnExecutorThread() const override { return in_callback; }

 private:
  static RegistryOptions ReaderOptions(const RegistryOptions& options) {
    RegistryOptions reader = options;
    reader.jdbc_password.clear();
    reader.digest.clear();
    reader.digest_file.clear();
    return reader;
  }

  // Before the first full read the reader is not started: fail at once with Unavailable,
  // as a ZooKeeper client without a session would time out.
  template <typename T>
  bool Readable(Callback<T>& done) {
    if (closed_.load()) {
      std::move(done)(
          absl::FailedPreconditionError(absl::StrCat(description_, ": the registry is shut down")));
      return false;
    }
    if (reader_started_.load()) return true;
    std::move(done)(absl::UnavailableError(
        absl::StrCat(description_, ": not connected yet (no full read of the registry tables)")));
    return false;
  }

  // One poll (on the poller thread), then the next one is scheduled.
  void Tick() {
    poller_.AssertCurrent();
    absl::Status status = healthy_ ? PollEvents() : FullRead();
    if (status.ok() && healthy_ && options_.clock->Now() >= next_full_read_) status = FullRead();
    if (status.ok()) {
      OnHealthy();
    } else {
      OnFailure(status);
    }
    poller_.PostAfter(options_.jdbc_poll_interval, [this] { Tick(); });
  }

  absl::Status FullRead() {
    // The max id first: every event up to it is reflected in the rows read after it.
    ASSIGN_OR_RETURN(const int64_t max_id, jdbc::ReadMaxEventId(*sql_));
    ASSIGN_OR_RETURN(rows_, jdbc::ReadAllRows(*sql_));
    RETURN_IF_ERROR(mirror_->Reconcile(rows_));
    if (mirror_->skipped_keys() > 0) {
      LOG_EVERY_N(WARNING, 100) << description_ << ": " << mirror_->skipped_keys()
                                << " data_key values are not registry paths; skipped";
    }
    last_event_id_ = max_id;
    next_full_read_ = options_.clock->Now() + options_.jdbc_full_read_interval;
    ++full_reads_;
    return absl::OkStatus();
  }

  // New change events, as DS's JdbcRegistryDataManager reads them; their keys re-read.
  absl::Status PollEvents() {
    while (true) {
      ASSIGN_OR_RETURN(std::vector<DsChangeEvent> events,
                       jdbc::ReadEventsAfter(*sql_, last_event_id_));
      if (events.empty()) return absl::OkStatus();
      std::set<std::string> keys;
      for (const DsChangeEvent& event : events) {
        if (event.key.empty()) return FullRead();  // an event we cannot read: read everything
        keys.insert(event.key);
      }
      using Rows = std::map<std::string, DsDataRow>;
      ASSIGN_OR_RETURN(Rows now,
                       jdbc::ReadRows(*sql_, std::vector<std::string>(keys.begin(), keys.end())));
      for (const std::string& key : keys) {
        auto found = now.find(key);
        if (found == now.end()) {
          rows_.erase(key);
        } else {
          rows_[key] = std::move(found->second);
        }
      }
      RETURN_IF_ERROR(mirror_->Reconcile(rows_));
      last_event_id_ = events.back().id;
      if (events.size() < static_cast<size_t>(jdbc::kEventBatch)) return absl::OkStatus();
    }
  }

  void OnHealthy() {
    if (!healthy_) LOG(INFO) << description_ << ": reading the registry tables";
    healthy_ = true;
    if (!reader_started_.load()) {
      const absl::Status started = reader_->Start();
      CHECK(started.ok()) << started;
      reader_started_.store(true);
    } else if (suspended_) {
      reader_->Reconnect();
    }
    suspended_ = false;
  }

  void OnFailure(const absl::Status& status) {
    if (healthy_ || full_reads_ == 0) {
      LOG_EVERY_N(WARNING, 10) << description_ << ": " << status.message();
    }
    healthy_ = false;
    sql_->Disconnect();
    if (reader_started_.load() && !suspended_) {
      reader_->Disconnect();
      suspended_ = true;
    }
  }

  RegistryOptions options_;
  const std::string description_;
  const std::shared_ptr<MemoryStore> store_;
  const std::unique_ptr<MemoryRegistry> reader_;

  absl::Mutex mu_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<bool> reader_started_{false};
  std::atomic<bool> closed_{false};

  // Poller state: on poller_ only.
  std::unique_ptr<jdbc::JdbcMirror> mirror_;
  std::unique_ptr<cluster::dsdb::SqlClient> sql_;
  std::map<std::string, DsDataRow> rows_;
  int64_t last_event_id_ = -1;
  absl::Time next_full_read_ = absl::InfinitePast();
  bool healthy_ = false;
  bool suspended_ = false;
  int64_t full_reads_ = 0;
  SerialExecutor poller_;  // last: joined first
};

}  // namespace

std::unique_ptr<Registry> NewJdbcRegistry(const cluster::dsdb::DatabaseUri& database,
                                          RegistryOptions options) {
  return std::make_unique<JdbcRegistry>(database, std::move(options));
}

}  // namespace roster::registry
