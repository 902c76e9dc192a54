#include "util/executor.h"

#include <pthread.h>

#include <utility>
#include <vector>

#include "absl/synchronization/notification.h"
#include "glog/logging.h"
#include "util/clock.h"

namespace roster {

SerialExecutor::SerialExecutor(std::string name) : SerialExecutor(std::move(name), Clock::Real()) {}

SerialExecutor::SerialExecutor(std::string name, Clock* clock)
    : name_(std::move(name)), clock_(clock) {
  CHECK(clock_ != nullptr) << "SerialExecutor '" << name_ << "' needs a clock";
  clock_->AddObserver(this);
}

SerialExecutor::~SerialExecutor() {
  Shutdown();
  clock_->RemoveObserver(this);
}

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

bool SerialExecutor::RunInlineOrPost(Task task) {
  {
    absl::MutexLock lock(&mu_);
    // `task` is destroyed outside the lock if refused, as in Post().
    if (stopping_) return false;
    const bool idle = started_ && !loop_busy_ && !inline_busy_ && queue_.empty() &&
                      (timers_.empty() || timers_.begin()->first.first > clock_->Now());
    if (!idle) {
      queue_.push_back(std::move(task));
      wake_.Signal();
      return true;
    }
    // Held until the task ends: the loop does not start a batch, Shutdown() does not finish.
    inline_busy_ = true;
    inline_thread_id_.store(std::this_thread::get_id());
  }
  std::move(task)();
  task = nullptr;  // its captures are destroyed while the executor is still held
  absl::MutexLock lock(&mu_);
  inline_thread_id_.store(std::thread::id());
  inline_busy_ = false;
  // Wake the thread only if it has something to do: it waits for this task to end.
  if (loop_blocked_ || stopping_) {
    loop_blocked_ = false;
    wake_.Signal();
  }
  return true;
}

SerialExecutor::TimerId SerialExecutor::PostAfter(absl::Duration delay, Task task) {
  return PostAt(clock_->Now() + std::max(delay, absl::ZeroDuration()), std::move(task));
}

SerialExecutor::TimerId SerialExecutor::PostAt(absl::Time deadline, Task task) {
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
  thread_id_.store(std::thread::id());  // a later thread may be given the same id
  // The loop returns only once no task runs inline, and none starts after stopping_.
  // Tasks posted before Start() on an executor that never started are dropped here.
  std::deque<Task> unrun;
  {
    absl::MutexLock lock(&mu_);
    joined_ = true;
    unrun.swap(queue_);
  }
}

size_t SerialExecutor::QueueLength() const {
  absl::MutexLock lock(&mu_);
  return queue_.size();
}

bool SerialExecutor::IsCurrent() const {
  const std::thread::id self = std::this_thread::get_id();
  return self == thread_id_.load() || self == inline_thread_id_.load();
}

bool SerialExecutor::OnOwnThread() const { return std::this_thread::get_id() == thread_id_.load(); }

void SerialExecutor::AssertCurrent() const {
  if (IsCurrent()) return;
  absl::MutexLock lock(&mu_);
  CHECK(!started_ || joined_) << "not on executor '" << name_ << "', which is running";
}

void SerialExecutor::AssertNotRunning() const {
  absl::MutexLock lock(&mu_);
  CHECK(!started_ || joined_) << "executor '" << name_ << "' is running";
}

void SerialExecutor::OnClockAdvanced() {
  // Under mu_: the loop either reads the clock after the advance or is already waiting.
  absl::MutexLock lock(&mu_);
  wake_.Signal();
}

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
      loop_busy_ = false;
      while (true) {
        if (inline_busy_) {
          // A task runs inline elsewhere; it signals when it ends, if told that we wait.
          loop_blocked_ = true;
          wake_.Wait(&mu_);
          continue;
        }
        const absl::Time now = clock_->Now();
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
        if (!batch.empty()) {
          loop_busy_ = true;
          break;
        }
        if (stopping_) return;
        if (timers_.empty()) {
          wake_.Wait(&mu_);
        } else {
          // A FakeClock has no timeout here: Advance() wakes the loop (OnClockAdvanced).
          wake_.WaitWithTimeout(&mu_, clock_->WaitTimeout(timers_.begin()->first.first));
        }
      }
    }
    for (Task& task : batch) std::move(task)();
  }
}

}  // namespace roster
