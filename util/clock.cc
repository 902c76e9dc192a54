#include "util/clock.h"

#include <algorithm>
#include <chrono>

#include "glog/logging.h"

namespace roster {
namespace {

class RealClock final : public Clock {
 public:
  absl::Time Now() const override {
    return absl::UnixEpoch() +
           absl::FromChrono(std::chrono::steady_clock::now().time_since_epoch());
  }
  absl::Time WallNow() const override { return absl::Now(); }
  absl::Duration WaitTimeout(absl::Time deadline) const override { return deadline - Now(); }
  // Real time moves by itself: nobody needs to be told.
  void AddObserver(Observer*) override {}
  void RemoveObserver(Observer*) override {}
};

}  // namespace

Clock* Clock::Real() {
  static RealClock* const clock = new RealClock();
  return clock;
}

FakeClock::FakeClock()
    : now_(absl::UnixEpoch() + absl::Hours(1000)),
      wall_now_(absl::FromUnixSeconds(1767225600)) {}  // 2026-01-01T00:00:00Z

absl::Time FakeClock::Now() const {
  absl::MutexLock lock(&mu_);
  return now_;
}

absl::Time FakeClock::WallNow() const {
  absl::MutexLock lock(&mu_);
  return wall_now_;
}

absl::Duration FakeClock::WaitTimeout(absl::Time) const { return absl::InfiniteDuration(); }

void FakeClock::AddObserver(Observer* observer) {
  absl::MutexLock lock(&observers_mu_);
  observers_.push_back(observer);
}

void FakeClock::RemoveObserver(Observer* observer) {
  absl::MutexLock lock(&observers_mu_);
  observers_.erase(std::remove(observers_.begin(), observers_.end(), observer), observers_.end());
}

void FakeClock::Advance(absl::Duration d) {
  CHECK_GE(d, absl::ZeroDuration()) << "time only moves forward";
  // Observers are told under observers_mu_ (RemoveObserver() waits for them) but not under
  // mu_: they read Now() under locks of their own.
  absl::MutexLock observers_lock(&observers_mu_);
  {
    absl::MutexLock lock(&mu_);
    now_ += d;
    wall_now_ += d;
  }
  for (Observer* observer : observers_) observer->OnClockAdvanced();
}

void FakeClock::AdvanceWall(absl::Duration d) {
  absl::MutexLock lock(&mu_);
  wall_now_ += d;
}

}  // namespace roster
