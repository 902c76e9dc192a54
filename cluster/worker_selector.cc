#include "cluster/worker_selector.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <iterator>
#include <utility>

#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

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

// Smooth weighted round robin skips workers whose weight is not positive.
bool IsWeighted(SelectionStrategy strategy) {
  return strategy == SelectionStrategy::kFixedWeightedRoundRobin ||
         strategy == SelectionStrategy::kDynamicWeightedRoundRobin;
}

// The strategy's weight of a worker (LOWER_WEIGHT: its load), as `explain`
// shows it.
double StrategyWeight(SelectionStrategy strategy, const NodeInfo& node) {
  switch (strategy) {
    case SelectionStrategy::kFixedWeightedRoundRobin:
      return node.heartbeat.host_weight();
    case SelectionStrategy::kDynamicWeightedRoundRobin:
      return WorkerSelector::DynamicWeight(node.heartbeat);
    case SelectionStrategy::kLowerWeight:
      return WorkerSelector::LowerWeightLoad(node.heartbeat);
    case SelectionStrategy::kRandom:
    case SelectionStrategy::kRoundRobin:
      break;
  }
  return 1;  // every selectable worker has an equal share
}

// The one place that decides eligibility for explanations and error messages.
// The pick paths below decide it from the same facts (Classify, allow_overload,
// exclusions, weight).
Skip SkipOf(const NodeInfo& node, const SelectRequest& request, double weight) {
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
  if (IsWeighted(request.strategy) && !(weight > 0)) return Skip::kZeroWeight;
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
std::string NoneSelectableMessage(const GroupView& group, const SelectRequest& request) {
  if (group.members.empty()) {
    return absl::StrCat("group '", group.name, "': no workers");
  }
  int counts[kSkipReasons + 1] = {};
  for (const NodeInfoPtr& node : group.members) {
    counts[static_cast<int>(SkipOf(*node, request, StrategyWeight(request.strategy, *node)))]++;
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

std::vector<CandidateExplanation> Explain(const GroupView& group, const SelectRequest& request) {
  std::vector<CandidateExplanation> candidates;
  candidates.reserve(group.members.size());
  for (const NodeInfoPtr& node : group.members) {
    const double weight = StrategyWeight(request.strategy, *node);
    const Skip skip = SkipOf(*node, request, weight);
    CandidateExplanation& candidate = candidates.emplace_back();
    candidate.address = node->address;
    candidate.state = node->state;
    candidate.eligible = skip == Skip::kNone;
    candidate.weight = candidate.eligible ? weight : 0;
    candidate.skipped = SkipText(skip, *node, weight);
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
  const std::vector<NodeInfoPtr>& members = group.members;
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

// Never reused, so a per-thread memo of a destroyed selector can never match a
// new one.
std::atomic<uint64_t> next_selector_id{1};

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
    int64_t fixed_weight = 0;  // workerHostWeight
    // DynamicWeight() * 100, rounded: integer weights keep smooth WRR exact.
    int64_t dynamic_weight = 0;
    double load = 0;  // LowerWeightLoad()
    // Smooth weighted round robin current weights, one per weighted strategy.
    int64_t fixed_current = 0;
    int64_t dynamic_current = 0;
  };

  absl::Mutex mu;
  std::vector<Member> members ABSL_GUARDED_BY(mu);
  // Rebuild's buffer, kept for its capacity; empty between calls.
  std::vector<Member> scratch ABSL_GUARDED_BY(mu);
  // Index in `members` of the last ROUND_ROBIN / LOWER_WEIGHT pick, -1 before
  // the first.
  int last_round_robin ABSL_GUARDED_BY(mu) = -1;
  int last_lower_weight ABSL_GUARDED_BY(mu) = -1;

  void Sync(const std::vector<NodeInfoPtr>& view_members) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (view_members.size() == members.size()) {
      bool same = true;
      for (size_t i = 0; i < members.size() && same; ++i) {
        same = view_members[i].get() == members[i].node.get();
      }
      if (same) return;
    }
    Rebuild(view_members);
  }

  // Carries the strategy state over by address: current weights of workers
  // still selectable, and the round-robin positions (the next pick is the
  // successor, in address order, of the last one picked, even if that one
  // left).
  void Rebuild(const std::vector<NodeInfoPtr>& view_members) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    scratch.clear();
    scratch.reserve(view_members.size());
    size_t old = 0;
    for (const NodeInfoPtr& node : view_members) {
      Member& member = scratch.emplace_back();
      member.node = node;
      member.base = Classify(*node);
      member.fixed_weight = node->heartbeat.host_weight();
      member.dynamic_weight = std::llround(DynamicWeight(node->heartbeat) * 100);
      member.load = LowerWeightLoad(node->heartbeat);
      // Both lists are sorted by address.
      while (old < members.size() && members[old].node->address < node->address) {
        ++old;
      }
      if (old < members.size() && members[old].node->address == node->address &&
          member.base != Base::kNever) {
        member.fixed_current = member.fixed_weight > 0 ? members[old].fixed_current : 0;
        member.dynamic_current = members[old].dynamic_current;
      }
    }
    last_round_robin = Remap(last_round_robin);
    last_lower_weight = Remap(last_lower_weight);
    members.swap(scratch);
    scratch.clear();  // releases the previous members' nodes
  }

  // The index in `scratch` of the last member whose address is <= that of
  // members[index].
  int Remap(int index) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (index < 0 || index >= static_cast<int>(members.size())) return -1;
    const std::string& address = members[index].node->address;
    auto it = std::upper_bound(
        scratch.begin(), scratch.end(), address,
        [](const std::string& key, const Member& member) { return key < member.node->address; });
    return static_cast<int>(std::distance(scratch.begin(), it)) - 1;
  }

  bool Eligible(const Member& member, const SelectRequest& request) const {
    return EligibleFor(member.base, member.node->address, request);
  }

  // The next pick is the first eligible member after the last one picked, in
  // address order, wrapping around.
  int PickRoundRobin(const SelectRequest& request) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    const int n = static_cast<int>(members.size());
    for (int step = 1; step <= n; ++step) {
      const int i = (last_round_robin + step) % n;
      if (Eligible(members[i], request)) {
        last_round_robin = i;
        return i;
      }
    }
    return -1;
  }

  // nginx's smooth weighted round robin: every eligible worker's current weight
  // grows by its weight; the largest (ties: the lowest address) is picked and
  // loses the total. Workers skipped by this request (excluded, OVERLOAD) keep
  // their current weight untouched.
  int PickSmooth(const SelectRequest& request, int64_t Member::*weight, int64_t Member::*current)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    int best = -1;
    int64_t total = 0;
    for (size_t i = 0; i < members.size(); ++i) {
      Member& member = members[i];
      if (member.*weight <= 0 || !Eligible(member, request)) continue;
      member.*current += member.*weight;
      total += member.*weight;
      if (best < 0 || member.*current > members[best].*current) {
        best = static_cast<int>(i);
      }
    }
    if (best >= 0) members[best].*current -= total;
    return best;
  }

  // The lowest load; among equal loads, the first after the last LOWER_WEIGHT
  // pick (in address order, wrapping around), so ties take turns. One pass.
  int PickLowerWeight(const SelectRequest& request) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    // The lowest index with the lowest load, and the lowest such index after
    // the last pick.
    int first = -1;
    int first_after = -1;
    double lowest = 0;
    for (int i = 0; i < static_cast<int>(members.size()); ++i) {
      const Member& member = members[i];
      if (!Eligible(member, request)) continue;
      if (first < 0 || member.load < lowest) {
        lowest = member.load;
        first = i;
        first_after = i > last_lower_weight ? i : -1;
      } else if (member.load == lowest && first_after < 0 && i > last_lower_weight) {
        first_after = i;
      }
    }
    if (first < 0) return -1;
    last_lower_weight = first_after >= 0 ? first_after : first;
    return last_lower_weight;
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
  }
  return "UNKNOWN_STRATEGY";
}

WorkerSelector::WorkerSelector() : id_(next_selector_id.fetch_add(1)) {}
WorkerSelector::~WorkerSelector() = default;

double WorkerSelector::DynamicWeight(const roster::v1::Heartbeat& heartbeat) {
  const double weight = 100 - (30 * heartbeat.cpu_usage() + 30 * heartbeat.memory_usage() +
                               40 * heartbeat.thread_pool_usage()) /
                                  3;
  if (std::isnan(weight)) return 1;
  return std::clamp(weight, 1.0, 100.0);
}

double WorkerSelector::LowerWeightLoad(const roster::v1::Heartbeat& heartbeat) {
  const double load = 20 * heartbeat.cpu_usage() + 20 * heartbeat.memory_usage() +
                      50 * heartbeat.disk_usage() + 10 * heartbeat.thread_pool_usage();
  // NaN compares false with everything, which would break the search for the
  // lowest load: treat a usage the codec let through as NaN as fully loaded.
  return std::isnan(load) ? 100 : load;
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
  const int strategy = static_cast<int>(request.strategy);
  if (strategy < static_cast<int>(SelectionStrategy::kRandom) ||
      strategy > static_cast<int>(SelectionStrategy::kLowerWeight)) {
    return absl::InvalidArgumentError(absl::StrCat("unknown selection strategy ", strategy));
  }
  const GroupView* group = view.FindGroup(request.group);
  if (group == nullptr) {
    return absl::NotFoundError(UnknownGroupMessage(view, request.group));
  }

  int index = -1;
  if (request.strategy == SelectionStrategy::kRandom) {
    index = PickRandom(*group, request);
  } else {
    GroupState* state = StateFor(request.group);
    absl::MutexLock lock(&state->mu);
    state->Sync(group->members);
    switch (request.strategy) {
      case SelectionStrategy::kRoundRobin:
        index = state->PickRoundRobin(request);
        break;
      case SelectionStrategy::kFixedWeightedRoundRobin:
        index = state->PickSmooth(request, &GroupState::Member::fixed_weight,
                                  &GroupState::Member::fixed_current);
        break;
      case SelectionStrategy::kDynamicWeightedRoundRobin:
        index = state->PickSmooth(request, &GroupState::Member::dynamic_weight,
                                  &GroupState::Member::dynamic_current);
        break;
      case SelectionStrategy::kLowerWeight:
        index = state->PickLowerWeight(request);
        break;
      case SelectionStrategy::kRandom:  // above
        break;
    }
  }
  // After Sync, the state's members are the group's members, index for index.
  if (index < 0) {
    return absl::UnavailableError(NoneSelectableMessage(*group, request));
  }

  Selection selection;
  selection.worker = group->members[index];
  selection.view_version = view.version;
  if (request.explain) selection.candidates = Explain(*group, request);
  return selection;
}

}  // namespace roster::cluster
