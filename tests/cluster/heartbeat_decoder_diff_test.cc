// The heartbeat codec's two JSON readers against each other: ParseHeartbeat (simdjson, with
// protobuf for what simdjson declines) must answer exactly as ParseHeartbeatReference
// (protobuf's JSON parser alone) for every golden payload (tests/data/dolphinscheduler), every
// bad or warned payload of the codec's tests, every file of the fuzz corpora (tests/fuzz/corpus),
// hand-picked oddities, and mutations of the golden payloads. The same Heartbeat, or the same
// status: code and message.
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "cluster/heartbeat_codec.h"
#include "cluster/heartbeat_json.h"
#include "cluster/node_info.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "tests/cluster/heartbeat_test_payloads.h"

namespace roster::cluster {
namespace {

namespace fs = std::filesystem;
using ::roster::v1::DolphinHeartbeatJson;
using ::roster::v1::Heartbeat;

// 10 s after the golden payloads' reportTime, by the registry server's clock.
const absl::Time kWrittenAt = absl::FromUnixMillis(1729238660456);

constexpr HeartbeatDialect kDialects[] = {HeartbeatDialect::kAuto,    HeartbeatDialect::kText20,
                                          HeartbeatDialect::kText30,  HeartbeatDialect::kJson31,
                                          HeartbeatDialect::kJson320, HeartbeatDialect::kJson321,
                                          HeartbeatDialect::kJson322, HeartbeatDialect::kJson33};
constexpr NodeRole kRoles[] = {NodeRole::kMaster, NodeRole::kWorker, NodeRole::kAlertServer};

std::string Show(absl::string_view payload) {
  return absl::StrCat("'", absl::CHexEscape(payload.substr(0, 300)), "'");
}

// Both readers on `payload`; a failure names the payload and how the answers differ.
::testing::AssertionResult SameAnswer(absl::string_view payload, NodeRole role = NodeRole::kWorker,
                                      HeartbeatDialect dialect = HeartbeatDialect::kAuto,
                                      absl::Time written_at = kWrittenAt) {
  const HeartbeatLimits limits;
  const absl::StatusOr<Heartbeat> fast = ParseHeartbeat(role, payload, limits, written_at, dialect);
  const absl::StatusOr<Heartbeat> reference =
      ParseHeartbeatReference(role, payload, limits, written_at, dialect);
  const std::string where = absl::StrCat(Show(payload), " as ", HeartbeatDialectName(dialect),
                                         " for role ", static_cast<int>(role));
  if (fast.ok() != reference.ok()) {
    return ::testing::AssertionFailure()
           << where << ": fast " << fast.status() << " vs reference " << reference.status();
  }
  if (!fast.ok()) {
    if (fast.status() == reference.status()) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure()
           << where << ": fast " << fast.status() << " vs reference " << reference.status();
  }
  std::string diff;
  google::protobuf::util::MessageDifferencer differencer;
  differencer.ReportDifferencesToString(&diff);
  if (differencer.Compare(*reference, *fast)) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << where << ": " << diff;
}

// Every role and dialect.
::testing::AssertionResult SameAnswerEverywhere(absl::string_view payload) {
  for (NodeRole role : kRoles) {
    for (HeartbeatDialect dialect : kDialects) {
      ::testing::AssertionResult same = SameAnswer(payload, role, dialect);
      if (!same) return same;
    }
  }
  return SameAnswer(payload, NodeRole::kWorker, HeartbeatDialect::kAuto, absl::InfinitePast());
}

// Whether the fast reader reads `payload` itself (rather than leaving it to protobuf).
bool ReadFast(absl::string_view payload) {
  DolphinHeartbeatJson json;
  NumberSpelling spelling;
  return ReadHeartbeatJsonFast(payload, &json, &spelling);
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

// The golden payloads: every .json and .txt under tests/data/dolphinscheduler/<version>/.
std::vector<fs::path> GoldenFiles() {
  std::vector<fs::path> files;
  for (const auto& version : fs::directory_iterator(ROSTER_DS_TESTDATA_DIR)) {
    if (!version.is_directory()) continue;
    for (const auto& file : fs::directory_iterator(version.path())) {
      const std::string ext = file.path().extension().string();
      if (ext == ".json" || (ext == ".txt" && version.path().filename() != "selection")) {
        files.push_back(file.path());
      }
    }
  }
  return files;
}

TEST(HeartbeatDecoderDiffTest, GoldenPayloads) {
  const std::vector<fs::path> files = GoldenFiles();
  ASSERT_GE(files.size(), 18u);  // 2.0 .. 3.3, masters, workers and alert servers
  int json = 0;
  for (const fs::path& file : files) {
    const std::string payload = ReadFile(file);
    EXPECT_TRUE(SameAnswerEverywhere(payload)) << file;
    if (file.extension() == ".json") {
      ++json;
      // Otherwise the speed-up would not reach DolphinScheduler's own heartbeats.
      EXPECT_TRUE(ReadFast(payload)) << file << " is left to protobuf";
      ASSERT_TRUE(ParseHeartbeat(NodeRole::kWorker, payload, {}, kWrittenAt).ok()) << file;
    }
  }
  EXPECT_GE(json, 14);
}

TEST(HeartbeatDecoderDiffTest, BadPayloadsOfTheCodecTest) {
  for (const BadPayload& c : BadPayloads()) {
    EXPECT_TRUE(SameAnswerEverywhere(c.payload)) << c.name;
  }
}

TEST(HeartbeatDecoderDiffTest, WarnedPayloadsOfTheCodecTest) {
  for (const WarnedPayload& c : WarnedPayloads()) {
    EXPECT_TRUE(SameAnswerEverywhere(c.payload)) << c.name;
  }
}

// The corpora of every fuzz target, each file as a whole payload; the heartbeat target's also as
// it reads them (first byte: role and dialect).
TEST(HeartbeatDecoderDiffTest, FuzzCorpora) {
  int files = 0;
  for (const auto& target : fs::directory_iterator(ROSTER_FUZZ_CORPUS_DIR)) {
    if (!target.is_directory()) continue;
    const bool heartbeat = target.path().filename() == "heartbeat_fuzz";
    for (const auto& file : fs::directory_iterator(target.path())) {
      const std::string data = ReadFile(file.path());
      ++files;
      EXPECT_TRUE(SameAnswerEverywhere(data)) << file.path();
      if (heartbeat && !data.empty()) {
        const uint8_t selector = static_cast<uint8_t>(data[0]);
        EXPECT_TRUE(SameAnswer(absl::string_view(data).substr(1), kRoles[selector % 3],
                               kDialects[(selector / 3) % 8]))
            << file.path();
      }
    }
  }
  EXPECT_GE(files, 60);
}

// Payloads at the edges of what each reader accepts; each either read by simdjson to the same
// answer or declined (read by protobuf). `fast` says which DolphinScheduler-shaped ones the fast
// reader must read itself.
struct Oddity {
  std::string payload;
  bool fast;
};

TEST(HeartbeatDecoderDiffTest, Oddities) {
  const std::vector<Oddity> oddities = {
      // What DolphinScheduler writes: read fast.
      {R"({"cpuUsage":"NaN","memoryUsage":"Infinity","diskUsage":"-Infinity"})", true},
      {R"({"threadPoolUsage":11})", true},
      {R"({"threadPoolUsage":-0})", true},  // an integer spelling: a task count of 0
      {R"({"threadPoolUsage":-0.0})", true},
      {R"({"threadPoolUsage":1E0})", true},
      {R"({"threadPoolUsage":"NaN"})", true},
      {R"({"jvmMemoryUsage":-3.01989888E8,"cpuUsage":1e-400})", true},
      {R"({"serverStatus":0,"serverStatus2":1})", true},
      {R"({"serverStatus":2.0})", true},
      {R"({"serverStatus":"busy"})", true},
      {R"({"serverStatus":"NaN"})", true},
      {R"({"serverStatus":9007199254740992})", true},  // 2^53: exact as a double
      {R"({"cpuUsage":9007199254740992})", true},
      {R"({"cpuUsage":-9007199254740992})", true},
      {R"({"port":2147483647,"processId":-2147483648})", true},
      {R"({"startupTime":-9223372036854775808})", true},
      {" \t\r\n{\"host\":\"10.0.0.1\"} \n", true},
      {R"({"host":"h\u00e9"})", false},  // any backslash
      {"{\"host\":\"h\xc3\xa9\"}", true},
      {R"({"workerGroup":"\u00e9tl"})", false},
      {R"({"ProcessId":1,"process_id":2,"processid":3,"processId ":4})", true},
      {R"({"x":{"":[]}})", true},
      {R"({"x":[{"":1}]})", true},
      // protobuf refuses an empty key at the top ("Proto fields must have a name").
      {R"({"":1})", false},
      {R"({"port":1,"":{}})", false},
      {R"({"x":1,"x":"y","x":[]})", true},               // repeated unknown keys: ignored by both
      {R"({"x":[[[[[[[[[[[[[[1]]]]]]]]]]]]]]})", true},  // 15 levels
      {R"({"x":[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]})", false},  // 17 levels
      {absl::StrCat(R"({"x":)", Nested(31, '[', ']'), "}"), false},
      {absl::StrCat(R"({"x":)", Nested(32, '[', ']'), "}"), false},
      // Declined: read by protobuf.
      {R"({"cpuUsage":"0.5"})", false},
      {R"({"cpuUsage":" NaN"})", false},
      {R"({"cpuUsage":"nan"})", false},
      {R"({"cpuUsage":9007199254740993})", false},
      {R"({"cpuUsage":18446744073709551615})", false},
      {R"({"cpuUsage":null})", false},
      {R"({"cpuUsage":true})", false},
      {R"({"serverStatus":9007199254740993})", false},
      {R"({"serverStatus":null})", false},
      {R"({"serverStatus":"BUSY","serverStatus":"NORMAL"})", false},
      {R"({"port":"5678"})", false},
      {R"({"port":5678.0})", false},
      {R"({"port":2147483648})", false},
      {R"({"processId":-2147483649})", false},
      {R"({"startupTime":"1729238400123"})", false},
      {R"({"startupTime":1.729238400123e12})", false},
      {R"({"startupTime":9223372036854775808})", false},
      {R"({"reportTime":1,"reportTime":1})", false},
      {R"({"host":"a","host":"a"})", false},
      {R"({"processId":1,"processId":null})", false},
      {R"({"host":5})", false},
      {R"({"host":null})", false},
      {R"({'host':'a'})", false},
      {R"({host:"a"})", false},
      {R"({"host":"a",})", false},
      {"{\"host\":\"a\tb\"}", false},   // a raw tab in a string
      {"{\"host\":\"a\"}\x0b", false},  // vertical tab: not JSON whitespace
      {R"({"port":01})", false},
      {R"({"port":+1})", false},
      {R"({"cpuUsage":.5})", false},
      {R"({"cpuUsage":1.})", false},
      {R"({"cpuUsage":1e999})", false},
      {R"({"x":123456789012345678901234567890})", false},
      {R"({"x":-9223372036854775809})", false},
      {R"({"x":"\ud800"})", false},
      {R"({"x":"\u0000"})", false},
      {"{\"x\":\"\xed\xa0\x80\"}", false},  // a surrogate in UTF-8
      {"{\"x\":\"\xc0\xaf\"}", false},      // an overlong encoding
      {std::string("{\"x\":1}\0", 8), false},
      {"{}", true},
      {"{", false},
      {"{}}", false},
  };
  for (const Oddity& oddity : oddities) {
    EXPECT_TRUE(SameAnswerEverywhere(oddity.payload));
    EXPECT_EQ(ReadFast(oddity.payload), oddity.fast) << Show(oddity.payload);
  }
}

// Under a raised --max_heartbeat_bytes, payloads over 64 KiB are protobuf's (each thread's
// simdjson parser keeps the capacity of the largest payload it read).
TEST(HeartbeatDecoderDiffTest, LargePayloadsUnderARaisedLimit) {
  HeartbeatLimits limits;
  limits.max_payload_bytes = 1 << 20;
  for (const size_t padding : {size_t{60} << 10, size_t{100} << 10}) {
    const std::string payload =
        absl::StrCat(R"({"x":")", std::string(padding, 'a'), R"(","port":5678})");
    const absl::StatusOr<Heartbeat> fast =
        ParseHeartbeat(NodeRole::kWorker, payload, limits, kWrittenAt);
    const absl::StatusOr<Heartbeat> reference =
        ParseHeartbeatReference(NodeRole::kWorker, payload, limits, kWrittenAt);
    ASSERT_TRUE(fast.ok() && reference.ok()) << fast.status() << " " << reference.status();
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(*fast, *reference));
    EXPECT_EQ(fast->port(), 5678);
    EXPECT_EQ(ReadFast(payload), payload.size() <= (64 << 10)) << payload.size();
  }
}

// Mutations of the golden payloads (a byte changed, deleted, duplicated, or a JSON token
// inserted), with a fixed seed: the near misses a fuzzer tries first.
TEST(HeartbeatDecoderDiffTest, MutatedGoldenPayloads) {
  std::vector<std::string> seeds;
  for (const fs::path& file : GoldenFiles()) {
    if (file.extension() == ".json") seeds.push_back(ReadFile(file));
  }
  ASSERT_FALSE(seeds.empty());
  const std::vector<std::string> tokens = {"-",          "0",
                                           ".",          "e",
                                           "E",          "\"",
                                           "'",          "\\",
                                           "\\u0041",    ",",
                                           ":",          "{",
                                           "}",          "[",
                                           "]",          "null",
                                           "true",       "\"NaN\"",
                                           "-0",         "1.0",
                                           "1e2",        "\t",
                                           "\xc3",       "\"port\":",
                                           "\"port\":1", "9007199254740993",
                                           "\"x\":",     " ",
                                           "00",         "1e400",
                                           "\"1\"",      "\"serverStatus\":"};
  std::mt19937 rng(11);
  int fast = 0;
  constexpr int kMutations = 20000;
  for (int i = 0; i < kMutations; ++i) {
    std::string payload = seeds[rng() % seeds.size()];
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits && !payload.empty(); ++e) {
      const size_t at = rng() % payload.size();
      switch (rng() % 4) {
        case 0:
          payload[at] = static_cast<char>(rng() % 256);
          break;
        case 1:
          payload.erase(at, 1 + rng() % 4);
          break;
        case 2:
          payload.insert(at, payload.substr(at, 1 + rng() % 12));
          break;
        default:
          payload.insert(at, tokens[rng() % tokens.size()]);
          break;
      }
    }
    if (ReadFast(payload)) ++fast;
    ASSERT_TRUE(SameAnswer(payload, kRoles[i % 3], kDialects[(i / 3) % 8]));
  }
  // Both paths are exercised: many mutations stay valid heartbeats, many do not.
  EXPECT_GT(fast, kMutations / 10);
  EXPECT_LT(fast, kMutations * 9 / 10);
}

}  // namespace
}  // namespace roster::cluster
