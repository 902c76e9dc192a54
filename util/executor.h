// SerialExecutor: one named thread that runs tasks one at a time, in the order they were
// posted, plus delayed tasks. Components that own mutable state (a registry subscription, the
// cluster model) confine that state to one executor instead of guarding it with locks: the
// actor style of STYLE.md.
//
// Delayed tasks use the real monotonic clock: they are for timers and back-off, not for the
// logic under test. Logic that depends on time takes a Clock and is driven by the test.
//
// Thread-safety: thread-safe. Tasks run on the executor's thread only.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace roster {

class SerialExecutor {
 public:
  using Task = absl::AnyInvocable<void() &&>;
  using TimerId = uint64_t;

  // `name` names the thread (truncated to 15 characters by the kernel).
  explicit SerialExecutor(std::string name);
  ~SerialExecutor();  // Calls Shutdown().

  SerialExecutor(const SerialExecutor&) = delete;
  SerialExecutor& operator=(const SerialExecutor&) = delete;

  // Starts the thread. Tasks posted before Start() run once it has started.
  void Start();

  // Queues `task`. Returns false, and destroys the task unrun, once Shutdown() has begun.
  bool Post(Task task);

  // Runs `task` once `delay` has passed. Returns 0 (and drops the task) after Shutdown().
  TimerId PostAfter(absl::Duration delay, Task task);

  // Cancels a delayed task. Returns true if it had not started and now never will.
  bool Cancel(TimerId id);

  // Stops accepting tasks, runs the tasks already queued (not the delayed ones), and joins the
  // thread. Idempotent. Must not be called from a task on this executor.
  void Shutdown();

  // True when called from a task running on this executor.
  bool IsCurrent() const;

  // Blocks until every task posted before the call has run. Must not be called on the
  // executor itself. Returns false if the executor shut down first.
  bool Drain();

  const std::string& name() const { return name_; }

 private:
  void Loop();

  const std::string name_;
  mutable absl::Mutex mu_;
  absl::CondVar wake_;
  std::deque<Task> queue_ ABSL_GUARDED_BY(mu_);
  // Delayed tasks by (deadline, id); the id keeps equal deadlines in posting order.
  std::map<std::pair<absl::Time, TimerId>, Task> timers_ ABSL_GUARDED_BY(mu_);
  std::map<TimerId, absl::Time> timer_deadlines_ ABSL_GUARDED_BY(mu_);
  TimerId next_timer_id_ ABSL_GUARDED_BY(mu_) = 1;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  absl::Mutex shutdown_mu_;  // Serialises concurrent Shutdown() calls.
  std::thread thread_;
  std::atomic<std::thread::id> thread_id_{};
};

}  // namespace roster
