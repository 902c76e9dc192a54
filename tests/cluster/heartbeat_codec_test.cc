// Heartbeat codec: the golden payloads of every DolphinScheduler version
// (tests/data/dolphinscheduler), dialects, format detection, warnings, round trips, and a table
// of bad payloads, each with the outcome an operator would see.
#include "cluster/heartbeat_codec.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <ostream>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "tests/cluster/heartbeat_test_payloads.h"
#include "tests/testing/status_matchers.h"

namespace roster::cluster {
namespace {

using ::roster::testing::StatusIs;
using ::roster::v1::Heartbeat;
using ::roster::v1::HeartbeatWarning;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// When the samples were written, by the registry server's clock (the znode's mtime): 10 s
// after their reportTime.
const absl::Time kWrittenAt = absl::FromUnixMillis(1729238660456);

// A 3.2.2/dev master and a dev worker (BaseHeartBeat.java, WorkerHeartBeat.java @ dev), plus
// roster's workerGroup extension.
constexpr char kMasterSample[] =
    R"({"processId":23817,"startupTime":1729238400123,"reportTime":1729238650456,)"
    R"("jvmCpuUsage":0.031,"cpuUsage":0.2319,"jvmMemoryUsage":0.2885,"memoryUsage":0.6248,)"
    R"("diskUsage":0.0,"serverStatus":"NORMAL","host":"10.0.0.11","port":5678})";
constexpr char kWorkerSample[] =
    R"({"processId":23817,"startupTime":1729238400123,"reportTime":1729238650456,)"
    R"("jvmCpuUsage":0.031,"cpuUsage":0.2319,"jvmMemoryUsage":0.2885,"memoryUsage":0.6248,)"
    R"("diskUsage":0.0,"serverStatus":"NORMAL","host":"10.0.0.11","port":5678,)"
    R"("workerHostWeight":100,"threadPoolUsage":0.0,"workerGroup":"etl"})";
// 3.1's fields (WorkerHeartBeat.java @ 3.1.9-release) in another order, plus an unknown one.
constexpr char kLegacySample[] =
    R"({"startupTime":1729238400123,"reportTime":1729238650456,"cpuUsage":0.21,)"
    R"("memoryUsage":0.63,"loadAverage":3.2,"serverStatus":0,"processId":812,)"
    R"("workerHostWeight":100,"workerExecThreadCount":100,)"
    R"("availablePhysicalMemorySize":12.5,"reservedMemory":0.3,"workerWaitingTaskCount":0,)"
    R"("diskAvailable":120.5,"host":"10.0.0.21","port":1234})";

MATCHER_P(EqualsProto, expected, "equals " + expected.ShortDebugString()) {
  std::string diff;
  google::protobuf::util::MessageDifferencer differencer;
  differencer.ReportDifferencesToString(&diff);
  if (differencer.Compare(expected, arg)) return true;
  *result_listener << "actual " << arg.ShortDebugString() << "; " << diff;
  return false;
}

absl::StatusOr<Heartbeat> Parse(absl::string_view payload, NodeRole role = NodeRole::kWorker,
                                HeartbeatLimits limits = {},
                                HeartbeatDialect dialect = HeartbeatDialect::kAuto) {
  return ParseHeartbeat(role, payload, limits, kWrittenAt, dialect);
}

absl::StatusOr<Heartbeat> ParseAs(HeartbeatDialect dialect, absl::string_view payload,
                                  NodeRole role = NodeRole::kWorker) {
  return ParseHeartbeat(role, payload, HeartbeatLimits(), kWrittenAt, dialect);
}

// A Heartbeat written by hand in protobuf's text format.
Heartbeat Proto(const std::string& text) {
  Heartbeat h;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &h)) << text;
  return h;
}

// `h` without what the parser adds about the payload (format, warnings): for round trips of
// heartbeats built by hand.
Heartbeat Values(Heartbeat h) {
  h.clear_format();
  h.clear_legacy_format();
  h.clear_warnings();
  return h;
}

// The reasons of `h`'s warnings, in order.
std::vector<std::string> Reasons(const Heartbeat& h) {
  std::vector<std::string> reasons;
  for (const HeartbeatWarning& w : h.warnings()) reasons.push_back(w.reason());
  return reasons;
}

Heartbeat MasterExpected() {
  Heartbeat h;
  h.set_server_status(Heartbeat::NORMAL);
  h.set_process_id(23817);
  h.set_startup_time_ms(1729238400123);
  h.set_report_time_ms(1729238650456);
  h.set_cpu_usage(0.2319);
  h.set_memory_usage(0.6248);
  h.set_disk_usage(0.0);
  h.set_jvm_cpu_usage(0.031);
  h.set_jvm_memory_usage(0.2885);
  h.set_host("10.0.0.11");
  h.set_port(5678);
  h.set_host_weight(100);
  h.set_format(Heartbeat::JSON_3_2_2_OR_3_3);
  return h;
}

TEST(HeartbeatCodecTest, ParsesTheMasterSample) {
  ASSERT_OK_AND_ASSIGN(Heartbeat h, Parse(kMasterSample, NodeRole::kMaster));
  EXPECT_THAT(h, EqualsProto(MasterExpected()));
  EXPECT_FALSE(h.has_load_average());
  EXPECT_FALSE(h.legacy_format());
}

TEST(HeartbeatCodecTest, ParsesTheWorkerSample) {
  ASSERT_OK_AND_ASSIGN(Heartbeat h, Parse(kWorkerSample, NodeRole::kWorker));
  Heartbeat expected = MasterExpected();
  expected.set_thread_pool_usage(0.0);
  expected.set_worker_group("etl");
  expected.set_format(Heartbeat::JSON_3_3);  // threadPoolUsage spelled as a double
  EXPECT_THAT(h, EqualsProto(expected));
}

TEST(HeartbeatCodecTest, ParsesTheLegacySample) {
  ASSERT_OK_AND_ASSIGN(Heartbeat h, Parse(kLegacySample, NodeRole::kWorker));
  Heartbeat expected;
  expected.set_server_status(Heartbeat::NORMAL);
  expected.set_process_id(812);
  expected.set_startup_time_ms(1729238400123);
  expected.set_report_time_ms(1729238650456);
  expected.set_cpu_usage(0.21);
  expected.set_memory_usage(0.63);
  expected.set_load_average(3.2);
  expected.set_host("10.0.0.21");
  expected.set_port(1234);
  expected.set_host_weight(100);
  expected.set_exec_threads(100);
  expected.set_available_memory_gb(12.5);
  expected.set_reserved_memory(0.3);
  expected.set_disk_available_gb(120.5);  // unknown to WorkerHeartBeat, but a 2.0-3.2.0 field
  expected.set_waiting_tasks(0);
  expected.set_legacy_format(true);
  expected.set_format(Heartbeat::JSON_3_1);
  EXPECT_THAT(h, EqualsProto(expected));
}

TEST(HeartbeatCodecTest, LegacyIntegerStatuses) {
  const std::pair<const char*, Heartbeat::ServerStatus> cases[] = {
      {R"({"serverStatus":0})", Heartbeat::NORMAL},
      // DolphinScheduler's Constants: 1 ABNORMAL_NODE_STATUS, 2 BUSY_NODE_STATUE.
      {R"({"serverStatus":1})", Heartbeat::ABNORMAL},
      {R"({"serverStatus":2})", Heartbeat::BUSY},
      {R"({"serverStatus":2.0})", Heartbeat::BUSY},  // JSON has one number type
  };
  for (const auto& [payload, status] : cases) {
    ASSERT_OK_AND_ASSIGN(Heartbeat h, Parse(payload));
    EXPECT_EQ(h.server_status(), status) << payload;
    EXPECT_TRUE(h.legacy_format()) << payload;
    EXPECT_EQ(h.format(), Heartbeat::JSON_3_1) << payload;
  }
}

TEST(HeartbeatCodecTest, StringStatuses) {
  const std::pair<const char*, Heartbeat::ServerStatus> cases[] = {
      {R"({"serverStatus":"NORMAL"})", Heartbeat::NORMAL},
      {R"({"serverStatus":"BUSY"})", Heartbeat::BUSY},
      {R"({"serverStatus":"busy"})", Heartbeat::BUSY},
      {R"({"serverStatus":"ABNORMAL"})", Heartbeat::ABNORMAL},
      {R"({"serverStatus":null})", Heartbeat::SERVER_STATUS_UNSPECIFIED},
      {R"({})", Heartbeat::SERVER_STATUS_UNSPECIFIED},
  };
  for (const auto& [payload, status] : cases) {
    ASSERT_OK_AND_ASSIGN(Heartbeat h, Parse(payload));
    EXPECT_EQ(h.server_status(), status) << payload;
    EXPECT_FALSE(h.legacy_format()) << payload;
  }
}

TEST(HeartbeatCodecTest, LegacyFieldsMarkTheLegacyFormat) {
  for (const char* payload :
       {R"({"loadAverage":1.5})", R"({"workerExecThreadCount":8})",
        R"({"availablePhysicalMemorySize":3.5})", R"({"reservedMemory":0.3})"}) {
    ASSERT_OK_AND_ASSIGN(Heartbeat h, Parse(payload));
    EXPECT_TRUE(h.legacy_format()) << payload;
  }
}

TEST(HeartbeatCodecTest, EmptyObjectGetsDefaults) {
  ASSERT_OK_AND_ASSIGN(Heartbeat h, Parse("{}"));
  Heartbeat expected;
  expected.set_host_weight(100);
  expected.set_format(Heartbeat::JSON_UNKNOWN);
  EXPECT_THAT(h, EqualsProto(expected));
}

TEST(HeartbeatCodecTest, UnknownFieldsAreIgnored) {
  const std::string payload =
      absl::StrCat(R"({"futureField":{"nested":{"deeper":[1,2,{"x":null}]},"list":[[],[[]]]},)",
                   R"("anotherOne":[{"a":"b"},true,null,1e300],"textField":"x",)",
                   std::string(kMasterSample).substr(1));
  ASSERT_OK_AND_ASSIGN(Heartbeat h, Parse(payload, NodeRole::kMaster));
  EXPECT_THAT(h, EqualsProto(MasterExpected()));
}

TEST(HeartbeatCodecTest, WorkerGroupIsIgnoredForOtherRoles) {
  for (NodeRole role : {NodeRole::kMaster, NodeRole::kAlertServer}) {
    ASSERT_OK_AND_ASSIGN(Heartbeat h, Parse(R"({"workerGroup":"a/b"})", role));
    EXPECT_EQ(h.worker_group(), "");
  }
}

TEST(HeartbeatCodecTest, ClockSkewBoundIsInclusive) {
  HeartbeatLimits limits;
  limits.max_clock_skew = absl::Minutes(5);
  const int64_t edge = absl::ToUnixMillis(kWrittenAt + absl::Minutes(5));
  EXPECT_OK(Parse(absl::StrCat(R"({"reportTime":)", edge, "}"), NodeRole::kWorker, limits));
  EXPECT_THAT(Parse(absl::StrCat(R"({"reportTime":)", edge + 1, "}"), NodeRole::kWorker, limits),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("is 5m0.001s ahead"), HasSubstr("more than the 5m allowed"),
                             HasSubstr("--max_clock_skew_ms"))));
}

// Without the znode's mtime there is no reference that a writer does not control: the times
// are kept as written, whatever they say.
TEST(HeartbeatCodecTest, ClockSkewIsNotCheckedWithoutAReference) {
  ASSERT_OK_AND_ASSIGN(Heartbeat h,
                       ParseHeartbeat(NodeRole::kWorker, R"({"reportTime":4102444800000})",
                                      HeartbeatLimits(), absl::InfinitePast()));
  EXPECT_EQ(h.report_time_ms(), 4102444800000);
  EXPECT_THAT(
      ParseHeartbeat(NodeRole::kWorker, R"({"startupTime":-1})", HeartbeatLimits(),
                     absl::InfinitePast()),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("startupTime -1 is negative")));
}

TEST(HeartbeatCodecTest, SizeLimitIsInclusive) {
  HeartbeatLimits limits;
  const std::string padding(limits.max_payload_bytes - std::string(R"({"x":""})").size(), 'a');
  const std::string at_limit = absl::StrCat(R"({"x":")", padding, R"("})");
  ASSERT_EQ(at_limit.size(), limits.max_payload_bytes);
  EXPECT_OK(Parse(at_limit));
  EXPECT_THAT(
      Parse(at_limit + " "),
      StatusIs(absl::StatusCode::kInvalidArgument,
               "heartbeat is 65537 bytes, over the 65536-byte limit (--max_heartbeat_bytes)"));
}

// What protobuf's parser does with the oddities a hand-written or hostile payload may carry.
// These are accepted (pinned here so that an upgrade that changes them is noticed).
TEST(HeartbeatCodecTest, ProtobufLeniencies) {
  // A repeated serverStatus (a google.protobuf.Value, not a proto3 optional): the last wins.
  ASSERT_OK_AND_ASSIGN(Heartbeat h, Parse(R"({"serverStatus":"BUSY","serverStatus":"NORMAL"})"));
  EXPECT_EQ(h.server_status(), Heartbeat::NORMAL);
  ASSERT_OK_AND_ASSIGN(h, Parse(R"({"serverStatus":"NORMAL","serverStatus":2})"));
  EXPECT_EQ(h.server_status(), Heartbeat::BUSY);
  EXPECT_TRUE(h.legacy_format());
  // Integers as strings (proto3 JSON writes int64 that way), and integral floats.
  ASSERT_OK_AND_ASSIGN(h, Parse(R"({"startupTime":"1729238400123","port":"5678"})"));
  EXPECT_EQ(h.startup_time_ms(), 1729238400123);
  EXPECT_EQ(h.port(), 5678);
  ASSERT_OK_AND_ASSIGN(h, Parse(R"({"port":5678.0,"processId":8e2})"));
  EXPECT_EQ(h.port(), 5678);
  EXPECT_EQ(h.process_id(), 800);
  // Doubles as strings.
  ASSERT_OK_AND_ASSIGN(h, Parse(R"({"cpuUsage":"0.5"})"));
  EXPECT_EQ(h.cpu_usage(), 0.5);
  // Not strict JSON: single quotes, unquoted keys, a trailing comma.
  ASSERT_OK_AND_ASSIGN(h, Parse(R"({'host':'a',port:80,})"));
  EXPECT_EQ(h.host(), "a");
  EXPECT_EQ(h.port(), 80);
  // null is "absent" for ordinary fields.
  ASSERT_OK_AND_ASSIGN(h, Parse(R"({"port":null,"host":null,"workerHostWeight":null})"));
  EXPECT_EQ(h.port(), 0);
  EXPECT_EQ(h.host_weight(), 100);
  // -0 is normalised.
  ASSERT_OK_AND_ASSIGN(h, Parse(R"({"cpuUsage":-0.0})"));
  EXPECT_FALSE(std::signbit(h.cpu_usage()));
  // Nesting up to the limit in unknown fields is fine.
  ASSERT_OK(Parse(absl::StrCat(R"({"x":)", std::string(31, '['), std::string(31, ']'), "}")));
}

// DS's strategies compute with -1 (LowerWeightRoundRobin @ 3.1.9-release): kept, with a warning.
TEST(HeartbeatCodecTest, NegativeLoadAverageIsKeptWithAWarning) {
  ASSERT_OK_AND_ASSIGN(Heartbeat h, Parse(R"({"loadAverage":-1,"serverStatus":0})"));
  ASSERT_TRUE(h.has_load_average());
  EXPECT_EQ(h.load_average(), -1);
  EXPECT_THAT(Reasons(h),
              ElementsAre("loadAverage -1: unknown (DS writes -1 when it cannot measure)"));
  EXPECT_TRUE(h.legacy_format());
  ASSERT_OK_AND_ASSIGN(h, Parse(R"({"loadAverage":0})"));
  ASSERT_TRUE(h.has_load_average());
  EXPECT_EQ(h.load_average(), 0);
  EXPECT_THAT(h.warnings(), IsEmpty());
}

TEST(HeartbeatCodecTest, TwoMebibytePayloadUnderARaisedLimitIsAccepted) {
  HeartbeatLimits limits;
  limits.max_payload_bytes = 3 << 20;
  const std::string payload = absl::StrCat(R"({"padding":")", std::string(2 << 20, 'p'), R"(",)",
                                           std::string(kMasterSample).substr(1));
  ASSERT_GT(payload.size(), 2u << 20);
  ASSERT_OK_AND_ASSIGN(Heartbeat h, Parse(payload, NodeRole::kMaster, limits));
  EXPECT_THAT(h, EqualsProto(MasterExpected()));
}

TEST(HeartbeatCodecTest, EncodeWritesDolphinSchedulersFormat) {
  ASSERT_OK_AND_ASSIGN(Heartbeat master, Parse(kMasterSample, NodeRole::kMaster));
  EXPECT_EQ(EncodeHeartbeat(NodeRole::kMaster, master), kMasterSample);
  ASSERT_OK_AND_ASSIGN(Heartbeat worker, Parse(kWorkerSample, NodeRole::kWorker));
  EXPECT_EQ(EncodeHeartbeat(NodeRole::kWorker, worker), kWorkerSample);
}

TEST(HeartbeatCodecTest, EncodeRoundTrips) {
  std::vector<std::pair<NodeRole, Heartbeat>> cases;
  cases.emplace_back(NodeRole::kMaster, MasterExpected());
  {
    Heartbeat h = MasterExpected();
    h.set_server_status(Heartbeat::BUSY);
    h.set_cpu_usage(0.1 + 0.2);  // needs 17 digits
    h.set_memory_usage(1.0 / 3);
    h.set_disk_usage(1);
    h.set_jvm_cpu_usage(5e-324);  // the smallest denormal
    h.set_host("host\"with\\odd'chars\xc3\xa9");
    h.set_port(65535);
    h.set_host_weight(0);
    h.set_thread_pool_usage(0.75);
    h.set_worker_group("etl \"nightly\" \\ batch");
    cases.emplace_back(NodeRole::kWorker, h);
  }
  {
    Heartbeat h;  // minimal: no status, host or port
    h.set_host_weight(10000);
    cases.emplace_back(NodeRole::kWorker, h);
  }
  {
    Heartbeat h = MasterExpected();
    h.set_server_status(Heartbeat::ABNORMAL);
    cases.emplace_back(NodeRole::kAlertServer, h);
  }
  for (const auto& [role, heartbeat] : cases) {
    const std::string json = EncodeHeartbeat(role, heartbeat);
    ASSERT_OK_AND_ASSIGN(Heartbeat parsed, Parse(json, role));
    EXPECT_THAT(Values(parsed), EqualsProto(Values(heartbeat))) << json;
    EXPECT_THAT(parsed.warnings(), IsEmpty()) << json;
  }
}

// Every status the proto defines (a new one without an encoder spelling fails here), for
// every role, in the sample payload and in a minimal one: what EncodeHeartbeat writes,
// ParseHeartbeat reads back unchanged and the node is judged by that status.
TEST(HeartbeatCodecTest, EncodeRoundTripsEveryStatusForEveryRole) {
  const google::protobuf::EnumDescriptor* statuses = Heartbeat::ServerStatus_descriptor();
  ASSERT_GE(statuses->value_count(), 4);
  for (int i = 0; i < statuses->value_count(); ++i) {
    const auto status = static_cast<Heartbeat::ServerStatus>(statuses->value(i)->number());
    for (NodeRole role : {NodeRole::kMaster, NodeRole::kWorker, NodeRole::kAlertServer}) {
      Heartbeat minimal;
      minimal.set_server_status(status);
      minimal.set_host_weight(100);  // what the parser fills in when absent
      Heartbeat full = MasterExpected();
      full.set_server_status(status);
      if (role == NodeRole::kWorker) {
        full.set_thread_pool_usage(0.5);
        full.set_worker_group("etl");
      }
      for (const Heartbeat& heartbeat : {minimal, full}) {
        const std::string json = EncodeHeartbeat(role, heartbeat);
        SCOPED_TRACE(
            absl::StrCat(statuses->value(i)->name(), " as ", NodeRoleName(role), ": ", json));
        if (status == Heartbeat::SERVER_STATUS_UNSPECIFIED) {
          EXPECT_THAT(json, HasSubstr(R"("serverStatus":null)"));  // Jackson's Java null
        } else {
          EXPECT_THAT(json, HasSubstr(absl::StrCat(R"("serverStatus":")",
                                                   statuses->value(i)->name(), R"(")")));
        }
        ASSERT_OK_AND_ASSIGN(Heartbeat parsed, Parse(json, role));
        EXPECT_THAT(Values(parsed), EqualsProto(Values(heartbeat)));
      }
    }
  }
}

// DolphinScheduler spells statuses in upper case, but a hand-written or older payload may not.
TEST(HeartbeatCodecTest, StatusSpellingsAreCaseInsensitive) {
  for (const auto& [text, status] : std::vector<std::pair<std::string, Heartbeat::ServerStatus>>{
           {"normal", Heartbeat::NORMAL},
           {"Busy", Heartbeat::BUSY},
           {"abnormal", Heartbeat::ABNORMAL},
           {"ABNORMAL", Heartbeat::ABNORMAL}}) {
    ASSERT_OK_AND_ASSIGN(Heartbeat h, Parse(absl::StrCat(R"({"serverStatus":")", text, R"("})")));
    EXPECT_EQ(h.server_status(), status) << text;
    EXPECT_FALSE(h.legacy_format()) << text;
  }
}

class HeartbeatCodecBadPayloadTest : public ::testing::TestWithParam<BadPayload> {};

TEST_P(HeartbeatCodecBadPayloadTest, IsRejectedWithAReason) {
  const BadPayload& c = GetParam();
  absl::StatusOr<Heartbeat> result = Parse(c.payload, c.role);
  EXPECT_THAT(result, StatusIs(c.code, HasSubstr(c.reason)));
  if (!result.ok()) {
    // Messages quote a bounded, escaped excerpt: never the payload itself.
    const std::string message(result.status().message());
    EXPECT_LE(message.size(), 500u) << message;
    for (char ch : message) {
      EXPECT_TRUE(ch >= 0x20 && ch < 0x7f) << "unprintable byte in: " << absl::CHexEscape(message);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Table, HeartbeatCodecBadPayloadTest, ::testing::ValuesIn(BadPayloads()),
                         [](const ::testing::TestParamInfo<BadPayload>& info) {
                           return info.param.name;
                         });

TEST(HeartbeatCodecTest, TheBadPayloadTableIsLargeAndNamesAreUnique) {
  std::vector<BadPayload> cases = BadPayloads();
  EXPECT_GE(cases.size(), 60u);
  std::set<std::string> names;
  for (const BadPayload& c : cases) EXPECT_TRUE(names.insert(c.name).second) << c.name;
}

// ---------------------------------------------------------------------------------------------
// Out-of-range load figures: accepted, kept as written (NaN and infinities as 0), with a
// warning naming the field and the value.

class HeartbeatCodecWarningTest : public ::testing::TestWithParam<WarnedPayload> {};

TEST_P(HeartbeatCodecWarningTest, IsAcceptedWithAWarning) {
  const WarnedPayload& c = GetParam();
  ASSERT_OK_AND_ASSIGN(Heartbeat h, ParseAs(c.dialect, c.payload));
  ASSERT_EQ(h.warnings_size(), 1) << h.ShortDebugString();
  EXPECT_EQ(h.warnings(0).field(), c.field);
  EXPECT_EQ(h.warnings(0).value(), c.value);
  EXPECT_EQ(h.warnings(0).reason(), c.reason);
}

INSTANTIATE_TEST_SUITE_P(Table, HeartbeatCodecWarningTest, ::testing::ValuesIn(WarnedPayloads()),
                         [](const ::testing::TestParamInfo<WarnedPayload>& info) {
                           return info.param.name;
                         });

TEST(HeartbeatCodecTest, OutOfRangeValuesAreKeptAsWritten) {
  ASSERT_OK_AND_ASSIGN(Heartbeat h, Parse(R"({"cpuUsage":1.73,"memoryUsage":-0.25,)"
                                          R"("jvmMemoryUsage":-3.01989888E8,"diskUsage":"NaN",)"
                                          R"("workerHostWeight":-5,"processId":-7})"));
  EXPECT_EQ(h.cpu_usage(), 1.73);
  EXPECT_EQ(h.memory_usage(), -0.25);
  EXPECT_EQ(h.jvm_memory_usage(), -301989888.0);
  EXPECT_EQ(h.disk_usage(), 0);
  EXPECT_EQ(h.host_weight(), 0);
  EXPECT_EQ(h.process_id(), -7);
  EXPECT_EQ(h.warnings_size(), 6);
}

// ---------------------------------------------------------------------------------------------
// threadPoolUsage: 3.2.1/3.2.2's int task count or dev's double fraction.

struct ThreadPoolCase {
  std::string payload;
  HeartbeatDialect dialect;
  int32_t running_tasks;
  double thread_pool_usage;
};

TEST(HeartbeatCodecTest, ThreadPoolUsageIsACountOrAFraction) {
  const ThreadPoolCase cases[] = {
      // Jackson spells a Java int without a '.' (WorkerHeartBeat.java @ 3.2.1-release: int).
      {R"({"threadPoolUsage":2})", HeartbeatDialect::kAuto, 2, 0},
      {R"({"threadPoolUsage":0})", HeartbeatDialect::kAuto, 0, 0},
      {R"({"threadPoolUsage":1})", HeartbeatDialect::kAuto, 1, 0},
      {R"({"threadPoolUsage":"11"})", HeartbeatDialect::kAuto, 11, 0},
      {R"({ "threadPoolUsage" : 7 , "x":[1,{"threadPoolUsage":0.5}]})", HeartbeatDialect::kAuto, 7,
       0},
      // ... and a Java double always with one (WorkerHeartBeat.java @ dev: double).
      {R"({"threadPoolUsage":1.0})", HeartbeatDialect::kAuto, 0, 1.0},
      {R"({"threadPoolUsage":0.0})", HeartbeatDialect::kAuto, 0, 0.0},
      {R"({"threadPoolUsage":0.25})", HeartbeatDialect::kAuto, 0, 0.25},
      {R"({"threadPoolUsage":2.5E-1})", HeartbeatDialect::kAuto, 0, 0.25},
      // Spelling unknown (an escaped key): a whole number above 1 is a count.
      {R"({"thread\u0050oolUsage":3})", HeartbeatDialect::kAuto, 3, 0},
      {R"({"thread\u0050oolUsage":1})", HeartbeatDialect::kAuto, 0, 1.0},
      // The dialect decides, whatever the spelling.
      {R"({"threadPoolUsage":1.0})", HeartbeatDialect::kJson321, 1, 0},
      {R"({"threadPoolUsage":0})", HeartbeatDialect::kJson322, 0, 0},
      {R"({"threadPoolUsage":1})", HeartbeatDialect::kJson33, 0, 1.0},
  };
  for (const ThreadPoolCase& c : cases) {
    SCOPED_TRACE(absl::StrCat(c.payload, " as ", HeartbeatDialectName(c.dialect)));
    ASSERT_OK_AND_ASSIGN(Heartbeat h, ParseAs(c.dialect, c.payload));
    EXPECT_EQ(h.running_tasks(), c.running_tasks);
    EXPECT_EQ(h.thread_pool_usage(), c.thread_pool_usage);
    EXPECT_THAT(h.warnings(), IsEmpty());
  }
}

// ---------------------------------------------------------------------------------------------
// Format detection: what distinguishes each version's payload (heartbeat.proto, Format).

TEST(HeartbeatCodecTest, FormatComesFromThePayload) {
  const std::pair<const char*, Heartbeat::Format> cases[] = {
      {"0,0,0,0,0,0,0,1729238400123,1729238650456,0,1,0,0,0", Heartbeat::TEXT_2_0},
      {" 0,0,0,0,0,0,1729238400123,1729238650456,0,1,0,0,0\n", Heartbeat::TEXT_3_0},
      {R"({"serverStatus":2})", Heartbeat::JSON_3_1},
      {R"({"loadAverage":1.0,"maxCpuloadAvg":16.0})", Heartbeat::JSON_3_1},
      {R"({"availablePhysicalMemorySize":3.0,"processId":5})", Heartbeat::JSON_3_1},
      {R"({"serverStatus":"ABNORMAL"})", Heartbeat::JSON_3_2_0},
      {R"({"availablePhysicalMemorySize":3.0,"host":"h","port":1})", Heartbeat::JSON_3_2_0},
      {R"({"workerExecThreadCount":100,"serverStatus":"NORMAL"})", Heartbeat::JSON_3_2_0},
      {R"({"jvmMemoryUsage":0.5,"serverStatus":"NORMAL"})", Heartbeat::JSON_3_2_1},
      {R"({"diskUsage":0.0})", Heartbeat::JSON_3_2_1},
      {R"({"threadPoolUsage":3})", Heartbeat::JSON_3_2_1},
      {R"({"jvmCpuUsage":0.1,"threadPoolUsage":3})", Heartbeat::JSON_3_2_2},
      {R"({"jvmCpuUsage":0.1})", Heartbeat::JSON_3_2_2_OR_3_3},
      {R"({"jvmCpuUsage":0.1,"threadPoolUsage":0.0})", Heartbeat::JSON_3_3},
      {R"({"serverStatus":"NORMAL","host":"h","port":1})", Heartbeat::JSON_UNKNOWN},
      {"{}", Heartbeat::JSON_UNKNOWN},
  };
  for (const auto& [payload, format] : cases) {
    ASSERT_OK_AND_ASSIGN(Heartbeat h, Parse(payload));
    EXPECT_EQ(Heartbeat::Format_Name(h.format()), Heartbeat::Format_Name(format)) << payload;
    const bool legacy = format == Heartbeat::TEXT_2_0 || format == Heartbeat::TEXT_3_0 ||
                        format == Heartbeat::JSON_3_1;
    EXPECT_EQ(h.legacy_format(), legacy) << payload;
  }
}

// The dialect changes what values mean, never whether a payload parses: a mixed cluster
// mid-upgrade has every format at once.
TEST(HeartbeatCodecTest, EveryDialectReadsEveryFormat) {
  const char* const payloads[] = {
      "0.5,0.5,1,1,16,0.3,1729238400123,1729238650456,2,812,100,100,0",
      R"({"serverStatus":1,"loadAverage":2.0})",
      R"({"serverStatus":"ABNORMAL","host":"h","port":1})",
      R"({"jvmCpuUsage":0.1,"threadPoolUsage":0.5,"serverStatus":"BUSY"})",
  };
  for (HeartbeatDialect dialect :
       {HeartbeatDialect::kAuto, HeartbeatDialect::kText20, HeartbeatDialect::kText30,
        HeartbeatDialect::kJson31, HeartbeatDialect::kJson320, HeartbeatDialect::kJson321,
        HeartbeatDialect::kJson322, HeartbeatDialect::kJson33}) {
    for (const char* payload : payloads) {
      EXPECT_OK(ParseAs(dialect, payload)) << HeartbeatDialectName(dialect) << ": " << payload;
    }
  }
}

TEST(HeartbeatCodecTest, DialectNames) {
  EXPECT_EQ(HeartbeatDialectName(HeartbeatDialect::kAuto), "auto");
  EXPECT_EQ(HeartbeatDialectName(HeartbeatDialect::kText20), "2.0-text");
  EXPECT_EQ(HeartbeatDialectName(HeartbeatDialect::kText30), "3.0-text");
  EXPECT_EQ(HeartbeatDialectName(HeartbeatDialect::kJson31), "3.1-json");
  EXPECT_EQ(HeartbeatDialectName(HeartbeatDialect::kJson320), "3.2.0-json");
  EXPECT_EQ(HeartbeatDialectName(HeartbeatDialect::kJson321), "3.2.1-json");
  EXPECT_EQ(HeartbeatDialectName(HeartbeatDialect::kJson322), "3.2.2-json");
  EXPECT_EQ(HeartbeatDialectName(HeartbeatDialect::kJson33), "3.3-json");
}

// ---------------------------------------------------------------------------------------------
// Golden payloads: every file under tests/data/dolphinscheduler/<version>/, built from that
// version's encoder (each folder's SOURCES.md). Expected values worked out by hand.

struct Golden {
  HeartbeatDialect dialect;
  NodeRole role;
  std::string expected;               // the Heartbeat, protobuf text format
  std::vector<std::string> warnings;  // their reasons, in order
  bool encodes_back = true;           // false: a value was not finite (read as 0)
};

constexpr char kTimes[] = "startup_time_ms: 1729238400123 report_time_ms: 1729238650456 ";

std::map<std::string, Golden> GoldenExpectations() {
  const std::string t = kTimes;
  const std::string unknown_cpu = "cpuUsage -1: unknown (DS writes -1 when it cannot measure)";
  return {
      {"2.0/master.txt",
       {HeartbeatDialect::kText20,
        NodeRole::kMaster,
        t + "server_status: NORMAL process_id: 23817 cpu_usage: 0.23 memory_usage: 0.62 "
            "disk_available_gb: 120.55 load_average: 3.2 available_memory_gb: 12.5 "
            "max_cpu_load_avg: 16 reserved_memory: 0.3 host_weight: 0 exec_threads: 0 "
            "waiting_tasks: 0 legacy_format: true format: TEXT_2_0",
        {}}},
      {"2.0/worker.txt",
       {HeartbeatDialect::kText20,
        NodeRole::kWorker,
        t + "server_status: NORMAL process_id: 812 cpu_usage: -1 memory_usage: 0.71 "
            "disk_available_gb: 88.41 load_average: 5.76 available_memory_gb: 3.1 "
            "max_cpu_load_avg: 16 reserved_memory: 0.3 host_weight: 100 exec_threads: 100 "
            "waiting_tasks: 3 legacy_format: true format: TEXT_2_0",
        {unknown_cpu}}},
      {"3.0/master.txt",
       {HeartbeatDialect::kText30,
        NodeRole::kMaster,
        t + "server_status: NORMAL process_id: 23817 cpu_usage: 0.31 memory_usage: 0.58 "
            "load_average: 2.45 available_memory_gb: 20.1 max_cpu_load_avg: 16 "
            "reserved_memory: 0.3 host_weight: 0 exec_threads: 0 waiting_tasks: 0 "
            "legacy_format: true format: TEXT_3_0",
        {}}},
      {"3.0/worker.txt",
       {HeartbeatDialect::kText30,
        NodeRole::kWorker,
        t + "server_status: ABNORMAL process_id: 812 cpu_usage: 0.97 memory_usage: 0.99 "
            "load_average: 18.4 available_memory_gb: 0.25 max_cpu_load_avg: 16 "
            "reserved_memory: 0.3 host_weight: 100 exec_threads: 100 waiting_tasks: 0 "
            "legacy_format: true format: TEXT_3_0",
        {}}},
      {"3.1/master.json",
       {HeartbeatDialect::kJson31,
        NodeRole::kMaster,
        t + "process_id: 23817 cpu_usage: 0.21 memory_usage: 0.63 load_average: 3.2 "
            "available_memory_gb: 11.8 max_cpu_load_avg: 16 reserved_memory: 0.3 "
            "disk_available_gb: 120.5 host_weight: 100 legacy_format: true format: JSON_3_1",
        {}}},
      {"3.1/worker.json",
       {HeartbeatDialect::kJson31,
        NodeRole::kWorker,
        t + "server_status: NORMAL process_id: 812 cpu_usage: -1 memory_usage: 0.7 "
            "load_average: -1 available_memory_gb: 9.6 max_cpu_load_avg: 16 "
            "reserved_memory: 0.3 disk_available_gb: 88.41 host_weight: 100 waiting_tasks: 2 "
            "exec_threads: 100 legacy_format: true format: JSON_3_1",
        {unknown_cpu, "loadAverage -1: unknown (DS writes -1 when it cannot measure)"}}},
      {"3.1/worker-busy.json",
       {HeartbeatDialect::kJson31,
        NodeRole::kWorker,
        t + "server_status: BUSY process_id: 813 cpu_usage: 0.64 memory_usage: 0.55 "
            "load_average: 7.5 available_memory_gb: 14.4 max_cpu_load_avg: 16 "
            "reserved_memory: 0.3 disk_available_gb: 88.41 host_weight: 100 waiting_tasks: 120 "
            "exec_threads: 100 legacy_format: true format: JSON_3_1",
        {}}},
      {"3.2.0/master.json",
       {HeartbeatDialect::kJson320,
        NodeRole::kMaster,
        t + "server_status: NORMAL process_id: 23817 cpu_usage: 0.18 memory_usage: 0.625 "
            "available_memory_gb: 6 reserved_memory: 0.3 disk_available_gb: 120.5 "
            "host: '10.0.0.11' port: 5678 host_weight: 100 format: JSON_3_2_0",
        {}}},
      {"3.2.0/worker.json",
       {HeartbeatDialect::kJson320,
        NodeRole::kWorker,
        t + "server_status: ABNORMAL process_id: 812 cpu_usage: 2.75 memory_usage: 0.75 "
            "load_average: 0 available_memory_gb: 4 reserved_memory: 0.3 "
            "disk_available_gb: 88.41 host: '10.0.0.21' port: 1234 host_weight: 100 "
            "waiting_tasks: 0 exec_threads: 100 format: JSON_3_2_0",
        {"cpuUsage 2.75 is above 1 (DS 3.2.0 on Kubernetes writes the load average)"}}},
      {"3.2.0/alert-server.json",
       {HeartbeatDialect::kJson320,
        NodeRole::kAlertServer,
        t + "process_id: 30001 cpu_usage: 0.18 memory_usage: 0.625 available_memory_gb: 6 "
            "host: '10.0.0.31' port: 50052 host_weight: 100 format: JSON_3_2_0",
        {}}},
      {"3.2.1/master.json",
       {HeartbeatDialect::kJson321,
        NodeRole::kMaster,
        t + "server_status: BUSY process_id: 23817 cpu_usage: 1.73 jvm_memory_usage: 0.28125 "
            "memory_usage: 0.6248 disk_usage: 0 host: '10.0.0.11' port: 5678 host_weight: 100 "
            "format: JSON_3_2_1",
        {"cpuUsage 1.73 is above 1 (DS 3.2.1 adds system and process CPU)"}}},
      {"3.2.1/worker.json",
       {HeartbeatDialect::kJson321,
        NodeRole::kWorker,
        t + "server_status: BUSY process_id: 812 cpu_usage: 0.4 jvm_memory_usage: 0.5 "
            "memory_usage: 0.71 disk_usage: 0 host: '10.0.0.21' port: 1234 host_weight: 100 "
            "running_tasks: 2 format: JSON_3_2_1",
        {}}},
      {"3.2.1/alert-server.json",
       {HeartbeatDialect::kJson321,
        NodeRole::kAlertServer,
        t + "server_status: NORMAL process_id: 30001 cpu_usage: 0.35 memory_usage: 0.6248 "
            "jvm_memory_usage: 0.125 host: '10.0.0.31' port: 50052 host_weight: 100 "
            "format: JSON_3_2_1",
        {}}},
      {"3.2.2/master.json",
       {HeartbeatDialect::kJson322,
        NodeRole::kMaster,
        t + "server_status: NORMAL process_id: 23817 jvm_cpu_usage: 0.031 cpu_usage: 0.2319 "
            "jvm_memory_usage: 0.2885 memory_usage: 0.6248 disk_usage: 0 host: '10.0.0.11' "
            "port: 5678 host_weight: 100 format: JSON_3_2_2_OR_3_3",
        {}}},
      {"3.2.2/worker.json",
       {HeartbeatDialect::kJson322,
        NodeRole::kWorker,
        t + "server_status: BUSY process_id: 812 jvm_cpu_usage: 0.012 cpu_usage: 0 "
            "jvm_memory_usage: -301989888 memory_usage: 0.71 disk_usage: 0 host: '10.0.0.21' "
            "port: 1234 host_weight: 100 running_tasks: 11 format: JSON_3_2_2",
        {"cpuUsage NaN is not a number: read as 0",
         "jvmMemoryUsage -301989888 is negative (DS divides by jvm.memory.max, which is -1 for a "
         "pool without a limit)"},
        /*encodes_back=*/false}},
      {"3.2.2/alert-server.json",
       {HeartbeatDialect::kJson322,
        NodeRole::kAlertServer,
        t + "server_status: NORMAL process_id: 30001 jvm_cpu_usage: 0.004 cpu_usage: 0.35 "
            "jvm_memory_usage: 0.125 memory_usage: 0.6248 disk_usage: 0 host: '10.0.0.31' "
            "port: 50052 host_weight: 100 format: JSON_3_2_2_OR_3_3",
        {}}},
      {"3.3/master.json",
       {HeartbeatDialect::kJson33,
        NodeRole::kMaster,
        t + "server_status: NORMAL process_id: 23817 jvm_cpu_usage: 0.031 cpu_usage: 0.2319 "
            "jvm_memory_usage: 0.2885 memory_usage: 0.6248 disk_usage: 0 host: '10.0.0.11' "
            "port: 5678 host_weight: 100 format: JSON_3_2_2_OR_3_3",
        {}}},
      {"3.3/worker.json",
       {HeartbeatDialect::kJson33,
        NodeRole::kWorker,
        t + "server_status: BUSY process_id: 812 jvm_cpu_usage: 0.012 cpu_usage: 0.4 "
            "jvm_memory_usage: 0.5 memory_usage: 0.71 disk_usage: 0 host: '10.0.0.21' "
            "port: 1234 host_weight: 100 thread_pool_usage: 1.25 format: JSON_3_3",
        {"threadPoolUsage 1.25 is above 1 (DS 3.3 counts queued task executors against the "
         "exec threads)"}}},
      {"3.3/alert-server.json",
       {HeartbeatDialect::kJson33,
        NodeRole::kAlertServer,
        t + "server_status: NORMAL process_id: 30001 jvm_cpu_usage: 0.004 cpu_usage: 0.35 "
            "jvm_memory_usage: 0.125 memory_usage: 0.6248 disk_usage: 0 host: '10.0.0.31' "
            "port: 50052 host_weight: 100 format: JSON_3_2_2_OR_3_3",
        {}}},
  };
}

// Every payload file under the golden folders, by "<version>/<file>".
std::map<std::string, std::string> GoldenFiles() {
  namespace fs = std::filesystem;
  std::map<std::string, std::string> files;
  for (const char* version : {"2.0", "3.0", "3.1", "3.2.0", "3.2.1", "3.2.2", "3.3"}) {
    const fs::path dir = fs::path(ROSTER_DS_TESTDATA_DIR) / version;
    EXPECT_TRUE(fs::is_regular_file(dir / "SOURCES.md")) << dir;
    for (const fs::directory_entry& entry : fs::directory_iterator(dir)) {
      if (entry.path().filename() == "SOURCES.md") continue;
      std::ifstream in(entry.path(), std::ios::binary);
      std::ostringstream text;
      text << in.rdbuf();
      files[absl::StrCat(version, "/", entry.path().filename().string())] = text.str();
    }
  }
  return files;
}

TEST(HeartbeatCodecGoldenTest, EveryFileHasAnExpectationAndEveryExpectationAFile) {
  const std::map<std::string, std::string> files = GoldenFiles();
  const std::map<std::string, Golden> expectations = GoldenExpectations();
  std::vector<std::string> file_names, expected_names;
  for (const auto& [name, payload] : files) file_names.push_back(name);
  for (const auto& [name, golden] : expectations) expected_names.push_back(name);
  EXPECT_THAT(file_names, ElementsAreArray(expected_names));
}

// No node of any version is FAULT for what it writes; values and warnings are as worked out
// by hand, whether the version is given or detected.
TEST(HeartbeatCodecGoldenTest, EveryVersionsPayloadsParse) {
  const std::map<std::string, Golden> expectations = GoldenExpectations();
  for (const auto& [name, payload] : GoldenFiles()) {
    SCOPED_TRACE(name);
    auto it = expectations.find(name);
    if (it == expectations.end()) continue;  // reported by the test above
    const Golden& golden = it->second;
    for (HeartbeatDialect dialect : {HeartbeatDialect::kAuto, golden.dialect}) {
      SCOPED_TRACE(HeartbeatDialectName(dialect));
      ASSERT_OK_AND_ASSIGN(Heartbeat h, ParseAs(dialect, payload, golden.role));
      EXPECT_THAT(Values(h), EqualsProto(Values(Proto(golden.expected))));
      EXPECT_EQ(Heartbeat::Format_Name(h.format()),
                Heartbeat::Format_Name(Proto(golden.expected).format()));
      EXPECT_EQ(h.legacy_format(), Proto(golden.expected).legacy_format());
      EXPECT_THAT(Reasons(h), ElementsAreArray(golden.warnings));
    }
  }
}

// EncodeHeartbeat writes each version's payload byte for byte.
TEST(HeartbeatCodecGoldenTest, EncodeWritesEachVersionsPayloadExactly) {
  const std::map<std::string, Golden> expectations = GoldenExpectations();
  for (const auto& [name, payload] : GoldenFiles()) {
    auto it = expectations.find(name);
    if (it == expectations.end() || !it->second.encodes_back) continue;
    const Golden& golden = it->second;
    EXPECT_EQ(EncodeHeartbeat(golden.role, Proto(golden.expected), golden.dialect), payload)
        << name;
  }
}

// Every prefix of every version's payload (a znode read mid-write by a broken client, a
// truncated copy) is a heartbeat, no heartbeat yet, or a reason: never a crash.
TEST(HeartbeatCodecGoldenTest, TruncatedPayloadsAreAStatus) {
  for (const auto& [name, payload] : GoldenFiles()) {
    for (size_t n = 0; n <= payload.size(); ++n) {
      const absl::StatusOr<Heartbeat> h = Parse(payload.substr(0, n));
      EXPECT_THAT(h.status().code(),
                  ::testing::AnyOf(absl::StatusCode::kOk, absl::StatusCode::kInvalidArgument,
                                   absl::StatusCode::kNotFound))
          << name << " cut at " << n << ": " << h.status();
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Encoding for every dialect.

// The heartbeat a version's node of `role` carries (only the fields that version writes).
Heartbeat VersionHeartbeat(HeartbeatDialect dialect, NodeRole role) {
  const bool worker = role == NodeRole::kWorker;
  const std::string t = kTimes;
  switch (dialect) {
    case HeartbeatDialect::kText20:
    case HeartbeatDialect::kText30: {
      Heartbeat h = Proto(t +
                          "server_status: BUSY process_id: 9 cpu_usage: 0.5 memory_usage: 1e-4 "
                          "load_average: 12345678.5 available_memory_gb: 3 "
                          "max_cpu_load_avg: 16 reserved_memory: 0.3 host_weight: 7 "
                          "exec_threads: 8 waiting_tasks: 9");
      if (dialect == HeartbeatDialect::kText20) h.set_disk_available_gb(0.001);
      return h;
    }
    case HeartbeatDialect::kJson31:
      return Proto(t +
                   "process_id: 9 cpu_usage: 0.5 memory_usage: 0.25 load_average: 3 "
                   "available_memory_gb: 3 max_cpu_load_avg: 16 reserved_memory: 0.3 "
                   "disk_available_gb: 100" +
                   (worker ? " server_status: ABNORMAL waiting_tasks: 1 exec_threads: 2 "
                             "host_weight: 50 worker_group: 'etl'"
                           : " host_weight: 100"));
    case HeartbeatDialect::kJson320:
      if (role == NodeRole::kAlertServer) {
        return Proto(t +
                     "process_id: 9 cpu_usage: 0.5 memory_usage: 0.25 "
                     "available_memory_gb: 3 host: 'h' port: 1 host_weight: 100");
      }
      return Proto(t +
                   "server_status: ABNORMAL process_id: 9 cpu_usage: 0.5 memory_usage: 0.25 "
                   "available_memory_gb: 3 host: 'h' port: 1 host_weight: 100" +
                   (worker ? " load_average: 0 reserved_memory: 0.3 disk_available_gb: 100 "
                             "waiting_tasks: 1 exec_threads: 2 worker_group: 'etl'"
                           : " reserved_memory: 0.3 disk_available_gb: 100"));
    case HeartbeatDialect::kJson321:
      return Proto(t +
                   "server_status: BUSY process_id: 9 cpu_usage: 0.5 memory_usage: 0.25 "
                   "jvm_memory_usage: 0.125 host: 'h' port: 1" +
                   (role == NodeRole::kAlertServer ? "" : " disk_usage: 0.5") +
                   (worker ? " running_tasks: 12 host_weight: 3" : " host_weight: 100"));
    default:
      return Proto(t +
                   "server_status: NORMAL process_id: 9 cpu_usage: 0.5 memory_usage: 0.25 "
                   "jvm_cpu_usage: 0.125 jvm_memory_usage: 0.0625 disk_usage: 0.5 "
                   "host: 'h' port: 1 host_weight: 100" +
                   (!worker                                 ? ""
                    : dialect == HeartbeatDialect::kJson322 ? " running_tasks: 0"
                                                            : " thread_pool_usage: 0.75"));
  }
}

TEST(HeartbeatCodecTest, EveryDialectRoundTrips) {
  for (HeartbeatDialect dialect :
       {HeartbeatDialect::kText20, HeartbeatDialect::kText30, HeartbeatDialect::kJson31,
        HeartbeatDialect::kJson320, HeartbeatDialect::kJson321, HeartbeatDialect::kJson322,
        HeartbeatDialect::kJson33}) {
    for (NodeRole role : {NodeRole::kMaster, NodeRole::kWorker, NodeRole::kAlertServer}) {
      const Heartbeat heartbeat = VersionHeartbeat(dialect, role);
      const std::string payload = EncodeHeartbeat(role, heartbeat, dialect);
      SCOPED_TRACE(
          absl::StrCat(HeartbeatDialectName(dialect), " ", NodeRoleName(role), ": ", payload));
      for (HeartbeatDialect parse_as : {HeartbeatDialect::kAuto, dialect}) {
        ASSERT_OK_AND_ASSIGN(Heartbeat parsed, ParseAs(parse_as, payload, role));
        EXPECT_THAT(Values(parsed), EqualsProto(Values(heartbeat)));
        EXPECT_THAT(parsed.warnings(), IsEmpty());
      }
    }
  }
}

TEST(HeartbeatCodecTest, EncodeSpellsEachVersionsFields) {
  const Heartbeat text = VersionHeartbeat(HeartbeatDialect::kText20, NodeRole::kWorker);
  // Java's Double.toString: 1.0E-4 and 1.23456785E7 in computerized notation, 0.001 plain.
  EXPECT_EQ(EncodeHeartbeat(NodeRole::kWorker, text, HeartbeatDialect::kText20),
            "0.5,1.0E-4,0.001,1.23456785E7,3.0,16.0,0.3,1729238400123,1729238650456,2,9,7,8,9");
  EXPECT_EQ(EncodeHeartbeat(NodeRole::kWorker, text, HeartbeatDialect::kText30),
            "0.5,1.0E-4,1.23456785E7,3.0,16.0,0.3,1729238400123,1729238650456,2,9,7,8,9");
  // A 3.1 master writes no status; a worker an integer one.
  const Heartbeat v31 = VersionHeartbeat(HeartbeatDialect::kJson31, NodeRole::kWorker);
  EXPECT_THAT(EncodeHeartbeat(NodeRole::kMaster, v31, HeartbeatDialect::kJson31),
              ::testing::Not(HasSubstr("serverStatus")));
  EXPECT_THAT(EncodeHeartbeat(NodeRole::kWorker, v31, HeartbeatDialect::kJson31),
              HasSubstr(R"("diskAvailable":100.0,"serverStatus":1,"processId":9,)"));
  // 3.2.1/3.2.2 write the task count as an int, dev the fraction as a double.
  Heartbeat worker = VersionHeartbeat(HeartbeatDialect::kJson33, NodeRole::kWorker);
  worker.set_running_tasks(4);
  EXPECT_THAT(EncodeHeartbeat(NodeRole::kWorker, worker, HeartbeatDialect::kJson321),
              HasSubstr(R"("workerHostWeight":100,"threadPoolUsage":4})"));
  EXPECT_THAT(EncodeHeartbeat(NodeRole::kWorker, worker, HeartbeatDialect::kJson322),
              HasSubstr(R"("workerHostWeight":100,"threadPoolUsage":4})"));
  EXPECT_THAT(EncodeHeartbeat(NodeRole::kWorker, worker, HeartbeatDialect::kJson33),
              HasSubstr(R"("workerHostWeight":100,"threadPoolUsage":0.75})"));
  EXPECT_EQ(EncodeHeartbeat(NodeRole::kWorker, worker, HeartbeatDialect::kAuto),
            EncodeHeartbeat(NodeRole::kWorker, worker, HeartbeatDialect::kJson33));
  // Jackson writes a null String and NaN (quoted).
  Heartbeat odd;
  odd.set_cpu_usage(std::nan(""));
  EXPECT_THAT(EncodeHeartbeat(NodeRole::kMaster, odd),
              AllOf(HasSubstr(R"("cpuUsage":"NaN")"), HasSubstr(R"("host":null)"),
                    ::testing::Not(HasSubstr(R"("port")"))));
}

}  // namespace
}  // namespace roster::cluster
