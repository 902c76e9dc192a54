#include "cluster/node_table.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cluster/layout.h"
#include "glog/logging.h"
#include "util/log_escape.h"

namespace roster::cluster {
namespace {

struct Verdict {
  NodeInput input;
  absl::string_view cause;  // a constant, or the caller's buffer
};

// What a valid heartbeat says about the node. A cause that is not a constant is formatted
// into `*buffer` (a heartbeat's cause is not copied per heartbeat).
Verdict Judge(const roster::v1::Heartbeat& heartbeat, const NodeTableOptions& options,
              std::string* buffer) {
  using roster::v1::Heartbeat;
  switch (heartbeat.server_status()) {
    case Heartbeat::ABNORMAL:
      // DolphinScheduler's ABNORMAL is a resource limit (CPU load too high or memory too
      // low), not a broken node: it takes no new work, as when BUSY, and a master keeps its
      // slot.
      return {NodeInput::kHeartbeatBusy,
              "heartbeat ABNORMAL (load or memory over the node's limits)"};
    case Heartbeat::BUSY:
      return {NodeInput::kHeartbeatBusy, "heartbeat BUSY"};
    default:
      break;
  }
  if (options.overload_cpu_usage > 0 && heartbeat.cpu_usage() > options.overload_cpu_usage) {
    *buffer =
        absl::StrFormat("cpuUsage %.2f is over the overload threshold %.2f (--overload_cpu_usage)",
                        heartbeat.cpu_usage(), options.overload_cpu_usage);
    return {NodeInput::kHeartbeatBusy, *buffer};
  }
  if (options.overload_memory_usage > 0 &&
      heartbeat.memory_usage() > options.overload_memory_usage) {
    *buffer = absl::StrFormat(
        "memoryUsage %.2f is over the overload threshold %.2f (--overload_memory_usage)",
        heartbeat.memory_usage(), options.overload_memory_usage);
    return {NodeInput::kHeartbeatBusy, *buffer};
  }
  return {NodeInput::kHeartbeatNormal, "heartbeat NORMAL"};
}

}  // namespace

// One node: the znodes registering it, its state machine, its last valid heartbeat, and its
// published info (rebuilt only when something it shows changed).
class NodeTable::Record {
 public:
  struct Znode {
    std::string path;
    std::string group;  // legacy layout's group segment, or ""
    registry::Stat stat;
    std::string data;  // empty when `decoded` came with the event, or once applied
    absl::Status read_error;
    // Decode(data), when the event came with it decoded; the next parse takes it instead.
    std::unique_ptr<DecodedHeartbeat> decoded;
    // Whether its payload was applied (ApplyPayload()), which frees `data` and `decoded`: a
    // payload is applied once, and the znode's next event brings the next one.
    bool applied = false;
  };

  Record(const NodeTableOptions* options, std::string address, absl::Time now, absl::Time wall_now)
      : options_(options),
        address_(std::move(address)),
        machine_(&options->timing, now, wall_now) {}

  const std::string& address() const { return address_; }
  std::vector<Znode>& znodes() { return znodes_; }
  const std::vector<Znode>& znodes() const { return znodes_; }
  NodeState state() const { return machine_.state(); }
  const NodeInfoPtr& info() const { return info_; }
  bool info_stale() const { return info_stale_; }

  // The groups changed under the node (external membership): publish it again if they differ.
  bool RefreshGroups() {
    if (info_ == nullptr) return false;
    std::vector<std::string> groups;
    Groups(LastHeartbeat(info_.get()), &groups);
    if (info_->groups == groups) return false;
    info_stale_ = true;
    return true;
  }

  Znode* FindZnode(absl::string_view path) {
    for (Znode& z : znodes_) {
      if (z.path == path) return &z;
    }
    return nullptr;
  }

  // Marks the record for the next Derive(). Returns true if it was not marked yet.
  bool MarkDirty(bool data_changed) {
    data_dirty_ |= data_changed;
    const bool first = !dirty_;
    dirty_ = true;
    return first;
  }

  // The node's (first) znode appeared again, or a new incarnation replaced it.
  void OnZnodeCreated(absl::string_view cause, NodeTable* table, absl::Time now,
                      absl::Time wall_now) {
    has_heartbeat_ = false;  // the new incarnation has not reported yet
    incarnation_ = Incarnation{};
    Feed(NodeInput::kZnodeCreated, cause, table, now, wall_now);
  }

  void OnLastZnodeRemoved(NodeTable* table, absl::Time now, absl::Time wall_now) {
    Feed(NodeInput::kZnodeDeleted, "znode deleted (session ended)", table, now, wall_now);
    offline_since_ = now;
  }

  void SetDrained(bool drained, absl::string_view reason, NodeTable* table, absl::Time now,
                  absl::Time wall_now) {
    if (drained == machine_.drained() && drain_reason_ == reason) return;
    drain_reason_ = drained ? std::string(reason) : "";
    if (drained) {
      Feed(NodeInput::kDrained, absl::StrCat("drained by operator: ", reason), table, now,
           wall_now);
    } else if (machine_.drained()) {
      Feed(NodeInput::kUndrained, "undrained by operator", table, now, wall_now);
    }
    if (machine_.state() == NodeState::kOffline && znodes_.empty()) offline_since_ = now;
    info_stale_ = true;
  }

  // Applies the freshest znode's payload if data changed since the last call and that payload
  // was not applied yet. A change to another of the node's znodes (the legacy layout's, one per
  // group) that leaves it the freshest re-applies nothing: an old payload is no new heartbeat.
  void Derive(NodeTable* table, absl::Time now, absl::Time wall_now) {
    dirty_ = false;
    if (!data_dirty_) return;
    data_dirty_ = false;
    info_stale_ = true;  // paths, groups or mzxid may have changed
    Znode* freshest = nullptr;
    for (Znode& z : znodes_) {
      if (freshest == nullptr || z.stat.mzxid > freshest->stat.mzxid) freshest = &z;
    }
    if (freshest != nullptr && !freshest->applied) ApplyPayload(*freshest, table, now, wall_now);
  }

  void Tick(NodeTable* table, absl::Time now, absl::Time wall_now, absl::Time observed_until) {
    const NodeState before = machine_.state();
    if (machine_.Tick(now, wall_now, observed_until)) {
      table->transitions_[{before, machine_.state()}]++;
      info_stale_ = true;
    }
  }

  void ExcuseSilenceUntil(absl::Time now) { machine_.ExcuseSilenceUntil(now); }

  // When Tick() may next have something to do for this node (NodeStateMachine::NextDeadline(),
  // or the end of a tombstone's retention).
  absl::Time NextDeadline() const {
    absl::Time deadline = machine_.NextDeadline();
    if (znodes_.empty() && machine_.state() == NodeState::kOffline && !machine_.drained()) {
      deadline = std::min(deadline, offline_since_ + options_->tombstone_retention);
    }
    return deadline;
  }
  // The deadline of this record's live entry in NodeTable::deadlines_, or InfiniteFuture().
  absl::Time queued_deadline() const { return queued_deadline_; }
  void set_queued_deadline(absl::Time at) { queued_deadline_ = at; }

  bool Expired(absl::Time now) const {
    return znodes_.empty() && machine_.state() == NodeState::kOffline && !machine_.drained() &&
           now - offline_since_ >= options_->tombstone_retention;
  }

  // Rebuilds the published info if anything it shows changed; returns the change, if any.
  // `scratch` is any vector, kept by the caller for its capacity.
  std::optional<NodeChange> Publish(std::vector<std::string>* scratch) {
    if (!info_stale_ && info_ != nullptr) return std::nullopt;
    info_stale_ = false;
    NodeInfoPtr before = std::move(info_);
    info_ = BuildInfo(before.get(), scratch);
    return NodeChange{std::move(before), info_};
  }

 private:
  void ApplyPayload(Znode& z, NodeTable* table, absl::Time now, absl::Time wall_now) {
    z.applied = true;
    if (!z.read_error.ok()) {
      Feed(NodeInput::kHeartbeatInvalid,
           absl::StrCat("cannot read znode '", z.path, "': ", z.read_error.message()), table, now,
           wall_now);
      return;
    }
    std::unique_ptr<DecodedHeartbeat> decoded = std::move(z.decoded);
    if (decoded == nullptr) decoded = Decode(*options_, z.stat, z.data);
    std::string().swap(z.data);  // never parsed again: about 3 MiB at 10,000 workers
    DecodedHeartbeat& heartbeat = *decoded;
    if (!heartbeat.ok()) {
      if (absl::IsNotFound(heartbeat.status()) && !has_heartbeat_) {
        machine_.OnDataChanged(now);  // registered, nothing reported yet
        return;
      }
      table->rejected_payloads_++;
      Feed(NodeInput::kHeartbeatInvalid,
           absl::StrCat("heartbeat rejected: ", heartbeat.status().message()), table, now,
           wall_now);
      return;
    }
    Incarnation incarnation{0, heartbeat->startup_time_ms(), heartbeat->process_id()};
    for (const Znode& each : znodes_) {
      incarnation.czxid = std::max(incarnation.czxid, each.stat.czxid);
    }
    if (has_heartbeat_ && incarnation.czxid == incarnation_.czxid) {
      if (incarnation < incarnation_) {
        // Another (older) process writes to this node's znode: never let it win.
        table->stale_incarnation_events_++;
        LOG_EVERY_N(WARNING, 100) << "ignoring a heartbeat of an older incarnation of '" << address_
                                  << "' (startupTime " << incarnation.startup_time_ms
                                  << ", processId " << incarnation.process_id << " < startupTime "
                                  << incarnation_.startup_time_ms << ", processId "
                                  << incarnation_.process_id << ")";
        return;
      }
      if (incarnation_ < incarnation) {
        Feed(NodeInput::kZnodeCreated,
             absl::StrCat("new incarnation: the process restarted (startupTime ",
                          incarnation.startup_time_ms, ", processId ", incarnation.process_id, ")"),
             table, now, wall_now);
      }
    }
    for (const roster::v1::HeartbeatWarning& warning : heartbeat->warnings()) {
      table->heartbeat_warnings_[warning.field()]++;
    }
    incarnation_ = incarnation;
    heartbeat_ = *std::move(heartbeat);
    heartbeat_fresh_ = true;
    has_heartbeat_ = true;
    std::string formatted;
    Verdict verdict = Judge(heartbeat_, *options_, &formatted);
    Feed(verdict.input, verdict.cause, table, now, wall_now);
  }

  void Feed(NodeInput input, absl::string_view cause, NodeTable* table, absl::Time now,
            absl::Time wall_now) {
    const NodeState before = machine_.state();
    const uint64_t recorded_before = machine_.transitions_recorded();
    absl::Status status = machine_.Apply(input, cause, now, wall_now);
    if (!status.ok()) {
      // The cluster layer feeds only inputs its own bookkeeping allows; a refusal is worth a
      // log line, never a crash: the node keeps its state.
      LOG_EVERY_N(WARNING, 100) << "node '" << address_ << "': " << status.message();
      return;
    }
    if (machine_.state() != before) table->transitions_[{before, machine_.state()}]++;
    // A recorded transition changed the history the info shows, and the state or the reason.
    if (machine_.transitions_recorded() != recorded_before) info_stale_ = true;
  }

  // The last valid heartbeat: heartbeat_ until it is published, then the published info's
  // (`published`, the info last built).
  const roster::v1::Heartbeat& LastHeartbeat(const NodeInfo* published) const {
    return heartbeat_fresh_ || published == nullptr ? heartbeat_ : published->heartbeat;
  }

  // The info to publish, `previous` the one last published (or null). A fresh heartbeat moves
  // into it; an info built for another reason copies the previous one's.
  NodeInfoPtr BuildInfo(const NodeInfo* previous, std::vector<std::string>* scratch) {
    static const NodeInfo* const kNothing = new NodeInfo();
    const NodeInfo& last = previous != nullptr ? *previous : *kNothing;
    auto info = std::make_shared<NodeInfo>();
    info->address = address_;
    info->role = options_->role;
    info->state = machine_.state();
    info->reason = machine_.reason();
    info->state_since = machine_.state_since_wall();
    info->incarnation = incarnation_;
    int64_t newest_czxid = 0;
    size_t paths = 0;
    for (const Znode& z : znodes_) {
      Put(z.path, &paths, scratch);
      info->mzxid = std::max(info->mzxid, z.stat.mzxid);
      if (z.stat.czxid >= newest_czxid) {
        newest_czxid = z.stat.czxid;
        info->ephemeral_owner = z.stat.ephemeral_owner;
      }
    }
    scratch->resize(paths);
    std::sort(scratch->begin(), scratch->end());
    // The paths and groups are built in `scratch`, whose strings keep their capacity, and
    // shared with the last version when they equal its own: a heartbeat allocates neither.
    info->paths = SharedStrings::Reuse(last.paths, *scratch);
    if (options_->role == NodeRole::kWorker) {
      Groups(LastHeartbeat(previous), scratch);
      info->groups = SharedStrings::Reuse(last.groups, *scratch);
    }
    if (has_heartbeat_) {
      if (heartbeat_fresh_) {
        info->heartbeat = std::move(heartbeat_);
        heartbeat_fresh_ = false;
      } else {
        info->heartbeat = LastHeartbeat(previous);
      }
      info->has_heartbeat = true;
    }
    info->last_data_change = machine_.last_data_change();
    info->drained = machine_.drained();
    info->drain_reason = drain_reason_;
    // The list the last info showed, unless a transition was recorded since.
    if (history_ == nullptr || history_recorded_ != machine_.transitions_recorded()) {
      history_ = std::make_shared<const std::vector<Transition>>(machine_.history().begin(),
                                                                 machine_.history().end());
      history_recorded_ = machine_.transitions_recorded();
    }
    info->history = history_;
    return info;
  }

  // The legacy path segment, the external membership (group file, DolphinScheduler's
  // database), roster's own workerGroup heartbeat extension, and "default" for every worker
  // unless the membership defines its own (docs/dolphinscheduler.md, "Worker groups").
  // Sets `*groups` to them, sorted, reusing its strings' capacity.
  void Groups(const roster::v1::Heartbeat& heartbeat, std::vector<std::string>* groups) const {
    size_t n = 0;
    if (options_->groups == nullptr || options_->groups->implicit_default) {
      Put("default", &n, groups);
    }
    for (const Znode& z : znodes_) {
      if (!z.group.empty()) Put(z.group, &n, groups);
    }
    if (has_heartbeat_ && !heartbeat.worker_group().empty()) {
      Put(heartbeat.worker_group(), &n, groups);
    }
    if (options_->groups != nullptr) {
      auto it = options_->groups->by_address.find(address_);
      if (it != options_->groups->by_address.end()) {
        for (const std::string& group : it->second) Put(group, &n, groups);
      }
    }
    groups->resize(n);
    std::sort(groups->begin(), groups->end());
    groups->erase(std::unique(groups->begin(), groups->end()), groups->end());
  }

  // Sets the `*n`th string of `*out` to `value` (its capacity kept) and counts it.
  static void Put(absl::string_view value, size_t* n, std::vector<std::string>* out) {
    if (*n < out->size()) {
      (*out)[*n].assign(value.data(), value.size());
    } else {
      out->emplace_back(value);
    }
    ++*n;
  }

  const NodeTableOptions* const options_;
  const std::string address_;
  std::vector<Znode> znodes_;  // usually one; a legacy worker in two groups has two
  NodeStateMachine machine_;
  // The last valid heartbeat until it is published (`heartbeat_fresh_`); then it has moved into
  // info_ (LastHeartbeat()).
  roster::v1::Heartbeat heartbeat_;
  bool heartbeat_fresh_ = false;
  bool has_heartbeat_ = false;
  // The history the published infos share, as of `history_recorded_` transitions recorded.
  std::shared_ptr<const std::vector<Transition>> history_;
  uint64_t history_recorded_ = 0;
  Incarnation incarnation_;
  std::string drain_reason_;
  absl::Time offline_since_ = absl::InfinitePast();
  absl::Time queued_deadline_ = absl::InfiniteFuture();
  bool dirty_ = false;       // queued in NodeTable::dirty_
  bool data_dirty_ = false;  // a payload to parse
  bool info_stale_ = true;   // the published info must be rebuilt
  NodeInfoPtr info_;
};

NodeTable::NodeTable(const NodeTableOptions* options) : options_(options) {}

NodeTable::~NodeTable() = default;

NodeTable::Record* NodeTable::FindOrCreate(const std::string& address, absl::Time now,
                                           absl::Time wall_now) {
  auto it = records_.find(address);
  if (it != records_.end()) return it->second.get();
  auto record = std::make_unique<Record>(options_, address, now, wall_now);
  Record* raw = record.get();
  records_.emplace(address, std::move(record));
  auto drain = drains_.find(address);
  if (drain != drains_.end()) raw->SetDrained(true, drain->second, this, now, wall_now);
  if (raw->MarkDirty(false)) dirty_.push_back(raw);
  return raw;
}

std::unique_ptr<DecodedHeartbeat> NodeTable::Decode(const NodeTableOptions& options,
                                                    const registry::Stat& stat,
                                                    absl::string_view payload) {
  // The node's clocks are checked against the registry server's when it wrote the znode, never
  // against ours: a jump of rosterd's clock must not make every node FAULT at once.
  const absl::Time written_at =
      stat.mtime_ms > 0 ? absl::FromUnixMillis(stat.mtime_ms) : absl::InfinitePast();
  return std::make_unique<DecodedHeartbeat>(
      ParseHeartbeat(options.role, payload, options.limits, written_at, options.dialect));
}

void NodeTable::Apply(absl::string_view root, registry::RegistryEvent&& event, absl::Time now,
                      absl::Time wall_now, std::unique_ptr<DecodedHeartbeat> decoded) {
  if (event.type == registry::EventType::kSynced) return;
  if (event.type == registry::EventType::kRemoved) {
    rejected_.erase(event.path);
    Remove(event, now, wall_now);
    return;
  }
  // A znode the table holds was classified when it appeared, and a path's classification
  // never changes: heartbeats (nearly every event) skip it.
  if (auto known = by_path_.find(event.path); known != by_path_.end()) {
    UpdateZnode(known->second, std::move(event), now, wall_now, std::move(decoded));
    return;
  }
  absl::StatusOr<std::optional<ZnodeAddress>> where = ClassifyZnode(options_->role, root, event);
  if (!where.ok()) {
    auto [it, inserted] =
        rejected_.insert_or_assign(event.path, std::string(where.status().message()));
    if (inserted) {
      // Znode names are written by whoever can write the registry: escaped.
      LOG(WARNING) << "ignoring znode '" << LogSafe(event.path)
                   << "': " << LogSafe(where.status().message());
    }
    return;
  }
  if (!where->has_value()) return;  // a legacy group directory
  Upsert((*where)->address, std::move(event), (*where)->group, now, wall_now, std::move(decoded));
}

void NodeTable::Upsert(const std::string& address, registry::RegistryEvent&& event,
                       absl::string_view group, absl::Time now, absl::Time wall_now,
                       std::unique_ptr<DecodedHeartbeat> decoded) {
  if (auto it = by_path_.find(event.path); it != by_path_.end()) {
    UpdateZnode(it->second, std::move(event), now, wall_now, std::move(decoded));
    return;
  }
  Record* record = FindOrCreate(address, now, wall_now);
  const bool was_absent = record->znodes().empty();
  // The payload is kept only until it is applied, and not at all when it came decoded.
  record->znodes().push_back(
      Record::Znode{event.path, std::string(group), event.stat,
                    decoded == nullptr ? std::move(event.data) : std::string(), event.read_error,
                    std::move(decoded), /*applied=*/false});
  by_path_[event.path] = record;
  // A tombstone (or a drained node) registering again; a new record is already REGISTERING.
  if (was_absent && record->state() == NodeState::kOffline) {
    record->OnZnodeCreated(absl::StrCat("znode created (czxid ", event.stat.czxid, ")"), this, now,
                           wall_now);
  }
  if (record->MarkDirty(true)) dirty_.push_back(record);
}

void NodeTable::UpdateZnode(Record* record, registry::RegistryEvent&& event, absl::Time now,
                            absl::Time wall_now, std::unique_ptr<DecodedHeartbeat> decoded) {
  Record::Znode* z = record->FindZnode(event.path);
  if (event.stat.czxid < z->stat.czxid ||
      (event.stat.czxid == z->stat.czxid && event.stat.mzxid < z->stat.mzxid)) {
    stale_incarnation_events_++;  // an event older than what we hold
    return;
  }
  const bool recreated = event.stat.czxid > z->stat.czxid;
  z->stat = event.stat;
  if (decoded == nullptr) {
    z->data = std::move(event.data);
  } else {
    std::string().swap(z->data);
  }
  z->read_error = event.read_error;
  z->decoded = std::move(decoded);
  z->applied = false;
  if (recreated) {
    // The znode was deleted and created again, and we never saw the deletion.
    record->OnZnodeCreated(
        absl::StrCat("new incarnation: znode re-created (czxid ", event.stat.czxid, ")"), this, now,
        wall_now);
  }
  if (record->MarkDirty(true)) dirty_.push_back(record);
}

void NodeTable::Remove(const registry::RegistryEvent& event, absl::Time now, absl::Time wall_now) {
  auto it = by_path_.find(event.path);
  if (it == by_path_.end()) return;
  Record* record = it->second;
  std::vector<Record::Znode>& znodes = record->znodes();
  auto z = std::find_if(znodes.begin(), znodes.end(),
                        [&](const Record::Znode& each) { return each.path == event.path; });
  if (event.stat.czxid != 0 && event.stat.czxid < z->stat.czxid) {
    stale_incarnation_events_++;  // the removal of an older incarnation's znode
    return;
  }
  znodes.erase(z);
  by_path_.erase(it);
  if (znodes.empty()) record->OnLastZnodeRemoved(this, now, wall_now);
  if (record->MarkDirty(true)) dirty_.push_back(record);
}

void NodeTable::SetDrained(const std::string& address, bool drained, absl::string_view reason,
                           absl::Time now, absl::Time wall_now) {
  if (drained) {
    drains_[address] = std::string(reason);
  } else {
    drains_.erase(address);
  }
  auto it = records_.find(address);
  if (it == records_.end()) return;
  Record* record = it->second.get();
  record->SetDrained(drained, reason, this, now, wall_now);
  if (record->MarkDirty(false)) dirty_.push_back(record);
}

void NodeTable::Derive(absl::Time now, absl::Time wall_now, std::vector<NodeChange>* changes) {
  std::vector<Record*> dirty;
  dirty.swap(dirty_);
  if (changes->empty()) changes->reserve(dirty.size());
  for (Record* record : dirty) {
    record->Derive(this, now, wall_now);
    QueueDeadline(record);
    if (std::optional<NodeChange> change = record->Publish(&publish_scratch_)) {
      changes->push_back(*std::move(change));
    }
  }
  // Deriving marks nothing dirty: the list goes back, empty, with the capacity of this batch
  // (a burst of 10,000 heartbeats regrew it from nothing in every batch).
  dirty.clear();
  if (dirty_.empty()) dirty_.swap(dirty);
}

void NodeTable::Tick(absl::Time now, absl::Time wall_now, std::vector<NodeChange>* changes,
                     absl::Time observed_until) {
  bool erased = false;
  for (auto it = records_.begin(); it != records_.end();) {
    Record* record = it->second.get();
    if (record->Expired(now)) {
      changes->push_back(NodeChange{record->info(), nullptr});
      dirty_.erase(std::remove(dirty_.begin(), dirty_.end(), record), dirty_.end());
      it = records_.erase(it);
      erased = true;
      continue;
    }
    record->Tick(this, now, wall_now, observed_until);
    if (record->info_stale() && record->MarkDirty(false)) dirty_.push_back(record);
    ++it;
  }
  // The queue may point at the records just erased (tombstones expire rarely): rebuilt.
  if (erased) RebuildDeadlines();
  Derive(now, wall_now, changes);
}

void NodeTable::TickDue(absl::Time now, absl::Time wall_now, std::vector<NodeChange>* changes,
                        absl::Time observed_until) {
  // Each record with a live entry due, once; its entry leaves the queue, and the record is
  // queued again at its deadline once ticked (still due, if the tick could not act yet).
  std::vector<Record*> due;
  while (!deadlines_.empty() && deadlines_.top().at <= now) {
    const DeadlineEntry top = deadlines_.top();
    deadlines_.pop();
    // Superseded: by an earlier entry of the same record, or by its entry taken just now.
    if (top.at != top.record->queued_deadline()) continue;
    top.record->set_queued_deadline(absl::InfiniteFuture());
    due.push_back(top.record);
  }
  bool erased = false;
  for (Record* record : due) {
    if (record->Expired(now)) {
      changes->push_back(NodeChange{record->info(), nullptr});
      dirty_.erase(std::remove(dirty_.begin(), dirty_.end(), record), dirty_.end());
      const std::string address = record->address();
      records_.erase(address);
      erased = true;
      continue;
    }
    record->Tick(this, now, wall_now, observed_until);
    if (record->info_stale() && record->MarkDirty(false)) dirty_.push_back(record);
    QueueDeadline(record);
  }
  // Superseded entries may still point at the records just erased: rebuilt, as in Tick().
  if (erased) RebuildDeadlines();
  Derive(now, wall_now, changes);
}

void NodeTable::QueueDeadline(Record* record) {
  const absl::Time at = record->NextDeadline();
  // A deadline that moved later (every heartbeat moves the timeout) is found stale when its
  // entry reaches the top; only one that moved earlier needs an entry now.
  if (at >= record->queued_deadline()) return;
  record->set_queued_deadline(at);
  deadlines_.push(DeadlineEntry{at, record});
}

void NodeTable::RebuildDeadlines() {
  deadlines_ = {};
  for (const auto& [address, record] : records_) {
    record->set_queued_deadline(absl::InfiniteFuture());
    QueueDeadline(record.get());
  }
}

absl::Time NodeTable::NextDeadline() {
  while (!deadlines_.empty()) {
    const DeadlineEntry top = deadlines_.top();
    // Superseded by an earlier entry of the same record: dropped.
    if (top.at != top.record->queued_deadline()) {
      deadlines_.pop();
      continue;
    }
    if (top.record->NextDeadline() == top.at) return top.at;
    // The deadline moved (a heartbeat came, silence was excused): queued again where it is now.
    deadlines_.pop();
    top.record->set_queued_deadline(absl::InfiniteFuture());
    QueueDeadline(top.record);
  }
  return absl::InfiniteFuture();
}

void NodeTable::RefreshGroups() {
  for (const auto& [address, record] : records_) {
    if (record->RefreshGroups() && record->MarkDirty(false)) dirty_.push_back(record.get());
  }
}

void NodeTable::ExcuseSilenceUntil(absl::Time now) {
  for (const auto& [address, record] : records_) record->ExcuseSilenceUntil(now);
}

std::vector<NodeInfoPtr> NodeTable::Snapshot() const {
  std::vector<NodeInfoPtr> nodes;
  nodes.reserve(records_.size());
  for (const auto& [address, record] : records_) {
    if (record->info() != nullptr) nodes.push_back(record->info());
  }
  return nodes;
}

NodeInfoPtr NodeTable::Find(absl::string_view address) const {
  auto it = records_.find(address);
  return it == records_.end() ? nullptr : it->second->info();
}

std::optional<NodeTable::ZnodeVersion> NodeTable::FindZnode(const std::string& path) const {
  auto it = by_path_.find(path);
  if (it == by_path_.end()) return std::nullopt;
  for (const Record::Znode& z : it->second->znodes()) {
    if (z.path == path) return ZnodeVersion{z.stat.czxid, z.stat.mzxid};
  }
  return std::nullopt;
}

std::vector<std::string> NodeTable::ZnodePaths() const {
  std::vector<std::string> paths;
  paths.reserve(by_path_.size());
  for (const auto& [path, record] : by_path_) paths.push_back(path);
  return paths;
}

}  // namespace roster::cluster
