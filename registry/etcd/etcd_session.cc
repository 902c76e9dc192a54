// EtcdRegistry's session: the lease and its keep-alive stream, the watch stream, and the
// session state machine they drive (see etcd_registry.h and docs/registries.md).

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "registry/etcd/etcd_registry_impl.h"

namespace roster::registry::etcd_internal {

// ---- Session ----

void EtcdRegistry::GrantLease() {
  if (closed() || granting_) return;
  granting_ = true;
  pb::LeaseGrantRequest request;
  request.set_ttl(ttl_seconds_);
  const uint64_t generation = generation_;
  StartUnary<pb::LeaseGrantRequest, pb::LeaseGrantResponse>(
      &calls_, &executor_, options_.operation_timeout,
      [this](grpc::ClientContext* c, const pb::LeaseGrantRequest* q, pb::LeaseGrantResponse* r,
             std::function<void(grpc::Status)> f) { lease_->async()->LeaseGrant(c, q, r, f); },
      std::move(request),
      [this, generation](grpc::Status status, pb::LeaseGrantResponse response) {
        executor_.AssertCurrent();
        granting_ = false;
        if (closed()) return;
        if (generation != generation_) return GrantLease();  // the session was renewed meanwhile
        if (!status.ok() || !response.error().empty()) {
          LOG_EVERY_N(WARNING, 10) << "registry '" << options_.name << "': granting a lease: "
                                   << (status.ok() ? response.error() : status.error_message());
          executor_.PostAfter(kReopenMin, [this] {
            executor_.AssertCurrent();
            GrantLease();
          });
          return;
        }
        lease_id_ = response.id();
        LOG(INFO) << "registry '" << options_.name << "': lease " << LeaseString(lease_id_)
                  << " granted (TTL " << response.ttl() << " s)";
        OpenKeepAlive();
      });
}

void EtcdRegistry::OpenKeepAlive() {
  if (closed() || lease_id_ == 0) return;
  const uint64_t epoch = ++keepalive_epoch_;
  keepalive_unanswered_ = false;
  KeepAliveStream::Handlers handlers;
  handlers.on_read = [this, epoch](pb::LeaseKeepAliveResponse response) {
    executor_.AssertCurrent();
    OnKeepAlive(epoch, response);
  };
  handlers.on_done = [this, epoch](grpc::Status status) {
    executor_.AssertCurrent();
    OnStreamDone(/*keepalive=*/true, epoch, status);
  };
  keepalive_ = KeepAliveStream::Open(
      &calls_, &executor_,
      [this](grpc::ClientContext* c,
             grpc::ClientBidiReactor<pb::LeaseKeepAliveRequest, pb::LeaseKeepAliveResponse>* r) {
        c->set_wait_for_ready(false);
        lease_->async()->LeaseKeepAlive(c, r);
      },
      std::move(handlers));
  SendKeepAlive(epoch);
}

// Every third of the TTL. A keep-alive still unanswered when the next one is due means the
// connection is gone (a paused or cut-off server answers nothing): the stream is ended, which
// suspends the session, and opened again.
void EtcdRegistry::SendKeepAlive(uint64_t epoch) {
  if (closed() || epoch != keepalive_epoch_ || keepalive_ == nullptr) return;
  if (keepalive_unanswered_) {
    LOG(WARNING) << "registry '" << options_.name << "': no keep-alive answer from etcd within "
                 << absl::FormatDuration(absl::Seconds(ttl_seconds_) / 3) << "; reconnecting";
    keepalive_->Cancel();
    return;
  }
  keepalive_unanswered_ = true;
  pb::LeaseKeepAliveRequest request;
  request.set_id(lease_id_);
  keepalive_->Write(std::move(request));
  executor_.PostAfter(absl::Seconds(ttl_seconds_) / 3, [this, epoch] {
    executor_.AssertCurrent();
    SendKeepAlive(epoch);
  });
}

void EtcdRegistry::OnKeepAlive(uint64_t epoch, const pb::LeaseKeepAliveResponse& response) {
  if (closed() || epoch != keepalive_epoch_) return;
  keepalive_unanswered_ = false;
  keepalive_backoff_ = kReopenMin;
  if (response.ttl() <= 0) {
    LOG(WARNING) << "registry '" << options_.name << "': lease " << LeaseString(lease_id_)
                 << " has expired (etcd answered TTL " << response.ttl()
                 << "); starting a new session";
    ++keepalive_epoch_;
    if (keepalive_ != nullptr) keepalive_->Cancel();
    keepalive_.reset();
    lease_alive_ = false;
    connected_ = false;
    Step(internal::SessionInput::kExpired);
    return;
  }
  if (!lease_alive_) {
    lease_alive_ = true;
    UpdateConnected();
  }
}

void EtcdRegistry::OpenWatch() {
  if (closed()) return;
  const uint64_t epoch = ++watch_epoch_;
  catch_up_revision_ = -1;
  WatchStream::Handlers handlers;
  handlers.on_read = [this, epoch](pb::WatchResponse response) {
    executor_.AssertCurrent();
    OnWatch(epoch, response);
  };
  handlers.on_done = [this, epoch](grpc::Status status) {
    executor_.AssertCurrent();
    OnStreamDone(/*keepalive=*/false, epoch, status);
  };
  watch_stream_ = WatchStream::Open(
      &calls_, &executor_,
      [this](grpc::ClientContext* c,
             grpc::ClientBidiReactor<pb::WatchRequest, pb::WatchResponse>* r) {
        c->set_wait_for_ready(false);
        watch_->async()->Watch(c, r);
      },
      std::move(handlers));
  if (watch_stream_ == nullptr) return;
  pb::WatchRequest request;
  pb::WatchCreateRequest* create = request.mutable_create_request();
  create->set_key(keys_.SubtreeBegin("/"));
  create->set_range_end(keys_.SubtreeEnd("/"));
  create->set_start_revision(next_revision_);
  create->set_prev_kv(true);
  create->set_progress_notify(true);
  watch_stream_->Write(std::move(request));
}

void EtcdRegistry::OnWatch(uint64_t epoch, const pb::WatchResponse& response) {
  if (closed() || epoch != watch_epoch_) return;
  if (response.compact_revision() > 0 || response.canceled()) {
    // The revision to resume from is gone: watch from now on, and re-read everything.
    LOG(WARNING) << "registry '" << options_.name << "': etcd cannot resume the watch at revision "
                 << next_revision_ << " (compacted up to " << response.compact_revision()
                 << (response.cancel_reason().empty() ? "" : ": ") << response.cancel_reason()
                 << "); every subscription re-reads its subtree";
    next_revision_ = 0;
    resync_on_watch_ = true;
    if (watch_stream_ != nullptr) watch_stream_->Cancel();
    return;
  }
  if (response.created()) {
    watch_backoff_ = kReopenMin;
    if (next_revision_ == 0) next_revision_ = response.header().revision() + 1;
    // A resumed watch replays what happened while it was down (up to the revision it was
    // created at) before the connection counts as back: those changes then reach the
    // subscriptions as the events they are, before the re-read that follows a reconnect.
    catch_up_revision_ = response.header().revision();
    VLOG(1) << "registry '" << options_.name << "': watching from revision " << next_revision_
            << " (store at " << catch_up_revision_ << ")";
    if (resync_on_watch_ && connected_) {
      resync_on_watch_ = false;
      // Not a session event: the session did not change, but the subscriptions missed changes.
      SessionEvent resync{SessionEventType::kReconnected, generation_, lease_id_,
                          SessionState::kConnected, "etcd watch restarted after compaction"};
      subscriptions_.OnSessionEvent(resync);
    }
  }
  ApplyWatchEvents(response);
  if (!watching_ && watch_stream_ != nullptr && catch_up_revision_ >= 0) {
    if (next_revision_ > catch_up_revision_) {
      watching_ = true;
      UpdateConnected();
    } else if (response.created()) {
      WriteFence(epoch);
    }
  }
}

// A resumed watch may have events to replay, or none: etcd 3.4 cannot say which (its
// WatchProgressRequest answers with the store revision even while the watcher is still
// replaying: mvcc/watchable_store.go, etcdserver/api/v3rpc/watch.go @ v3.4.23). A write to
// the fence key, inside the watched range but no node (the root's own key), is an event the
// watch delivers after everything before it: once it arrives, the replay is complete.
void EtcdRegistry::WriteFence(uint64_t epoch) {
  pb::PutRequest request;
  request.set_key(keys_.SubtreeBegin("/"));
  StartUnary<pb::PutRequest, pb::PutResponse>(
      &calls_, &executor_, options_.operation_timeout,
      [this](grpc::ClientContext* c, const pb::PutRequest* q, pb::PutResponse* r,
             std::function<void(grpc::Status)> f) { kv_->async()->Put(c, q, r, f); },
      std::move(request),
      [this, epoch](grpc::Status status, pb::PutResponse) {
        executor_.AssertCurrent();
        if (status.ok() || closed() || epoch != watch_epoch_ || watching_) return;
        LOG_EVERY_N(WARNING, 10) << "registry '" << options_.name
                                 << "': writing the watch fence key failed ("
                                 << status.error_message() << "); retrying";
        executor_.PostAfter(kReopenMin, [this, epoch] {
          executor_.AssertCurrent();
          if (!closed() && epoch == watch_epoch_ && !watching_) WriteFence(epoch);
        });
      });
}

void EtcdRegistry::ApplyWatchEvents(const pb::WatchResponse& response) {
  for (const mvccpb::Event& event : response.events()) {
    next_revision_ = std::max(next_revision_, event.kv().mod_revision() + 1);
    VLOG(2) << "registry '" << options_.name << "': etcd "
            << (event.type() == mvccpb::Event::DELETE ? "DELETE" : "PUT") << " '"
            << event.kv().key() << "' at revision " << event.kv().mod_revision()
            << (event.has_prev_kv() ? absl::StrCat(" (was version ", event.prev_kv().version(), ")")
                                    : "");
    for (const internal::WatchEvent& watch_event : WatchEventsFor(keys_, event)) {
      subscriptions_.OnWatchEvent(watch_event);
    }
  }
  if (response.events().empty() && !response.created() && response.watch_id() >= 0 &&
      response.header().revision() > 0) {
    // The watcher's own progress notification (progress_notify), sent only once it has
    // delivered everything up to this revision. (Answers to a WatchProgressRequest carry
    // watch id -1 and are no such promise in etcd 3.4.)
    next_revision_ = std::max(next_revision_, response.header().revision() + 1);
  }
}

void EtcdRegistry::OnStreamDone(bool keepalive, uint64_t epoch, const grpc::Status& status) {
  if (closed()) return;
  if (keepalive ? epoch != keepalive_epoch_ : epoch != watch_epoch_) return;
  VLOG(1) << "registry '" << options_.name << "': etcd " << (keepalive ? "keep-alive" : "watch")
          << " stream ended: " << status.error_message();
  if (keepalive) {
    keepalive_.reset();
    lease_alive_ = false;
  } else {
    watch_stream_.reset();
    watching_ = false;
  }
  UpdateConnected();
  ScheduleReopen(keepalive);
}

void EtcdRegistry::ScheduleReopen(bool keepalive) {
  absl::Duration& backoff = keepalive ? keepalive_backoff_ : watch_backoff_;
  const absl::Duration delay = backoff;
  backoff = std::min(backoff * 2, kReopenMax);
  const uint64_t epoch = keepalive ? keepalive_epoch_ : watch_epoch_;
  executor_.PostAfter(delay, [this, keepalive, epoch] {
    executor_.AssertCurrent();
    if (closed()) return;
    if (keepalive && epoch == keepalive_epoch_ && keepalive_ == nullptr) OpenKeepAlive();
    if (!keepalive && epoch == watch_epoch_ && watch_stream_ == nullptr) OpenWatch();
  });
}

void EtcdRegistry::UpdateConnected() {
  const bool now = lease_alive_ && watching_;
  if (now == connected_) return;
  connected_ = now;
  Step(now ? internal::SessionInput::kHandleConnected
           : internal::SessionInput::kHandleDisconnected);
}

void EtcdRegistry::Step(internal::SessionInput input) {
  const internal::SessionPhase from = session_.phase();
  absl::StatusOr<internal::SessionStep> step = session_.Apply(input, options_.clock->Now());
  if (!step.ok()) {
    LOG(WARNING) << "registry '" << options_.name << "': " << step.status().message();
    return;
  }
  VLOG(1) << "registry '" << options_.name << "': session phase "
          << internal::SessionPhaseName(from) << " -> " << internal::SessionPhaseName(step->to)
          << " on " << internal::SessionInputName(input);
  if (step->actions & internal::kCancelLossTimer) CancelLossTimer();
  if (step->actions & internal::kCloseHandle) CloseSession();
  if (step->actions & internal::kAnnounce) Announce(*step->announce);
  if (step->actions & internal::kRenewSession) RenewSession();
  if (step->actions & internal::kStartRestore) StartRestore();
  if (step->actions & internal::kArmLossTimer) ArmLossTimer();
}

void EtcdRegistry::Announce(SessionEventType type) {
  std::string detail;
  switch (type) {
    case SessionEventType::kConnected:
      detail = absl::StrCat("lease ", LeaseString(lease_id_), ", TTL ", ttl_seconds_, " s");
      break;
    case SessionEventType::kReconnected:
      detail = "connection re-established";
      break;
    case SessionEventType::kSuspended:
      detail = "connection to etcd lost";
      break;
    case SessionEventType::kLost:
      detail = absl::StrCat("disconnected for longer than the lease TTL (", ttl_seconds_,
                            " s); etcd has or will have revoked the lease");
      break;
    case SessionEventType::kExpired:
      detail = absl::StrCat("lease ", LeaseString(lease_id_), " expired; its keys are gone");
      break;
    case SessionEventType::kAuthFailed:
      detail = "etcd rejected the credentials";
      break;
    case SessionEventType::kClosed:
      detail = "registry shut down";
      break;
  }
  SessionEvent event{type, generation_, lease_id_, internal::SessionStateAfter(type),
                     std::move(detail)};
  {
    absl::MutexLock lock(&info_mu_);
    event.sequence = ++info_.events;
    info_.state = event.state;
    info_.session = generation_;
    info_.session_id = lease_id_;
    info_.state_since = session_.published_since();
  }
  LOG(INFO) << "registry '" << options_.name << "': session " << generation_ << " ("
            << LeaseString(lease_id_) << ") " << SessionEventTypeName(type) << ": " << event.detail;
  session_listeners_.Deliver(event);
  subscriptions_.OnSessionEvent(event);
}

void EtcdRegistry::RenewSession() {
  restoring_.clear();
  lease_id_ = 0;
  lease_alive_ = false;
  connected_ = false;
  ++keepalive_epoch_;
  if (keepalive_ != nullptr) keepalive_->Cancel();
  keepalive_.reset();
  ++generation_;
  GrantLease();
}

void EtcdRegistry::ArmLossTimer() {
  CancelLossTimer();
  const uint64_t epoch = loss_epoch_;
  loss_timer_ =
      executor_.PostAfter(session_.loss_deadline() - options_.clock->Now(), [this, epoch] {
        executor_.AssertCurrent();
        loss_timer_ = 0;
        if (epoch == loss_epoch_) Step(internal::SessionInput::kLossTimeout);
      });
}

void EtcdRegistry::CancelLossTimer() {
  ++loss_epoch_;
  if (loss_timer_ != 0) executor_.Cancel(loss_timer_);
  loss_timer_ = 0;
}

void EtcdRegistry::StartRestore() {
  restoring_.clear();
  for (const auto& [path, ephemeral] : ephemerals_) restoring_.insert(path);
  if (restoring_.empty()) return Step(internal::SessionInput::kRestoreDone);
  LOG(INFO) << "registry '" << options_.name << "': re-creating " << restoring_.size()
            << " ephemeral node(s) with lease " << LeaseString(lease_id_);
  const std::set<std::string> paths = restoring_;
  for (const std::string& path : paths) Restore(path, kRestoreBackoffMin);
}

void EtcdRegistry::Restore(const std::string& path, absl::Duration backoff) {
  auto it = ephemerals_.find(path);
  if (it == ephemerals_.end()) return RestoreDone(path);
  CreateCall call;
  call.path = path;
  call.data = it->second.data;
  call.mode = CreateMode::kEphemeral;
  call.create_parents = it->second.create_parents;
  call.track = false;
  const uint64_t generation = generation_;
  call.done = [this, path, generation, backoff](absl::StatusOr<std::string> created) {
    executor_.AssertCurrent();
    if (closed() || generation != generation_ || restoring_.count(path) == 0) return;
    const absl::Status& status = created.status();
    if (absl::IsUnavailable(status) || absl::IsDeadlineExceeded(status)) {
      executor_.PostAfter(backoff, [this, path, generation, backoff] {
        executor_.AssertCurrent();
        if (closed() || generation != generation_ || restoring_.count(path) == 0) return;
        Restore(path, std::min(backoff * 2, kRestoreBackoffMax));
      });
      return;
    }
    if (!status.ok()) {
      LOG(ERROR) << "registry '" << options_.name << "': cannot re-create ephemeral node '" << path
                 << "' in the new session: " << status;
      ephemerals_.erase(path);
    }
    RestoreDone(path);
  };
  SubmitCreate(std::move(call));
}

void EtcdRegistry::RestoreDone(const std::string& path) {
  if (restoring_.erase(path) == 0 || !restoring_.empty()) return;
  Step(internal::SessionInput::kRestoreDone);
}

}  // namespace roster::registry::etcd_internal
