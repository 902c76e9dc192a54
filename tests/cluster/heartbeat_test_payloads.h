// Payload tables shared by the heartbeat codec's tests (heartbeat_codec_test.cc) and the
// differential test of its two JSON readers (heartbeat_decoder_diff_test.cc): bad payloads with
// what ParseHeartbeat must say about them, and payloads accepted with one warning.
//
// Thread-safety: the functions are thread-safe.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "cluster/heartbeat_codec.h"
#include "cluster/node_info.h"

namespace roster::cluster {

// A payload and what ParseHeartbeat must say about it.
struct BadPayload {
  std::string name;
  std::string payload;
  absl::StatusCode code;
  std::string reason;  // a substring of the message
  NodeRole role = NodeRole::kWorker;
};

// Short names in test listings (gtest would otherwise dump the struct's bytes).
inline void PrintTo(const BadPayload& c, std::ostream* os) { *os << c.name; }

inline std::string Nested(int depth, char open, char close) {
  return std::string(depth, open) + std::string(depth, close);
}

inline std::vector<BadPayload> BadPayloads() {
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
       "heartbeat is not a JSON object: Root element must be a message; it starts with '[1,2]'; "
       "as DolphinScheduler 2.0/3.0 text it has 2 comma-separated fields, not 14 or 13"},
      // Text heartbeats (HeartBeat.decodeHeartBeat @ 2.0.9-release / 3.0.6-release).
      {"TextTooFewFields", "0.1,0.2,0.3", kInvalid,
       "heartbeat is not a JSON object: Parsing terminated before end of input at ',0.2,0.3'; as "
       "DolphinScheduler 2.0/3.0 text it has 3 comma-separated fields, not 14 or 13"},
      {"Text15Fields", "0,0,0,0,0,0,0,0,0,0,0,0,0,0,0", kInvalid,
       "it has 15 comma-separated fields"},
      {"Text30NotANumber", "0.5,0.5,x,1,16,0.3,1729238400123,1729238650456,0,812,100,100,0",
       kInvalid,
       "heartbeat is DolphinScheduler 3.0 text but field 3 (loadAverage) 'x' is not a number"},
      {"Text20EmptyField", "0.5,0.5,1,1,1,16,0.3,1729238400123,,0,812,100,100,0", kInvalid,
       "heartbeat is DolphinScheduler 2.0 text but field 9 (reportTime) '' is not a number"},
      {"Text30FractionalStatus", "0.5,0.5,1,1,16,0.3,1729238400123,1729238650456,1.0,812,100,100,0",
       kInvalid, "field 9 (serverStatus) '1.0' is not a number"},
      {"Text30Status3", "0.5,0.5,1,1,16,0.3,1729238400123,1729238650456,3,812,100,100,0", kInvalid,
       "unknown serverStatus '3' (integer statuses are 0, 1, 2)"},
      {"Text30NegativeStartup", "0.5,0.5,1,1,16,0.3,-5,1729238650456,0,812,100,100,0", kInvalid,
       "startupTime -5 is negative"},
      {"Text30ReportTimeIn2100", "0.5,0.5,1,1,16,0.3,1729238400123,4102444800000,0,812,100,100,0",
       kInvalid, "reportTime 4102444800000 (2100-01-01T00:00:00Z) is 75y ahead"},
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
       "unknown serverStatus '1.5' (integer statuses are 0, 1, 2)"},
      {"ServerStatusWaiting", R"({"serverStatus":"WAITING"})", kInvalid,
       "unknown serverStatus 'WAITING'"},
      {"ServerStatusPadded", R"({"serverStatus":" NORMAL"})", kInvalid,
       "unknown serverStatus ' NORMAL'"},
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
      {"ReportTimeIn2100", R"({"reportTime":4102444800000})", kInvalid,
       "reportTime 4102444800000 (2100-01-01T00:00:00Z) is 75y ahead of the registry's clock "
       "when it was written (znode mtime 2024-10-18T08:04:20Z), more than the 1h allowed "
       "(--max_clock_skew_ms)"},
      {"StartupTimeTwoDaysAhead", R"({"startupTime":1729411460456})", kInvalid,
       "startupTime 1729411460456 (2024-10-20T08:04:20Z) is 2d ahead"},
      {"StartupTimeNegative", R"({"startupTime":-1})", kInvalid, "startupTime -1 is negative"},
      {"StartupTimeInt64Max", R"({"startupTime":9223372036854775807})", kInvalid,
       "startupTime 9223372036854775807"},
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

struct WarnedPayload {
  std::string name;
  std::string payload;
  std::string field;   // the warning's field
  std::string value;   // the warning's value text
  std::string reason;  // the warning's reason, exactly
  HeartbeatDialect dialect = HeartbeatDialect::kAuto;
};

inline void PrintTo(const WarnedPayload& c, std::ostream* os) { *os << c.name; }

// Payloads accepted with exactly one warning, and that warning.
inline std::vector<WarnedPayload> WarnedPayloads() {
  return {
      {"CpuUsageNaN", R"({"cpuUsage":"NaN"})", "cpuUsage", "NaN",
       "cpuUsage NaN is not a number: read as 0"},
      {"MemoryUsageInfinity", R"({"memoryUsage":"Infinity"})", "memoryUsage", "Infinity",
       "memoryUsage Infinity is not a number: read as 0"},
      {"DiskUsageMinusInfinity", R"({"diskUsage":"-Infinity"})", "diskUsage", "-Infinity",
       "diskUsage -Infinity is not a number: read as 0"},
      {"CpuUsageMinus1", R"({"cpuUsage":-1.0})", "cpuUsage", "-1",
       "cpuUsage -1: unknown (DS writes -1 when it cannot measure)"},
      {"CpuUsage1_5", R"({"cpuUsage":1.5})", "cpuUsage", "1.5", "cpuUsage 1.5 is above 1"},
      {"CpuUsage1_73As321", R"({"cpuUsage":1.73})", "cpuUsage", "1.73",
       "cpuUsage 1.73 is above 1 (DS 3.2.1 adds system and process CPU)",
       HeartbeatDialect::kJson321},
      // The payload shows 3.2.1 (jvmMemoryUsage, no jvmCpuUsage): the same reason unasked.
      {"CpuUsage1_73In321Payload", R"({"cpuUsage":1.73,"jvmMemoryUsage":0.2})", "cpuUsage", "1.73",
       "cpuUsage 1.73 is above 1 (DS 3.2.1 adds system and process CPU)"},
      {"CpuUsageLoadAverageAs320", R"({"cpuUsage":3.5})", "cpuUsage", "3.5",
       "cpuUsage 3.5 is above 1 (DS 3.2.0 on Kubernetes writes the load average)",
       HeartbeatDialect::kJson320},
      {"CpuUsageAbove1As33", R"({"cpuUsage":1.2})", "cpuUsage", "1.2", "cpuUsage 1.2 is above 1",
       HeartbeatDialect::kJson33},
      {"MemoryUsageMinus0_1", R"({"memoryUsage":-0.1})", "memoryUsage", "-0.1",
       "memoryUsage -0.1 is negative"},
      {"JvmCpuUsageNaN", R"({"jvmCpuUsage":"NaN"})", "jvmCpuUsage", "NaN",
       "jvmCpuUsage NaN is not a number: read as 0"},
      {"JvmMemoryUsage2", R"({"jvmMemoryUsage":2})", "jvmMemoryUsage", "2",
       "jvmMemoryUsage 2 is above 1 (DS divides one jvm.memory.used meter by one "
       "jvm.memory.max meter)"},
      {"JvmMemoryUsageNegative", R"({"jvmMemoryUsage":-3.01989888E8})", "jvmMemoryUsage",
       "-301989888",
       "jvmMemoryUsage -301989888 is negative (DS divides by jvm.memory.max, which is -1 for a "
       "pool without a limit)"},
      {"ThreadPoolUsageJustOver1", R"({"threadPoolUsage":1.0000001})", "threadPoolUsage",
       "1.0000001",
       "threadPoolUsage 1.0000001 is above 1 (DS 3.3 counts queued task executors against the "
       "exec threads)"},
      {"ThreadPoolCountAs33", R"({"threadPoolUsage":2})", "threadPoolUsage", "2",
       "threadPoolUsage 2 is above 1 (DS 3.3 counts queued task executors against the exec "
       "threads)",
       HeartbeatDialect::kJson33},
      {"ThreadPoolFractionAs321", R"({"threadPoolUsage":0.5})", "threadPoolUsage", "0.5",
       "threadPoolUsage 0.5 is not a task count, which DS 3.2.1/3.2.2 write: read as a "
       "fraction",
       HeartbeatDialect::kJson321},
      {"NegativeTaskCount", R"({"threadPoolUsage":-3})", "threadPoolUsage", "-3",
       "threadPoolUsage -3 is negative"},
      {"LoadAverageNaN", R"({"loadAverage":"NaN"})", "loadAverage", "NaN",
       "loadAverage NaN is not a number: read as 0"},
      {"AvailableMemoryInfinity", R"({"availablePhysicalMemorySize":"Infinity"})",
       "availablePhysicalMemorySize", "Infinity",
       "availablePhysicalMemorySize Infinity is not a number: read as 0"},
      {"NegativeProcessId", R"({"processId":-7})", "processId", "-7", "processId -7 is negative"},
      {"HostWeightMinus1", R"({"workerHostWeight":-1})", "workerHostWeight", "-1",
       "workerHostWeight -1 is not in [0, 10000]: read as 0"},
      {"HostWeight20000", R"({"workerHostWeight":20000})", "workerHostWeight", "20000",
       "workerHostWeight 20000 is not in [0, 10000]: read as 10000"},
      {"ExecThreadsNegative", R"({"workerExecThreadCount":-1})", "workerExecThreadCount", "-1",
       "workerExecThreadCount -1 is negative"},
      {"WaitingTasksNegative", R"({"workerWaitingTaskCount":-2})", "workerWaitingTaskCount", "-2",
       "workerWaitingTaskCount -2 is negative"},
      {"TextCpuUsageNaN", "NaN,0.5,1.0,12.0,16.0,0.3,1729238400123,1729238650456,0,812,100,100,0",
       "cpuUsage", "NaN", "cpuUsage NaN is not a number: read as 0"},
  };
}

}  // namespace roster::cluster
