#include "server/watch_stream.h"

#include <glog/logging.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "server/convert.h"

namespace roster::server {

using cluster::ClusterChange;
using cluster::NodeInfo;
using cluster::NodeRole;

absl::StatusOr<WatchFilterSpec> WatchFilterSpec::FromProto(const v1::WatchFilter& filter) {
  WatchFilterSpec spec;
  if (filter.roles_size() > kMaxEnumFilterValues) {
    return absl::InvalidArgumentError(absl::StrCat("filter.roles: ", filter.roles_size(),
                                                   " values, more than the limit of ",
                                                   kMaxEnumFilterValues));
  }
  for (int i = 0; i < filter.roles_size(); ++i) {
    absl::StatusOr<NodeRole> role =
        ToNodeRole(absl::StrCat("filter.roles[", i, "]"), filter.roles(i));
    if (!role.ok()) return role.status();
    spec.roles.insert(*role);
  }
  if (!filter.group().empty()) {
    if (absl::Status status = ValidateGroupField("filter.group", filter.group()); !status.ok()) {
      return status;
    }
    spec.group = filter.group();
  }
  spec.state_changes_only = filter.state_changes_only();
  return spec;
}

bool WatchFilterSpec::Matches(const NodeInfo& node) const {
  if (!roles.empty() && roles.count(node.role) == 0) return false;
  if (group.empty()) return true;
  if (node.role != NodeRole::kWorker) return false;
  for (const std::string& g : node.groups) {
    if (g == group) return true;
  }
  return false;
}

WatchStream::WatchStream(const ServiceContext* context, Reactor* reactor, WatchFilterSpec filter,
                         size_t buffer_messages)
    : context_(context),
      filter_(std::move(filter)),
      buffer_messages_(buffer_messages),
      reactor_(reactor) {}

void WatchStream::Start(uint64_t from_version) {
  // The listeners hold the stream weakly: once the call is over the stream is freed, even if
  // the manager still holds (or is about to call) a listener.
  std::weak_ptr<WatchStream> weak = weak_from_this();
  cluster::WatchListener listener;
  listener.on_start = [weak](cluster::WatchStart start) {
    if (std::shared_ptr<WatchStream> self = weak.lock()) self->OnStart(std::move(start));
  };
  listener.on_changes = [weak](const std::shared_ptr<const cluster::ChangeBatch>& batch) {
    if (std::shared_ptr<WatchStream> self = weak.lock()) self->OnChanges(batch);
  };
  listener.on_lost = [weak](bool) {
    if (std::shared_ptr<WatchStream> self = weak.lock()) self->OnLost();
  };
  listener.state_changes_only = filter_.state_changes_only;
  std::unique_ptr<cluster::ChangeWatch> watch =
      context_->cluster->WatchChanges(from_version, std::move(listener));
  absl::MutexLock lock(&mu_);
  if (reactor_ == nullptr) return;  // already over: `watch` unsubscribes as it goes
  watch_ = std::move(watch);
}

void WatchStream::OnStart(cluster::WatchStart start) {
  {
    absl::MutexLock lock(&mu_);
    if (finished_ || finish_with_.has_value()) return;
    started_ = true;
    std::vector<Item> items;
    cluster::ClusterViewPtr snapshot = std::move(start.snapshot);
    if (snapshot == nullptr) {
      for (size_t i = 0; i < start.missed.size(); ++i) {
        if (PassesLocked(start.missed[i])) {
          items.push_back(Item{nullptr, nullptr, i, "", start.missed[i].version});
        }
      }
      if (items.size() > buffer_messages_) {
        // More missed changes than a stream may queue: a snapshot (the view at
        // `start.version`) says the same in one message.
        if (start.view != nullptr && start.view->version == start.version) {
          items.clear();
          snapshot = std::move(start.view);
        }
      } else if (!items.empty()) {
        auto batch = std::make_shared<const cluster::ChangeBatch>(std::move(start.missed));
        for (Item& item : items) item.batch = batch;
      }
    }
    if (snapshot != nullptr) {
      if (!filter_.group.empty()) {
        if (const cluster::GroupView* group = snapshot->FindGroup(filter_.group)) {
          for (const cluster::NodeInfoPtr& node : group->members) {
            group_members_.insert(node->address);
          }
        }
      }
      items.push_back(Item{snapshot, nullptr, 0, "", start.version});
    }
    EnqueueLocked(std::move(items), "the changes missed since from_version");
  }
  Pump();
}

void WatchStream::OnChanges(const std::shared_ptr<const cluster::ChangeBatch>& batch) {
  {
    absl::MutexLock lock(&mu_);
    if (finished_ || finish_with_.has_value() || !started_) return;
    std::vector<Item> items;
    for (size_t i = 0; i < batch->size(); ++i) {
      if (PassesLocked((*batch)[i])) {
        items.push_back(Item{nullptr, batch, i, "", (*batch)[i].version});
      }
    }
    if (items.empty()) return;
    EnqueueLocked(std::move(items), "changes");
  }
  Pump();
}

bool WatchStream::PassesLocked(const ClusterChange& change) {
  using Kind = ClusterChange::Kind;
  if (change.kind != Kind::kNodeAdded && change.kind != Kind::kNodeUpdated &&
      change.kind != Kind::kNodeRemoved) {
    return true;  // slots, leader, synced, rejected: every watcher needs these
  }
  if (change.node == nullptr) return true;
  if (filter_.state_changes_only && change.kind == Kind::kNodeUpdated && !change.state_changed) {
    return false;
  }
  if (filter_.Matches(*change.node)) {
    if (!filter_.group.empty()) {
      if (change.kind == Kind::kNodeRemoved) {
        group_members_.erase(change.node->address);
      } else {
        group_members_.insert(change.node->address);
      }
    }
    return true;
  }
  // A member that left the group (or a removed one): tell the watcher once.
  return !filter_.group.empty() && change.node->role == NodeRole::kWorker &&
         group_members_.erase(change.node->address) > 0;
}

void WatchStream::EnqueueLocked(std::vector<Item> items, absl::string_view what) {
  if (queue_.size() + items.size() <= buffer_messages_) {
    for (Item& item : items) queue_.push_back(std::move(item));
    context_->metrics->NoteWatchQueueLength(static_cast<int64_t>(queue_.size()));
    return;
  }
  ResyncLocked(absl::StrCat("this watch fell ", queue_.size() + items.size(), " messages behind (",
                            what, " did not fit in the ", buffer_messages_,
                            " messages rosterd buffers per stream, --watch_buffer_messages)"));
}

void WatchStream::OnLost() {
  {
    absl::MutexLock lock(&mu_);
    if (finished_ || finish_with_.has_value()) return;
    ResyncLocked(
        "rosterd's watch fan-out fell too far behind to hand this watch every change "
        "(--watch_fanout_max_batches)");
  }
  Pump();
}

void WatchStream::ResyncLocked(absl::string_view why) {
  queue_.clear();
  Item notice;
  notice.version = last_version_written_;
  notice.resync =
      absl::StrCat(why, "; ",
                   last_version_written_ == 0
                       ? std::string("nothing was delivered: watch again with from_version=0")
                       : absl::StrCat("the last version delivered is ", last_version_written_,
                                      ": watch again with from_version=", last_version_written_));
  queue_.push_back(std::move(notice));
  finish_with_ = grpc::Status::OK;
  context_->metrics->watch_resyncs().Increment();
  LOG_EVERY_N(WARNING, 100) << "sent resync_required to a WatchCluster reader: " << why << " ("
                            << google::COUNTER << " so far)";
}

void WatchStream::Pump() {
  Reactor* reactor;
  Item item;
  std::optional<grpc::Status> finish;
  {
    absl::MutexLock lock(&mu_);
    if (reactor_ == nullptr || finished_ || write_in_flight_) return;
    reactor = reactor_;
    if (!queue_.empty()) {
      item = std::move(queue_.front());
      queue_.pop_front();
      write_in_flight_ = true;
      if (item.version > last_version_written_) last_version_written_ = item.version;
    } else if (finish_with_.has_value()) {
      finished_ = true;
      finish = *finish_with_;
    } else {
      return;
    }
  }
  if (finish.has_value()) {
    context_->metrics->CountRpc("Roster/WatchCluster", finish->error_code());
    reactor->Finish(*finish);
    return;
  }
  // current_ is ours until OnWriteDone (write_in_flight_ says so): nobody else touches it, so
  // it is filled, and the reactor called, without the lock.
  current_.Clear();
  Fill(item, &current_);
  reactor->StartWrite(&current_);
}

void WatchStream::Fill(const Item& item, v1::WatchClusterResponse* out) const {
  const absl::Time now = context_->clock->Now();
  FillMeta(*context_, item.version, out->mutable_meta());
  if (!item.resync.empty()) {
    out->set_resync_required(item.resync);
  } else if (item.snapshot != nullptr) {
    const cluster::ClusterView& view = *item.snapshot;
    v1::GetClusterViewResponse* snapshot = out->mutable_snapshot();
    *snapshot->mutable_meta() = out->meta();
    const NodeDetail detail{/*history=*/false, &view.slots};
    for (const auto* nodes : {&view.masters, &view.workers, &view.alert_servers}) {
      for (const cluster::NodeInfoPtr& node : *nodes) {
        if (!filter_.Matches(*node)) continue;
        v1::Node* n = node->role == NodeRole::kMaster   ? snapshot->add_masters()
                      : node->role == NodeRole::kWorker ? snapshot->add_workers()
                                                        : snapshot->add_alert_servers();
        FillNode(*node, now, detail, n);
      }
    }
    for (const auto& [name, group] : view.groups) {
      if (filter_.group.empty() || name == filter_.group) FillGroup(group, snapshot->add_groups());
    }
    FillSlots(view.slots, snapshot->mutable_slots());
    if (view.leader.present) FillLeader(view.leader, snapshot->mutable_leader());
    for (const cluster::RejectedZnode& rejected : view.rejected) {
      v1::RejectedZnode* r = snapshot->add_rejected();
      r->set_path(rejected.path);
      r->set_reason(rejected.reason);
    }
  } else {
    FillClusterEvent((*item.batch)[item.index], now, out->mutable_event());
  }
}

void WatchStream::OnWriteDone(bool ok) {
  {
    absl::MutexLock lock(&mu_);
    write_in_flight_ = false;
    if (!ok && !finish_with_.has_value()) {
      // The stream is broken (the client went away): nothing more can be written.
      queue_.clear();
      finish_with_ = grpc::Status(grpc::StatusCode::CANCELLED, "the watch stream broke");
    }
  }
  Pump();
}

void WatchStream::OnCancel() { End(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled")); }

void WatchStream::End(grpc::Status status) {
  {
    absl::MutexLock lock(&mu_);
    if (finished_) return;
    queue_.clear();
    finish_with_ = std::move(status);
  }
  Pump();
}

void WatchStream::Detach() {
  std::unique_ptr<cluster::ChangeWatch> watch;
  {
    absl::MutexLock lock(&mu_);
    reactor_ = nullptr;
    queue_.clear();
    watch = std::move(watch_);
  }
  // Unsubscribes outside our lock (it takes the manager's).
  watch.reset();
}

size_t WatchStream::queued() const {
  absl::MutexLock lock(&mu_);
  return queue_.size();
}

WatchReactor::WatchReactor(const ServiceContext* context, WatchFilterSpec filter,
                           size_t buffer_messages, std::function<void(WatchStream*)> on_done)
    : stream_(std::make_shared<WatchStream>(context, this, std::move(filter), buffer_messages)),
      on_done_(std::move(on_done)) {}

void WatchReactor::OnWriteDone(bool ok) { stream_->OnWriteDone(ok); }

void WatchReactor::OnCancel() { stream_->OnCancel(); }

void WatchReactor::OnDone() {
  stream_->Detach();
  if (on_done_) on_done_(stream_.get());
  delete this;
}

}  // namespace roster::server
