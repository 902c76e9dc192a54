// Fuzzes the validation of every RPC request rosterd accepts (server/convert.h,
// WatchFilterSpec::FromProto), from protobuf binary bytes as gRPC hands them over. The first
// byte picks the request type; the rest is the serialized message (bytes protobuf refuses are
// refused by gRPC before any handler runs).
//
// Properties: every refusal is InvalidArgument naming the field ("exclude[3]: ...") with a
// bounded, escaped message; what is accepted is what the cluster layer can use: canonical
// addresses, valid group names, known enum values, a lease within its bounds, and a
// registration payload that ParseHeartbeat accepts for the registered address.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "cluster/heartbeat_codec.h"
#include "cluster/node_address.h"
#include "google/protobuf/stubs/logging.h"
#include "roster/v1/roster.pb.h"
#include "server/convert.h"
#include "server/watch_stream.h"
#include "tests/fuzz/fuzz_util.h"

namespace roster::fuzz {
namespace {

const absl::Time kWallNow = absl::FromUnixMillis(1729238660456);
const absl::Duration kDefaultLease = absl::Seconds(30);
const absl::Duration kMinLease = absl::Seconds(1);
const absl::Duration kMaxLease = absl::Minutes(10);

// A refusal names a field ("name: ...", "filter.roles[2]: ...").
void CheckRefusal(const absl::Status& status, absl::string_view input) {
  Check(absl::IsInvalidArgument(status), "a bad request is InvalidArgument", input);
  const absl::string_view message = status.message();
  const size_t colon = message.find(": ");
  Check(colon != absl::string_view::npos && colon > 0 &&
            message.substr(0, colon).find(' ') == absl::string_view::npos,
        "a refusal starts with the field it names", message);
  CheckMessage(status, 1024);
}

void CheckAddress(const std::string& accepted, absl::string_view requested,
                  absl::string_view input) {
  Check(accepted == requested && cluster::ParseNodeAddress(accepted).ok(),
        "an accepted address is the request's, canonical", input);
}

template <typename Message>
bool Parse(absl::string_view bytes, Message* message) {
  return message->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
}

void FuzzSelect(absl::string_view bytes) {
  v1::SelectWorkerRequest request;
  if (!Parse(bytes, &request)) return;
  absl::StatusOr<cluster::SelectRequest> select = server::ToSelectRequest(request);
  if (!select.ok()) return CheckRefusal(select.status(), bytes);
  Check(request.group().empty() || select->group == request.group(), "the group is kept", bytes);
  Check(cluster::ValidateGroupName(select->group).ok(), "the group is valid", bytes);
  Check(static_cast<int>(select->exclude.size()) == request.exclude_size() &&
            request.exclude_size() <= server::kMaxExcludedAddresses,
        "every excluded address is kept, within the limit", bytes);
  for (int i = 0; i < request.exclude_size(); ++i) {
    CheckAddress(select->exclude[i], request.exclude(i), bytes);
  }
}

void FuzzListWorkers(absl::string_view bytes) {
  v1::ListWorkersRequest request;
  if (!Parse(bytes, &request)) return;
  absl::StatusOr<std::vector<cluster::NodeState>> states = server::ToStateFilter(request.states());
  if (!states.ok()) return CheckRefusal(states.status(), bytes);
  Check(static_cast<int>(states->size()) == request.states_size(), "every state is kept", bytes);
  if (!request.group().empty()) {
    absl::Status group = server::ValidateGroupField("group", request.group());
    if (!group.ok()) return CheckRefusal(group, bytes);
  }
}

void FuzzGetWorkerGroup(absl::string_view bytes) {
  v1::GetWorkerGroupRequest request;
  if (!Parse(bytes, &request)) return;
  absl::Status valid = server::ValidateGetWorkerGroup(request);
  if (!valid.ok()) return CheckRefusal(valid, bytes);
  Check(cluster::ValidateGroupName(request.name()).ok() && v1::NodeView_IsValid(request.view()),
        "an accepted GetWorkerGroup names a valid group and view", bytes);
}

void FuzzGetMasterSlot(absl::string_view bytes) {
  v1::GetMasterSlotRequest request;
  if (!Parse(bytes, &request)) return;
  absl::StatusOr<std::string> address = server::ParseAddressField("address", request.address());
  if (!address.ok()) return CheckRefusal(address.status(), bytes);
  CheckAddress(*address, request.address(), bytes);
  absl::StatusOr<std::optional<cluster::IncarnationClaim>> claim =
      server::ToIncarnationClaim(request);
  if (!claim.ok()) return CheckRefusal(claim.status(), bytes);
  Check(claim->has_value() == request.has_startup_time_ms(), "a claim is both fields", bytes);
  if (claim->has_value()) {
    Check((*claim)->startup_time_ms >= 0, "a claimed startup time is not negative", bytes);
  }
}

void FuzzWatch(absl::string_view bytes) {
  v1::WatchClusterRequest request;
  if (!Parse(bytes, &request)) return;
  absl::StatusOr<server::WatchFilterSpec> filter =
      server::WatchFilterSpec::FromProto(request.filter());
  if (!filter.ok()) return CheckRefusal(filter.status(), bytes);
  Check(filter->roles.size() <= 3, "at most the three roles", bytes);
  Check(filter->group.empty() || cluster::ValidateGroupName(filter->group).ok(),
        "a filter group is valid", bytes);
}

void FuzzDrain(absl::string_view bytes) {
  v1::DrainNodeRequest request;
  if (!Parse(bytes, &request)) return;
  absl::StatusOr<std::string> address = server::ParseAddressField("address", request.address());
  if (!address.ok()) return CheckRefusal(address.status(), bytes);
  CheckAddress(*address, request.address(), bytes);
  absl::Status reason = server::ValidateDrainReason(request.reason());
  if (!reason.ok()) return CheckRefusal(reason, bytes);
  Check(!request.reason().empty() && request.reason().size() <= server::kMaxDrainReasonBytes,
        "an accepted reason has 1..1024 bytes", bytes);
}

// The payload is what the cluster layer reads for this node: it parses, and names the
// registered address where the request left host and port out.
void CheckPayload(cluster::NodeRole role, const std::string& address,
                  const v1::Heartbeat& heartbeat, absl::string_view bytes) {
  absl::StatusOr<std::string> payload =
      server::RegistrationPayload(role, address, heartbeat, cluster::HeartbeatLimits(), kWallNow);
  if (!payload.ok()) return CheckRefusal(payload.status(), bytes);
  // As rosterd reads the znode it writes, but without the clock-skew check: its reference is
  // the znode's mtime (the registry server's clock), which this target does not have.
  absl::StatusOr<v1::Heartbeat> parsed =
      cluster::ParseHeartbeat(role, *payload, cluster::HeartbeatLimits(), absl::InfinitePast());
  Check(parsed.ok(), "a registration payload parses", bytes);
  if (heartbeat.port() == 0) {
    Check(absl::EndsWith(address, absl::StrCat(":", parsed->port())),
          "a payload without a port takes the address's", bytes);
  }
  if (heartbeat.host().empty()) {
    Check(absl::StartsWith(address, parsed->host()) ||
              absl::StartsWith(address, absl::StrCat("[", parsed->host(), "]")),
          "a payload without a host takes the address's", bytes);
  }
}

void FuzzRegister(absl::string_view bytes) {
  v1::RegisterNodeRequest request;
  if (!Parse(bytes, &request)) return;
  absl::StatusOr<cluster::NodeRole> role = server::ToNodeRole("role", request.role());
  if (!role.ok()) return CheckRefusal(role.status(), bytes);
  absl::StatusOr<std::string> address = server::ParseAddressField("address", request.address());
  if (!address.ok()) return CheckRefusal(address.status(), bytes);
  CheckAddress(*address, request.address(), bytes);
  absl::StatusOr<absl::Duration> lease =
      server::ToLease(request, kDefaultLease, kMinLease, kMaxLease);
  if (!lease.ok()) return CheckRefusal(lease.status(), bytes);
  Check(*lease >= kMinLease && *lease <= kMaxLease, "a lease is within its bounds", bytes);
  CheckPayload(*role, *address, request.heartbeat(), bytes);
}

void FuzzHeartbeat(absl::string_view bytes) {
  v1::HeartbeatRequest request;
  if (!Parse(bytes, &request)) return;
  absl::StatusOr<std::string> address = server::ParseAddressField("address", request.address());
  if (!address.ok()) return CheckRefusal(address.status(), bytes);
  CheckAddress(*address, request.address(), bytes);
  CheckPayload(cluster::NodeRole::kWorker, *address, request.heartbeat(), bytes);
}

void FuzzAddressOnly(absl::string_view bytes) {
  v1::GetNodeRequest request;  // also DeregisterNodeRequest and UndrainNodeRequest: field 1
  if (!Parse(bytes, &request)) return;
  absl::StatusOr<std::string> address = server::ParseAddressField("address", request.address());
  if (!address.ok()) return CheckRefusal(address.status(), bytes);
  CheckAddress(*address, request.address(), bytes);
}

}  // namespace
}  // namespace roster::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // protobuf logs each string field with invalid UTF-8 it refuses to parse: noise at fuzzing
  // speed (gRPC refuses such a request the same way, before any handler).
  google::protobuf::SetLogHandler(
      [](google::protobuf::LogLevel, const char*, int, const std::string&) {});
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace roster::fuzz;  // NOLINT
  if (size == 0) return 0;
  const absl::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (data[0] % 10) {
    case 0:
      FuzzSelect(bytes);
      break;
    case 1:
      FuzzListWorkers(bytes);
      break;
    case 2:
      FuzzGetWorkerGroup(bytes);
      break;
    case 3:
      FuzzGetMasterSlot(bytes);
      break;
    case 4:
      FuzzWatch(bytes);
      break;
    case 5:
      FuzzDrain(bytes);
      break;
    case 6:
      FuzzRegister(bytes);
      break;
    case 7:
      FuzzHeartbeat(bytes);
      break;
    default:
      FuzzAddressOnly(bytes);
      break;
  }
  return 0;
}
