// Heartbeats decoded ahead (docs/scale.md, "Decoding ahead"): ClusterManager decodes an event's
// payload on the registry's thread and hands the answer to NodeTable::Apply(). A table given
// decoded payloads must publish exactly what it publishes when it parses them itself: for every
// golden payload of every DolphinScheduler version, every bad or warned payload of the codec's
// tests, and for a znode written again before its first payload was applied.
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "cluster/node_table.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "tests/cluster/cluster_test_util.h"
#include "tests/cluster/heartbeat_test_payloads.h"

namespace roster::cluster {
namespace {

namespace fs = std::filesystem;
using registry::EventType;
using registry::RegistryEvent;
using ::roster::testing::HeartbeatJson;
using ::roster::testing::NodeEvent;

constexpr char kWorkers[] = "/nodes/worker";
constexpr int64_t kCzxid = 100;
// 10 s after the golden payloads' reportTime, by the registry server's clock.
constexpr int64_t kWrittenAtMs = 1729238660456;

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

// What the table published for a node: everything a payload decides.
::testing::AssertionResult SameNode(const NodeInfoPtr& parsed, const NodeInfoPtr& ahead) {
  if ((parsed == nullptr) != (ahead == nullptr)) {
    return ::testing::AssertionFailure() << "published by one table only";
  }
  if (parsed == nullptr) return ::testing::AssertionSuccess();
  if (parsed->state != ahead->state || parsed->reason != ahead->reason ||
      parsed->has_heartbeat != ahead->has_heartbeat || parsed->groups != ahead->groups ||
      parsed->incarnation != ahead->incarnation || parsed->mzxid != ahead->mzxid) {
    return ::testing::AssertionFailure()
           << "parsed: " << NodeStateName(parsed->state) << " '" << parsed->reason
           << "'; decoded ahead: " << NodeStateName(ahead->state) << " '" << ahead->reason << "'";
  }
  std::string diff;
  google::protobuf::util::MessageDifferencer differencer;
  differencer.ReportDifferencesToString(&diff);
  if (!differencer.Compare(parsed->heartbeat, ahead->heartbeat)) {
    return ::testing::AssertionFailure() << "heartbeats differ: " << diff;
  }
  return ::testing::AssertionSuccess();
}

// Two tables of one role fed the same events: `parsed_` parses every payload itself, `ahead_`
// gets each event's payload decoded ahead, unless the test says otherwise.
class NodeTableDecodeAheadTest : public ::testing::TestWithParam<NodeRole> {
 protected:
  NodeTableDecodeAheadTest() : parsed_(&options_), ahead_(&options_) { options_.role = GetParam(); }

  static const char* Root() {
    switch (GetParam()) {
      case NodeRole::kMaster:
        return "/nodes/master";
      case NodeRole::kAlertServer:
        return "/nodes/alert-server";
      case NodeRole::kWorker:
        break;
    }
    return kWorkers;
  }

  RegistryEvent Event(const std::string& path, const std::string& payload) {
    RegistryEvent event = NodeEvent(zxid_ == kCzxid ? EventType::kAdded : EventType::kUpdated, path,
                                    payload, kCzxid, zxid_ + 1);
    ++zxid_;
    event.stat.mtime_ms = kWrittenAtMs;
    return event;
  }

  // Applies `event` to both tables (decoded ahead for `ahead_` if `decode`).
  void Apply(const RegistryEvent& event, bool decode = true) {
    parsed_.Apply(Root(), event, now_, now_);
    ahead_.Apply(Root(), event, now_, now_,
                 decode ? NodeTable::Decode(options_, event.stat, event.data) : nullptr);
  }

  // Derives both tables; fails unless they publish the same changes.
  void ExpectSamePublished(const std::string& what) {
    now_ += absl::Seconds(1);
    std::vector<NodeChange> from_parsed;
    std::vector<NodeChange> from_ahead;
    parsed_.Derive(now_, now_, &from_parsed);
    ahead_.Derive(now_, now_, &from_ahead);
    ASSERT_EQ(from_parsed.size(), from_ahead.size()) << what;
    for (size_t i = 0; i < from_parsed.size(); ++i) {
      EXPECT_TRUE(SameNode(from_parsed[i].after, from_ahead[i].after)) << what;
    }
    EXPECT_EQ(parsed_.rejected_payloads(), ahead_.rejected_payloads()) << what;
    EXPECT_EQ(parsed_.heartbeat_warnings(), ahead_.heartbeat_warnings()) << what;
    EXPECT_EQ(parsed_.stale_incarnation_events(), ahead_.stale_incarnation_events()) << what;
  }

  NodeTableOptions options_;
  NodeTable parsed_;
  NodeTable ahead_;
  absl::Time now_ = absl::FromUnixMillis(kWrittenAtMs);
  int64_t zxid_ = kCzxid;
};

// One node's znode written with every payload in turn: a golden payload, a bad one, a warned
// one, ... each published alike, whether it is valid or turns the node FAULT with a reason.
TEST_P(NodeTableDecodeAheadTest, EveryPayloadIsPublishedAsIfParsedByTheTable) {
  std::vector<std::pair<std::string, std::string>> payloads;  // name, payload
  for (const auto& version : fs::directory_iterator(ROSTER_DS_TESTDATA_DIR)) {
    if (!version.is_directory() || version.path().filename() == "selection") continue;
    for (const auto& file : fs::directory_iterator(version.path())) {
      payloads.emplace_back(file.path().string(), ReadFile(file.path()));
    }
  }
  ASSERT_GE(payloads.size(), 18u);  // 2.0 .. 3.3, masters, workers and alert servers
  for (const BadPayload& c : BadPayloads()) payloads.emplace_back(c.name, c.payload);
  for (const WarnedPayload& c : WarnedPayloads()) payloads.emplace_back(c.name, c.payload);

  // Each payload as the first heartbeat of a node of its own...
  int usable = 0;  // payloads that made their node RUNNING or OVERLOAD
  for (size_t i = 0; i < payloads.size(); ++i) {
    const std::string address = absl::StrCat("10.0.", i / 200, ".", i % 200 + 10, ":1234");
    Apply(Event(absl::StrCat(Root(), "/", address), payloads[i].second));
    ExpectSamePublished(payloads[i].first);
    if (HasFailure()) return;
    const NodeState state = ahead_.Find(address)->state;
    usable += state == NodeState::kRunning || state == NodeState::kOverload;
  }
  // (both kinds were compared: every bad payload was rejected, and the golden payloads of the
  // role and most warned ones were used)...
  int64_t invalid = 0;  // the rest are empty: no heartbeat yet
  for (const BadPayload& c : BadPayloads()) invalid += c.code == absl::StatusCode::kInvalidArgument;
  EXPECT_GE(parsed_.rejected_payloads(), invalid);
  EXPECT_GE(usable, 10);
  // ...and every payload in turn as the heartbeats of one node, through FAULT and back.
  const std::string path = absl::StrCat(Root(), "/10.9.9.9:1234");
  for (const auto& [name, payload] : payloads) {
    Apply(Event(path, payload));
    ExpectSamePublished(absl::StrCat(name, ", in turn"));
    if (HasFailure()) return;
  }
}

INSTANTIATE_TEST_SUITE_P(EveryRole, NodeTableDecodeAheadTest,
                         ::testing::Values(NodeRole::kMaster, NodeRole::kWorker,
                                           NodeRole::kAlertServer),
                         [](const ::testing::TestParamInfo<NodeRole>& info) {
                           return std::string(NodeRoleName(info.param));
                         });

class NodeTableWrittenAgainTest : public NodeTableDecodeAheadTest {};

std::string Payload(int64_t report_time_ms, absl::string_view status = "NORMAL") {
  return HeartbeatJson(status, 1729238400123, 23817, report_time_ms, 0.25, 0.5);
}

// ClusterManager decodes only the first of a znode's events waiting in one inbox; a later one
// is parsed by the table. Whichever way the payloads come, the newest one is shown.
TEST_P(NodeTableWrittenAgainTest, TheNewestPayloadWinsDecodedAheadOrNot) {
  const std::string path = absl::StrCat(Root(), "/10.0.0.7:1234");
  Apply(Event(path, Payload(1729238650001)));
  ExpectSamePublished("registered");

  // Decoded ahead, then written again before the first was applied: the second is parsed.
  Apply(Event(path, Payload(1729238650002, "BUSY")), /*decode=*/true);
  Apply(Event(path, Payload(1729238650003)), /*decode=*/false);
  ExpectSamePublished("decoded, then not");
  // Parsed by the table, then decoded ahead.
  Apply(Event(path, Payload(1729238650004)), /*decode=*/false);
  Apply(Event(path, Payload(1729238650005, "BUSY")), /*decode=*/true);
  ExpectSamePublished("not decoded, then decoded");

  const NodeInfoPtr shown = ahead_.Find("10.0.0.7:1234");
  ASSERT_NE(shown, nullptr);
  EXPECT_EQ(shown->heartbeat.report_time_ms(), 1729238650005);
  EXPECT_EQ(shown->state, NodeState::kOverload);
}

INSTANTIATE_TEST_SUITE_P(EveryRole, NodeTableWrittenAgainTest,
                         ::testing::Values(NodeRole::kMaster, NodeRole::kWorker),
                         [](const ::testing::TestParamInfo<NodeRole>& info) {
                           return std::string(NodeRoleName(info.param));
                         });

class NodeTableLegacyLayoutTest : public NodeTableDecodeAheadTest {
 protected:
  // The worker's znode under group directory `group`, created or written.
  static RegistryEvent LegacyEvent(EventType type, absl::string_view group,
                                   const std::string& payload, int64_t czxid, int64_t mzxid) {
    RegistryEvent event = NodeEvent(type, absl::StrCat("/nodes/worker/", group, "/10.0.0.7:1234"),
                                    payload, czxid, mzxid);
    event.stat.mtime_ms = kWrittenAtMs;
    return event;
  }
};

// The legacy layout registers a worker under each of its group directories, and the freshest
// znode's payload is the one shown. A payload is applied once (and its bytes then dropped): a new
// znode that is not the freshest (a smaller mzxid) changes the node's paths and groups, and
// applies no payload, neither its own nor the freshest's again.
TEST_P(NodeTableLegacyLayoutTest, ANewZnodeThatIsNotTheFreshestAppliesNoPayload) {
  Apply(LegacyEvent(EventType::kAdded, "etl", Payload(1729238650001, "BUSY"), 100, 500));
  ExpectSamePublished("etl");
  Apply(LegacyEvent(EventType::kAdded, "spark", Payload(1729238650002), 101, 200));
  ExpectSamePublished("spark");

  const NodeInfoPtr shown = ahead_.Find("10.0.0.7:1234");
  ASSERT_NE(shown, nullptr);
  EXPECT_EQ(shown->heartbeat.report_time_ms(), 1729238650001);  // etl's, the freshest
  EXPECT_EQ(shown->state, NodeState::kOverload);
  EXPECT_THAT(std::vector<std::string>(shown->groups.begin(), shown->groups.end()),
              ::testing::ElementsAre("default", "etl", "spark"));
}

// An old payload is no heartbeat: a node gone FAULT for its silence stays FAULT when another of
// its znodes appears, and recovers on its next write.
TEST_P(NodeTableLegacyLayoutTest, ASilentNodeIsNotRevivedByAnOldPayload) {
  Apply(LegacyEvent(EventType::kAdded, "etl", Payload(1729238650001), 100, 500));
  ExpectSamePublished("etl");
  now_ += options_.timing.heartbeat_timeout() + absl::Seconds(1);
  std::vector<NodeChange> ticked;
  parsed_.Tick(now_, now_, &ticked);
  ahead_.Tick(now_, now_, &ticked);
  ASSERT_EQ(ahead_.Find("10.0.0.7:1234")->state, NodeState::kFault);

  Apply(LegacyEvent(EventType::kAdded, "spark", Payload(1729238650002), 101, 200));
  ExpectSamePublished("spark, older than etl");
  EXPECT_EQ(ahead_.Find("10.0.0.7:1234")->state, NodeState::kFault);

  Apply(LegacyEvent(EventType::kUpdated, "spark", Payload(1729238690000), 101, 600));
  ExpectSamePublished("spark written");
  EXPECT_NE(ahead_.Find("10.0.0.7:1234")->state, NodeState::kFault);
  EXPECT_EQ(ahead_.Find("10.0.0.7:1234")->heartbeat.report_time_ms(), 1729238690000);
}

INSTANTIATE_TEST_SUITE_P(Workers, NodeTableLegacyLayoutTest, ::testing::Values(NodeRole::kWorker),
                         [](const ::testing::TestParamInfo<NodeRole>& info) {
                           return std::string(NodeRoleName(info.param));
                         });

}  // namespace
}  // namespace roster::cluster
