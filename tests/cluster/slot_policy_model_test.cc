// Slot policies against DolphinScheduler's own algorithm: a seeded random walk of master
// joins, leaves, status flips (NORMAL, BUSY, ABNORMAL, none), restarts (a new znode and a new
// startupTime), silences and drains is fed to a MasterCluster as registry events; after every
// step MasterCluster::ComputeSlots() under each policy is compared with an oracle that runs
// DolphinScheduler's code on the same registry contents. The oracle re-implements, literally
// and independently of roster, the JDK classes DolphinScheduler relies on:
//   - ZookeeperRegistry#children: the children sorted in reverse order;
//   - RegistryClient#getServerMaps: java.util.HashMap (putVal, resize with its lo/hi split,
//     treeifyBin's resize of small tables), iterated bucket by bucket;
//   - MasterPriorityQueue: PriorityBlockingQueue#offer (siftUpUsingComparator) with
//     ServerComparator `o2.getCreateTime().compareTo(o1.getCreateTime())`, iterated in array
//     order; 3.2.2's getOrderedElements: Arrays.sort (stable) with the same comparator.
// Per policy: the filter of ServerNodeManager/MasterSlotManager @ 3.1.9-release,
// 3.2.0-release, 3.2.1-release, 3.2.2-release, and MasterClusters#getNormalServers @ dev (by
// address, as fixed upstream by #17233).
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "cluster/master_cluster.h"
#include "gtest/gtest.h"
#include "tests/cluster/cluster_test_util.h"

namespace roster::cluster {
namespace {

using registry::EventType;
using ::roster::testing::HeartbeatJson;
using ::roster::testing::NodeEvent;

constexpr char kMasters[] = "/nodes/master";

std::string Path(const std::string& address) { return absl::StrCat(kMasters, "/", address); }

// ---------------------------------------------------------------------------------------------
// The JDK, as DolphinScheduler uses it.

// java.lang.String#hashCode (ASCII keys).
int32_t JavaHashCode(const std::string& s) {
  int32_t h = 0;
  for (char c : s)
    h = static_cast<int32_t>(31u * static_cast<uint32_t>(h) + static_cast<uint8_t>(c));
  return h;
}

// java.util.HashMap<String, V> keys, JDK 8+ (no tree bins: the walk stays below 64 buckets).
class JavaHashMap {
 public:
  void Put(const std::string& key) {
    const int32_t h = JavaHashCode(key);
    const int32_t hash = h ^ static_cast<int32_t>(static_cast<uint32_t>(h) >> 16);
    if (table_.empty()) Resize();
    const size_t n = table_.size();
    const size_t i = static_cast<uint32_t>(hash) & (n - 1);
    if (table_[i] == nullptr) {
      table_[i] = NewNode(hash, key);
    } else {
      Node* p = table_[i];
      for (int bin_count = 0;; ++bin_count) {
        if (p->key == key) return;  // putIfAbsent of a present key
        if (p->next == nullptr) {
          p->next = NewNode(hash, key);
          if (bin_count >= 7) TreeifyBin();  // TREEIFY_THRESHOLD - 1
          break;
        }
        p = p->next;
      }
    }
    if (++size_ > threshold_) Resize();
  }

  std::vector<std::string> Keys() const {
    std::vector<std::string> keys;
    for (Node* head : table_) {
      for (Node* e = head; e != nullptr; e = e->next) keys.push_back(e->key);
    }
    return keys;
  }

 private:
  struct Node {
    int32_t hash;
    std::string key;
    Node* next = nullptr;
  };

  Node* NewNode(int32_t hash, const std::string& key) {
    nodes_.push_back(std::make_unique<Node>(Node{hash, key, nullptr}));
    return nodes_.back().get();
  }

  void TreeifyBin() {
    // MIN_TREEIFY_CAPACITY = 64: smaller tables resize instead.
    ASSERT_LT(table_.size(), 64u) << "tree bins are not modelled";
    Resize();
  }

  void Resize() {
    const size_t old_cap = table_.size();
    const size_t new_cap = old_cap == 0 ? 16 : old_cap * 2;
    threshold_ = static_cast<int>(new_cap * 0.75);
    std::vector<Node*> grown(new_cap, nullptr);
    for (size_t j = 0; j < old_cap; ++j) {
      Node *lo_head = nullptr, *lo_tail = nullptr, *hi_head = nullptr, *hi_tail = nullptr;
      for (Node* e = table_[j]; e != nullptr;) {
        Node* next = e->next;
        e->next = nullptr;
        if ((static_cast<uint32_t>(e->hash) & old_cap) == 0) {
          (lo_tail == nullptr ? lo_head : lo_tail->next) = e;
          lo_tail = e;
        } else {
          (hi_tail == nullptr ? hi_head : hi_tail->next) = e;
          hi_tail = e;
        }
        e = next;
      }
      grown[j] = lo_head;
      grown[j + old_cap] = hi_head;
    }
    table_ = std::move(grown);
  }

  std::vector<Node*> table_;
  std::vector<std::unique_ptr<Node>> nodes_;
  int size_ = 0;
  int threshold_ = 0;
};

struct Server {
  std::string address;
  int64_t create_time = 0;
};

// MasterPriorityQueue.ServerComparator.
int Compare(const Server& o1, const Server& o2) {
  // o2.getCreateTime().compareTo(o1.getCreateTime()) (Date#compareTo)
  return o2.create_time < o1.create_time ? -1 : (o2.create_time == o1.create_time ? 0 : 1);
}

// PriorityBlockingQueue with that comparator: offer() sifts up; toArray() is the array.
class JavaPriorityQueue {
 public:
  void Offer(const Server& x) {
    int k = static_cast<int>(queue_.size());
    queue_.push_back(x);
    while (k > 0) {
      const int parent = (k - 1) >> 1;
      if (Compare(x, queue_[parent]) >= 0) break;
      queue_[k] = queue_[parent];
      k = parent;
    }
    queue_[k] = x;
  }
  std::vector<Server> ToArray() const { return queue_; }

 private:
  std::vector<Server> queue_;
};

// ---------------------------------------------------------------------------------------------
// The registry as the walk left it, and DolphinScheduler's answer over it.

struct ModelMaster {
  bool present = false;
  int64_t czxid = 0;
  bool has_payload = false;  // false: registered, nothing written yet
  std::string status;        // "NORMAL", "BUSY", "ABNORMAL", or "" (no serverStatus field)
  int64_t startup = 0;
  int32_t process_id = 0;
  // roster-only notions, for the stable rule.
  bool heartbeating = true;
  bool faulted = false;
  bool drained = false;
  bool awaiting = false;  // REGISTERING: no valid heartbeat since the znode appeared or undrain
  absl::Time last_change;
};

using Model = std::map<std::string, ModelMaster>;

// What one DolphinScheduler master of `policy`'s release computes: the masters in slot order.
std::vector<std::string> Oracle(const Model& model, SlotPolicy policy) {
  std::vector<std::string> out;
  if (policy == SlotPolicy::kStable) {
    for (const auto& [address, m] : model) {
      if (m.present && m.has_payload && !m.awaiting && !m.faulted && !m.drained) {
        out.push_back(address);
      }
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  if (policy == SlotPolicy::kDolphin33) {
    for (const auto& [address, m] : model) {
      if (m.present && m.has_payload && m.status == "NORMAL") out.push_back(address);
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  std::vector<std::string> children;
  for (const auto& [address, m] : model) {
    if (m.present) children.push_back(address);
  }
  std::sort(children.begin(), children.end(), std::greater<>());
  JavaHashMap server_map;
  for (const std::string& child : children) server_map.Put(child);
  std::vector<std::string> entries = server_map.Keys();
  if (policy != SlotPolicy::kDolphin31) {
    JavaHashMap master_node_info;  // ServerNodeManager#updateMasterNodes copies the map
    for (const std::string& key : entries) master_node_info.Put(key);
    entries = master_node_info.Keys();
  }
  JavaPriorityQueue queue;
  for (const std::string& key : entries) {
    const ModelMaster& m = model.at(key);
    if (!m.has_payload) continue;  // empty data: skipped (3.1), unreadable (3.2)
    bool admitted = true;
    if (policy == SlotPolicy::kDolphin320) admitted = m.status != "ABNORMAL" && !m.status.empty();
    if (policy == SlotPolicy::kDolphin321 || policy == SlotPolicy::kDolphin322) {
      admitted = m.status != "BUSY" && !m.status.empty();
    }
    if (admitted) queue.Offer(Server{key, m.startup});
  }
  std::vector<Server> array = queue.ToArray();
  if (policy == SlotPolicy::kDolphin322) {
    std::stable_sort(array.begin(), array.end(),
                     [](const Server& a, const Server& b) { return Compare(a, b) < 0; });
  }
  for (const Server& server : array) out.push_back(server.address);
  return out;
}

// ---------------------------------------------------------------------------------------------
// The walk.

std::string Payload(const ModelMaster& m, int64_t report_ms) {
  if (m.status.empty()) {
    return absl::StrReplaceAll(HeartbeatJson("NORMAL", m.startup, m.process_id, report_ms),
                               {{R"("serverStatus":"NORMAL",)", ""}});
  }
  return HeartbeatJson(m.status, m.startup, m.process_id, report_ms);
}

class SlotPolicyModelTest : public ::testing::TestWithParam<SlotPolicy> {};

TEST_P(SlotPolicyModelTest, MatchesDolphinSchedulersOwnComputation) {
  const SlotPolicy policy = GetParam();
  uint32_t seed = std::random_device{}();
  if (const char* env = std::getenv("ROSTER_TEST_SEED")) seed = std::strtoul(env, nullptr, 10);
  SCOPED_TRACE(absl::StrCat("policy ", SlotPolicyName(policy), ", seed ", seed,
                            " (rerun with ROSTER_TEST_SEED=", seed, ")"));
  std::mt19937 rng(seed);

  constexpr int kSteps = 4000;
  constexpr int kAddresses = 16;  // more than 12 present: the HashMap grows to 32 buckets
  NodeTableOptions options;
  options.role = NodeRole::kMaster;
  options.limits.max_clock_skew = absl::Hours(24 * 365 * 100);
  MasterCluster cluster(kMasters, "/nodes/master-coordinator", &options);
  const NodeTimingOptions& timing = options.timing;
  absl::Time now = absl::UnixEpoch() + absl::Hours(1);
  absl::Time wall = absl::FromUnixMillis(1729238650456);
  int64_t zxid = 0;
  int64_t report = 1729238650456;
  const char* kStatuses[] = {"NORMAL", "BUSY", "ABNORMAL", ""};

  std::vector<std::string> addresses;
  for (int i = 0; i < kAddresses; ++i)
    addresses.push_back(absl::StrCat("10.0.", i % 3, ".", 7 * i + 1, ":5678"));
  Model model;

  auto apply = [&](const registry::RegistryEvent& event) {
    cluster.ApplyMaster(event, now, wall);
    std::vector<NodeChange> changes;
    cluster.table().Derive(now, wall, &changes);
  };
  auto write = [&](const std::string& address, ModelMaster& m) {
    apply(NodeEvent(EventType::kUpdated, Path(address), Payload(m, ++report), m.czxid, ++zxid));
    m.has_payload = true;
    m.awaiting = false;
    m.faulted = false;
    m.last_change = now;
  };
  auto join = [&](const std::string& address, ModelMaster& m, int step) {
    const bool drained = m.drained;  // roster remembers a drain by address
    m = ModelMaster{};
    m.drained = drained;
    m.present = true;
    m.czxid = ++zxid;
    m.startup = 1000 + static_cast<int64_t>(rng() % 6);  // few values: ties are common
    m.process_id = 100 + step;
    m.status = kStatuses[rng() % 4];
    m.has_payload = rng() % 4 != 0;
    m.awaiting = !m.has_payload;
    m.last_change = now;
    apply(NodeEvent(EventType::kAdded, Path(address), m.has_payload ? Payload(m, ++report) : "",
                    m.czxid, m.czxid));
  };

  std::vector<std::pair<std::string, int64_t>> last_assignment;
  uint64_t last_epoch = 0;
  int changes = 0;
  size_t most_present = 0;
  for (int step = 0; step < kSteps; ++step) {
    const std::string& address = addresses[rng() % kAddresses];
    ModelMaster& m = model[address];
    switch (rng() % 9) {
      case 0:
      case 1:  // join, with or without a first payload
        if (!m.present) join(address, m, step);
        break;
      case 2:  // leave: the session ended
        if (m.present) {
          apply(NodeEvent(EventType::kRemoved, Path(address), "", m.czxid, zxid));
          m.present = false;
        }
        break;
      case 3:  // status flip, or the first report of a registered master
        if (m.present && m.heartbeating) {
          m.status = kStatuses[rng() % 4];
          write(address, m);
        }
        break;
      case 4:  // restart: a new znode, a new process with a new startupTime
        if (m.present) {
          apply(NodeEvent(EventType::kRemoved, Path(address), "", m.czxid, zxid));
          join(address, m, step);
        }
        break;
      case 5:  // hang (the znode stays) or resume
        if (m.present) {
          m.heartbeating = !m.heartbeating;
          if (m.heartbeating && m.has_payload) write(address, m);
        }
        break;
      case 6:  // drain or undrain (roster's notion only)
        // Under `stable` a drain is a state-machine matter (undraining resumes from the last
        // verdict), covered by node_state_machine_test; here it checks that DolphinScheduler
        // policies ignore drains.
        if (m.present && policy != SlotPolicy::kStable) {
          m.drained = !m.drained;
          cluster.table().SetDrained(address, m.drained, "model", now, wall);
          if (!m.drained) m.awaiting = true;  // back to REGISTERING until it reports
          std::vector<NodeChange> ignored;
          cluster.table().Derive(now, wall, &ignored);
        }
        break;
      default: {  // time passes; live masters heartbeat first
        for (auto& [each, mm] : model) {
          if (mm.present && mm.heartbeating && mm.has_payload) write(each, mm);
        }
        now += timing.heartbeat_interval;
        wall += timing.heartbeat_interval;
        std::vector<NodeChange> ignored;
        cluster.table().Tick(now, wall, &ignored);
        for (auto& [each, mm] : model) {
          if (mm.present && now - mm.last_change >= timing.heartbeat_timeout()) mm.faulted = true;
        }
        break;
      }
    }

    SCOPED_TRACE(absl::StrCat("step ", step));
    const SlotAssignment slots =
        MasterCluster::ComputeSlots(NodeList(cluster.table().Snapshot()), policy);
    const std::vector<std::string> expected = Oracle(model, policy);
    ASSERT_EQ(slots.masters, expected) << [&] {
      std::string dump;
      for (const NodeInfoPtr& n : cluster.table().Snapshot()) {
        const ModelMaster& mm = model[n->address];
        absl::StrAppend(&dump, n->address, " ", NodeStateName(n->state), " (", n->reason,
                        ") model: present ", mm.present, " payload ", mm.has_payload, " awaiting ",
                        mm.awaiting, " faulted ", mm.faulted, " drained ", mm.drained,
                        " heartbeating ", mm.heartbeating, "\n");
      }
      return dump;
    }();
    std::set<std::string> distinct(slots.masters.begin(), slots.masters.end());
    ASSERT_EQ(distinct.size(), slots.masters.size()) << "a master holds two slots";
    for (size_t i = 0; i < expected.size(); ++i) {
      ASSERT_EQ(slots.SlotOf(expected[i]), static_cast<int>(i)) << expected[i];
    }
    std::vector<std::pair<std::string, int64_t>> assignment;
    for (const std::string& each : expected) assignment.emplace_back(each, model.at(each).czxid);
    if (step > 0) {
      ASSERT_EQ(slots.epoch != last_epoch, assignment != last_assignment)
          << "the epoch changes exactly when the assignment (members, order, incarnations) does";
    }
    if (assignment != last_assignment) ++changes;
    most_present = std::max(most_present, cluster.table().ZnodePaths().size());
    last_assignment = std::move(assignment);
    last_epoch = slots.epoch;
  }
  EXPECT_GT(changes, kSteps / 20) << "the walk must exercise the assignment";
  EXPECT_GT(most_present, 12u) << "the walk must grow DolphinScheduler's HashMap past 16 buckets";
}

INSTANTIATE_TEST_SUITE_P(EveryPolicy, SlotPolicyModelTest,
                         ::testing::Values(SlotPolicy::kStable, SlotPolicy::kDolphin31,
                                           SlotPolicy::kDolphin320, SlotPolicy::kDolphin321,
                                           SlotPolicy::kDolphin322, SlotPolicy::kDolphin33),
                         [](const ::testing::TestParamInfo<SlotPolicy>& info) {
                           std::string name(SlotPolicyName(info.param));
                           for (char& c : name) {
                             if (c == '-' || c == '.') c = '_';
                           }
                           return name;
                         });

}  // namespace
}  // namespace roster::cluster
