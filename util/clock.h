// Time sources. Components take a `Clock*` so tests can drive time by hand.
//
// `Now()` is monotonic: it never goes backwards and is the only time used for liveness,
// staleness and timers. `WallNow()` is the calendar clock, used only to display times and to
// compare with timestamps written by other machines (which are never trusted for liveness).
//
// Thread-safety: RealClock is thread-safe. FakeClock is thread-safe.
#pragma once

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace roster {

class Clock {
 public:
  virtual ~Clock() = default;
  // Monotonic time, expressed as an absl::Time with an arbitrary epoch.
  virtual absl::Time Now() const = 0;
  // Calendar time.
  virtual absl::Time WallNow() const = 0;

  // The process-wide real clock.
  static Clock* Real();
};

class FakeClock final : public Clock {
 public:
  // Starts at an arbitrary, fixed point so tests are reproducible.
  FakeClock();
  absl::Time Now() const override;
  absl::Time WallNow() const override;
  // Moves both clocks forward. `d` must not be negative.
  void Advance(absl::Duration d);

 private:
  mutable absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
  absl::Time wall_now_ ABSL_GUARDED_BY(mu_);
};

}  // namespace roster
