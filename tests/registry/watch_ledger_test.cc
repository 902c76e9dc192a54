// WatchLedger: the watches ZooKeeperRegistry's handle holds, the size of the SetWatches request
// the C client would send for them, and when a disconnect drops them. Expected sizes are worked
// by hand from SetWatches in zookeeper.jute (3.8.0): after the length prefix, xid (4), type (4),
// relativeZxid (8), three vector counts (4 each), then per watch a 4-byte length and the path
// as the server sees it (chroot included).

#include "registry/zookeeper/watch_ledger.h"

#include <algorithm>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace roster::registry {
namespace {

using ::testing::UnorderedElementsAre;

constexpr size_t kEmpty = 4 + 4 + 8 + 3 * 4;  // 28

TEST(WatchLedgerTest, CountsEachPathOncePerKindAndSizesTheRequestWithTheChroot) {
  WatchLedger ledger(/*max_kept=*/10, "/ds");
  EXPECT_EQ(ledger.watches(), 0u);
  EXPECT_EQ(ledger.SetWatchesBytes(), kEmpty);

  ledger.Armed("/w/a", WatchLedger::kData);  // "/ds/w/a": 7 bytes + 4
  ledger.Armed("/w/a", WatchLedger::kData);  // the same watch again (the C client keeps one)
  EXPECT_EQ(ledger.watches(), 1u);
  EXPECT_EQ(ledger.SetWatchesBytes(), kEmpty + 11);

  ledger.Armed("/w/a", WatchLedger::kChild);  // listed in the child vector as well
  ledger.Armed("/w/bb", WatchLedger::kData);  // "/ds/w/bb": 8 + 4
  EXPECT_EQ(ledger.watches(), 3u);
  EXPECT_EQ(ledger.SetWatchesBytes(), kEmpty + 11 + 11 + 12);
  EXPECT_THAT(ledger.Paths(), UnorderedElementsAre("/w/a", "/w/bb"));
}

TEST(WatchLedgerTest, AnEventConsumesTheWatchesItFires) {
  WatchLedger ledger(10, "");
  ledger.Armed("/a", WatchLedger::kData);
  ledger.Armed("/a", WatchLedger::kChild);
  ledger.Armed("/b", WatchLedger::kData);
  ledger.Armed("/c", WatchLedger::kData);

  ledger.Fired("/a", internal::WatchEventType::kDataChanged);  // the data watch only
  EXPECT_EQ(ledger.watches(), 3u);
  ledger.Fired("/a", internal::WatchEventType::kChildrenChanged);
  EXPECT_EQ(ledger.watches(), 2u);
  EXPECT_THAT(ledger.Paths(), UnorderedElementsAre("/b", "/c"));

  ledger.Armed("/a", WatchLedger::kData);
  ledger.Armed("/a", WatchLedger::kChild);
  ledger.Fired("/a", internal::WatchEventType::kDeleted);  // every watch on the path
  ledger.Fired("/b", internal::WatchEventType::kCreated);  // an exists watch is a data watch
  ledger.Fired("/nowhere", internal::WatchEventType::kDeleted);
  EXPECT_EQ(ledger.watches(), 1u);
  EXPECT_EQ(ledger.SetWatchesBytes(), kEmpty + 4 + 2);  // "/c"
  EXPECT_THAT(ledger.Paths(), UnorderedElementsAre("/c"));

  ledger.Clear();
  EXPECT_EQ(ledger.watches(), 0u);
  EXPECT_EQ(ledger.SetWatchesBytes(), kEmpty);
  EXPECT_TRUE(ledger.Paths().empty());
}

TEST(WatchLedgerTest, DropsOnlyAboveTheLimitZeroAlwaysNegativeNever) {
  WatchLedger two(2, "");
  WatchLedger zero(0, "");
  WatchLedger never(-1, "");
  EXPECT_FALSE(two.ShouldDrop());
  EXPECT_FALSE(zero.ShouldDrop());  // nothing to drop
  for (const char* path : {"/a", "/b"}) {
    two.Armed(path, WatchLedger::kData);
    zero.Armed(path, WatchLedger::kData);
    never.Armed(path, WatchLedger::kData);
  }
  EXPECT_FALSE(two.ShouldDrop());
  EXPECT_TRUE(zero.ShouldDrop());
  two.Armed("/a", WatchLedger::kChild);
  EXPECT_TRUE(two.ShouldDrop());
  for (int i = 0; i < 100000; ++i) never.Armed("/n" + std::to_string(i), WatchLedger::kData);
  EXPECT_FALSE(never.ShouldDrop());
}

}  // namespace
}  // namespace roster::registry
