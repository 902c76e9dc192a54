#include "cluster/change_fanout.h"

#include <pthread.h>

#include <utility>

#include "glog/logging.h"

namespace roster::cluster {

ChangeFanout::ChangeFanout(FanoutOptions options) : options_(std::move(options)) {}

ChangeFanout::~ChangeFanout() { Shutdown(); }

void ChangeFanout::Start() {
  absl::MutexLock lock(&mu_);
  if (started_ || stopping_) return;
  started_ = true;
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), options_.name.substr(0, 15).c_str());
    Run();
  });
}

void ChangeFanout::Shutdown() {
  std::deque<Item> dropped;
  std::map<uint64_t, std::shared_ptr<WatchListener>> armed;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    dropped.swap(queue_);
    armed.swap(armed_);
    pending_batches_ = 0;
  }
  if (thread_.joinable()) thread_.join();
  // The callbacks (and what they hold) are destroyed here, outside the lock: destroying one
  // may release a stream whose destructor takes locks of its own.
}

uint64_t ChangeFanout::Reserve() {
  absl::MutexLock lock(&mu_);
  const uint64_t id = next_id_++;
  live_.insert(id);
  return id;
}

void ChangeFanout::Remove(uint64_t id) {
  std::shared_ptr<WatchListener> listener;
  {
    absl::MutexLock lock(&mu_);
    live_.erase(id);
    auto it = armed_.find(id);
    if (it == armed_.end()) return;
    listener = std::move(it->second);
    armed_.erase(it);
  }
  // Destroyed outside the lock (see Shutdown()).
}

void ChangeFanout::Add(uint64_t id, WatchStart start, WatchListener listener) {
  auto added = std::make_unique<Added>();
  added->id = id;
  added->start = std::move(start);
  added->listener = std::make_shared<WatchListener>(std::move(listener));
  absl::MutexLock lock(&mu_);
  // A watcher removed already is dropped; `added`, declared before the lock, is destroyed
  // after the lock is released.
  if (stopping_ || live_.count(id) == 0) return;
  Item item;
  item.added = std::move(added);
  queue_.push_back(std::move(item));
}

void ChangeFanout::Publish(std::shared_ptr<const ChangeBatch> batch) {
  if (PublishInline(batch)) return;
  std::deque<Item> dropped;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    if (pending_batches_ < options_.max_pending_batches) {
      Item item;
      item.batch = std::move(batch);
      queue_.push_back(std::move(item));
      ++pending_batches_;
      if (pending_batches_ > max_pending_) max_pending_ = pending_batches_;
      return;
    }
    // Behind by more than the bound: nobody gets the queued batches nor this one. Watchers not
    // started yet lose them too (their start is followed by dropped batches).
    dropped.swap(queue_);
    pending_batches_ = 0;
    Item notice;
    notice.overflow = true;
    for (Item& item : dropped) {
      if (item.added != nullptr) {
        notice.lost.emplace_back(item.added->id, std::move(item.added->listener));
      }
    }
    queue_.push_back(std::move(notice));
    overflows_.Increment();
  }
  LOG_EVERY_N(WARNING, 10) << "watch fan-out fell " << options_.max_pending_batches
                           << " change batches behind: every watch stream is told to resync ("
                           << google::COUNTER << " time(s) so far)";
  // `dropped` (batches, and the listeners' other copies) is freed here, outside the lock.
}

bool ChangeFanout::PublishInline(const std::shared_ptr<const ChangeBatch>& batch) {
  std::vector<std::shared_ptr<WatchListener>> listeners;
  {
    absl::MutexLock lock(&mu_);
    if (!started_ || stopping_ || !queue_.empty() || thread_busy_ ||
        armed_.size() > options_.max_inline_watchers) {
      return false;
    }
    // Only the cluster executor publishes, so no other inline delivery is under way.
    inline_busy_ = true;
    listeners = ArmedInOrderLocked();
  }
  for (const auto& listener : listeners) listener->on_changes(batch);
  absl::MutexLock lock(&mu_);
  inline_busy_ = false;  // the thread, if it has work meanwhile, re-checks HasWork() on unlock
  return true;
}

void ChangeFanout::Run() {
  while (true) {
    Item item;
    {
      absl::MutexLock lock(&mu_);
      thread_busy_ = false;
      mu_.Await(absl::Condition(this, &ChangeFanout::HasWork));
      if (stopping_) return;
      item = std::move(queue_.front());
      queue_.pop_front();
      if (item.batch != nullptr) --pending_batches_;
      thread_busy_ = true;
    }
    if (item.added != nullptr) {
      RunAdded(std::move(*item.added));
    } else if (item.batch != nullptr) {
      RunBatch(item.batch);
    } else if (item.overflow) {
      RunOverflow(std::move(item.lost));
    }
  }
}

void ChangeFanout::RunAdded(Added added) {
  {
    absl::MutexLock lock(&mu_);
    if (live_.count(added.id) == 0) return;  // removed while it waited
  }
  std::move(added.listener->on_start)(std::move(added.start));
  absl::MutexLock lock(&mu_);
  // Armed only now: no batch can have been handed out in between (this thread hands them out).
  if (live_.count(added.id) > 0) armed_[added.id] = std::move(added.listener);
}

void ChangeFanout::RunBatch(const std::shared_ptr<const ChangeBatch>& batch) {
  std::vector<std::shared_ptr<WatchListener>> listeners;
  {
    absl::MutexLock lock(&mu_);
    listeners = ArmedInOrderLocked();
  }
  for (const auto& listener : listeners) listener->on_changes(batch);
}

std::vector<std::shared_ptr<WatchListener>> ChangeFanout::ArmedInOrderLocked() const {
  std::vector<std::shared_ptr<WatchListener>> listeners;
  listeners.reserve(armed_.size());
  for (const bool state_changes_only : {true, false}) {
    for (const auto& [id, listener] : armed_) {
      if (listener->state_changes_only == state_changes_only) listeners.push_back(listener);
    }
  }
  return listeners;
}

void ChangeFanout::RunOverflow(
    std::vector<std::pair<uint64_t, std::shared_ptr<WatchListener>>> unstarted) {
  std::map<uint64_t, std::shared_ptr<WatchListener>> armed;
  std::vector<std::shared_ptr<WatchListener>> lost;
  {
    absl::MutexLock lock(&mu_);
    armed.swap(armed_);
    for (const auto& [id, listener] : armed) live_.erase(id);
    for (auto& [id, listener] : unstarted) {
      if (live_.erase(id) > 0) lost.push_back(std::move(listener));
    }
  }
  for (const auto& [id, listener] : armed) listener->on_lost(/*started=*/true);
  for (const auto& listener : lost) listener->on_lost(/*started=*/false);
}

bool ChangeFanout::idle() const {
  absl::MutexLock lock(&mu_);
  return queue_.empty() && !thread_busy_ && !inline_busy_;
}

size_t ChangeFanout::pending() const {
  absl::MutexLock lock(&mu_);
  return pending_batches_;
}

size_t ChangeFanout::max_pending() const {
  absl::MutexLock lock(&mu_);
  return max_pending_;
}

size_t ChangeFanout::watchers() const {
  absl::MutexLock lock(&mu_);
  return armed_.size();
}

}  // namespace roster::cluster
