// WatchCluster's server side: one WatchStream per call, fed by ClusterManager::WatchChanges.
//
// The stream sends a snapshot (or the changes missed since the client's version), then every
// change in order, each with its version, filtered by the request's WatchFilter. Changes wait
// in a bounded queue (ServerMetrics notes its high-water mark) while the single outstanding
// Write (gRPC allows one at a time) is on the wire; converting a change to protobuf happens only
// when it is written, so queued changes cost a pointer each (batches are shared by every
// stream). A reader that falls behind by more than the bound loses its queue and gets one
// `resync_required` message naming the last version delivered; the call then ends with OK.
//
// Lifetime: the gRPC reactor (WatchReactor) is deleted in OnDone(); everything the cluster's
// listener touches lives in a shared_ptr<WatchStream> the listener co-owns, because the
// manager may call the listener once more after unsubscribing. The stream never touches the
// reactor after Finish(): Finish is issued only when no write is in flight, by whichever thread
// observes that, under the stream's mutex.
//
// Thread-safety: thread-safe. Listener calls arrive on the cluster's watch fan-out thread
// (cluster::ChangeFanout), never on the cluster executor; reactor callbacks on gRPC threads.
#pragma once

#include <grpcpp/grpcpp.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "cluster/change_log.h"
#include "cluster/cluster_manager.h"
#include "cluster/cluster_view.h"
#include "roster/v1/roster.pb.h"
#include "server/rpc_util.h"

namespace roster::server {

// A validated WatchFilter.
struct WatchFilterSpec {
  std::set<cluster::NodeRole> roles;  // empty: every role
  std::string group;                  // empty: every group
  bool state_changes_only = false;

  // InvalidArgument naming the field for bad roles or group names.
  static absl::StatusOr<WatchFilterSpec> FromProto(const v1::WatchFilter& filter);
  // Whether a node of this role and groups passes the role and group filters.
  bool Matches(const cluster::NodeInfo& node) const;
};

class WatchStream : public std::enable_shared_from_this<WatchStream> {
 public:
  using Reactor = grpc::ServerWriteReactor<v1::WatchClusterResponse>;

  // `reactor` must stay alive until the stream calls its Finish() and it reports OnDone()
  // (see Detach()).
  WatchStream(const ServiceContext* context, Reactor* reactor, WatchFilterSpec filter,
              size_t buffer_messages);

  // Subscribes to the cluster from `from_version` (0: a snapshot).
  void Start(uint64_t from_version);

  // Reactor callbacks, forwarded by WatchReactor.
  void OnWriteDone(bool ok);
  void OnCancel();
  // The call is over: drops the subscription; the stream never touches the reactor again.
  void Detach();

  // Drops the queue and ends the call with `status` once the write in flight, if any,
  // completes. Used for cancellation and at shutdown; no effect once the call has finished.
  void End(grpc::Status status);

  // Messages queued now (not counting the one being written).
  size_t queued() const;

 private:
  // One message to send: a snapshot, a change of a shared batch, or the resync notice.
  struct Item {
    cluster::ClusterViewPtr snapshot;
    std::shared_ptr<const cluster::ChangeBatch> batch;
    size_t index = 0;
    std::string resync;  // non-empty: the resync_required message
    uint64_t version = 0;
  };

  void OnStart(cluster::WatchStart start);
  void OnChanges(const std::shared_ptr<const cluster::ChangeBatch>& batch);
  // The fan-out dropped changes meant for this stream: it ends with resync_required.
  void OnLost();
  // Queues `items` or, if they do not fit, replaces the queue with a resync notice.
  void EnqueueLocked(std::vector<Item> items, absl::string_view what)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Replaces the queue with a resync notice saying `why`; the call ends once it is written.
  void ResyncLocked(absl::string_view why) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool PassesLocked(const cluster::ClusterChange& change) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Starts the next write, or finishes the call, if nothing is in flight. Never called with
  // mu_ held: it calls into gRPC.
  void Pump();
  void Fill(const Item& item, v1::WatchClusterResponse* out) const;

  const ServiceContext* const context_;
  const WatchFilterSpec filter_;
  const size_t buffer_messages_;

  mutable absl::Mutex mu_;
  Reactor* reactor_ ABSL_GUARDED_BY(mu_);  // null once detached
  std::deque<Item> queue_ ABSL_GUARDED_BY(mu_);
  bool started_ ABSL_GUARDED_BY(mu_) = false;  // the snapshot or missed changes are queued
  bool write_in_flight_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;                    // Finish() was called
  std::optional<grpc::Status> finish_with_ ABSL_GUARDED_BY(mu_);  // once the queue drains
  uint64_t last_version_written_ ABSL_GUARDED_BY(mu_) = 0;
  // With a group filter: workers delivered as members, so that one leaving the group is sent
  // once more (showing its new groups) rather than vanishing silently.
  std::set<std::string> group_members_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<cluster::ChangeWatch> watch_ ABSL_GUARDED_BY(mu_);

  // Owned by whoever set write_in_flight_; stable until OnWriteDone.
  v1::WatchClusterResponse current_;
};

// The gRPC reactor of one WatchCluster call; forwards to its WatchStream and deletes itself
// in OnDone().
class WatchReactor final : public grpc::ServerWriteReactor<v1::WatchClusterResponse> {
 public:
  // `on_done` runs in OnDone(), before the reactor deletes itself.
  WatchReactor(const ServiceContext* context, WatchFilterSpec filter, size_t buffer_messages,
               std::function<void(WatchStream*)> on_done);

  const std::shared_ptr<WatchStream>& stream() const { return stream_; }

  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  std::shared_ptr<WatchStream> stream_;
  std::function<void(WatchStream*)> on_done_;
};

// A reactor that ends its call at once with `status` (a refused or malformed watch).
class FinishedWriteReactor final : public grpc::ServerWriteReactor<v1::WatchClusterResponse> {
 public:
  explicit FinishedWriteReactor(const grpc::Status& status) { Finish(status); }
  void OnDone() override { delete this; }
};

}  // namespace roster::server
