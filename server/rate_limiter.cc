#include "server/rate_limiter.h"

#include <algorithm>
#include <vector>

namespace roster::server {

RateLimiter::RateLimiter(double rate, Clock* clock, size_t max_clients)
    : rate_(rate), capacity_(std::max(1.0, rate)), clock_(clock), max_clients_(max_clients) {}

void RateLimiter::Refill(Bucket& bucket, absl::Time now) const {
  const double elapsed = absl::ToDoubleSeconds(now - bucket.refilled);
  if (elapsed > 0) bucket.tokens = std::min(capacity_, bucket.tokens + elapsed * rate_);
  bucket.refilled = now;
}

bool RateLimiter::Allow(absl::string_view client) {
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  auto it = buckets_.find(client);
  if (it == buckets_.end()) {
    if (buckets_.size() >= max_clients_) {
      // Forget the clients whose buckets are full again: idle ones.
      std::vector<std::string> idle;
      for (auto& [key, bucket] : buckets_) {
        Refill(bucket, now);
        if (bucket.tokens >= capacity_) idle.push_back(key);
      }
      for (const std::string& key : idle) buckets_.erase(key);
      if (buckets_.size() >= max_clients_) return false;
    }
    it = buckets_.emplace(std::string(client), Bucket{capacity_, now}).first;
  }
  Bucket& bucket = it->second;
  Refill(bucket, now);
  if (bucket.tokens < 1) return false;
  bucket.tokens -= 1;
  return true;
}

size_t RateLimiter::clients() const {
  absl::MutexLock lock(&mu_);
  return buckets_.size();
}

}  // namespace roster::server
