#include "util/clock.h"

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

void FakeClock::Advance(absl::Duration d) {
  CHECK_GE(d, absl::ZeroDuration()) << "time only moves forward";
  absl::MutexLock lock(&mu_);
  now_ += d;
  wall_now_ += d;
}

}  // namespace roster
