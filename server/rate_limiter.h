// RateLimiter: requests per second per client, a token bucket each (`rate` tokens a second,
// holding one second's worth, at least one: a client may burst that many calls, then `rate` a
// second).
// A client is its identity, or its IP address when it has none (server/rpc_util.h,
// ClientKey). rosterd asks it on every call when --max_requests_per_second_per_client is set.
//
// Memory is bounded: past max_clients buckets, full ones (clients idle for a second or more,
// which lose nothing by being forgotten) are dropped; if none is full, the new client is
// refused rather than the table grown.
//
// Thread-safety: thread-safe.
#pragma once

#include <cstddef>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "util/clock.h"

namespace roster::server {

class RateLimiter {
 public:
  // `rate` > 0 calls per second. `clock` must outlive the limiter.
  RateLimiter(double rate, Clock* clock, size_t max_clients = 100000);

  // Takes a token of `client`'s bucket; false when it has none left.
  bool Allow(absl::string_view client);

  double rate() const { return rate_; }
  size_t clients() const;

 private:
  struct Bucket {
    double tokens = 0;
    absl::Time refilled;
  };
  void Refill(Bucket& bucket, absl::Time now) const;

  const double rate_;
  const double capacity_;  // tokens a full bucket holds: a second's worth, at least 1
  Clock* const clock_;
  const size_t max_clients_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Bucket> buckets_ ABSL_GUARDED_BY(mu_);
};

}  // namespace roster::server
