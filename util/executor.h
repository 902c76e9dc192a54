// SerialExecutor: one named thread that runs tasks one at a time, in the order they were
// posted, plus delayed tasks. Components that own mutable state (a registry subscription, the
// cluster model) confine that state to one executor instead of guarding it with locks (actor
// style).
//
// Delayed tasks run on the executor's Clock (Clock::Real() unless one is given). With a
// FakeClock they run when the test advances the clock past their deadline: after
// FakeClock::Advance() returns, Drain() waits for every task that became due.
//
// Executor confinement is a capability that clang's -Wthread-safety checks
// (-DROSTER_THREAD_SAFETY_ANALYSIS=ON). The idiom, for a class that owns `executor_`:
//
//   SerialExecutor executor_;
//   std::map<std::string, Entry> entries_ ABSL_GUARDED_BY(executor_);
//
//   // Helpers that only run on the executor say so; callers must hold the capability.
//   void Apply(const Event& event) ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor_);
//
//   // Every entry point on the executor (a posted task, a timer, a callback the executor
//   // runs) asserts it first. AssertCurrent() CHECKs at run time that the caller is on the
//   // executor (or that the executor is not running) and tells the analysis that the
//   // capability is held from there on.
//   executor_.Post([this, event] {
//     executor_.AssertCurrent();
//     Apply(event);
//   });
//
//   // Set-up before Start() or tear-down after Shutdown(), when no task can run:
//   executor_.AssertNotRunning();
//
// Lambdas are analysed as functions of their own, so the assertion goes inside each posted
// lambda, not around the Post() call. With a pointer (`SerialExecutor* executor_`) write
// ABSL_GUARDED_BY(executor_) and `executor_->AssertCurrent()` alike. Constructors and
// destructors are not analysed.
//
// Running inline: RunInlineOrPost() lets a hand-off skip the thread switch. When the executor
// is idle (started, no task running, nothing queued, no timer due) the task runs at once on the
// calling thread, which holds the executor for it: IsCurrent() and AssertCurrent() hold there,
// the executor's own thread waits, and tasks the inline task posts (to this executor or to
// another) queue as usual and run on the executor's thread afterwards. Otherwise the task is
// posted. Only the one task runs inline; nothing queued ever does. A hand-off between threads
// costs a wake-up that other load can delay by milliseconds on a busy machine; this is what
// keeps a registry event's path to the published view on one thread (docs/scale.md,
// "Propagation").
//
// Thread-safety: thread-safe. Tasks run on the executor's thread, or inline on the thread that
// called RunInlineOrPost(), one at a time either way.
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
#include "util/clock.h"
#include "util/thread_annotations.h"

namespace roster {

class ROSTER_CAPABILITY("executor") SerialExecutor final : private Clock::Observer {
 public:
  using Task = absl::AnyInvocable<void() &&>;
  using TimerId = uint64_t;

  // `name` names the thread (truncated to 15 characters by the kernel). Delayed tasks use
  // `clock`, which must outlive the executor; the first form uses Clock::Real().
  explicit SerialExecutor(std::string name);
  SerialExecutor(std::string name, Clock* clock);
  ~SerialExecutor();  // Calls Shutdown().

  SerialExecutor(const SerialExecutor&) = delete;
  SerialExecutor& operator=(const SerialExecutor&) = delete;

  // Starts the thread. Tasks posted before Start() run once it has started.
  void Start();

  // Queues `task`. Returns false, and destroys the task unrun, once Shutdown() has begun.
  bool Post(Task task);

  // Runs `task` now on the calling thread if the executor is idle (see the file comment),
  // else posts it. Returns false, and destroys the task unrun, once Shutdown() has begun.
  // For hand-offs from a thread that holds no lock a task of this executor may take, and that
  // may block for as long as the task runs: a task that must run on the executor's own thread
  // (one that joins the caller's thread, say) checks OnOwnThread() and re-posts itself.
  bool RunInlineOrPost(Task task);

  // Runs `task` once `delay` has passed on the executor's clock (at once for a delay <= 0, but
  // after the tasks already queued). Timers due at the same moment run in posting order; a due
  // timer runs before queued tasks posted after it became due. Returns 0 (and drops the task)
  // after Shutdown().
  TimerId PostAfter(absl::Duration delay, Task task);
  // Runs `task` once the executor's clock reaches `deadline` (otherwise as PostAfter). For a
  // deadline computed from an earlier reading of the clock: PostAfter(deadline - then) would
  // land late by however far the clock moved since `then`.
  TimerId PostAt(absl::Time deadline, Task task);

  // Cancels a delayed task. Returns true if it had not started and now never will.
  bool Cancel(TimerId id);

  // Stops accepting tasks, runs the tasks already queued (not the delayed ones), and joins the
  // thread. Idempotent. Must not be called from a task on this executor.
  void Shutdown();

  // True when called from a task running on this executor (on its thread, or inline).
  bool IsCurrent() const;
  // True when called on the executor's own thread: false in a task run inline elsewhere.
  bool OnOwnThread() const;

  // CHECKs that the caller has the executor-confined state to itself: it runs on this
  // executor, or no task can run (before Start(), or after Shutdown() has joined the
  // thread). For the thread-safety analysis, the caller holds the executor capability from
  // here on (see the file comment). Cheap on the executor's thread.
  void AssertCurrent() const ROSTER_ASSERT_CAPABILITY(this);

  // CHECKs that no task can run concurrently with the caller: the executor has not been
  // started, or has been shut down (joined). For set-up and tear-down of executor-confined
  // state outside constructors and destructors. The caller must keep Start() from being
  // called concurrently.
  void AssertNotRunning() const ROSTER_ASSERT_CAPABILITY(this);

  // Blocks until every task posted before the call has run. Must not be called on the
  // executor itself. Returns false if the executor shut down first.
  bool Drain();

  // Tasks posted and not yet started (timers not counted): the executor's backlog.
  size_t QueueLength() const;

  const std::string& name() const { return name_; }
  Clock* clock() const { return clock_; }

 private:
  void Loop();
  void OnClockAdvanced() override;

  const std::string name_;
  Clock* const clock_;
  mutable absl::Mutex mu_;
  absl::CondVar wake_;
  std::deque<Task> queue_ ABSL_GUARDED_BY(mu_);
  // Delayed tasks by (deadline, id); the id keeps equal deadlines in posting order.
  std::map<std::pair<absl::Time, TimerId>, Task> timers_ ABSL_GUARDED_BY(mu_);
  std::map<TimerId, absl::Time> timer_deadlines_ ABSL_GUARDED_BY(mu_);
  TimerId next_timer_id_ ABSL_GUARDED_BY(mu_) = 1;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool joined_ ABSL_GUARDED_BY(mu_) = false;        // the thread has ended (or never started)
  bool loop_busy_ ABSL_GUARDED_BY(mu_) = false;     // the thread is running a batch
  bool inline_busy_ ABSL_GUARDED_BY(mu_) = false;   // a task runs inline on another thread
  bool loop_blocked_ ABSL_GUARDED_BY(mu_) = false;  // the thread waits for that task to end
  absl::Mutex shutdown_mu_;                         // Serialises concurrent Shutdown() calls.
  std::thread thread_;
  std::atomic<std::thread::id> thread_id_{};
  std::atomic<std::thread::id> inline_thread_id_{};  // the thread running a task inline
};

}  // namespace roster
