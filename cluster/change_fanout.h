// ChangeFanout: the stage between the cluster executor and the watchers (WatchCluster streams).
// The executor hands each published change batch to it in O(1) and goes back to applying
// events; the fan-out's own thread calls every watcher, so the work that grows with the number
// of watchers (filtering, queueing, converting) never delays event application.
//
// Bounded: at most `max_pending_batches` batches wait for the fan-out thread. When the executor
// publishes into a full queue the queue is dropped, and every watcher (and every watcher still
// waiting to start) is told it lost changes (`on_lost`) and removed: memory stays bounded and
// the executor never blocks. Watchers added after that start cleanly.
//
// Order: a watcher is added by the executor between two batches (Add(), with where it starts);
// its on_start runs on the fan-out thread before any later batch, so its start and the batches
// that follow line up with no gap and no overlap. Each batch goes to the watchers of state
// changes only before the others, oldest first within each: those are the watchers waiting
// on a node's state (a scheduler master deciding where to dispatch), and a watcher of every
// change may first write a whole batch to its stream (a 10k-worker trace put that at 70 us),
// while its load figures already wait up to the publish window (docs/scale.md,
// "Propagation").
//
// Inline delivery: with at most `max_inline_watchers` watchers armed, a batch published while
// the fan-out is idle (nothing queued, nothing being delivered) is delivered by Publish() on
// the cluster executor itself: a sidecar's few watchers get a change without waiting for this
// thread to wake (docs/scale.md, "Propagation"). More watchers than that, or a backlog, and
// the batch is queued as above.
//
// Thread-safety: thread-safe. Add() and Publish() are called from the cluster executor (one
// thread, in order); Reserve() and Remove() from any thread; callbacks run on the fan-out
// thread, or on the cluster executor for a batch delivered inline, one at a time and in
// order either way, never under a lock of ours.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"
#include "cluster/change_log.h"
#include "cluster/cluster_view.h"
#include "util/metrics.h"

namespace roster::cluster {

// Where a watcher starts: either the changes it missed since its version, or (when that is
// too old, or 0) a snapshot to start from. Later batches follow in order.
struct WatchStart {
  ClusterViewPtr snapshot;  // set when starting from a snapshot
  ChangeBatch missed;       // set when resuming
  uint64_t version = 0;     // the version the watcher is at after this
  // The view published at `version` (always set): a watcher that would rather send one
  // snapshot than many missed changes can use it.
  ClusterViewPtr view;
};

// The callbacks of one watcher, all run on the fan-out thread.
struct WatchListener {
  // Once, first.
  absl::AnyInvocable<void(WatchStart) &&> on_start;
  // Every later batch, in order.
  std::function<void(const std::shared_ptr<const ChangeBatch>&)> on_changes;
  // The fan-out fell more than its bound behind: changes after the last batch delivered (or
  // after the start, if on_start was never called: then with `started` false) are lost, and the
  // watcher is removed. Called at most once, and last.
  std::function<void(bool started)> on_lost;
  // The watcher keeps only state changes (a WatchCluster with state_changes_only): it is
  // handed each batch before the watchers of every change (see Order in the header).
  bool state_changes_only = false;
};

struct FanoutOptions {
  // Batches waiting for the fan-out thread before it is declared behind (see the header).
  size_t max_pending_batches = 4096;
  std::string name = "cluster-fanout";  // the thread's name
  // Armed watchers up to which an idle fan-out delivers a batch inline (see the header); 0
  // queues every batch.
  size_t max_inline_watchers = 4;
};

class ChangeFanout {
 public:
  explicit ChangeFanout(FanoutOptions options);
  ~ChangeFanout();  // Calls Shutdown().

  ChangeFanout(const ChangeFanout&) = delete;
  ChangeFanout& operator=(const ChangeFanout&) = delete;

  // Starts the thread. Items queued before run once it has started.
  void Start();
  // Drops what is queued (no more callbacks) and joins the thread. Idempotent.
  void Shutdown();

  // A new watcher id; Add() arms it, Remove() forgets it (before or after Add()).
  uint64_t Reserve();
  // After Remove() no callback of the watcher starts (one may be under way).
  void Remove(uint64_t id);

  // Cluster executor: the watcher `id` starts at `start`, before the next Publish().
  void Add(uint64_t id, WatchStart start, WatchListener listener);
  // Cluster executor: hands `batch` to every watcher, inline or queued (see the header). Never
  // blocks on a watcher; inline, it costs each watcher's on_changes.
  void Publish(std::shared_ptr<const ChangeBatch> batch);

  // Times the queue overflowed and its watchers were told they lost changes.
  int64_t overflows() const { return overflows_.value(); }
  // Batches waiting now, and the most ever waiting.
  size_t pending() const;
  size_t max_pending() const;
  // Watchers armed now.
  size_t watchers() const;
  // Nothing queued and nothing being delivered: the next Publish() may deliver inline.
  bool idle() const;

 private:
  struct Added {
    uint64_t id = 0;
    WatchStart start;
    std::shared_ptr<WatchListener> listener;
  };
  // One queued item: a watcher to start, a batch, or the notice that the queue overflowed
  // (every armed watcher and `lost` are told).
  struct Item {
    std::unique_ptr<Added> added;
    std::shared_ptr<const ChangeBatch> batch;
    bool overflow = false;
    // Watchers that never started, by id.
    std::vector<std::pair<uint64_t, std::shared_ptr<WatchListener>>> lost;
  };

  // Delivers `batch` on the calling thread if the fan-out is idle and has few watchers.
  bool PublishInline(const std::shared_ptr<const ChangeBatch>& batch);
  void Run();
  void RunAdded(Added added);
  void RunBatch(const std::shared_ptr<const ChangeBatch>& batch);
  void RunOverflow(std::vector<std::pair<uint64_t, std::shared_ptr<WatchListener>>> unstarted);
  // The thread waits while a batch is delivered inline.
  bool HasWork() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stopping_ || (!queue_.empty() && !inline_busy_);
  }

  const FanoutOptions options_;

  mutable absl::Mutex mu_;
  std::deque<Item> queue_ ABSL_GUARDED_BY(mu_);
  size_t pending_batches_ ABSL_GUARDED_BY(mu_) = 0;
  size_t max_pending_ ABSL_GUARDED_BY(mu_) = 0;
  // Reserved and not removed; `armed_` holds those whose on_start ran.
  std::set<uint64_t> live_ ABSL_GUARDED_BY(mu_);
  std::map<uint64_t, std::shared_ptr<WatchListener>> armed_ ABSL_GUARDED_BY(mu_);
  // The armed watchers in the order a batch is handed to them (see Order above).
  std::vector<std::shared_ptr<WatchListener>> ArmedInOrderLocked() const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool thread_busy_ ABSL_GUARDED_BY(mu_) = false;  // the thread is delivering an item
  bool inline_busy_ ABSL_GUARDED_BY(mu_) = false;  // Publish() is delivering a batch inline
  std::thread thread_;

  Counter overflows_;
};

}  // namespace roster::cluster
