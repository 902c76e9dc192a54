#include "cluster/worker_selector.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <iterator>
#include <optional>
#include <utility>

#include "absl/functional/function_ref.h"
#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "glog/logging.h"

namespace roster::cluster {
namespace {

// How much of a member's eligibility is settled by the node alone (its state
// and drain); the request adds allow_overload and exclusions.
enum class Base : uint8_t {
  kNever,     // not RUNNING/OVERLOAD, or drained
  kRunning,   // RUNNING, not drained
  kOverload,  // OVERLOAD, not drained: only with allow_overload
};

Base Classify(const NodeInfo& node) {
  if (node.drained) return Base::kNever;
  switch (node.state) {
    case NodeState::kRunning:
      return Base::kRunning;
    case NodeState::kOverload:
      return Base::kOverload;
    default:
      return Base::kNever;
  }
}

// Why a member was not selectable, in the order the Unavailable summary lists
// them.
enum class Skip : uint8_t {
  kOverload,
  kFault,
  kRecovering,
  kRegistering,
  kOffline,
  kExcluded,
  kDraining,
  kZeroWeight,
  kNone,  // selectable; also the number of reasons
};
constexpr int kSkipReasons = static_cast<int>(Skip::kNone);

// The label of a reason in the Unavailable summary: "(2 OVERLOAD, 1 FAULT)".
absl::string_view SkipLabel(Skip skip) {
  switch (skip) {
    case Skip::kOverload:
      return "OVERLOAD";
    case Skip::kFault:
      return "FAULT";
    case Skip::kRecovering:
      return "RECOVERING";
    case Skip::kRegistering:
      return "REGISTERING";
    case Skip::kOffline:
      return "OFFLINE";
    case Skip::kExcluded:
      return "excluded by the request";
    case Skip::kDraining:
      return "draining";
    case Skip::kZeroWeight:
      return "weight 0";
    case Skip::kNone:
      break;
  }
  return "selectable";
}

bool IsExcluded(absl::string_view address, const std::vector<std::string>& exclude) {
  for (const std::string& excluded : exclude) {
    if (excluded == address) return true;
  }
  return false;
}

// The rule a strategy follows under a semantics (the table in the header).
enum class Rule : uint8_t {
  kWeightedRandom,          // RandomSelector, DS 2.0 - 3.2
  kSmoothHostWeight,        // RoundRobinSelector, DS 2.0 - 3.2
  kLowerWeightLoadAverage,  // LowerWeightRoundRobin, DS 2.0 - 3.2.0
  kLowerWeightSpare,        // LowerWeightRoundRobin, DS 3.2.1 - 3.2.2
  kUniformRandom,           // RandomWorkerLoadBalancer, DS 3.3
  kCounterRoundRobin,       // RoundRobinWorkerLoadBalancer, DS 3.3
  kCreditFixed,             // FixedWeightedRoundRobinWorkerLoadBalancer, DS 3.3
  kCreditDynamic,           // DynamicWeightedRoundRobinWorkerLoadBalancer, DS 3.3
  kSmoothSpare,             // roster's LOWER_LOAD_WEIGHTED_ROUND_ROBIN
};

Rule RuleFor(StrategySemantics semantics, SelectionStrategy strategy) {
  const bool dev = semantics == StrategySemantics::kDolphinScheduler33;
  switch (strategy) {
    case SelectionStrategy::kRandom:
      return dev ? Rule::kUniformRandom : Rule::kWeightedRandom;
    case SelectionStrategy::kRoundRobin:
      return dev ? Rule::kCounterRoundRobin : Rule::kSmoothHostWeight;
    case SelectionStrategy::kFixedWeightedRoundRobin:
      return Rule::kCreditFixed;
    case SelectionStrategy::kDynamicWeightedRoundRobin:
      return Rule::kCreditDynamic;
    case SelectionStrategy::kLowerWeight:
      return semantics == StrategySemantics::kDolphinScheduler31 ? Rule::kLowerWeightLoadAverage
                                                                 : Rule::kLowerWeightSpare;
    case SelectionStrategy::kLowerLoadWeightedRoundRobin:
      break;
  }
  return Rule::kSmoothSpare;
}

std::string RuleText(Rule rule, const SelectorOptions& options) {
  switch (rule) {
    case Rule::kWeightedRandom:
      return "RandomSelector: random weighted by workerHostWeight (DolphinScheduler 2.0-3.2)";
    case Rule::kSmoothHostWeight:
      return "RoundRobinSelector: smooth weighted round robin on workerHostWeight "
             "(DolphinScheduler 2.0-3.2)";
    case Rule::kLowerWeightLoadAverage:
      return "LowerWeightRoundRobin: lowest current weight first, weight 10 cpu + 20 memory + "
             "70 loadAverage (DolphinScheduler 2.0-3.2.0)";
    case Rule::kLowerWeightSpare:
      return absl::StrCat(
          "LowerWeightRoundRobin: lowest current weight first, weight 100 - (20 cpu + 20 memory "
          "+ 50 disk + 10 threadPoolUsage) (DolphinScheduler 3.2.1-3.2.2",
          options.semantics == StrategySemantics::kDolphinScheduler33
              ? "; DolphinScheduler 3.3 has no LOWER_WEIGHT)"
              : ")");
    case Rule::kUniformRandom:
      return "RandomWorkerLoadBalancer: uniform (DolphinScheduler 3.3)";
    case Rule::kCounterRoundRobin:
      return "RoundRobinWorkerLoadBalancer: workers in turn (DolphinScheduler 3.3)";
    case Rule::kCreditFixed:
      return "FixedWeightedRoundRobinWorkerLoadBalancer: weighted round robin on "
             "workerHostWeight (DolphinScheduler 3.3)";
    case Rule::kCreditDynamic: {
      const DynamicWeightOptions& w = options.dynamic_weights;
      return absl::StrCat(
          "DynamicWeightedRoundRobinWorkerLoadBalancer: weighted round robin on 100 - (",
          w.cpu_usage_weight, " cpu + ", w.memory_usage_weight, " memory + ",
          w.thread_pool_usage_weight, " threadPoolUsage) / 3 (DolphinScheduler 3.3)");
    }
    case Rule::kSmoothSpare:
      break;
  }
  return "roster LOWER_LOAD_WEIGHTED_ROUND_ROBIN: smooth weighted round robin on 100 - (20 cpu + "
         "20 memory + 50 disk + 10 threadPool), ramped up over the warm-up";
}

// Rules whose weight is workerHostWeight: a worker with weight 0 is never picked.
bool WeighsByHostWeight(Rule rule) {
  return rule == Rule::kWeightedRandom || rule == Rule::kSmoothHostWeight ||
         rule == Rule::kCreditFixed;
}

// The weight eligibility depends on: workerHostWeight for the rules above, 1 otherwise (every
// other weight is at least 1).
double EligibilityWeight(Rule rule, const NodeInfo& node) {
  return WeighsByHostWeight(rule) ? node.heartbeat.host_weight() : 1;
}

// DS's weights can be zero, negative or NaN (an unknown loadAverage of -1, a threadPoolUsage
// task count); the LowerWeight and credit walks then send every task to one worker (or never
// end). At least 1 keeps every worker in turn.
double AtLeastOne(double weight) { return weight >= 1 ? weight : 1; }

// Java's DoubleStream.sum() (Kahan summation), which DS 3.3's balancers use for the total:
// a plain sum can differ in the last bit and turn a `current >= total` the other way.
class JavaDoubleSum {
 public:
  void Add(double value) {
    const double corrected = value - compensation_;
    const double sum = sum_ + corrected;
    compensation_ = (sum - sum_) - corrected;
    sum_ = sum;
  }
  double Sum() const { return sum_ - compensation_; }

 private:
  double sum_ = 0;
  double compensation_ = 0;
};

// Milliseconds the worker has been up by its own startupTime, or 0 when unknown.
int64_t UptimeMs(const NodeInfo& node, absl::Time wall_now) {
  const int64_t startup = node.heartbeat.startup_time_ms();
  return startup > 0 ? absl::ToUnixMillis(wall_now) - startup : 0;
}

// HostWeight.calculateWeight's warm-up (all DS versions): weight * WARM_UP_TIME / uptime while
// 0 < uptime < WARM_UP_TIME, in Java's order of double operations.
double DolphinLowerWeight(const NodeInfo& node, bool load_average_formula, absl::Duration warm_up,
                          absl::Time wall_now) {
  double weight = WorkerSelector::LowerWeight(node.heartbeat, load_average_formula);
  const int64_t uptime = UptimeMs(node, wall_now);
  const int64_t warm_up_ms = absl::ToInt64Milliseconds(warm_up);
  if (uptime > 0 && uptime < warm_up_ms) {
    weight = weight * static_cast<double>(warm_up_ms) / static_cast<double>(uptime);
  }
  return AtLeastOne(weight);
}

// LOWER_LOAD_WEIGHTED_ROUND_ROBIN's weight * 100, rounded (integers keep smooth round robin
// exact): spare capacity, ramped up linearly over the warm-up.
int64_t SpareWeight(const NodeInfo& node, absl::Duration warm_up, absl::Time wall_now) {
  double weight = WorkerSelector::SpareCapacity(node.heartbeat);
  const int64_t uptime = UptimeMs(node, wall_now);
  const int64_t warm_up_ms = absl::ToInt64Milliseconds(warm_up);
  if (uptime > 0 && uptime < warm_up_ms) {
    weight = weight * static_cast<double>(uptime) / static_cast<double>(warm_up_ms);
  }
  return std::llround(AtLeastOne(weight) * 100);
}
// The one place that decides eligibility for explanations and error messages.
// The pick paths below decide it from the same facts (Classify, allow_overload,
// exclusions, weight).
Skip SkipOf(const NodeInfo& node, const SelectRequest& request, Rule rule) {
  switch (node.state) {
    case NodeState::kRegistering:
      return Skip::kRegistering;
    case NodeState::kFault:
      return Skip::kFault;
    case NodeState::kRecovering:
      return Skip::kRecovering;
    case NodeState::kOffline:
      return Skip::kOffline;
    case NodeState::kRunning:
    case NodeState::kOverload:
      break;
  }
  if (node.drained) return Skip::kDraining;
  if (node.state == NodeState::kOverload && !request.allow_overload) {
    return Skip::kOverload;
  }
  if (IsExcluded(node.address, request.exclude)) return Skip::kExcluded;
  if (!(EligibilityWeight(rule, node) > 0)) return Skip::kZeroWeight;
  return Skip::kNone;
}

// "FAULT: no heartbeat for 30s" for a state that carries its cause in `reason`.
std::string WithReason(absl::string_view what, const std::string& reason) {
  return reason.empty() ? std::string(what) : absl::StrCat(what, ": ", reason);
}

std::string SkipText(Skip skip, const NodeInfo& node, double weight) {
  switch (skip) {
    case Skip::kOverload:
      return "OVERLOAD (allow_overload is off)";
    case Skip::kFault:
      return WithReason("FAULT", node.reason);
    case Skip::kRecovering:
      return "RECOVERING: probation";
    case Skip::kRegistering:
      return "REGISTERING: no heartbeat yet";
    case Skip::kOffline:
      return WithReason("OFFLINE", node.reason);
    case Skip::kExcluded:
      return "excluded by the request";
    case Skip::kDraining:
      return WithReason("draining", node.drain_reason);
    case Skip::kZeroWeight:
      return absl::StrCat("weight ", weight);
    case Skip::kNone:
      break;
  }
  return "";
}

std::string Workers(size_t n) { return absl::StrCat(n, n == 1 ? " worker" : " workers"); }

// "group 'etl': 3 workers, none selectable (2 OVERLOAD, 1 FAULT)".
std::string NoneSelectableMessage(const GroupView& group, const SelectRequest& request, Rule rule) {
  if (group.members.empty()) {
    return absl::StrCat("group '", group.name, "': no workers");
  }
  int counts[kSkipReasons + 1] = {};
  for (const NodeInfoPtr& node : group.members) {
    counts[static_cast<int>(SkipOf(*node, request, rule))]++;
  }
  std::string message = absl::StrCat("group '", group.name, "': ", Workers(group.members.size()),
                                     ", none selectable (");
  absl::string_view separator;
  for (int i = 0; i < kSkipReasons; ++i) {
    if (counts[i] == 0) continue;
    absl::StrAppend(&message, separator, counts[i], " ", SkipLabel(static_cast<Skip>(i)));
    separator = ", ";
  }
  message += ")";
  return message;
}

// "worker group 'etl' does not exist (known groups: default, etl2)".
std::string UnknownGroupMessage(const ClusterView& view, absl::string_view name) {
  constexpr size_t kMaxListed = 10;
  std::string message = absl::StrCat("worker group '", name, "' does not exist (known groups: ");
  size_t listed = 0;
  for (const auto& [group, unused] : view.groups) {
    if (listed == kMaxListed) {
      absl::StrAppend(&message, ", and ", view.groups.size() - kMaxListed, " more");
      break;
    }
    absl::StrAppend(&message, listed == 0 ? "" : ", ", group);
    ++listed;
  }
  if (listed == 0) message += "none";
  message += ")";
  return message;
}

// `weight_of(i)`: the strategy's effective weight of member i.
std::vector<CandidateExplanation> Explain(const GroupView& group, const SelectRequest& request,
                                          Rule rule, absl::FunctionRef<double(size_t)> weight_of) {
  std::vector<CandidateExplanation> candidates;
  candidates.reserve(group.members.size());
  for (size_t i = 0; i < group.members.size(); ++i) {
    const NodeInfo& node = *group.members[i];
    const Skip skip = SkipOf(node, request, rule);
    CandidateExplanation& candidate = candidates.emplace_back();
    candidate.address = node.address;
    candidate.state = node.state;
    candidate.eligible = skip == Skip::kNone;
    candidate.weight = candidate.eligible ? weight_of(i) : 0;
    candidate.skipped = SkipText(skip, node, EligibilityWeight(rule, node));
  }
  return candidates;
}

bool EligibleFor(Base base, absl::string_view address, const SelectRequest& request) {
  if (base != Base::kRunning && !(base == Base::kOverload && request.allow_overload)) {
    return false;
  }
  return request.exclude.empty() || !IsExcluded(address, request.exclude);
}

// RANDOM needs no shared state: a generator per thread keeps it lock-free.
// InsecureBitGen (a PCG engine) is seeded once per thread from the OS;
// selection needs spread, not secrecy.
absl::InsecureBitGen& ThreadBitGen() {
  thread_local absl::InsecureBitGen gen;
  return gen;
}

int PickRandom(const GroupView& group, const SelectRequest& request) {
  const NodeList& members = group.members;
  const uint32_t n = static_cast<uint32_t>(members.size());
  // The common case, in O(1): the view counts every member as RUNNING and not
  // drained, and nothing is excluded. The pick is still checked, so a
  // miscounted view costs only the slow path below (and the result stays
  // uniform over the eligible workers).
  if (request.exclude.empty() && n > 0 && group.selectable == static_cast<int>(n)) {
    const uint32_t k = absl::Uniform<uint32_t>(ThreadBitGen(), 0, n);
    if (Classify(*members[k]) == Base::kRunning) return static_cast<int>(k);
  }
  uint32_t eligible = 0;
  for (const NodeInfoPtr& node : members) {
    eligible += EligibleFor(Classify(*node), node->address, request);
  }
  if (eligible == 0) return -1;
  uint32_t k = absl::Uniform<uint32_t>(ThreadBitGen(), 0, eligible);
  for (uint32_t i = 0; i < n; ++i) {
    if (EligibleFor(Classify(*members[i]), members[i]->address, request) && k-- == 0) {
      return static_cast<int>(i);
    }
  }
  return -1;  // unreachable: k < eligible
}

// RandomSelector.doSelect (DS 2.0 - 3.2): an offset in [0, total workerHostWeight) walks the
// workers; AbstractSelector returns a lone candidate directly. Workers of weight 0 are not
// eligible, so the total is positive.
int PickWeightedRandom(const GroupView& group, const SelectRequest& request) {
  const NodeList& members = group.members;
  int64_t total = 0;
  int eligible = 0;
  int last = -1;
  for (size_t i = 0; i < members.size(); ++i) {
    const NodeInfo& node = *members[i];
    if (!EligibleFor(Classify(node), node.address, request) || node.heartbeat.host_weight() <= 0) {
      continue;
    }
    total += node.heartbeat.host_weight();
    ++eligible;
    last = static_cast<int>(i);
  }
  if (eligible <= 1) return last;
  int64_t offset = absl::Uniform<int64_t>(ThreadBitGen(), 0, total);
  for (size_t i = 0; i < members.size(); ++i) {
    const NodeInfo& node = *members[i];
    if (!EligibleFor(Classify(node), node.address, request) || node.heartbeat.host_weight() <= 0) {
      continue;
    }
    offset -= node.heartbeat.host_weight();
    if (offset < 0) return static_cast<int>(i);
  }
  return last;  // unreachable: offset < total
}

// Never reused, so a per-thread memo of a destroyed selector can never match a
// new one.
std::atomic<uint64_t> next_selector_id{1};

// What Sync, Rebuild and the picks need from the selector.
struct Context {
  const SelectorOptions& options;
  Clock* clock;
};

}  // namespace

// Strategy state of one group. It mirrors the group's members (same order, same
// NodeInfo pointers) with what the strategies need precomputed, and is rebuilt
// only when the members change: NodeInfos are immutable and shared between
// views, so "same pointers" means "same states, drains and heartbeats", and the
// common path (many picks on one view) compares pointers and allocates nothing.
// The cached pointers are owning, so a pointer cannot be reused by another node
// while it is compared.
struct WorkerSelector::GroupState {
  struct Member {
    NodeInfoPtr node;
    Base base = Base::kNever;
    int64_t host_weight = 0;  // workerHostWeight
    // RoundRobinSelector (DS 2.0 - 3.2): the weight its current belongs to.
    int64_t smooth_weight = 0;
    int64_t smooth_current = 0;
    // FixedWeightedRoundRobinWorkerLoadBalancer (DS 3.3): the weight as first seen.
    double fixed_weight = 0;
    double fixed_current = 0;
    // DynamicWeightedRoundRobinWorkerLoadBalancer (DS 3.3).
    double dynamic_weight = 0;
    double dynamic_current = 0;
    // LowerWeightRoundRobin (DS 2.0 - 3.2): both frozen between refreshes.
    double lower_weight = 0;
    double lower_current = 0;
    // LOWER_LOAD_WEIGHTED_ROUND_ROBIN, * 100.
    int64_t spare_weight = 0;
    int64_t spare_current = 0;
  };

  absl::Mutex mu;
  // The group's members as last synced from a view; `members` follows them, index for index.
  NodeList synced ABSL_GUARDED_BY(mu);
  std::vector<Member> members ABSL_GUARDED_BY(mu);
  // Rebuild's buffer, kept for its capacity; empty between calls.
  std::vector<Member> scratch ABSL_GUARDED_BY(mu);
  // UpdateReplaced's: the positions of the members whose node was replaced.
  std::vector<size_t> replaced ABSL_GUARDED_BY(mu);
  // The wall time until which some member warms up (its startupTime + the warm-up), and whether
  // every member's LOWER_LOAD weight was computed after that. Until then, every sync that finds
  // a member changed makes every member's weight due again at the sync's wall time
  // (`spare_weights_due`), as a rebuild would compute it; the LOWER_LOAD pick recomputes them,
  // so the other strategies never pay for a weight that follows the clock.
  absl::Time warm_until ABSL_GUARDED_BY(mu) = absl::InfinitePast();
  bool weights_settled ABSL_GUARDED_BY(mu) = false;
  std::optional<absl::Time> spare_weights_due ABSL_GUARDED_BY(mu);
  // The indices of the members eligible for the current pick, in address order. Kept between
  // picks while the members and what a request asks for stay the same (`eligible_key`).
  std::vector<int> eligible ABSL_GUARDED_BY(mu);
  struct EligibleKey {
    bool allow_overload = false;
    bool host_weighted = false;
    friend bool operator==(EligibleKey a, EligibleKey b) {
      return a.allow_overload == b.allow_overload && a.host_weighted == b.host_weighted;
    }
  };
  std::optional<EligibleKey> eligible_key ABSL_GUARDED_BY(mu);
  // DS 3.3's AtomicInteger robinIndex of each round-robin balancer.
  int64_t round_robin_index ABSL_GUARDED_BY(mu) = 0;
  int64_t fixed_index ABSL_GUARDED_BY(mu) = 0;
  int64_t dynamic_index ABSL_GUARDED_BY(mu) = 0;
  // When LOWER_WEIGHT last rebuilt its weights and currents (monotonic clock).
  absl::Time lower_refreshed ABSL_GUARDED_BY(mu) = absl::InfinitePast();

  // A view whose group no change has touched shares its chunks with the last one synced:
  // O(chunks). One whose changes only replaced members' nodes (heartbeats, state changes) is
  // synced in O(chunks + the replaced chunks' members) by UpdateReplaced. Otherwise the members
  // are compared node by node, and rebuilt if any differs.
  void Sync(const NodeList& view_members, const Context& context)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (view_members.SameChunksAs(synced)) return;
    if (!UpdateReplaced(view_members, context)) {
      const bool same = view_members.size() == members.size() &&
                        std::equal(view_members.begin(), view_members.end(), members.begin(),
                                   [](const NodeInfoPtr& node, const Member& member) {
                                     return node.get() == member.node.get();
                                   });
      if (!same) Rebuild(view_members, context);
    }
    synced = view_members;
  }

  // What Rebuild would make of the members, when `view_members` holds the same addresses as
  // `synced`, cut into chunks alike: only the members whose node was replaced are carried over
  // (Carry), in place. Every other member would come out of Rebuild as it is, except for its
  // LOWER_LOAD weight while it moves with the clock (until the weights settle after every
  // warm-up): that is left due at this sync's time (`spare_weights_due`). Returns false, having
  // changed nothing, when it cannot tell.
  bool UpdateReplaced(const NodeList& view_members, const Context& context)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    const absl::Time wall_now = context.clock->WallNow();
    if (members.size() != view_members.size()) return false;
    const std::optional<std::vector<std::pair<size_t, size_t>>> spans =
        view_members.UnsharedSpans(synced);
    if (!spans.has_value()) return false;
    replaced.clear();
    for (const auto& [first, last] : *spans) {
      auto node = view_members.begin() + static_cast<std::ptrdiff_t>(first);
      for (size_t i = first; i < last; ++i, ++node) {
        if (node->get() == members[i].node.get()) continue;
        if ((*node)->address != members[i].node->address) return false;
        replaced.push_back(i);
      }
    }
    if (replaced.empty()) return true;
    const SelectorOptions& options = context.options;
    const bool load_average = options.semantics == StrategySemantics::kDolphinScheduler31;
    bool eligibility_moved = false;
    for (size_t i : replaced) {
      Member previous = std::move(members[i]);
      Member& member = members[i] = Member();
      member.node = view_members[i];
      member.base = Classify(*member.node);
      member.host_weight = member.node->heartbeat.host_weight();
      Carry(&previous, options, load_average, wall_now, &member);
      NoteWarmUp(*member.node, options);
      // CollectEligible reads nothing else of a member (its address stays).
      eligibility_moved = eligibility_moved || member.base != previous.base ||
                          member.host_weight != previous.host_weight;
    }
    if (eligibility_moved) eligible_key.reset();
    if (options.lower_weight_rebuild_on_change) lower_refreshed = absl::InfinitePast();
    if (!weights_settled) spare_weights_due = wall_now;  // where Rebuild would compute them all
    weights_settled = wall_now >= warm_until;            // false if a replaced member warms up
    return true;
  }

  // Computes every member's LOWER_LOAD weight as the last sync that left them due would have.
  void SettleSpareWeights(const SelectorOptions& options) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (!spare_weights_due.has_value()) return;
    for (Member& member : members) {
      member.spare_weight = SpareWeight(*member.node, options.warm_up, *spare_weights_due);
    }
    spare_weights_due.reset();
  }

  // Until when `node`'s LOWER_LOAD weight ramps up with its uptime (SpareWeight).
  void NoteWarmUp(const NodeInfo& node, const SelectorOptions& options)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    const int64_t startup = node.heartbeat.startup_time_ms();
    if (startup > 0) {
      warm_until = std::max(warm_until, absl::FromUnixMillis(startup) + options.warm_up);
    }
  }

  // Carries each strategy's state over by address, as each DS balancer keeps it.
  void Rebuild(const NodeList& view_members, const Context& context)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    const SelectorOptions& options = context.options;
    const absl::Time wall_now = context.clock->WallNow();
    const bool load_average = options.semantics == StrategySemantics::kDolphinScheduler31;
    scratch.clear();
    scratch.reserve(view_members.size());
    warm_until = absl::InfinitePast();
    size_t old = 0;
    for (const NodeInfoPtr& node : view_members) {
      Member& member = scratch.emplace_back();
      member.node = node;
      member.base = Classify(*node);
      member.host_weight = node->heartbeat.host_weight();
      // Both lists are sorted by address.
      while (old < members.size() && members[old].node->address < node->address) ++old;
      const Member* previous = old < members.size() && members[old].node->address == node->address
                                   ? &members[old]
                                   : nullptr;
      Carry(previous, options, load_average, wall_now, &member);
      NoteWarmUp(*node, options);
    }
    members.swap(scratch);
    scratch.clear();  // releases the previous members' nodes
    weights_settled = wall_now >= warm_until;
    spare_weights_due.reset();
    eligible_key.reset();
    if (options.lower_weight_rebuild_on_change) lower_refreshed = absl::InfinitePast();
  }

  // The state of `member`, from its previous self (null for a newcomer).
  static void Carry(const Member* previous, const SelectorOptions& options, bool load_average,
                    absl::Time wall_now, Member* member) {
    const NodeInfo& node = *member->node;
    // RoundRobinSelector.WeightedRoundRobin.setWeight restarts the current at 0.
    member->smooth_weight = member->host_weight;
    if (previous != nullptr && previous->smooth_weight == member->host_weight) {
      member->smooth_current = previous->smooth_current;
    }
    // The fixed balancer ignores onServerUpdate: the weight stays as first seen.
    member->fixed_weight = previous != nullptr ? previous->fixed_weight : member->host_weight;
    member->fixed_current = previous != nullptr ? previous->fixed_current : 0;
    // The dynamic balancer replaces its WeightedServer (current 0) on every heartbeat.
    const bool same_heartbeat = previous != nullptr && previous->node->mzxid == node.mzxid &&
                                previous->node->has_heartbeat == node.has_heartbeat;
    member->dynamic_weight = AtLeastOne(DynamicWeight(node.heartbeat, options.dynamic_weights));
    member->dynamic_current = same_heartbeat ? previous->dynamic_current : 0;
    // LowerWeightHostManager builds a HostWeight (current = weight) for a newcomer at the next
    // refresh; roster at once.
    if (previous != nullptr) {
      member->lower_weight = previous->lower_weight;
      member->lower_current = previous->lower_current;
    } else {
      member->lower_weight = DolphinLowerWeight(node, load_average, options.warm_up, wall_now);
      member->lower_current = member->lower_weight;
    }
    // Smooth round robin keeps the currents of workers that stay selectable.
    member->spare_weight = SpareWeight(node, options.warm_up, wall_now);
    if (previous != nullptr && member->base != Base::kNever) {
      member->spare_current = previous->spare_current;
    }
  }

  // Fills `eligible`; with `host_weighted`, workers of workerHostWeight 0 are left out.
  void CollectEligible(const SelectRequest& request, bool host_weighted)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    // Without exclusions, eligibility depends only on the members (fixed until the next
    // Rebuild) and these two: the common pick reuses the list, O(1) before the rule's own walk.
    const EligibleKey key{request.allow_overload, host_weighted};
    if (request.exclude.empty() && eligible_key == key) return;
    eligible_key.reset();
    if (request.exclude.empty()) eligible_key = key;
    eligible.clear();
    for (size_t i = 0; i < members.size(); ++i) {
      const Member& member = members[i];
      if (!EligibleFor(member.base, member.node->address, request)) continue;
      if (host_weighted && member.host_weight <= 0) continue;
      eligible.push_back(static_cast<int>(i));
    }
  }

  int Pick(Rule rule, const SelectRequest& request, const Context& context)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    CollectEligible(request, WeighsByHostWeight(rule));
    if (eligible.empty()) return -1;
    switch (rule) {
      case Rule::kSmoothHostWeight:
        return PickSmoothHostWeight();
      case Rule::kLowerWeightLoadAverage:
      case Rule::kLowerWeightSpare:
        RefreshLowerWeights(rule == Rule::kLowerWeightLoadAverage, context);
        return PickLowerWeight();
      case Rule::kCounterRoundRobin:
        return eligible[round_robin_index++ % static_cast<int64_t>(eligible.size())];
      case Rule::kCreditFixed:
        return PickCredit(&Member::fixed_weight, &Member::fixed_current, &fixed_index);
      case Rule::kCreditDynamic:
        return PickCredit(&Member::dynamic_weight, &Member::dynamic_current, &dynamic_index);
      case Rule::kSmoothSpare:
        SettleSpareWeights(context.options);
        return PickSmoothSpare();
      case Rule::kWeightedRandom:
      case Rule::kUniformRandom:
        break;  // stateless: WorkerSelector::Select picks them
    }
    return -1;
  }

  // RoundRobinSelector.doSelect (DS 2.0 - 3.2): every current grows by its weight, the first
  // largest is picked and loses the total. AbstractSelector returns a lone candidate directly,
  // touching no current.
  int PickSmoothHostWeight() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (eligible.size() == 1) return eligible[0];
    int best = -1;
    int64_t total = 0;
    for (int i : eligible) {
      Member& member = members[i];
      member.smooth_current += member.smooth_weight;
      total += member.smooth_weight;
      if (best < 0 || member.smooth_current > members[best].smooth_current) best = i;
    }
    members[best].smooth_current -= total;
    return best;
  }

  // LowerWeightHostManager rebuilds every HostWeight at each worker refresh.
  void RefreshLowerWeights(bool load_average, const Context& context)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    const absl::Time now = context.clock->Now();
    if (now - lower_refreshed < context.options.lower_weight_refresh) return;
    lower_refreshed = now;
    const absl::Time wall_now = context.clock->WallNow();
    for (Member& member : members) {
      member.lower_weight =
          DolphinLowerWeight(*member.node, load_average, context.options.warm_up, wall_now);
      member.lower_current = member.lower_weight;
    }
  }

  // LowerWeightRoundRobin.doSelect (DS 2.0 - 3.2): every current grows by its weight, the
  // first lowest is picked and gains the total; a lone candidate is returned directly.
  int PickLowerWeight() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (eligible.size() == 1) return eligible[0];
    double total = 0;
    double lowest = 0;
    int lower = -1;
    for (int i : eligible) {
      Member& member = members[i];
      total += member.lower_weight;
      member.lower_current = member.lower_current + member.lower_weight;
      if (lower < 0 || lowest > member.lower_current) {
        lower = i;
        lowest = member.lower_current;
      }
    }
    members[lower].lower_current = members[lower].lower_current + total;
    return lower;
  }

  // {Fixed,Dynamic}WeightedRoundRobinWorkerLoadBalancer.select (DS 3.3): the balancer's index
  // walks the workers (incrementAndGet: the first visit is index 1), adding each visited
  // worker's weight to its current, until one reaches the total, which it then loses. Every
  // weight is positive, so the walk ends.
  int PickCredit(double Member::*weight, double Member::*current, int64_t* index)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    JavaDoubleSum total;
    for (int i : eligible) total.Add(members[i].*weight);
    const double sum = total.Sum();
    const int64_t n = static_cast<int64_t>(eligible.size());
    while (true) {
      Member& member = members[eligible[++*index % n]];
      member.*current = member.*current + member.*weight;
      if (member.*current >= sum) {
        member.*current = member.*current - sum;
        return eligible[*index % n];
      }
    }
  }

  // nginx's smooth weighted round robin: every current grows by its weight; the largest (ties:
  // the lowest address) is picked and loses the total. Workers skipped by this request keep
  // their current untouched.
  int PickSmoothSpare() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    int best = -1;
    int64_t total = 0;
    for (int i : eligible) {
      Member& member = members[i];
      member.spare_current += member.spare_weight;
      total += member.spare_weight;
      if (best < 0 || member.spare_current > members[best].spare_current) best = i;
    }
    members[best].spare_current -= total;
    return best;
  }

  // The weight `explain` shows for member i.
  double EffectiveWeight(Rule rule, size_t i) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    const Member& member = members[i];
    switch (rule) {
      case Rule::kSmoothHostWeight:
      case Rule::kWeightedRandom:
        return member.host_weight;
      case Rule::kCreditFixed:
        return member.fixed_weight;
      case Rule::kCreditDynamic:
        return member.dynamic_weight;
      case Rule::kLowerWeightLoadAverage:
      case Rule::kLowerWeightSpare:
        return member.lower_weight;
      case Rule::kSmoothSpare:
        return member.spare_weight / 100.0;
      case Rule::kCounterRoundRobin:
      case Rule::kUniformRandom:
        break;
    }
    return 1;
  }
};

absl::string_view SelectionStrategyName(SelectionStrategy strategy) {
  switch (strategy) {
    case SelectionStrategy::kRandom:
      return "RANDOM";
    case SelectionStrategy::kRoundRobin:
      return "ROUND_ROBIN";
    case SelectionStrategy::kFixedWeightedRoundRobin:
      return "FIXED_WEIGHTED_ROUND_ROBIN";
    case SelectionStrategy::kDynamicWeightedRoundRobin:
      return "DYNAMIC_WEIGHTED_ROUND_ROBIN";
    case SelectionStrategy::kLowerWeight:
      return "LOWER_WEIGHT";
    case SelectionStrategy::kLowerLoadWeightedRoundRobin:
      return "LOWER_LOAD_WEIGHTED_ROUND_ROBIN";
  }
  return "UNKNOWN_STRATEGY";
}

absl::Status ValidateSelectorOptions(const SelectorOptions& options) {
  const DynamicWeightOptions& w = options.dynamic_weights;
  const std::pair<absl::string_view, int> weights[] = {
      {"cpu_usage_weight", w.cpu_usage_weight},
      {"memory_usage_weight", w.memory_usage_weight},
      {"thread_pool_usage_weight", w.thread_pool_usage_weight},
  };
  for (const auto& [name, value] : weights) {
    if (value < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("dynamic weight ", name, " ", value, " is negative (each must be >= 0)"));
    }
  }
  const int64_t sum =
      int64_t{w.cpu_usage_weight} + w.memory_usage_weight + w.thread_pool_usage_weight;
  if (sum != 100) {
    return absl::InvalidArgumentError(absl::StrCat(
        "dynamic weights cpu_usage_weight ", w.cpu_usage_weight, " + memory_usage_weight ",
        w.memory_usage_weight, " + thread_pool_usage_weight ", w.thread_pool_usage_weight, " = ",
        sum, ", not 100"));
  }
  if (options.warm_up < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("warm_up ", absl::FormatDuration(options.warm_up), " is negative"));
  }
  if (options.lower_weight_refresh < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("lower_weight_refresh ", absl::FormatDuration(options.lower_weight_refresh),
                     " is negative"));
  }
  return absl::OkStatus();
}

namespace {

SelectorOptions Sanitized(SelectorOptions options) {
  const absl::Status status = ValidateSelectorOptions(options);
  if (!status.ok()) {
    LOG(ERROR) << "worker selector: " << status.message() << "; using the defaults";
    SelectorOptions defaults;
    defaults.semantics = options.semantics;
    defaults.clock = options.clock;
    options = defaults;
  }
  if (options.clock == nullptr) options.clock = Clock::Real();
  return options;
}

std::vector<std::string> RuleNames(const SelectorOptions& options) {
  std::vector<std::string> names;
  for (int i = 0; i <= static_cast<int>(SelectionStrategy::kLowerLoadWeightedRoundRobin); ++i) {
    names.push_back(
        RuleText(RuleFor(options.semantics, static_cast<SelectionStrategy>(i)), options));
  }
  return names;
}

}  // namespace

WorkerSelector::WorkerSelector() : WorkerSelector(SelectorOptions{}) {}

WorkerSelector::WorkerSelector(SelectorOptions options)
    : options_(Sanitized(std::move(options))),
      rule_names_(RuleNames(options_)),
      id_(next_selector_id.fetch_add(1)) {}

WorkerSelector::~WorkerSelector() = default;

std::string WorkerSelector::RuleName(SelectionStrategy strategy) const {
  const size_t i = static_cast<size_t>(strategy);
  return i < rule_names_.size() ? rule_names_[i] : "unknown selection strategy";
}

// DynamicWeightedRoundRobinWorkerLoadBalancer.calculateWeight @ dev, in Java's order.
double WorkerSelector::DynamicWeight(const roster::v1::Heartbeat& heartbeat,
                                     const DynamicWeightOptions& weights) {
  return 100 - (weights.cpu_usage_weight * heartbeat.cpu_usage() +
                weights.memory_usage_weight * heartbeat.memory_usage() +
                weights.thread_pool_usage_weight * heartbeat.thread_pool_usage()) /
                   3;
}

// HostWeight.calculateWeight before the warm-up: 3.1.9-release (the same from 2.0.x to 3.2.0)
// and 3.2.2-release (3.2.1 on).
double WorkerSelector::LowerWeight(const roster::v1::Heartbeat& heartbeat,
                                   bool load_average_formula) {
  if (load_average_formula) {
    // DS reads the loadAverage the worker wrote; the codec drops a negative one (Java's -1,
    // "unknown"), and a payload without one leaves Jackson's 0.
    double load_average = 0;
    if (heartbeat.has_load_average()) {
      load_average = heartbeat.load_average();
    } else if (heartbeat.legacy_format()) {
      load_average = -1;
    }
    return heartbeat.cpu_usage() * 10 + heartbeat.memory_usage() * 20 + load_average * 70;
  }
  // 3.2.1 - 3.2.2 write a task count where 3.3 writes a fraction; the codec keeps the count in
  // running_tasks (and thread_pool_usage 0), and DS computes with whichever it wrote.
  const double thread_pool = heartbeat.thread_pool_usage() + heartbeat.running_tasks();
  return 100 - (heartbeat.cpu_usage() * 20 + heartbeat.memory_usage() * 20 +
                heartbeat.disk_usage() * 50 + thread_pool * 10);
}

double WorkerSelector::SpareCapacity(const roster::v1::Heartbeat& heartbeat) {
  // A usage above 1 (a threadPoolUsage task count, cpu above 1) or NaN counts as full, a
  // negative one (Java's -1, unknown) as idle.
  auto usage = [](double value) { return std::isnan(value) ? 1.0 : std::clamp(value, 0.0, 1.0); };
  // A 3.2.1 - 3.2.2 task count is a fraction of the exec threads when the worker says how many
  // it has, and counts as full otherwise.
  double thread_pool = heartbeat.thread_pool_usage();
  if (heartbeat.running_tasks() > 0) {
    thread_pool = heartbeat.exec_threads() > 0
                      ? static_cast<double>(heartbeat.running_tasks()) / heartbeat.exec_threads()
                      : 1.0;
  }
  return 100 - (20 * usage(heartbeat.cpu_usage()) + 20 * usage(heartbeat.memory_usage()) +
                50 * usage(heartbeat.disk_usage()) + 10 * usage(thread_pool));
}

WorkerSelector::GroupState* WorkerSelector::StateFor(absl::string_view group) {
  // A per-thread memo of the last group looked up: the hot path (a thread
  // selecting from one group again and again) then takes no lock and computes
  // no hash. A GroupState lives as long as its selector, and the memo is used
  // only by the selector that filled it.
  struct Memo {
    uint64_t selector_id = 0;  // ids start at 1
    std::string group;
    GroupState* state = nullptr;
  };
  thread_local Memo memo;
  if (memo.selector_id == id_ && memo.group == group) return memo.state;

  GroupState* state = nullptr;
  {
    absl::ReaderMutexLock lock(&mu_);
    auto it = groups_.find(group);
    if (it != groups_.end()) state = it->second.get();
  }
  if (state == nullptr) {
    absl::MutexLock lock(&mu_);
    std::unique_ptr<GroupState>& slot = groups_[group];
    if (slot == nullptr) slot = std::make_unique<GroupState>();
    state = slot.get();
  }
  memo.selector_id = id_;
  memo.group.assign(group.data(), group.size());
  memo.state = state;
  return state;
}

absl::StatusOr<Selection> WorkerSelector::Select(const ClusterView& view,
                                                 const SelectRequest& request) {
  if (request.group.empty()) {
    return absl::InvalidArgumentError("the worker group name is empty");
  }
  const SelectionStrategy chosen = request.strategy.value_or(SelectionStrategy::kRoundRobin);
  const int strategy = static_cast<int>(chosen);
  if (strategy < static_cast<int>(SelectionStrategy::kRandom) ||
      strategy > static_cast<int>(SelectionStrategy::kLowerLoadWeightedRoundRobin)) {
    return absl::InvalidArgumentError(absl::StrCat("unknown selection strategy ", strategy));
  }
  const GroupView* group = view.FindGroup(request.group);
  if (group == nullptr) {
    return absl::NotFoundError(UnknownGroupMessage(view, request.group));
  }

  const Rule rule = RuleFor(options_.semantics, chosen);
  Selection selection;
  int index = -1;
  if (rule == Rule::kUniformRandom || rule == Rule::kWeightedRandom) {
    index = rule == Rule::kUniformRandom ? PickRandom(*group, request)
                                         : PickWeightedRandom(*group, request);
    if (request.explain && index >= 0) {
      selection.candidates = Explain(*group, request, rule, [&](size_t i) {
        return EligibilityWeight(rule, *group->members[i]);
      });
    }
  } else {
    GroupState* state = StateFor(request.group);
    const Context context{options_, options_.clock};
    absl::MutexLock lock(&state->mu);
    state->Sync(group->members, context);
    index = state->Pick(rule, request, context);
    if (request.explain && index >= 0) {
      selection.candidates = Explain(*group, request, rule, [&](size_t i) {
        state->mu.AssertHeld();
        return state->EffectiveWeight(rule, i);
      });
    }
  }
  // After Sync, the state's members are the group's members, index for index.
  if (index < 0) {
    return absl::UnavailableError(NoneSelectableMessage(*group, request, rule));
  }
  selection.picked = &group->members[index];
  selection.view_version = view.version;
  selection.rule = rule_names_[static_cast<size_t>(chosen)];
  return selection;
}

}  // namespace roster::cluster
