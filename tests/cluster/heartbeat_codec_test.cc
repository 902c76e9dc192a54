// Heartbeat codec: DESIGN.md's samples, legacy statuses, round trips, and a table of bad
// payloads, each with the outcome an operator would see.
#include "cluster/heartbeat_codec.h"

#include <cmath>
#include <ostream>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace roster::cluster {
namespace {

using ::roster::testing::StatusIs;
using ::roster::v1::Heartbeat;
using ::testing::AllOf;
using ::testing::HasSubstr;

// The daemon's wall clock in these tests: 10 s after the samples' reportTime.
const absl::Time kWallNow = absl::FromUnixMillis(1729238660456);

// DESIGN.md, "Registry layout", verbatim.
constexpr char kMasterSample[] =
    R"({"processId":23817,"startupTime":1729238400123,"reportTime":1729238650456,)"
    R"("jvmCpuUsage":0.031,"cpuUsage":0.2319,"jvmMemoryUsage":0.2885,"memoryUsage":0.6248,)"
    R"("diskUsage":0.0,"serverStatus":"NORMAL","host":"10.0.0.11","port":5678})";
constexpr char kWorkerSample[] =
    R"({"processId":23817,"startupTime":1729238400123,"reportTime":1729238650456,)"
    R"("jvmCpuUsage":0.031,"cpuUsage":0.2319,"jvmMemoryUsage":0.2885,"memoryUsage":0.6248,)"
    R"("diskUsage":0.0,"serverStatus":"NORMAL","host":"10.0.0.11","port":5678,)"
    R"("workerHostWeight":100,"threadPoolUsage":0.0,"workerGroup":"etl"})";
// The legacy sample's "..." filled in with the other fields a 3.1 worker writes.
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
                                HeartbeatLimits limits = {}) {
  return ParseHeartbeat(role, payload, limits, kWallNow);
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
  expected.set_legacy_format(true);
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
  const int64_t edge = absl::ToUnixMillis(kWallNow + absl::Minutes(5));
  EXPECT_OK(Parse(absl::StrCat(R"({"reportTime":)", edge, "}"), NodeRole::kWorker, limits));
  EXPECT_THAT(Parse(absl::StrCat(R"({"reportTime":)", edge + 1, "}"), NodeRole::kWorker, limits),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("is 5m0.001s ahead"), HasSubstr("more than the 5m allowed"),
                             HasSubstr("--max_clock_skew_ms"))));
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

TEST(HeartbeatCodecTest, NegativeLoadAverageMeansUnknown) {
  ASSERT_OK_AND_ASSIGN(Heartbeat h, Parse(R"({"loadAverage":-1,"serverStatus":0})"));
  EXPECT_FALSE(h.has_load_average());
  EXPECT_TRUE(h.legacy_format());
  ASSERT_OK_AND_ASSIGN(h, Parse(R"({"loadAverage":0})"));
  ASSERT_TRUE(h.has_load_average());
  EXPECT_EQ(h.load_average(), 0);
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
    EXPECT_THAT(Parse(json, role), ::roster::testing::IsOkAndHolds(EqualsProto(heartbeat))) << json;
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
          EXPECT_THAT(json, ::testing::Not(HasSubstr("serverStatus")));
        } else {
          EXPECT_THAT(json, HasSubstr(absl::StrCat(R"("serverStatus":")",
                                                   statuses->value(i)->name(), R"(")")));
        }
        EXPECT_THAT(Parse(json, role), ::roster::testing::IsOkAndHolds(EqualsProto(heartbeat)));
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

// A payload and what ParseHeartbeat must say about it.
struct BadPayload {
  std::string name;
  std::string payload;
  absl::StatusCode code;
  std::string reason;  // a substring of the message
  NodeRole role = NodeRole::kWorker;
};

// Short names in test listings (gtest would otherwise dump the struct's bytes).
void PrintTo(const BadPayload& c, std::ostream* os) { *os << c.name; }

std::string Nested(int depth, char open, char close) {
  return std::string(depth, open) + std::string(depth, close);
}

std::vector<BadPayload> BadPayloads() {
  const auto kInvalid = absl::StatusCode::kInvalidArgument;
  const std::string deep_objects = [] {
    std::string s;
    for (int i = 0; i < 200; ++i) s += R"({"a":)";
    s += "1";
    s += std::string(200, '}');
    return s;
  }();
  return {
      {"Empty", "", absl::StatusCode::kNotFound, "no heartbeat yet"},
      {"WhitespaceOnly", " \n\t\r ", absl::StatusCode::kNotFound, "no heartbeat yet"},
      {"Truncated", R"({"cpuUsage":0.5,)", kInvalid,
       "heartbeat is not JSON: Unexpected end of string"},
      {"TruncatedInString", R"({"host":"10.0)", kInvalid, "heartbeat is not JSON"},
      {"OpenBraceOnly", "{", kInvalid, "at the end"},
      {"JsonArray", "[1,2]", kInvalid,
       "heartbeat is not a JSON object: Root element must be a message"},
      {"JsonString", R"("NORMAL")", kInvalid, "heartbeat is not a JSON object"},
      {"JsonNull", "null", kInvalid, "heartbeat is not a JSON object"},
      {"JsonNumber", "42", kInvalid, "it starts with '42'"},
      {"TrailingGarbage", R"({"port":1} x)", kInvalid,
       "heartbeat is not JSON: Parsing terminated before end of input at 'x'"},
      {"TwoObjects", "{}{}", kInvalid, "Parsing terminated before end of input"},
      {"BareNaNToken", R"({"cpuUsage":NaN})", kInvalid, "Unexpected token at 'NaN}'"},
      {"HexNumber", R"({"port":0x10})", kInvalid, "Octal/hex numbers are not valid JSON"},
      {"CpuUsageNotNumeric", R"({"cpuUsage":"high"})", kInvalid,
       R"(heartbeat has a bad value: (cpuUsage): invalid value \"high\" for type TYPE_DOUBLE)"},
      {"PortObject", R"({"port":{}})", kInvalid, "Starting an object on a scalar field"},
      {"PortArray", R"({"port":[80]})", kInvalid, "port: Proto field is not repeating"},
      {"HostNumber", R"({"host":1})", kInvalid, "(host): invalid value 1 for type TYPE_STRING"},
      // An escaped newline in the value: still a bad value, not a syntax error.
      {"CpuUsageWithNewline", R"({"cpuUsage":"a\nb"})", kInvalid,
       R"(heartbeat has a bad value: (cpuUsage): invalid value \"a\nb\")"},
      // protobuf lets a raw control character through inside a string; the host check does not.
      {"RawNewlineInHost", "{\"host\":\"a\nb\"}", kInvalid,
       R"(host 'a\nb' contains whitespace or a control character)"},
      {"LongInvalidUtf8Value", absl::StrCat(R"({"cpuUsage":")", std::string(4000, '\xc3'), R"("})"),
       kInvalid, "heartbeat is not JSON: Encountered non UTF-8 code points"},
      {"LongUtf8BadValue",
       [] {
         std::string s = R"({"cpuUsage":")";
         for (int i = 0; i < 2000; ++i) s += "\xc3\xa9";
         return s + R"("})";
       }(),
       kInvalid, R"(heartbeat has a bad value: (cpuUsage): invalid value \"\xc3\xa9)"},
      {"ProcessIdFraction", R"({"processId":1.5})", kInvalid, "(processId): invalid value 1.5"},
      {"ServerStatusObject", R"({"serverStatus":{"a":1}})", kInvalid,
       "unknown serverStatus '{...}'"},
      {"ServerStatusArray", R"({"serverStatus":[0]})", kInvalid, "unknown serverStatus '[...]'"},
      {"ServerStatusBool", R"({"serverStatus":true})", kInvalid, "unknown serverStatus 'true'"},
      {"ServerStatus3", R"({"serverStatus":3})", kInvalid, "unknown serverStatus '3'"},
      {"ServerStatusMinus1", R"({"serverStatus":-1})", kInvalid, "unknown serverStatus '-1'"},
      {"ServerStatusFraction", R"({"serverStatus":1.5})", kInvalid,
       "unknown serverStatus '1.5' (legacy statuses are the integers 0, 1, 2)"},
      {"ServerStatusWaiting", R"({"serverStatus":"WAITING"})", kInvalid,
       "unknown serverStatus 'WAITING'"},
      {"ServerStatusPadded", R"({"serverStatus":" NORMAL"})", kInvalid,
       "unknown serverStatus ' NORMAL'"},
      {"CpuUsageNaN", R"({"cpuUsage":"NaN"})", kInvalid, "cpuUsage NaN is not in [0, 1]"},
      {"MemoryUsageInfinity", R"({"memoryUsage":"Infinity"})", kInvalid,
       "memoryUsage Infinity is not in [0, 1]"},
      {"DiskUsageMinusInfinity", R"({"diskUsage":"-Infinity"})", kInvalid,
       "diskUsage -Infinity is not in [0, 1]"},
      {"CpuUsage1_5", R"({"cpuUsage":1.5})", kInvalid, "cpuUsage 1.5 is not in [0, 1]"},
      {"MemoryUsageMinus0_1", R"({"memoryUsage":-0.1})", kInvalid,
       "memoryUsage -0.1 is not in [0, 1]"},
      {"ThreadPoolUsageJustOver1", R"({"threadPoolUsage":1.0000001})", kInvalid,
       "threadPoolUsage 1.0000001 is not in [0, 1]"},
      {"JvmCpuUsageNaN", R"({"jvmCpuUsage":"NaN"})", kInvalid, "jvmCpuUsage NaN"},
      {"JvmMemoryUsage2", R"({"jvmMemoryUsage":2})", kInvalid, "jvmMemoryUsage 2 is not"},
      {"HugeDouble", R"({"cpuUsage":1e999})", kInvalid,
       "heartbeat is not JSON: Number exceeds the range of double at '1e999}'"},
      {"HugePort", R"({"port":99999999999})", kInvalid,
       "(port): invalid value 99999999999 for type TYPE_INT32"},
      {"StartupTimeBeyondInt64", R"({"startupTime":9223372036854775808})", kInvalid,
       "(startupTime): invalid value 9223372036854775808 for type TYPE_INT64"},
      {"StartupTimeHugeFloat", R"({"startupTime":1e30})", kInvalid, "(startupTime)"},
      {"OverSizeLimit", absl::StrCat(R"({"host":")", std::string(2 << 20, 'h'), R"("})"), kInvalid,
       "heartbeat is 2097163 bytes, over the 65536-byte limit (--max_heartbeat_bytes)"},
      {"BinaryBytes", std::string("\xff\xfe\x00\x01{}", 6), kInvalid,
       R"(heartbeat is not a JSON object: Encountered non UTF-8 code points at '\xff\xfe\x00\x01{}')"},
      {"InvalidUtf8InString", "{\"host\":\"\xc3\x28\"}", kInvalid,
       "heartbeat is not JSON: Encountered non UTF-8 code points"},
      {"InvalidUtf8InKey", "{\"ho\xffst\":1}", kInvalid, "Encountered non UTF-8 code points"},
      {"LoneSurrogate", R"({"host":"\ud800"})", kInvalid, "Missing low surrogate"},
      {"NulByteInObject", std::string("{\0}", 3), kInvalid,
       R"(heartbeat is not JSON: Expected an object key or } at '\x00}')"},
      {"NulByteInHost", std::string("{\"host\":\"a\0b\"}", 14), kInvalid,
       R"(host 'a\x00\x62' contains whitespace or a control character)"},
      {"EscapedNulInHost", R"({"host":"a\u0000b"})", kInvalid,
       "contains whitespace or a control character"},
      {"NegativePort", R"({"port":-1})", kInvalid, "port -1 is not in [1, 65535]"},
      {"Port0", R"({"port":0})", kInvalid, "port 0 is not in [1, 65535]"},
      {"Port65536", R"({"port":65536})", kInvalid, "port 65536 is not in [1, 65535]"},
      {"NegativeProcessId", R"({"processId":-7})", kInvalid, "processId -7 is negative"},
      {"ReportTimeIn2100", R"({"reportTime":4102444800000})", kInvalid,
       "reportTime 4102444800000 (2100-01-01T00:00:00Z) is 75y ahead of this daemon's clock, "
       "more than the 1h allowed (--max_clock_skew_ms)"},
      {"StartupTimeTwoDaysAhead", R"({"startupTime":1729411460456})", kInvalid,
       "startupTime 1729411460456 (2024-10-20T08:04:20Z) is 2d ahead"},
      {"StartupTimeNegative", R"({"startupTime":-1})", kInvalid, "startupTime -1 is negative"},
      {"StartupTimeInt64Max", R"({"startupTime":9223372036854775807})", kInvalid,
       "startupTime 9223372036854775807"},
      {"HostWeightMinus1", R"({"workerHostWeight":-1})", kInvalid,
       "workerHostWeight -1 is not in [0, 10000]"},
      {"HostWeight20000", R"({"workerHostWeight":20000})", kInvalid,
       "workerHostWeight 20000 is not in [0, 10000]"},
      {"ExecThreadsNegative", R"({"workerExecThreadCount":-1})", kInvalid,
       "workerExecThreadCount -1 is negative"},
      {"LoadAverageNaN", R"({"loadAverage":"NaN"})", kInvalid,
       "loadAverage NaN is not a finite number"},
      {"WorkerGroupSlash", R"({"workerGroup":"a/b"})", kInvalid, "workerGroup 'a/b' contains '/'"},
      {"WorkerGroupDotDot", R"({"workerGroup":".."})", kInvalid,
       "workerGroup '..' is not a valid group name"},
      {"WorkerGroupEmpty", R"({"workerGroup":""})", kInvalid, "workerGroup '' is empty"},
      {"WorkerGroup200Chars", absl::StrCat(R"({"workerGroup":")", std::string(200, 'g'), R"("})"),
       kInvalid, "is 200 bytes, over the 128-byte limit"},
      {"WorkerGroupPadded", R"({"workerGroup":" etl"})", kInvalid,
       "workerGroup ' etl' has whitespace at either end"},
      {"WorkerGroupNonAscii", R"({"workerGroup":"\u00e9tl"})", kInvalid,
       "not printable ASCII at offset 0"},
      {"HostWithSpaces", R"({"host":"my host"})", kInvalid,
       "host 'my host' contains whitespace or a control character"},
      {"HostEmpty", R"({"host":""})", kInvalid, "host '' is empty"},
      {"HostTooLong", absl::StrCat(R"({"host":")", std::string(300, 'h'), R"("})"), kInvalid,
       "is 300 bytes, over the 255-byte limit"},
      // proto3 `optional` fields are oneofs to protobuf: a repeated key is refused.
      {"DuplicatePort", R"({"port":1,"port":2})", kInvalid, "heartbeat has a duplicate key 'port'"},
      // protobuf parses any depth of arrays in unknown fields, and nested arrays in
      // serverStatus take quadratic time: refused before protobuf sees them.
      {"DeeplyNestedUnknownArrays", absl::StrCat(R"({"x":)", Nested(10000, '[', ']'), "}"),
       kInvalid, "heartbeat nests JSON more than 32 levels deep (at byte 36)"},
      {"DeeplyNestedServerStatus",
       absl::StrCat(R"({"serverStatus":)", Nested(10000, '[', ']'), "}"), kInvalid,
       "nests JSON more than 32 levels deep"},
      {"DeeplyNestedObjects", absl::StrCat(R"({"x":)", deep_objects, "}"), kInvalid,
       "nests JSON more than 32 levels deep"},
      {"DeeplyNestedRoot", Nested(10000, '[', ']'), kInvalid, "nests JSON more than 32 levels"},
      {"UnbalancedBrackets", absl::StrCat(R"({"x":)", std::string(20, '['), "}"), kInvalid,
       "heartbeat is not JSON"},
  };
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
  EXPECT_GE(cases.size(), 30u);
  std::set<std::string> names;
  for (const BadPayload& c : cases) EXPECT_TRUE(names.insert(c.name).second) << c.name;
}

struct AddressCase {
  std::string name;
  std::string text;
  std::string error;  // empty: valid, returned unchanged
};

void PrintTo(const AddressCase& c, std::ostream* os) { *os << c.name; }

class HeartbeatCodecAddressTest : public ::testing::TestWithParam<AddressCase> {};

TEST_P(HeartbeatCodecAddressTest, Parses) {
  const AddressCase& c = GetParam();
  absl::StatusOr<std::string> result = ParseNodeAddress(c.text);
  if (c.error.empty()) {
    EXPECT_THAT(result, ::roster::testing::IsOkAndHolds(c.text));
  } else {
    EXPECT_THAT(result, StatusIs(absl::StatusCode::kInvalidArgument,
                                 AllOf(HasSubstr("is not host:port"), HasSubstr(c.error))));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, HeartbeatCodecAddressTest,
    ::testing::ValuesIn(std::vector<AddressCase>{
        {"Ipv4", "10.0.0.1:5678", ""},
        {"Ipv6Loopback", "[::1]:5678", ""},
        {"Ipv6", "[2001:db8::17]:1", ""},
        {"DnsName", "worker-1.example.com:65535", ""},
        {"Underscore", "my_host:80", ""},
        {"NoPort", "host", "no ':port'"},
        {"NoHost", ":5678", "the host is empty"},
        {"EmptyPort", "host:", "the port is empty"},
        {"NegativePort", "host:-1", "port '-1' is not a number in [1, 65535]"},
        {"Port0", "host:0", "port 0 is not in [1, 65535]"},
        {"Port65536", "host:65536", "port 65536 is not in [1, 65535]"},
        {"PlusSign", "host:+80", "port '+80' is not a number"},
        {"TrailingSpace", "host:80 ", "port '80 ' is not a number"},
        {"LeadingZero", "host:080", "port '080' has a leading zero"},
        {"SpaceInHost", "a b:80", "the host contains ' '"},
        {"TwoColons", "host:5678:1", "more than one ':'"},
        {"BareIpv6", "::1:5678", "more than one ':'"},
        {"LongName", std::string(300, 'a') + ":80", "the host is 300 bytes, over the 253-byte"},
        {"LongLabel", std::string(64, 'a') + ".example:80", "label of 64 bytes"},
        {"EmptyLabel", "a..b:80", "empty label"},
        {"TrailingDot", "host.:80", "empty label"},
        {"Empty", "", "it is empty"},
        {"Ipv6NoPort", "[::1]", "no ':port'"},
        {"Ipv6Garbage", "[zz::1]:80", "'zz::1' is not an IPv6 address"},
        {"Ipv6Unclosed", "[::1:80", "'[' without ']'"},
        {"Ipv6Empty", "[]:80", "the host is empty"},
        {"Slash", "a/b:80", "the host contains '/'"},
        {"Binary", std::string("h\0st:80", 7), R"(the host contains '\x00')"},
    }),
    [](const ::testing::TestParamInfo<AddressCase>& info) { return info.param.name; });

TEST(HeartbeatCodecTest, ValidateGroupName) {
  for (const std::string& good :
       {std::string("etl"), std::string("default"), std::string("a b"), std::string("a..b"),
        std::string(128, 'g'), std::string("x.y-z_1")}) {
    EXPECT_OK(ValidateGroupName(good)) << good;
  }
  const std::pair<std::string, std::string> bad[] = {
      {"", "group name '' is empty"},
      {".", "group name '.' is not a valid group name"},
      {"..", "group name '..' is not a valid group name"},
      {"a/b", "group name 'a/b' contains '/'"},
      {"/", "contains '/'"},
      {" etl", "has whitespace at either end"},
      {"etl ", "has whitespace at either end"},
      {"e\ttl", "not printable ASCII at offset 1"},
      {"\xc3\xa9tl", "not printable ASCII at offset 0"},
      {std::string(129, 'g'), "is 129 bytes, over the 128-byte limit"},
  };
  for (const auto& [name, reason] : bad) {
    EXPECT_THAT(ValidateGroupName(name),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(reason)))
        << name;
  }
}

}  // namespace
}  // namespace roster::cluster
