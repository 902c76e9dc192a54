#include "cluster/burst_detector.h"

namespace roster::cluster {

bool BurstDetector::InBurst(int64_t now_ns) {
  if (now_ns - last_end_ns_.load(std::memory_order_relaxed) > kGapNs) {
    close_run_.store(0, std::memory_order_relaxed);
    return false;
  }
  return close_run_.fetch_add(1, std::memory_order_relaxed) >= kInlineRun;
}

}  // namespace roster::cluster
