// EtcdRegistry's pure parts, without a server: the key layout (DolphinScheduler's, worked by
// hand from EtcdRegistry.java @ 3.2.2-release), the watch events an etcd event becomes, and
// the order EtcdTxnQueue gives back to transactions answered out of order.

#include "registry/etcd/etcd_keys.h"

#include <string>
#include <utility>
#include <vector>

#include "etcd/mvcc/mvccpb/kv.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "registry/etcd/etcd_txn_queue.h"

namespace roster::registry {
namespace {

using internal::WatchEvent;
using internal::WatchEventType;
using ::testing::ElementsAre;

TEST(EtcdKeysTest, TheNamespaceIsABytePrefix) {
  // jetcd's namespace "dolphinscheduler" + "/nodes/worker/h:p", no separator added.
  EtcdKeys keys("/dolphinscheduler");
  EXPECT_EQ(keys.prefix(), "dolphinscheduler");
  EXPECT_EQ(keys.Key("/nodes/worker/10.0.0.2:1234"), "dolphinscheduler/nodes/worker/10.0.0.2:1234");
  EXPECT_EQ(keys.SubtreeBegin("/nodes"), "dolphinscheduler/nodes/");
  EXPECT_EQ(keys.SubtreeEnd("/nodes"), "dolphinscheduler/nodes0");  // '/' + 1 == '0'
  EXPECT_EQ(keys.SubtreeBegin("/"), "dolphinscheduler/");
  EXPECT_EQ(keys.PathOf("dolphinscheduler/nodes/master/h:1"), "/nodes/master/h:1");
  EXPECT_EQ(keys.PathOf("dolphinschedulerX/nodes"), std::nullopt);
  EXPECT_EQ(keys.PathOf("dolphinscheduler/"), std::nullopt) << "the fence key is no node";
  EXPECT_EQ(keys.PathOf("dolphinscheduler/a//b"), std::nullopt);
  EXPECT_EQ(EtcdKeys("").Key("/a"), "/a");
  // The counter key sorts before every node key, outside the watched range.
  EXPECT_LT(keys.CounterKey("/nodes"), keys.SubtreeBegin("/"));
}

TEST(EtcdKeysTest, ChildrenAreDistinctFirstSegments) {
  EtcdKeys keys("/ds");
  EXPECT_THAT(keys.ChildNames("/nodes", {"ds/nodes/worker/b:1", "ds/nodes/master/a:1",
                                         "ds/nodes/worker/a:1", "ds/nodes//bad", "ds/nodes/"}),
              ElementsAre("master", "worker"));
  EXPECT_EQ(EtcdKeys::PrefixEnd("a\xff"), "b");
  EXPECT_EQ(EtcdKeys::PrefixEnd("\xff\xff"), std::string(1, '\0'));
}

std::vector<std::string> Describe(const std::vector<WatchEvent>& events) {
  std::vector<std::string> out;
  for (const WatchEvent& event : events) {
    const char* type = event.type == WatchEventType::kCreated       ? "created"
                       : event.type == WatchEventType::kDeleted     ? "deleted"
                       : event.type == WatchEventType::kDataChanged ? "data"
                                                                    : "children";
    out.push_back(std::string(type) + " " + event.path);
  }
  return out;
}

mvccpb::Event Event(mvccpb::Event::EventType type, const std::string& key, int64_t version) {
  mvccpb::Event event;
  event.set_type(type);
  event.mutable_kv()->set_key(key);
  event.mutable_kv()->set_version(version);
  return event;
}

TEST(EtcdKeysTest, WatchEventsMakeTheSubscriptionsReadWhatChanged) {
  EtcdKeys keys("/ds");
  EXPECT_THAT(Describe(WatchEventsFor(keys, Event(mvccpb::Event::PUT, "ds/nodes/w/a:1", 1))),
              ElementsAre("created /nodes/w/a:1", "created /nodes/w", "children /nodes/w",
                          "created /nodes", "children /nodes", "created /", "children /"));
  EXPECT_THAT(Describe(WatchEventsFor(keys, Event(mvccpb::Event::PUT, "ds/nodes/w/a:1", 2))),
              ElementsAre("data /nodes/w/a:1"));
  EXPECT_THAT(
      Describe(WatchEventsFor(keys, Event(mvccpb::Event::DELETE, "ds/nodes/a:1", 0))),
      ElementsAre("data /nodes/a:1", "children /nodes/a:1", "children /nodes", "children /"));
  EXPECT_THAT(WatchEventsFor(keys, Event(mvccpb::Event::PUT, "ds/", 3)), ::testing::IsEmpty());
}

etcdserverpb::TxnRequest Read(const std::string& key) {
  etcdserverpb::TxnRequest txn;
  txn.add_success()->mutable_request_range()->set_key(key);
  return txn;
}

etcdserverpb::TxnRequest Write(const std::string& key) {
  etcdserverpb::TxnRequest txn;
  txn.add_success()->mutable_request_put()->set_key(key);
  return txn;
}

TEST(EtcdTxnQueueTest, WritesGoAloneAndAnswersComeInSubmissionOrder) {
  struct Sent {
    std::string key;
    EtcdTxnQueue::Done done;
  };
  std::vector<Sent> sent;
  EtcdTxnQueue queue(/*max_in_flight=*/2, [&](etcdserverpb::TxnRequest request,
                                              EtcdTxnQueue::Done done) {
    const auto& op = request.success(0);
    sent.push_back(Sent{op.has_request_range() ? op.request_range().key() : op.request_put().key(),
                        std::move(done)});
  });
  std::vector<std::string> answered;
  auto record = [&](std::string name) {
    return [&answered, name](grpc::Status, etcdserverpb::TxnResponse) { answered.push_back(name); };
  };
  queue.Submit(Read("r1"), record("r1"));
  queue.Submit(Read("r2"), record("r2"));
  queue.Submit(Read("r3"), record("r3"));  // over max_in_flight: waits
  queue.Submit(Write("w1"), record("w1"));
  queue.Submit(Read("r4"), record("r4"));
  ASSERT_EQ(sent.size(), 2u);
  // r2 answers first: held until r1's answer.
  std::move(sent[1].done)(grpc::Status::OK, {});
  EXPECT_THAT(answered, ElementsAre());
  ASSERT_EQ(sent.size(), 3u) << "a slot freed: r3 goes";
  EXPECT_EQ(sent[2].key, "r3");
  std::move(sent[0].done)(grpc::Status::OK, {});
  EXPECT_THAT(answered, ElementsAre("r1", "r2"));
  EXPECT_EQ(sent.size(), 3u) << "w1 waits for r3";
  std::move(sent[2].done)(grpc::Status::OK, {});
  ASSERT_EQ(sent.size(), 4u);
  EXPECT_EQ(sent[3].key, "w1");
  std::move(sent[3].done)(grpc::Status::OK, {});
  ASSERT_EQ(sent.size(), 5u) << "r4 only after w1 was answered";
  std::move(sent[4].done)(grpc::Status::OK, {});
  EXPECT_THAT(answered, ElementsAre("r1", "r2", "r3", "w1", "r4"));
}

}  // namespace
}  // namespace roster::registry
