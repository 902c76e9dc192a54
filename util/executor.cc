#include "util/executor.h"

#include <pthread.h>

#include <utility>
#include <vector>

#include "absl/synchronization/notification.h"
#include "glog/logging.h"
#include "util/clock.h"

namespace roster {

SerialExecutor::SerialExecutor(std::string name) : name_(std::move(name)) {}

SerialExecutor::~SerialExecutor() { Shutdown(); }

void SerialExecutor::Start() {
  absl::MutexLock lock(&mu_);
  if (started_ || stopping_) return;
  started_ = true;
  thread_ = std::thread([this] { Loop(); });
  thread_id_.store(thread_.get_id());
}

bool SerialExecutor::Post(Task task) {
  {
    absl::MutexLock lock(&mu_);
    if (!stopping_) {
      queue_.push_back(std::move(task));
      wake_.Signal();
      return true;
    }
  }
  // `task` is destroyed here, outside the lock: its captures may run arbitrary destructors.
  return false;
}

SerialExecutor::TimerId SerialExecutor::PostAfter(absl::Duration delay, Task task) {
  const absl::Time deadline = Clock::Real()->Now() + std::max(delay, absl::ZeroDuration());
  absl::MutexLock lock(&mu_);
  if (stopping_) return 0;
  const TimerId id = next_timer_id_++;
  timers_.emplace(std::make_pair(deadline, id), std::move(task));
  timer_deadlines_.emplace(id, deadline);
  wake_.Signal();
  return id;
}

bool SerialExecutor::Cancel(TimerId id) {
  Task cancelled;
  absl::MutexLock lock(&mu_);
  auto it = timer_deadlines_.find(id);
  if (it == timer_deadlines_.end()) return false;
  auto timer = timers_.find({it->second, id});
  cancelled = std::move(timer->second);
  timers_.erase(timer);
  timer_deadlines_.erase(it);
  // `cancelled` is destroyed after the lock is released (declared before `lock`).
  return true;
}

void SerialExecutor::Shutdown() {
  CHECK(!IsCurrent()) << "SerialExecutor '" << name_ << "' shut down from its own thread";
  absl::MutexLock shutdown_lock(&shutdown_mu_);
  std::map<std::pair<absl::Time, TimerId>, Task> dropped;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    dropped.swap(timers_);
    timer_deadlines_.clear();
    wake_.SignalAll();
  }
  if (thread_.joinable()) thread_.join();
  // Tasks posted before Start() on an executor that never started are dropped here.
  std::deque<Task> unrun;
  {
    absl::MutexLock lock(&mu_);
    unrun.swap(queue_);
  }
}

bool SerialExecutor::IsCurrent() const { return std::this_thread::get_id() == thread_id_.load(); }

bool SerialExecutor::Drain() {
  CHECK(!IsCurrent()) << "Drain() on executor '" << name_ << "' from its own thread";
  auto done = std::make_shared<absl::Notification>();
  if (!Post([done] { done->Notify(); })) return false;
  done->WaitForNotification();
  return true;
}

void SerialExecutor::Loop() {
  pthread_setname_np(pthread_self(), name_.substr(0, 15).c_str());
  while (true) {
    std::vector<Task> batch;
    {
      absl::MutexLock lock(&mu_);
      while (true) {
        const absl::Time now = Clock::Real()->Now();
        // Due timers run before newer queued work, in deadline order.
        while (!timers_.empty() && timers_.begin()->first.first <= now) {
          auto node = timers_.extract(timers_.begin());
          timer_deadlines_.erase(node.key().second);
          batch.push_back(std::move(node.mapped()));
        }
        while (!queue_.empty()) {
          batch.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
        if (!batch.empty()) break;
        if (stopping_) return;
        if (timers_.empty()) {
          wake_.Wait(&mu_);
        } else {
          wake_.WaitWithTimeout(&mu_, timers_.begin()->first.first - now);
        }
      }
    }
    for (Task& task : batch) std::move(task)();
  }
}

}  // namespace roster
