// Time sources. Components take a `Clock*` so tests can drive time by hand.
//
// `Now()` is monotonic: it never goes backwards and is the only time used for liveness,
// staleness and timers. `WallNow()` is the calendar clock, used only to display times and to
// stamp records for people; it may jump by hours either way (an operator, NTP stepping), so no
// decision about a node rests on it: a heartbeat's own times are compared with the registry
// server's clock (the znode's mtime), never with ours (docs/consistency.md).
//
// Timer loops (SerialExecutor) wait for a deadline on a clock with WaitTimeout() and register
// as a Clock::Observer: a FakeClock does not move by itself, so a waiter sleeps until
// FakeClock::Advance() tells its observers that time has moved.
//
// Thread-safety: RealClock is thread-safe. FakeClock is thread-safe.
#pragma once

#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace roster {

class Clock {
 public:
  // Told when the clock has jumped forward (FakeClock::Advance()); the real clock, which
  // moves by itself, never calls it.
  class Observer {
   public:
    // Runs on the thread that advanced the clock, after Now() shows the new time. Must not
    // call AddObserver()/RemoveObserver() or Advance() on the same clock.
    virtual void OnClockAdvanced() = 0;

   protected:
    ~Observer() = default;
  };

  virtual ~Clock() = default;
  // Monotonic time, expressed as an absl::Time with an arbitrary epoch.
  virtual absl::Time Now() const = 0;
  // Calendar time.
  virtual absl::Time WallNow() const = 0;

  // How long, in real time, a thread should sleep for Now() to reach `deadline`:
  // `deadline - Now()` for the real clock; InfiniteDuration() for a FakeClock, which moves only
  // in Advance() and tells its observers when it does.
  virtual absl::Duration WaitTimeout(absl::Time deadline) const = 0;

  // Registers `observer` until RemoveObserver(). RemoveObserver() returns once no call to it
  // is running (so the observer may be destroyed then). No-ops on the real clock.
  virtual void AddObserver(Observer* observer) = 0;
  virtual void RemoveObserver(Observer* observer) = 0;

  // The process-wide real clock.
  static Clock* Real();
};

class FakeClock final : public Clock {
 public:
  // Starts at an arbitrary, fixed point so tests are reproducible.
  FakeClock();
  absl::Time Now() const override;
  absl::Time WallNow() const override;
  absl::Duration WaitTimeout(absl::Time deadline) const override;
  void AddObserver(Observer* observer) override;
  void RemoveObserver(Observer* observer) override;

  // Moves both clocks forward, then tells every observer (timers past their deadline run on
  // the executors that use this clock; Advance() does not wait for them). `d` must not be
  // negative.
  void Advance(absl::Duration d);
  // Moves the calendar clock alone, forwards or backwards (`d` may be negative), as an
  // operator or NTP stepping the clock does; Now() does not move, so no observer is told.
  void AdvanceWall(absl::Duration d);

 private:
  mutable absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
  absl::Time wall_now_ ABSL_GUARDED_BY(mu_);
  // Held while observers are told, so that RemoveObserver() waits for a running call. Taken
  // before an observer's own locks, never while `mu_` is held.
  absl::Mutex observers_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  std::vector<Observer*> observers_ ABSL_GUARDED_BY(observers_mu_);
};

}  // namespace roster
