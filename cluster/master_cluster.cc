#include "cluster/master_cluster.h"

#include <algorithm>
#include <cstdint>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cluster/node_address.h"
#include "glog/logging.h"
#include "util/fingerprint.h"

namespace roster::cluster {
namespace {

using roster::v1::Heartbeat;

constexpr std::pair<SlotPolicy, absl::string_view> kSlotPolicyNames[] = {
    {SlotPolicy::kStable, "stable"},
    {SlotPolicy::kDolphin31, "dolphinscheduler-3.1"},
    {SlotPolicy::kDolphin320, "dolphinscheduler-3.2.0"},
    {SlotPolicy::kDolphin321, "dolphinscheduler-3.2.1"},
    {SlotPolicy::kDolphin322, "dolphinscheduler-3.2.2"},
    {SlotPolicy::kDolphin33, "dolphinscheduler-3.3"},
};

// roster's own rule.
bool HoldsStableSlot(const NodeInfo& master) {
  if (master.drained) return false;
  switch (master.state) {
    case NodeState::kRunning:
    case NodeState::kOverload:
    case NodeState::kRecovering:
      return true;
    default:
      return false;
  }
}

// A master a DolphinScheduler master sees with a payload it can read: its znode exists and
// roster holds a valid heartbeat of it.
bool DolphinSees(const NodeInfo& master) { return !master.paths.empty() && master.has_heartbeat; }

// The status filter of each release. A heartbeat without a status is a null ServerStatus in
// DolphinScheduler: 3.2.x dereferences it (the recomputation throws), 3.3 compares it with
// NORMAL (false); roster gives it no slot under either.
bool PassesStatusFilter(SlotPolicy policy, Heartbeat::ServerStatus status) {
  switch (policy) {
    case SlotPolicy::kDolphin31:  // ServerNodeManager#syncMasterNodes @ 3.1.9-release: none
      return true;
    case SlotPolicy::kDolphin320:  // MasterSlotManager.java @ 3.2.0-release
      return status != Heartbeat::ABNORMAL && status != Heartbeat::SERVER_STATUS_UNSPECIFIED;
    case SlotPolicy::kDolphin321:  // MasterSlotManager.java @ 3.2.1-release, 3.2.2-release
    case SlotPolicy::kDolphin322:
      return status != Heartbeat::BUSY && status != Heartbeat::SERVER_STATUS_UNSPECIFIED;
    case SlotPolicy::kDolphin33:  // MasterClusters#getNormalServers @ dev
      return status == Heartbeat::NORMAL;
    case SlotPolicy::kStable:
      break;
  }
  return false;
}

// java.lang.String#hashCode. Addresses are ASCII (ParseNodeAddress): one UTF-16 unit a byte.
uint32_t JavaStringHash(absl::string_view text) {
  uint32_t hash = 0;
  for (unsigned char c : text) hash = 31 * hash + c;
  return hash;
}

// java.util.HashMap#hash: the high half folded into the low one.
uint32_t JavaHashMapHash(absl::string_view key) {
  const uint32_t hash = JavaStringHash(key);
  return hash ^ (hash >> 16);
}

// The iteration order (indices into `keys`) of a new java.util.HashMap after putting `keys`
// in this order (JDK 8+): a table of 16 buckets doubling when the map holds more than 3/4 of
// its size, or when a bucket reaches 9 entries in a table under 64 (treeifyBin); bucket by
// bucket, in insertion order within one (a resize keeps it). Not modelled: tree bins (9
// colliding keys in a table of 64 or more, i.e. 49 or more masters).
std::vector<size_t> JavaHashMapOrder(const std::vector<absl::string_view>& keys) {
  size_t capacity = 16;
  std::vector<std::vector<size_t>> buckets(capacity);
  auto grow = [&] {
    capacity *= 2;
    std::vector<std::vector<size_t>> grown(capacity);
    for (const std::vector<size_t>& bucket : buckets) {
      for (size_t i : bucket) grown[JavaHashMapHash(keys[i]) & (capacity - 1)].push_back(i);
    }
    buckets = std::move(grown);
  };
  for (size_t i = 0; i < keys.size(); ++i) {
    std::vector<size_t>& bucket = buckets[JavaHashMapHash(keys[i]) & (capacity - 1)];
    bucket.push_back(i);
    if (bucket.size() >= 9 && capacity < 64) grow();
    if (i + 1 > capacity / 4 * 3) grow();
  }
  std::vector<size_t> order;
  order.reserve(keys.size());
  for (const std::vector<size_t>& bucket : buckets) {
    order.insert(order.end(), bucket.begin(), bucket.end());
  }
  return order;
}

// MasterPriorityQueue's comparator, `o2.getCreateTime().compareTo(o1.getCreateTime())`,
// is negative exactly when `a` started later than `b` (createTime is the startupTime).
bool StartedLater(const NodeInfo* a, const NodeInfo* b) {
  return a->heartbeat.startup_time_ms() > b->heartbeat.startup_time_ms();
}

// PriorityBlockingQueue#put of each master in turn (siftUpUsingComparator: an entry moves up
// while the comparator puts it strictly before its parent); returns the heap array, which is
// the queue's iteration order.
std::vector<const NodeInfo*> HeapArray(const std::vector<const NodeInfo*>& entries) {
  std::vector<const NodeInfo*> heap;
  heap.reserve(entries.size());
  for (const NodeInfo* entry : entries) {
    size_t k = heap.size();
    heap.push_back(entry);
    while (k > 0) {
      const size_t parent = (k - 1) / 2;
      if (!StartedLater(entry, heap[parent])) break;
      heap[k] = heap[parent];
      k = parent;
    }
    heap[k] = entry;
  }
  return heap;
}

// The slot order of a DolphinScheduler master of 3.0.x to 3.2.2. RegistryClient#getServerMaps
// reads the children of the masters directory, which ZookeeperRegistry#children sorts in
// reverse order, into a HashMap (every child, readable or not); the filtered masters enter
// MasterPriorityQueue in that map's order; 3.2.2 then sorts the heap array stably.
std::vector<const NodeInfo*> DolphinQueueOrder(const NodeList& masters, SlotPolicy policy) {
  std::vector<const NodeInfo*> children;
  for (const NodeInfoPtr& master : masters) {
    if (!master->paths.empty()) children.push_back(master.get());
  }
  std::sort(children.begin(), children.end(),
            [](const NodeInfo* a, const NodeInfo* b) { return a->address > b->address; });
  std::vector<absl::string_view> keys;
  keys.reserve(children.size());
  for (const NodeInfo* child : children) keys.push_back(child->address);
  std::vector<size_t> order = JavaHashMapOrder(keys);
  if (policy != SlotPolicy::kDolphin31) {
    // 3.2.x copies the map into another HashMap (ServerNodeManager#updateMasterNodes), whose
    // growth can differ when a bucket overflows.
    std::vector<absl::string_view> copied;
    for (size_t i : order) copied.push_back(keys[i]);
    std::vector<size_t> recopied = JavaHashMapOrder(copied);
    for (size_t& i : recopied) i = order[i];
    order = std::move(recopied);
  }
  std::vector<const NodeInfo*> admitted;
  for (size_t i : order) {
    const NodeInfo* child = children[i];
    if (DolphinSees(*child) && PassesStatusFilter(policy, child->heartbeat.server_status())) {
      admitted.push_back(child);
    }
  }
  std::vector<const NodeInfo*> queue = HeapArray(admitted);
  if (policy == SlotPolicy::kDolphin322) {
    std::stable_sort(queue.begin(), queue.end(), StartedLater);
  }
  return queue;
}

// The masters holding a slot under `policy`, in slot order.
std::vector<const NodeInfo*> SlotHolders(const NodeList& masters, SlotPolicy policy) {
  std::vector<const NodeInfo*> holders;
  switch (policy) {
    case SlotPolicy::kDolphin31:
    case SlotPolicy::kDolphin320:
    case SlotPolicy::kDolphin321:
    case SlotPolicy::kDolphin322:
      return DolphinQueueOrder(masters, policy);
    case SlotPolicy::kStable:
      for (const NodeInfoPtr& master : masters) {
        if (HoldsStableSlot(*master)) holders.push_back(master.get());
      }
      break;
    case SlotPolicy::kDolphin33:
      // DolphinScheduler #17232 (hash order) fixed to address order upstream (#17233).
      for (const NodeInfoPtr& master : masters) {
        if (DolphinSees(*master) && PassesStatusFilter(policy, master->heartbeat.server_status())) {
          holders.push_back(master.get());
        }
      }
      break;
  }
  std::sort(holders.begin(), holders.end(),
            [](const NodeInfo* a, const NodeInfo* b) { return a->address < b->address; });
  return holders;
}

// "host:port" or "host:port#millis" (DolphinScheduler proposal #18645).
absl::Status ParseCoordinatorPayload(absl::string_view data, LeaderInfo* leader) {
  absl::string_view text = absl::StripAsciiWhitespace(data);
  const size_t hash = text.find('#');
  if (hash != absl::string_view::npos) {
    const absl::string_view millis = text.substr(hash + 1);
    if (!absl::SimpleAtoi(millis, &leader->claimed_at_ms) || leader->claimed_at_ms <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", millis, "' after '#' is not a positive count of milliseconds"));
    }
    text = text.substr(0, hash);
  }
  absl::StatusOr<std::string> address = ParseNodeAddress(text);
  if (!address.ok()) return address.status();
  leader->address = *std::move(address);
  return absl::OkStatus();
}

std::string Session(int64_t id) { return absl::StrCat("0x", absl::Hex(id)); }

}  // namespace

absl::string_view SlotPolicyName(SlotPolicy policy) {
  for (const auto& [each, name] : kSlotPolicyNames) {
    if (each == policy) return name;
  }
  return "unknown";
}

absl::StatusOr<SlotPolicy> ParseSlotPolicy(absl::string_view name) {
  std::vector<absl::string_view> names;
  for (const auto& [policy, each] : kSlotPolicyNames) {
    if (each == name) return policy;
    names.push_back(each);
  }
  if (name == "dolphinscheduler-3.2") {
    return absl::InvalidArgumentError(
        "slot policy 'dolphinscheduler-3.2' is ambiguous: 3.2.0, 3.2.1 and 3.2.2 assign slots "
        "differently; name the patch release (dolphinscheduler-3.2.0, dolphinscheduler-3.2.1 "
        "or dolphinscheduler-3.2.2)");
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown slot policy '", name, "' (expected ", absl::StrJoin(names, ", "), ")"));
}

absl::string_view CoordinatorModeName(CoordinatorMode mode) {
  return mode == CoordinatorMode::kNone ? "none" : "znode";
}

absl::StatusOr<CoordinatorMode> ParseCoordinatorMode(absl::string_view name) {
  if (name == "none") return CoordinatorMode::kNone;
  if (name == "znode") return CoordinatorMode::kZnode;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown coordinator mode '", name, "' (expected none or znode)"));
}

MasterCluster::MasterCluster(std::string masters_path, std::string coordinator_path,
                             const NodeTableOptions* options)
    : masters_path_(std::move(masters_path)),
      coordinator_path_(std::move(coordinator_path)),
      table_(options) {}

void MasterCluster::ApplyMaster(registry::RegistryEvent&& event, absl::Time now,
                                absl::Time wall_now, std::unique_ptr<DecodedHeartbeat> decoded) {
  table_.Apply(masters_path_, std::move(event), now, wall_now, std::move(decoded));
}

void MasterCluster::ApplyCoordinator(const registry::RegistryEvent& event) {
  if (event.type == registry::EventType::kSynced || event.path != coordinator_path_) return;
  const LeaderInfo before = leader_;
  leader_ = LeaderInfo{};
  leader_problem_.clear();
  if (event.type != registry::EventType::kRemoved) {
    LeaderInfo read;
    absl::Status parsed =
        event.read_error.ok() ? ParseCoordinatorPayload(event.data, &read) : event.read_error;
    if (!event.read_error.ok()) {
      leader_problem_ = absl::StrCat("cannot read the coordinator znode '", event.path,
                                     "': ", event.read_error.message());
    } else if (!parsed.ok()) {
      leader_problem_ = absl::StrCat("the coordinator znode '", event.path,
                                     "' does not hold host:port[#millis]: ", parsed.message());
    } else {
      leader_ = std::move(read);
      leader_.present = true;
      leader_.fencing_token = event.stat.czxid;
      leader_.since_ms = event.stat.ctime_ms;
      leader_.holder_session = event.stat.ephemeral_owner;
    }
    leader_.problem = leader_problem_;
  }
  if (!leader_problem_.empty()) LOG(WARNING) << leader_problem_;
  if (leader_.address != before.address || leader_.fencing_token != before.fencing_token) {
    LOG(INFO) << "leader: " << (leader_.present ? "'" + leader_.address + "'" : "none")
              << " (fencing token " << leader_.fencing_token << ", session "
              << Session(leader_.holder_session) << ")";
  }
}

SlotAssignment MasterCluster::ComputeSlots(const NodeList& masters) {
  return ComputeSlots(masters, SlotPolicy::kStable);
}

SlotAssignment MasterCluster::ComputeSlots(const NodeList& masters, SlotPolicy policy) {
  SlotAssignment slots;
  Fingerprint fingerprint;
  for (const NodeInfo* holder : SlotHolders(masters, policy)) {
    slots.masters.push_back(holder->address);
    fingerprint.Add(holder->address).Add(holder->incarnation.czxid);
  }
  slots.epoch = slots.masters.empty() ? 0 : fingerprint.value();
  return slots;
}

absl::StatusOr<SlotAnswer> MasterCluster::LookupSlot(const ClusterView& view,
                                                     absl::string_view address,
                                                     const std::optional<IncarnationClaim>& claim) {
  NodeInfoPtr master = view.Find(NodeRole::kMaster, address);
  if (master == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat("master '", address, "' is not registered"));
  }
  if (claim.has_value() && master->has_heartbeat) {
    const Incarnation& held = master->incarnation;
    const std::pair<int64_t, int32_t> claimed(claim->startup_time_ms, claim->process_id);
    const std::pair<int64_t, int32_t> registered(held.startup_time_ms, held.process_id);
    if (claimed < registered) {
      return absl::FailedPreconditionError(
          absl::StrCat("master '", address, "' asked as a stale incarnation (startupTime ",
                       claim->startup_time_ms, ", processId ", claim->process_id,
                       "); the registry holds startupTime ", held.startup_time_ms, ", processId ",
                       held.process_id));
    }
    if (registered < claimed) {
      return absl::UnavailableError(
          absl::StrCat("master '", address, "': this incarnation (startupTime ",
                       claim->startup_time_ms, ") has not reached roster's view yet; retry"));
    }
  }
  const int slot = view.slots.SlotOf(address);
  if (slot < 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "master '", address, "' holds no slot: it is ", NodeStateName(master->state),
        master->drained ? " (drained)" : "", master->reason.empty() ? "" : ": ", master->reason));
  }
  return SlotAnswer{slot, static_cast<int>(view.slots.masters.size()), view.slots.epoch,
                    std::move(master)};
}

LeaderInfo MasterCluster::CheckLeader(LeaderInfo leader, const NodeList& masters) {
  const NodeInfoPtr master = leader.present ? masters.FindSorted(leader.address) : nullptr;
  return CheckLeader(std::move(leader), master.get());
}

LeaderInfo MasterCluster::CheckLeader(LeaderInfo leader, const NodeInfo* master) {
  leader.valid = false;
  if (!leader.present) return leader;
  auto znode = [&] {
    return absl::StrCat("the coordinator znode (czxid ", leader.fencing_token, ") ");
  };
  if (leader.holder_session == 0) {
    leader.problem = absl::StrCat(znode(), "is persistent: it outlives its holder, so its token ",
                                  "proves nothing");
  } else if (master == nullptr || master->paths.empty()) {
    leader.problem =
        absl::StrCat(znode(), "belongs to session ", Session(leader.holder_session),
                     ", but no master is registered at '", leader.address, "': its holder is gone");
  } else if (master->ephemeral_owner != leader.holder_session) {
    leader.problem = absl::StrCat(
        znode(), "belongs to session ", Session(leader.holder_session), ", but the master at '",
        leader.address, "' is registered by session ", Session(master->ephemeral_owner),
        ": a dead or foreign session holds it (a master restarted at the same address, "
        "DolphinScheduler #18644)");
  } else {
    leader.valid = true;
    leader.problem.clear();
  }
  return leader;
}

absl::StatusOr<LeaderLookup> MasterCluster::LookupLeader(const ClusterView& view,
                                                         CoordinatorMode mode,
                                                         absl::string_view coordinator_path) {
  if (mode == CoordinatorMode::kNone) {
    return absl::FailedPreconditionError(absl::StrCat(
        "DolphinScheduler up to 3.2.2 has no coordinator: its masters elect no leader and write "
        "no coordinator znode, so there is no leader to report (coordinator mode 'none'; '",
        coordinator_path, "' is not read)"));
  }
  if (!view.leader.present) {
    if (!view.leader.problem.empty()) return absl::FailedPreconditionError(view.leader.problem);
    return absl::NotFoundError(
        absl::StrCat("no master holds the coordinator znode '", coordinator_path, "'"));
  }
  LeaderLookup answer;
  answer.leader = CheckLeader(view.leader, view.masters);
  answer.master = view.Find(NodeRole::kMaster, answer.leader.address);
  return answer;
}

}  // namespace roster::cluster
