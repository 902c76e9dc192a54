// BurstDetector: whether a registry event that finds the cluster manager idle is applied at once,
// on the thread that delivers it, or posted to the manager's executor, whose thread then applies
// it with the events that follow it (docs/scale.md, "Propagation").
//
// Applied at once, an event saves a wake-up of the manager's thread: tens of microseconds on an
// idle machine, up to milliseconds when other load holds the cores. A burst, a stream of events
// each hard on the heels of the last batch, is better posted: the delivering thread goes on
// delivering while the manager's thread applies, and what piles up meanwhile is applied in one
// batch, with one publish. A few close events are no burst: at 1,000 heartbeats a second, close
// events come in short runs, and applying the first three of a run at once saved as many
// wake-ups as applying them all (docs/scale.md, "Propagation").
//
// So an event that starts a batch within kGapNs of the last batch's end extends a run of close
// events; the first kInlineRun of a run are applied at once, the rest posted until a gap ends
// the run.
//
// Thread-safety: thread-safe and lock-free. It is a heuristic: a caller racing a batch's end may
// act on the state before it; either way every event is applied, in order.
#pragma once

#include <atomic>
#include <cstdint>

namespace roster::cluster {

class BurstDetector {
 public:
  static constexpr int64_t kGapNs = 50'000;
  static constexpr int kInlineRun = 3;

  // Whether an event that would start a batch at `now_ns` (any clock's nanoseconds, the same as
  // BatchDone's) is part of a burst: then it is posted, not applied at once.
  bool InBurst(int64_t now_ns);

  // A batch ended at `end_ns`.
  void BatchDone(int64_t end_ns) { last_end_ns_.store(end_ns, std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> last_end_ns_{0};
  std::atomic<int> close_run_{0};  // events that started a batch within kGapNs of the last
};

}  // namespace roster::cluster
