// SubtreeCache against a scripted WatchBackend: the test holds every read and answers it when
// it likes (from a small ZooKeeper-like tree, or with a result of its own), and fires watch
// events by hand. This reaches the ordering rules that a real store makes hard to provoke:
// stale answers, superseded rounds, the in-flight bound, callbacks after destruction.
//
// The cache is confined to an executor; the test runs every step there with Run(). The
// executor runs on a FakeClock: retry back-off happens when the test advances it.

#include "registry/internal/subtree_cache.h"

#include <deque>
#include <map>
#include <memory>
#include <set>

#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/registry/event_recorder.h"
#include "util/clock.h"
#include "util/executor.h"

namespace roster::registry::internal {
namespace {

using ::roster::testing::Describe;
using ::roster::testing::EventRecorder;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

// A ZooKeeper-like tree: zxids, czxid/mzxid/pzxid, ephemeral owners.
class Tree {
 public:
  Tree() { nodes_["/"] = Node{"/", "", Stat()}; }

  void Create(const std::string& path, const std::string& data, bool ephemeral = false) {
    const int64_t zxid = ++zxid_;
    Node node{path, data, Stat()};
    node.stat.czxid = node.stat.mzxid = node.stat.pzxid = zxid;
    node.stat.ephemeral_owner = ephemeral ? 42 : 0;
    nodes_[path] = node;
    Stat& parent = nodes_.at(ParentPath(path)).stat;
    parent.pzxid = zxid;
    ++parent.cversion;
  }
  void Set(const std::string& path, const std::string& data) {
    Node& node = nodes_.at(path);
    node.data = data;
    node.stat.mzxid = ++zxid_;
    ++node.stat.version;
  }
  void Delete(const std::string& path) {
    nodes_.erase(path);
    nodes_.at(ParentPath(path)).stat.pzxid = ++zxid_;
  }
  const Node* Find(const std::string& path) const {
    auto it = nodes_.find(path);
    return it == nodes_.end() ? nullptr : &it->second;
  }
  absl::StatusOr<Children> List(const std::string& path) const {
    const Node* node = Find(path);
    if (node == nullptr) return absl::NotFoundError(path);
    Children children;
    children.stat = node->stat;
    for (const auto& [p, n] : nodes_) {
      if (p != "/" && p != path && ParentPath(p) == path) children.names.push_back(BaseName(p));
    }
    return children;
  }

  std::set<std::string> denied;  // paths whose data cannot be read

 private:
  int64_t zxid_ = 0;
  std::map<std::string, Node> nodes_;
};

// Holds every read until the test answers it.
class ScriptedBackend final : public WatchBackend {
 public:
  struct Read {
    enum Kind { kData, kChildren, kExists } kind;
    std::string path;
    bool watch;
    Callback<Node> data;
    Callback<Children> children;
    Callback<std::optional<Stat>> exists;
  };

  void GetData(const std::string& path, bool watch, Callback<Node> done) override {
    Push(Read{Read::kData, path, watch, std::move(done), {}, {}});
  }
  void GetChildren(const std::string& path, bool watch, Callback<Children> done) override {
    Push(Read{Read::kChildren, path, watch, {}, std::move(done), {}});
  }
  void Exists(const std::string& path, bool watch, Callback<std::optional<Stat>> done) override {
    Push(Read{Read::kExists, path, watch, {}, {}, std::move(done)});
  }
  uint64_t CurrentSession() const override { return session; }

  // Answers the oldest read from `tree`.
  void AnswerFront(const Tree& tree) {
    Read read = Pop();
    const Node* node = tree.Find(read.path);
    switch (read.kind) {
      case Read::kData:
        if (node == nullptr) {
          std::move(read.data)(absl::NotFoundError(read.path));
        } else if (tree.denied.count(read.path) > 0) {
          std::move(read.data)(absl::PermissionDeniedError(read.path));
        } else {
          std::move(read.data)(*node);
        }
        break;
      case Read::kChildren:
        std::move(read.children)(tree.List(read.path));
        break;
      case Read::kExists:
        std::move(read.exists)(node == nullptr ? std::optional<Stat>() : node->stat);
        break;
    }
  }

  Read Pop() {
    Read read = std::move(reads.front());
    reads.pop_front();
    return read;
  }

  std::deque<Read> reads;
  size_t peak = 0;
  uint64_t session = 7;

 private:
  void Push(Read read) {
    reads.push_back(std::move(read));
    peak = std::max(peak, reads.size());
  }
};

class SubtreeCacheTest : public ::testing::Test {
 protected:
  SubtreeCacheTest() : executor_("cache-test", &clock_) { executor_.Start(); }
  ~SubtreeCacheTest() override {
    Run([&] { cache_.reset(); });
    executor_.Shutdown();
  }

  // Runs `fn` on the executor and waits for it.
  template <typename Fn>
  void Run(Fn fn) {
    absl::Notification done;
    executor_.Post([&] {
      fn();
      done.Notify();
    });
    done.WaitForNotification();
  }

  void StartCache(const std::string& root, SubscribeOptions options = {}, int max_in_flight = 100) {
    Run([&] {
      cache_ = std::make_unique<SubtreeCache>(&executor_, &backend_, root, options, max_in_flight,
                                              recorder_.Listener());
      cache_->Start();
    });
  }
  // Answers every read, including the reads the answers cause.
  void AnswerAll() {
    Run([&] {
      while (!backend_.reads.empty()) backend_.AnswerFront(tree_);
    });
  }
  void AnswerOne() {
    Run([&] { backend_.AnswerFront(tree_); });
  }
  size_t Pending() {
    size_t n = 0;
    Run([&] { n = backend_.reads.size(); });
    return n;
  }
  void Fire(WatchEventType type, const std::string& path) {
    Run([&] { cache_->OnWatchEvent(WatchEvent{type, path}); });
  }
  void Session(SessionEventType type) {
    Run([&] {
      SessionEvent event;
      event.type = type;
      cache_->OnSessionEvent(event);
    });
  }
  void Resync() {
    Run([&] { cache_->Resync(); });
  }

  // Advances the executor's clock; timers that became due run before the next Run().
  void Advance(absl::Duration d) { clock_.Advance(d); }

  Tree tree_;
  ScriptedBackend backend_;
  EventRecorder recorder_;
  FakeClock clock_;  // outlives the executor
  SerialExecutor executor_;
  std::unique_ptr<SubtreeCache> cache_;
};

TEST_F(SubtreeCacheTest, KeepsAtMostMaxInFlightReadsOutstanding) {
  tree_.Create("/r", "");
  for (int i = 0; i < 50; ++i) tree_.Create("/r/n" + std::to_string(100 + i), "x", true);
  StartCache("/r", {}, /*max_in_flight=*/4);
  while (Pending() > 0) {
    ASSERT_LE(Pending(), 4u);
    AnswerOne();
  }
  EXPECT_EQ(backend_.peak, 4u);
  ASSERT_EQ(recorder_.Synced(), 1);
  EXPECT_EQ(recorder_.LastSnapshot()->size(), 50u);
  EXPECT_EQ(recorder_.LastSnapshot()->front().session, 7u);
  EXPECT_THAT(recorder_.Violations(), IsEmpty());
}

TEST_F(SubtreeCacheTest, NeverListsEphemeralNodes) {
  SubscribeOptions options;
  options.max_depth = 3;
  tree_.Create("/r", "");
  tree_.Create("/r/group", "");
  tree_.Create("/r/group/worker", "w", /*ephemeral=*/true);
  StartCache("/r", options);
  std::vector<std::string> listed;
  Run([&] {
    while (!backend_.reads.empty()) {
      if (backend_.reads.front().kind == ScriptedBackend::Read::kChildren) {
        listed.push_back(backend_.reads.front().path);
      }
      backend_.AnswerFront(tree_);
    }
  });
  EXPECT_THAT(listed, ElementsAre("/r", "/r/group"));
  EXPECT_EQ(recorder_.Synced(), 1);
}

TEST_F(SubtreeCacheTest, ANewRoundSupersedesAnUnfinishedOne) {
  tree_.Create("/r", "");
  tree_.Create("/r/a", "1");
  StartCache("/r");
  AnswerOne();  // the root listing; the data read of /r/a is outstanding
  Resync();
  AnswerAll();
  EXPECT_EQ(recorder_.Synced(), 1) << "only the latest round delivers kSynced";
  EXPECT_THAT(recorder_.Changes(), ElementsAre("ADDED /r/a=1"));
}

TEST_F(SubtreeCacheTest, IgnoresStaleDataAndReportsANewIncarnationAsRemovedThenAdded) {
  tree_.Create("/r", "");
  tree_.Create("/r/a", "1");
  StartCache("/r");
  AnswerAll();
  const Node original = *tree_.Find("/r/a");

  // A data answer older than what the cache holds changes nothing.
  tree_.Set("/r/a", "2");
  Fire(WatchEventType::kDataChanged, "/r/a");
  AnswerAll();
  Fire(WatchEventType::kDataChanged, "/r/a");
  Run([&] { std::move(backend_.Pop().data)(original); });
  EXPECT_THAT(recorder_.Changes(), ElementsAre("ADDED /r/a=1", "UPDATED /r/a=2"));

  // Same path, new czxid: a new node.
  tree_.Delete("/r/a");
  tree_.Create("/r/a", "3");
  Fire(WatchEventType::kDataChanged, "/r/a");
  AnswerAll();
  EXPECT_THAT(recorder_.Changes(),
              ElementsAre("ADDED /r/a=1", "UPDATED /r/a=2", "REMOVED /r/a=2", "ADDED /r/a=3"));
  EXPECT_THAT(recorder_.Violations(), IsEmpty());
}

// etcd's watch stream and its reads are separate calls: a change's event can arrive before the
// answer to a read that started before the change (watch_backend.h). A new node's first read
// is such a read when the node changes at once: the change must not be lost.
TEST_F(SubtreeCacheTest, AChangeReportedBeforeANewNodesFirstReadAnswersIsReadAgain) {
  tree_.Create("/r", "");
  StartCache("/r");
  AnswerAll();

  tree_.Create("/r/b", "b1", /*ephemeral=*/true);
  Fire(WatchEventType::kChildrenChanged, "/r");
  AnswerOne();  // the listing: /r/b's first data read is now outstanding
  const Node before = *tree_.Find("/r/b");
  tree_.Set("/r/b", "b2");
  Fire(WatchEventType::kDataChanged, "/r/b");  // overtakes the read's answer
  Run([&] { std::move(backend_.Pop().data)(before); });
  AnswerAll();
  EXPECT_THAT(recorder_.Changes(), ElementsAre("ADDED /r/b=b1", "UPDATED /r/b=b2"));
  EXPECT_EQ(recorder_.View(), (std::map<std::string, std::string>{{"/r/b", "b2"}}));
  EXPECT_THAT(recorder_.Violations(), IsEmpty());
}

TEST_F(SubtreeCacheTest, IgnoresAListingOlderThanTheLastApplied) {
  tree_.Create("/r", "");
  tree_.Create("/r/a", "1");
  StartCache("/r");
  AnswerAll();
  Children stale = *tree_.List("/r");
  stale.names.clear();
  stale.stat.pzxid -= 1;
  Fire(WatchEventType::kChildrenChanged, "/r");
  Run([&] { std::move(backend_.Pop().children)(stale); });
  EXPECT_THAT(recorder_.Changes(), ElementsAre("ADDED /r/a=1"));
}

TEST_F(SubtreeCacheTest, UnreadableNodesAreReportedWithTheirStat) {
  tree_.Create("/r", "");
  tree_.Create("/r/secret", "s");
  tree_.denied.insert("/r/secret");
  StartCache("/r");
  AnswerAll();
  ASSERT_EQ(recorder_.Synced(), 1);
  ASSERT_EQ(recorder_.LastSnapshot()->size(), 1u);
  const RegistryEvent& secret = recorder_.LastSnapshot()->front();
  EXPECT_EQ(secret.read_error.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(secret.stat, tree_.Find("/r/secret")->stat);
  EXPECT_EQ(secret.data, "");

  // Its exists() watch reports changes: kUpdated with the new stat.
  tree_.Set("/r/secret", "t");
  Fire(WatchEventType::kDataChanged, "/r/secret");
  AnswerAll();
  EXPECT_EQ(recorder_.ViewEvents().at("/r/secret").stat.mzxid, tree_.Find("/r/secret")->stat.mzxid);
  EXPECT_THAT(recorder_.Violations(), IsEmpty());
}

TEST_F(SubtreeCacheTest, AMissingRootIsWatchedUntilCreated) {
  StartCache("/r");
  std::vector<std::string> kinds;
  Run([&] {
    while (!backend_.reads.empty()) {
      const auto& read = backend_.reads.front();
      if (read.kind == ScriptedBackend::Read::kExists) {
        kinds.push_back("exists " + read.path + (read.watch ? " watch" : ""));
      }
      backend_.AnswerFront(tree_);
    }
  });
  EXPECT_THAT(kinds, ElementsAre("exists /r watch"));
  ASSERT_EQ(recorder_.Synced(), 1);
  EXPECT_THAT(*recorder_.LastSnapshot(), IsEmpty());

  tree_.Create("/r", "");
  tree_.Create("/r/a", "1");
  Fire(WatchEventType::kCreated, "/r");
  AnswerAll();
  EXPECT_THAT(recorder_.Changes(), ElementsAre("ADDED /r/a=1"));

  // Deleting the root removes everything below it.
  tree_.Delete("/r/a");
  tree_.Delete("/r");
  Fire(WatchEventType::kDeleted, "/r");
  AnswerAll();
  EXPECT_THAT(recorder_.Changes(), ElementsAre("ADDED /r/a=1", "REMOVED /r/a=1"));
}

TEST_F(SubtreeCacheTest, ASubtreeIsRemovedDeepestFirst) {
  SubscribeOptions options;
  options.max_depth = 2;
  tree_.Create("/r", "");
  tree_.Create("/r/g", "");
  tree_.Create("/r/g/a", "1");
  tree_.Create("/r/g/b", "2");
  StartCache("/r", options);
  AnswerAll();
  Fire(WatchEventType::kDeleted, "/r/g");  // as if the whole group went at once
  EXPECT_THAT(recorder_.Changes(),
              ElementsAre("ADDED /r/g=", "ADDED /r/g/a=1", "ADDED /r/g/b=2", "REMOVED /r/g/a=1",
                          "REMOVED /r/g/b=2", "REMOVED /r/g="));
}

TEST_F(SubtreeCacheTest, CorrectionsAreMarkedAndRealTimeChangesAreNot) {
  tree_.Create("/r", "");
  StartCache("/r");
  AnswerAll();
  // Missed entirely (no watch event): a correction.
  tree_.Create("/r/missed", "m");
  Resync();
  AnswerAll();
  // Reported by a watch while the round is reading: real-time.
  Resync();
  tree_.Create("/r/live", "l");
  Fire(WatchEventType::kChildrenChanged, "/r");
  AnswerAll();
  EXPECT_THAT(recorder_.Changes(), ElementsAre("ADDED /r/missed=m resync", "ADDED /r/live=l"));
  EXPECT_EQ(recorder_.Synced(), 3);
}

TEST_F(SubtreeCacheTest, WatchTriggeredReadsDoNotHoldBackTheRound) {
  tree_.Create("/r", "");
  tree_.Create("/r/busy", "0");
  StartCache("/r");
  AnswerAll();
  Resync();
  // Heartbeats keep arriving while the round reads; every answer triggers another read.
  for (int i = 1; i <= 20 && recorder_.Synced() < 2; ++i) {
    tree_.Set("/r/busy", std::to_string(i));
    Fire(WatchEventType::kDataChanged, "/r/busy");
    AnswerOne();
  }
  EXPECT_EQ(recorder_.Synced(), 2);
  EXPECT_THAT(recorder_.Violations(), IsEmpty());
}

TEST_F(SubtreeCacheTest, AFailedRoundIsRetriedWhileConnectedOnly) {
  tree_.Create("/r", "");
  tree_.Create("/r/a", "1");
  StartCache("/r");
  Run([&] { std::move(backend_.Pop().children)(absl::UnavailableError("connection loss")); });
  EXPECT_EQ(recorder_.Synced(), 0);
  // The retry reads again after 100 ms of back-off, not before.
  Advance(absl::Milliseconds(99));
  EXPECT_EQ(Pending(), 0u);
  Advance(absl::Milliseconds(1));
  ASSERT_EQ(Pending(), 1u);
  // It fails too: the back-off doubles.
  Run([&] { std::move(backend_.Pop().children)(absl::UnavailableError("connection loss")); });
  Advance(absl::Milliseconds(199));
  EXPECT_EQ(Pending(), 0u);
  Advance(absl::Milliseconds(1));
  ASSERT_EQ(Pending(), 1u);
  AnswerAll();
  EXPECT_EQ(recorder_.Synced(), 1);

  // Disconnected: no retry; the reconnect's round takes over.
  Session(SessionEventType::kSuspended);
  Resync();
  Run([&] { std::move(backend_.Pop().children)(absl::UnavailableError("connection loss")); });
  Advance(absl::Seconds(10));
  EXPECT_EQ(Pending(), 0u) << "no retry while disconnected";
  Session(SessionEventType::kReconnected);
  AnswerAll();
  EXPECT_EQ(recorder_.Synced(), 2);
}

TEST_F(SubtreeCacheTest, TheRetryBackOffStartsOverAfterASuccessfulRound) {
  tree_.Create("/r", "");
  StartCache("/r");
  Run([&] { std::move(backend_.Pop().children)(absl::UnavailableError("connection loss")); });
  Advance(absl::Milliseconds(100));
  AnswerAll();
  ASSERT_EQ(recorder_.Synced(), 1);
  Resync();
  Run([&] { std::move(backend_.Pop().children)(absl::UnavailableError("connection loss")); });
  Advance(absl::Milliseconds(99));
  EXPECT_EQ(Pending(), 0u);
  Advance(absl::Milliseconds(1));
  EXPECT_EQ(Pending(), 1u) << "100 ms again, not 200 ms";
}

TEST_F(SubtreeCacheTest, AnswersAfterDestructionAreIgnored) {
  tree_.Create("/r", "");
  tree_.Create("/r/a", "1");
  tree_.Create("/r/b", "2");
  StartCache("/r");
  AnswerOne();  // the listing of /r: the data reads of /r/a and /r/b follow
  ASSERT_EQ(Pending(), 2u);
  // The same setup emits: answering /r/a's read reports it.
  AnswerOne();
  ASSERT_THAT(recorder_.Changes(), ElementsAre("ADDED /r/a=1"));
  ASSERT_EQ(Pending(), 1u) << "/r/b's data read is outstanding";
  Run([&] { cache_.reset(); });
  // The answer that would have reported /r/b (and then kSynced) reaches a destroyed cache.
  AnswerAll();
  EXPECT_EQ(recorder_.EventCount(), 1u);
  EXPECT_EQ(recorder_.Synced(), 0);
}

TEST_F(SubtreeCacheTest, AListenerMayDestroyTheCache) {
  tree_.Create("/r", "");
  tree_.Create("/r/a", "1");
  tree_.Create("/r/b", "2");
  int calls = 0;
  Run([&] {
    cache_ = std::make_unique<SubtreeCache>(&executor_, &backend_, "/r", SubscribeOptions(), 100,
                                            [&](const RegistryEvent&) {
                                              ++calls;
                                              cache_.reset();
                                            });
    cache_->Start();
  });
  AnswerAll();
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace roster::registry::internal
