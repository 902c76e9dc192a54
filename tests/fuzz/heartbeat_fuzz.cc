// Fuzzes ParseHeartbeat and EncodeHeartbeat (cluster/heartbeat_codec.h), every
// DolphinScheduler format. The first byte picks the role and the dialect the payload is read
// with; the rest is the znode payload.
//
// Properties:
//  - the result is a Heartbeat, InvalidArgument, or NotFound for a blank payload; error
//    messages are bounded and escaped;
//  - an accepted heartbeat has no NaN or infinite figure, a port in [0, 65535], a weight in
//    [0, 10000], and a valid group;
//  - for every dialect D, EncodeHeartbeat(h, D) parses with D, and encoding what it parses
//    to gives the same bytes again (the codec's round trip, for the fields D writes);
//  - ParseHeartbeat (simdjson, protobuf for what it declines) answers exactly as
//    ParseHeartbeatReference (protobuf's JSON parser alone): the same Heartbeat, or the same
//    status code and message.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/time/time.h"
#include "cluster/heartbeat_codec.h"
#include "cluster/node_address.h"
#include "google/protobuf/util/message_differencer.h"
#include "tests/fuzz/fuzz_util.h"

namespace roster::fuzz {
namespace {

using cluster::HeartbeatDialect;
using cluster::NodeRole;
using roster::v1::Heartbeat;

// A wall clock a little after the golden payloads' reportTime (2024-10-18).
const absl::Time kWallNow = absl::FromUnixMillis(1729238660456);

constexpr HeartbeatDialect kDialects[] = {HeartbeatDialect::kAuto,    HeartbeatDialect::kText20,
                                          HeartbeatDialect::kText30,  HeartbeatDialect::kJson31,
                                          HeartbeatDialect::kJson320, HeartbeatDialect::kJson321,
                                          HeartbeatDialect::kJson322, HeartbeatDialect::kJson33};
constexpr NodeRole kRoles[] = {NodeRole::kMaster, NodeRole::kWorker, NodeRole::kAlertServer};

void CheckFigures(const Heartbeat& h, absl::string_view payload) {
  for (double v :
       {h.cpu_usage(), h.memory_usage(), h.disk_usage(), h.jvm_cpu_usage(), h.jvm_memory_usage(),
        h.thread_pool_usage(), h.load_average(), h.available_memory_gb(), h.reserved_memory(),
        h.max_cpu_load_avg(), h.disk_available_gb()}) {
    Check(std::isfinite(v), "an accepted heartbeat has finite figures", payload);
  }
  Check(h.port() >= 0 && h.port() <= 65535, "port in [0, 65535]", payload);
  Check(h.host_weight() >= 0 && h.host_weight() <= 10000, "weight in [0, 10000]", payload);
  Check(h.worker_group().empty() || cluster::ValidateGroupName(h.worker_group()).ok(),
        "an accepted worker group is valid", payload);
  Check(h.startup_time_ms() >= 0 && h.report_time_ms() >= 0, "clocks are not negative", payload);
}

void RoundTrip(NodeRole role, const Heartbeat& h, absl::string_view payload) {
  const cluster::HeartbeatLimits limits;
  for (HeartbeatDialect dialect : kDialects) {
    const std::string encoded = cluster::EncodeHeartbeat(role, h, dialect);
    absl::StatusOr<Heartbeat> again =
        cluster::ParseHeartbeat(role, encoded, limits, kWallNow, dialect);
    if (!again.ok()) {
      Check(false,
            std::string("an encoded heartbeat parses with its dialect: ") +
                std::string(cluster::HeartbeatDialectName(dialect)) + ": " +
                std::string(again.status().message()),
            payload);
    }
    const std::string reencoded = cluster::EncodeHeartbeat(role, *again, dialect);
    Check(reencoded == encoded,
          std::string("encode(parse(encode(h))) == encode(h) in ") +
              std::string(cluster::HeartbeatDialectName(dialect)) + ": " + encoded + " vs " +
              reencoded,
          payload);
  }
}

// The fast reader's answer is the reference reader's.
void CheckSameAsReference(NodeRole role, HeartbeatDialect dialect, absl::string_view payload,
                          const absl::StatusOr<Heartbeat>& parsed) {
  const absl::StatusOr<Heartbeat> reference = cluster::ParseHeartbeatReference(
      role, payload, cluster::HeartbeatLimits(), kWallNow, dialect);
  if (!parsed.ok() || !reference.ok()) {
    Check(parsed.status() == reference.status(),
          "fast and reference readers give the same status: " + parsed.status().ToString() +
              " vs " + reference.status().ToString(),
          payload);
    return;
  }
  std::string diff;
  google::protobuf::util::MessageDifferencer differencer;
  differencer.ReportDifferencesToString(&diff);
  Check(differencer.Compare(*reference, *parsed),
        "fast and reference readers give the same Heartbeat: " + diff, payload);
}

void FuzzHeartbeat(NodeRole role, HeartbeatDialect dialect, absl::string_view payload) {
  const cluster::HeartbeatLimits limits;
  absl::StatusOr<Heartbeat> parsed =
      cluster::ParseHeartbeat(role, payload, limits, kWallNow, dialect);
  CheckSameAsReference(role, dialect, payload, parsed);
  if (!parsed.ok()) {
    Check(absl::IsInvalidArgument(parsed.status()) || absl::IsNotFound(parsed.status()),
          "a bad heartbeat is InvalidArgument or NotFound", payload);
    CheckMessage(parsed.status(), 1024);
    return;
  }
  CheckFigures(*parsed, payload);
  for (const roster::v1::HeartbeatWarning& warning : parsed->warnings()) {
    Check(IsPrintableAscii(warning.reason()) && warning.reason().size() <= 1024,
          "a warning is printable and bounded", payload);
  }
  RoundTrip(role, *parsed, payload);
}

}  // namespace
}  // namespace roster::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t selector = data[0];
  const auto role = roster::fuzz::kRoles[selector % 3];
  const auto dialect = roster::fuzz::kDialects[(selector / 3) % 8];
  roster::fuzz::FuzzHeartbeat(role, dialect,
                              absl::string_view(reinterpret_cast<const char*>(data + 1), size - 1));
  return 0;
}
