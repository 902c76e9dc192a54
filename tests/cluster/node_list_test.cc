// NodeList: the chunked, shared node lists of cluster views. Apply() is checked against a
// plain sorted map over thousands of random batches; sharing is checked by counting the
// chunks two lists hold in common.
#include "cluster/node_list.h"

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace roster::cluster {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Optional;

NodeInfoPtr Node(std::string address, double cpu = 0.1) {
  auto node = std::make_shared<NodeInfo>();
  node->address = std::move(address);
  node->heartbeat.set_cpu_usage(cpu);
  return node;
}

std::vector<std::string> Addresses(const NodeList& nodes) {
  std::vector<std::string> out;
  for (const NodeInfoPtr& node : nodes) out.push_back(node->address);
  return out;
}

// "w00042:1234": addresses that sort like their numbers.
std::string Address(int i) { return absl::StrCat("w", 10000 + i, ":1234"); }

NodeList Workers(int n) {
  std::vector<NodeInfoPtr> nodes;
  for (int i = 0; i < n; ++i) nodes.push_back(Node(Address(i)));
  return NodeList(std::move(nodes));
}

TEST(NodeListTest, AppliesAddsUpdatesAndRemovalsInAddressOrder) {
  const NodeList previous = {Node("a:1"), Node("c:1"), Node("e:1")};
  NodeInfoPtr new_c = Node("c:1", 0.9);
  const NodeList next = previous.Apply({
      {nullptr, Node("d:1")},
      {previous[2], nullptr},
      {previous[1], new_c},
      {nullptr, Node("0:1")},
  });
  EXPECT_THAT(Addresses(next), ElementsAre("0:1", "a:1", "c:1", "d:1"));
  EXPECT_EQ(next[1], previous[0]) << "unchanged nodes are shared, not copied";
  EXPECT_EQ(next[2], new_c);
  EXPECT_EQ(next.FindSorted("c:1"), new_c);
  EXPECT_EQ(next.FindSorted("e:1"), nullptr);
  EXPECT_EQ(next.FindSorted("b:1"), nullptr);
  // The list it came from is untouched.
  EXPECT_THAT(Addresses(previous), ElementsAre("a:1", "c:1", "e:1"));
}

TEST(NodeListTest, TheLastChangeOfAnAddressInABatchWins) {
  const NodeList previous = {Node("a:1"), Node("b:1")};
  NodeInfoPtr last = Node("b:1", 0.7);
  EXPECT_THAT(Addresses(previous.Apply({{previous[1], nullptr}, {nullptr, last}})),
              ElementsAre("a:1", "b:1"));
  EXPECT_EQ(previous.Apply({{previous[1], nullptr}, {nullptr, last}})[1], last);
  EXPECT_THAT(Addresses(previous.Apply({{nullptr, last}, {last, nullptr}})), ElementsAre("a:1"));
}

TEST(NodeListTest, AnEmptyListGrowsAndShrinksToEmpty) {
  const NodeList empty;
  EXPECT_TRUE(empty.empty());
  EXPECT_EQ(empty.begin(), empty.end());
  std::vector<NodeChange> adds;
  for (int i = 999; i >= 0; --i) adds.push_back({nullptr, Node(Address(i))});
  const NodeList full = empty.Apply(adds);
  ASSERT_EQ(full.size(), 1000u);
  EXPECT_TRUE(std::is_sorted(full.begin(), full.end(),
                             [](const auto& a, const auto& b) { return a->address < b->address; }));
  std::vector<NodeChange> removals;
  for (const NodeInfoPtr& node : full) removals.push_back({node, nullptr});
  EXPECT_TRUE(full.Apply(removals).empty());
}

// One heartbeat's change copies one chunk: the next list shares every other chunk of a
// 10,000-node list with the previous one.
TEST(NodeListTest, AChangeCopiesOnlyTheChunkItFallsIn) {
  const NodeList previous = Workers(10000);
  const size_t chunks = previous.chunk_count();
  EXPECT_GE(chunks, 10000 / (2 * NodeList::kChunkSize));
  const NodeInfoPtr updated = Node(Address(5000), 0.9);
  const NodeList next = previous.Apply({{previous[5000], updated}});
  EXPECT_EQ(next.chunk_count(), chunks);
  EXPECT_EQ(next.SharedChunks(previous), chunks - 1);
  EXPECT_EQ(next[5000], updated);
  // Ten changes spread over the list: at most ten chunks copied.
  std::vector<NodeChange> spread;
  for (int i = 0; i < 10; ++i) spread.push_back({previous[i * 997], Node(Address(i * 997), 0.5)});
  EXPECT_GE(previous.Apply(spread).SharedChunks(previous), chunks - 10);
}

// What WorkerSelector syncs from: after updates alone, the positions of the chunks replaced;
// after a join or a leave, which cuts the list differently, nothing.
TEST(NodeListTest, UnsharedSpansAreTheChunksUpdatesReplaced) {
  const NodeList previous = Workers(1000);
  EXPECT_THAT(previous.UnsharedSpans(previous), Optional(IsEmpty()));
  const NodeList next =
      previous.Apply({{previous[10], Node(Address(10), 0.5)}, {previous[700], nullptr}});
  EXPECT_EQ(next.UnsharedSpans(previous), std::nullopt);  // 700 left: cut differently
  const NodeList updated = previous.Apply({{previous[10], Node(Address(10), 0.5)},
                                           {previous[11], Node(Address(11))},
                                           {previous[700], Node(Address(700), 0.7)}});
  const std::optional<std::vector<std::pair<size_t, size_t>>> spans =
      updated.UnsharedSpans(previous);
  ASSERT_TRUE(spans.has_value());
  ASSERT_EQ(spans->size(), 2u);  // 10 and 11 share a chunk
  for (const auto& [first, last] : *spans) {
    EXPECT_LT(first, last);
    EXPECT_LE(last - first, 2 * NodeList::kChunkSize);
  }
  EXPECT_TRUE((*spans)[0].first <= 10 && 11 < (*spans)[0].second);
  EXPECT_TRUE((*spans)[1].first <= 700 && 700 < (*spans)[1].second);
  // Outside the spans, the very same nodes.
  for (size_t i = 0; i < updated.size(); ++i) {
    const bool in_span = (i >= (*spans)[0].first && i < (*spans)[0].second) ||
                         (i >= (*spans)[1].first && i < (*spans)[1].second);
    if (!in_span) {
      EXPECT_EQ(updated[i], previous[i]) << i;
    }
  }
}

// NodeCounter against a count of the whole list, over versions that mostly update nodes (the
// chunks it recounts) and now and then add or remove one (the list cut anew), some versions
// skipped (counted against an older one).
TEST(NodeListTest, NodeCounterCountsAsAWalkOfTheWholeList) {
  auto busy = [](const NodeInfo& node) { return node.heartbeat.cpu_usage() > 0.5; };
  NodeCounter counter(+busy);
  std::mt19937 random(3);
  NodeList list = Workers(700);
  int next_address = 700;
  for (int version = 0; version < 500; ++version) {
    std::vector<NodeChange> changes;
    for (int k = 0; k < 4; ++k) {
      const NodeInfoPtr& node = list[random() % list.size()];
      changes.push_back({node, Node(node->address, 0.01 * (random() % 100))});
    }
    if (version % 25 == 0) changes.push_back({list[random() % list.size()], nullptr});
    if (version % 40 == 0) changes.push_back({nullptr, Node(Address(next_address++), 0.9)});
    list = list.Apply(changes);
    if (version % 3 == 0) continue;  // not counted: the next count spans two versions
    const int walked = static_cast<int>(std::count_if(
        list.begin(), list.end(), [&](const NodeInfoPtr& node) { return busy(*node); }));
    ASSERT_EQ(counter.Count(list), walked) << "version " << version;
  }
}

// Inserting at one place over and over splits the chunk there rather than growing it.
TEST(NodeListTest, ChunksStayBoundedUnderInsertsAtOnePlace) {
  NodeList list = {Node(Address(0)), Node(Address(9999))};
  for (int i = 1; i <= 3000; ++i) list = list.Apply({{nullptr, Node(Address(i))}});
  ASSERT_EQ(list.size(), 3002u);
  EXPECT_GE(list.chunk_count(), 3002 / (2 * NodeList::kChunkSize));
  // Removing them all again drops the emptied chunks: what is left is the first node's chunk
  // and the last node's, which no insert touched (inserts before it go to the chunk before).
  std::vector<NodeChange> removals;
  for (int i = 1; i <= 3000; ++i) removals.push_back({list[static_cast<size_t>(i)], nullptr});
  const NodeList left = list.Apply(removals);
  EXPECT_THAT(Addresses(left), ElementsAre(Address(0), Address(9999)));
  EXPECT_EQ(left.chunk_count(), 2u);
}

// Random batches of adds, updates and removals (duplicates included) against a sorted map.
TEST(NodeListTest, MatchesASortedMapOverRandomBatches) {
  std::mt19937 random(20261203);
  std::map<std::string, NodeInfoPtr> model;
  NodeList list;
  for (int round = 0; round < 3000; ++round) {
    std::vector<NodeChange> batch;
    const int size = std::uniform_int_distribution<int>(1, round % 100 == 0 ? 400 : 6)(random);
    std::map<std::string, NodeInfoPtr> current = model;  // the batch's own view as it goes
    for (int i = 0; i < size; ++i) {
      const std::string address = Address(std::uniform_int_distribution<int>(0, 1500)(random));
      auto it = current.find(address);
      const bool remove = it != current.end() && random() % 3 == 0;
      NodeChange change{it == current.end() ? nullptr : it->second,
                        remove ? nullptr : Node(address, random() % 100 / 100.0)};
      if (remove) {
        current.erase(address);
      } else {
        current[address] = change.after;
      }
      batch.push_back(std::move(change));
    }
    list = list.Apply(batch);
    model = std::move(current);
    ASSERT_EQ(list.size(), model.size()) << "round " << round;
    std::vector<NodeInfoPtr> expected;
    for (const auto& [address, node] : model) expected.push_back(node);
    for (size_t i = 0; i < expected.size(); ++i) {
      ASSERT_EQ(list[i], expected[i]) << "round " << round << ", position " << i;
    }
    // Iterators step across chunk boundaries both ways and jump to any position.
    ASSERT_TRUE(std::equal(list.begin(), list.end(), expected.begin(), expected.end()))
        << "round " << round;
    ASSERT_TRUE(std::equal(std::make_reverse_iterator(list.end()),
                           std::make_reverse_iterator(list.begin()), expected.rbegin(),
                           expected.rend()))
        << "round " << round;
    if (!expected.empty()) {
      const size_t at = random() % expected.size();
      const auto jumped = list.begin() + static_cast<std::ptrdiff_t>(at);
      ASSERT_EQ(*jumped, expected[at]) << "round " << round;
      ASSERT_EQ(jumped - list.begin(), static_cast<std::ptrdiff_t>(at));
      ASSERT_EQ(list.end() - jumped, static_cast<std::ptrdiff_t>(expected.size() - at));
      ASSERT_EQ(list.FindSorted(expected[at]->address), expected[at]);
    }
  }
}

TEST(NodeListTest, IteratorsAreRandomAccess) {
  const NodeList list = Workers(300);
  auto it = std::lower_bound(
      list.begin(), list.end(), Address(150),
      [](const NodeInfoPtr& node, const std::string& address) { return node->address < address; });
  EXPECT_EQ(it - list.begin(), 150);
  EXPECT_EQ((*it)->address, Address(150));
  EXPECT_EQ(it[10]->address, Address(160));
  EXPECT_EQ((list.end() - 1)->get(), list.back().get());
  EXPECT_EQ(list.front()->address, Address(0));
  EXPECT_EQ(std::distance(list.begin(), list.end()), 300);
}

TEST(NodeListTest, CopiesCompareEqualAndShareEverything) {
  const NodeList list = Workers(500);
  const NodeList copy = list;  // NOLINT(performance-unnecessary-copy-initialization)
  EXPECT_EQ(copy, list);
  EXPECT_EQ(copy.SharedChunks(list), list.chunk_count());
  EXPECT_NE(list.Apply({{list[7], Node(Address(7), 0.3)}}), list);
}

}  // namespace
}  // namespace roster::cluster
